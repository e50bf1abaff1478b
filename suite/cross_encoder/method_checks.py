"""Method checks of the cross-encoder detectors: each must find the mechanism planted by hand.

Each detector runs, through the same code the claims use, on :mod:`ranker_claims.cross_encoder.planted`'s
model, where the answer is known: the CE-6 screen must name the planted matching head (and not the
no-op head), CE-9's alignment rank it first, CE-10's decomposition give it a large context-free
share, ablating it (CE-8) drop nDCG@10 below ablating any other head of its layer, and ablating
directions (CE-5) hurt exactly the planted paths.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np

from ranker_claims.core import stats
from ranker_claims.core.claims import Settings
from ranker_claims.core.method_checks import Check, method_check, one_thread
from ranker_claims.core.reranking import build_reranking_set
from ranker_claims.cross_encoder.analyses import decomposition, query_key
from ranker_claims.cross_encoder.interventions import (
    Direction,
    DirectionAblation,
    HeadAblation,
    all_directions,
)
from ranker_claims.cross_encoder.measurements.directions import direction_figure
from ranker_claims.cross_encoder.measurements.heads import SCREENED, screen
from ranker_claims.cross_encoder.model import CrossEncoder
from ranker_claims.cross_encoder.planted import (
    PlantedCrossEncoder,
    build_planted_cross_encoder,
    planted_collection,
)
from ranker_claims.cross_encoder.study import CrossEncoderStudy

# A context-free share above this counts as "large" for the planted head (R^2).
LARGE_SHARE = 0.9
# A scaled identity against near-random heads: "first" must mean clearly first, not by a rounding error.
ALIGNMENT_MARGIN = 0.1


@dataclass
class PlantedSetup:
    """The planted cross-encoder measured on its collection, as a claims study."""

    planted: PlantedCrossEncoder
    study: CrossEncoderStudy
    settings: Settings

    @property
    def head_label(self) -> str:
        return _head(self.planted.matching_head)

    @property
    def screened_tests(self) -> int:
        """Tests in the CE-6 screen of this model: two statistics per head."""
        return 2 * self.planted.layers * self.planted.heads


def planted_setup(directory: str | Path, settings: Settings | None = None, *, queries: int = 40, seed: int = 0) -> PlantedSetup:
    """Build (or reuse) the planted model in ``directory`` and wrap it with its collection.

    Scores are not cached on disk: the model is tiny and every check should measure afresh.
    """
    directory = Path(directory)
    planted = build_planted_cross_encoder(directory, seed=seed)
    model = CrossEncoder.load(planted.path, name="planted:exact-match")
    collection = planted_collection(queries=queries, seed=seed)
    rerank = build_reranking_set(collection, relevant_grade=2, depth=20, easy_negatives=2, seed=seed)
    study = CrossEncoderStudy(model, collection, rerank, pairs_per_group=4, seed=seed)
    return PlantedSetup(planted, study, settings or Settings(seed=seed))


def _head(head: tuple[int, int]) -> str:
    return f"{head[0]}/{head[1]}"


def check_matching_screen(setup: PlantedSetup) -> Check:
    """CE-6's screen (relevant vs easy negatives, corrected over all heads) names the planted head first."""
    found = screen(setup.study, setup.settings, "easy")
    heads = found.heads()
    planted, noop = setup.planted.matching_head, setup.planted.noop_head
    strength = {h: max(float(found.effect[s][h]) for s in SCREENED) for h in (planted, noop)}
    passed = bool(heads) and heads[0] == planted and noop not in heads
    named = ", ".join(_head(h) for h in heads[:6]) + (f" and {len(heads) - 6} more" if len(heads) > 6 else "") or "none"
    detail = (
        f"heads named (strongest first): {named}; planted {_head(planted)} "
        f"{'first' if heads[:1] == [planted] else 'NOT first'} (d_z {strength[planted]:.2f}); no-op {_head(noop)} "
        f"{'not named' if noop not in heads else 'NAMED'} (d_z {strength[noop]:.2f}); "
        f"{len(found.comparisons)} tests, {setup.settings.correction} correction"
    )
    figure = {
        "title": f"Planted matching head {_head(planted)}: relevant vs easy negatives (Cohen's d_z)",
        "negative": "easy",
        "layers": setup.planted.layers,
        "statistics": {
            SCREENED[s]: {"effect": found.effect[s].round(4).tolist(), "significant": found.significant[s].tolist()}
            for s in SCREENED
        },
    }
    return method_check("planted: CE-6 screen names the matching head", "planted", passed, detail, {"head_heatmap": figure},
                  correction=setup.settings.correction, alpha=setup.settings.alpha)


