"""Shared test data: ``example_run``, a realistic run document built by hand."""

from __future__ import annotations

import copy
import random
from typing import Any

import pytest

from ranker_claims.core.results import ClaimResult, Comparison, Verdict

PARTS = ["[CLS]", "query", "[SEP1]", "document", "[SEP2]"]
FLOW = "X->Y: information flows from X to Y (tokens of Y attend to tokens of X)"
MODEL = "castorini/monobert-large-msmarco"
COLLECTION = "msmarco-passage/trec-dl-2019/judged"


def _comparison(label: str, measured: float, reference: float, p: float, p_corrected: float,
                verdict: Verdict, reason: str, n: int = 40, power: float | None = 0.91) -> Comparison:
    effect = measured - reference
    return Comparison(
        label=label, measured=measured, ci=(measured - 0.031, measured + 0.029), reference=reference,
        effect=effect, effect_size=effect / 0.11, effect_size_name="d_z", test="paired t", p_value=p,
        p_corrected=p_corrected, n=n, power=power, verdict=verdict, reason=reason,
    )


def _options(**extra: Any) -> dict[str, Any]:
    return {"alpha": 0.05, "correction": "holm", "test": "t", "min_power": 0.8, "bootstrap_resamples": 2000,
            "seed": 0, "ablation_mode": "pre-softmax", "direction_convention": FLOW, **extra}


def _direction_table_claim() -> ClaimResult:
    baseline = 0.812
    # Row = source X, column = target Y: nDCG@10 after ablating X->Y.
    values = [
        [0.534, 0.790, 0.806, 0.611, 0.809],
        [0.801, 0.774, 0.811, 0.668, 0.807],
        [0.805, 0.812, 0.810, 0.798, 0.811],
        [0.793, 0.809, 0.810, 0.502, 0.797],
        [0.811, 0.812, 0.809, 0.803, 0.810],
    ]
    paper: list[list[float | None]] = [[None] * 5 for _ in range(5)]
    paper[1][3], paper[3][1] = 0.67, 0.81
    comparisons, p_grid, significant = [], [[1.0] * 5 for _ in range(5)], [[False] * 5 for _ in range(5)]
    for i, source in enumerate(PARTS):
        for j, target in enumerate(PARTS):
            drop = baseline - values[i][j]
            p = max(1e-7, 0.9 * (1 - min(1.0, drop * 12)))
            p_corrected = min(1.0, p * 25)
            p_grid[i][j], significant[i][j] = p_corrected, p_corrected < 0.05
            verdict = Verdict.SUPPORTED if (i, j) in ((1, 3), (3, 1)) else Verdict.INCONCLUSIVE
            comparisons.append(_comparison(f"ablate {source}->{target}", values[i][j], baseline, p, p_corrected,
                                           verdict, "decided by the paper's cells" if verdict is Verdict.SUPPORTED
                                           else "no paper value for this cell"))
    return ClaimResult(
        claim_id="CE-5", title="The full direction table", metric="nDCG@10", decision="paper cells: query->document less",
        statement="The full 5x5 direction table: nDCG@10 and significance for each of the 25 directions.",
        paper="Table 1 (5x5)", paper_value=None, figure="Table 1", correction="holm", alpha=0.05,
        citation="Understanding Matching Mechanisms in Cross-Encoders, arXiv:2507.14604 (2025)",
        model=MODEL, collection=COLLECTION, verdict=Verdict.SUPPORTED,
        reason="decided on the paper's cells; 2 of 2 agree", comparisons=comparisons, options=_options(margin=0.05),
        figures={
            "direction_table": {"parts": PARTS, "convention": FLOW, "baseline": baseline, "values": values,
                                "p_corrected": p_grid, "significant": significant, "paper": paper},
            "future_kind": {"bins": [0.1, 0.2, 0.3], "counts": [4, 9, 2], "note": "no renderer yet"},
        },
        per_query={"baseline": {f"q{k}": 0.8 for k in range(40)}},
    )


