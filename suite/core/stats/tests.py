"""Hypothesis tests on paired values, on two samples and on counts, each returning a :class:`TestResult`.

Degenerate data (constant or all-zero differences, no discordant pairs) get a defined
answer here instead of scipy's NaN, so that the verdicts never have to handle one. Which of
the paired tests decides a comparison is :mod:`.paired`'s rule; the test of means of bounded
values by betting is in :mod:`.betting`.
"""

from __future__ import annotations

import itertools
import math
from collections.abc import Iterator, Sequence
from dataclasses import dataclass, replace

import numpy as np
from numpy.typing import ArrayLike
from scipy import stats as sps

from ranker_claims.core.stats.choices import ALTERNATIVES, TESTS, check_choice

# How each paired test is named in a TestResult and in the comparisons built on it.
TEST_NAMES = {
    "t": "paired t-test",
    "wilcoxon": "Wilcoxon signed-rank test",
    "randomization": "paired randomization test",
    "exact": "exact sign-flip permutation test",
}
_TOST_NAMES = {"t": "paired t", "wilcoxon": "Wilcoxon signed-rank", "randomization": "paired randomization",
               "exact": "exact sign-flip"}
# Cells per block when a (resamples x n) matrix is built in pieces, to bound memory.
_BLOCK = 1 << 20


@dataclass(frozen=True)
class TestResult:
    """The outcome of one hypothesis test, as reported."""

    __test__ = False  # not a pytest test class despite its name

    name: str
    statistic: float
    p_value: float
    alternative: str


# --------------------------------------------------------------------------- paired tests


def paired_t(x: ArrayLike, y: ArrayLike, alternative: str = "two-sided") -> TestResult:
    """Paired t-test on x - y. Constant differences give t = 0 and p = 1 when all are 0, and
    t = +-inf (p = 0 in their direction, 1 against it) otherwise, instead of scipy's NaN."""
    d, tolerance = paired_differences(x, y)
    if d.size < 2:
        raise ValueError("the paired t-test needs at least 2 pairs")
    t, p = t_test_differences(d, alternative, tolerance)
    return TestResult(TEST_NAMES["t"], float(t), float(p), alternative)


def wilcoxon(x: ArrayLike, y: ArrayLike, alternative: str = "two-sided") -> TestResult:
    """Wilcoxon signed-rank test on x - y; zero differences are dropped (Wilcox's method),
    and if all are zero there is no evidence either way: p = 1. Exact for small samples
    without ties, else as scipy decides. The statistic is scipy's (W+ for one-sided tests,
    min(W+, W-) for two-sided)."""
    check_choice(alternative, ALTERNATIVES, "alternative")
    d, _ = paired_differences(x, y)
    if not np.any(d):
        return TestResult(TEST_NAMES["wilcoxon"], 0.0, 1.0, alternative)
    result = sps.wilcoxon(d, zero_method="wilcox", alternative=alternative)
    return TestResult(TEST_NAMES["wilcoxon"], float(result.statistic), float(result.pvalue), alternative)


def randomization(
    x: ArrayLike,
    y: ArrayLike,
    alternative: str = "two-sided",
    n_resamples: int = 10_000,
    seed: int = 0,
) -> TestResult:
    """Paired randomization (sign-flip) test of mean(x - y): under the null each difference
    is as likely negated. All 2**n sign vectors are enumerated when that is at most
    ``n_resamples`` (an exact p); otherwise ``n_resamples`` random ones are drawn and
    p = (1 + hits) / (1 + n_resamples), which keeps the test valid."""
    check_choice(alternative, ALTERNATIVES, "alternative")
    d, _ = paired_differences(x, y)
    n = d.size
    exact = n < 63 and 2**n <= n_resamples
    rng = np.random.default_rng(seed)
    observed = d.mean()
    # Flipped means are summed in another order than the observed one: compare with a
    # tolerance so that a flip equal to the observed mean counts as a hit.
    tolerance = 1e-12 * np.abs(d).sum() / max(n, 1)
    total = 2**n if exact else n_resamples
    hits = 0
    for start, rows in row_blocks(total, n):
        if exact:
            codes = np.arange(start, start + rows)[:, None]
            signs = ((codes >> np.arange(n)) & 1) * 2.0 - 1.0
        else:
            signs = rng.choice(np.array([-1.0, 1.0]), size=(rows, n))
        flipped = signs @ d / n
        if alternative == "greater":
            hits += int(np.count_nonzero(flipped >= observed - tolerance))
        elif alternative == "less":
            hits += int(np.count_nonzero(flipped <= observed + tolerance))
        else:
            hits += int(np.count_nonzero(np.abs(flipped) >= abs(observed) - tolerance))
    p = hits / total if exact else (hits + 1) / (total + 1)
    return TestResult(TEST_NAMES["randomization"], float(observed), float(min(p, 1.0)), alternative)