def check_alignment(setup: PlantedSetup) -> Check:
    """CE-9's query-key alignment ranks the planted head first (its W_Q W_K^T is a scaled identity)."""
    model = setup.study.model
    values = query_key.alignments(model.model, model.n_heads)
    planted = setup.planted.matching_head
    order = sorted(np.ndindex(values.shape), key=lambda h: -values[h])
    rank = order.index(planted) + 1
    runner_up = max(values[h] for h in order if h != planted)
    mask = np.zeros(values.shape, dtype=bool)
    mask[planted] = True
    passed = rank == 1 and values[planted] - runner_up >= ALIGNMENT_MARGIN
    detail = (f"planted {_head(planted)}: alignment {values[planted]:.3f}, rank {rank} of {values.size}; next best "
              f"{runner_up:.3f} (must trail by >= {ALIGNMENT_MARGIN})")
    return method_check("planted: CE-9 alignment ranks the matching head first", "planted", passed, detail,
                  {"alignment": {"values": values.round(4).tolist(), "matching": mask.tolist()}})


def check_decomposition(setup: PlantedSetup) -> Check:
    """CE-10: the context-free part explains most of the planted head's query/document logits,
    more than for any other head of its layer (whose keys and queries read layer 0's context)."""
    study, planted = setup.study, setup.planted
    layer = planted.matching_head[0]
    controls = [(layer, h) for h in range(planted.heads) if (layer, h) not in (planted.matching_head, planted.noop_head)]
    pairs = study.analysis_pairs
    relevant = [text for text, group in zip(pairs.texts, pairs.groups) if group == "relevant"]
    shares = decomposition.explained_shares(study.model, relevant, [planted.matching_head] + controls).mean(axis=0)
    passed = shares[0] >= LARGE_SHARE and shares[0] > shares[1:].max()
    others = ", ".join(f"{_head(h)} {s:.3f}" for h, s in zip(controls, shares[1:]))
    detail = (f"mean context-free share (R^2) over {len(relevant)} relevant pairs: planted {setup.head_label} "
              f"{shares[0]:.3f} (needs >= {LARGE_SHARE}); other heads of layer {layer}: {others}")
    figure = {"heads": [list(planted.matching_head)], "controls": [list(h) for h in controls],
              "mean_share": shares.round(4).tolist()}
    return method_check("planted: CE-10 context-free share is large", "planted", passed, detail, {"decomposition": figure})