SMALL_MODEL = "cross-encoder/ms-marco-MiniLM-L-6-v2"  # 6 layers x 12 heads
SCREENED = ("Query->Document", "Document->Query")
HEAD_PAPER = {
    "CE-6": "lexical heads 6/12 and 9/0, semantic heads 15/13 and 17/9 (layer/head, MonoBERT-large)",
    "CE-7": "lexical heads in the first half of the layers, semantic heads from the middle on",
    "CE-8": "(causal test posed by the paper's analysis; no figure)",
    "CE-9": "aligned singular vectors for matching heads",
    "CE-10": "logit = q^T A_h d + x_i^T A_h y_j + noise, with a cross-contextual subspace in A_h",
    "CE-11": "attention to [SEP] (and [CLS] in early-to-middle layers) as a no-op",
    "CE-12": "after layer 16 of 24, [CLS] aggregates relevance signals",
}
HEAD_SECTION = {"CE-6": "Section 4", "CE-7": "Section 4", "CE-8": "Section 4", "CE-9": "Section 5", "CE-10": "Section 5",
                "CE-11": "Section 6", "CE-12": "Section 6"}
CITATION = "Understanding Matching Mechanisms in Cross-Encoders, arXiv:2507.14604 (2025)"


def head_screen(layers: int, heads: int, negative: str, seed: int = 0) -> dict[str, Any]:
    """A ``head_heatmap`` payload as CE-6 (easy) / CE-7 (hard) store it: Cohen's d_z per head
    for both screened statistics, a few strong heads early (easy) or late (hard)."""
    rng = random.Random(f"{seed}:{negative}:{layers}x{heads}")
    strong = {
        (max(0, min(layers - 1, round(layers * (f + 0.08 * rng.random())))), rng.randrange(heads))
        for f in ((0.15, 0.25, 0.3, 0.4) if negative == "easy" else (0.55, 0.7, 0.8, 0.9))
    }
    statistics = {}
    for k, label in enumerate(SCREENED):
        effect = [[round(rng.gauss(0.05, 0.22), 4) for _ in range(heads)] for _ in range(layers)]
        for n, (layer, head) in enumerate(sorted(strong)):
            if (n + k) % 3 != 2:  # most strong heads show on both statistics
                effect[layer][head] = round(0.7 + 0.9 * rng.random(), 4)
        significant = [[value > 0.6 for value in row] for row in effect]
        statistics[label] = {"effect": effect, "significant": significant}
    title = ("Matching heads: relevant vs easy negatives (Cohen's d_z)" if negative == "easy"
             else "Semantic heads: relevant vs hard negatives (Cohen's d_z)")
    return {"title": title, "negative": negative, "layers": layers, "statistics": statistics}


def screened_heads(screen: dict[str, Any]) -> list[list[int]]:
    """Heads significant on either statistic, strongest first (as ``HeadScreen.heads``)."""
    strength: dict[tuple[int, int], float] = {}
    for statistic in screen["statistics"].values():
        for layer, (effects, flags) in enumerate(zip(statistic["effect"], statistic["significant"])):
            for head, (effect, flag) in enumerate(zip(effects, flags)):
                if flag:
                    strength[(layer, head)] = max(effect, strength.get((layer, head), float("-inf")))
    return [list(h) for h in sorted(strength, key=lambda h: -strength[h])]


def random_head_sets(heads: list[list[int]], n_heads: int, count: int, seed: int = 0) -> list[list[list[int]]]:
    """Random head sets with as many heads per layer as ``heads`` (as CE-8/CE-10 draw them)."""
    rng = random.Random(seed)
    chosen = {tuple(h) for h in heads}
    per_layer: dict[int, int] = {}
    for layer, _ in heads:
        per_layer[layer] = per_layer.get(layer, 0) + 1
    sets = []
    for _ in range(count):
        drawn = []
        for layer, k in per_layer.items():
            pool = [h for h in range(n_heads) if (layer, h) not in chosen]
            drawn.extend([layer, h] for h in rng.sample(pool, k))
        sets.append(sorted(drawn))
    return sets


