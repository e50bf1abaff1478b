"""Power of the tests, the smallest effect they detect, and standardised effect sizes.

Power turns a non-significant result into evidence against a claim (when the test could
have detected the declared effect) or into an honest INCONCLUSIVE (when it could not).
"""

from __future__ import annotations

import functools
import math

import numpy as np
from numpy.typing import ArrayLike
from scipy import stats as sps
from scipy.optimize import brentq

from ranker_claims.core.results import Comparison
from ranker_claims.core.stats.choices import ALTERNATIVES, check_choice
from ranker_claims.core.stats.tests import smallest_p, tost_binomial_p

# Gauss-Legendre rule for the TOST power integral.
_NODES, _WEIGHTS = np.polynomial.legendre.leggauss(200)
# Simulated samples behind the power of a test without a formula (Monte-Carlo s.e. <= 0.025).
SIMULATIONS = 400


# --------------------------------------------------------------------------- power


def power_paired(effect: float, sd: float, n: int, alpha: float = 0.05, alternative: str = "two-sided") -> float:
    """Power of the paired t-test to detect a true mean difference ``effect`` (signed) when
    differences have standard deviation ``sd``, from the noncentral t distribution."""
    check_choice(alternative, ALTERNATIVES, "alternative")
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


def power_paired_test(test: str, effect: float, sd: float, n: int, alpha: float = 0.05,
                      alternative: str = "two-sided", *, margin: float | None = None,
                      bounds: tuple[float, float] | None = None) -> float:
    """Power of the paired test that decides (``test``: "t", "betting", "wilcoxon",
    "randomization" or "exact") for normal differences of mean ``effect`` and sd ``sd`` (clipped to
    ``bounds``, the differences' range, for the betting test); with ``margin``, of its TOST within
    +-margin (``alternative`` is then ignored). "none" (no test decides) has power 0.

    The t-test's is analytic (noncentral t; exact TOST integral). The others are simulated
    (seeded, so a verdict's reason is reproducible); a test whose smallest p-value at n cannot
    go below ``alpha`` has power 0, which is what the t-test's formula hides at small n."""
    if test == "t":
        return power_paired(effect, sd, n, alpha, alternative) if margin is None else power_tost(sd, n, margin, alpha, effect)
    if test == "none" or (test == "betting" and bounds is None):
        return 0.0
    sided = "greater" if margin is not None else alternative
    if test != "betting" and (smallest_p(test, n, sided) >= alpha or (margin is not None and test == "exact")):
        return 0.0  # the exact test tests no margin
    if sd == 0 and test == "betting":  # every difference is the effect: the test's outcome on that data
        from ranker_claims.core.stats.betting import betting_p

        d = np.full(n, float(effect))
        assert bounds is not None  # betting without bounds returned above
        if margin is None:
            return float(betting_p(d, 0.0, *bounds, alternative, alpha) < alpha)
        return float(max(betting_p(d, -margin, *bounds, "greater", alpha),
                         betting_p(d, margin, *bounds, "less", alpha)) < alpha)
    if sd == 0:
        inside = margin is not None and abs(effect) < margin
        beyond = margin is None and {"greater": effect > 0, "less": effect < 0}.get(alternative, effect != 0)
        return 1.0 if inside or beyond else 0.0
    unit = None if bounds is None else (round(bounds[0] / sd, 6), round(bounds[1] / sd, 6))
    standardised = round(effect / sd, 6), None if margin is None else round(margin / sd, 6)
    return _simulated_power(test, *standardised, n, alpha, alternative, unit)


@functools.lru_cache(maxsize=4096)
def _simulated_power(test: str, effect: float, margin: float | None, n: int, alpha: float, alternative: str,
                     bounds: tuple[float, float] | None = None) -> float:
    """Rejection rate over SIMULATIONS seeded draws of n unit-sd normal differences of mean ``effect``
    (clipped to ``bounds``, in sd units, where given)."""
    from ranker_claims.core.stats.betting import betting_p
    from ranker_claims.core.stats.tests import paired_p_values

    d = np.random.default_rng(0).normal(effect, 1.0, size=(SIMULATIONS, n))
    if bounds is not None:
        d = np.clip(d, *bounds)

    def p(alternative: str, boundary: float = 0.0) -> np.ndarray:
        if test == "betting":
            assert bounds is not None  # power_paired_test gives betting without bounds power 0, unsimulated
            return betting_p(d, boundary, *bounds, alternative, alpha)
        return paired_p_values(test, d - boundary, alternative)

    rejected = p(alternative) if margin is None else np.maximum(p("greater", -margin), p("less", margin))
    return float(np.mean(rejected < alpha))


