"""Statistics in one module: the tests, corrections, intervals, power and verdicts of claims.

Every claim is decided from per-query values (or counts of queries) by the functions here,
so that one set of rules, stated once below and quoted by the report, governs all of them.

Conventions
-----------
Paired values are aligned by query: ``x`` (treatment) and ``y`` (control). The effect is
mean(x - y); ``alternative="greater"`` means mean(x - y) > 0. Tests return a
:class:`TestResult`; decisions return a :class:`suite.core.results.Comparison`. Power is that of
the paired t-test (noncentral t; exact TOST power by integrating over the sample sd) at the
observed sd and n; for the Wilcoxon and randomization tests it is an approximation.

Verdict rules
-------------
Each comparison tests a hypothesis about effect = mean(treatment - control) and ends
SUPPORTED, CONTRADICTED or INCONCLUSIVE. A "significant" result has a p-value below alpha
after correction within the claim's family of m comparisons (Holm by default). Power is
computed at the observed sd and n, at level alpha/m for a corrected family of m (a lower
bound on the power of Holm, BH and Bonferroni; alpha alone when m = 1 or uncorrected).

- Superiority ("greater" / "less"): SUPPORTED if p_corrected < alpha and the effect has the
  claimed sign. CONTRADICTED if the effect is significant in the opposite direction
  (two-sided p_corrected < alpha with the wrong sign), or if it is not significant while the
  power to detect the declared expected effect is >= min_power. Otherwise INCONCLUSIVE, and
  the reason states the power; where no expected effect was declared, it states instead the
  smallest effect the test detects with probability min_power at this n (the detectable effect).
- Difference ("two-sided"): SUPPORTED if p_corrected < alpha. CONTRADICTED if not, while the
  power to detect the declared expected effect is >= min_power. Otherwise INCONCLUSIVE.
- Equivalence ("equivalent", within +-margin, by two one-sided tests, TOST): SUPPORTED if
  the TOST p_corrected < alpha. CONTRADICTED if the two-sided difference test is significant
  (corrected) and |effect| > margin. Otherwise INCONCLUSIVE, with the TOST power at a true
  effect of 0 stated.
- Proportions (k of n queries against a reference proportion p0) follow the superiority and
  equivalence rules with exact binomial tests; their effect is k/n - p0.
- Paired proportions (the same queries under two conditions, each a success or not) follow
  the superiority rules with the exact McNemar test on the discordant queries; their effect
  is the difference in success rates, and power is taken conditionally on the observed
  number of discordant queries.
- A claim of several comparisons requires all of them by default: SUPPORTED if every one is
  SUPPORTED, CONTRADICTED if any is CONTRADICTED, otherwise INCONCLUSIVE. A claim that
  requires any: SUPPORTED if any is SUPPORTED, CONTRADICTED if all are CONTRADICTED,
  otherwise INCONCLUSIVE.

Calibration
-----------
:func:`simulate_false_positive_rate` and :func:`simulate_power` run the decisions above on
data simulated under a null or a known effect, so that the suite can show (and its tests
assert) that SUPPORTED comes out at most at rate alpha when nothing is there.
"""

from __future__ import annotations

import math
from collections.abc import Callable, Sequence
from dataclasses import dataclass, replace
from typing import Any

import numpy as np
from scipy import stats as sps
from scipy.optimize import brentq

from suite.core.results import Comparison, Verdict

ALTERNATIVES = ("two-sided", "greater", "less")
HYPOTHESES = ("greater", "less", "two-sided", "equivalent")
TESTS = ("t", "wilcoxon", "randomization")
CORRECTIONS = ("holm", "bh", "bonferroni", "none")
DECISIONS = ("superiority", "equivalence", "proportion", "heads")

_TEST_NAMES = {
    "t": "paired t-test",
    "wilcoxon": "Wilcoxon signed-rank test",
    "randomization": "paired randomization test",
}
_TOST_NAMES = {"t": "paired t", "wilcoxon": "Wilcoxon signed-rank", "randomization": "paired randomization"}
# Cells per block when a (resamples x n) matrix is built in pieces, to bound memory.
_BLOCK = 1 << 20
# Gauss-Legendre rule for the TOST power integral.
_NODES, _WEIGHTS = np.polynomial.legendre.leggauss(200)


@dataclass(frozen=True)
class TestResult:
    """The outcome of one hypothesis test, as reported."""

    __test__ = False  # not a pytest test class despite its name

    name: str
    statistic: float
    p_value: float
    alternative: str


# --------------------------------------------------------------------------- paired tests


def paired_t(x: Sequence[float], y: Sequence[float], alternative: str = "two-sided") -> TestResult:
    """Paired t-test on x - y. Constant differences give t = 0 and p = 1 when all are 0, and
    t = +-inf (p = 0 in their direction, 1 against it) otherwise, instead of scipy's NaN."""
    d, tolerance = _differences(x, y)
    if d.size < 2:
        raise ValueError("the paired t-test needs at least 2 pairs")
    t, p = _t_test(d, alternative, tolerance)
    return TestResult(_TEST_NAMES["t"], float(t), float(p), alternative)


def wilcoxon(x: Sequence[float], y: Sequence[float], alternative: str = "two-sided") -> TestResult:
    """Wilcoxon signed-rank test on x - y; zero differences are dropped (Wilcox's method),
    and if all are zero there is no evidence either way: p = 1. Exact for small samples
    without ties, else as scipy decides. The statistic is scipy's (W+ for one-sided tests,
    min(W+, W-) for two-sided)."""
    _check(alternative, ALTERNATIVES, "alternative")
    d, _ = _differences(x, y)
    if not np.any(d):
        return TestResult(_TEST_NAMES["wilcoxon"], 0.0, 1.0, alternative)
    result = sps.wilcoxon(d, zero_method="wilcox", alternative=alternative)
    return TestResult(_TEST_NAMES["wilcoxon"], float(result.statistic), float(result.pvalue), alternative)