def paired_test(
    test: str,
    x: ArrayLike,
    y: ArrayLike,
    alternative: str = "two-sided",
    *,
    n_resamples: int = 10_000,
    seed: int = 0,
) -> TestResult:
    """Run the paired test named ``test`` ("t", "wilcoxon", "randomization", or "exact": the
    sign-flip test over all 2**n sign vectors)."""
    check_choice(test, TESTS + ("exact",), "test")
    if test == "t":
        return paired_t(x, y, alternative)
    if test == "wilcoxon":
        return wilcoxon(x, y, alternative)
    if test == "exact":
        result = randomization(x, y, alternative, n_resamples=2 ** np.size(x), seed=seed)
        return replace(result, name=TEST_NAMES["exact"])
    return randomization(x, y, alternative, n_resamples=n_resamples, seed=seed)


def smallest_p(test: str, n: int, alternative: str, n_resamples: int = 10_000) -> float:
    """The smallest p-value a paired test can give at n pairs, whatever the data: 0 for the
    t-test (its statistic is unbounded), 2**-n one-sided (twice that two-sided) for the exact
    sign-flip and Wilcoxon tests, and no less than 1 / (1 + resamples) for a sampled
    randomization test. A level below it cannot be reached: the comparison is undecidable."""
    check_choice(alternative, ALTERNATIVES + ("equivalent",), "alternative")
    if test == "t":
        return 0.0
    sides = 2.0 if alternative == "two-sided" else 1.0
    p = min(1.0, sides * 0.5**n)
    if test == "randomization" and 2**n > n_resamples:
        p = max(p, 1.0 / (1 + n_resamples))
    return p


def tost_paired(
    x: ArrayLike,
    y: ArrayLike,
    margin: float,
    test: str = "t",
    *,
    n_resamples: int = 10_000,
    seed: int = 0,
) -> TestResult:
    """Two one-sided tests for equivalence: mean(x - y) within (-margin, +margin).

    The differences are shifted by the margin and tested against 0 on each side; the TOST
    p-value is the larger of the two, and the statistic is that of the binding side."""
    if not margin > 0:
        raise ValueError(f"margin must be positive, got {margin}")
    d, _ = paired_differences(x, y)
    zeros = np.zeros_like(d)
    above_lower = paired_test(test, d + margin, zeros, "greater", n_resamples=n_resamples, seed=seed)
    below_upper = paired_test(test, d - margin, zeros, "less", n_resamples=n_resamples, seed=seed)
    binding = max(above_lower, below_upper, key=lambda r: r.p_value)
    name = f"TOST {_TOST_NAMES[test]}, margin ±{margin:.3g}"
    return TestResult(name, binding.statistic, binding.p_value, "equivalent")


# --------------------------------------------------------------------------- proportions


def binomial_test(k: int, n: int, p0: float, alternative: str = "two-sided") -> TestResult:
    """Exact binomial test of k successes in n against proportion p0; the statistic is k/n."""
    check_choice(alternative, ALTERNATIVES, "alternative")
    result = sps.binomtest(k, n, p0, alternative=alternative)
    return TestResult("exact binomial test", k / n, float(result.pvalue), alternative)


