"""The suite proving its instruments: under a null, each decision says SUPPORTED at most at
rate alpha (+ 3 Monte-Carlo standard errors), and the analytic power matches simulation.

Every figure comes from suite.core.stats.simulate_false_positive_rate / simulate_power, the same
functions the report's "method checks" section shows; all are seeded.
"""

from __future__ import annotations

import math

import pytest

from suite.core import stats

N_SIMS = 1000


@pytest.mark.parametrize("test", ["t", "wilcoxon", "randomization"])
def test_superiority_rejects_at_most_alpha_under_the_null(test):
    result = stats.simulate_false_positive_rate("superiority", n_sims=N_SIMS, n=20, test=test, seed=11)
    assert result.n_sims >= 1000
    assert result.mc_error == pytest.approx(math.sqrt(0.05 * 0.95 / N_SIMS))
    assert result.limit == pytest.approx(0.05 + 3 * result.mc_error)
    assert result.passed, result
    if test == "t":  # the t-test is exact under normal differences: not just conservative
        assert result.rate >= result.alpha - 3 * result.mc_error, result


def test_equivalence_rejects_at_most_alpha_at_the_margin():
    result = stats.simulate_false_positive_rate("equivalence", n_sims=N_SIMS, n=30, sd=0.1, margin=0.05, seed=12)
    assert result.passed, result
    # At the boundary TOST is nearly exact once the other side is far: not trivially conservative.
    assert result.rate >= result.alpha - 3 * result.mc_error, result


@pytest.mark.parametrize(("n", "p0"), [(20, 0.3), (200, 0.2)])  # the exact test's size is near alpha here
def test_proportion_rejects_at_most_alpha_under_the_null(n, p0):
    result = stats.simulate_false_positive_rate("proportion", n_sims=N_SIMS, n=n, p0=p0, seed=13)
    assert result.passed, result
    # The rate matches the test's exact size (its rejection probability under p0).
    size = stats.power_binomial(p0, n, p0, result.alpha)
    assert abs(result.rate - size) <= 3 * math.sqrt(size * (1 - size) / N_SIMS), (result, size)


@pytest.mark.parametrize("correction", ["holm", "bonferroni", "bh"])
def test_head_screen_controls_the_family_wise_error(correction):
    # 72 null heads (the paper's 72 components); under the global null BH also controls it.
    result = stats.simulate_false_positive_rate("heads", n_sims=N_SIMS, n=20, heads=72, correction=correction, seed=14)
    assert result.passed, result


def test_uncorrected_head_screen_fails_the_check():
    # The check has teeth: without correction, 72 null heads give a false positive almost always.
    result = stats.simulate_false_positive_rate("heads", n_sims=N_SIMS, n=20, heads=72, correction="none", seed=14)
    assert not result.passed
    assert result.rate > 0.9


@pytest.mark.parametrize("alternative", ["greater", "less", "two-sided"])
def test_power_paired_matches_simulation(alternative):
    effect = -0.05 if alternative == "less" else 0.05
    result = stats.simulate_power("superiority", effect=effect, sd=0.1, n=20, alternative=alternative,
                                  n_sims=4000, seed=15)
    assert 0.4 < result.analytic < 0.9  # a setting where power is informative
    assert result.passed, result


def test_power_tost_matches_simulation():
    result = stats.simulate_power("equivalence", effect=0.01, sd=0.1, n=40, margin=0.05, n_sims=4000, seed=16)
    assert 0.3 < result.analytic < 0.9
    assert result.passed, result


def test_simulate_rejects_unknown_decisions():
    with pytest.raises(ValueError):
        stats.simulate_false_positive_rate("superstition")
    with pytest.raises(ValueError):
        stats.simulate_power("proportion")