def randomization(
    x: Sequence[float],
    y: Sequence[float],
    alternative: str = "two-sided",
    n_resamples: int = 10_000,
    seed: int = 0,
) -> TestResult:
    """Paired randomization (sign-flip) test of mean(x - y): under the null each difference
    is as likely negated. All 2**n sign vectors are enumerated when that is at most
    ``n_resamples`` (an exact p); otherwise ``n_resamples`` random ones are drawn and
    p = (1 + hits) / (1 + n_resamples), which keeps the test valid."""
    _check(alternative, ALTERNATIVES, "alternative")
    d, _ = _differences(x, y)
    n = d.size
    exact = n < 63 and 2**n <= n_resamples
    rng = np.random.default_rng(seed)
    observed = d.mean()
    # Flipped means are summed in another order than the observed one: compare with a
    # tolerance so that a flip equal to the observed mean counts as a hit.
    tolerance = 1e-12 * np.abs(d).sum() / max(n, 1)
    total = 2**n if exact else n_resamples
    hits = 0
    for start, rows in _blocks(total, n):
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
    return TestResult(_TEST_NAMES["randomization"], float(observed), float(min(p, 1.0)), alternative)


def paired_test(
    test: str,
    x: Sequence[float],
    y: Sequence[float],
    alternative: str = "two-sided",
    *,
    n_resamples: int = 10_000,
    seed: int = 0,
) -> TestResult:
    """Run the paired test named ``test`` ("t", "wilcoxon" or "randomization")."""
    _check(test, TESTS, "test")
    if test == "t":
        return paired_t(x, y, alternative)
    if test == "wilcoxon":
        return wilcoxon(x, y, alternative)
    return randomization(x, y, alternative, n_resamples=n_resamples, seed=seed)