def check_head_ablation(setup: PlantedSetup) -> Check:
    """CE-8-style: zeroing the planted head drops nDCG@10, more than zeroing any other head of its layer."""
    study, settings, planted = setup.study, setup.settings, setup.planted
    layer = planted.matching_head[0]
    others = [(layer, h) for h in range(planted.heads) if (layer, h) != planted.matching_head]
    baseline = study.quality(label="baseline")
    ablated = study.quality([HeadAblation(frozenset({planted.matching_head}))], label=f"zero {setup.head_label}")
    controls = [study.quality([HeadAblation(frozenset({h}))], label=f"zero {_head(h)}") for h in others]
    control_mean = {q: float(np.mean([c[q] for c in controls])) for q in baseline}
    qids = sorted(baseline)

    def compare(label: str, treatment: dict, control: dict) -> Any:
        return stats.paired_comparison(label, [treatment[q] for q in qids], [control[q] for q in qids], hypothesis="less",
                                       bounds=(0.0, 1.0), test=settings.test, alpha=settings.alpha, n_resamples=200,
                                       seed=settings.seed)

    family = stats.correct_family(
        [compare(f"zero {setup.head_label} vs unablated", ablated, baseline),
         compare(f"zero {setup.head_label} vs other heads of layer {layer}", ablated, control_mean)],
        settings.correction, settings.alpha, require="all")
    passed = all(c.verdict.value == "SUPPORTED" for c in family)
    mean = lambda d: float(np.mean(list(d.values())))  # noqa: E731
    detail = (f"nDCG@10 {mean(baseline):.3f} unablated -> {mean(ablated):.3f} with {setup.head_label} zeroed; "
              + "; ".join(f"{_head(h)} zeroed {mean(c):.3f}" for h, c in zip(others, controls))
              + "; " + "; ".join(f"{c.label}: {c.reason}" for c in family))
    figure = {"matching": [list(planted.matching_head)], "random_sets": [[list(h)] for h in others],
              "layers": planted.layers, "heads": planted.heads}
    return method_check("planted: CE-8 ablating the matching head drops nDCG@10", "planted", passed, detail,
                  {"ablated_heads": figure}, comparisons=[_brief(c) for c in family])


def check_directions(setup: PlantedSetup) -> Check:
    """CE-5-style: of the 25 directions, ablating exactly the planted paths (Query->Document,
    where matching happens, and Document->[CLS], where the aggregator reads it) hurts nDCG@10."""
    study, settings = setup.study, setup.settings
    baseline = study.quality(label="baseline")
    qids = sorted(baseline)
    comparisons = []
    for direction in all_directions():
        ablated = study.quality([DirectionAblation(frozenset({direction}), mode=study.ablation_mode)],
                                label=f"ablate {direction}")
        comparisons.append(stats.paired_comparison(
            f"ablate {direction}", [ablated[q] for q in qids], [baseline[q] for q in qids], hypothesis="two-sided",
            bounds=(0.0, 1.0), test=settings.test, alpha=settings.alpha, n_resamples=200, seed=settings.seed))
    # A screen of the 25 directions: which hurt is decided with every direction's test corrected.
    corrected = stats.correct_family(comparisons, settings.correction, settings.alpha, require="any")
    hurt = {str(d) for d, c in zip(all_directions(), corrected) if c.p_corrected < settings.alpha and c.effect < 0}
    planted = {str(Direction.parse(p)) for p in setup.planted.planted_paths}
    passed = hurt == planted
    drops = ", ".join(f"{c.label.removeprefix('ablate ')} {c.effect:+.3f}" for c in corrected
                      if c.label.removeprefix("ablate ") in hurt | planted)
    detail = (f"directions that significantly hurt ({settings.correction} over 25): {', '.join(sorted(hurt)) or 'none'}; "
              f"planted: {', '.join(sorted(planted))}; nDCG@10 change: {drops}")
    return method_check("planted: direction ablation hurts only the planted paths", "planted", passed, detail,
                  {"direction_table": direction_figure(corrected, baseline, {}, alpha=settings.alpha, convention=study.convention)},
                  metric=study.measure, correction=settings.correction, alpha=settings.alpha)


def _brief(c: Any) -> dict[str, Any]:
    return {"label": c.label, "effect": c.effect, "p_corrected": c.p_corrected, "verdict": c.verdict.value}


PLANTED_CHECKS: dict[str, Callable[[PlantedSetup], Check]] = {
    name: one_thread(check)
    for name, check in {
        "matching-screen": check_matching_screen,
        "alignment": check_alignment,
        "decomposition": check_decomposition,
        "head-ablation": check_head_ablation,
        "directions": check_directions,
    }.items()
}
