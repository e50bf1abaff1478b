"""Simulations that check the instruments: how often each kind of decision says SUPPORTED where
its null holds and CONTRADICTED where its claim holds, and the analytic power against simulation.

A cell of the calibration (decision x data x verdict x n) is the largest rate over the truths
simulated for it: the boundary of the null (where a correct test is least conservative) and a
point inside it (where a test run the wrong way round rejects most). Its limit is alpha plus three
Monte-Carlo standard errors.

The comparison functions also compute intervals and power for the report, which makes thousands
of them per cell too slow. So each decision's p-values are computed here vectorised, by the same
tests, and every verdict is taken by :func:`~.verdicts.judge` (a family: by
:func:`~.corrections.correct_family` and :func:`~.verdicts.family_verdict`) with
``describe=False``. An audit then runs the real comparison function on the simulated data sets
whose p-values lie nearest the level and requires its verdict to be the same: a comparison
function that tests the wrong side, skips a correction or doubles a level fails its cell even
where the shortcut's rates would pass.
"""

from __future__ import annotations

import itertools
import math
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from typing import Any

import numpy as np
from scipy import stats as sps

from ranker_claims.core.results import Comparison, Verdict
from ranker_claims.core.stats import comparisons
from ranker_claims.core.stats.choices import DECISIONS, check_choice
from ranker_claims.core.stats.corrections import correct_family
from ranker_claims.core.stats.paired import PairedDeclaration, decide_paired
from ranker_claims.core.stats.power import power_paired_test
from ranker_claims.core.stats.tests import (
    paired_p_values,
    smallest_binomial_p,
    smallest_mann_whitney_p,
    tost_binomial_p,
)
from ranker_claims.core.stats.verdicts import family_verdict, judge

# The small samples every decision is calibrated at, beside the n the claims have.
SMALL_N = (2, 3, 5, 10)
# Sign vectors of a sampled randomization test, in the shortcut and in the audited comparison alike.
N_PERMUTATIONS = 999
# Splits of mann_whitney beyond which it samples (its default), and the size of a sampled one.
_MW_SPLITS = 20_000
# A binary "unit" of effect: paired 0/1 outcomes have control rate 0.5 and treatment rate 0.5 + 0.4 e.
_BINARY_UNIT = 0.4


@dataclass(frozen=True)
class Decision:
    """A kind of decision the claims take, as calibrated: its declaration, its data kinds, and
    the truths where SUPPORTED (``null``) and CONTRADICTED (``true``) are errors; the first of
    each is the boundary. Truths are effects in sd units (paired), proportions, discordance
    rates (McNemar), shifts (Mann-Whitney), means (bounded) or one per member (families)."""

    name: str
    label: str
    data: tuple[str, ...]
    null: tuple[Any, ...]
    true: tuple[Any, ...]
    declared: dict[str, Any] = field(default_factory=dict)


# The data kinds of the paired decisions: symmetric (normal, a gamma shift model), discrete (0/1
# outcomes), and asymmetric (see _paired_data), on which the t-test alone fails its level.
ASYMMETRIC = ("exponential", "exponential-mirror", "zero-tail", "zero-tail-mirror")
_PAIRED_KINDS = ("normal", "skewed", "binary", *ASYMMETRIC)

