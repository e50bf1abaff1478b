"""ranker_claims.core.stats against hand calculations, scipy, and every branch of the verdict rules."""

from __future__ import annotations

import math
from dataclasses import replace

import numpy as np
import pytest
from scipy import stats as sps

from ranker_claims.core import stats
from ranker_claims.core.docstrings import docstring_section
from ranker_claims.core.results import Verdict
from ranker_claims.core.stats.betting import betting_p, smallest_betting_p
from ranker_claims.core.stats.verdicts import judge

ALTERNATIVES = ["two-sided", "greater", "less"]


def _judged(c, *, p_value: float, effect: float, p_contradiction: float):
    """``c`` re-judged with the given support p, effect and contradiction p: the verdict rules on
    outcomes a rank test can give (its statistic disagreeing with the mean), whatever test gave them."""
    c = replace(c, p_value=p_value, p_corrected=p_value, effect=effect,
                details={**c.details, "p_contradiction": p_contradiction, "smallest_p": 0.0})
    return judge(c, "none", 0.05, 0.8, 0.05)


def _paired(effect: float, sd: float, n: int, seed: int = 0, centred: bool = False):
    """Control in [0.3, 0.8] and treatment = control + effect + noise; ``centred`` makes the
    noise mean exactly 0, so the observed effect is ``effect``."""
    rng = np.random.default_rng(seed)
    control = rng.uniform(0.3, 0.8, n)
    noise = rng.normal(0.0, sd, n)
    if centred:
        noise = (noise - noise.mean()) / noise.std(ddof=1) * sd
    return control + effect + noise, control


def _with_t(t: float, n: int = 10):
    """Differences (as treatment over a zero control) whose paired t statistic is exactly t."""
    z = np.linspace(-1.0, 1.0, n)
    z = (z - z.mean()) / z.std(ddof=1)
    return z + t / math.sqrt(n), np.zeros(n)


# --------------------------------------------------------------------------- paired tests


@pytest.mark.parametrize("alternative", ALTERNATIVES)
def test_paired_t_matches_scipy(alternative):
    x, y = _paired(0.03, 0.1, 25, seed=3)
    expected = sps.ttest_rel(x, y, alternative=alternative)
    result = stats.paired_t(x, y, alternative)
    assert result.statistic == pytest.approx(expected.statistic, rel=1e-12)
    assert result.p_value == pytest.approx(expected.pvalue, rel=1e-10)
    assert (result.name, result.alternative) == ("paired t-test", alternative)


def test_paired_t_by_hand():
    # d = 1, 2, 3, 4: mean 2.5, sd sqrt(5/3), t = 2.5 / (sd / 2) = 3.873 on 3 df.
    result = stats.paired_t([2, 4, 6, 8], [1, 2, 3, 4], "greater")
    assert result.statistic == pytest.approx(2.5 / (math.sqrt(5 / 3) / 2))
    assert result.statistic == pytest.approx(3.8730, abs=1e-4)
    assert result.p_value == pytest.approx(0.015230, abs=1e-5)


def test_paired_t_degenerate_differences():
    same = [0.2, 0.5, 0.9]
    for alternative in ALTERNATIVES:
        assert stats.paired_t(same, same, alternative).p_value == 1.0
    shifted = [v + 0.25 for v in same]
    assert stats.paired_t(shifted, same, "greater").p_value == 0.0
    assert stats.paired_t(shifted, same, "two-sided").p_value == 0.0
    assert stats.paired_t(shifted, same, "less").p_value == 1.0
    assert stats.paired_t(shifted, same).statistic == math.inf
    # 0.1 + 0.2 != 0.3 in floating point; that is rounding, not an effect.
    assert stats.paired_t([0.1 + 0.2, 0.7], [0.3, 0.7], "greater").p_value == 1.0


def test_paired_t_rejects_bad_input():
    with pytest.raises(ValueError):
        stats.paired_t([1.0], [0.0])
    with pytest.raises(ValueError):
        stats.paired_t([1.0, 2.0], [0.0])
    with pytest.raises(ValueError):
        stats.paired_t([1.0, float("nan")], [0.0, 0.0])
    with pytest.raises(ValueError):
        stats.paired_t([1.0, 2.0], [0.0, 0.0], "bigger")


@pytest.mark.parametrize("alternative", ALTERNATIVES)
def test_wilcoxon_matches_scipy_with_zero_differences_dropped(alternative):
    x, y = _paired(0.02, 0.1, 30, seed=5)
    y[:4] = x[:4]  # four ties at zero
    result = stats.wilcoxon(x, y, alternative)
    expected = sps.wilcoxon(x - y, zero_method="wilcox", alternative=alternative)
    assert result.p_value == pytest.approx(expected.pvalue, rel=1e-12)
    assert result.statistic == expected.statistic


def test_wilcoxon_by_hand():
    # Five positive differences without ties: P(W+ = 15) = 1 / 2**5 under the null.
    x, y = [1, 2, 3, 4, 5], [0, 0, 0, 0, 0]
    assert stats.wilcoxon(x, y, "greater").p_value == pytest.approx(1 / 32)
    assert stats.wilcoxon(x, y, "two-sided").p_value == pytest.approx(2 / 32)
    assert stats.wilcoxon(x, y, "less").p_value == pytest.approx(1.0)


def test_wilcoxon_all_zero_differences():
    for alternative in ALTERNATIVES:
        assert stats.wilcoxon([1, 2, 3], [1, 2, 3], alternative).p_value == 1.0


def test_randomization_exact_by_hand():
    # d = 1, 2, 3: of the 8 sign vectors only all-plus reaches mean 2, and only all-minus -2.
    x, y = [1, 2, 3], [0, 0, 0]
    assert stats.randomization(x, y, "greater").p_value == pytest.approx(1 / 8)
    assert stats.randomization(x, y, "two-sided").p_value == pytest.approx(2 / 8)
    assert stats.randomization(x, y, "less").p_value == pytest.approx(1.0)
    # d = 1, -2, 3, 4 (sum 6): a flipped sum reaches 6 only with +3 and +4, and then with
    # (+1, -2) -> 6, (+1, +2) -> 10 or (-1, +2) -> 8: 3 of 16 sign vectors.
    d = np.array([1, -2, 3, 4])
    assert stats.randomization(d, np.zeros(4), "greater").p_value == pytest.approx(3 / 16)
    assert stats.randomization(d, np.zeros(4)).statistic == pytest.approx(1.5)


def test_randomization_monte_carlo_is_seeded_and_near_exact():
    x, y = _paired(0.04, 0.1, 14, seed=2)
    exact = stats.randomization(x, y, "greater", n_resamples=2**14).p_value
    sampled = stats.randomization(x, y, "greater", n_resamples=4000, seed=7)
    assert sampled == stats.randomization(x, y, "greater", n_resamples=4000, seed=7)
    assert sampled.p_value == pytest.approx(exact, abs=4 * math.sqrt(exact * (1 - exact) / 4000) + 1e-3)
    assert sampled.p_value >= 1 / 4001
    assert stats.randomization(x, y, "greater", n_resamples=4000, seed=8).p_value != sampled.p_value


def test_randomization_monte_carlo_counts_the_observed_signs():
    # No random flip of 30 positive differences reaches their mean; p stays 1 / (1 + resamples).
    assert stats.randomization(np.arange(1, 31), np.zeros(30), "greater", n_resamples=1000).p_value == 1 / 1001


