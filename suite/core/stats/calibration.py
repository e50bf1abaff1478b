"""Simulations that check the instruments: the false-positive rate of each decision under its
null, and the analytic power against the simulated rejection rate."""

from __future__ import annotations

import math
from dataclasses import dataclass

import numpy as np

from suite.core.results import Comparison, Verdict
from suite.core.stats.choices import DECISIONS, check_choice
from suite.core.stats.comparisons import paired_comparison, proportion_comparison
from suite.core.stats.corrections import correct_family
from suite.core.stats.power import power_paired, power_tost
from suite.core.stats.tests import TEST_NAMES, t_test_differences


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
    check_choice(decision, DECISIONS, "decision")
    rng = np.random.default_rng(seed)
    small = {"n_resamples": 20, "n_permutations": 200}  # CIs do not enter the verdict
    supported = 0
    if decision == "heads":
        diffs = rng.normal(0.0, sd, size=(n_sims, heads, n))
        _, p_greater = t_test_differences(diffs, "greater")
        _, p_two = t_test_differences(diffs, "two-sided")
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
    check_choice(decision, ("superiority", "equivalence"), "decision")
    diffs = np.random.default_rng(seed).normal(effect, sd, size=(n_sims, n))
    if decision == "superiority":
        analytic = power_paired(effect, sd, n, alpha, alternative)
        rejected = t_test_differences(diffs, alternative)[1] < alpha
    else:
        analytic = power_tost(sd, n, margin, alpha, true_effect=effect)
        above_lower = t_test_differences(diffs + margin, "greater")[1]
        below_upper = t_test_differences(diffs - margin, "less")[1]
        rejected = np.maximum(above_lower, below_upper) < alpha
    simulated = float(np.mean(rejected))
    mc_error = math.sqrt(max(analytic * (1 - analytic), 1e-12) / n_sims)
    passed = abs(simulated - analytic) <= 3 * mc_error
    return PowerResult(decision, n_sims, n, alpha, effect, analytic, simulated, mc_error, passed)


# --------------------------------------------------------------------------- internals


def _screened_head(effect: float, p_greater: float, p_two_sided: float, n: int) -> Comparison:
    """A null head of the calibration screen as a bare comparison ("greater", no expected effect)."""
    return Comparison(
        label="head", measured=effect, ci=(effect, effect), reference=0.0, effect=effect, effect_size=0.0,
        effect_size_name="Cohen's d_z", test=f"{TEST_NAMES['t']}, one-sided (greater)", p_value=float(p_greater),
        p_corrected=float(p_greater), n=n, power=None, verdict=Verdict.INCONCLUSIVE, reason="",
        details={"kind": "paired", "hypothesis": "greater", "expected_effect": None, "margin": None,
                 "p_difference": float(p_two_sided), "min_power": 0.8},
    )
