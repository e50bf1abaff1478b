"""Method checks of the generative-retrieval detectors on a T5 whose answer lives in decoder stage II.

Table 3's stage patching (zero and mean) must move the answer off rank 1 only for that stage's
cross-attention and MLPs, the logit lens first see it there, the contribution profile put its
boundaries there, and only the MLPs' summed outputs name the document.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from ranker_claims.core.method_checks import Check, method_check, one_thread
from ranker_claims.generative import analyses
from ranker_claims.generative.interventions import Component, layer_label
from ranker_claims.generative.measurements.lens import lens
from ranker_claims.generative.measurements.patching import stage_cell
from ranker_claims.generative.model import GenerativeRetriever
from ranker_claims.generative.planted import (
    PlantedGenerative,
    build_planted_generative,
    planted_generative_collection,
)
from ranker_claims.generative.study import GenerativeStudy

# Planted T5: a planted cell must move at least this share of correct queries off rank 1, an inert one at most
# INERT_SHARE; the logit lens must first hold the answer inside the planted stage for at least PLANTED_SHARE.
PLANTED_SHARE = 0.9
INERT_SHARE = 0.1
# Fewer correct queries than this and a share says little: the check fails rather than pass on a handful.
MIN_CORRECT = 10


@dataclass
class PlantedGenerativeSetup:
    """The planted DSI model measured on its collection, as a GR claims study."""

    planted: PlantedGenerative
    study: GenerativeStudy

    @property
    def stage_label(self) -> str:
        return f"stage {self.planted.stage} (layers {layer_label(self.planted.layers)})"


def planted_generative_setup(directory: str | Path, *, per_document: int = 4, seed: int = 0) -> PlantedGenerativeSetup:
    """Build the planted T5 in ``directory`` (well under a second), load it as users' checkpoints
    load, and wrap it with its collection. No disk cache: every check measures afresh."""
    planted = build_planted_generative(directory, seed=seed)
    model = GenerativeRetriever.load(planted.path, name="planted:dsi-stage-II")
    collection = planted_generative_collection(per_document=per_document, seed=seed)
    return PlantedGenerativeSetup(planted, GenerativeStudy(model, collection, seed=seed))


def _too_few(setup: PlantedGenerativeSetup, name: str) -> Check | None:
    """A failed check when the planted model gets too few evaluation queries right to judge a share."""
    study = setup.study
    n = len(study.correct)
    if n >= MIN_CORRECT:
        return None
    detail = (f"only {n} of {len(study.eval_index)} evaluation queries have their document at rank 1 unpatched "
              f"(need >= {MIN_CORRECT}): the planted model is broken, or the decode/rank code is")
    return method_check(name, "planted", False, detail, correct=n)


def _share(hits: np.ndarray) -> str:
    return f"{int(hits.sum())}/{hits.size} ({hits.mean():.2f})"


def check_stage_patching(setup: PlantedGenerativeSetup) -> Check:
    """GR-3's Table 3 grid (zero and mean) through the claim's own cell code: only stage II's
    cross-attention and MLP cells move the answer off rank 1."""
    name = "planted T5: stage patching moves the answer only in the planted cells"
    if (failed := _too_few(setup, name)) is not None:
        return failed
    study, planted = setup.study, setup.planted
    planted_cells = {(c, planted.stage) for c in planted.components}
    shares: dict[str, dict[str, dict[str, float]]] = {}
    wrong = []
    for method in ("zero", "mean"):
        for component in Component:
            for stage in study.stages:
                left = stage_cell(study, component.value, stage, method)
                shares.setdefault(method, {}).setdefault(component.value, {})[stage] = float(left.mean())
                is_planted = (component.value, stage) in planted_cells
                if (left.mean() < PLANTED_SHARE) if is_planted else (left.mean() > INERT_SHARE):
                    wrong.append(f"{component.value} {stage} {method} {_share(left)}")
    planted_text = "; ".join(
        f"{c} {planted.stage} {m} {shares[m][c][planted.stage]:.2f}" for m in shares for c in planted.components)
    inert = [v for m in shares.values() for c, row in m.items() for s, v in row.items() if (c, s) not in planted_cells]
    stage_layers = {k: layer_label(v) for k, v in study.stages.items()}
    detail = (f"share of {len(study.correct)} correct queries leaving rank 1 (stages "
              f"{', '.join(f'{k} {v}' for k, v in stage_layers.items())}): planted cells {planted_text} "
              f"(need >= {PLANTED_SHARE}); the other {len(inert)} cells at most {max(inert):.2f} (need <= {INERT_SHARE})"
              + (f"; out of bounds: {', '.join(wrong)}" if wrong else ""))
    figure = {"planted": sorted(f"{c}/{s}" for c, s in planted_cells), "stages": stage_layers,
              "n": int(len(study.correct)), "share_leaving_rank_1": shares}
    return method_check(name, "planted", not wrong, detail, {"planted_stage_grid": figure})


def _first_rank_one(relevant: np.ndarray) -> np.ndarray:
    """Per query, the first layer whose residual ranks the relevant document first (-1: never)."""
    top = relevant == 1
    return np.where(top.any(axis=1), top.argmax(axis=1), -1)


def _layer_counts(first: np.ndarray) -> str:
    values, counts = np.unique(first, return_counts=True)
    return ", ".join(f"{'never' if v < 0 else f'layer {v}'} x{c}" for v, c in zip(values, counts))


def check_logit_lens(setup: PlantedGenerativeSetup) -> Check:
    """GR-7's lens (the claim's own, with the final norm): the document first reaches rank 1
    inside the planted stage; a lens skipping the norm reads the decoy dimension and does not."""
    name = "planted T5: the logit lens first finds the document in the planted stage"
    if (failed := _too_few(setup, name)) is not None:
        return failed
    study, planted = setup.study, setup.planted
    normed, rows = lens(study)
    passed_, _, _ = study.analysis
    bare = analyses.logit_lens_ranks(study.model, passed_, [study.targets[i] for i in rows], over=study.rank_over,
                                      normed=False)
    first = {"normed": _first_rank_one(normed.relevant), "bare": _first_rank_one(bare.relevant)}
    inside = {k: np.isin(v, planted.layers) for k, v in first.items()}
    passed = inside["normed"].mean() >= PLANTED_SHARE and inside["bare"].mean() <= INERT_SHARE
    detail = (f"relevant document first at rank 1 inside {setup.stage_label}: {_share(inside['normed'])} of the correct "
              f"queries with the final norm (need >= {PLANTED_SHARE}; {_layer_counts(first['normed'])}), "
              f"{_share(inside['bare'])} without it (need <= {INERT_SHARE}: the decoy dimension; "
              f"{_layer_counts(first['bare'])})")
    figure = {"layers": study.n_layers, "planted_layers": list(planted.layers), "n": int(len(rows)),
              "mean_rank_with_norm": normed.relevant.mean(axis=0).round(3).tolist(),
              "mean_rank_without_norm": bare.relevant.mean(axis=0).round(3).tolist()}
    return method_check(name, "planted", passed, detail, {"planted_lens": figure})


def check_contribution_profile(setup: PlantedGenerativeSetup) -> Check:
    """GR-2's data-driven stages (the study's own, from the contribution ratios) put the
    boundaries where the planted stage begins and ends."""
    name = "planted T5: the contribution profile puts the stage boundaries at the planted ones"
    if (failed := _too_few(setup, name)) is not None:
        return failed
    study, planted = setup.study, setup.planted
    found = study.data_driven_stages()
    want = (planted.layers[0], planted.layers[-1] + 1)
    got = (len(found["I"]), len(found["I"]) + len(found["II"]))
    detail = (f"data-driven boundaries {got[0]} and {got[1]} (stages "
              f"{', '.join(f'{k} {layer_label(v)}' for k, v in found.items())}); planted {want[0]} and {want[1]}")
    figure = {"found": {k: list(v) for k, v in found.items()}, "planted_layers": list(planted.layers)}
    return method_check(name, "planted", got == want, detail, {"planted_boundaries": figure})


def check_component_sums(setup: PlantedGenerativeSetup) -> Check:
    """GR-8 as the claim reads it: logits from the summed MLP outputs name the document, from
    the summed cross-attention outputs (which only carry the copies MLPs read) they do not."""
    name = "planted T5: only the MLPs' summed outputs name the document"
    if (failed := _too_few(setup, name)) is not None:
        return failed
    study = setup.study
    passed_, targets = study.correct_pass(), [study.targets[i] for i in study.correct]
    first = {c: analyses.component_sum_ranks(study.model, passed_, c, targets, over=study.rank_over) == 1
             for c in (Component.MLP, Component.CROSS_ATTENTION)}
    mlp, cross = first[Component.MLP], first[Component.CROSS_ATTENTION]
    passed = mlp.mean() >= PLANTED_SHARE and cross.mean() <= INERT_SHARE
    detail = (f"relevant document at rank 1 from the summed MLP outputs alone: {_share(mlp)} (need >= {PLANTED_SHARE}); "
              f"from the summed cross-attention outputs alone: {_share(cross)} (need <= {INERT_SHARE})")
    return method_check(name, "planted", passed, detail,
                  {"planted_component_sums": {"mlp": float(mlp.mean()), "cross_attention": float(cross.mean()),
                                              "n": int(mlp.size)}})


PLANTED_GENERATIVE_CHECKS: dict[str, Callable[[PlantedGenerativeSetup], Check]] = {
    name: one_thread(check)
    for name, check in {
        "stage-patching": check_stage_patching,
        "logit-lens": check_logit_lens,
        "contribution-profile": check_contribution_profile,
        "component-sums": check_component_sums,
    }.items()
}