def test_randomization_all_zero_differences():
    for alternative in ALTERNATIVES:
        assert stats.randomization([0.5] * 20, [0.5] * 20, alternative).p_value == 1.0


def test_paired_test_dispatch():
    x, y = _paired(0.05, 0.1, 12)
    assert stats.paired_test("t", x, y) == stats.paired_t(x, y)
    assert stats.paired_test("wilcoxon", x, y) == stats.wilcoxon(x, y)
    assert stats.paired_test("randomization", x, y, seed=3) == stats.randomization(x, y, seed=3)
    with pytest.raises(ValueError):
        stats.paired_test("sign", x, y)


# --------------------------------------------------------------------------- TOST


def test_tost_t_by_hand():
    d = np.array([0.01, -0.02, 0.03, 0.00, 0.02])
    margin = 0.05
    mean, se = d.mean(), d.std(ddof=1) / math.sqrt(5)
    p_lower = sps.t.sf((mean + margin) / se, 4)  # H0: effect <= -margin
    p_upper = sps.t.cdf((mean - margin) / se, 4)  # H0: effect >= +margin
    result = stats.tost_paired(d, np.zeros(5), margin)
    assert result.p_value == pytest.approx(max(p_lower, p_upper), rel=1e-9)
    assert result.p_value == pytest.approx(p_upper, rel=1e-9)  # the mean sits above 0: upper side binds
    assert result.statistic == pytest.approx((mean - margin) / se)
    assert result.name == "TOST paired t, margin ±0.05"
    assert result.alternative == "equivalent"


@pytest.mark.parametrize("test", ["wilcoxon", "randomization"])
def test_tost_rank_and_randomization_shift_by_the_margin(test):
    x, y = _paired(0.01, 0.03, 16, seed=4)
    d, zeros = x - y, np.zeros(16)
    lower = stats.paired_test(test, d + 0.04, zeros, "greater")
    upper = stats.paired_test(test, d - 0.04, zeros, "less")
    assert stats.tost_paired(x, y, 0.04, test).p_value == pytest.approx(max(lower.p_value, upper.p_value))


def test_tost_needs_a_positive_margin():
    with pytest.raises(ValueError):
        stats.tost_paired([1, 2], [1, 2], 0.0)


# --------------------------------------------------------------------------- corrections


def test_holm_known_example():
    # Sorted 0.01, 0.03, 0.04 -> 3 * 0.01, 2 * 0.03, max(0.06, 1 * 0.04): back in input order.
    assert stats.holm([0.01, 0.04, 0.03]) == pytest.approx([0.03, 0.06, 0.06])
    assert stats.holm([0.5, 0.9]) == pytest.approx([1.0, 1.0])
    assert stats.holm([0.2]) == pytest.approx([0.2])


def test_bh_known_example():
    # m / rank * p = 0.03, 0.045, 0.04; the step-up minimum makes 0.045 -> 0.04.
    assert stats.benjamini_hochberg([0.01, 0.04, 0.03]) == pytest.approx([0.03, 0.04, 0.04])


def test_corrections_on_benjamini_hochberg_1995():
    # The 15 p-values of Benjamini & Hochberg (1995): BH rejects 4 at 0.05, Holm 3.
    p = [0.0001, 0.0004, 0.0019, 0.0095, 0.0201, 0.0278, 0.0298, 0.0344, 0.0459, 0.3240, 0.4262, 0.5719, 0.6528,
         0.7590, 1.000]
    assert np.sum(stats.benjamini_hochberg(p) < 0.05) == 4
    assert np.sum(stats.holm(p) < 0.05) == 3
    assert stats.benjamini_hochberg(p) == pytest.approx(sps.false_discovery_control(p, method="bh"))


def test_correct_dispatch_and_bonferroni():
    p = [0.01, 0.04, 0.03]
    assert stats.correct(p, "bonferroni") == pytest.approx([0.03, 0.12, 0.09])
    assert stats.correct(p, "none") == pytest.approx(p)
    assert stats.correct(p, "holm") == pytest.approx(stats.holm(p))
    assert stats.correct(p, "bh") == pytest.approx(stats.benjamini_hochberg(p))
    assert stats.correct([], "holm").size == 0
    with pytest.raises(ValueError):
        stats.correct(p, "sidak")
    with pytest.raises(ValueError):
        stats.holm([0.5, 1.5])


def test_corrections_give_ties_equal_values():
    assert stats.holm([0.02, 0.02, 0.5]) == pytest.approx([0.06, 0.06, 0.5])
    assert stats.benjamini_hochberg([0.02, 0.02, 0.5]) == pytest.approx([0.03, 0.03, 0.5])


# --------------------------------------------------------------------------- bootstrap and effect sizes


def test_bootstrap_is_deterministic_by_seed():
    values = np.random.default_rng(0).normal(size=40)
    assert stats.bootstrap_ci(values, seed=3) == stats.bootstrap_ci(values, seed=3)
    assert stats.bootstrap_ci(values, seed=3) != stats.bootstrap_ci(values, seed=4)


def test_bootstrap_percentile_near_normal_theory():
    values = np.random.default_rng(1).normal(0.5, 0.2, size=400)
    low, high = stats.bootstrap_ci(values, n_resamples=4000)
    half = 1.96 * values.std(ddof=1) / math.sqrt(400)
    assert low == pytest.approx(values.mean() - half, abs=0.004)
    assert high == pytest.approx(values.mean() + half, abs=0.004)


def test_bootstrap_bca_matches_scipy():
    values = np.random.default_rng(2).exponential(size=60)  # skewed: BCa differs from percentile
    ours = stats.bootstrap_ci(values, n_resamples=20000, method="bca")
    theirs = sps.bootstrap((values,), np.mean, n_resamples=20000, method="BCa", rng=np.random.default_rng(0))
    width = theirs.confidence_interval.high - theirs.confidence_interval.low
    assert ours[0] == pytest.approx(theirs.confidence_interval.low, abs=0.03 * width)
    assert ours[1] == pytest.approx(theirs.confidence_interval.high, abs=0.03 * width)
    assert ours != stats.bootstrap_ci(values, n_resamples=20000)


def test_bootstrap_constant_and_other_statistics():
    assert stats.bootstrap_ci([0.7] * 10) == (0.7, 0.7)
    assert stats.bootstrap_ci([0.7] * 10, method="bca") == pytest.approx((0.7, 0.7))
    low, high = stats.bootstrap_ci([1, 2, 3, 4, 100], statistic=np.median, n_resamples=500)
    assert 1 <= low <= 3 <= high <= 100
    with pytest.raises(ValueError):
        stats.bootstrap_ci([])


def test_cohens_dz():
    assert stats.cohens_dz([1, 2, 3]) == pytest.approx(2.0)  # mean 2, sd 1
    assert stats.cohens_dz([-1, -2, -3]) == pytest.approx(-2.0)
    assert stats.cohens_dz([0, 0, 0]) == 0.0
    assert stats.cohens_dz([0.2, 0.2]) == math.inf
    assert stats.cohens_dz([-0.2, -0.2]) == -math.inf
    assert stats.cohens_dz([0.3]) == math.inf


def test_cohens_h():
    assert stats.cohens_h(0.5, 0.5) == 0.0
    assert stats.cohens_h(1.0, 0.5) == pytest.approx(math.pi - math.pi / 2)