def tost_binomial(k: int, n: int, p0: float, margin: float) -> TestResult:
    """Exact binomial TOST: k/n within (p0 - margin, p0 + margin); p is the larger one-sided p."""
    if not margin > 0:
        raise ValueError(f"margin must be positive, got {margin}")
    p = float(tost_binomial_p(np.array([k]), n, p0, margin)[0])
    return TestResult(f"TOST exact binomial, margin ±{margin:.3g}", k / n, p, "equivalent")


def mcnemar(b: int, c: int, alternative: str = "two-sided") -> TestResult:
    """Exact McNemar test on the discordant pairs (b: only the first condition succeeds,
    c: only the second): binomial test of b of b + c at 1/2. No discordant pair: p = 1."""
    check_choice(alternative, ALTERNATIVES, "alternative")
    if b + c == 0:
        return TestResult("exact McNemar test", 0.0, 1.0, alternative)
    p = sps.binomtest(b, b + c, 0.5, alternative=alternative).pvalue
    return TestResult("exact McNemar test", float(b), float(p), alternative)


def smallest_binomial_p(n: int, p0: float, alternative: str) -> float:
    """The smallest p-value of the exact one-sided binomial test at n trials against p0."""
    check_choice(alternative, ("greater", "less"), "alternative")
    return float(p0**n if alternative == "greater" else (1 - p0) ** n)


# --------------------------------------------------------------------------- two samples


def mann_whitney(x: ArrayLike, y: ArrayLike, alternative: str = "two-sided",
                 n_resamples: int = 20_000, seed: int = 0) -> TestResult:
    """Mann-Whitney U test by permutation of the group labels: exact (every split enumerated)
    when there are at most ``n_resamples`` splits, sampled otherwise. Ties are handled by the
    permutation itself, where scipy's default falls back to the normal approximation
    (1 against 2 heads: asymptotic p 0.24, exact 0.33). The statistic is U of x."""
    check_choice(alternative, ALTERNATIVES, "alternative")
    x, y = np.asarray(x, dtype=float).ravel(), np.asarray(y, dtype=float).ravel()
    if x.size < 1 or y.size < 1:
        raise ValueError(f"each sample needs at least one value (got {x.size} and {y.size})")

    # U of a split = the sum of its pooled mid-ranks minus n1 (n1 + 1) / 2, so splits are rank sums.
    ranks = sps.rankdata(np.concatenate([x, y]))
    n1, total = x.size, x.size + y.size
    splits = math.comb(total, n1)
    exact = splits <= n_resamples
    if exact:
        members = np.array(list(itertools.combinations(range(total), n1)), dtype=np.intp)
    else:
        rng = np.random.default_rng(seed)
        members = np.argsort(rng.random((n_resamples, total)), axis=1)[:, :n1]
    offset = n1 * (n1 + 1) / 2
    u = ranks[members].sum(axis=1) - offset
    observed = ranks[:n1].sum() - offset
    centre, tolerance = n1 * y.size / 2, 1e-9 * max(total, 1)
    if alternative == "greater":
        hits = np.count_nonzero(u >= observed - tolerance)
    elif alternative == "less":
        hits = np.count_nonzero(u <= observed + tolerance)
    else:
        hits = np.count_nonzero(np.abs(u - centre) >= abs(observed - centre) - tolerance)
    p = hits / u.size if exact else (hits + 1) / (u.size + 1)
    return TestResult("exact Mann-Whitney U test" if exact else "Mann-Whitney U permutation test",
                      float(observed), float(min(p, 1.0)), alternative)


def smallest_mann_whitney_p(n1: int, n2: int, alternative: str) -> float:
    """The smallest p-value of the exact Mann-Whitney test of n1 against n2 values: 1 / C(n1 + n2, n1)
    one-sided (twice that two-sided)."""
    sides = 2.0 if alternative == "two-sided" else 1.0
    return min(1.0, sides / math.comb(n1 + n2, n1))


# --------------------------------------------------------------------------- shared with the other modules