CALIBRATED: dict[str, Decision] = {d.name: d for d in (
    Decision("superiority", "paired, one-sided (greater), no smallest effect", _PAIRED_KINDS,
             null=(0.0, -0.5), true=(0.0, 0.5), declared={"hypothesis": "greater"}),
    Decision("superiority-smallest", "paired, one-sided (greater), smallest effect 0.5 sd", _PAIRED_KINDS, null=(0.0, -0.5), true=(0.5, 1.0),
             declared={"hypothesis": "greater", "smallest_effect": 0.5}),
    Decision("difference", "paired, two-sided, smallest effect 0.5 sd", _PAIRED_KINDS,
             null=(0.0,), true=(0.5, -0.5), declared={"hypothesis": "two-sided", "smallest_effect": 0.5}),
    Decision("equivalence", "paired TOST, margin ±0.5 sd", _PAIRED_KINDS,
             null=(0.5, -0.5), true=(0.5, -0.5, 0.0), declared={"hypothesis": "equivalent", "margin": 0.5}),
    Decision("proportion", "exact binomial, one-sided (greater) against 0.3, smallest effect 0.1", ("binary",),
             null=(0.3, 0.2), true=(0.4, 0.5), declared={"hypothesis": "greater", "p0": 0.3, "smallest_effect": 0.1}),
    Decision("proportion-equivalence", "exact binomial TOST, 0.5 ± 0.1", ("binary",),
             null=(0.6, 0.4), true=(0.6, 0.4, 0.5), declared={"hypothesis": "equivalent", "p0": 0.5, "margin": 0.1}),
    Decision("worst-of-L", "worst of 6 layers' shares below 0.15 (exact binomial, selection 6)", ("binary",),
             null=((0.15,) * 6, (0.15,) + (0.0,) * 5), true=((0.15,) * 6,),
             declared={"hypothesis": "less", "p0": 0.15, "selection": 6}),
    Decision("bounded", "bounded shares below 0.05 (betting on [0, 1])", ("rare-ones", "zero-inflated-beta"),
             null=(0.05, 0.075), true=(0.05, 0.025), declared={"hypothesis": "less", "bound": 0.05}),
    Decision("mcnemar", "exact McNemar, one-sided (greater)", ("binary",),
             null=((0.2, 0.2), (0.1, 0.3)), true=((0.2, 0.2), (0.3, 0.1)), declared={"hypothesis": "greater"}),
    Decision("mann-whitney", "exact Mann-Whitney, one-sided (greater)", ("depths", "normal"),
             null=(0.0, -1.0), true=(0.0, 1.0), declared={"hypothesis": "greater"}),
    Decision("screen", "screen of 8 heads, one-sided (greater), requires any, corrected", ("normal", "binary"),
             null=((0.0,) * 8,), true=((0.0,) + (-1.25,) * 7,), declared={"hypothesis": "greater", "require": "any"}),
    Decision("family", "claim of 4 one-sided comparisons (smallest effect 0.5 sd), requires all", ("normal", "binary"),
             null=((0.0,) + (1.25,) * 3,), true=((0.5,) * 4,),
             declared={"hypothesis": "greater", "smallest_effect": 0.5, "require": "all"}),
)}
assert tuple(CALIBRATED) == DECISIONS


@dataclass(frozen=True)
class CalibrationResult:
    """The rate of one verdict where it is an error, against alpha + 3 Monte-Carlo standard errors;
    ``truth`` is where the rate was largest, ``mismatches`` the audited data sets on which the real
    comparison function decided otherwise than the shortcut (any fails the cell)."""

    decision: str
    data: str
    verdict: str
    n: int | tuple[int, int]
    n_sims: int
    alpha: float
    rate: float
    mc_error: float
    limit: float
    truth: str
    audited: int
    mismatches: int
    passed: bool


@dataclass(frozen=True)
class PowerResult:
    """Power of the deciding test against the simulated rejection rate, within 3 Monte-Carlo s.e."""

    decision: str
    n_sims: int
    n: int
    alpha: float
    effect: float
    analytic: float
    simulated: float
    mc_error: float
    passed: bool


