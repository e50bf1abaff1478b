"""Shared pieces of the GR measurements: per-query values as a result stores them, and the stage
boundaries their figures draw. Decisions go through :mod:`ranker_claims.core.decisions`."""

from __future__ import annotations

from typing import Any

import numpy as np

from ranker_claims.generative.study import GenerativeStudy


def per_query(study: GenerativeStudy, rows: np.ndarray, values: np.ndarray) -> dict[str, float]:
    """``{qid: value}`` for stored per-query values (NaN kept as None by the JSON writer)."""
    return {study.qids[i]: (float(v) if np.isfinite(v) else float("nan")) for i, v in zip(rows, values)}


def stage_boundaries(study: GenerativeStudy) -> dict[str, Any]:
    """Both sets of stage boundaries for a figure: the paper's mapped ones and the data-driven ones."""
    out: dict[str, Any] = {"paper": {k: list(v) for k, v in study.stages.items()}}
    try:
        out["data_driven"] = {k: list(v) for k, v in study.data_driven_stages().items()}
    except ValueError as error:  # fewer than 3 layers, or no correct query
        out["data_driven_error"] = str(error)
    return out