# --------------------------------------------------------------------------- power


def test_power_paired_known_values():
    # G*Power: d_z = 0.5, alpha 0.05, n = 34 two-sided -> 0.808; n = 27 one-sided -> 0.812.
    assert stats.power_paired(0.5, 1.0, 34, 0.05, "two-sided") == pytest.approx(0.8078, abs=5e-4)
    assert stats.power_paired(0.05, 0.1, 27, 0.05, "greater") == pytest.approx(0.8118, abs=5e-4)
    assert stats.power_paired(-0.05, 0.1, 27, 0.05, "less") == pytest.approx(0.8118, abs=5e-4)


def test_power_paired_limits():
    assert stats.power_paired(0.0, 1.0, 20, 0.05, "two-sided") == pytest.approx(0.05)
    assert stats.power_paired(0.0, 1.0, 20, 0.05, "greater") == pytest.approx(0.05)
    assert stats.power_paired(0.3, 1.0, 20, 0.05, "less") < 0.05
    # Large n: the normal approximation Phi(d sqrt(n) - z).
    assert stats.power_paired(0.1, 1.0, 900, 0.05, "greater") == pytest.approx(sps.norm.cdf(3 - 1.6449), abs=2e-3)
    assert stats.power_paired(0.1, 0.0, 5, 0.05, "greater") == 1.0
    assert stats.power_paired(0.1, 0.0, 5, 0.05, "less") == 0.0
    with pytest.raises(ValueError):
        stats.power_paired(0.1, 1.0, 1)


def test_power_tost():
    # Large n: 2 Phi(margin sqrt(n) / sd - z) - 1 at a true effect of 0.
    normal = 2 * sps.norm.cdf(0.06 * math.sqrt(2000) - 1.6449) - 1
    assert stats.power_tost(1.0, 2000, 0.06) == pytest.approx(normal, abs=3e-3)
    assert stats.power_tost(0.1, 20, 0.05) < stats.power_tost(0.1, 40, 0.05) < stats.power_tost(0.1, 80, 0.05)
    assert stats.power_tost(0.1, 20, 0.05, true_effect=0.05) <= 0.05  # the boundary: size at most alpha
    assert stats.power_tost(0.1, 3, 0.01) < 0.01  # a sample too small to ever reject
    assert stats.power_tost(0.0, 5, 0.05) == 1.0
    assert stats.power_tost(0.0, 5, 0.05, true_effect=0.06) == 0.0


def test_power_binomial_by_hand():
    # n = 10, p0 = 0.5, greater: P0(X >= 9) = 11/1024 < 0.05 <= P0(X >= 8) = 56/1024, so the
    # test rejects at 9 or 10; at p = 0.8 that has probability 10 * 0.8**9 * 0.2 + 0.8**10.
    assert stats.power_binomial(0.8, 10, 0.5) == pytest.approx(10 * 0.8**9 * 0.2 + 0.8**10)
    assert stats.power_binomial(0.2, 10, 0.5, alternative="less") == pytest.approx(10 * 0.8**9 * 0.2 + 0.8**10)
    assert stats.power_binomial(0.5, 10, 0.5) == pytest.approx(11 / 1024)


def test_power_binomial_tost_by_enumeration():
    n, p0, margin = 60, 0.5, 0.2
    rejected = [k for k in range(n + 1) if stats.tost_binomial(k, n, p0, margin).p_value < 0.05]
    expected = sum(sps.binom.pmf(k, n, 0.45) for k in rejected)
    assert stats.power_binomial_tost(n, p0, margin, 0.05, true_p=0.45) == pytest.approx(expected)


# --------------------------------------------------------------------------- proportions


@pytest.mark.parametrize("alternative", ALTERNATIVES)
def test_binomial_test_matches_scipy(alternative):
    result = stats.binomial_test(14, 20, 0.5, alternative)
    assert result.p_value == pytest.approx(sps.binomtest(14, 20, 0.5, alternative=alternative).pvalue)
    assert result.statistic == 0.7


def test_clopper_pearson_known_values():
    low, high = stats.clopper_pearson(0, 10)
    assert low == 0.0 and high == pytest.approx(1 - 0.025 ** (1 / 10))
    low, high = stats.clopper_pearson(10, 10)
    assert low == pytest.approx(0.025 ** (1 / 10)) and high == 1.0
    low, high = stats.clopper_pearson(5, 10)
    assert (low, high) == pytest.approx((0.18709, 0.81291), abs=1e-5)


def test_mcnemar_exact():
    assert stats.mcnemar(10, 2).p_value == pytest.approx(0.03857421875)  # 2 * P(X <= 2 | 12, 1/2)
    assert stats.mcnemar(10, 2, "greater").p_value == pytest.approx(sps.binom.sf(9, 12, 0.5))
    assert stats.mcnemar(0, 0).p_value == 1.0


def test_tost_binomial():
    result = stats.tost_binomial(50, 100, 0.5, 0.15)
    expected = max(sps.binom.sf(49, 100, 0.35), sps.binom.cdf(50, 100, 0.65))
    assert result.p_value == pytest.approx(expected)
    assert stats.tost_binomial(90, 100, 0.5, 0.15).p_value > 0.5


# --------------------------------------------------------------------------- paired_comparison


def test_paired_comparison_fields():
    x, y = _paired(-0.1, 0.1, 30, seed=1)
    c = stats.paired_comparison("ablate q->d", x, y, hypothesis="less", expected_effect=-0.14, n_resamples=500, seed=2)
    assert c.label == "ablate q->d"
    assert c.measured == pytest.approx(x.mean()) and c.reference == pytest.approx(y.mean())
    assert c.effect == pytest.approx((x - y).mean())
    assert c.ci == stats.bootstrap_ci(x, n_resamples=500, seed=2)
    assert c.details["effect_ci"] == list(stats.bootstrap_ci(x - y, n_resamples=500, seed=2))
    assert c.details["sd_diff"] == pytest.approx((x - y).std(ddof=1))
    assert c.effect_size == pytest.approx(stats.cohens_dz(x - y)) and c.effect_size_name == "Cohen's d_z"
    assert c.test == "paired t-test, one-sided (less)"
    assert c.p_value == c.p_corrected == pytest.approx(stats.paired_t(x, y, "less").p_value)
    assert c.details["p_difference"] == pytest.approx(stats.paired_t(x, y).p_value)
    assert c.n == 30
    assert c.power == pytest.approx(stats.power_paired(-0.14, (x - y).std(ddof=1), 30, 0.05, "less"))
    assert c.details["hypothesis"] == "less"


def test_paired_comparison_test_names():
    x, y = _paired(0.0, 0.03, 20, centred=True)
    equivalent = stats.paired_comparison("c", x, y, hypothesis="equivalent", margin=0.05)
    assert equivalent.test == "paired t-test, TOST, margin ±0.05"
    ranked = stats.paired_comparison("c", x, y, hypothesis="two-sided", test="wilcoxon")
    assert ranked.test == "Wilcoxon signed-rank test, two-sided"
    randomized = stats.paired_comparison("c", x, y, hypothesis="greater", test="randomization", n_permutations=500)
    assert randomized.test == "paired randomization test, one-sided (greater)"
    assert randomized.p_value >= 1 / 501


