"""Per-query data turned into a judged :class:`suite.core.results.Comparison`, one per kind of data.

Each function runs the test of its hypothesis, the two-sided difference test that the
contradiction rules need, the confidence intervals and the effect size, and hands the
result to :func:`suite.core.stats.verdicts.judge` for a family of one.
"""

from __future__ import annotations

import math
from collections.abc import Sequence

import numpy as np
from scipy import stats as sps

from suite.core.results import Comparison, Verdict
from suite.core.stats.choices import HYPOTHESES, TESTS, check_choice
from suite.core.stats.intervals import bootstrap_ci, clopper_pearson
from suite.core.stats.power import cohens_dz, cohens_h
from suite.core.stats.tests import (
    TEST_NAMES,
    binomial_test,
    mcnemar,
    paired_differences,
    paired_test,
    tost_binomial,
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
    randomization test. The verdict follows the package's rules for a family of one; pass
    the claim's comparisons through :func:`~suite.core.stats.corrections.correct_family` to correct
    them together."""
    check_choice(hypothesis, HYPOTHESES, "hypothesis")
    check_choice(test, TESTS, "test")
    _check_declaration(hypothesis, margin, expected_effect)
    x, y = np.asarray(treatment, dtype=float).ravel(), np.asarray(control, dtype=float).ravel()
    d, _ = paired_differences(x, y)
    if d.size < 2:
        raise ValueError(f"{label}: a paired comparison needs at least 2 pairs")
    options = {"n_resamples": n_permutations, "seed": seed}
    difference = paired_test(test, x, y, "two-sided", **options)
    if hypothesis == "equivalent":
        main = tost_paired(x, y, margin, test, **options)
        name = main.name
    elif hypothesis == "two-sided":
        main, name = difference, f"{TEST_NAMES[test]}, two-sided"
    else:
        main = paired_test(test, x, y, hypothesis, **options)
        name = f"{TEST_NAMES[test]}, one-sided ({hypothesis})"
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
    return judge(comparison, "none", alpha, min_power, alpha)


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
    check_choice(hypothesis, ("greater", "less", "two-sided"), "hypothesis")
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
    alpha: float = 0.05,
    confidence: float = 0.95,
    min_power: float = 0.8,
) -> Comparison:
    """Decide a hypothesis about a proportion of queries, k of n, against p0 by exact
    binomial tests ("greater", "less" or "equivalent" within +-margin); ``expected_effect``
    is the expected difference in proportion, p - p0."""
    check_choice(hypothesis, ("greater", "less", "equivalent"), "hypothesis")
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
) -> Comparison:
    """Decide a hypothesis about two success rates on the same queries (e.g. the share of
    queries a patch moves off rank 1 under two patches) by the exact McNemar test.

    effect = rate(treatment) - rate(control) = (b - c) / n with b the queries where only the
    treatment succeeds and c those where only the control does. The measured CI is Clopper-
    Pearson on the treatment's count; the effect CI is exact conditionally on the b + c
    discordant queries (Clopper-Pearson on b of b + c, mapped to (b - c) / n)."""
    check_choice(hypothesis, ("greater", "less", "two-sided"), "hypothesis")
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
    return judge(comparison, "none", alpha, min_power, alpha)


# --------------------------------------------------------------------------- internals


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


def _pooled_sd(x: np.ndarray, y: np.ndarray) -> float | None:
    """The pooled standard deviation of two samples, None with fewer than 3 values."""
    if x.size + y.size < 3:
        return None
    squares = ((x - x.mean()) ** 2).sum() + ((y - y.mean()) ** 2).sum()
    return float(math.sqrt(squares / (x.size + y.size - 2)))