def simulate_verdict_rate(
    decision: str | Decision,
    data: str,
    n: int | tuple[int, int],
    *,
    n_sims: int = 1000,
    alpha: float = 0.05,
    seed: int = 0,
    test: str = "t",
    correction: str = "holm",
    audit: int = 1,
) -> tuple[CalibrationResult, CalibrationResult]:
    """The SUPPORTED rate under the decision's null and the CONTRADICTED rate with its claim true,
    each the largest over the decision's truths, over ``n_sims`` seeded data sets of ``n`` (two
    sample sizes for Mann-Whitney). ``test`` and ``correction`` are the session's; no decision
    draws from ``seed``, which only draws the data. ``audit``: data sets per test and truth re-decided by the real comparison function."""
    spec = decision if isinstance(decision, Decision) else CALIBRATED[_checked(decision)]
    if data not in spec.data:
        raise ValueError(f"{spec.name} is calibrated on {', '.join(spec.data)} data, not {data!r}")
    context = _Context(alpha, test, correction, seed)
    rng = np.random.default_rng([seed, *map(ord, f"{spec.name}/{data}/{n}")])
    boundaries = (spec.null[0], spec.true[0])
    cache: dict[Any, str] = {}  # the real functions' verdicts by data set (count data: by count)
    outcomes = {truth: _simulate(spec, data, truth, n, n_sims, rng, context, audit if truth in boundaries else 0, cache)
                for truth in dict.fromkeys(spec.null + spec.true)}
    results = []
    for verdict, truths in ((Verdict.SUPPORTED, spec.null), (Verdict.CONTRADICTED, spec.true)):
        rates = {truth: float(np.mean(outcomes[truth].verdicts == verdict.value)) for truth in truths}
        worst = max(truths, key=lambda truth: rates[truth])
        audited = sum(outcomes[truth].audited for truth in truths)
        mismatches = sum(outcomes[truth].mismatches for truth in truths)
        sims, rate = n_sims, rates[worst]
        if rate > _limit(alpha, sims):
            # A table of some 200 cells, each at alpha + 3 s.e., would fail one by chance in a few
            # runs: a cell over its limit is simulated RETRY times as long with fresh data, and
            # judged on all of it against the limit of that many simulations.
            fresh = np.random.default_rng([seed, 1, *rng.integers(2**31, size=2)])
            more = _simulate(spec, data, worst, n, RETRY * n_sims, fresh, context, 0, cache)
            sims = (1 + RETRY) * n_sims
            rate = (rate * n_sims + float(np.sum(more.verdicts == verdict.value))) / sims
        limit = _limit(alpha, sims)
        results.append(CalibrationResult(
            spec.name, data, verdict.value, n, sims, alpha, rate, math.sqrt(alpha * (1 - alpha) / sims), limit,
            _describe(spec, data, worst), audited, mismatches, rate <= limit and mismatches == 0))
    return results[0], results[1]


# A cell over its limit is simulated this many times as long again before it fails.
RETRY = 4


def _limit(alpha: float, n_sims: int) -> float:
    """alpha plus three Monte-Carlo standard errors of a rate at alpha over ``n_sims`` simulations."""
    return alpha + 3 * math.sqrt(alpha * (1 - alpha) / n_sims)


def simulate_power(
    decision: str = "superiority",
    effect: float = 0.05,
    sd: float = 0.1,
    n: int = 20,
    alpha: float = 0.05,
    n_sims: int = 4000,
    seed: int = 0,
    *,
    test: str = "t",
    margin: float = 0.05,
    alternative: str = "greater",
) -> PowerResult:
    """Simulated rejection rate of the paired test that decides at n ("superiority", one
    ``alternative``) or of its TOST ("equivalence", true effect ``effect``) against
    :func:`~.power.power_paired_test`, for normal differences of mean ``effect`` and sd ``sd``.
    The t-test's power is analytic; the others' is itself simulated (400 draws), whose error
    enters the allowed difference."""
    check_choice(decision, ("superiority", "equivalence"), "decision")
    used = test
    diffs = np.random.default_rng(seed).normal(effect, sd, size=(n_sims, n))
    if decision == "superiority":
        analytic = power_paired_test(used, effect, sd, n, alpha, alternative)
        rejected = paired_p_values(used, diffs, alternative, N_PERMUTATIONS) < alpha
    else:
        analytic = power_paired_test(used, effect, sd, n, alpha, margin=margin)
        above_lower = paired_p_values(used, diffs + margin, "greater", N_PERMUTATIONS)
        below_upper = paired_p_values(used, diffs - margin, "less", N_PERMUTATIONS)
        rejected = np.maximum(above_lower, below_upper) < alpha
    simulated = float(np.mean(rejected))
    draws = 1 / n_sims + (0 if used == "t" else 1 / 400)
    mc_error = math.sqrt(max(analytic * (1 - analytic), 1e-12) * draws)
    passed = abs(simulated - analytic) <= 3 * mc_error
    return PowerResult(decision, n_sims, n, alpha, effect, analytic, simulated, mc_error, passed)


# --------------------------------------------------------------------------- internals