def test_superiority_supported():
    x, y = _paired(-0.14, 0.1, 40)
    c = stats.paired_comparison("drop", x, y, hypothesis="less", expected_effect=-0.14)
    assert c.verdict is Verdict.SUPPORTED
    assert c.reason.startswith("significant decrease: effect -0.")


def test_superiority_contradicted_by_opposite_effect():
    x, y = _paired(0.1, 0.1, 40)
    c = stats.paired_comparison("drop", x, y, hypothesis="less", expected_effect=-0.14)
    assert c.verdict is Verdict.CONTRADICTED
    # No smallest effect declared: the contradiction test is the one-sided test the other way.
    assert c.details["p_contradiction"] == pytest.approx(stats.paired_t(x, y, "greater").p_value)
    assert c.details["contradiction_null"] == "effect <= +0"
    assert c.reason.startswith("significant effect in the opposite direction: effect +0.1")
    assert f"(effect <= +0 rejected, p={c.details['p_contradiction']:.3g} < 0.05)" in c.reason


def test_superiority_not_contradicted_by_power_alone():
    # Mean exactly 0, sd exactly 0.1, n = 200: the t-test has power ~1 against -0.14, yet a
    # non-significant result is no longer a contradiction: power only words the reason.
    x, y = _paired(0.0, 0.1, 200, centred=True)
    c = stats.paired_comparison("drop", x, y, hypothesis="less", expected_effect=-0.14)
    assert c.verdict is Verdict.INCONCLUSIVE
    assert c.p_value == pytest.approx(0.5) and c.details["p_contradiction"] == pytest.approx(0.5)  # t = 0
    assert c.power == pytest.approx(stats.power_paired(-0.14, 0.1, 200, 0.05, "less")) and c.power > 0.99
    assert c.reason == ("not significant (test p=0.5) and not contradicted (effect <= +0 not rejected, p=0.5); "
                        f"power {c.power:.3g} >= 0.80 at n=200 to detect -0.14")


def test_superiority_contradicted_when_the_smallest_effect_is_rejected():
    # Same data with a smallest effect of interest -0.05: the test of "effect <= -0.05" against
    # "effect > -0.05" shifts the differences by 0.05, t = 0.05 / (0.1 / sqrt(200)) = sqrt(200) / 2.
    x, y = _paired(0.0, 0.1, 200, centred=True)
    c = stats.paired_comparison("drop", x, y, hypothesis="less", expected_effect=-0.14, smallest_effect=-0.05)
    assert c.details["p_contradiction"] == pytest.approx(sps.t.sf(math.sqrt(200) / 2, 199))
    assert c.verdict is Verdict.CONTRADICTED
    assert c.reason.startswith("effect shown smaller than the smallest of interest (-0.05): effect ")
    assert "(effect <= -0.05 rejected, p=1.27e-11 < 0.05)" in c.reason
    # A significant effect shown smaller than the smallest of interest is contradicted too (it
    # exists, and is too small to be the paper's): mean 0.02, sd 0.1, n = 400 gives t = 4 for
    # the support test and t = -6 for "effect >= 0.05"; the contradiction takes precedence.
    x, y = _paired(0.02, 0.1, 400, centred=True)
    c = stats.paired_comparison("gain", x, y, hypothesis="greater", smallest_effect=0.05)
    assert c.p_value == pytest.approx(sps.t.sf(4.0, 399)) and c.p_value < 0.05
    assert c.details["p_contradiction"] == pytest.approx(sps.t.sf(6.0, 399))
    assert c.verdict is Verdict.CONTRADICTED
    assert "(effect >= +0.05 rejected" in c.reason
    # Without the declaration the same data support the claim.
    plain = stats.paired_comparison("gain", x, y, hypothesis="greater")
    assert plain.verdict is Verdict.SUPPORTED and plain.p_value == c.p_value


def test_superiority_inconclusive_underpowered():
    x, y = _paired(0.0, 0.3, 20, centred=True)
    c = stats.paired_comparison("drop", x, y, hypothesis="less", expected_effect=-0.05)
    assert c.verdict is Verdict.INCONCLUSIVE and c.details["test"] == "t"
    assert c.power == pytest.approx(stats.power_paired(-0.05, 0.3, 20, 0.05, "less")) and c.power < 0.8
    assert c.reason == ("not significant (test p=0.5) and not contradicted (effect <= +0 not rejected, p=0.5); "
                        f"power {c.power:.3g} < 0.80 at n=20 to detect -0.05")


def test_below_sixteen_pairs_a_mean_is_decided_by_betting_on_its_range():
    x, y = _paired(0.0, 0.3, 8, centred=True)
    x, y = (x + 2) / 4, (y + 2) / 4  # into [0, 1]
    c = stats.paired_comparison("drop", x, y, hypothesis="less", expected_effect=-0.05, bounds=(0, 1))
    assert stats.CHECKED_FROM == 16
    assert c.details["test"] == "betting" and c.test == "betting test, one-sided (less) (values on [0, 1])"
    assert c.p_value == pytest.approx(float(betting_p(x - y, 0.0, -1, 1, "less")))
    assert c.details["smallest_p"] == pytest.approx(smallest_betting_p(8, 0.0, -1, 1, "less"))
    assert c.power == pytest.approx(stats.power_paired_test("betting", -0.05, c.details["sd_diff"], 8, 0.05, "less",
                                                            bounds=(-1, 1)))
    assert c.verdict is Verdict.INCONCLUSIVE and f"power {c.power:.3g} < 0.80 at n=8" in c.reason
    # Eight values at the top of [0, 1] against 1/2, whatever the session's test: the first bet is the
    # plug-in sqrt(2 ln 20 / (8 * 1/4)) on the prior variance 1/4, the others at the cap 0.99 / (1/2).
    up = stats.paired_comparison("gain", np.ones(8), 0.5, hypothesis="greater", test="wilcoxon", bounds=(0, 1))
    first = math.sqrt(2 * math.log(20) / 2)
    assert up.details["test"] == "betting" and up.p_value == pytest.approx(1 / ((1 + first / 2) * 1.99**7))
    assert up.verdict is Verdict.SUPPORTED
    # At n = 4 the capital reaches at most 1.99**4 = 15.7 < 1 / 0.05: undecidable, power 0.
    low = stats.paired_comparison("gain", [0.6, 0.7, 0.8, 0.9], 0.5, hypothesis="greater", expected_effect=0.2,
                                  bounds=(0, 1))
    assert low.details["smallest_p"] == pytest.approx(1.99**-4) and low.power == 0.0
    assert low.verdict is Verdict.INCONCLUSIVE
    assert low.reason == ("undecidable: at n=4 queries the smallest p-value this test can give is 0.0638, "
                          "not below its level 0.05")
    # Without a declared range nothing decides a mean below sixteen pairs.
    bare = stats.paired_comparison("gain", np.arange(1.0, 9.0), np.zeros(8), hypothesis="greater")
    assert bare.details["test"] == "none" and bare.verdict is Verdict.INCONCLUSIVE
    assert bare.reason.startswith("undecidable: no test decides a mean of values without a declared range")