def paired_differences(x: ArrayLike, y: ArrayLike) -> tuple[np.ndarray, float]:
    """x - y, and the spread below which differences are equal up to the rounding of x and y."""
    x, y = np.asarray(x, dtype=float).ravel(), np.asarray(y, dtype=float).ravel()
    if x.shape != y.shape:
        raise ValueError(f"paired samples differ in length: {x.size} and {y.size}")
    if x.size == 0:
        raise ValueError("no pairs")
    if not (np.all(np.isfinite(x)) and np.all(np.isfinite(y))):
        raise ValueError("paired samples must be finite")
    # A difference within a few ulps of its operands is rounding, not signal: count it as a tie.
    ulps = 4 * np.finfo(float).eps * np.maximum(np.abs(x), np.abs(y))
    d = x - y
    d[np.abs(d) <= ulps] = 0.0
    return d, float(ulps.max())


def t_test_differences(d: np.ndarray, alternative: str, tolerance: float = 0.0) -> tuple[np.ndarray, np.ndarray]:
    """t statistics and p-values over the last axis of d (vectorised for simulations).

    Differences constant within ``tolerance`` carry no spread: t is 0 (p = 1) when they are
    all 0 and +-inf otherwise. Lower tails are upper tails of -t so swapping x and y mirrors
    p exactly."""
    check_choice(alternative, ALTERNATIVES, "alternative")
    n = d.shape[-1]
    mean = d.mean(axis=-1)
    constant = np.ptp(d, axis=-1) <= tolerance
    sd = np.where(constant, 1.0, d.std(axis=-1, ddof=1))
    t = np.where(constant, np.where(mean == 0, 0.0, np.copysign(np.inf, mean)), mean / sd * math.sqrt(n))
    if alternative == "greater":
        p = sps.t.sf(t, n - 1)
    elif alternative == "less":
        p = sps.t.sf(-t, n - 1)
    else:
        p = np.minimum(2 * sps.t.sf(np.abs(t), n - 1), 1.0)
    p = np.where(constant & (mean == 0), 1.0, p)
    return t, p


def paired_p_values(test: str, d: np.ndarray, alternative: str, n_resamples: int = 999) -> np.ndarray:
    """p-values of a paired test for each row of differences ``d`` (rows x n), vectorised for
    simulations; the sampled randomization test draws one set of ``n_resamples`` sign vectors
    for all rows."""
    n = d.shape[-1]
    if test == "t":
        return t_test_differences(d, alternative)[1]
    if test == "wilcoxon":
        p = np.ones(d.shape[0])
        nonzero = np.any(d != 0, axis=1)
        if nonzero.any():
            p[nonzero] = sps.wilcoxon(d[nonzero], zero_method="wilcox", alternative=alternative, axis=1).pvalue
        return p
    if test == "exact":
        if n > 20:
            raise ValueError(f"the exact sign-flip test enumerates 2**n sign vectors: n={n} is too many")
        codes = np.arange(2**n)[:, None]
        signs = ((codes >> np.arange(n)) & 1) * 2.0 - 1.0
    else:
        signs = np.random.default_rng(0).choice(np.array([-1.0, 1.0]), size=(n_resamples, n))
    observed = d.mean(axis=1, keepdims=True)
    tolerance = 1e-12 * np.abs(d).sum(axis=1, keepdims=True) / n
    p = np.empty(d.shape[0])
    for start, rows in row_blocks(d.shape[0], signs.shape[0]):
        flipped = d[start : start + rows] @ signs.T / n
        seen, slack = observed[start : start + rows], tolerance[start : start + rows]
        if alternative == "greater":
            hits = np.count_nonzero(flipped >= seen - slack, axis=1)
        elif alternative == "less":
            hits = np.count_nonzero(flipped <= seen + slack, axis=1)
        else:
            hits = np.count_nonzero(np.abs(flipped) >= np.abs(seen) - slack, axis=1)
        p[start : start + rows] = hits / signs.shape[0] if test == "exact" else (hits + 1) / (signs.shape[0] + 1)
    return np.minimum(p, 1.0)


