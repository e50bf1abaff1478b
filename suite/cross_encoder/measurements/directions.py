"""CE-1..CE-5: ranking quality of a cross-encoder under attention ablation by direction."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any, Literal

import numpy as np

from ranker_claims.core import decisions
from ranker_claims.core.claims import Claim, Settings
from ranker_claims.core.results import ClaimResult, Comparison, InsufficientData
from ranker_claims.cross_encoder.interventions import (
    Convention,
    Direction,
    DirectionAblation,
    all_directions,
    expand,
)
from ranker_claims.cross_encoder.measurements import MEASUREMENTS
from ranker_claims.cross_encoder.parts import Part
from ranker_claims.cross_encoder.study import CrossEncoderStudy

Hypothesis = Literal["greater", "less", "two-sided", "equivalent"]


def _ablation(study: CrossEncoderStudy, directions: frozenset[Direction], label: str) -> dict[str, float]:
    return study.quality([DirectionAblation(directions, mode=study.ablation_mode)], label=f"ablate {label}")


def _decide(claim: Claim, study: CrossEncoderStudy, settings: Settings, comparisons: list[Comparison],
            **fields: Any) -> ClaimResult:
    return decisions.conclude(claim, study, settings, comparisons, metric=study.measure,
                              decision=decisions.hypotheses(comparisons), **fields)


def _check_orderable(study: CrossEncoderStudy) -> None:
    """Raise InsufficientData where no query's pool can change the measure by its order (every pool holds
    documents of one grade), so that CE-1..CE-5 say what the collection lacks rather than compare zeros."""
    queries = study.rerank.queries
    if any(len({c.grade for c in q.candidates}) > 1 for q in queries):
        return
    grade = study.rerank.relevant_grade
    kinds = {"one candidate": 0, "every candidate relevant": 0, "no relevant candidate": 0,
             "every candidate of one partial grade": 0}
    for q in queries:
        kind = ("one candidate" if len(q.candidates) < 2 else "every candidate relevant"
                if q.candidates[0].grade >= grade else "no relevant candidate"
                if q.candidates[0].grade <= 0 else "every candidate of one partial grade")
        kinds[kind] += 1
    shown = ", ".join(f"{n} with {kind}" for kind, n in kinds.items() if n)
    raise InsufficientData(f"no query's first-stage pool can change {study.measure} by its order, every pool "
                           f"holding documents of one grade ({len(queries)} queries: {shown})")


@dataclass(frozen=True)
class BaselineQualityParams:
    # The paper's gain over random orderings, setting the power of the first comparison.
    expected_gain_over_random: float | None = None
    # The smallest gain over random orderings that counts as ranking well; a smaller one contradicts.
    smallest_gain_over_random: float | None = None


@MEASUREMENTS.register(BaselineQualityParams)
def baseline_quality(claim: Claim, params: BaselineQualityParams, study: CrossEncoderStudy,
                     settings: Settings) -> ClaimResult:
    """CE-1: the unablated model against random orderings and the first-stage ranking."""
    _check_orderable(study)
    baseline = study.quality(label="baseline")
    chance = study.random_quality(seed=settings.seed)
    first_stage = study.first_stage_quality()
    comparisons = [
        decisions.paired(settings, "model vs random ordering", baseline, chance, hypothesis="greater", bounds=decisions.UNIT,
                         expected_effect=params.expected_gain_over_random,
                         smallest_effect=params.smallest_gain_over_random),
        decisions.paired(settings, "model vs first-stage ranking", baseline, first_stage, hypothesis="greater",
                         bounds=decisions.UNIT),
    ]
    per_query = {"baseline": baseline, "random": chance, "first_stage": first_stage}
    return _decide(claim, study, settings, comparisons, per_query=per_query)


@dataclass(frozen=True)
class Condition:
    """One named ablation tested against the baseline or against random orderings."""

    label: str
    ablate: tuple[str, ...]  # direction specs, e.g. "query<->document", "cls<->*"
    against: Literal["baseline", "random"]
    hypothesis: Hypothesis
    margin: float | None = None
    expected_effect: float | None = None
    smallest_effect: float | None = None  # the smallest effect of interest; a smaller one contradicts

    def __post_init__(self) -> None:
        if (self.margin is None) == (self.hypothesis == "equivalent"):
            raise ValueError(f"condition {self.label!r}: a margin goes with, and only with, hypothesis 'equivalent'")


@dataclass(frozen=True)
class DirectionEffectsParams:
    conditions: tuple[Condition, ...]


@MEASUREMENTS.register(DirectionEffectsParams)
def direction_effects(claim: Claim, params: DirectionEffectsParams, study: CrossEncoderStudy,
                      settings: Settings) -> ClaimResult:
    """CE-2..CE-4: named ablations against the baseline or against random orderings."""
    _check_orderable(study)
    references = {"baseline": lambda: study.quality(label="baseline"), "random": lambda: study.random_quality(settings.seed)}
    per_query: dict[str, dict[str, float]] = {}
    comparisons = []
    for condition in params.conditions:
        directions = frozenset().union(*(expand(spec) for spec in condition.ablate))
        ablated = _ablation(study, directions, condition.label)
        reference = references[condition.against]()
        per_query[f"ablate {condition.label}"] = ablated
        per_query[condition.against] = reference
        comparisons.append(
            decisions.paired(settings, f"ablate {condition.label} vs {condition.against}", ablated, reference,
                             hypothesis=condition.hypothesis, bounds=decisions.UNIT, margin=condition.margin,
                             expected_effect=condition.expected_effect, smallest_effect=condition.smallest_effect)
        )
    return _decide(claim, study, settings, comparisons, per_query=per_query)


@dataclass(frozen=True)
class PaperCell:
    """A cell of the paper's Table 1 that decides CE-5."""

    direction: str  # e.g. "query->document", in the paper's (flow) convention
    hypothesis: Hypothesis
    value: float | None = None  # the paper's nDCG@10, drawn beside the measured one
    expected_effect: float | None = None
    smallest_effect: float | None = None