@dataclass(frozen=True)
class _Context:
    alpha: float
    test: str
    correction: str
    seed: int
    min_power: float = 0.8


@dataclass(frozen=True)
class _Outcome:
    verdicts: np.ndarray  # the verdict's value per data set
    audited: int
    mismatches: int


def _checked(name: str) -> str:
    check_choice(name, DECISIONS, "decision")
    return name


def _simulate(spec: Decision, data: str, truth: Any, n: Any, n_sims: int, rng: np.random.Generator,
              context: _Context, audit: int, cache: dict[Any, str]) -> _Outcome:
    """One truth's data sets decided by the shortcut; then, per test, the ``audit`` data sets whose
    p-values lie nearest alpha on each side re-decided by the real functions."""
    members, real, key = _SIMULATORS[spec.name](spec, data, truth, n, n_sims, rng, context)
    require = spec.declared.get("require")
    if require is None:
        decided = [judge(c, "none", context.alpha, context.min_power, context.alpha, describe=False) for c in members]
        verdicts = np.array([c.verdict.value for c in decided])
        p_support = np.array([c.p_value for c in decided])
        p_contradiction = np.array([c.details["p_contradiction"] for c in decided])
    else:
        m = len(members) // n_sims
        families = [members[i * m:(i + 1) * m] for i in range(n_sims)]
        verdicts = np.array([_family(family, require, context, describe=False) for family in families])
        p_support = np.array([min(c.p_value for c in family) for family in families])
        pick = max if require == "any" else min
        p_contradiction = np.array([pick(c.details["p_contradiction"] for c in family) for family in families])
    chosen: dict[Any, int] = {}
    for p in (p_support, p_contradiction):
        for side in (p < context.alpha, p >= context.alpha):
            closeness = np.where(side, np.abs(np.log(np.maximum(p, 1e-300) / context.alpha)), np.inf)
            picked = 0
            for i in np.argsort(closeness, kind="stable"):
                if picked == audit or not side[i]:
                    break
                if key(int(i)) not in chosen:
                    chosen[key(int(i))] = int(i)
                    picked += 1
    mismatches = 0
    for k, i in chosen.items():
        if k not in cache:
            cache[k] = real(i)
        mismatches += cache[k] != verdicts[i]
    return _Outcome(verdicts, len(chosen), mismatches)


def _family(members: Sequence[Comparison], require: str, context: _Context, describe: bool = True) -> str:
    """A family's verdict as a claim takes it: corrected together, then the family rule."""
    corrected = correct_family(members, context.correction, context.alpha, require=require, describe=describe)
    return family_verdict(corrected, require)[0].value


def _comparison(kind: str, hypothesis: str, effect: float, n: int, p: float, p_contradiction: float,
                smallest: float, *, margin: float | None = None, smallest_effect: float | None = None,
                min_power: float = 0.8) -> Comparison:
    """A comparison carrying what the verdict rules read, and nothing they do not (no intervals, no power)."""
    return Comparison(
        label=kind, measured=effect, ci=(effect, effect), reference=0.0, effect=float(effect), effect_size=0.0,
        effect_size_name="", test=kind, p_value=float(p), p_corrected=float(p), n=n, power=None,
        verdict=Verdict.INCONCLUSIVE, reason="",
        details={"kind": kind, "hypothesis": hypothesis, "margin": margin, "expected_effect": None,
                 "smallest_effect": smallest_effect, "p_difference": float(p), "p_contradiction": float(p_contradiction),
                 "contradiction_null": None, "contradiction_means": "contradicted", "smallest_p": float(smallest),
                 "min_power": min_power},
    )


# --------------------------------------------------------------------------- paired


