"""Per-query data turned into a judged :class:`suite.core.results.Comparison`, one per kind of data.

Each function runs the test of its hypothesis, the two-sided difference test that the
contradiction rules need, the confidence intervals and the effect size, and hands the
result to :func:`suite.core.stats.verdicts.judge` for a family of one.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import replace

import numpy as np
from scipy import stats as sps

from suite.core.results import Comparison, Verdict
from suite.core.stats.choices import HYPOTHESES, TESTS, check_choice
from suite.core.stats.intervals import bootstrap_ci, clopper_pearson
from suite.core.stats.power import cohens_dz, cohens_h
from suite.core.stats.tests import (
    EXACT_BELOW,
    TEST_NAMES,
    TestResult,
    binomial_test,
    mann_whitney,
    mcnemar,
    paired_differences,
    paired_test,
    smallest_binomial_p,
    smallest_mann_whitney_p,
    smallest_p,
    test_for,
    tost_binomial,
    tost_binomial_p,
    tost_paired,
)
from suite.core.stats.verdicts import judge


def paired_comparison(
    label: str,
    treatment: Sequence[float],
    control: Sequence[float],
    *,
    hypothesis: str,
    margin: float | None = None,
    expected_effect: float | None = None,
    smallest_effect: float | None = None,
    test: str = "t",
    alpha: float = 0.05,
    confidence: float = 0.95,
    min_power: float = 0.8,
    n_resamples: int = 2000,
    n_permutations: int = 10_000,
    seed: int = 0,
    unit: str = "queries",
) -> Comparison:
    """Decide one hypothesis about effect = mean(treatment - control) over paired queries.

    ``margin`` is required for, and only for, "equivalent"; ``expected_effect`` (the paper's
    effect, signed) sets the power reported; ``smallest_effect`` (signed as the hypothesis;
    for "two-sided" its size) is the smallest effect of interest, below which the claim is
    contradicted (see the package docstring). ``test`` is the session's test; below
    EXACT_BELOW pairs the exact sign-flip test decides instead. ``n_resamples`` is the number
    of bootstrap resamples of the CIs, ``n_permutations`` that of the randomization test. The
    verdict follows the package's rules for a family of one; pass the claim's comparisons
    through :func:`~suite.core.stats.corrections.correct_family` to correct them together."""
    check_choice(hypothesis, HYPOTHESES, "hypothesis")
    check_choice(test, TESTS, "test")
    _check_declaration(hypothesis, margin, expected_effect, smallest_effect)
    x, y = np.asarray(treatment, dtype=float).ravel(), np.asarray(control, dtype=float).ravel()
    d, tolerance = paired_differences(x, y)
    if d.size < 2:
        raise ValueError(f"{label}: a paired comparison needs at least 2 pairs")
    n = int(d.size)
    used = test_for(test, n)
    options = {"n_resamples": n_permutations, "seed": seed}
    zeros = np.zeros_like(d)
    difference = paired_test(used, x, y, "two-sided", **options)
    # The exact test is exact under "no effect on any query" (differences symmetric about 0);
    # about a nonzero effect (a margin, a smallest effect) nothing is symmetric, so below
    # EXACT_BELOW those hypotheses are not tested at all.
    shifted = used != "exact"
    untestable = None if shifted else (
        f"below {EXACT_BELOW} pairs only 'no effect on any query' is tested (exactly): an equivalence margin "
        "needs at least that many, and a smallest effect of interest is replaced by 0")
    if hypothesis == "equivalent":
        main = tost_paired(x, y, margin, used, **options) if shifted else TestResult("TOST", 0.0, 1.0, "equivalent")
        name = main.name if shifted else f"TOST {TEST_NAMES[used]}, margin ±{margin:.3g} (not tested below {EXACT_BELOW} pairs)"
        contradiction = _beyond_margin(d, margin, used, options) if shifted else 1.0
        against = f"effect within ±{margin:.3g}"
        means = f"not equivalent: the {1 - 2 * alpha:.0%} interval lies beyond ±{margin:.3g}"
    elif hypothesis == "two-sided":
        main, name = difference, f"{TEST_NAMES[used]}, two-sided"
        size = abs(smallest_effect) if smallest_effect else None
        contradiction = tost_paired(d, zeros, size, used, **options).p_value if size and shifted else 1.0
        against = f"|effect| >= {size:.3g}" if size else None
        means = f"no difference of interest: |effect| shown below {size:.3g}" if size else None
    else:
        main = paired_test(used, x, y, hypothesis, **options)
        name = f"{TEST_NAMES[used]}, one-sided ({hypothesis})"
        delta = smallest_effect or 0.0
        opposite = "less" if hypothesis == "greater" else "greater"
        # Below EXACT_BELOW, against 0 instead: under a shift, conservative for any smallest effect.
        tested = delta if shifted else 0.0
        contradiction = paired_test(used, d - tested, zeros, opposite, **options).p_value
        against = f"effect {'>=' if hypothesis == 'greater' else '<='} {tested:+.3g}"
        means = _contradiction_meaning(tested)
    smallest = smallest_p(used, n, "greater" if hypothesis == "equivalent" else hypothesis, n_permutations)
    if hypothesis == "equivalent" and not shifted:
        smallest = 1.0
    effect_ci = bootstrap_ci(d, confidence=confidence, n_resamples=n_resamples, seed=seed)
    spread = float(np.ptp(d))
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
        n=n,
        power=None,
        verdict=Verdict.INCONCLUSIVE,
        reason="",
        details={
            "kind": "paired",
            "unit": unit,
            "hypothesis": hypothesis,
            "test": used,
            "margin": margin,
            "expected_effect": expected_effect,
            "smallest_effect": smallest_effect,
            "sd_diff": float(d.std(ddof=1)),
            "effect_ci": list(effect_ci),
            "confidence": confidence,
            "p_difference": difference.p_value,
            "p_contradiction": float(contradiction),
            "contradiction_null": against,
            "contradiction_means": means,
            "smallest_p": smallest,
            "untestable": untestable if hypothesis == "equivalent" else None,
            "degenerate": (f"all {n} differences are {d[0]:+.3g}: no spread to test against"
                           if spread <= tolerance else None),
        },
    )
    return judge(comparison, "none", alpha, min_power, alpha)


def _beyond_margin(d: np.ndarray, margin: float, test: str, options: dict) -> float:
    """p-value of "the effect lies beyond +-margin" = the (1 - 2 alpha) interval wholly outside:
    the smaller of the one-sided tests of effect > margin and of effect < -margin."""
    zeros = np.zeros_like(d)
    above = paired_test(test, d - margin, zeros, "greater", **options).p_value
    below = paired_test(test, d + margin, zeros, "less", **options).p_value
    return min(above, below)


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
    unit: str = "heads",
) -> Comparison:
    """Decide a hypothesis about two unpaired samples (e.g. the depths of two sets of heads) by
    the Mann-Whitney U test, exact by permutation. The effect is the Hodges-Lehmann shift (the
    median of the pairwise differences), whose sign is that of the ranks the test reads; the
    effect size is the rank-biserial correlation. No effect of interest is declared for these,
    so only a significant shift the other way contradicts."""
    check_choice(hypothesis, ("greater", "less", "two-sided"), "hypothesis")
    x, y = np.asarray(treatment, dtype=float).ravel(), np.asarray(control, dtype=float).ravel()
    if x.size < 1 or y.size < 1:
        raise ValueError(f"{label}: each sample needs at least one value (got {x.size} and {y.size})")
    main = mann_whitney(x, y, hypothesis, seed=seed)
    difference = mann_whitney(x, y, "two-sided", seed=seed)
    if hypothesis == "two-sided":
        contradiction = 1.0
    else:
        contradiction = mann_whitney(x, y, "less" if hypothesis == "greater" else "greater", seed=seed).p_value
    u = sps.mannwhitneyu(x, y, alternative="two-sided", method="asymptotic").statistic
    rank_biserial = 2.0 * float(u) / (x.size * y.size) - 1.0
    sided = "two-sided" if hypothesis == "two-sided" else f"one-sided ({hypothesis})"
    comparison = Comparison(
        label=label,
        measured=float(x.mean()),
        ci=bootstrap_ci(x, confidence=confidence, n_resamples=n_resamples, seed=seed),
        reference=float(y.mean()),
        effect=float(np.median(np.subtract.outer(x, y))),
        effect_size=rank_biserial,
        effect_size_name="rank-biserial r",
        test=f"{main.name}, {sided}",
        p_value=main.p_value,
        p_corrected=main.p_value,
        n=int(x.size + y.size),
        power=None,
        verdict=Verdict.INCONCLUSIVE,
        reason="",
        details={
            "kind": "independent",
            "unit": unit,
            "hypothesis": hypothesis,
            "test": "mannwhitneyu",
            "margin": None,
            "expected_effect": None,
            "smallest_effect": None,
            "sizes": [int(x.size), int(y.size)],
            "means": [float(x.mean()), float(y.mean())],
            "sd_pooled": _pooled_sd(x, y),
            "confidence": confidence,
            "p_difference": difference.p_value,
            "p_contradiction": contradiction,
            "contradiction_null": None if hypothesis == "two-sided" else "no shift or a shift the claimed way",
            "contradiction_means": _contradiction_meaning(0.0),
            "smallest_p": smallest_mann_whitney_p(int(x.size), int(y.size), hypothesis),
            "degenerate": None,
        },
    )
    return judge(comparison, "none", alpha, min_power, alpha)


def proportion_comparison(
    label: str,
    k: int,
    n: int,
    p0: float,
    *,
    hypothesis: str,
    margin: float | None = None,
    expected_effect: float | None = None,
    smallest_effect: float | None = None,
    selection: int = 1,
    alpha: float = 0.05,
    confidence: float = 0.95,
    min_power: float = 0.8,
    unit: str = "queries",
) -> Comparison:
    """Decide a hypothesis about a proportion of queries, k of n, against p0 by exact
    binomial tests ("greater", "less" or "equivalent" within +-margin); ``expected_effect``
    is the expected difference in proportion, p - p0, and ``smallest_effect`` the smallest of
    interest (default 0: only a significant effect the other way contradicts).

    ``selection``: the proportion is the most extreme of that many candidates (the worst of
    L layers): its contradiction p-value is multiplied by it (Bonferroni for the selection),
    while its support needs no correction (if the worst is below a bound, every candidate is)."""
    check_choice(hypothesis, ("greater", "less", "equivalent"), "hypothesis")
    _check_declaration(hypothesis, margin, expected_effect, smallest_effect)
    if not 0 <= k <= n or n < 1:
        raise ValueError(f"{label}: need 0 <= k <= n and n >= 1, got k={k}, n={n}")
    if selection < 1:
        raise ValueError(f"{label}: selection must be at least 1, got {selection}")
    if hypothesis == "equivalent":
        main = tost_binomial(k, n, p0, margin)
        name = main.name
        above = binomial_test(k, n, min(p0 + margin, 1.0), "greater").p_value if p0 + margin < 1 else 1.0
        below = binomial_test(k, n, max(p0 - margin, 0.0), "less").p_value if p0 - margin > 0 else 1.0
        contradiction, against = min(above, below), f"proportion within {p0:.3g} ± {margin:.3g}"
        means = f"not equivalent: the {1 - 2 * alpha:.0%} interval lies beyond {p0:.3g} ± {margin:.3g}"
        smallest = float(tost_binomial_p(np.arange(n + 1), n, p0, margin).min())
    else:
        main = binomial_test(k, n, p0, hypothesis)
        name = f"exact binomial test, one-sided ({hypothesis}) against p0={p0:.3g}"
        bound = min(max(p0 + (smallest_effect or 0.0), 0.0), 1.0)
        opposite = "less" if hypothesis == "greater" else "greater"
        at_edge = (opposite == "less" and bound == 0.0) or (opposite == "greater" and bound == 1.0)
        contradiction = 1.0 if at_edge else binomial_test(k, n, bound, opposite).p_value
        against = f"proportion {'>=' if hypothesis == 'greater' else '<='} {bound:.3g}"
        means = _contradiction_meaning(smallest_effect or 0.0)
        smallest = smallest_binomial_p(n, p0, hypothesis)
    if selection > 1:
        against = f"{against} for the worst of {selection} (Bonferroni over the selection)"
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
            "unit": unit,
            "hypothesis": hypothesis,
            "k": k,
            "p0": p0,
            "margin": margin,
            "expected_effect": expected_effect,
            "smallest_effect": smallest_effect,
            "selection": selection,
            "effect_ci": [ci[0] - p0, ci[1] - p0],
            "confidence": confidence,
            "p_difference": binomial_test(k, n, p0, "two-sided").p_value,
            "p_contradiction": min(1.0, contradiction * selection),
            "contradiction_null": against,
            "contradiction_means": means,
            "smallest_p": smallest,
            "degenerate": None,
        },
    )
    return judge(comparison, "none", alpha, min_power, alpha)


def bounded_mean_comparison(
    label: str,
    values: Sequence[float],
    bound: float,
    *,
    hypothesis: str,
    alpha: float = 0.05,
    confidence: float = 0.95,
    min_power: float = 0.8,
    n_resamples: int = 2000,
    seed: int = 0,
    unit: str = "queries",
) -> Comparison:
    """Decide whether the mean of per-unit values in [0, 1] (shares) is below ("less") or above
    ("greater") a constant ``bound``.

    A t-test against a constant assumes what bounded, mostly-zero shares are not (at n = 2 it
    says SUPPORTED under the null 14% of the time). Here each unit contributes one seeded
    Bernoulli draw with its value as probability, so the draws are independent Bernoulli(mean)
    whatever the values' distribution, and the exact binomial test of their count against
    ``bound`` is valid at every n. It is honest about small samples: 78 all-zero shares cannot
    show a mean below 0.01 (0.99**78 = 0.46), since one unit in a hundred at 1 would look the same."""
    check_choice(hypothesis, ("greater", "less"), "hypothesis")
    v = np.asarray(values, dtype=float).ravel()
    if v.size < 1 or not np.all(np.isfinite(v)) or v.min() < 0 or v.max() > 1:
        raise ValueError(f"{label}: bounded values must be finite and in [0, 1] (and at least one)")
    if not 0 < bound < 1:
        raise ValueError(f"{label}: the bound must lie strictly between 0 and 1, got {bound}")
    draws = np.random.default_rng(seed).random(v.size) < v
    base = proportion_comparison(label, int(draws.sum()), int(v.size), bound, hypothesis=hypothesis, alpha=alpha,
                                 confidence=confidence, min_power=min_power, unit=unit)
    ci = bootstrap_ci(v, confidence=confidence, n_resamples=n_resamples, seed=seed)
    details = {**base.details, "kind": "bounded", "draws": int(draws.sum()), "seed": seed,
               "effect_ci": [end - bound for end in ci]}
    comparison = replace(
        base, measured=float(v.mean()), effect=float(v.mean() - bound), ci=ci,
        effect_size=cohens_h(float(v.mean()), bound),
        test=f"exact binomial test on one Bernoulli(value) draw per unit, one-sided ({hypothesis}) against {bound:.3g}",
        details=details,
    )
    return judge(comparison, "none", alpha, min_power, alpha)


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
    unit: str = "queries",
) -> Comparison:
    """Decide a hypothesis about two success rates on the same queries (e.g. the share of
    queries a patch moves off rank 1 under two patches) by the exact McNemar test.

    effect = rate(treatment) - rate(control) = (b - c) / n with b the queries where only the
    treatment succeeds and c those where only the control does. The measured CI is Clopper-
    Pearson on the treatment's count; the effect CI is exact conditionally on the b + c
    discordant queries (Clopper-Pearson on b of b + c, mapped to (b - c) / n). The test is
    conditional on the discordant queries, so no effect of interest above 0 can be declared:
    only a significant difference the other way contradicts."""
    check_choice(hypothesis, ("greater", "less", "two-sided"), "hypothesis")
    _check_declaration(hypothesis, None, expected_effect, None)
    x = np.asarray(treatment, dtype=bool).ravel()
    y = np.asarray(control, dtype=bool).ravel()
    if x.shape != y.shape or x.size == 0:
        raise ValueError(f"{label}: paired outcomes must be non-empty and of equal length, got {x.size} and {y.size}")
    n = int(x.size)
    b, c = int(np.sum(x & ~y)), int(np.sum(~x & y))
    m = b + c
    main = mcnemar(b, c, hypothesis)
    difference = mcnemar(b, c, "two-sided")
    if hypothesis == "two-sided":
        contradiction = 1.0
    else:
        contradiction = mcnemar(b, c, "less" if hypothesis == "greater" else "greater").p_value
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
            "unit": unit,
            "hypothesis": hypothesis,
            "k": k,
            "k_control": int(y.sum()),
            "discordant": [b, c],
            "margin": None,
            "expected_effect": expected_effect,
            "smallest_effect": None,
            "effect_ci": effect_ci,
            "confidence": confidence,
            "p_difference": difference.p_value,
            "p_contradiction": contradiction,
            "contradiction_null": None if hypothesis == "two-sided" else "no difference or one the claimed way",
            "contradiction_means": _contradiction_meaning(0.0),
            "smallest_p": min(1.0, (2.0 if hypothesis == "two-sided" else 1.0) * 0.5**m),
            "degenerate": None,
        },
    )
    return judge(comparison, "none", alpha, min_power, alpha)


# --------------------------------------------------------------------------- internals


def _check_declaration(hypothesis: str, margin: float | None, expected_effect: float | None,
                       smallest_effect: float | None) -> None:
    """Reject declarations that the rules cannot use, rather than deciding on a guess."""
    if hypothesis == "equivalent":
        if margin is None or not margin > 0:
            raise ValueError("an equivalence hypothesis needs a positive margin")
        if expected_effect is not None or smallest_effect is not None:
            raise ValueError("equivalence is decided by its margin; declare no expected or smallest effect")
    elif margin is not None:
        raise ValueError(f"a margin is only used by equivalence, not by {hypothesis!r}")
    sign = {"greater": 1, "less": -1}.get(hypothesis)
    if sign is not None and expected_effect is not None and not sign * expected_effect > 0:
        raise ValueError(f"expected effect {expected_effect} contradicts the hypothesis {hypothesis!r}")
    if sign is not None and smallest_effect is not None and not sign * smallest_effect >= 0:
        raise ValueError(f"smallest effect of interest {smallest_effect} contradicts the hypothesis {hypothesis!r}")
    if (smallest_effect is not None and expected_effect is not None
            and abs(smallest_effect) > abs(expected_effect)):
        raise ValueError(f"smallest effect of interest {smallest_effect} exceeds the expected effect {expected_effect}")


def _contradiction_meaning(smallest_effect: float) -> str:
    """What a rejected contradiction test says, in words for the reason."""
    if smallest_effect == 0:
        return "significant effect in the opposite direction"
    return f"effect shown smaller than the smallest of interest ({smallest_effect:+.3g})"


def _pooled_sd(x: np.ndarray, y: np.ndarray) -> float | None:
    """The pooled standard deviation of two samples, None with fewer than 3 values."""
    if x.size + y.size < 3:
        return None
    squares = ((x - x.mean()) ** 2).sum() + ((y - y.mean()) ** 2).sum()
    return float(math.sqrt(squares / (x.size + y.size - 2)))