@dataclass(frozen=True)
class DirectionTableParams:
    paper_cells: tuple[PaperCell, ...]
    margin: float | None = None  # the equivalence margin of the paper's "equivalent" cells

    def __post_init__(self) -> None:
        if self.margin is None and any(c.hypothesis == "equivalent" for c in self.paper_cells):
            raise ValueError("missing parameter 'margin', which the paper's 'equivalent' cells need")


@MEASUREMENTS.register(DirectionTableParams)
def direction_table(claim: Claim, params: DirectionTableParams, study: CrossEncoderStudy,
                    settings: Settings) -> ClaimResult:
    """CE-5: all 25 directions against the baseline; the paper's known cells decide."""
    _check_orderable(study)
    baseline = study.quality(label="baseline")
    paper_cells = {Direction.parse(c.direction): c for c in params.paper_cells}
    per_query = {"baseline": baseline}
    comparisons = []
    for direction in all_directions():
        label = _label(direction, study.convention)
        ablated = _ablation(study, frozenset({direction}), label)
        per_query[f"ablate {label}"] = ablated
        cell = paper_cells.get(direction)
        hypothesis = cell.hypothesis if cell else "two-sided"
        comparisons.append(
            decisions.paired(settings, f"ablate {label}", ablated, baseline, hypothesis=hypothesis, bounds=decisions.UNIT,
                             margin=params.margin if hypothesis == "equivalent" else None,
                             expected_effect=cell.expected_effect if cell else None,
                             smallest_effect=cell.smallest_effect if cell else None)
        )
    family = decisions.decide_family(settings, comparisons, decided=[d in paper_cells for d in all_directions()])
    table = direction_figure(family.comparisons, baseline, paper_cells, alpha=settings.alpha,
                             convention=study.convention)
    return claim.result(
        study,
        settings,
        metric=study.measure,
        decision="paper cells: " + ", ".join(f"{_label(d, study.convention)} {c.hypothesis}"
                                             for d, c in paper_cells.items()),
        verdict=family.verdict,
        reason=f"decided on the paper's cells; {family.reason}",
        comparisons=family.comparisons,
        figures={"direction_table": table},
        per_query=per_query,
    )


def _label(direction: Direction, convention: Convention) -> str:
    """The direction as written in the session's convention."""
    if convention is Convention.FLOW:
        return str(direction)
    return f"{direction.target.label}->{direction.source.label}"


def direction_figure(comparisons: list[Comparison], baseline: Mapping[str, float],
                     paper_cells: Mapping[Direction, PaperCell], *, alpha: float,
                     convention: Convention) -> dict[str, Any]:
    """A 5x5 grid: row X, column Y holds the ablation of 'X->Y' in the session's convention (CE-5's
    figure, and the planted-model check's)."""
    parts = list(Part)
    values = [[0.0] * 5 for _ in parts]
    p_corrected = [[1.0] * 5 for _ in parts]
    significant = [[False] * 5 for _ in parts]
    paper: list[list[float | None]] = [[None] * 5 for _ in parts]
    for direction, comparison in zip(all_directions(), comparisons):
        flow = convention is Convention.FLOW
        row, col = (direction.source, direction.target) if flow else (direction.target, direction.source)
        p_difference = comparison.details.get("p_difference_corrected", comparison.p_corrected)
        values[row][col] = comparison.measured
        p_corrected[row][col] = p_difference
        significant[row][col] = bool(p_difference < alpha)
        if direction in paper_cells:
            paper[row][col] = paper_cells[direction].value
    return {
        "parts": [p.label for p in parts],
        "convention": convention.describe(),
        "baseline": float(np.mean(list(baseline.values()))),
        "values": values,
        "p_corrected": p_corrected,
        "significant": significant,
        "paper": paper,
    }