def _paired_data(data: str, effects: np.ndarray, shape: tuple[int, ...], rng: np.random.Generator
                 ) -> tuple[np.ndarray, np.ndarray]:
    """Treatment and control values whose differences have mean ``effects`` (in the data's units,
    :data:`_PAIRED_SCALE`): normal differences; skewed values (each arm a centred gamma of
    skewness 1, the treatment shifted by the effect: a shift model, symmetric differences); paired
    0/1 outcomes; or asymmetric differences against a control of 0: Exp(1) - 1 and its mirror
    image (unbounded, skewness 2), and "mostly zero, a long tail" on [-1, 1] and its mirror image
    (0 for nine queries in ten, else uniform on [0, 1/2], centred)."""
    if data == "binary":
        treatment = rng.random(shape) < 0.5 + _BINARY_UNIT * effects[..., None]
        return treatment.astype(float), (rng.random(shape) < 0.5).astype(float)
    if data == "normal":
        return effects[..., None] + rng.normal(0.0, 1.0, shape), np.zeros(shape)
    if data == "skewed":
        # Two gammas of sd 1/sqrt(2) each: differences of sd 1.
        treatment, control = (rng.gamma(4.0, 0.5, (2, *shape)) - 2.0) / np.sqrt(2.0)
        return effects[..., None] + treatment, control
    if data.startswith("exponential"):
        centred = rng.exponential(1.0, shape) - 1.0
    else:
        centred = np.where(rng.random(shape) < 0.1, rng.uniform(0.0, 0.5, shape), 0.0) - 0.025
    sign = -1.0 if data.endswith("mirror") else 1.0
    return _PAIRED_SCALE[data] * effects[..., None] + sign * centred, np.zeros(shape)


# The sd of each paired data kind's differences: effects, margins and smallest effects are in these units.
_PAIRED_SCALE = {"normal": 1.0, "skewed": 1.0, "binary": _BINARY_UNIT, "exponential": 1.0,
                 "exponential-mirror": 1.0, "zero-tail": math.sqrt(0.1 / 12 + 0.1 * 0.9 * 0.25**2),
                 "zero-tail-mirror": math.sqrt(0.1 / 12 + 0.1 * 0.9 * 0.25**2)}
# The range every value of a data kind lies in, declared as the claims declare nDCG's (None: unbounded).
_PAIRED_BOUNDS: dict[str, tuple[float, float] | None] = {
    "normal": None, "skewed": None, "binary": (0.0, 1.0), "exponential": None, "exponential-mirror": None,
    "zero-tail": (-1.0, 1.0), "zero-tail-mirror": (-1.0, 1.0)}


def _paired_declared(spec: Decision, data: str) -> dict[str, Any]:
    """The paired declaration in the data's units, with the range its values are declared in."""
    scale = _PAIRED_SCALE[data]
    declared = {k: v for k, v in spec.declared.items() if k in ("hypothesis", "margin", "smallest_effect")}
    for k in ("margin", "smallest_effect"):
        if k in declared:
            declared[k] *= scale
    return {**declared, "bounds": _PAIRED_BOUNDS[data]}


def _difference_bounds(data: str) -> tuple[float, float] | None:
    """The differences' range, as :func:`~.comparisons.difference_bounds` derives it from the values'."""
    bounds = _PAIRED_BOUNDS[data]
    if bounds is None:
        return None
    low, high = bounds
    return (low - high, high - low) if data == "binary" else (low, high)  # others: against the constant 0


def _paired_comparisons(d: np.ndarray, declared: dict[str, Any], context: _Context, data: str,
                        kind: str = "paired") -> list[Comparison]:
    """Each row of differences decided by :func:`~.paired.decide_paired`, as the comparison function decides it."""
    n = d.shape[1]
    hypothesis, margin = declared["hypothesis"], declared.get("margin")
    rule = PairedDeclaration(hypothesis, margin, declared.get("smallest_effect"), _difference_bounds(data))
    decided = decide_paired(d, rule, test=context.test, alpha=context.alpha, n_permutations=N_PERMUTATIONS)
    return [_comparison(kind, hypothesis, d[i].mean(), n, decided.support[i], decided.contradiction[i],
                        decided.smallest[i], margin=margin, smallest_effect=declared.get("smallest_effect"),
                        min_power=context.min_power) for i in range(len(d))]


def _real_paired(x: np.ndarray, y: np.ndarray, declared: dict[str, Any], context: _Context, data: str) -> Comparison:
    control = y if data in ("normal", "skewed", "binary") else 0.0  # the asymmetric kinds: against the constant 0
    return comparisons.paired_comparison("audit", x, control, **declared, test=context.test, alpha=context.alpha,
                                         n_resamples=20, n_permutations=N_PERMUTATIONS, seed=0)


