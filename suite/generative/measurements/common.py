"""Shared pieces of the GR measurements: decisions with the session's settings, and the verdict
of a claim some of whose comparisons could not be made (a missing companion model)."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import numpy as np

from suite.core import stats
from suite.core.claims import Claim, Settings
from suite.core.results import ClaimResult, Comparison, Verdict
from suite.generative.study import GenerativeStudy


def proportion(settings: Settings, label: str, hits: np.ndarray, p0: float, **kwargs: Any) -> Comparison:
    """k of n queries (``hits`` booleans) against p0, exact binomial."""
    hits = np.asarray(hits, dtype=bool)
    return stats.proportion_comparison(label, int(hits.sum()), int(hits.size), p0, alpha=settings.alpha,
                                       min_power=settings.min_power, **kwargs)


def paired(settings: Settings, label: str, treatment: Sequence[float], control: Sequence[float] | float,
           **kwargs: Any) -> Comparison:
    """A per-query paired comparison; a scalar control is a constant (one-sample test against it)."""
    x = np.asarray(treatment, dtype=float)
    y = np.full_like(x, float(control)) if np.isscalar(control) else np.asarray(control, dtype=float)
    keep = np.isfinite(x) & np.isfinite(y)
    return stats.paired_comparison(label, x[keep], y[keep], test=settings.test, alpha=settings.alpha,
                                   min_power=settings.min_power, n_resamples=settings.bootstrap, seed=settings.seed,
                                   **kwargs)


def mcnemar(settings: Settings, label: str, treatment: np.ndarray, control: np.ndarray, **kwargs: Any) -> Comparison:
    return stats.mcnemar_comparison(label, treatment, control, alpha=settings.alpha, min_power=settings.min_power,
                                    **kwargs)


def decide(claim: Claim, study: GenerativeStudy, settings: Settings, comparisons: list[Comparison], *,
           metric: str, missing: Sequence[str] = (), decided: Sequence[bool] | None = None, **fields: Any
           ) -> ClaimResult:
    """Correct the comparisons together and take the claim's verdict.

    ``missing``: parts of the claim that could not be measured (with why); the claim is then
    at best INCONCLUSIVE (a CONTRADICTED part still contradicts it). ``decided``: which
    comparisons decide (default all), the others are reported beside them."""
    corrected = stats.correct_family(comparisons, method=settings.correction, alpha=settings.alpha) if comparisons else []
    chosen = [c for c, d in zip(corrected, decided if decided is not None else [True] * len(corrected)) if d]
    if chosen:
        verdict, reason = stats.family_verdict(chosen)
    else:
        verdict, reason = Verdict.INCONCLUSIVE, "nothing could be measured"
    if missing:
        note = "; ".join(missing)
        if verdict is Verdict.SUPPORTED:
            verdict, reason = Verdict.INCONCLUSIVE, f"{reason}, but not measured: {note}"
        else:
            reason = f"{reason}; not measured: {note}"
    hypotheses = sorted({c.details.get("hypothesis", "") for c in chosen} - {""})
    kinds = sorted({c.details.get("kind", "") for c in chosen} - {""})
    return claim.result(
        study,
        settings,
        metric=metric,
        decision=f"{', '.join(kinds)}: {', '.join(hypotheses)}" if chosen else "none",
        verdict=verdict,
        reason=reason,
        comparisons=corrected,
        **fields,
    )


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
