"""CE-1..CE-5: ranking quality of a cross-encoder under attention ablation by direction."""

from __future__ import annotations

from typing import Any

import numpy as np

from suite.core import stats
from suite.core.claims import Claim, Settings
from suite.core.results import ClaimResult, Comparison
from suite.cross_encoder.interventions import (
    Convention,
    Direction,
    DirectionAblation,
    all_directions,
    expand,
)
from suite.cross_encoder.parts import Part
from suite.cross_encoder.study import CrossEncoderStudy


def _aligned(a: dict[str, float], b: dict[str, float]) -> tuple[np.ndarray, np.ndarray]:
    qids = sorted(a)
    return np.array([a[q] for q in qids]), np.array([b[q] for q in qids])


def _compare(settings: Settings, label: str, treatment: dict, control: dict, **kwargs: Any) -> Comparison:
    x, y = _aligned(treatment, control)
    return stats.paired_comparison(
        label,
        x,
        y,
        test=settings.test,
        alpha=settings.alpha,
        min_power=settings.min_power,
        n_resamples=settings.bootstrap,
        seed=settings.seed,
        **kwargs,
    )


def _ablation(study: CrossEncoderStudy, settings: Settings, directions: frozenset[Direction], label: str):
    return study.quality([DirectionAblation(directions, mode=study.ablation_mode)], label=f"ablate {label}")


def _decide(claim: Claim, study: CrossEncoderStudy, settings: Settings, comparisons: list[Comparison], **fields):
    corrected = stats.correct_family(comparisons, method=settings.correction, alpha=settings.alpha)
    verdict, reason = stats.family_verdict(corrected)
    return claim.result(
        study,
        settings,
        metric=study.measure,
        decision=", ".join(sorted({c.details.get("hypothesis", "") for c in corrected} - {""})),
        verdict=verdict,
        reason=reason,
        comparisons=corrected,
        **fields,
    )


def baseline_quality(claim: Claim, study: CrossEncoderStudy, settings: Settings) -> ClaimResult:
    """CE-1: the unablated model against random orderings and the first-stage ranking."""
    baseline = study.quality(label="baseline")
    chance = study.random_quality(seed=settings.seed)
    first_stage = study.first_stage_quality()
    comparisons = [
        _compare(
            settings,
            "model vs random ordering",
            baseline,
            chance,
            hypothesis="greater",
            expected_effect=claim.params.get("expected_gain_over_random"),
        ),
        _compare(settings, "model vs first-stage ranking", baseline, first_stage, hypothesis="greater"),
    ]
    per_query = {"baseline": baseline, "random": chance, "first_stage": first_stage}
    return _decide(claim, study, settings, comparisons, per_query=per_query)


def direction_effects(claim: Claim, study: CrossEncoderStudy, settings: Settings) -> ClaimResult:
    """CE-2..CE-4: named ablations against the baseline or against random orderings."""
    references = {"baseline": lambda: study.quality(label="baseline"), "random": lambda: study.random_quality(settings.seed)}
    per_query: dict[str, dict[str, float]] = {}
    comparisons = []
    for condition in claim.params["conditions"]:
        directions = frozenset().union(*(expand(spec) for spec in condition["ablate"]))
        label = condition["label"]
        ablated = _ablation(study, settings, directions, label)
        reference = references[condition["against"]]()
        per_query[f"ablate {label}"] = ablated
        per_query[condition["against"]] = reference
        comparisons.append(
            _compare(
                settings,
                f"ablate {label} vs {condition['against']}",
                ablated,
                reference,
                hypothesis=condition["hypothesis"],
                margin=condition.get("margin"),
                expected_effect=condition.get("expected_effect"),
            )
        )
    return _decide(claim, study, settings, comparisons, per_query=per_query)


def direction_table(claim: Claim, study: CrossEncoderStudy, settings: Settings) -> ClaimResult:
    """CE-5: all 25 directions against the baseline; the paper's known cells decide."""
    baseline = study.quality(label="baseline")
    paper_cells = {Direction.parse(c["direction"]): c for c in claim.params["paper_cells"]}
    per_query = {"baseline": baseline}
    comparisons = []
    for direction in all_directions():
        label = _label(direction, study.convention)
        ablated = _ablation(study, settings, frozenset({direction}), label)
        per_query[f"ablate {label}"] = ablated
        cell = paper_cells.get(direction, {})
        comparisons.append(
            _compare(
                settings,
                f"ablate {label}",
                ablated,
                baseline,
                hypothesis=cell.get("hypothesis", "two-sided"),
                margin=claim.params["margin"] if cell.get("hypothesis") == "equivalent" else None,
                expected_effect=cell.get("expected_effect"),
            )
        )
    corrected = stats.correct_family(comparisons, method=settings.correction, alpha=settings.alpha)
    known = [c for c, d in zip(corrected, all_directions()) if d in paper_cells]
    verdict, reason = stats.family_verdict(known)
    table = direction_figure(corrected, baseline, paper_cells, alpha=settings.alpha, convention=study.convention)
    return claim.result(
        study,
        settings,
        metric=study.measure,
        decision="paper cells: " + ", ".join(f"{_label(d, study.convention)} {c['hypothesis']}" for d, c in paper_cells.items()),
        verdict=verdict,
        reason=f"decided on the paper's cells; {reason}",
        comparisons=corrected,
        figures={"direction_table": table},
        per_query=per_query,
    )


def _label(direction: Direction, convention: Convention) -> str:
    """The direction as written in the session's convention."""
    if convention is Convention.FLOW:
        return str(direction)
    return f"{direction.target.label}->{direction.source.label}"


def direction_figure(comparisons: list[Comparison], baseline: dict, paper_cells: dict, *, alpha: float,
                     convention: Convention) -> dict:
    """A 5x5 grid: row X, column Y holds the ablation of 'X->Y' in the session's convention."""
    parts = list(Part)
    values = [[0.0] * 5 for _ in parts]
    p_corrected = [[1.0] * 5 for _ in parts]
    significant = [[False] * 5 for _ in parts]
    paper = [[None] * 5 for _ in parts]
    for direction, comparison in zip(all_directions(), comparisons):
        flow = convention is Convention.FLOW
        row, col = (direction.source, direction.target) if flow else (direction.target, direction.source)
        p_difference = comparison.details.get("p_difference_corrected", comparison.p_corrected)
        values[row][col] = comparison.measured
        p_corrected[row][col] = p_difference
        significant[row][col] = bool(p_difference < alpha)
        if direction in paper_cells:
            paper[row][col] = paper_cells[direction].get("value")
    return {
        "parts": [p.label for p in parts],
        "convention": convention.describe(),
        "baseline": float(np.mean(list(baseline.values()))),
        "values": values,
        "p_corrected": p_corrected,
        "significant": significant,
        "paper": paper,
    }
