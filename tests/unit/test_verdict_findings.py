"""The findings of the verdict review (issue 13), one test each: every one failed on the rules before it.

Rates are simulated with the project's own decision functions; a rate passes at alpha plus
three Monte-Carlo standard errors, as the calibration does.
"""

from __future__ import annotations

import math

import numpy as np
import pytest

from ranker_claims.core import stats
from ranker_claims.core.results import Verdict

ALPHA = 0.05


def _limit(sims: int) -> float:
    return ALPHA + 3 * math.sqrt(ALPHA * (1 - ALPHA) / sims)


def _rate(verdicts: list[Verdict], verdict: Verdict) -> float:
    return sum(v is verdict for v in verdicts) / len(verdicts)


def _quick(label, x, y, **kwargs):
    """A paired comparison without the displayed bootstrap intervals' cost."""
    return stats.paired_comparison(label, x, y, n_resamples=20, **kwargs)


# 1. Opposite-direction CONTRADICTED needed no minimum n.
def test_three_near_equal_differences_do_not_contradict_in_a_family_of_twelve():
    odd = _quick("odd", [-0.05, -0.05, -0.047], [0.0, 0.0, 0.0], hypothesis="greater")
    others = [_quick(f"other {i}", [0.3, 0.2, 0.4], [0.0, 0.0, 0.0], hypothesis="greater") for i in range(11)]
    corrected = stats.correct_family([odd, *others], "holm", require="all")
    assert corrected[0].verdict is Verdict.INCONCLUSIVE
    assert "undecidable" in corrected[0].reason  # three unbounded values: no test of a mean is valid


def test_two_near_equal_shares_cannot_decide_against_a_bound():
    c = stats.bounded_mean_comparison("share", [0.30, 0.3001], 0.05, hypothesis="less")
    assert c.verdict is Verdict.INCONCLUSIVE
    assert c.details["smallest_p"] > ALPHA


# 2. Zero spread gave t = +-inf, p = 0 and power 1.
def test_zero_spread_is_inconclusive_not_contradicted():
    c = _quick("flat", [1.0, 1.0], [1.0, 1.0], hypothesis="greater", expected_effect=0.14)
    assert c.verdict is Verdict.INCONCLUSIVE
    c = _quick("flat", [1.0] * 30, [1.0] * 30, hypothesis="less", expected_effect=-0.14)
    assert c.verdict is Verdict.INCONCLUSIVE and "undecidable" in c.reason  # no range declared: nothing to bet on


# 3. Equivalence CONTRADICTED was "differs from 0 and the estimate is beyond the margin".
@pytest.mark.parametrize("true_effect", [0.04, 0.05])
def test_equivalence_is_contradicted_at_most_at_alpha_inside_or_at_the_margin(true_effect):
    rng = np.random.default_rng(3)
    sims = 600
    verdicts = [_quick("eq", rng.normal(true_effect, 0.1, 60), np.zeros(60), hypothesis="equivalent", margin=0.05).verdict
                for _ in range(sims)]
    assert _rate(verdicts, Verdict.CONTRADICTED) <= _limit(sims)


# 4. A non-significant result with power >= 0.8 against the paper's raw effect said CONTRADICTED.
def test_a_true_share_below_the_bound_is_not_contradicted():
    rng = np.random.default_rng(4)
    sims = 1000
    verdicts = [stats.proportion_comparison("worst layer", int(rng.binomial(100, 0.12)), 100, 0.15, hypothesis="less",
                                            expected_effect=-0.13).verdict for _ in range(sims)]
    assert _rate(verdicts, Verdict.CONTRADICTED) <= _limit(sims)


def test_power_never_decides():
    # Not significant, with power about 1 against the paper's effect: no longer a contradiction.
    rng = np.random.default_rng(0)
    x = rng.normal(-0.01, 0.1, 200)
    c = _quick("drop", x, np.zeros(200), hypothesis="less", expected_effect=-0.14)
    assert c.power > 0.99 and c.p_value > ALPHA
    assert c.verdict is Verdict.INCONCLUSIVE