def test_equal_differences_are_decided_by_what_they_show():
    """Ten queries all +1 are SUPPORTED as nine at +1 and one at 0 are, and more strongly: verdicts
    are monotone in the evidence (issue 22, D)."""
    ten = stats.paired_comparison("gain", np.ones(10), np.zeros(10), hypothesis="greater", bounds=(0, 1))
    nine = stats.paired_comparison("gain", np.r_[np.ones(9), 0.0], np.zeros(10), hypothesis="greater", bounds=(0, 1))
    assert ten.verdict is nine.verdict is Verdict.SUPPORTED
    assert ten.p_value < nine.p_value
    # An ablation that changes no query at all, of 300: equivalence within 0.05 is shown.
    same = stats.paired_comparison("same", np.full(300, 0.6), np.full(300, 0.6), hypothesis="equivalent", margin=0.05,
                                   bounds=(0, 1))
    assert same.verdict is Verdict.SUPPORTED and same.details["test"] == "betting"
    # Without a range, equal differences give no shape to check a test on: undecidable, said so.
    bare = stats.paired_comparison("gain", [0.3, 0.4, 0.5, 0.6] * 5, [0.2, 0.3, 0.4, 0.5] * 5, hypothesis="greater")
    assert bare.verdict is Verdict.INCONCLUSIVE and bare.reason.startswith("undecidable: no test decides")


def test_superiority_inconclusive_without_expected_effect():
    x, y = _paired(0.0, 0.1, 200, centred=True)
    c = stats.paired_comparison("gain", x, y, hypothesis="greater")
    assert c.verdict is Verdict.INCONCLUSIVE and c.power is None
    detectable = c.details["detectable_effect"]
    assert stats.power_paired(detectable, 0.1, 200, 0.05, "greater") == pytest.approx(0.8, abs=1e-4)
    assert c.reason.endswith(f"at n=200 queries only an effect of {detectable:+.3g} or beyond is detected with power 0.80")


def test_superiority_inconclusive_when_rank_test_and_mean_disagree():
    # Fifteen small gains and one large loss: Wilcoxon says "greater" (W+ = 120 of 136,
    # p = 0.0014), the mean falls (-0.053). The support test rejects but with the wrong sign;
    # the contradiction test (Wilcoxon "less") does not reject.
    c = _judged(stats.paired_comparison("gain", np.linspace(0.01, 0.02, 15), 0.0, hypothesis="greater"),
                p_value=0.0014, effect=-0.85 / 16, p_contradiction=0.3)
    assert c.verdict is Verdict.INCONCLUSIVE
    assert "opposite sign" in c.reason
    # Betting reads the mean, so it cannot disagree with it: nine small gains and a loss of the whole range.
    x = np.array([0.01] * 9 + [-1.0])
    small = stats.paired_comparison("gain", x, 0.0, hypothesis="greater", test="wilcoxon", bounds=(-1, 1))
    assert small.details["test"] == "betting" and small.p_value > 0.05
    assert small.verdict is Verdict.INCONCLUSIVE and "opposite sign" not in small.reason


def test_superiority_not_contradicted_when_only_a_rank_test_opposes_the_mean():
    # Fifteen small losses and one large gain: Wilcoxon's "less" rejects (p = 0.0014), the mean
    # is up (+0.053). The mirror image of the test above is INCONCLUSIVE ("opposite sign");
    # by the same token this is no contradiction of "greater".
    c = _judged(stats.paired_comparison("gain", np.linspace(0.01, 0.02, 15), 0.0, hypothesis="greater"),
                p_value=0.3, effect=0.85 / 16, p_contradiction=0.0014)
    assert c.details["p_contradiction"] < 0.05 and c.effect > 0
    assert c.verdict is Verdict.INCONCLUSIVE and "disagree" in c.reason


def test_two_sided_branches():
    x, y = _paired(0.1, 0.1, 30)
    assert stats.paired_comparison("d", x, y, hypothesis="two-sided").verdict is Verdict.SUPPORTED
    x, y = _paired(0.0, 0.1, 200, centred=True)
    # Power alone contradicts nothing.
    powered = stats.paired_comparison("d", x, y, hypothesis="two-sided", expected_effect=0.05)
    assert powered.verdict is Verdict.INCONCLUSIVE
    assert powered.power == pytest.approx(stats.power_paired(0.05, 0.1, 200, 0.05, "two-sided"))
    assert powered.details["p_contradiction"] == 1.0 and powered.details["contradiction_null"] is None
    assert powered.reason.endswith(f"power {powered.power:.3g} >= 0.80 at n=200 to detect +0.05")
    # With a smallest effect the TOST contradicts: t = -0.05 / (0.1 / sqrt(200)) on both sides.
    for smallest in (0.05, -0.05):  # its size is what counts
        small = stats.paired_comparison("d", x, y, hypothesis="two-sided", smallest_effect=smallest)
        assert small.details["p_contradiction"] == pytest.approx(sps.t.sf(math.sqrt(200) / 2, 199))
        assert small.verdict is Verdict.CONTRADICTED
        assert small.reason.startswith("no difference of interest: |effect| shown below 0.05: effect ")
        assert "(|effect| >= 0.05 rejected" in small.reason
    plain = stats.paired_comparison("d", x, y, hypothesis="two-sided")
    assert plain.verdict is Verdict.INCONCLUSIVE and "±" in plain.reason  # the detectable effect, both ways
    x, y = _paired(0.0, 0.3, 20, centred=True)
    weak = stats.paired_comparison("d", x, y, hypothesis="two-sided", expected_effect=0.05)
    assert weak.verdict is Verdict.INCONCLUSIVE and f"power {weak.power:.3g} < 0.80" in weak.reason
    assert weak.power == pytest.approx(stats.power_paired(0.05, 0.3, 20, 0.05, "two-sided"))


def test_equivalence_supported():
    x, y = _paired(0.0, 0.05, 100, centred=True)
    c = stats.paired_comparison("same", x, y, hypothesis="equivalent", margin=0.05)
    assert c.verdict is Verdict.SUPPORTED
    assert c.p_value == pytest.approx(stats.tost_paired(x, y, 0.05).p_value)
    assert c.reason.startswith("equivalent within ±0.05: effect ") and " (TOST p=" in c.reason
    # Below 16 pairs a margin is tested by betting on the values' range, and not at all without one.
    x, y = _paired(0.0, 0.02, 8, centred=True)
    small = stats.paired_comparison("same", x, y, hypothesis="equivalent", margin=0.05)
    assert small.details["test"] == "none" and small.p_value == 1.0 and small.power == 0.0
    assert small.verdict is Verdict.INCONCLUSIVE and small.reason.startswith("undecidable: no test decides")
    ranged = stats.paired_comparison("same", x, y, hypothesis="equivalent", margin=0.05, bounds=(-2, 3))
    assert ranged.details["test"] == "betting" and ranged.p_value < 1.0


def test_equivalence_contradicted():
    # Mean exactly 0.15, sd 0.05, n = 30: "effect <= 0.05" is rejected with t = 0.1 / (0.05 / sqrt(30)).
    x, y = _paired(0.15, 0.05, 30, centred=True)
    c = stats.paired_comparison("same", x, y, hypothesis="equivalent", margin=0.05)
    assert c.details["p_contradiction"] == pytest.approx(sps.t.sf(2 * math.sqrt(30), 29))
    assert c.verdict is Verdict.CONTRADICTED
    assert c.reason.startswith("not equivalent: the 90% interval lies beyond ±0.05: effect +0.15")
    assert "(effect within ±0.05 rejected, p=" in c.reason