def tost_paired(
    x: Sequence[float],
    y: Sequence[float],
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
    d, _ = _differences(x, y)
    zeros = np.zeros_like(d)
    above_lower = paired_test(test, d + margin, zeros, "greater", n_resamples=n_resamples, seed=seed)
    below_upper = paired_test(test, d - margin, zeros, "less", n_resamples=n_resamples, seed=seed)
    binding = max(above_lower, below_upper, key=lambda r: r.p_value)
    name = f"TOST {_TOST_NAMES[test]}, margin ±{margin:.3g}"
    return TestResult(name, binding.statistic, binding.p_value, "equivalent")


# --------------------------------------------------------------------------- corrections


def holm(pvalues: Sequence[float]) -> np.ndarray:
    """Holm's step-down adjusted p-values (family-wise error control), in the input order."""
    p = _pvalues(pvalues)
    m = p.size
    order = np.argsort(p, kind="stable")
    adjusted = np.maximum.accumulate(p[order] * (m - np.arange(m)))
    out = np.empty(m)
    out[order] = np.minimum(adjusted, 1.0)
    return out


def benjamini_hochberg(pvalues: Sequence[float]) -> np.ndarray:
    """Benjamini-Hochberg step-up adjusted p-values (false-discovery rate), in the input order."""
    p = _pvalues(pvalues)
    m = p.size
    order = np.argsort(p, kind="stable")[::-1]
    adjusted = np.minimum.accumulate(p[order] * m / (m - np.arange(m)))
    out = np.empty(m)
    out[order] = np.minimum(adjusted, 1.0)
    return out


def correct(pvalues: Sequence[float], method: str) -> np.ndarray:
    """Adjusted p-values by ``method``: "holm", "bh", "bonferroni" or "none"."""
    _check(method, CORRECTIONS, "correction")
    if method == "holm":
        return holm(pvalues)
    if method == "bh":
        return benjamini_hochberg(pvalues)
    p = _pvalues(pvalues)
    return np.minimum(p * p.size, 1.0) if method == "bonferroni" else p


# --------------------------------------------------------------------------- intervals and effect sizes


def bootstrap_ci(
    values: Sequence[float],
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
    _check(method, ("percentile", "bca"), "method")
    v = np.asarray(values, dtype=float).ravel()
    if v.size == 0:
        raise ValueError("bootstrap_ci needs at least one value")
    n = v.size
    rng = np.random.default_rng(seed)
    boot = np.concatenate([
        np.asarray(statistic(v[rng.integers(0, n, size=(rows, n))], axis=-1), dtype=float)
        for _, rows in _blocks(n_resamples, n)
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
            for start, rows in _blocks(n, n - 1)
        ])
        spread = jack.mean() - jack
        denominator = 6 * np.sum(spread**2) ** 1.5
        acceleration = np.sum(spread**3) / denominator if denominator > 0 else 0.0
        z = bias + sps.norm.ppf(levels)
        levels = sps.norm.cdf(bias + z / (1 - acceleration * z))
    low, high = np.quantile(boot, levels)
    return float(low), float(high)


def cohens_dz(diff: Sequence[float]) -> float:
    """Standardised mean of paired differences, mean / sd (Cohen's d_z): 0 when both are 0,
    +-inf when the differences are a nonzero constant (the sd of one value counts as 0)."""
    d = np.asarray(diff, dtype=float).ravel()
    if d.size == 0:
        raise ValueError("cohens_dz needs at least one difference")
    sd = float(d.std(ddof=1)) if d.size > 1 else 0.0
    return _standardised(float(d.mean()), sd)


def cohens_h(p: float, p0: float) -> float:
    """Effect size of a proportion against a reference: 2 asin sqrt(p) - 2 asin sqrt(p0)."""
    return 2 * math.asin(math.sqrt(p)) - 2 * math.asin(math.sqrt(p0))


# --------------------------------------------------------------------------- power


def power_paired(effect: float, sd: float, n: int, alpha: float = 0.05, alternative: str = "two-sided") -> float:
    """Power of the paired t-test to detect a true mean difference ``effect`` (signed) when
    differences have standard deviation ``sd``, from the noncentral t distribution."""
    _check(alternative, ALTERNATIVES, "alternative")
    if n < 2:
        raise ValueError("power needs at least 2 pairs")
    df = n - 1
    shift = _standardised(effect, sd) * math.sqrt(n)
    if alternative == "two-sided":
        critical = sps.t.ppf(1 - alpha / 2, df)
        return _exceeds(critical, df, shift) + _exceeds(critical, df, -shift)
    critical = sps.t.ppf(1 - alpha, df)
    return _exceeds(critical, df, shift if alternative == "greater" else -shift)


def power_tost(sd: float, n: int, margin: float, alpha: float = 0.05, true_effect: float = 0.0) -> float:
    """Exact power of the paired TOST (t) for equivalence within +-margin.

    Given the sample sd s, TOST rejects iff -margin + c s/sqrt(n) < mean < margin - c s/sqrt(n)
    with c the one-sided t critical value; the mean is normal and s is a scaled chi variable,
    so the power is a one-dimensional integral over s."""
    if n < 2:
        raise ValueError("power needs at least 2 pairs")
    if not margin > 0:
        raise ValueError(f"margin must be positive, got {margin}")
    if sd == 0:
        return 1.0 if abs(true_effect) < margin else 0.0
    df = n - 1
    critical = sps.t.ppf(1 - alpha, df)
    se = sd / math.sqrt(n)
    half_width, centre = margin / se, true_effect / se
    # s / sd = r, with r * sqrt(df) ~ chi(df); beyond half_width / critical nothing is rejected.
    low = sps.chi.ppf(1e-12, df) / math.sqrt(df)
    high = min(half_width / critical, sps.chi.ppf(1 - 1e-12, df) / math.sqrt(df))
    if high <= low:
        return 0.0

    # Gauss-Legendre on [low, high]: the bounds follow the chi density, so a fixed rule resolves it.
    r = low + (high - low) * (_NODES + 1) / 2
    inside = sps.norm.cdf(half_width - critical * r - centre) - sps.norm.cdf(-half_width + critical * r - centre)
    density = sps.chi.pdf(r * math.sqrt(df), df) * math.sqrt(df)
    value = (high - low) / 2 * np.sum(_WEIGHTS * np.maximum(inside, 0.0) * density)
    return float(min(max(value, 0.0), 1.0))


def power_binomial(p: float, n: int, p0: float, alpha: float = 0.05, alternative: str = "greater") -> float:
    """Exact power of the one-sided binomial test of p0 when the true proportion is ``p``:
    the probability under p of the counts whose exact p-value is below alpha."""
    _check(alternative, ("greater", "less"), "alternative")
    counts = np.arange(n + 1)
    p_values = sps.binom.sf(counts - 1, n, p0) if alternative == "greater" else sps.binom.cdf(counts, n, p0)
    return float(sps.binom.pmf(counts, n, p)[p_values < alpha].sum())


def power_binomial_tost(n: int, p0: float, margin: float, alpha: float = 0.05, true_p: float | None = None) -> float:
    """Exact power of the binomial TOST (within p0 +- margin) when the true proportion is
    ``true_p`` (default p0)."""
    counts = np.arange(n + 1)
    rejected = _tost_binomial_p(counts, n, p0, margin) < alpha
    return float(sps.binom.pmf(counts, n, p0 if true_p is None else true_p)[rejected].sum())


# --------------------------------------------------------------------------- proportions


def binomial_test(k: int, n: int, p0: float, alternative: str = "two-sided") -> TestResult:
    """Exact binomial test of k successes in n against proportion p0; the statistic is k/n."""
    _check(alternative, ALTERNATIVES, "alternative")
    result = sps.binomtest(k, n, p0, alternative=alternative)
    return TestResult("exact binomial test", k / n, float(result.pvalue), alternative)


def tost_binomial(k: int, n: int, p0: float, margin: float) -> TestResult:
    """Exact binomial TOST: k/n within (p0 - margin, p0 + margin); p is the larger one-sided p."""
    if not margin > 0:
        raise ValueError(f"margin must be positive, got {margin}")
    p = float(_tost_binomial_p(np.array([k]), n, p0, margin)[0])
    return TestResult(f"TOST exact binomial, margin ±{margin:.3g}", k / n, p, "equivalent")


def clopper_pearson(k: int, n: int, confidence: float = 0.95) -> tuple[float, float]:
    """Exact (Clopper-Pearson) confidence interval of a proportion k/n."""
    ci = sps.binomtest(k, n).proportion_ci(confidence_level=confidence, method="exact")
    return float(ci.low), float(ci.high)


def mcnemar(b: int, c: int, alternative: str = "two-sided") -> TestResult:
    """Exact McNemar test on the discordant pairs (b: only the first condition succeeds,
    c: only the second): binomial test of b of b + c at 1/2. No discordant pair: p = 1."""
    _check(alternative, ALTERNATIVES, "alternative")
    if b + c == 0:
        return TestResult("exact McNemar test", 0.0, 1.0, alternative)
    p = sps.binomtest(b, b + c, 0.5, alternative=alternative).pvalue
    return TestResult("exact McNemar test", float(b), float(p), alternative)


# --------------------------------------------------------------------------- decisions


def paired_comparison(
    label: str,
    treatment: Sequence[float],
    control: Sequence[float],
    *,
    hypothesis: str,
    margin: float | None = None,
    expected_effect: float | None = None,
    test: str = "t",
    alpha: float = 0.05,
    confidence: float = 0.95,
    min_power: float = 0.8,
    n_resamples: int = 2000,
    n_permutations: int = 10_000,
    seed: int = 0,
) -> Comparison:
    """Decide one hypothesis about effect = mean(treatment - control) over paired queries.

    ``margin`` is required for, and only for, "equivalent"; ``expected_effect`` (the paper's
    effect, signed) sets the power of superiority and difference tests. ``n_resamples`` is
    the number of bootstrap resamples of the CIs, ``n_permutations`` that of the
    randomization test. The verdict follows the module's rules for a family of one; pass
    the claim's comparisons through :func:`correct_family` to correct them together."""
    _check(hypothesis, HYPOTHESES, "hypothesis")
    _check(test, TESTS, "test")
    _check_declaration(hypothesis, margin, expected_effect)
    x, y = np.asarray(treatment, dtype=float).ravel(), np.asarray(control, dtype=float).ravel()
    d, _ = _differences(x, y)
    if d.size < 2:
        raise ValueError(f"{label}: a paired comparison needs at least 2 pairs")
    options = {"n_resamples": n_permutations, "seed": seed}
    difference = paired_test(test, x, y, "two-sided", **options)
    if hypothesis == "equivalent":
        main = tost_paired(x, y, margin, test, **options)
        name = main.name
    elif hypothesis == "two-sided":
        main, name = difference, f"{_TEST_NAMES[test]}, two-sided"
    else:
        main = paired_test(test, x, y, hypothesis, **options)
        name = f"{_TEST_NAMES[test]}, one-sided ({hypothesis})"
    effect_ci = bootstrap_ci(d, confidence=confidence, n_resamples=n_resamples, seed=seed)
    comparison = Comparison(
        label=label,
        measured=float(x.mean()),
        ci=bootstrap_ci(x, confidence=confidence, n_resamples=n_resamples, seed=seed),
        reference=float(y.mean()),
        effect=float(d.mean()),
        effect_size=cohens_dz(d),
        effect_size_name="Cohen's d_z",
        test=name,
        p_value=main.p_value,
        p_corrected=main.p_value,
        n=int(d.size),
        power=None,
        verdict=Verdict.INCONCLUSIVE,
        reason="",
        details={
            "kind": "paired",
            "hypothesis": hypothesis,
            "test": test,
            "margin": margin,
            "expected_effect": expected_effect,
            "sd_diff": float(d.std(ddof=1)),
            "effect_ci": list(effect_ci),
            "confidence": confidence,
            "p_difference": difference.p_value,
        },
    )
    return _judged(comparison, "none", alpha, min_power, alpha)


def independent_comparison(
    label: str,
    treatment: Sequence[float],
    control: Sequence[float],
    *,
    hypothesis: str,
    alpha: float = 0.05,
    confidence: float = 0.95,
    min_power: float = 0.8,
    n_resamples: int = 2000,
    seed: int = 0,
) -> Comparison:
    """Decide a hypothesis about two unpaired samples (e.g. the depths of two sets of heads)
    by the Mann-Whitney U test; the effect is the difference in means and the effect size the
    rank-biserial correlation. No expected effect is declared for these, so a non-significant
    result is INCONCLUSIVE."""
    _check(hypothesis, ("greater", "less", "two-sided"), "hypothesis")
    x, y = np.asarray(treatment, dtype=float).ravel(), np.asarray(control, dtype=float).ravel()
    if x.size < 1 or y.size < 1:
        raise ValueError(f"{label}: each sample needs at least one value (got {x.size} and {y.size})")
    main = sps.mannwhitneyu(x, y, alternative=hypothesis)
    difference = sps.mannwhitneyu(x, y, alternative="two-sided")
    rank_biserial = 2.0 * float(main.statistic) / (x.size * y.size) - 1.0
    sided = "two-sided" if hypothesis == "two-sided" else f"one-sided ({hypothesis})"
    comparison = Comparison(
        label=label,
        measured=float(x.mean()),
        ci=bootstrap_ci(x, confidence=confidence, n_resamples=n_resamples, seed=seed),
        reference=float(y.mean()),
        effect=float(x.mean() - y.mean()),
        effect_size=rank_biserial,
        effect_size_name="rank-biserial r",
        test=f"Mann-Whitney U, {sided}",
        p_value=float(main.pvalue),
        p_corrected=float(main.pvalue),
        n=int(x.size + y.size),
        power=None,
        verdict=Verdict.INCONCLUSIVE,
        reason="",
        details={
            "kind": "independent",
            "hypothesis": hypothesis,
            "test": "mannwhitneyu",
            "margin": None,
            "expected_effect": None,
            "sizes": [int(x.size), int(y.size)],
            "sd_pooled": _pooled_sd(x, y),
            "confidence": confidence,
            "p_difference": float(difference.pvalue),
        },
    )
    return _judged(comparison, "none", alpha, min_power, alpha)


def proportion_comparison(
    label: str,
    k: int,
    n: int,
    p0: float,
    *,
    hypothesis: str,
    margin: float | None = None,
    expected_effect: float | None = None,
    alpha: float = 0.05,
    confidence: float = 0.95,
    min_power: float = 0.8,
) -> Comparison:
    """Decide a hypothesis about a proportion of queries, k of n, against p0 by exact
    binomial tests ("greater", "less" or "equivalent" within +-margin); ``expected_effect``
    is the expected difference in proportion, p - p0."""
    _check(hypothesis, ("greater", "less", "equivalent"), "hypothesis")
    _check_declaration(hypothesis, margin, expected_effect)
    if not 0 <= k <= n or n < 1:
        raise ValueError(f"{label}: need 0 <= k <= n and n >= 1, got k={k}, n={n}")
    if hypothesis == "equivalent":
        main = tost_binomial(k, n, p0, margin)
        name = main.name
    else:
        main = binomial_test(k, n, p0, hypothesis)
        name = f"exact binomial test, one-sided ({hypothesis}) against p0={p0:.3g}"
    ci = clopper_pearson(k, n, confidence)
    comparison = Comparison(
        label=label,
        measured=k / n,
        ci=ci,
        reference=p0,
        effect=k / n - p0,
        effect_size=cohens_h(k / n, p0),
        effect_size_name="Cohen's h",
        test=name,
        p_value=main.p_value,
        p_corrected=main.p_value,
        n=n,
        power=None,
        verdict=Verdict.INCONCLUSIVE,
        reason="",
        details={
            "kind": "proportion",
            "hypothesis": hypothesis,
            "k": k,
            "p0": p0,
            "margin": margin,
            "expected_effect": expected_effect,
            "effect_ci": [ci[0] - p0, ci[1] - p0],
            "confidence": confidence,
            "p_difference": binomial_test(k, n, p0, "two-sided").p_value,
        },
    )
    return _judged(comparison, "none", alpha, min_power, alpha)


def mcnemar_comparison(
    label: str,
    treatment: Sequence[bool],
    control: Sequence[bool],
    *,
    hypothesis: str,
    expected_effect: float | None = None,
    alpha: float = 0.05,
    confidence: float = 0.95,
    min_power: float = 0.8,
) -> Comparison:
    """Decide a hypothesis about two success rates on the same queries (e.g. the share of
    queries a patch moves off rank 1 under two patches) by the exact McNemar test.

    effect = rate(treatment) - rate(control) = (b - c) / n with b the queries where only the
    treatment succeeds and c those where only the control does. The measured CI is Clopper-
    Pearson on the treatment's count; the effect CI is exact conditionally on the b + c
    discordant queries (Clopper-Pearson on b of b + c, mapped to (b - c) / n)."""
    _check(hypothesis, ("greater", "less", "two-sided"), "hypothesis")
    _check_declaration(hypothesis, None, expected_effect)
    x = np.asarray(treatment, dtype=bool).ravel()
    y = np.asarray(control, dtype=bool).ravel()
    if x.shape != y.shape or x.size == 0:
        raise ValueError(f"{label}: paired outcomes must be non-empty and of equal length, got {x.size} and {y.size}")
    n = int(x.size)
    b, c = int(np.sum(x & ~y)), int(np.sum(~x & y))
    m = b + c
    main = mcnemar(b, c, hypothesis)
    difference = mcnemar(b, c, "two-sided")
    if m:
        low, high = clopper_pearson(b, m, confidence)
        effect_ci = [m / n * (2 * low - 1), m / n * (2 * high - 1)]
    else:
        effect_ci = [0.0, 0.0]
    sided = "two-sided" if hypothesis == "two-sided" else f"one-sided ({hypothesis})"
    k = int(x.sum())
    comparison = Comparison(
        label=label,
        measured=k / n,
        ci=clopper_pearson(k, n, confidence),
        reference=float(y.mean()),
        effect=(b - c) / n,
        effect_size=cohens_h(k / n, float(y.mean())),
        effect_size_name="Cohen's h",
        test=f"exact McNemar test, {sided}",
        p_value=main.p_value,
        p_corrected=main.p_value,
        n=n,
        power=None,
        verdict=Verdict.INCONCLUSIVE,
        reason="",
        details={
            "kind": "mcnemar",
            "hypothesis": hypothesis,
            "k": k,
            "k_control": int(y.sum()),
            "discordant": [b, c],
            "margin": None,
            "expected_effect": expected_effect,
            "effect_ci": effect_ci,
            "confidence": confidence,
            "p_difference": difference.p_value,
        },
    )
    return _judged(comparison, "none", alpha, min_power, alpha)


def power_mcnemar(effect: float, n: int, discordant: int, alpha: float = 0.05, alternative: str = "greater") -> float:
    """Power of the one-sided exact McNemar test to detect a difference in rates ``effect``
    given ``discordant`` of the ``n`` queries differ: b of the discordant ones is binomial
    with p = (1 + effect * n / discordant) / 2 (clipped to [0, 1])."""
    if discordant <= 0:
        return 0.0
    p = min(max((1 + effect * n / discordant) / 2, 0.0), 1.0)
    return power_binomial(p, discordant, 0.5, alpha, alternative)


def correct_family(
    comparisons: Sequence[Comparison], method: str = "holm", alpha: float = 0.05
) -> list[Comparison]:
    """Correct a claim's comparisons together and re-derive their verdicts.

    The main p-values (TOST p for equivalence) and the two-sided difference p-values are
    corrected as two families of the same size; power is recomputed at alpha/m. Returns new
    comparisons; applying it twice gives the same result."""
    _check(method, CORRECTIONS, "correction")
    if not comparisons:
        return []
    corrected = correct([c.p_value for c in comparisons], method)
    corrected_difference = correct([c.details["p_difference"] for c in comparisons], method)
    level = alpha if method == "none" else alpha / len(comparisons)
    return [
        _judged(replace(c, p_corrected=float(p)), method, alpha, c.details["min_power"], level, float(pd))
        for c, p, pd in zip(comparisons, corrected, corrected_difference)
    ]


def family_verdict(comparisons: Sequence[Comparison], require: str = "all") -> tuple[Verdict, str]:
    """A claim's verdict from its (corrected) comparisons; the rule is in the module docstring."""
    _check(require, ("all", "any"), "require")
    if not comparisons:
        raise ValueError("a claim needs at least one comparison")
    m = len(comparisons)
    counts = {v: sum(c.verdict is v for c in comparisons) for v in Verdict}
    if require == "all":
        if counts[Verdict.CONTRADICTED]:
            verdict = Verdict.CONTRADICTED
        else:
            verdict = Verdict.SUPPORTED if counts[Verdict.SUPPORTED] == m else Verdict.INCONCLUSIVE
    elif counts[Verdict.SUPPORTED]:
        verdict = Verdict.SUPPORTED
    else:
        verdict = Verdict.CONTRADICTED if counts[Verdict.CONTRADICTED] == m else Verdict.INCONCLUSIVE
    if m == 1:
        return verdict, comparisons[0].reason
    summary = ", ".join(f"{counts[v]} {v.value.lower()}" for v in Verdict if counts[v])
    reason = f"{summary} of {m} comparisons (requires {require})"
    if verdict is not Verdict.SUPPORTED:
        labels = [c.label for c in comparisons if c.verdict is verdict]
        shown = ", ".join(labels[:3]) + (f" and {len(labels) - 3} more" if len(labels) > 3 else "")
        reason += f"; {verdict.value.lower()}: {shown}"
    return verdict, reason


# --------------------------------------------------------------------------- calibration


@dataclass(frozen=True)
class CalibrationResult:
    """Rate of SUPPORTED verdicts under a null, against alpha + 3 Monte-Carlo standard errors."""

    decision: str
    n_sims: int
    n: int
    alpha: float
    rate: float
    mc_error: float
    limit: float
    passed: bool


@dataclass(frozen=True)
class PowerResult:
    """Analytic power against the simulated rejection rate, within 3 Monte-Carlo standard errors."""

    decision: str
    n_sims: int
    n: int
    alpha: float
    effect: float
    analytic: float
    simulated: float
    mc_error: float
    passed: bool


def simulate_false_positive_rate(
    decision: str,
    n_sims: int = 1000,
    n: int = 20,
    alpha: float = 0.05,
    seed: int = 0,
    *,
    test: str = "t",
    sd: float = 0.1,
    margin: float = 0.05,
    p0: float = 0.5,
    heads: int = 72,
    correction: str = "holm",
) -> CalibrationResult:
    """Rate at which a decision says SUPPORTED when its null is true, over ``n_sims`` seeded
    simulations of ``n`` queries (normal differences with sd ``sd``):

    - "superiority": :func:`paired_comparison` "greater" with a true effect of 0;
    - "equivalence": :func:`paired_comparison` "equivalent" with the true effect at the margin
      (the boundary of the null, where TOST is least conservative);
    - "proportion": :func:`proportion_comparison` "greater" with true proportion p0;
    - "heads": a screen of ``heads`` null heads, each "greater", corrected by ``correction``;
      the rate is the family-wise error. The per-head t-tests are vectorised (the same core
      as :func:`paired_t`) and the verdict rule is applied to each head; bootstrap CIs, which
      do not enter the verdict, are skipped to keep 72,000 decisions fast."""
    _check(decision, DECISIONS, "decision")
    rng = np.random.default_rng(seed)
    small = {"n_resamples": 20, "n_permutations": 200}  # CIs do not enter the verdict
    supported = 0
    if decision == "heads":
        diffs = rng.normal(0.0, sd, size=(n_sims, heads, n))
        _, p_greater = _t_test(diffs, "greater")
        _, p_two = _t_test(diffs, "two-sided")
        effects = diffs.mean(axis=-1)
        for row in range(n_sims):
            family = [_screened_head(effects[row, h], p_greater[row, h], p_two[row, h], n) for h in range(heads)]
            corrected = correct_family(family, correction, alpha)
            supported += any(c.verdict is Verdict.SUPPORTED for c in corrected)
    else:
        for _ in range(n_sims):
            if decision == "proportion":
                k = int(rng.binomial(n, p0))
                result = proportion_comparison("null", k, n, p0, hypothesis="greater", alpha=alpha)
            else:
                control = rng.uniform(0.3, 0.7, size=n)
                if decision == "equivalence":
                    shift, declared = margin, {"hypothesis": "equivalent", "margin": margin}
                else:
                    shift, declared = 0.0, {"hypothesis": "greater"}
                treatment = control + shift + rng.normal(0.0, sd, size=n)
                seed_i = int(rng.integers(2**31))
                result = paired_comparison(
                    "null", treatment, control, test=test, alpha=alpha, seed=seed_i, **small, **declared
                )
            supported += result.verdict is Verdict.SUPPORTED
    rate = supported / n_sims
    mc_error = math.sqrt(alpha * (1 - alpha) / n_sims)
    limit = alpha + 3 * mc_error
    return CalibrationResult(decision, n_sims, n, alpha, rate, mc_error, limit, rate <= limit)


def simulate_power(
    decision: str = "superiority",
    effect: float = 0.05,
    sd: float = 0.1,
    n: int = 20,
    alpha: float = 0.05,
    n_sims: int = 4000,
    seed: int = 0,
    *,
    margin: float = 0.05,
    alternative: str = "greater",
) -> PowerResult:
    """Simulated rejection rate of the paired t-test ("superiority", one ``alternative``) or
    of the TOST ("equivalence", true effect ``effect``) against :func:`power_paired` /
    :func:`power_tost`, for normal differences of mean ``effect`` and sd ``sd``."""
    _check(decision, ("superiority", "equivalence"), "decision")
    diffs = np.random.default_rng(seed).normal(effect, sd, size=(n_sims, n))
    if decision == "superiority":
        analytic = power_paired(effect, sd, n, alpha, alternative)
        rejected = _t_test(diffs, alternative)[1] < alpha
    else:
        analytic = power_tost(sd, n, margin, alpha, true_effect=effect)
        tost_p = np.maximum(_t_test(diffs + margin, "greater")[1], _t_test(diffs - margin, "less")[1])
        rejected = tost_p < alpha
    simulated = float(np.mean(rejected))
    mc_error = math.sqrt(max(analytic * (1 - analytic), 1e-12) / n_sims)
    passed = abs(simulated - analytic) <= 3 * mc_error
    return PowerResult(decision, n_sims, n, alpha, effect, analytic, simulated, mc_error, passed)


# --------------------------------------------------------------------------- internals


def _check(value: str, allowed: tuple[str, ...], what: str) -> None:
    if value not in allowed:
        raise ValueError(f"{what} must be one of {', '.join(allowed)}; got {value!r}")


def _check_declaration(hypothesis: str, margin: float | None, expected_effect: float | None) -> None:
    """Reject declarations that the rules cannot use, rather than deciding on a guess."""
    if hypothesis == "equivalent":
        if margin is None or not margin > 0:
            raise ValueError("an equivalence hypothesis needs a positive margin")
        if expected_effect is not None:
            raise ValueError("equivalence power is taken at a true effect of 0; declare no expected effect")
    elif margin is not None:
        raise ValueError(f"a margin is only used by equivalence, not by {hypothesis!r}")
    sign = {"greater": 1, "less": -1}.get(hypothesis)
    if sign is not None and expected_effect is not None and not sign * expected_effect > 0:
        raise ValueError(f"expected effect {expected_effect} contradicts the hypothesis {hypothesis!r}")


def _differences(x: Sequence[float], y: Sequence[float]) -> tuple[np.ndarray, float]:
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


def _t_test(d: np.ndarray, alternative: str, tolerance: float = 0.0) -> tuple[np.ndarray, np.ndarray]:
    """t statistics and p-values over the last axis of d (vectorised for simulations).

    Differences constant within ``tolerance`` carry no spread: t is 0 (p = 1) when they are
    all 0 and +-inf otherwise. Lower tails are upper tails of -t so swapping x and y mirrors
    p exactly."""
    _check(alternative, ALTERNATIVES, "alternative")
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


def _blocks(total: int, width: int):
    """(start, rows) pieces of a total x width matrix, each at most _BLOCK cells."""
    step = max(1, _BLOCK // max(width, 1))
    for start in range(0, total, step):
        yield start, min(step, total - start)


def _leave_one_out(start: int, rows: int, n: int) -> np.ndarray:
    """Indices of the jackknife samples start..start+rows-1, each leaving one value out."""
    left_out = np.arange(start, start + rows)[:, None]
    kept = np.arange(n - 1)[None, :]
    return kept + (kept >= left_out)


def _pvalues(pvalues: Sequence[float]) -> np.ndarray:
    p = np.asarray(pvalues, dtype=float).ravel()
    if np.any(np.isnan(p)) or np.any((p < 0) | (p > 1)):
        raise ValueError("p-values must lie in [0, 1]")
    return p


def _standardised(effect: float, sd: float) -> float:
    if sd == 0:
        return 0.0 if effect == 0 else math.copysign(math.inf, effect)
    return effect / sd


def _exceeds(critical: float, df: int, shift: float) -> float:
    """P(T > critical) for T noncentral t with df and noncentrality ``shift``."""
    if math.isinf(shift):
        return 1.0 if shift > 0 else 0.0
    return float(sps.nct.sf(critical, df, shift))


def _tost_binomial_p(counts: np.ndarray, n: int, p0: float, margin: float) -> np.ndarray:
    """Exact binomial TOST p-values for each count: max of P(X >= k | p0 - margin) and
    P(X <= k | p0 + margin), with the null proportions clipped to [0, 1]."""
    lower, upper = max(p0 - margin, 0.0), min(p0 + margin, 1.0)
    return np.maximum(sps.binom.sf(counts - 1, n, lower), sps.binom.cdf(counts, n, upper))


def _screened_head(effect: float, p_greater: float, p_two_sided: float, n: int) -> Comparison:
    """A null head of the calibration screen as a bare comparison ("greater", no expected effect)."""
    return Comparison(
        label="head", measured=effect, ci=(effect, effect), reference=0.0, effect=effect, effect_size=0.0,
        effect_size_name="Cohen's d_z", test=f"{_TEST_NAMES['t']}, one-sided (greater)", p_value=float(p_greater),
        p_corrected=float(p_greater), n=n, power=None, verdict=Verdict.INCONCLUSIVE, reason="",
        details={"kind": "paired", "hypothesis": "greater", "expected_effect": None, "margin": None,
                 "p_difference": float(p_two_sided), "min_power": 0.8},
    )


def _power(c: Comparison, level: float) -> float | None:
    """Power of a comparison's test at ``level`` (see the module docstring), or None if no
    effect to detect was declared."""
    details = c.details
    hypothesis, expected = details["hypothesis"], details.get("expected_effect")
    if details["kind"] == "independent":
        return None
    if details["kind"] == "mcnemar":
        if expected is None or hypothesis == "two-sided":
            return None
        return power_mcnemar(expected, c.n, sum(details["discordant"]), level, hypothesis)
    if details["kind"] == "proportion":
        if hypothesis == "equivalent":
            return power_binomial_tost(c.n, details["p0"], details["margin"], level)
        if expected is None:
            return None
        return power_binomial(min(max(details["p0"] + expected, 0.0), 1.0), c.n, details["p0"], level, hypothesis)
    if hypothesis == "equivalent":
        return power_tost(details["sd_diff"], c.n, details["margin"], level)
    if expected is None:
        return None
    return power_paired(expected, details["sd_diff"], c.n, level, hypothesis)


def detectable_effect(c: Comparison, level: float, min_power: float) -> float | None:
    """The smallest effect (signed as the hypothesis, in the effect's units) that the
    comparison's test detects with probability ``min_power`` at its n and level.

    It gives a non-significant result without a declared expected effect a number: what
    the data could have shown. Paired: from the t-test's power at the observed sd;
    proportions: from the exact binomial power; unpaired (Mann-Whitney): the normal
    approximation with the test's asymptotic relative efficiency 3/pi against the t-test,
    at the pooled sd. None where the sd is zero or nothing within range is detectable."""
    details = c.details
    hypothesis = details["hypothesis"]
    sign = -1.0 if hypothesis == "less" else 1.0
    if details["kind"] == "proportion":
        p0 = details["p0"]
        grid = np.linspace(p0, 1.0, 401) if sign > 0 else np.linspace(p0, 0.0, 401)
        for p in grid[1:]:
            if power_binomial(float(p), c.n, p0, level, hypothesis) >= min_power:
                return float(p - p0)
        return None
    if details["kind"] == "independent":
        n1, n2 = details["sizes"]
        sd = details.get("sd_pooled") or 0.0
        if sd <= 0:
            return None
        tail = level / 2 if hypothesis == "two-sided" else level
        z = sps.norm.ppf(1 - tail) + sps.norm.ppf(min_power)
        return float(sign * z * sd * math.sqrt((1 / n1 + 1 / n2) * math.pi / 3))
    sd = details.get("sd_diff") or 0.0
    if sd <= 0 or c.n < 2:
        return None

    def shortfall(effect: float) -> float:
        return power_paired(sign * effect, sd, c.n, level, hypothesis) - min_power

    high = sd
    while shortfall(high) < 0:
        high *= 2
    return float(sign * brentq(shortfall, 0.0, high, xtol=sd * 1e-6))


def _pooled_sd(x: np.ndarray, y: np.ndarray) -> float | None:
    """The pooled standard deviation of two samples, None with fewer than 3 values."""
    if x.size + y.size < 3:
        return None
    squares = ((x - x.mean()) ** 2).sum() + ((y - y.mean()) ** 2).sum()
    return float(math.sqrt(squares / (x.size + y.size - 2)))


def _judged(
    c: Comparison, correction: str, alpha: float, min_power: float, level: float, p_difference: float | None = None
) -> Comparison:
    """The comparison with its power, verdict and reason derived by the module's rules."""
    details = {
        **c.details,
        "correction": correction,
        "alpha": alpha,
        "min_power": min_power,
        "power_level": level,
        "p_difference_corrected": c.details["p_difference"] if p_difference is None else p_difference,
    }
    c = replace(c, details=details)
    c = replace(c, power=_power(c, level))
    if c.power is None:
        c.details["detectable_effect"] = detectable_effect(c, level, min_power)
    verdict, reason = _verdict(c, alpha)
    return replace(c, verdict=verdict, reason=reason)


def _verdict(c: Comparison, alpha: float) -> tuple[Verdict, str]:
    """The module's verdict rules applied to one comparison, with a reason in numbers."""
    details = c.details
    hypothesis, min_power = details["hypothesis"], details["min_power"]
    name = "p" if details["correction"] == "none" else f"p_{details['correction']}"
    p = f"{name}={c.p_corrected:.3g}"
    p_difference = f"{name}={details['p_difference_corrected']:.3g}"
    below, effect = f"< {alpha:g}", f"effect {c.effect:+.3g}"
    significant = c.p_corrected < alpha
    different = details["p_difference_corrected"] < alpha
    if hypothesis == "equivalent":
        margin = f"±{details['margin']:.3g}"
        if significant:
            return Verdict.SUPPORTED, f"equivalent within {margin}: {effect}, TOST {p} {below}"
        if different and abs(c.effect) > details["margin"]:
            reason = f"not equivalent: {effect} is beyond {margin} and significant ({p_difference} {below})"
            return Verdict.CONTRADICTED, reason
        comparator = "<" if c.power < min_power else ">="
        power = f"TOST power {c.power:.3g} {comparator} {min_power:.2f} at n={c.n}"
        return Verdict.INCONCLUSIVE, f"equivalence within {margin} not shown (TOST {p}); {power}"
    if hypothesis == "two-sided":
        if significant:
            return Verdict.SUPPORTED, f"significant difference: {effect} ({p} {below})"
        return _not_significant(c, p, min_power)
    sign = 1 if hypothesis == "greater" else -1
    if significant and sign * c.effect > 0:
        direction = "increase" if hypothesis == "greater" else "decrease"
        return Verdict.SUPPORTED, f"significant {direction}: {effect} ({p} {below})"
    if different and sign * c.effect < 0:
        reason = f"significant effect in the opposite direction: {effect} (two-sided {p_difference} {below})"
        return Verdict.CONTRADICTED, reason
    if significant:
        return Verdict.INCONCLUSIVE, f"one-sided {p} {below} but the mean {effect} has the opposite sign"
    return _not_significant(c, p, min_power)


def _not_significant(c: Comparison, p: str, min_power: float) -> tuple[Verdict, str]:
    if c.power is None:
        detectable = c.details.get("detectable_effect")
        if detectable is None:
            return Verdict.INCONCLUSIVE, f"not significant ({p}); no expected effect declared, so power is unknown"
        size = f"±{abs(detectable):.3g}" if c.details["hypothesis"] == "two-sided" else f"{detectable:+.3g}"
        return Verdict.INCONCLUSIVE, (
            f"not significant ({p}); no expected effect declared: at n={c.n} only an effect of "
            f"{size} or beyond is detected with power {min_power:.2f}"
        )
    target = f"at n={c.n} to detect {c.details['expected_effect']:+.3g}"
    if c.power >= min_power:
        return Verdict.CONTRADICTED, f"not significant ({p}) although power {c.power:.3g} >= {min_power:.2f} {target}"
    return Verdict.INCONCLUSIVE, f"not significant ({p}); power {c.power:.3g} < {min_power:.2f} {target}"