# 5. Rank and randomization tests were given the t-test's power.
@pytest.mark.parametrize("test", ["wilcoxon", "randomization"])
def test_power_is_that_of_the_test_used(test):
    c = _quick("small", [0.5, 0.6, 0.55, 0.7], [0.0] * 4, hypothesis="greater", expected_effect=0.5, test=test)
    assert c.details["test"] == "none" and c.power == 0.0  # four unbounded values: no test decides
    assert stats.power_paired_test("wilcoxon", 0.5, 0.1, 4, ALPHA, "greater") == 0.0
    assert stats.power_paired_test("t", 0.5, 0.1, 4, ALPHA, "greater") > 0.99


# 6. The worst of L layers was tested for CONTRADICTED as if it had been named in advance.
def test_the_worst_of_several_layers_is_corrected_for_its_selection():
    rng = np.random.default_rng(6)
    sims, layers, n = 1000, 12, 60
    verdicts = []
    for _ in range(sims):
        worst = int(rng.binomial(n, 0.15, size=layers).max())
        verdicts.append(stats.proportion_comparison("worst", worst, n, 0.15, hypothesis="less", selection=layers).verdict)
    assert _rate(verdicts, Verdict.CONTRADICTED) <= _limit(sims)


# 7. t-tests against a constant on bounded, mostly-zero shares.
@pytest.mark.parametrize("n", [2, 3, 10, 30])
def test_bounded_shares_at_the_bound_are_not_supported_beyond_alpha(n):
    rng = np.random.default_rng(n)
    sims, bound = 1000, 0.05
    verdicts = [stats.bounded_mean_comparison("share", (rng.random(n) < bound).astype(float), bound, hypothesis="less").verdict
                for _ in range(sims)]
    assert _rate(verdicts, Verdict.SUPPORTED) <= _limit(sims)


# 10. Mann-Whitney fell back to the asymptotic method with ties; its sign came from the means.
def test_mann_whitney_is_exact_with_ties_and_signed_by_ranks():
    c = stats.independent_comparison("depth", [3.0], [1.0, 2.0], hypothesis="greater")
    assert c.p_value == pytest.approx(1 / 3)
    # Means say x > y (one large outlier), ranks say x < y: the effect follows the ranks.
    c = stats.independent_comparison("depth", [0.0, 0.1, 0.2, 100.0], [0.5, 0.6, 0.7, 0.8], hypothesis="greater")
    assert c.effect < 0 and c.details["means"][0] > c.details["means"][1]


# 11. Holm was applied to SUPPORTED on "requires all" claims.
def test_requiring_all_does_not_correct_support():
    rng = np.random.default_rng(11)

    def draw():
        return _quick("document->query", rng.normal(0.0, 0.11, 43), np.zeros(43), hypothesis="equivalent", margin=0.05)

    cell = draw()
    while not ALPHA / 25 < cell.p_value < ALPHA:  # supported alone, not at alpha / 25
        cell = draw()
    reported = [_quick(f"cell {i}", rng.normal(0.0, 0.05, 43), np.zeros(43), hypothesis="two-sided") for i in range(23)]
    deciding = stats.correct_family([cell, cell], "holm", require="all")
    assert all(c.verdict is Verdict.SUPPORTED for c in deciding)
    screened = stats.correct_family([cell, *reported], "holm", require="any")
    assert screened[0].p_corrected > cell.p_value  # a screen still corrects its support


def test_requiring_all_corrects_contradiction():
    # Each comparison alone just contradicted; twelve of them, corrected, no longer.
    rng = np.random.default_rng(12)
    c = _quick("c", rng.normal(-0.03, 0.1, 40), np.zeros(40), hypothesis="greater")
    while not c.details["p_contradiction"] < ALPHA < 12 * c.details["p_contradiction"]:
        c = _quick("c", rng.normal(-0.03, 0.1, 40), np.zeros(40), hypothesis="greater")
    assert c.verdict is Verdict.CONTRADICTED
    corrected = stats.correct_family([c] * 12, "holm", require="all")
    assert corrected[0].verdict is not Verdict.CONTRADICTED


def test_reasons_name_a_p_value_corrected_only_where_it_was():
    x = np.linspace(0.0, 0.2, 20)
    c = _quick("gain", x + 0.05, np.zeros(20), hypothesis="greater")
    every = stats.correct_family([c, c], "holm", require="all")[0]
    assert "p=" in every.reason and "p_holm" not in every.reason  # support is not corrected
    some = stats.correct_family([c, c], "holm", require="any")[0]
    assert "p_holm=" in some.reason