def test_equivalence_not_contradicted_while_the_interval_reaches_the_margin():
    # Mean 0.07 beyond the margin 0.05 and significantly nonzero (the former rule's contradiction),
    # but "effect <= 0.05" is not rejected (t = 0.02 / (0.1 / sqrt(20)), p = 0.19): inconclusive.
    x, y = _paired(0.07, 0.1, 20, centred=True)
    c = stats.paired_comparison("same", x, y, hypothesis="equivalent", margin=0.05)
    assert c.details["p_difference"] < 0.05 and c.effect > 0.05
    assert c.details["p_contradiction"] == pytest.approx(sps.t.sf(0.2 * math.sqrt(20), 19))
    assert c.verdict is Verdict.INCONCLUSIVE


def test_equivalence_inconclusive_underpowered():
    x, y = _paired(0.0, 0.2, 20, centred=True)
    c = stats.paired_comparison("same", x, y, hypothesis="equivalent", margin=0.05)
    assert c.verdict is Verdict.INCONCLUSIVE
    assert c.power == pytest.approx(stats.power_tost(0.2, 20, 0.05))
    assert c.reason.endswith(f"power {c.power:.3g} < 0.80 at n=20 at a true effect of 0")
    # Below 16 pairs no margin is tested, so there is no power to have.
    x, y = _paired(0.0, 0.2, 6, centred=True)
    small = stats.paired_comparison("same", x, y, hypothesis="equivalent", margin=0.05)
    assert small.power == 0.0 == stats.power_paired_test("exact", 0.0, 0.2, 6, 0.05, margin=0.05)
    assert small.verdict is Verdict.INCONCLUSIVE and "(n=6 queries)" in small.reason


def test_equivalence_inconclusive_when_a_significant_difference_is_within_the_margin():
    x, y = _paired(0.04, 0.05, 30, centred=True)
    c = stats.paired_comparison("same", x, y, hypothesis="equivalent", margin=0.05)
    assert c.details["p_difference"] < 0.05 and abs(c.effect) < 0.05 and c.p_value >= 0.05
    assert c.verdict is Verdict.INCONCLUSIVE


@pytest.mark.parametrize("test", ["wilcoxon", "randomization"])
def test_equivalence_with_other_tests(test):
    x, y = _paired(0.0, 0.05, 60, centred=True)
    c = stats.paired_comparison("same", x, y, hypothesis="equivalent", margin=0.05, test=test, n_permutations=2000)
    assert c.verdict is Verdict.SUPPORTED
    assert c.p_value == pytest.approx(stats.tost_paired(x, y, 0.05, test, n_resamples=2000).p_value)


@pytest.mark.parametrize(
    "kwargs",
    [
        {"hypothesis": "equivalent"},
        {"hypothesis": "equivalent", "margin": -0.1},
        {"hypothesis": "equivalent", "margin": 0.1, "expected_effect": 0.0},
        {"hypothesis": "less", "margin": 0.1},
        {"hypothesis": "less", "expected_effect": 0.1},
        {"hypothesis": "greater", "expected_effect": 0.0},
        {"hypothesis": "worse"},
        {"hypothesis": "less", "test": "sign"},
    ],
)
def test_paired_comparison_rejects_bad_declarations(kwargs):
    x, y = _paired(0.0, 0.1, 10)
    with pytest.raises(ValueError):
        stats.paired_comparison("bad", x, y, **kwargs)


def test_paired_comparison_rejects_bad_data():
    with pytest.raises(ValueError):
        stats.paired_comparison("bad", [0.5], [0.4], hypothesis="greater")
    with pytest.raises(ValueError):
        stats.paired_comparison("bad", [0.5, 0.6], [0.4], hypothesis="greater")


# --------------------------------------------------------------------------- families


def test_correct_family_applies_holm_and_rederives_verdicts():
    p_target = [0.03, 0.04]
    family = [stats.paired_comparison(f"c{i}", *_with_t(sps.t.isf(p, 19), 20), hypothesis="greater")
              for i, p in enumerate(p_target)]
    assert [c.verdict for c in family] == [Verdict.SUPPORTED, Verdict.SUPPORTED]
    assert [c.p_value for c in family] == pytest.approx(p_target)
    assert [c.details["p_contradiction"] for c in family] == pytest.approx([0.97, 0.96])  # 1 - p for the t-test
    # "any" (a screen): the support p-values are corrected, 2 * 0.03 and max(0.06, 0.04).
    screen = stats.correct_family(family, "holm", require="any")
    assert [c.p_corrected for c in screen] == pytest.approx([0.06, 0.06])
    assert [c.details["p_contradiction_corrected"] for c in screen] == pytest.approx([0.97, 0.96])
    assert [c.verdict for c in screen] == [Verdict.INCONCLUSIVE, Verdict.INCONCLUSIVE]
    assert all("p_holm=0.06" in c.reason for c in screen)
    assert all(c.details["power_level"] == pytest.approx(0.025) for c in screen)
    # "all" (intersection-union): each support test stays at alpha, the contradictions are corrected.
    claim = stats.correct_family(family, "holm", require="all")
    assert [c.p_corrected for c in claim] == pytest.approx(p_target)
    assert [c.details["p_contradiction_corrected"] for c in claim] == pytest.approx([1.0, 1.0])  # 2 * 0.96, capped
    assert [c.verdict for c in claim] == [Verdict.SUPPORTED, Verdict.SUPPORTED]
    assert all(c.details["power_level"] == 0.05 for c in claim)
    for corrected in (screen, claim):
        assert [c.p_value for c in corrected] == [c.p_value for c in family]
    assert [c.verdict for c in family] == [Verdict.SUPPORTED, Verdict.SUPPORTED]  # originals untouched
    assert [c.verdict for c in stats.correct_family(family, "none", require="any")] == [Verdict.SUPPORTED] * 2


def test_correct_family_corrects_equivalence_difference_p_and_power():
    x1, y1 = _paired(0.15, 0.05, 30)
    x2, y2 = _paired(0.0, 0.05, 100, centred=True)
    x3, y3 = _paired(-0.1, 0.1, 20, seed=4)
    family = [
        stats.paired_comparison("far", x1, y1, hypothesis="equivalent", margin=0.05),
        stats.paired_comparison("same", x2, y2, hypothesis="equivalent", margin=0.05),
        stats.paired_comparison("drop", x3, y3, hypothesis="less", expected_effect=-0.14),
    ]
    support = [c.p_value for c in family]
    contradiction = [c.details["p_contradiction"] for c in family]
    expected_difference = stats.holm([c.details["p_difference"] for c in family])
    sd = [c.details["sd_diff"] for c in family]
    for require, level in (("all", 0.05), ("any", 0.05 / 3)):
        corrected = stats.correct_family(family, "holm", alpha=0.05, require=require)
        assert [c.p_corrected for c in corrected] == pytest.approx(support if require == "all" else stats.holm(support))
        assert [c.details["p_contradiction_corrected"] for c in corrected] == pytest.approx(
            stats.holm(contradiction) if require == "all" else contradiction)
        assert [c.details["p_difference_corrected"] for c in corrected] == pytest.approx(expected_difference)
        # Power is at the level the support test faces: alpha, or alpha/m where support is corrected.
        assert all(c.details["power_level"] == pytest.approx(level) for c in corrected)
        assert corrected[0].power == pytest.approx(stats.power_tost(sd[0], 30, 0.05, level))
        assert corrected[2].power == pytest.approx(stats.power_paired(-0.14, sd[2], 20, level, "less"))
        assert [c.verdict for c in corrected] == [Verdict.CONTRADICTED, Verdict.SUPPORTED, Verdict.SUPPORTED]
        assert stats.correct_family(corrected, "holm", require=require) == corrected  # idempotent


