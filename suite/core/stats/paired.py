"""The paired decision: which test decides each null of a paired comparison, vectorised over rows.

One function, :func:`decide_paired`, takes rows of per-query differences and a declaration and
returns the support, contradiction and difference p-values of each row with the test that
gave them. :func:`~.comparisons.paired_comparison` calls it on one row; the calibration calls it
on thousands, so that the rule it simulates is the rule the claims use, line for line.

Which test decides (the rule stated in the package docstring):

- Values with a declared range (nDCG in [0, 1], shares, cosines): the betting test
  (:mod:`.betting`), valid at every n for every distribution on the range, unless at least
  CHECKED_FROM differences differ from the most common one and the session's test holds its
  level on this comparison's own data (:func:`shape_rates`); then the session's test, which has
  far more power where the values spread over a small part of their range.
- Values without a declared range: the session's test where it holds its level on the data's
  own shape, from CHECKED_FROM pairs; otherwise nothing is decided on that test (p = 1): for an
  unbounded mean no test is valid for every distribution.
- The session's test "betting" never hands a decision to another test: bounded values are
  decided by betting alone, unbounded ones not at all.

The shape check is the simulation design of Urbano, Lima and Hanjalic (*Statistical
significance testing in information retrieval*, SIGIR 2019), applied to one comparison: its
differences are resampled with replacement and shifted so that the resampled world's mean lies
on the null's boundary; the share of RESAMPLES worlds in which the test rejects at alpha is its
false rate on this shape, which must not exceed alpha plus three Monte-Carlo standard errors.
The resamples are drawn from a fixed stream: the check, like the verdict, is a function of the
data, not of the session's seed. What a resample cannot show, it cannot check: where a few
values stand apart from a run of equal ones (3 nonzero differences in 60), every resampled
world has about as many, never the fewer that make a t-test err (its false rate there reaches
0.15 while the check sees none); hence the count of differences off the most common value.
Means of shares against a bound, which are mostly zero, are decided by betting alone
(:func:`~.comparisons.bounded_mean_comparison`).
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field

import numpy as np
from scipy import stats as sps

from ranker_claims.core.stats.betting import betting_p, smallest_betting_p
from ranker_claims.core.stats.choices import TESTS, check_choice
from ranker_claims.core.stats.tests import paired_p_values, row_blocks

# From this many pairs the session's test may decide (where it passes the shape check); below it
# a mean is tested only by betting, on values with a declared range.
CHECKED_FROM = 16
# Resampled worlds of the shape check, and the fixed stream they are drawn from.
RESAMPLES = 1000
_CHECK_SEED = 20190721  # SIGIR 2019's first day: any fixed number would do
# How each deciding test is named in comparisons and reasons.
DECIDING_NAMES = {
    "t": "paired t-test",
    "wilcoxon": "Wilcoxon signed-rank test",
    "randomization": "paired randomization test",
    "betting": "betting test",
    "none": "no test",
}


@dataclass(frozen=True)
class PairedDeclaration:
    """What a paired comparison tests: ``bounds`` is the range of the differences (None: unbounded)."""

    hypothesis: str
    margin: float | None = None
    smallest_effect: float | None = None
    bounds: tuple[float, float] | None = None


@dataclass
class PairedDecision:
    """Per row: the p-values the verdict reads, the test that gave each (support, contradiction),
    the session test's false rate on the row's own shape per alternative, and the smallest
    p-value the support test can give."""

    support: np.ndarray
    contradiction: np.ndarray
    difference: np.ndarray
    support_test: np.ndarray
    contradiction_test: np.ndarray
    smallest: np.ndarray
    shape_rates: dict[str, np.ndarray] = field(default_factory=dict)
    limit: float = 1.0


def shape_limit(alpha: float, resamples: int = RESAMPLES) -> float:
    """The largest false rate a test may show on a comparison's shape: alpha + 3 Monte-Carlo s.e."""
    return alpha + 3 * math.sqrt(alpha * (1 - alpha) / resamples)


def shape_rates(test: str, d: np.ndarray, alternative: str, alpha: float, *, resamples: int = RESAMPLES,
                n_permutations: int = 999) -> np.ndarray:
    """For each row of differences, the rate at which ``test`` rejects at ``alpha`` on worlds
    resampled from the row and shifted so that their mean lies on the null's boundary.

    A world shifted onto boundary b and tested against b is the resample minus the row's mean
    tested against 0, so the rate is the same for every boundary of one alternative. For the
    t-test the resampled means and variances come from one matrix product with the resampling
    counts; the other tests are run on each resampled world."""
    check_choice(test, tuple(t for t in TESTS if t != "betting"), "test")
    d = np.atleast_2d(np.asarray(d, dtype=float))
    rows, n = d.shape
    picks = np.random.default_rng(_CHECK_SEED).integers(0, n, (resamples, n))
    if test == "t":
        counts = np.zeros((resamples, n))
        np.add.at(counts, (np.arange(resamples)[:, None], picks), 1.0)
        centre = d.mean(axis=1, keepdims=True)
        spread = np.maximum(np.abs(d).max(axis=1, keepdims=True), 1e-300)
        scaled = (d - centre) / spread  # centred and scaled: the statistic is invariant to both
        mean = scaled @ counts.T / n
        variance = np.maximum((scaled**2 @ counts.T / n - mean**2) * n / (n - 1), 0.0)
        flat = variance <= 1e-12
        t = np.where(flat, 0.0, mean / np.sqrt(np.where(flat, 1.0, variance) / n))
        critical = sps.t.ppf(1 - (alpha / 2 if alternative == "two-sided" else alpha), n - 1)
        rejected = {"greater": t > critical, "less": t < -critical, "two-sided": np.abs(t) > critical}[alternative]
        return rejected.mean(axis=1)
    rates = np.empty(rows)
    for start, block in row_blocks(rows, resamples * n):
        worlds = d[start:start + block][:, picks] - d[start:start + block].mean(axis=1)[:, None, None]
        p = paired_p_values(test, worlds.reshape(-1, n), alternative, n_permutations).reshape(block, resamples)
        rates[start:start + block] = (p < alpha).mean(axis=1)
    return rates


