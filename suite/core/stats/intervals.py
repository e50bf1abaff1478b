"""Confidence intervals: the bootstrap for means of per-query values, Clopper-Pearson for counts."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import numpy as np
from numpy.typing import ArrayLike
from scipy import stats as sps

from ranker_claims.core.stats.choices import check_choice
from ranker_claims.core.stats.tests import row_blocks


def bootstrap_ci(
    values: ArrayLike,
    statistic: Callable[..., Any] = np.mean,
    confidence: float = 0.95,
    n_resamples: int = 2000,
    seed: int = 0,
    method: str = "percentile",
) -> tuple[float, float]:
    """Bootstrap confidence interval of ``statistic`` (a numpy reduction taking ``axis=``).

    "percentile" by default, "bca" for bias-corrected and accelerated. Resampling is seeded,
    so two calls on equally long samples with one seed resample the same queries: the CI of
    a treatment and of its paired difference come from the same resamples."""
    check_choice(method, ("percentile", "bca"), "method")
    v = np.asarray(values, dtype=float).ravel()
    if v.size == 0:
        raise ValueError("bootstrap_ci needs at least one value")
    n = v.size
    rng = np.random.default_rng(seed)
    boot = np.concatenate([
        np.asarray(statistic(v[rng.integers(0, n, size=(rows, n))], axis=-1), dtype=float)
        for _, rows in row_blocks(n_resamples, n)
    ])
    tail = (1 - confidence) / 2
    levels = np.array([tail, 1 - tail])
    if method == "bca":
        theta = float(statistic(v))
        # Clipped: a statistic outside its bootstrap range would give an infinite bias.
        below = np.mean(boot < theta) + 0.5 * np.mean(boot == theta)
        bias = sps.norm.ppf(np.clip(below, 0.5 / boot.size, 1 - 0.5 / boot.size))
        jack = np.array([theta]) if n == 1 else np.concatenate([
            np.asarray(statistic(v[_leave_one_out(start, rows, n)], axis=-1), dtype=float)
            for start, rows in row_blocks(n, n - 1)
        ])
        spread = jack.mean() - jack
        denominator = 6 * np.sum(spread**2) ** 1.5
        acceleration = np.sum(spread**3) / denominator if denominator > 0 else 0.0
        z = bias + sps.norm.ppf(levels)
        levels = sps.norm.cdf(bias + z / (1 - acceleration * z))
    low, high = np.quantile(boot, levels)
    return float(low), float(high)


def clopper_pearson(k: int, n: int, confidence: float = 0.95) -> tuple[float, float]:
    """Exact (Clopper-Pearson) confidence interval of a proportion k/n."""
    ci = sps.binomtest(k, n).proportion_ci(confidence_level=confidence, method="exact")
    return float(ci.low), float(ci.high)


# --------------------------------------------------------------------------- internals


def _leave_one_out(start: int, rows: int, n: int) -> np.ndarray:
    """Indices of the jackknife samples start..start+rows-1, each leaving one value out."""
    left_out = np.arange(start, start + rows)[:, None]
    kept = np.arange(n - 1)[None, :]
    return kept + (kept >= left_out)
