"""GR-2: what each decoder component adds to the residual stream, layer by layer (paper Fig. 3)."""

from __future__ import annotations

import warnings
from dataclasses import dataclass

import numpy as np

from ranker_claims.core.claims import Claim, Settings
from ranker_claims.core.decisions import SIGNED_UNIT, conclude, paired
from ranker_claims.core.results import ClaimResult
from ranker_claims.generative.analyses import (
    contribution_ratios,
    residual_cosines,
    stage_cosines,
)
from ranker_claims.generative.interventions import Component
from ranker_claims.generative.measurements import MEASUREMENTS
from ranker_claims.generative.measurements.common import stage_boundaries
from ranker_claims.generative.study import GenerativeStudy

NAMES = {Component.SELF_ATTENTION: "self-attention", Component.CROSS_ATTENTION: "cross-attention", Component.MLP: "MLP"}


def _mean(values: np.ndarray, layers: list[int]) -> np.ndarray:
    """Per-query mean over ``layers`` (NaN-aware: a layer that did not change the residual has no ratio)."""
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", RuntimeWarning)
        return np.nanmean(values[:, layers], axis=1)


def _profile(values: dict[Component, np.ndarray]) -> dict[str, list[float | None]]:
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", RuntimeWarning)
        return {c.value: [None if not np.isfinite(v) else float(v) for v in np.nanmean(values[c], axis=0)] for c in Component}


@dataclass(frozen=True)
class ContributionsParams:
    stage_cosine_threshold: float  # the paper's bound on the cosine with the stage-I MLP output
    exclude_last_layer: bool = True  # stage-III cosines leave out the last layer, as the paper does


@MEASUREMENTS.register(ContributionsParams)
def contributions(claim: Claim, params: ContributionsParams, study: GenerativeStudy, settings: Settings) -> ClaimResult:
    """Stage-wise dominance of MLP / cross-attention ratios and the stage-III cosines, on the correct queries."""
    rows = study.correct
    if len(rows) < 2:
        return conclude(claim, study, settings, [], metric="contribution ratio",
                        missing=[f"{len(rows)} correct queries (need 2)"])
    passed = study.correct_pass()
    ratios = contribution_ratios(passed)
    cosines = residual_cosines(passed, against="begin")
    stage = {k: list(v) for k, v in study.stages.items()}
    I, II, III = stage["I"], stage["II"], stage["III"]
    III_cut = III[:-1] if params.exclude_last_layer and len(III) > 1 else III
    mlp, cross, self_ = (ratios[c] for c in (Component.MLP, Component.CROSS_ATTENTION, Component.SELF_ATTENTION))
    comparisons = [
        paired(settings, "stage I: MLP ratio > cross-attention ratio", _mean(mlp, I), _mean(cross, I), hypothesis="greater", bounds=None),
        paired(settings, "stage I: MLP ratio > self-attention ratio", _mean(mlp, I), _mean(self_, I), hypothesis="greater", bounds=None),
        paired(settings, "cross-attention ratio: stage II > stage I", _mean(cross, II), _mean(cross, I), hypothesis="greater", bounds=None),
        paired(settings, "cross-attention ratio: stage II > stage III", _mean(cross, II), _mean(cross, III), hypothesis="greater", bounds=None),
        paired(settings, "stage III: MLP ratio > cross-attention ratio", _mean(mlp, III), _mean(cross, III), hypothesis="greater", bounds=None),
        paired(settings, "stage III: MLP ratio > self-attention ratio", _mean(mlp, III), _mean(self_, III), hypothesis="greater", bounds=None),
    ]
    for c in Component:
        comparisons.append(paired(settings, f"stage III (w/o last layer): cos({NAMES[c]}, residual) < 0",
                                  _mean(cosines[c], III_cut), 0.0, hypothesis="less", bounds=SIGNED_UNIT))
    threshold = params.stage_cosine_threshold
    primed = stage_cosines(passed, I, III_cut)
    for c in Component:
        comparisons.append(paired(settings, f"stage III (w/o last layer): cos({NAMES[c]}, stage-I MLP sum) < {threshold}",
                                  np.nanmean(primed[c], axis=1), threshold, hypothesis="less", bounds=SIGNED_UNIT))
    figure = {
        "layers": study.n_layers,
        "ratios": _profile(ratios),
        "cosines": _profile(cosines),
        "stage_cosines": {c.value: [None if not np.isfinite(v) else float(v) for v in np.nanmean(primed[c], axis=0)]
                          for c in Component},
        "stage_cosine_layers": III_cut,
        "threshold": threshold,
        "stages": stage_boundaries(study),
        "n": int(len(rows)),
    }
    return conclude(claim, study, settings, comparisons, metric="||c_out|| / ||r_end - r_begin|| and cosines, per-query stage means",
                    figures={"contribution_profile": figure})