def power_binomial(p: float, n: int, p0: float, alpha: float = 0.05, alternative: str = "greater") -> float:
    """Exact power of the one-sided binomial test of p0 when the true proportion is ``p``:
    the probability under p of the counts whose exact p-value is below alpha."""
    check_choice(alternative, ("greater", "less"), "alternative")
    counts = np.arange(n + 1)
    p_values = sps.binom.sf(counts - 1, n, p0) if alternative == "greater" else sps.binom.cdf(counts, n, p0)
    return float(sps.binom.pmf(counts, n, p)[p_values < alpha].sum())


def power_binomial_tost(n: int, p0: float, margin: float, alpha: float = 0.05, true_p: float | None = None) -> float:
    """Exact power of the binomial TOST (within p0 +- margin) when the true proportion is
    ``true_p`` (default p0)."""
    counts = np.arange(n + 1)
    rejected = tost_binomial_p(counts, n, p0, margin) < alpha
    return float(sps.binom.pmf(counts, n, p0 if true_p is None else true_p)[rejected].sum())


def power_mcnemar(effect: float, n: int, discordant: int, alpha: float = 0.05, alternative: str = "greater") -> float:
    """Power of the one-sided exact McNemar test to detect a difference in rates ``effect``
    given ``discordant`` of the ``n`` queries differ: b of the discordant ones is binomial
    with p = (1 + effect * n / discordant) / 2 (clipped to [0, 1])."""
    if discordant <= 0:
        return 0.0
    p = min(max((1 + effect * n / discordant) / 2, 0.0), 1.0)
    return power_binomial(p, discordant, 0.5, alpha, alternative)


def detectable_effect(c: Comparison, level: float, min_power: float) -> float | None:
    """The smallest effect (signed as the hypothesis, in the effect's units) that the
    comparison's test detects with probability ``min_power`` at its n and level.

    It gives a non-significant result without a declared expected effect a number: what
    the data could have shown. None where the test cannot reach the level at this n. Paired:
    from the deciding test's own power at the observed sd (analytic for the t-test, simulated
    for the others); proportions: from the exact binomial power; unpaired (Mann-Whitney): the normal
    approximation with the test's asymptotic relative efficiency 3/pi against the t-test,
    at the pooled sd. None where the sd is zero or nothing within range is detectable."""
    details = c.details
    if details.get("smallest_p", 0.0) >= level:
        return None
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
    test, bounds = details.get("test", "t"), details.get("bounds")
    if test == "t":
        def shortfall(effect: float) -> float:
            return power_paired(sign * effect, sd, c.n, level, hypothesis) - min_power

        high = sd
        while shortfall(high) < 0:
            high *= 2
        return float(sign * brentq(shortfall, 0.0, high, xtol=sd * 1e-6))
    # Simulated power: the smallest effect on a grid (up to the range's end) the deciding test detects.
    reach = 8 * sd if bounds is None else (bounds[1] if sign > 0 else -bounds[0])
    for effect in np.geomspace(sd / 20, max(reach, sd / 10), 60):
        if power_paired_test(test, sign * float(effect), sd, c.n, level, hypothesis, bounds=bounds) >= min_power:
            return float(sign * effect)
    return None


# --------------------------------------------------------------------------- effect sizes


def cohens_dz(diff: ArrayLike) -> float:
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


# --------------------------------------------------------------------------- internals


def _standardised(effect: float, sd: float) -> float:
    if sd == 0:
        return 0.0 if effect == 0 else math.copysign(math.inf, effect)
    return effect / sd


def _exceeds(critical: float, df: int, shift: float) -> float:
    """P(T > critical) for T noncentral t with df and noncentrality ``shift``."""
    if math.isinf(shift):
        return 1.0 if shift > 0 else 0.0
    p = float(sps.nct.sf(critical, df, shift))
    if math.isnan(p):  # scipy's nct fails (NaN) past noncentralities of about 1e10, where the outcome is certain
        return 1.0 if shift > critical else 0.0
    return p
