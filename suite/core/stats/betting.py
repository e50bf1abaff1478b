"""Tests and confidence intervals for the mean of bounded values, by betting.

Waudby-Smith and Ramdas (*Estimating means of bounded random variables by betting*, JRSS-B
2024): a gambler starts with capital 1 and bets against "the mean is m", gaining
``lambda_t * (x_t - m)`` per unit on each value. Where the mean is m (or beyond it the way the
bet loses), the capital is a nonnegative supermartingale, so by Ville's inequality it ever
reaches 1/alpha with probability at most alpha: ``p = 1 / max_t capital_t`` is valid at every
n, for every distribution on the values' range, skewed, discrete or mostly zero. That is what
nDCG differences in [-1, 1] and shares in [0, 1] are, and what a t-test assumes away.

The bets are the paper's predictable plug-in empirical-Bernstein bets tuned for a fixed n,
``lambda_t = sqrt(2 log(1/alpha) / (n sigma_{t-1}^2))``, truncated as the paper's hedged capital
process truncates them: at most c / m betting up and c / (1 - m) betting down, so that no value
in the range can cost more than the share c of the capital. The paper suggests c = 1/2 or 3/4;
here c = TRUNCATION = 0.99, because the values these tests meet (differences of nDCG over
[-1, 1]) spread over a small part of their range, where the truncation, not the plug-in bet,
sets the power: at n = 60, sd 0.15 and an effect of half an sd, 0.48 at c = 3/4 and 0.75 at
c = 0.99 (2,000 simulations, 2026-12-07). Values are those of ``betting_mart`` and
``betting_ci`` of the authors' ``confseq`` package with ``m_trunc=True, trunc_scale=0.99``,
which the tests of this module reproduce. Two-sided tests and intervals hedge: the larger of
half the capital betting up and half betting down, each tuned at alpha / 2. The values are bet
on in the order given (queries in id order, see :mod:`ranker_claims.core.decisions`): no seed enters.
"""

from __future__ import annotations

import math

import numpy as np

from ranker_claims.core.stats.choices import ALTERNATIVES, check_choice

# Grid of candidate means on the unit scale an interval is read from (confseq's default breaks).
BREAKS = 1000
# The share of the capital a value at the far end of the range could take at most (the paper's c).
TRUNCATION = 0.99


def to_unit(values: np.ndarray, low: float, high: float) -> np.ndarray:
    """Values on [low, high] mapped onto [0, 1] (clipped against rounding at the ends)."""
    if not high > low:
        raise ValueError(f"a range needs low < high, got [{low}, {high}]")
    return np.clip((np.asarray(values, dtype=float) - low) / (high - low), 0.0, 1.0)


def bets(x: np.ndarray, alpha: float) -> np.ndarray:
    """Predictable plug-in empirical-Bernstein bets for each row of ``x`` (values in [0, 1], last
    axis in betting order), tuned for the row's length: each uses only the values before it.
    Untruncated: :func:`max_capital` truncates them for the mean it bets against."""
    n = x.shape[-1]
    t = np.arange(1, n + 1)
    mean = np.minimum((0.5 + np.cumsum(x, axis=-1)) / (t + 1), 1.0)
    variance = (0.25 + np.cumsum((x - mean) ** 2, axis=-1)) / (t + 1)
    before = np.concatenate([np.full(x.shape[:-1] + (1,), 0.25), variance[..., :-1]], axis=-1)
    return np.sqrt(2 * math.log(1 / alpha) / (n * before))  # the prior variance keeps before > 0


def max_capital(x: np.ndarray, m: float | np.ndarray, alpha: float, alternative: str) -> np.ndarray:
    """The largest capital reached over each row of ``x`` (values in [0, 1]) betting against
    mean ``m`` (a scalar, or one per row): "greater" bets up (against mean <= m), "less" down
    (against mean >= m), "two-sided" hedges both, half the capital each, bets tuned at alpha / 2."""
    check_choice(alternative, ALTERNATIVES, "alternative")
    x = np.asarray(x, dtype=float)
    m = np.asarray(m, dtype=float)[..., None] if np.ndim(m) else float(m)
    with np.errstate(divide="ignore"):  # a mean at the range's end bets without a cap on that side
        up_cap, down_cap = np.divide(TRUNCATION, m), np.divide(TRUNCATION, 1 - m)
    if alternative == "two-sided":
        lam = bets(x, alpha / 2)
        up = np.cumprod(1 + np.minimum(lam, up_cap) * (x - m), axis=-1)
        down = np.cumprod(1 - np.minimum(lam, down_cap) * (x - m), axis=-1)
        return np.maximum(up, down).max(axis=-1) / 2
    lam = bets(x, alpha)
    if alternative == "greater":
        return np.cumprod(1 + np.minimum(lam, up_cap) * (x - m), axis=-1).max(axis=-1)
    return np.cumprod(1 - np.minimum(lam, down_cap) * (x - m), axis=-1).max(axis=-1)


def betting_p(values: np.ndarray, boundary: float, low: float, high: float, alternative: str,
              alpha: float = 0.05) -> np.ndarray:
    """p-values of "mean <= boundary" ("greater"), ">= boundary" ("less") or "= boundary"
    ("two-sided") for each row of ``values`` on [low, high]: 1 / the largest capital, at most 1.
    A boundary at or beyond the range's end the alternative points to cannot be rejected (p = 1);
    one beyond the other end is rejected by any data (p = 0)."""
    m = (boundary - low) / (high - low)
    x = to_unit(values, low, high)
    rows = x.shape[:-1]
    if (alternative == "greater" and m >= 1) or (alternative == "less" and m <= 0):
        return np.ones(rows)
    if (alternative == "greater" and m < 0) or (alternative == "less" and m > 1):
        return np.zeros(rows)
    if alternative == "two-sided" and not 0 <= m <= 1:
        return np.zeros(rows)
    with np.errstate(divide="ignore"):
        return np.minimum(1.0 / max_capital(x, m, alpha, alternative), 1.0)


def betting_ci(values: np.ndarray, low: float, high: float, confidence: float = 0.95) -> tuple[float, float]:
    """The betting confidence interval of the mean of ``values`` on [low, high]: the candidate
    means on a grid of BREAKS (on the unit scale) whose hedged capital never exceeds 1 / alpha,
    widened by one step of the grid each way, as confseq does, so that the grid never narrows it."""
    alpha = 1 - confidence
    x = to_unit(np.asarray(values, dtype=float).ravel(), low, high)
    grid = np.linspace(0.0, 1.0, BREAKS + 1)
    kept = grid[max_capital(np.broadcast_to(x, (grid.size, x.size)), grid, alpha, "two-sided") <= 1 / alpha]
    lower, upper = (max(kept.min() - 1 / BREAKS, 0.0), min(kept.max() + 1 / BREAKS, 1.0)) if kept.size else (0.0, 1.0)
    return float(low + (high - low) * lower), float(low + (high - low) * upper)


def smallest_betting_p(n: int, boundary: float, low: float, high: float, alternative: str,
                       alpha: float = 0.05) -> float:
    """The smallest p-value the betting test gives at n values: every value at the end of the
    range the alternative points to (both ends tried for a two-sided test)."""
    ends = {"greater": (high,), "less": (low,), "two-sided": (low, high)}[alternative]
    return float(min(betting_p(np.full(n, end), boundary, low, high, alternative, alpha) for end in ends))
