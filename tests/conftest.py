"""Shared test data: ``example_run``, a realistic run document built by hand."""

from __future__ import annotations

import copy
from typing import Any

import pytest

from suite.results import ClaimResult, Comparison, Verdict

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


def build_example_run() -> dict[str, Any]:
    """A finished run over one target with three claims (one CE-5 with its 25-cell
    direction table), excluded queries, method checks, and a comparison with an earlier
    run in which CE-3 was INCONCLUSIVE."""
    from suite.storage import add_claim_result, compare_runs, new_run

    environment = {"python": "3.11.7", "implementation": "CPython", "platform": "Linux-6.1-x86_64-with-glibc2.36",
                   "packages": {"torch": "2.13.0", "transformers": "5.1.0", "ir_datasets": "0.5.9",
                                "ir_measures": "0.3.7", "scipy": "1.14.1", "numpy": "2.1.3", "pytest": "8.3.4"}}
    run = new_run(_options(relevant_grade=2, models=[MODEL], collections=[COLLECTION]), environment)
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
    for result in (ce3, ce4, _direction_table_claim()):
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
