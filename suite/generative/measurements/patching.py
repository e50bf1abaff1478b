"""GR-3..GR-5: patching decoder components by stage (Table 3), by single layer, and the minimal circuit (Table 4).

Every condition is one decoder step over the queries it concerns, on encoder outputs computed
once (see :class:`ranker_claims.generative.study.GenerativeStudy`); a condition's measured value is the
share of correct queries whose relevant document leaves rank 1.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import asdict, dataclass
from typing import Literal

import numpy as np

from ranker_claims.core import stats
from ranker_claims.core.claims import Claim, Settings
from ranker_claims.core.decisions import conclude, mcnemar, mcnemar_against_each, proportion
from ranker_claims.core.results import ClaimResult
from ranker_claims.generative.interventions import Component, Patch, layer_label
from ranker_claims.generative.measurements import MEASUREMENTS
from ranker_claims.generative.measurements.common import per_query, stage_boundaries
from ranker_claims.generative.study import GenerativeStudy, MissingCompanion

METHOD_NAMES = {"zero": "zero", "mean": "mean", "model": "T5"}
COMPONENT_NAMES = {"self_attention": "self-attention", "cross_attention": "cross-attention", "mlp": "MLP"}


def _cell_label(component: str, stage: str, method: str) -> str:
    return f"{COMPONENT_NAMES[component]}, stage {stage}, {METHOD_NAMES[method]}"


def _left_rank_one(study: GenerativeStudy, patches: list[Patch], label: str) -> np.ndarray:
    return study.ranks(patches, rows="correct", label=label) > 1


def stage_cell(study: GenerativeStudy, component: str, stage: str, method: str) -> np.ndarray:
    """Whether each correct query leaves rank 1 when ``component`` is patched in all of ``stage``."""
    layers = study.stages[stage]
    patch = study.patch(component, layers, method, study.correct)
    return _left_rank_one(study, [patch], f"{_cell_label(component, stage, method)} ({layer_label(layers)})")


def _prefetch_cells(study: GenerativeStudy, cells: list[tuple[str, ...]],
                    singles: list[tuple[str, int, str]] | tuple[()] = ()) -> None:
    """Measure whole-stage cells and single-layer patches in one pass over the correct queries; a cell
    whose companion is missing is left for its own call to report."""
    conditions = []
    for component, stage, method in cells:
        try:
            conditions.append([study.patch(component, study.stages[stage], method, study.correct)])
        except MissingCompanion:
            continue
    conditions += [[study.patch(component, (layer,), method, study.correct)] for component, layer, method in singles]
    study.prefetch(conditions, rows="correct", label="patching grid")


ComponentName = Literal["self_attention", "cross_attention", "mlp"]
StageName = Literal["I", "II", "III"]
MethodName = Literal["zero", "mean", "model"]


@dataclass(frozen=True)
class Cell:
    """A cell of the paper's Table 3 (fields in the order the figure stores them)."""

    component: ComponentName
    method: MethodName
    stage: StageName
    paper: float  # NQ10k share leaving rank 1
    nq320k: float
    trivia_qa: float
    role: Literal["removable", "crucial", "reported"]  # reported: shown with its CI, not tested


@dataclass(frozen=True)
class Order:
    """The T5 ordering: patching ``more`` moves more queries off rank 1 than patching ``less``."""

    more: str  # "component:stage:method", a cell of the table
    less: str


@dataclass(frozen=True)
class StageTableParams:
    removable_below: float  # "removable" = significantly below this share
    crucial_above: float  # "crucial" = significantly above this share
    order: tuple[Order, ...]
    cells: tuple[Cell, ...]

    def __post_init__(self) -> None:
        # Overlapping roles would let one true share between the bounds be SUPPORTED as removable in
        # one cell and as crucial in another.
        if self.removable_below > self.crucial_above:
            raise ValueError(f"removable_below ({self.removable_below:g}) exceeds crucial_above ({self.crucial_above:g}): "
                             "the roles overlap, so a share between them could be shown both removable and crucial")