def _beyond_the_margin_at(p: float, n: int = 20):
    """Differences of mean 0.1 whose one-sided t-test of "effect <= 0.05" gives exactly p."""
    z = np.linspace(-1.0, 1.0, n)
    z = (z - z.mean()) / z.std(ddof=1)
    return 0.1 + 0.05 * math.sqrt(n) / sps.t.isf(p, n - 1) * z, np.zeros(n)


def test_correct_family_can_undo_a_contradiction():
    # Alone, "effect within ±0.05" is rejected at p = 0.01; among ten, Bonferroni makes it 0.1.
    lone = stats.paired_comparison("far", *_beyond_the_margin_at(0.01), hypothesis="equivalent", margin=0.05)
    assert lone.details["p_contradiction"] == pytest.approx(0.01)
    assert lone.verdict is Verdict.CONTRADICTED
    others = [stats.paired_comparison(f"o{i}", *_paired(0.0, 0.1, 20, seed=i, centred=True), hypothesis="equivalent",
                                      margin=0.05) for i in range(9)]
    corrected = stats.correct_family([lone, *others], "bonferroni", require="all")
    assert corrected[0].details["p_contradiction_corrected"] == pytest.approx(0.1)
    assert corrected[0].details["p_difference_corrected"] == pytest.approx(min(1.0, 10 * lone.details["p_difference"]))
    assert corrected[0].verdict is Verdict.INCONCLUSIVE
    # A screen is contradicted only if every member is, each at alpha: the contradiction stands.
    screened = stats.correct_family([lone, *others], "bonferroni", require="any")
    assert screened[0].details["p_contradiction_corrected"] == pytest.approx(0.01)
    assert screened[0].verdict is Verdict.CONTRADICTED


def test_correct_family_empty_and_unknown_method():
    assert stats.correct_family([], "holm", require="all") == []
    x, y = _paired(0.1, 0.1, 20)
    c = stats.paired_comparison("c", x, y, hypothesis="greater")
    with pytest.raises(ValueError):
        stats.correct_family([c], "sidak", require="all")
    with pytest.raises(ValueError):
        stats.correct_family([c], "holm", require="most")
    with pytest.raises(TypeError):
        stats.correct_family([c], "holm")  # require has no default: the caller must say what the family concludes


def _family(*verdicts: Verdict):
    x, y = _paired(0.1, 0.1, 10)
    base = stats.paired_comparison("c", x, y, hypothesis="greater")
    return [replace(base, label=f"c{i}", verdict=v, reason=f"reason {i}") for i, v in enumerate(verdicts)]


@pytest.mark.parametrize(
    ("verdicts", "all_", "any_"),
    [
        ("SSS", "SUPPORTED", "SUPPORTED"),
        ("SSI", "INCONCLUSIVE", "SUPPORTED"),
        ("SIC", "CONTRADICTED", "SUPPORTED"),
        ("IIC", "CONTRADICTED", "INCONCLUSIVE"),
        ("CCC", "CONTRADICTED", "CONTRADICTED"),
        ("III", "INCONCLUSIVE", "INCONCLUSIVE"),
    ],
)
def test_family_verdict(verdicts, all_, any_):
    letters = {"S": Verdict.SUPPORTED, "I": Verdict.INCONCLUSIVE, "C": Verdict.CONTRADICTED}
    family = _family(*(letters[v] for v in verdicts))
    assert stats.family_verdict(family)[0] is Verdict(all_)
    assert stats.family_verdict(family, require="any")[0] is Verdict(any_)


def test_family_verdict_reasons():
    verdict, reason = stats.family_verdict(_family(Verdict.SUPPORTED, Verdict.CONTRADICTED, Verdict.INCONCLUSIVE))
    assert verdict is Verdict.CONTRADICTED
    assert reason == "1 supported, 1 contradicted, 1 inconclusive of 3 comparisons (requires all); contradicted: c1"
    assert stats.family_verdict(_family(Verdict.INCONCLUSIVE)) == (Verdict.INCONCLUSIVE, "reason 0")
    _, many = stats.family_verdict(_family(*[Verdict.INCONCLUSIVE] * 5))
    assert many.endswith("inconclusive: c0, c1, c2 and 2 more")
    with pytest.raises(ValueError):
        stats.family_verdict([])
    with pytest.raises(ValueError):
        stats.family_verdict(_family(Verdict.SUPPORTED), require="most")


# --------------------------------------------------------------------------- proportion_comparison


def test_proportion_comparison_fields():
    c = stats.proportion_comparison("left rank 1", 18, 20, 0.5, hypothesis="greater", expected_effect=0.3)
    assert (c.measured, c.reference, c.n) == (0.9, 0.5, 20)
    assert c.effect == pytest.approx(0.4)
    assert c.ci == stats.clopper_pearson(18, 20)
    assert c.details["effect_ci"] == pytest.approx([c.ci[0] - 0.5, c.ci[1] - 0.5])
    assert c.effect_size == pytest.approx(stats.cohens_h(0.9, 0.5)) and c.effect_size_name == "Cohen's h"
    assert c.p_value == pytest.approx(sps.binomtest(18, 20, 0.5, alternative="greater").pvalue)
    assert c.power == pytest.approx(stats.power_binomial(0.8, 20, 0.5))
    assert c.test == "exact binomial test, one-sided (greater) against p0=0.5"
    assert c.verdict is Verdict.SUPPORTED


def test_proportion_comparison_branches():
    def compare(k, n, p0=0.5, **kwargs):
        return stats.proportion_comparison("p", k, n, p0, **kwargs)

    def verdict(k, n, **kwargs):
        return compare(k, n, **kwargs).verdict

    opposite = compare(2, 20, hypothesis="greater")  # significant the other way: P(X <= 2 | 20, 1/2)
    assert opposite.details["p_contradiction"] == pytest.approx(sps.binom.cdf(2, 20, 0.5))
    assert opposite.verdict is Verdict.CONTRADICTED
    powered = compare(50, 100, hypothesis="greater", expected_effect=0.3)  # power ~1 decides nothing
    assert powered.power > 0.99 and powered.verdict is Verdict.INCONCLUSIVE
    small = compare(50, 100, hypothesis="greater", expected_effect=0.3, smallest_effect=0.1)
    assert small.details["p_contradiction"] == pytest.approx(sps.binom.cdf(50, 100, 0.6))  # 0.027
    assert small.verdict is Verdict.CONTRADICTED and "(proportion >= 0.6 rejected" in small.reason
    assert verdict(11, 20, hypothesis="greater", expected_effect=0.1) is Verdict.INCONCLUSIVE  # underpowered
    assert verdict(11, 20, hypothesis="greater") is Verdict.INCONCLUSIVE  # no expected effect
    assert verdict(3, 20, hypothesis="less") is Verdict.SUPPORTED
    assert verdict(500, 1000, hypothesis="equivalent", margin=0.1) is Verdict.SUPPORTED
    far = compare(900, 1000, hypothesis="equivalent", margin=0.1)  # P(X >= 900 | 1000, 0.6)
    assert far.details["p_contradiction"] == pytest.approx(sps.binom.sf(899, 1000, 0.6))
    assert far.verdict is Verdict.CONTRADICTED
    # At n = 10 the binomial TOST within 0.5 ± 0.1 can never reject: its best p is 0.367 (k = 5).
    undecidable = compare(5, 10, hypothesis="equivalent", margin=0.1)
    assert undecidable.details["smallest_p"] == pytest.approx(sps.binom.sf(4, 10, 0.4))
    assert undecidable.verdict is Verdict.INCONCLUSIVE and undecidable.reason.startswith("undecidable: at n=10")
    # A one-sided binomial test of 0.25 at n = 2 cannot go below 0.75**2 = 0.5625.
    assert compare(0, 2, 0.25, hypothesis="less").reason.startswith("undecidable: at n=2 queries")
    with pytest.raises(ValueError):
        verdict(21, 20, hypothesis="greater")
    with pytest.raises(ValueError):
        verdict(5, 10, hypothesis="two-sided")
    with pytest.raises(ValueError):
        verdict(5, 10, hypothesis="less", selection=0)