def _simulate_paired(spec: Decision, data: str, truth: Any, n: int, n_sims: int, rng: np.random.Generator,
                     context: _Context) -> tuple[list[Comparison], Callable[[int], str], Callable[[int], Any]]:
    """One paired comparison per data set, or a family of them (one truth per member)."""
    effects = np.asarray(truth, dtype=float).reshape(-1)
    x, y = _paired_data(data, np.broadcast_to(effects, (n_sims, effects.size)), (n_sims, effects.size, n), rng)
    declared = _paired_declared(spec, data)
    members = _paired_comparisons((x - y).reshape(-1, n), declared, context, data)
    require = spec.declared.get("require")

    def real(i: int) -> str:
        decided = [_real_paired(x[i, j], y[i, j], declared, context, data) for j in range(effects.size)]
        return decided[0].verdict.value if require is None else _family(decided, require, context)

    return members, real, lambda i: (truth, i)


# --------------------------------------------------------------------------- counts


def _proportion_comparisons(counts: np.ndarray, n: int, p0: float, declared: dict[str, Any], context: _Context,
                            kind: str = "proportion", effects: np.ndarray | None = None) -> list[Comparison]:
    """Each count decided as :func:`~.comparisons.proportion_comparison` decides it (one per distinct count);
    with ``effects``, each simulation's own effect is the one the verdict's sign checks read (bounded shares:
    the mean share's distance from the bound, not the drawn count's)."""
    hypothesis, margin = declared["hypothesis"], declared.get("margin")
    values = np.unique(counts)
    if hypothesis == "equivalent":
        assert margin is not None  # an equivalence is declared with its margin
        main = tost_binomial_p(values, n, p0, margin)
        above = sps.binom.sf(values - 1, n, p0 + margin) if p0 + margin < 1 else np.ones(values.size)
        below = sps.binom.cdf(values, n, p0 - margin) if p0 - margin > 0 else np.ones(values.size)
        contradiction = np.minimum(above, below)
        smallest = float(tost_binomial_p(np.arange(n + 1), n, p0, margin).min())
    else:
        bound = min(max(p0 + (declared.get("smallest_effect") or 0.0), 0.0), 1.0)
        if hypothesis == "greater":
            main = sps.binom.sf(values - 1, n, p0)
            contradiction = sps.binom.cdf(values, n, bound) if bound > 0 else np.ones(values.size)
        else:
            main = sps.binom.cdf(values, n, p0)
            contradiction = sps.binom.sf(values - 1, n, bound) if bound < 1 else np.ones(values.size)
        smallest = smallest_binomial_p(n, p0, hypothesis)
    contradiction = np.minimum(contradiction * declared.get("selection", 1), 1.0)
    tests = {int(k): (p, pc) for k, p, pc in zip(values, main, contradiction)}
    effects = np.asarray(counts) / n - p0 if effects is None else np.asarray(effects, dtype=float)
    keys = list(zip(np.asarray(counts).tolist(), effects.tolist()))
    decided = {key: _comparison(kind, hypothesis, key[1], n, *tests[key[0]], smallest, margin=margin,
                                smallest_effect=declared.get("smallest_effect"), min_power=context.min_power)
               for key in dict.fromkeys(keys)}
    return [decided[key] for key in keys]


def _simulate_proportion(spec: Decision, data: str, truth: Any, n: int, n_sims: int, rng: np.random.Generator,
                         context: _Context) -> tuple[list[Comparison], Callable[[int], str], Callable[[int], Any]]:
    """k of n queries against p0; for the worst of L, the largest of L layers' counts ("less")."""
    declared = {k: v for k, v in spec.declared.items() if k != "p0"}
    p0 = spec.declared["p0"]
    counts = rng.binomial(n, np.asarray(truth, dtype=float), size=(n_sims, np.size(truth))).max(axis=1)
    members = _proportion_comparisons(counts, n, p0, declared, context)

    def real(i: int) -> str:
        return comparisons.proportion_comparison("audit", int(counts[i]), n, p0, **declared, alpha=context.alpha).verdict.value

    return members, real, lambda i: int(counts[i])