@MEASUREMENTS.register(StageTableParams)
def stage_table(claim: Claim, params: StageTableParams, study: GenerativeStudy, settings: Settings) -> ClaimResult:
    """GR-3: the 27 cells of Table 3; the paper's removable / crucial cells decide, the T5 order too."""
    rows = study.correct
    if not len(rows):
        return conclude(claim, study, settings, [], metric="share of correct queries leaving rank 1",
                        missing=["no correct query in the evaluation split"])
    left: dict[str, np.ndarray] = {}
    missing: dict[str, str] = {}
    comparisons, cells = [], []
    _prefetch_cells(study, [(cell.component, cell.stage, cell.method) for cell in params.cells])
    for cell in params.cells:
        component, stage, method, role = cell.component, cell.stage, cell.method, cell.role
        key = f"{component}:{stage}:{method}"
        entry = {**asdict(cell), "layers": layer_label(study.stages[stage])}
        try:
            left[key] = stage_cell(study, component, stage, method)
        except MissingCompanion as error:
            missing[METHOD_NAMES[method]] = str(error)
            cells.append({**entry, "measured": None, "missing": str(error)})
            continue
        k, n = int(left[key].sum()), int(left[key].size)
        entry.update(measured=k / n, k=k, n=n)
        if role in ("removable", "crucial"):
            removable = role == "removable"
            bound = params.removable_below if removable else params.crucial_above
            expected = cell.paper - bound
            sign_ok = expected < 0 if removable else expected > 0
            comparisons.append(proportion(settings, f"{_cell_label(component, stage, method)}: {role} "
                                                    f"({'<' if removable else '>'} {bound:g})", left[key], bound,
                                          hypothesis="less" if removable else "greater",
                                          expected_effect=expected if sign_ok else None))
            entry["comparison"] = len(comparisons) - 1
        else:
            entry["ci"] = list(stats.clopper_pearson(k, n))
        cells.append(entry)
    for pair in params.order:
        more, less = pair.more, pair.less
        if more in left and less in left:
            comparisons.append(mcnemar(settings, f"{_cell_label(*more.split(':'))} > {_cell_label(*less.split(':'))}",
                                       left[more], left[less], hypothesis="greater"))
    result = conclude(claim, study, settings, comparisons, metric="share of correct queries leaving rank 1",
                      missing=[f"{m} cells ({why})" for m, why in missing.items()])
    for entry in cells:
        if "comparison" in entry:
            c = result.comparisons[entry.pop("comparison")]
            entry.update(ci=list(c.ci), p_corrected=c.p_corrected, verdict=c.verdict.value)
    result.figures["stage_table"] = {
        "components": list(COMPONENT_NAMES), "component_names": COMPONENT_NAMES, "methods": list(METHOD_NAMES),
        "method_names": METHOD_NAMES, "stages": ["I", "II", "III"], "cells": cells,
        "removable_below": params.removable_below, "crucial_above": params.crucial_above,
        "n": int(len(rows)), "stage_layers": {k: layer_label(v) for k, v in study.stages.items()},
        "stages_data_driven": stage_boundaries(study).get("data_driven"),
        "paper_models": {"paper": "NQ10k", "nq320k": "NQ320k", "trivia_qa": "Trivia-QA"},
    }
    result.per_query = {f"left rank 1: {k}": per_query(study, rows, v.astype(float)) for k, v in left.items()}
    return result


@dataclass(frozen=True)
class SingleLayersParams:
    boundary: float  # "did not observe a drop": the worst single layer stays below it
    expected_single: float  # the true share at which the worst-layer tests' power is taken
    method: MethodName
    crucial_stages: tuple[str, ...]  # "component:stage" cells whose whole stage must beat each of its layers


@MEASUREMENTS.register(SingleLayersParams)
def single_layers(claim: Claim, params: SingleLayersParams, study: GenerativeStudy, settings: Settings) -> ClaimResult:
    """GR-4: each component zeroed in one layer at a time, against its whole stage."""
    rows = study.correct
    if not len(rows):
        return conclude(claim, study, settings, [], metric="share of correct queries leaving rank 1",
                        missing=["no correct query in the evaluation split"])
    boundary, method = params.boundary, params.method
    per_layer: dict[str, np.ndarray] = {}
    shares: dict[str, list[float]] = {}
    _prefetch_cells(study, [(*spec.split(":"), method) for spec in params.crucial_stages],
                    [(component, layer, method) for component in Component for layer in range(study.n_layers)])
    for part in Component:
        layer_outcomes = []
        for layer in range(study.n_layers):
            patch = study.patch(part, (layer,), method, rows)
            layer_outcomes.append(_left_rank_one(study, [patch], f"{COMPONENT_NAMES[part.value]} layer {layer} {method}"))
        per_layer[part.value] = np.stack(layer_outcomes)  # [L, n]
        shares[part.value] = [float(o.mean()) for o in layer_outcomes]
    expected = params.expected_single - boundary
    comparisons = []
    for component, outcomes in per_layer.items():
        # The worst of L layers is picked by the data: selection=L corrects its contradiction for that pick.
        worst = int(np.argmax(outcomes.mean(axis=1)))
        comparisons.append(proportion(settings, f"{COMPONENT_NAMES[component]}: worst single layer ({worst} of "
                                                f"{study.n_layers}) below {boundary:g}", outcomes[worst], boundary,
                                      hypothesis="less", expected_effect=expected, selection=study.n_layers))
    stage_shares = {}
    for spec in params.crucial_stages:
        component, stage = spec.split(":")
        whole = stage_cell(study, component, stage, method)
        layers = study.stages[stage]
        stage_shares[spec] = float(whole.mean())
        # Against EACH layer of the stage, not the worst one the data pick: supported if the whole stage
        # beats every layer (the largest p), contradicted if any layer beats it (Bonferroni over the layers).
        comparisons.append(mcnemar_against_each(
            settings, f"{COMPONENT_NAMES[component]} stage {stage} whole > each of its layers ({layer_label(layers)})",
            whole, {f"layer {layer}": per_layer[component][layer] for layer in layers}, hypothesis="greater"))
    figure = {"title": f"Share of correct queries leaving rank 1, one layer {method}-patched at a time",
              "layers": study.n_layers, "series": {COMPONENT_NAMES[c]: v for c, v in shares.items()},
              "boundary": boundary, "whole_stage": stage_shares, "stages": stage_boundaries(study), "n": int(len(rows)),
              "scale": "linear", "y_label": "share leaving rank 1"}
    return conclude(claim, study, settings, comparisons, metric="share of correct queries leaving rank 1",
                    figures={"layer_series": figure})