def layer_profile(layers: int, groups: tuple[str, ...] = ("relevant", "hard", "easy")) -> dict[str, Any]:
    """A ``layer_profile`` payload (CE-11, CE-12): per statistic and group, the mean per layer."""
    def curve(f: Any) -> list[float]:
        return [round(f(layer / max(layers - 1, 1)), 4) for layer in range(layers)]

    offsets = {"relevant": 0.0, "hard": 0.4, "easy": 1.0}
    statistics = {
        "cls_mass": {g: curve(lambda d, o=offsets[g]: 0.06 + 0.22 * d * (1 - d) * (1 + 0.5 * o)) for g in groups},
        "sep_mass": {g: curve(lambda d, o=offsets[g]: 0.08 + 0.35 * d ** 1.5 * (1 - 0.6 * d) + 0.07 * o * d) for g in groups},
        "cls_entropy": {g: curve(lambda d, o=offsets[g]: 2.1 + 1.4 * d ** 2 - 0.2 * o * d) for g in groups},
        "cls_to_sep": {g: curve(lambda d, o=offsets[g]: 0.14 + 0.04 * o + 0.55 * d * (1 - d) ** 0.5 * (1 - d ** 3)) for g in groups},
    }
    return {"layers": layers, "statistics": statistics}


def _head_claims(model: str, layers: int, heads: int) -> list[ClaimResult]:
    """CE-6 .. CE-12 on one model, with figure payloads shaped as ``ranker_claims.cross_encoder.measurements.heads`` stores them."""
    rng = random.Random(f"claims:{model}")
    easy, hard = head_screen(layers, heads, "easy"), head_screen(layers, heads, "hard")
    lexical, semantic = screened_heads(easy), screened_heads(hard)
    matching = lexical[:8]
    random_sets = random_head_sets(matching, heads, 5)
    controls = random_head_sets(matching, heads, 1, seed=1)[0]
    found = {tuple(h) for h in lexical + semantic}
    alignment = [[round(max(-1.0, min(1.0, rng.gauss(0.62, 0.12) if (l, h) in found else rng.gauss(0.12, 0.2))), 4)
                  for h in range(heads)] for l in range(layers)]

    def result(claim_id: str, title: str, statement: str, verdict: Verdict, reason: str, comparison: Comparison,
               figures: dict[str, Any], metric: str = "", decision: str = "") -> ClaimResult:
        return ClaimResult(
            claim_id=claim_id, title=title, statement=statement, paper=HEAD_PAPER[claim_id], paper_value=None,
            figure=HEAD_SECTION[claim_id], citation=CITATION, model=model, collection=COLLECTION, metric=metric,
            decision=decision, correction="holm", alpha=0.05, verdict=verdict, reason=reason,
            comparisons=[comparison], options=_options(), figures=figures,
        )

    return [
        result("CE-6", "Matching heads exist",
               "Some heads put a higher maximum Query->Document (or Document->Query) attention weight on relevant pairs than on easy negatives.",
               Verdict.SUPPORTED, f"{len(lexical)} matching head(s) after holm correction over {2 * layers * heads} tests",
               _comparison(f"Query->Document {lexical[0][0]}/{lexical[0][1]}", 0.41, 0.22, 1e-6, 1e-4, Verdict.SUPPORTED,
                           "significant after holm"),
               {"head_heatmap": easy}, "max attention, relevant vs easy negatives",
               "per-head one-sided paired tests, corrected across all heads"),
        result("CE-7", "Lexical matching before semantic matching",
               "Heads that separate relevant pairs from easy negatives sit in earlier layers than heads that separate them from hard negatives.",
               Verdict.SUPPORTED, "semantic heads sit deeper (p = 0.004 < 0.05)",
               _comparison("relative depth: semantic vs lexical heads", 0.72, 0.31, 0.004, 0.004, Verdict.SUPPORTED,
                           "significant", n=len(lexical) + len(semantic)),
               {"head_heatmap": hard, "head_depths": {"lexical": lexical, "semantic": semantic, "layers": layers}},
               "relative layer depth (layer / (layers - 1))", "one-sided Mann-Whitney U on head depths"),
        result("CE-8", "Matching heads matter causally",
               "Ablating the matching heads drops nDCG@10 more than ablating as many random heads of the same layers.",
               Verdict.SUPPORTED, "both variants significant after holm",
               _comparison("ablate matching heads (whole head output) vs random heads", 0.611, 0.702, 0.001, 0.002,
                           Verdict.SUPPORTED, "drop significant after holm"),
               {"ablated_heads": {"matching": matching, "random_sets": random_sets}}, "nDCG@10",
               "one-sided paired tests against the mean of random head sets of the same layers"),
        result("CE-9", "Matching heads have aligned query-key matrices",
               "The singular vectors of matching heads' query-key matrices are more aligned than those of other heads.",
               Verdict.SUPPORTED, "significant (p = 0.0002 < 0.05)",
               _comparison("alignment: matching vs other heads", 0.61, 0.13, 0.0002, 0.0002, Verdict.SUPPORTED, "significant",
                           n=layers * heads),
               {"alignment": {"values": alignment, "matching": [[(l, h) in found for h in range(heads)] for l in range(layers)]}},
               "sum_k s_k u_k.v_k / sum_k s_k of W_Q W_K^T (biases excluded)"),
        result("CE-10", "Matching is largely context-free",
               "For matching heads the context-free part of the attention logits explains a larger share of their variance.",
               Verdict.SUPPORTED, "significant (p = 0.003 < 0.05)",
               _comparison("context-free share: matching vs control heads", 0.64, 0.31, 0.003, 0.003, Verdict.SUPPORTED,
                           "significant"),
               {"decomposition": {"heads": matching, "controls": controls,
                                  "mean_share": [round(rng.uniform(0.52, 0.8), 4) for _ in matching]
                                  + [round(rng.uniform(0.15, 0.42), 4) for _ in controls]}},
               "share of logit variance explained by the context-free part (R^2)"),
        result("CE-11", "[SEP] and [CLS] as fallback",
               "When a matching head finds no match (easy negatives) its attention goes to [SEP] more than on relevant pairs.",
               Verdict.INCONCLUSIVE, "1 of 2 comparisons underpowered",
               _comparison("attention to [SEP]: easy vs relevant", 0.31, 0.27, 0.03, 0.06, Verdict.INCONCLUSIVE,
                           "not significant, power 0.52 < 0.8", power=0.52),
               {"layer_profile": layer_profile(layers)}, "mean attention mass of query and document tokens on the special token"),
        result("CE-12", "[CLS] aggregates in late layers",
               "In late layers [CLS] attends broadly across the sequence instead of to [SEP].",
               Verdict.SUPPORTED, "both comparisons significant after holm",
               _comparison("[CLS] attention entropy: late vs earlier layers", 3.21, 2.44, 1e-5, 2e-5, Verdict.SUPPORTED,
                           "significant after holm"),
               {"layer_profile": layer_profile(layers)}, "per-query mean over relevant pairs and all heads"),
    ]