def test_proportion_selection_multiplies_the_contradiction_p_only():
    # 9 of 20 against "at most 0.25": P(X >= 9 | 20, 0.25) = 0.041 contradicts alone, not as the
    # worst of 4 layers (4 * 0.041 = 0.164); the support p is the same either way.
    alone = stats.proportion_comparison("worst", 9, 20, 0.25, hypothesis="less")
    worst = stats.proportion_comparison("worst", 9, 20, 0.25, hypothesis="less", selection=4)
    assert alone.details["p_contradiction"] == pytest.approx(sps.binom.sf(8, 20, 0.25))
    assert worst.details["p_contradiction"] == pytest.approx(4 * sps.binom.sf(8, 20, 0.25))
    assert worst.p_value == alone.p_value
    assert (alone.verdict, worst.verdict) == (Verdict.CONTRADICTED, Verdict.INCONCLUSIVE)
    assert "for the worst of 4 (Bonferroni over the selection)" in worst.details["contradiction_null"]


def test_proportion_comparisons_correct_as_a_family():
    family = [stats.proportion_comparison(f"p{i}", 15, 20, 0.5, hypothesis="greater") for i in range(3)]
    support = [c.p_value for c in family]
    contradiction = [c.details["p_contradiction"] for c in family]
    screen = stats.correct_family(family, "holm", require="any")
    assert [c.p_corrected for c in screen] == pytest.approx(stats.holm(support))
    assert [c.details["p_contradiction_corrected"] for c in screen] == pytest.approx(contradiction)
    claim = stats.correct_family(family, "holm", require="all")
    assert [c.p_corrected for c in claim] == pytest.approx(support)
    assert [c.details["p_contradiction_corrected"] for c in claim] == pytest.approx(stats.holm(contradiction))


# --------------------------------------------------------------------------- the rules as documented


def test_verdict_rules_section_of_the_docstring():
    rules = docstring_section(stats.__doc__, "Verdict rules")
    assert rules is not None
    flowing = " ".join(rules.split())
    for phrase in (
        "a support test, whose rejection says SUPPORTED, and a contradiction test, whose rejection says CONTRADICTED",
        "A contradiction takes precedence",
        "supported if the one-sided test rejects \"no effect\" and the mean has the claimed sign",
        "rejects \"effect >= the smallest effect of interest\"",
        "contradicted only where a smallest effect is declared, by the TOST",
        "contradicted if the (1 - 2 alpha) interval lies wholly outside +-margin",
        f"below CHECKED_FROM ({stats.CHECKED_FROM}) differences off the most common one",
        "valid at every n for every distribution on that range",
        "false rate on resamples of the comparison's own differences",
        "It words the INCONCLUSIVE reason; it never decides",
        "requires all of them by default (an intersection-union test)",
        "CONTRADICTED if any is contradicted, the contradiction p-values corrected within the claim",
        "SUPPORTED if any is supported, the support p-values corrected; CONTRADICTED if all are contradicted",
    ):
        assert phrase in flowing
    assert "although power" not in flowing  # power no longer contradicts
    assert "simulate_false_positive_rate" not in rules  # the next section is not part of the rules


def test_independent_comparison_matches_scipy_and_decides():
    from scipy.stats import mannwhitneyu

    deep = [0.8, 0.9, 1.0, 0.7, 0.95]
    shallow = [0.1, 0.2, 0.0, 0.3]
    result = stats.independent_comparison("depth", deep, shallow, hypothesis="greater")
    assert result.p_value == pytest.approx(mannwhitneyu(deep, shallow, alternative="greater").pvalue)
    assert result.effect_size == pytest.approx(1.0)  # every deep value above every shallow one
    assert result.verdict is Verdict.SUPPORTED and result.n == 9
    reversed_ = stats.independent_comparison("depth", shallow, deep, hypothesis="greater")
    assert reversed_.verdict is Verdict.CONTRADICTED
    unclear = stats.independent_comparison("depth", [0.5, 0.4], [0.45, 0.5], hypothesis="greater")
    assert unclear.verdict is Verdict.INCONCLUSIVE and unclear.power is None
    with pytest.raises(ValueError, match="at least one value"):
        stats.independent_comparison("depth", [], [1.0], hypothesis="greater")


# --------------------------------------------------------------------------- detectable effect


@pytest.mark.parametrize("hypothesis", ["greater", "less", "two-sided"])
def test_detectable_effect_is_where_paired_power_reaches_min_power(hypothesis):
    rng = np.random.default_rng(3)
    c = stats.paired_comparison("x", rng.normal(0, 1, 25), rng.normal(0, 1, 25), hypothesis=hypothesis)
    detectable = c.details["detectable_effect"]
    assert (detectable < 0) == (hypothesis == "less")
    power = stats.power_paired(detectable, c.details["sd_diff"], c.n, 0.05, hypothesis)
    assert power == pytest.approx(0.8, abs=1e-4)
    if c.verdict is Verdict.INCONCLUSIVE:
        assert f"{abs(detectable):.3g}" in c.reason


def test_detectable_effect_of_a_proportion_is_the_first_with_enough_exact_power():
    c = stats.proportion_comparison("x", 3, 20, 0.2, hypothesis="greater")
    detectable = c.details["detectable_effect"]
    assert stats.power_binomial(0.2 + detectable, 20, 0.2, 0.05, "greater") >= 0.8
    assert stats.power_binomial(0.2 + detectable - 0.01, 20, 0.2, 0.05, "greater") < 0.8


def test_detectable_effect_of_mann_whitney_matches_simulation():
    rng = np.random.default_rng(4)
    c = stats.independent_comparison("x", rng.normal(0, 1, 30), rng.normal(0, 1, 20), hypothesis="greater")
    shift, sd = c.details["detectable_effect"], c.details["sd_pooled"]
    x = rng.normal(shift, sd, (2000, 30))
    y = rng.normal(0, sd, (2000, 20))
    rate = np.mean(sps.mannwhitneyu(x, y, alternative="greater", axis=1).pvalue < 0.05)
    assert rate == pytest.approx(0.8, abs=0.04)


def test_detectable_effect_is_absent_when_power_is_known():
    rng = np.random.default_rng(5)
    c = stats.paired_comparison("x", rng.normal(0, 1, 25), rng.normal(0, 1, 25), hypothesis="greater", expected_effect=0.3)
    assert c.power is not None and "detectable_effect" not in c.details