@dataclass(frozen=True)
class MinimalCircuitParams:
    p0: float  # "most" hits kept: the share tested against
    cutoffs: tuple[int, ...]  # k of Hits@k
    # Per cutoff (as a string): the paper's NQ10k relative figures (expected effects) and, quoted in
    # the run only, its absolute figures and the range of relative Hits@1 over all its models.
    paper_relative: Mapping[str, float]
    paper_absolute: Mapping[str, float]
    paper_relative_range: tuple[float, float]


@MEASUREMENTS.register(MinimalCircuitParams)
def minimal_circuit(claim: Claim, params: MinimalCircuitParams, study: GenerativeStudy,
                    settings: Settings) -> ClaimResult:
    """GR-5 (Table 4): the paper's circuit on the whole evaluation split, hits kept against 1/2."""
    stage, L = study.stages, study.n_layers
    rows = study.eval_index
    try:
        patches = [
            study.patch(Component.CROSS_ATTENTION, stage["I"], "zero", rows),
            study.patch(Component.SELF_ATTENTION, range(L), "zero", rows),
            study.patch(Component.MLP, stage["I"] + stage["II"], "mean", rows),
        ]
    except MissingCompanion as error:
        return conclude(claim, study, settings, [], metric="hits kept under the circuit", missing=[str(error)])
    base = study.ranks(rows="eval")
    circuit = study.ranks(patches, rows="eval", label="minimal circuit")
    comparisons, bars, relative = [], [], {}
    for k in params.cutoffs:
        hit = base <= k
        if not hit.any():
            continue
        kept = circuit[hit] <= k
        paper = params.paper_relative[str(k)]
        comparisons.append(proportion(settings, f"Hits@{k} kept under the circuit", kept, params.p0,
                                      hypothesis="greater", expected_effect=paper - params.p0))
        relative[str(k)] = float((circuit <= k).sum() / hit.sum())
        bars.append({"label": f"Hits@{k} kept", "measured": comparisons[-1].measured, "ci": list(comparisons[-1].ci),
                     "reference": params.p0, "paper": paper,
                     "note": f"Hits@{k}: {hit.mean():.3f} -> {(circuit <= k).mean():.3f} (relative {relative[str(k)]:.2f})"})
    active = 3 * L - len(stage["I"]) - L - len(stage["I"]) - len(stage["II"])
    figure = {"title": "Minimal circuit: share of full-model hits kept", "unit": "share of hits", "bars": bars,
              "reference_label": "most (1/2)", "n": int(len(rows)),
              "caption": f"Active components: {active} of {3 * L} (cross-attention of stages II-III, MLPs of stage III); "
                         f"stage-I/II MLPs are constants. Paper: one third of 72."}
    missing = [] if comparisons else ["no evaluation query is a hit under the full model"]
    result = conclude(claim, study, settings, comparisons, metric="hits of the full model kept under the circuit",
                      missing=missing, figures={"metric_bars": figure},
                      per_query={"rank": per_query(study, rows, base), "rank under the circuit": per_query(study, rows, circuit)})
    result.options["relative_hits"] = relative
    result.options["active_components"] = active
    return result