def decide_paired(d: np.ndarray, declared: PairedDeclaration, *, test: str, alpha: float,
                  n_permutations: int = 999) -> PairedDecision:
    """The p-values of each row of differences ``d`` (rows x n) by the rule in the module docstring."""
    check_choice(test, TESTS, "test")
    d = np.atleast_2d(np.asarray(d, dtype=float))
    rows, _n = d.shape
    hypothesis, margin, bounds = declared.hypothesis, declared.margin, declared.bounds
    size = abs(declared.smallest_effect or 0.0)
    session_may_decide = (off_mode(d) >= CHECKED_FROM) & (test != "betting")
    limit = shape_limit(alpha)
    rates: dict[str, np.ndarray] = {}
    # A row without spread has no shape to check a test on: only betting decides it.
    flat = np.ptp(d, axis=1) <= 4 * np.finfo(float).eps * np.maximum(np.abs(d).max(axis=1), 1.0)

    def elementary(alternative: str, boundary: float) -> tuple[np.ndarray, np.ndarray]:
        if bounds is not None:
            fallback, fallback_name = betting_p(d, boundary, *bounds, alternative, alpha), "betting"
        else:
            fallback, fallback_name = np.ones(rows), "none"
        if not session_may_decide.any():
            return fallback, np.full(rows, fallback_name, dtype=object)
        if alternative not in rates:
            rates[alternative] = shape_rates(test, d, alternative, alpha, n_permutations=n_permutations)
        holds = (rates[alternative] <= limit) & ~flat & session_may_decide
        session = paired_p_values(test, d - boundary, alternative, n_permutations)
        return np.where(holds, session, fallback), np.where(holds, test, fallback_name).astype(object)

    if hypothesis == "equivalent":
        assert margin is not None  # an equivalence is declared with its margin
        support, support_test = _larger(elementary("greater", -margin), elementary("less", margin))
        contradiction, contradiction_test = _smaller(elementary("greater", margin), elementary("less", -margin))
    elif hypothesis == "two-sided":
        support, support_test = elementary("two-sided", 0.0)
        if size:
            contradiction, contradiction_test = _larger(elementary("greater", -size), elementary("less", size))
        else:
            contradiction, contradiction_test = np.ones(rows), np.full(rows, "none", dtype=object)
    else:
        support, support_test = elementary(hypothesis, 0.0)
        delta = declared.smallest_effect or 0.0
        contradiction, contradiction_test = elementary("less" if hypothesis == "greater" else "greater", delta)
    difference, _ = elementary("two-sided", 0.0)
    smallest = _smallest(d, declared, support_test, alpha)
    return PairedDecision(support, contradiction, difference, support_test, contradiction_test, smallest,
                          rates, limit)


def off_mode(d: np.ndarray) -> np.ndarray:
    """For each row, how many values differ from its most common value (for differences mostly
    zero: the nonzero ones, each the only carrier of a sign)."""
    d = np.atleast_2d(d)
    rows, n = d.shape
    ordered = np.sort(d, axis=1)
    starts = np.ones((rows, n), dtype=bool)
    starts[:, 1:] = ordered[:, 1:] != ordered[:, :-1]
    runs = np.zeros((rows, n + 1))
    np.add.at(runs, (np.arange(rows)[:, None], np.cumsum(starts, axis=1)), 1.0)
    return n - runs.max(axis=1).astype(int)


def _larger(a: tuple[np.ndarray, np.ndarray], b: tuple[np.ndarray, np.ndarray]) -> tuple[np.ndarray, np.ndarray]:
    """Both tests must reject (TOST): the larger p-value, with the test that gave it."""
    first = a[0] >= b[0]
    return np.where(first, a[0], b[0]), np.where(first, a[1], b[1])


def _smaller(a: tuple[np.ndarray, np.ndarray], b: tuple[np.ndarray, np.ndarray]) -> tuple[np.ndarray, np.ndarray]:
    """Either test rejecting suffices (beyond one side of a margin): the smaller p-value."""
    first = a[0] <= b[0]
    return np.where(first, a[0], b[0]), np.where(first, a[1], b[1])


def _smallest(d: np.ndarray, declared: PairedDeclaration, support_test: np.ndarray, alpha: float) -> np.ndarray:
    """The smallest p-value each row's support test can give at its n: 0 for the t-test (unbounded
    statistic), 2**-m one-sided for the rank and sign-flip tests with m the nonzero differences
    (a zero carries no sign), betting's at data at the range's end, 1 where no test decides."""
    rows, n = d.shape
    hypothesis, margin = declared.hypothesis, declared.margin
    out = np.ones(rows)
    for i, name in enumerate(support_test):
        if name == "t":
            out[i] = 0.0
        elif name in ("wilcoxon", "randomization"):
            nonzero = int(np.count_nonzero(d[i]))
            out[i] = min(1.0, (2.0 if hypothesis == "two-sided" else 1.0) * 0.5**nonzero)
        elif name == "betting" and declared.bounds is not None:
            if hypothesis == "equivalent":
                assert margin is not None  # an equivalence is declared with its margin
                out[i] = max(smallest_betting_p(n, -margin, *declared.bounds, "greater", alpha),
                             smallest_betting_p(n, margin, *declared.bounds, "less", alpha))
            else:
                out[i] = smallest_betting_p(n, 0.0, *declared.bounds, hypothesis, alpha)
    return out