def _bounded_values(data: str, mean: float, shape: tuple[int, int], rng: np.random.Generator) -> np.ndarray:
    """Shares in [0, 1] of the given mean, mostly zero: 1 with probability ``mean`` ("rare-ones"), or
    zero with probability 0.8 and else Beta(4 m, 4 (1 - m)) with m = mean / 0.2 ("zero-inflated-beta")."""
    if data == "rare-ones":
        return (rng.random(shape) < mean).astype(float)
    m = mean / 0.2
    return np.where(rng.random(shape) < 0.2, rng.beta(4 * m, 4 * (1 - m), shape), 0.0)


def _simulate_bounded(spec: Decision, data: str, truth: Any, n: int, n_sims: int, rng: np.random.Generator,
                      context: _Context) -> tuple[list[Comparison], Callable[[int], str], Callable[[int], Any]]:
    """Per-unit shares against a bound: a paired decision against the constant on [0, 1]."""
    bound, hypothesis = spec.declared["bound"], spec.declared["hypothesis"]
    values = _bounded_values(data, float(truth), (n_sims, n), rng)
    rule = PairedDeclaration(hypothesis, bounds=(-bound, 1.0 - bound))
    decided = decide_paired(values - bound, rule, test="betting", alpha=context.alpha)
    members = [_comparison("bounded", hypothesis, float(values[i].mean() - bound), n, decided.support[i],
                           decided.contradiction[i], decided.smallest[i], min_power=context.min_power)
               for i in range(n_sims)]

    def real(i: int) -> str:
        return comparisons.bounded_mean_comparison("audit", values[i], bound, hypothesis=hypothesis,
                                                   alpha=context.alpha).verdict.value

    return members, real, lambda i: (truth, i)


def _simulate_mcnemar(spec: Decision, data: str, truth: Any, n: int, n_sims: int, rng: np.random.Generator,
                      context: _Context) -> tuple[list[Comparison], Callable[[int], str], Callable[[int], Any]]:
    """Paired successes with discordance rates (only treatment, only control) = ``truth``."""
    only_treatment, only_control = truth
    concordant = (1 - only_treatment - only_control) / 2
    cells = rng.choice(4, size=(n_sims, n), p=[only_treatment, only_control, concordant, concordant])
    treatment, control = (cells == 0) | (cells == 2), (cells == 1) | (cells == 2)
    b, c = (cells == 0).sum(axis=1), (cells == 1).sum(axis=1)
    m = b + c
    hypothesis = spec.declared["hypothesis"]
    with np.errstate(invalid="ignore"):
        greater = np.where(m > 0, sps.binom.sf(b - 1, m, 0.5), 1.0)
        less = np.where(m > 0, sps.binom.cdf(b, m, 0.5), 1.0)
    main, contradiction = (greater, less) if hypothesis == "greater" else (less, greater)
    members = [_comparison("mcnemar", hypothesis, (b[i] - c[i]) / n, n, main[i], contradiction[i],
                           min(1.0, 0.5 ** m[i]), min_power=context.min_power) for i in range(n_sims)]

    def real(i: int) -> str:
        return comparisons.mcnemar_comparison("audit", treatment[i], control[i], hypothesis=hypothesis,
                                              alpha=context.alpha).verdict.value

    return members, real, lambda i: (int(b[i]), int(c[i]))


# --------------------------------------------------------------------------- two samples