def row_blocks(total: int, width: int) -> Iterator[tuple[int, int]]:
    """(start, rows) pieces of a total x width matrix, each at most _BLOCK cells."""
    step = max(1, _BLOCK // max(width, 1))
    for start in range(0, total, step):
        yield start, min(step, total - start)


def tost_binomial_p(counts: np.ndarray, n: int, p0: float, margin: float) -> np.ndarray:
    """Exact binomial TOST p-values for each count: max of P(X >= k | p0 - margin) and
    P(X <= k | p0 + margin), with the null proportions clipped to [0, 1]."""
    lower, upper = max(p0 - margin, 0.0), min(p0 + margin, 1.0)
    return np.maximum(sps.binom.sf(counts - 1, n, lower), sps.binom.cdf(counts, n, upper))


# --------------------------------------------------------------------------- stratified two samples

# Within-stratum label permutations beyond which the stratified rank-sum test samples, and how many it samples.
STRATIFIED_RESAMPLES = 20_000
# The seed of those samples: fixed, not the session's, so that no verdict depends on the user's seed.
STRATIFIED_SEED = 5_318_008
# Sampled splits by stratum layout (their sizes, in order) and count, drawn once per process.
_STRATIFIED_SPLITS: dict[tuple[tuple[tuple[int, int], ...], int], tuple[np.ndarray, ...]] = {}


@dataclass(frozen=True)
class Stratum:
    """The two samples' values in one stratum (a layer): ``x`` the treatment's, ``y`` the control's."""

    label: object
    x: np.ndarray
    y: np.ndarray


def strata_of(x: ArrayLike, y: ArrayLike, strata_x: ArrayLike, strata_y: ArrayLike
              ) -> tuple[list[Stratum], list[Stratum]]:
    """The values split by stratum, in sorted label order: (informative, dropped). A stratum with no
    treatment or no control value has one split of its labels only, so it carries no information
    about the treatment and drops out of every stratified test."""
    x, y = np.asarray(x, dtype=float).ravel(), np.asarray(y, dtype=float).ravel()
    sx, sy = np.asarray(strata_x).ravel(), np.asarray(strata_y).ravel()
    if x.shape != sx.shape or y.shape != sy.shape:
        raise ValueError(f"each value needs one stratum: {x.size} values with {sx.size} strata, "
                         f"{y.size} with {sy.size}")
    if not (np.all(np.isfinite(x)) and np.all(np.isfinite(y))):
        raise ValueError("stratified samples must be finite")
    informative: list[Stratum] = []
    dropped: list[Stratum] = []
    for label in np.unique(np.concatenate([sx, sy])):
        stratum = Stratum(label.item() if hasattr(label, "item") else label, x[sx == label], y[sy == label])
        (informative if stratum.x.size and stratum.y.size else dropped).append(stratum)
    return informative, dropped


def stratified_rank_sum_tests(x: ArrayLike, y: ArrayLike, strata_x: ArrayLike,
                              strata_y: ArrayLike, n_resamples: int = STRATIFIED_RESAMPLES
                              ) -> dict[str, TestResult]:
    """van Elteren's stratified Wilcoxon rank-sum test, for each alternative ("greater": x above y
    within strata). Within each stratum l the N_l values are mid-ranked; the statistic is
    T = sum_l W_l / (N_l + 1), W_l the rank sum of x's values in l. Its null distribution is that
    of the labels permuted within each stratum (a trend across strata cannot move it): every
    split enumerated when the product of the strata's C(N_l, k_l) is at most ``n_resamples``
    (an exact p), otherwise ``n_resamples`` splits drawn with the fixed STRATIFIED_SEED and
    p = (1 + hits) / (1 + n_resamples). Strata without x or without y drop out (:func:`strata_of`).
    With one stratum this is the Mann-Whitney test of :func:`mann_whitney`."""
    informative, _ = strata_of(x, y, strata_x, strata_y)
    if not informative:
        raise ValueError("no stratum has both treatment and control values: nothing to compare")
    ranks = [sps.rankdata(np.concatenate([s.x, s.y])) for s in informative]
    layout = tuple((r.size, s.x.size) for r, s in zip(ranks, informative))
    observed = float(sum(r[:k].sum() / (size + 1) for r, (size, k) in zip(ranks, layout)))
    splits = math.prod(math.comb(size, k) for size, k in layout)
    exact = splits <= n_resamples
    if exact:
        null = np.zeros(1)
        for r, (size, k) in zip(ranks, layout):
            members = np.array(list(itertools.combinations(range(size), k)), dtype=np.intp)
            null = (null[:, None] + (r[members].sum(axis=1) / (size + 1))[None, :]).ravel()
    else:
        null = np.zeros(n_resamples)
        for r, members, (size, _) in zip(ranks, _sampled_splits(layout, n_resamples), layout):
            null = null + r[members].sum(axis=1) / (size + 1)
    centre = sum(k for _, k in layout) / 2.0
    tolerance = 1e-9 * max(1.0, 2 * centre)
    hits = {"greater": np.count_nonzero(null >= observed - tolerance),
            "less": np.count_nonzero(null <= observed + tolerance),
            "two-sided": np.count_nonzero(np.abs(null - centre) >= abs(observed - centre) - tolerance)}
    name = ("exact van Elteren stratified rank-sum test" if exact else
            f"van Elteren stratified rank-sum test ({n_resamples:,} within-stratum permutations, fixed seed)")
    return {side: TestResult(name, observed, float(min(h / null.size if exact else (h + 1) / (null.size + 1), 1.0)),
                             side) for side, h in hits.items()}


def stratified_rank_sum(x: ArrayLike, y: ArrayLike, strata_x: ArrayLike,
                        strata_y: ArrayLike, alternative: str = "two-sided",
                        n_resamples: int = STRATIFIED_RESAMPLES) -> TestResult:
    """van Elteren's stratified rank-sum test of x against y within strata (see
    :func:`stratified_rank_sum_tests`); the statistic is T = sum_l W_l / (N_l + 1)."""
    check_choice(alternative, ALTERNATIVES, "alternative")
    return stratified_rank_sum_tests(x, y, strata_x, strata_y, n_resamples)[alternative]


def smallest_stratified_p(sizes: Sequence[tuple[int, int]], alternative: str,
                          n_resamples: int = STRATIFIED_RESAMPLES) -> float:
    """The smallest p-value of the stratified rank-sum test with (treatment, control) counts ``sizes``
    per informative stratum: the product over strata of 1 / C(N_l, k_l) one-sided (twice that
    two-sided), and no less than 1 / (1 + n_resamples) where the test samples."""
    splits = math.prod(math.comb(k + m, k) for k, m in sizes)
    sides = 2.0 if alternative == "two-sided" else 1.0
    # The product can pass what a float holds (24 layers of 16 heads, 8 matching in each): then in logs.
    p = min(1.0, sides / splits if splits < 1e300 else sides * math.exp(-math.log(splits)))
    return max(p, 1.0 / (1 + n_resamples)) if splits > n_resamples else p


def _sampled_splits(layout: tuple[tuple[int, int], ...], n_resamples: int) -> tuple[np.ndarray, ...]:
    """Per stratum (size N, k treated), ``n_resamples`` random k-subsets of range(N), from STRATIFIED_SEED:
    the same layout always gets the same splits, which are drawn once and kept (a few recent layouts)."""
    key = (layout, n_resamples)
    if key not in _STRATIFIED_SPLITS:
        rng = np.random.default_rng(STRATIFIED_SEED)
        splits = []
        for size, k in layout:
            members = np.argsort(rng.random((n_resamples, size)), axis=1)[:, :k]
            members.setflags(write=False)
            splits.append(members)
        if len(_STRATIFIED_SPLITS) >= 8:
            _STRATIFIED_SPLITS.pop(next(iter(_STRATIFIED_SPLITS)))
        _STRATIFIED_SPLITS[key] = tuple(splits)
    return _STRATIFIED_SPLITS[key]
