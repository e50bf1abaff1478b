"""Per-query data turned into a judged :class:`ranker_claims.core.results.Comparison`, one per kind of data.

Each function runs the test of its hypothesis, the two-sided difference test that the
contradiction rules need, the confidence intervals and the effect size, and hands the
result to :func:`ranker_claims.core.stats.verdicts.judge` for a family of one.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import replace
from typing import Any, cast

import numpy as np
from numpy.typing import ArrayLike
from scipy import stats as sps

from ranker_claims.core.results import Comparison, InsufficientData, Verdict
from ranker_claims.core.stats.betting import betting_ci
from ranker_claims.core.stats.choices import HYPOTHESES, TESTS, check_choice
from ranker_claims.core.stats.intervals import bootstrap_ci, clopper_pearson
from ranker_claims.core.stats.paired import (
    CHECKED_FROM,
    DECIDING_NAMES,
    RESAMPLES,
    PairedDecision,
    PairedDeclaration,
    decide_paired,
)
from ranker_claims.core.stats.power import cohens_dz, cohens_h
from ranker_claims.core.stats.tests import (
    binomial_test,
    mann_whitney,
    mcnemar,
    paired_differences,
    smallest_binomial_p,
    smallest_mann_whitney_p,
    tost_binomial,
    tost_binomial_p,
)
from ranker_claims.core.stats.verdicts import judge


def paired_comparison(
    label: str,
    treatment: ArrayLike,
    control: ArrayLike | float,
    *,
    hypothesis: str,
    margin: float | None = None,
    expected_effect: float | None = None,
    smallest_effect: float | None = None,
    bounds: tuple[float, float] | None = None,
    test: str = "t",
    alpha: float = 0.05,
    confidence: float = 0.95,
    min_power: float = 0.8,
    n_resamples: int = 2000,
    n_permutations: int = 10_000,
    seed: int = 0,
    unit: str = "queries",
) -> Comparison:
    """Decide one hypothesis about effect = mean(treatment - control) over paired queries (a scalar
    control: a constant every treatment value is compared with).

    ``margin`` is required for, and only for, "equivalent"; ``expected_effect`` (the paper's
    effect, signed) sets the power reported; ``smallest_effect`` (signed as the hypothesis;
    for "two-sided" its size) is the smallest effect of interest, below which the claim is
    contradicted (see the package docstring). ``bounds`` is the range every value lies in
    (nDCG: (0, 1)); with it a test valid for every distribution on that range can decide, and
    without it nothing is decided below CHECKED_FROM pairs. ``test`` is the session's test,
    which decides where it holds its level on the data's own shape (:mod:`.paired`).
    ``n_resamples`` is the number of bootstrap resamples of the intervals shown where no range is
    declared, ``n_permutations`` that of the randomization test. The verdict follows the
    package's rules for a family of one; pass the claim's comparisons through
    :func:`~ranker_claims.core.stats.corrections.correct_family` to correct them together."""
    check_choice(hypothesis, HYPOTHESES, "hypothesis")
    check_choice(test, TESTS, "test")
    _check_declaration(hypothesis, margin, expected_effect, smallest_effect)
    x = np.asarray(treatment, dtype=float).ravel()
    constant = np.ndim(control) == 0
    y = np.full(x.shape, float(cast(float, control))) if constant else np.asarray(control, dtype=float).ravel()
    if x.size < 2:
        raise InsufficientData(f"{label}: n = {x.size} {unit} to pair (a paired comparison needs at least 2)")
    d, _ = paired_differences(x, y)
    n = int(d.size)
    ranges = None if bounds is None else difference_bounds(label, x, y, bounds, constant=constant)
    declared = PairedDeclaration(hypothesis, margin, smallest_effect, ranges)
    decision = decide_paired(d[None, :], declared, test=test, alpha=alpha, n_permutations=n_permutations)
    support_test, contradiction_test = str(decision.support_test[0]), str(decision.contradiction_test[0])
    against: str | None
    means: str | None
    if hypothesis == "equivalent":
        against = f"effect within ±{margin:.3g}"
        means = f"not equivalent: the {1 - 2 * alpha:.0%} interval lies beyond ±{margin:.3g}"
        sided = f"TOST, margin ±{margin:.3g}"
    elif hypothesis == "two-sided":
        size = abs(smallest_effect) if smallest_effect else None
        against = f"|effect| >= {size:.3g}" if size else None
        means = f"no difference of interest: |effect| shown below {size:.3g}" if size else None
        sided = "two-sided"
    else:
        delta = smallest_effect or 0.0
        against = f"effect {'>=' if hypothesis == 'greater' else '<='} {delta:+.3g}"
        means = _contradiction_meaning(delta)
        sided = f"one-sided ({hypothesis})"
    name = f"{DECIDING_NAMES[support_test]}, {sided}"
    if ranges is not None and "betting" in (support_test, contradiction_test):
        assert bounds is not None  # ranges are derived from them
        name += f" (values on [{bounds[0]:g}, {bounds[1]:g}])"
    if against and contradiction_test != support_test:
        name += f"; contradiction by the {DECIDING_NAMES[contradiction_test]}"
    if ranges is not None:
        assert bounds is not None  # ranges are derived from them
        effect_ci = betting_ci(d, *ranges, confidence)
        treatment_ci = betting_ci(x, *bounds, confidence)
    else:
        effect_ci = bootstrap_ci(d, confidence=confidence, n_resamples=n_resamples, seed=seed)
        treatment_ci = bootstrap_ci(x, confidence=confidence, n_resamples=n_resamples, seed=seed)
    comparison = Comparison(
        label=label,
        measured=float(x.mean()),
        ci=treatment_ci,
        reference=float(y.mean()),
        effect=float(d.mean()),
        effect_size=cohens_dz(d),
        effect_size_name="Cohen's d_z",
        test=name,
        p_value=float(decision.support[0]),
        p_corrected=float(decision.support[0]),
        n=n,
        power=None,
        verdict=Verdict.INCONCLUSIVE,
        reason="",
        details={
            "kind": "paired",
            "unit": unit,
            "hypothesis": hypothesis,
            "test": support_test,
            "tests": {"session": test, "support": support_test, "contradiction": contradiction_test},
            "bounds": None if ranges is None else list(ranges),
            "margin": margin,
            "expected_effect": expected_effect,
            "smallest_effect": smallest_effect,
            "sd_diff": float(d.std(ddof=1)),
            "effect_ci": list(effect_ci),
            "interval": "betting" if ranges is not None else "bootstrap percentile",
            "confidence": confidence,
            "p_difference": float(decision.difference[0]),
            "p_contradiction": float(decision.contradiction[0]),
            "contradiction_null": against,
            "contradiction_means": means,
            "smallest_p": float(decision.smallest[0]),
            "shape_check": _shape_check(test, decision, n),
            "untestable": None if support_test != "none" else (
                "no test decides a mean of values without a declared range unless at least "
                f"{CHECKED_FROM} differ from the most common one and the {DECIDING_NAMES[test]} holds its level "
                "on their shape"),
        },
    )
    return judge(comparison, "none", alpha, min_power, alpha)


def difference_bounds(label: str, treatment: np.ndarray, control: np.ndarray, bounds: tuple[float, float], *,
                      constant: bool = False) -> tuple[float, float]:
    """The range of treatment - control when every value lies in ``bounds``: against a control
    declared constant (a scalar) c, [low - c, high - c]; otherwise [low - high, high - low], even
    where the control's values happen to be equal: a range must hold before the data are seen."""
    low, high = (float(b) for b in bounds)
    if not high > low:
        raise ValueError(f"{label}: a range needs low < high, got {bounds}")
    slack = 1e-9 * max(abs(low), abs(high), 1.0)
    for arm, values in (("treatment", treatment), ("control", control)):
        if values.min() < low - slack or values.max() > high + slack:
            raise ValueError(f"{label}: {arm} values span [{values.min():.6g}, {values.max():.6g}], "
                             f"outside the declared range [{low:g}, {high:g}]")
    if constant:
        return low - float(control[0]), high - float(control[0])
    return low - high, high - low