def build_example_run() -> dict[str, Any]:
    """A finished run over two targets: CE-3, CE-4, CE-5 (with its 25-cell direction table)
    and CE-6 (a 24 x 16 head screen) on MonoBERT-large, CE-6..CE-12 (every head figure kind)
    on a 6 x 12 MiniLM; excluded queries, method checks, and a comparison with an earlier
    run in which CE-3 was INCONCLUSIVE."""
    from ranker_claims.core.runs import add_claim_result, compare_runs, new_run

    environment = {"python": "3.11.7", "implementation": "CPython", "platform": "Linux-6.1-x86_64-with-glibc2.36",
                   "packages": {"torch": "2.13.0", "transformers": "5.1.0", "ir_datasets": "0.5.9",
                                "ir_measures": "0.3.7", "scipy": "1.14.1", "numpy": "2.1.3", "pytest": "8.3.4"}}
    run = new_run(_options(relevant_grade=2, models=[MODEL, SMALL_MODEL], collections=[COLLECTION]), environment)
    run["run_id"] = "20261122T071500Z-3f2a"
    run["started"], run["finished"] = "2026-11-22T07:15:00+00:00", "2026-11-22T08:02:41+00:00"
    run["targets"].append({
        "model": {"id": MODEL, "weights_sha256": "9f2c4e1b" + "0" * 56, "source": "hf:castorini/monobert-large-msmarco@main",
                  "layers": 24, "heads": 16},
        "collection": {"id": COLLECTION, "queries": 40, "candidates": 4000, "relevant_grade": 2,
                       "excluded": {"1037798": "no passage judged relevant (grade >= 2)",
                                    "1110199": "fewer than 10 first-stage candidates"}},
    })
    ce3 = ClaimResult(
        claim_id="CE-3", title="Query->Document attention is needed", metric="nDCG@10", decision="superiority (one-sided, less)",
        statement="Ablating Query->Document attention gives a significant nDCG@10 drop.",
        paper="0.81 -> 0.67*", paper_value=0.67, figure="Table 1", correction="holm", alpha=0.05,
        citation="Understanding Matching Mechanisms in Cross-Encoders, arXiv:2507.14604 (2025)",
        model=MODEL, collection=COLLECTION, verdict=Verdict.SUPPORTED, reason="significant drop (p_holm = 0.0004 < 0.05)",
        comparisons=[_comparison("ablate Query->Document vs baseline", 0.668, 0.812, 0.0004, 0.0004, Verdict.SUPPORTED,
                                 "drop significant after holm")],
        options=_options(), per_query={"baseline": {f"q{k}": 0.8 for k in range(40)}},
    )
    ce4 = ClaimResult(
        claim_id="CE-4", title="Cutting the parts apart leaves a random ranker", metric="nDCG@10",
        decision="equivalence (TOST, margin 0.1) against random",
        statement="Full directional ablation drops nDCG@10 to near random; so does [CLS]<->all or Document<->Document.",
        paper="0.81 -> 0.48*", paper_value=0.48, figure="Table 1", correction="holm", alpha=0.05,
        citation="Understanding Matching Mechanisms in Cross-Encoders, arXiv:2507.14604 (2025)",
        model=MODEL, collection=COLLECTION, verdict=Verdict.INCONCLUSIVE, reason="1 of 3 comparisons underpowered",
        comparisons=[
            _comparison("ablate Query<->Document vs random", 0.471, 0.452, 0.003, 0.009, Verdict.SUPPORTED, "within margin"),
            _comparison("ablate [CLS]<->all vs random", 0.534, 0.452, 0.21, 0.42, Verdict.INCONCLUSIVE,
                        "not equivalent, power 0.41 < 0.8", power=0.41),
            _comparison("ablate Document<->Document vs random", 0.502, 0.452, 0.011, 0.022, Verdict.SUPPORTED, "within margin"),
        ],
        options=_options(margin=0.1),
    )
    run["targets"].append({
        "model": {"id": SMALL_MODEL, "weights_sha256": "4b1d7a06" + "0" * 56,
                  "source": "hf:cross-encoder/ms-marco-MiniLM-L-6-v2@main", "layers": 6, "heads": 12},
        "collection": run["targets"][0]["collection"],
    })
    # MonoBERT-large's own CE-6 screen (24 x 16), then CE-6..CE-12 on the 6 x 12 MiniLM.
    large_ce6 = _head_claims(MODEL, 24, 16)[0]
    for result in (ce3, ce4, _direction_table_claim(), large_ce6, *_head_claims(SMALL_MODEL, 6, 12)):
        add_claim_result(run, result.to_dict())
    run["method_checks"] = [
        {"name": "calibration: paired t under the null", "kind": "calibration", "passed": True,
         "figures": {"rejection_rate": {"alpha": 0.05, "observed": 0.047, "trials": 2000}},
         "detail": "rejected 94 of 2000 null families at alpha 0.05"},
        {"name": "planted matching head 2/3", "kind": "planted", "passed": False,
         "figures": {"found_heads": [[2, 3], [4, 1]]}, "detail": "found the planted head and one spurious head"},
    ]
    baseline = copy.deepcopy(run)
    baseline["run_id"] = "20261101T090000Z-a1b2"
    baseline["started"] = "2026-11-01T09:00:00+00:00"
    old = baseline["claims"][0]
    old["verdict"] = "INCONCLUSIVE"
    old["comparisons"][0].update(measured=0.741, effect=0.741 - 0.812, p_value=0.09, p_corrected=0.09,
                                 verdict="INCONCLUSIVE")
    baseline["claims"].append({**copy.deepcopy(old), "claim_id": "CE-2", "title": "Document->Query attention is dispensable"})
    run["comparison"] = compare_runs(baseline, run)
    run["comparison"]["baseline_path"] = ".claims/runs/20261101T090000Z-a1b2.json"
    return run


@pytest.fixture
def example_run() -> dict[str, Any]:
    """A realistic finished run (see :func:`build_example_run`); a fresh copy per test."""
    return build_example_run()