def _mann_whitney_p(x: np.ndarray, y: np.ndarray, seed: int) -> dict[str, np.ndarray]:
    """One-sided and two-sided p-values of :func:`~.tests.mann_whitney` for each row, with its splits."""
    n1, total = x.shape[1], x.shape[1] + y.shape[1]
    exact = math.comb(total, n1) <= _MW_SPLITS
    if exact:
        members = np.array(list(itertools.combinations(range(total), n1)), dtype=np.intp)
    else:
        members = np.argsort(np.random.default_rng(seed).random((_MW_SPLITS, total)), axis=1)[:, :n1]
    membership = np.zeros((total, len(members)))
    membership[members, np.arange(len(members))[:, None]] = 1.0
    ranks = sps.rankdata(np.concatenate([x, y], axis=1), axis=1)
    offset = n1 * (n1 + 1) / 2
    centre, tolerance = n1 * y.shape[1] / 2, 1e-9 * total
    out = {side: np.empty(len(x)) for side in ("greater", "less", "two-sided")}
    step = max(1, 2_000_000 // len(members))
    for start in range(0, len(x), step):
        u = ranks[start:start + step] @ membership - offset
        observed = ranks[start:start + step, :n1].sum(axis=1, keepdims=True) - offset
        hits = {"greater": (u >= observed - tolerance).sum(axis=1), "less": (u <= observed + tolerance).sum(axis=1),
                "two-sided": (np.abs(u - centre) >= np.abs(observed - centre) - tolerance).sum(axis=1)}
        for side, h in hits.items():
            out[side][start:start + step] = h / len(members) if exact else (h + 1) / (len(members) + 1)
    return {side: np.minimum(p, 1.0) for side, p in out.items()}


def _simulate_mann_whitney(spec: Decision, data: str, truth: Any, n: tuple[int, int], n_sims: int,
                           rng: np.random.Generator, context: _Context
                           ) -> tuple[list[Comparison], Callable[[int], str], Callable[[int], Any]]:
    """Two unpaired samples (of sizes ``n``), the first shifted by ``truth``: integer depths 0..5
    (many ties) or normal values."""
    n1, n2 = n
    if data == "depths":
        x, y = rng.integers(0, 6, (n_sims, n1)) + truth, rng.integers(0, 6, (n_sims, n2)).astype(float)
    else:
        x, y = rng.normal(truth, 1.0, (n_sims, n1)), rng.normal(0.0, 1.0, (n_sims, n2))
    x = x.astype(float)
    hypothesis = spec.declared["hypothesis"]
    p = _mann_whitney_p(x, y, 0)  # mann_whitney samples from its fixed stream (seed 0)
    opposite = "less" if hypothesis == "greater" else "greater"
    shifts = np.median((x[:, :, None] - y[:, None, :]).reshape(n_sims, -1), axis=1)
    smallest = smallest_mann_whitney_p(n1, n2, hypothesis)
    members = [_comparison("independent", hypothesis, shifts[i], n1 + n2, p[hypothesis][i], p[opposite][i], smallest,
                           min_power=context.min_power) for i in range(n_sims)]

    def real(i: int) -> str:
        return comparisons.independent_comparison("audit", x[i], y[i], hypothesis=hypothesis, alpha=context.alpha,
                                                  n_resamples=20, seed=context.seed).verdict.value

    return members, real, lambda i: (truth, i)


_SIMULATORS: dict[str, Callable[..., tuple[list[Comparison], Callable[[int], str], Callable[[int], Any]]]] = {
    "superiority": _simulate_paired, "superiority-smallest": _simulate_paired, "difference": _simulate_paired,
    "equivalence": _simulate_paired, "screen": _simulate_paired, "family": _simulate_paired,
    "proportion": _simulate_proportion, "proportion-equivalence": _simulate_proportion,
    "worst-of-L": _simulate_proportion, "bounded": _simulate_bounded, "mcnemar": _simulate_mcnemar,
    "mann-whitney": _simulate_mann_whitney,
}


def _describe(spec: Decision, data: str, truth: Any) -> str:
    """Where a rate was taken, in words."""
    if spec.name in ("proportion", "proportion-equivalence"):
        return f"true proportion {truth:g}"
    if spec.name == "worst-of-L":
        return "layers' true shares " + ", ".join(f"{t:g}" for t in truth)
    if spec.name == "bounded":
        return f"true mean share {truth:g}"
    if spec.name == "mcnemar":
        return f"discordance rates {truth[0]:g} (treatment only) and {truth[1]:g} (control only)"
    if spec.name == "mann-whitney":
        return f"first sample shifted by {truth:+g}" + (" depth" if data == "depths" else " sd")
    unit = f"× {_BINARY_UNIT:g} in rate" if data == "binary" else f"× {_PAIRED_SCALE[data]:.3g}" if data.startswith("zero-tail") else "sd"
    effects = ", ".join(f"{t:+g}" for t in np.atleast_1d(truth))
    return f"true effect{'s' if np.size(truth) > 1 else ''} {effects} ({unit})"