def _shape_check(test: str, decision: PairedDecision, n: int) -> dict | None:
    """The session test's false rates on the comparison's own shape, as the run stores them."""
    if not decision.shape_rates:
        return None
    rates = {alternative: float(r[0]) for alternative, r in decision.shape_rates.items()}
    return {"test": test, "resamples": RESAMPLES, "limit": decision.limit, "rates": rates,
            "failed": sorted(a for a, r in rates.items() if r > decision.limit)}


def independent_comparison(
    label: str,
    treatment: ArrayLike,
    control: ArrayLike,
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
    # Sampled splits (beyond 20,000) come from a fixed stream: no verdict depends on the session's seed.
    main = mann_whitney(x, y, hypothesis)
    difference = mann_whitney(x, y, "two-sided")
    if hypothesis == "two-sided":
        contradiction = 1.0
    else:
        contradiction = mann_whitney(x, y, "less" if hypothesis == "greater" else "greater").p_value
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
        assert margin is not None  # _check_declaration requires it
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
        },
    )
    return judge(comparison, "none", alpha, min_power, alpha)


def bounded_mean_comparison(
    label: str,
    values: ArrayLike,
    bound: float,
    *,
    hypothesis: str,
    alpha: float = 0.05,
    confidence: float = 0.95,
    min_power: float = 0.8,
    unit: str = "queries",
) -> Comparison:
    """Decide whether the mean of per-unit values in [0, 1] (shares) is below ("less") or above
    ("greater") a constant ``bound``, by the betting test alone: valid at every n for every
    distribution of shares. Shares are mostly zero with a few large values, the shape on which a
    t-test errs and which the shape check cannot see (:mod:`.paired`), so the session's test is
    not used. Nothing is drawn at random: the verdict is a function of the values. It is honest
    about small samples: 78 all-zero shares cannot show a mean far below a bound, since a few
    units at 1 would look the same."""
    check_choice(hypothesis, ("greater", "less"), "hypothesis")
    v = np.asarray(values, dtype=float).ravel()
    if v.size < 2 or not np.all(np.isfinite(v)) or v.min() < 0 or v.max() > 1:
        raise ValueError(f"{label}: bounded values must be finite and in [0, 1] (and at least two)")
    if not 0 < bound < 1:
        raise ValueError(f"{label}: the bound must lie strictly between 0 and 1, got {bound}")
    base = paired_comparison(label, v, float(bound), hypothesis=hypothesis, bounds=(0.0, 1.0),
                             test="betting", alpha=alpha, confidence=confidence, min_power=min_power, unit=unit)
    comparison = replace(base, effect_size=cohens_h(float(v.mean()), bound), effect_size_name="Cohen's h",
                         details={**base.details, "kind": "bounded", "p0": bound})
    return judge(comparison, "none", alpha, min_power, alpha)


def mcnemar_comparison(
    label: str,
    treatment: ArrayLike,
    control: ArrayLike,
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


def mcnemar_against_each(
    label: str,
    treatment: ArrayLike,
    controls: Sequence[ArrayLike],
    *,
    hypothesis: str,
    names: Sequence[str] | None = None,
    expected_effect: float | None = None,
    alpha: float = 0.05,
    confidence: float = 0.95,
    min_power: float = 0.8,
    unit: str = "queries",
) -> Comparison:
    """Decide whether the treatment's success rate exceeds ("greater") or falls below ("less") that of
    EVERY one of several controls on the same queries (e.g. a whole stage patched against each of its
    layers patched alone), by one exact McNemar test per control.

    Support is an intersection-union test: every control must be beaten, so the support p-value is
    the largest of the per-control one-sided p-values, and no correction is needed. Contradiction is
    "some control significantly beyond the treatment": the smallest of the per-control opposite-side
    p-values times the number of controls (Bonferroni, capped at 1). Testing only the control the
    data make the most extreme (the worst layer), as if it had been named in advance, would
    contradict far above alpha where all are equal in truth.

    The comparison shows one control, the *binding* one: the control with the largest support
    p-value, or, where the contradiction test is the nearer to rejecting, the control with the
    smallest opposite-side p-value; its rate is the reference and the effect is (b - c) / n against
    it, so that a decided verdict and the effect's sign agree. ``details`` name it, the selection
    (the number of controls) and every control's discordant counts and p-values."""
    check_choice(hypothesis, ("greater", "less"), "hypothesis")
    _check_declaration(hypothesis, None, expected_effect, None)
    x = np.asarray(treatment, dtype=bool).ravel()
    ys = [np.asarray(y, dtype=bool).ravel() for y in controls]
    if not ys:
        raise ValueError(f"{label}: needs at least one control")
    if x.size == 0 or any(y.shape != x.shape for y in ys):
        raise ValueError(f"{label}: paired outcomes must be non-empty and of equal length, got {x.size} and "
                         f"{sorted({y.size for y in ys})}")
    names = [f"control {i}" for i in range(len(ys))] if names is None else [str(name) for name in names]
    if len(names) != len(ys):
        raise ValueError(f"{label}: {len(names)} names for {len(ys)} controls")
    n, m_controls = int(x.size), len(ys)
    opposite = "less" if hypothesis == "greater" else "greater"
    sign = 1 if hypothesis == "greater" else -1
    rows: list[dict[str, Any]] = []
    for name, y in zip(names, ys):
        b, c = int(np.sum(x & ~y)), int(np.sum(~x & y))
        rows.append({"control": name, "k": int(y.sum()), "discordant": [b, c],
                     "p": mcnemar(b, c, hypothesis).p_value, "p_opposite": mcnemar(b, c, opposite).p_value,
                     "p_two_sided": mcnemar(b, c, "two-sided").p_value})
    signed = [sign * (r["discordant"][0] - r["discordant"][1]) for r in rows]
    support = max(r["p"] for r in rows)
    contradiction = min(1.0, m_controls * min(r["p_opposite"] for r in rows))
    difference = min(1.0, m_controls * min(r["p_two_sided"] for r in rows))
    # Ties go to the control nearest the contradiction (the smallest signed effect).
    by_support = max(range(m_controls), key=lambda i: (rows[i]["p"], -signed[i]))
    by_contradiction = min(range(m_controls), key=lambda i: (rows[i]["p_opposite"], signed[i]))
    binding = by_contradiction if contradiction < support else by_support
    b, c = rows[binding]["discordant"]
    m = b + c
    if m:
        low, high = clopper_pearson(b, m, confidence)
        effect_ci = [m / n * (2 * low - 1), m / n * (2 * high - 1)]
    else:
        effect_ci = [0.0, 0.0]
    k, k_control = int(x.sum()), rows[binding]["k"]
    comparison = Comparison(
        label=label,
        measured=k / n,
        ci=clopper_pearson(k, n, confidence),
        reference=k_control / n,
        effect=(b - c) / n,
        effect_size=cohens_h(k / n, k_control / n),
        effect_size_name="Cohen's h",
        test=(f"exact McNemar test against each of {m_controls} controls, one-sided ({hypothesis}): the largest "
              f"p-value (intersection-union); contradiction Bonferroni over the {m_controls}"),
        p_value=support,
        p_corrected=support,
        n=n,
        power=None,
        verdict=Verdict.INCONCLUSIVE,
        reason="",
        details={
            "kind": "mcnemar",
            "unit": unit,
            "hypothesis": hypothesis,
            "k": k,
            "k_control": k_control,
            "discordant": [b, c],
            "against_each": True,
            "selection": m_controls,
            "binding": names[binding],
            "binding_support": names[by_support],
            "binding_contradiction": names[by_contradiction],
            "controls": rows,
            "margin": None,
            "expected_effect": expected_effect,
            "smallest_effect": None,
            "effect_ci": effect_ci,
            "confidence": confidence,
            "p_difference": difference,
            "p_contradiction": contradiction,
            "contradiction_null": (f"no difference or one the claimed way against each of the {m_controls} controls "
                                   f"(Bonferroni over them; the nearest: {names[by_contradiction]})"),
            "contradiction_means": f"significant effect in the opposite direction against {names[by_contradiction]}",
            # The support p-value is the largest of the per-control ones, each at least 2**-m there.
            "smallest_p": max(0.5 ** sum(r["discordant"]) for r in rows),
        },
    )
    return judge(comparison, "none", alpha, min_power, alpha)


def stratified_comparison(
    label: str,
    treatment: ArrayLike,
    control: ArrayLike,
    strata_treatment: ArrayLike,
    strata_control: ArrayLike,
    *,
    hypothesis: str,
    alpha: float = 0.05,
    confidence: float = 0.95,
    min_power: float = 0.8,
    n_resamples: int = 2000,
    seed: int = 0,
    unit: str = "heads",
    stratum: str = "stratum",
) -> Comparison:
    """Decide a hypothesis about two unpaired samples compared within strata (heads within their
    layers) by van Elteren's stratified rank-sum test (:func:`~.tests.stratified_rank_sum_tests`):
    a trend across strata, with the treatment sitting in some of them, cannot make it reject.
    Strata with no treatment or no control value carry no information and drop out; ``details``
    list both kinds (``strata``, ``dropped_strata``), ``stratum`` names a stratum in words.

    The effect is the stratified Hodges-Lehmann shift: the weighted median of the within-stratum
    pairwise differences x_i - y_j, each weighted 1/(N_l + 1) as the statistic weights it, i.e.
    the common within-stratum shift at which the statistic sits at its null centre (with one
    stratum, the Mann-Whitney comparison's shift). Its sign is that of the test's statistic (a
    weighted mean of per-stratum shifts could disagree with it). The effect size is the stratified
    rank-biserial r = sum_l w_l r_l / sum_l w_l, w_l = k_l m_l / (N_l + 1), a linear function of
    the statistic. ``measured`` is the treatment's mean, ``reference`` the control's mean
    re-weighted to the treatment's strata (sum_l k_l mean(y_l) / sum_l k_l); their difference, the
    strata's mean differences weighted by k_l, is ``details["mean_difference"]``. The p-values
    use a fixed seed where they sample (never ``seed``, which only seeds the displayed interval).
    No effect of interest is declared: only a significant shift the other way contradicts."""
    from ranker_claims.core.stats.tests import (
        STRATIFIED_RESAMPLES,
        STRATIFIED_SEED,
        smallest_stratified_p,
        strata_of,
        stratified_rank_sum_tests,
    )

    check_choice(hypothesis, ("greater", "less", "two-sided"), "hypothesis")
    informative, dropped = strata_of(treatment, control, strata_treatment, strata_control)
    if not informative:
        raise ValueError(f"{label}: no {stratum} has both treatment and control values, so nothing is compared")
    tests = stratified_rank_sum_tests(treatment, control, strata_treatment, strata_control)
    main, difference = tests[hypothesis], tests["two-sided"]
    contradiction = 1.0 if hypothesis == "two-sided" else tests["less" if hypothesis == "greater" else "greater"].p_value
    sizes = [(int(s.x.size), int(s.y.size)) for s in informative]
    weights = [1.0 / (k + m + 1) for k, m in sizes]
    pairs = [np.subtract.outer(s.x, s.y).ravel() for s in informative]
    shift = _weighted_median(np.concatenate(pairs), np.concatenate([np.full(d.size, w) for d, w in zip(pairs, weights)]))
    centre = sum(k for k, _ in sizes) / 2.0
    rank_biserial = 2.0 * (main.statistic - centre) / sum(k * m * w for (k, m), w in zip(sizes, weights))
    x = np.concatenate([s.x for s in informative])
    treated = sum(k for k, _ in sizes)
    reference = float(sum(k * s.y.mean() for (k, _), s in zip(sizes, informative)) / treated)
    rows = []
    for s, d in zip(informative, pairs):
        u = float(np.sum(d > 0) + 0.5 * np.sum(d == 0))
        rows.append({stratum: s.label, "treatment": int(s.x.size), "control": int(s.y.size),
                     "shift": float(np.median(d)), "mean_difference": float(s.x.mean() - s.y.mean()),
                     "rank_biserial": 2.0 * u / d.size - 1.0})
    splits = math.prod(math.comb(k + m, k) for k, m in sizes)
    exact = splits <= STRATIFIED_RESAMPLES
    dropped_rows = [{stratum: s.label, "treatment": int(s.x.size), "control": int(s.y.size)} for s in dropped]
    note = None
    if dropped:
        names = ", ".join(str(s.label) for s in dropped)
        note = (f"{len(dropped)} {stratum}(s) with no treatment or no control value carry no information and are left "
                f"out: {names}")
    sided = "two-sided" if hypothesis == "two-sided" else f"one-sided ({hypothesis})"
    comparison = Comparison(
        label=label,
        measured=float(x.mean()),
        ci=bootstrap_ci(x, confidence=confidence, n_resamples=n_resamples, seed=seed),
        reference=reference,
        effect=shift,
        effect_size=float(rank_biserial),
        effect_size_name="stratified rank-biserial r",
        test=f"{main.name} within {stratum}s, {sided}",
        p_value=main.p_value,
        p_corrected=main.p_value,
        n=int(x.size + sum(m for _, m in sizes)),
        power=None,
        verdict=Verdict.INCONCLUSIVE,
        reason="",
        details={
            "kind": "stratified",
            "unit": unit,
            "hypothesis": hypothesis,
            "test": "van-elteren",
            "margin": None,
            "expected_effect": None,
            "smallest_effect": None,
            "stratum": stratum,
            "sizes": [treated, int(sum(m for _, m in sizes))],
            "strata": rows,
            "dropped_strata": dropped_rows,
            "dropped_note": note,
            "statistic": main.statistic,
            "statistic_centre": centre,
            "mean_difference": float(x.mean()) - reference,
            "exact": exact,
            "permutations": int(splits) if exact else STRATIFIED_RESAMPLES,
            "permutation_seed": None if exact else STRATIFIED_SEED,
            "confidence": confidence,
            "p_difference": difference.p_value,
            "p_contradiction": contradiction,
            "contradiction_null": (None if hypothesis == "two-sided"
                                   else f"no shift within {stratum}s or a shift the claimed way"),
            "contradiction_means": _contradiction_meaning(0.0),
            "smallest_p": smallest_stratified_p(sizes, hypothesis),
        },
    )
    return judge(comparison, "none", alpha, min_power, alpha)


def _weighted_median(values: np.ndarray, weights: np.ndarray) -> float:
    """The median of ``values`` under positive ``weights``: the smallest value whose cumulative weight
    reaches half, averaged with the next where it reaches half exactly (equal weights: np.median)."""
    order = np.argsort(values, kind="stable")
    v, cumulative = values[order], np.cumsum(weights[order])
    half = cumulative[-1] / 2.0
    i = int(np.searchsorted(cumulative, half * (1 - 1e-12)))
    if abs(cumulative[i] - half) <= 1e-12 * cumulative[-1] and i + 1 < v.size:
        return float((v[i] + v[i + 1]) / 2.0)
    return float(v[i])
