"""The suite proving its instruments: each decision says SUPPORTED under its null, and CONTRADICTED
with its claim true, at most at rate alpha (+ 3 Monte-Carlo standard errors); the power the
reasons quote matches simulation; and each check fails when its decision is broken on purpose
(a flipped direction, a missing correction, a one-sided test used as two-sided).

Every figure comes from ranker_claims.core.stats.simulate_verdict_rate / simulate_power, the functions the
report's calibration table shows; all are seeded.
"""

from __future__ import annotations

import dataclasses
import math

import numpy as np
import pytest

from ranker_claims.core import method_checks, stats
from ranker_claims.core.claims import Settings
from ranker_claims.core.stats import comparisons, corrections, tests
from ranker_claims.core.stats.calibration import CALIBRATED

N_SIMS = 1000


def rates(decision, data, n, **options):
    return stats.simulate_verdict_rate(decision, data, n, n_sims=N_SIMS, seed=11, **options)


@pytest.mark.parametrize(("decision", "data", "n"), [
    ("superiority", "normal", 30), ("superiority", "binary", 10), ("superiority-smallest", "normal", 30),
    ("difference", "normal", 30), ("equivalence", "normal", 30), ("proportion", "binary", 108),
    ("proportion-equivalence", "binary", 269), ("worst-of-L", "binary", 108), ("bounded", "rare-ones", 108),
    ("bounded", "zero-inflated-beta", 10), ("mcnemar", "binary", 60), ("mann-whitney", "depths", (5, 5)),
    ("screen", "normal", 20), ("family", "normal", 20),
])
def test_each_decision_is_calibrated_for_both_verdicts(decision, data, n):
    supported, contradicted = rates(decision, data, n)
    for result in (supported, contradicted):
        assert result.n_sims >= 1000
        assert result.mc_error == pytest.approx(math.sqrt(0.05 * 0.95 / N_SIMS))
        assert result.limit == pytest.approx(0.05 + 3 * result.mc_error)
        assert result.audited > 0 and result.mismatches == 0, result
        assert result.passed, result
    assert (supported.verdict, contradicted.verdict) == ("SUPPORTED", "CONTRADICTED")


def test_the_t_test_is_exact_at_the_boundary_not_just_conservative():
    supported, contradicted = rates("superiority", "normal", 30)
    for result in (supported, contradicted):
        assert result.rate >= result.alpha - 3 * result.mc_error, result


def test_tiny_samples_cannot_decide():
    """At n = 2 no exact test reaches alpha: both rates are 0, not an error."""
    for decision, spec in CALIBRATED.items():
        n = (2, 2) if decision == "mann-whitney" else 2
        supported, _ = stats.simulate_verdict_rate(decision, spec.data[0], n, n_sims=200)
        assert supported.rate == 0.0 and supported.passed, supported


def test_unknown_decisions_and_data_are_refused():
    with pytest.raises(ValueError):
        stats.simulate_verdict_rate("superstition", "normal", 10)
    with pytest.raises(ValueError):
        stats.simulate_verdict_rate("mcnemar", "normal", 10)
    with pytest.raises(ValueError):
        stats.simulate_power("proportion")


# --------------------------------------------------------------------------- broken on purpose


def _swapped(alternative):
    return {"greater": "less", "less": "greater"}.get(alternative, alternative)


def test_a_paired_test_run_the_wrong_way_fails(monkeypatch):
    """The t-test's sides swapped everywhere: the verdict rules' checks of the estimate's side keep
    both rates near 0 (the flipped test never decides), and the power check, which expects the
    test to detect half an sd, fails."""
    real = tests.t_test_differences
    monkeypatch.setattr(tests, "t_test_differences", lambda d, alternative, tolerance=0.0: real(d, _swapped(alternative), tolerance))
    supported, contradicted = rates("superiority", "normal", 30)
    assert supported.rate < 0.01 and contradicted.rate < 0.01, (supported, contradicted)
    check = method_checks.check_power("superiority", Settings(), n=60)
    assert not check["passed"], check["detail"]


def test_a_comparison_function_testing_the_wrong_side_fails_its_audit(monkeypatch):
    """Only the comparison function broken (its paired decision's sides swapped, the simulation's
    intact): its verdicts differ from the simulation's on the audited data sets."""
    real = comparisons.decide_paired

    def swapped(d, declared, **kw):
        return real(d, dataclasses.replace(declared, hypothesis=_swapped(declared.hypothesis)), **kw)

    monkeypatch.setattr(comparisons, "decide_paired", swapped)
    supported, contradicted = rates("superiority", "normal", 30)
    assert supported.mismatches + contradicted.mismatches > 0
    assert not (supported.passed and contradicted.passed)


def test_a_verdict_ignoring_the_effects_sign_fails(monkeypatch):
    """The sign check dropped and the support test run the other way: SUPPORTED on effects of
    the wrong sign, inside the null."""
    real = tests.t_test_differences
    monkeypatch.setattr(tests, "t_test_differences", lambda d, alternative, tolerance=0.0: real(d, _swapped(alternative), tolerance))
    original = stats.verdicts._verdict

    def signless(c, alpha, describe=True):
        return original(dataclasses.replace(c, effect=abs(c.effect)), alpha, describe)

    monkeypatch.setattr(stats.verdicts, "_verdict", signless)
    supported, _ = rates("superiority", "normal", 30)
    assert not supported.passed and supported.rate > 0.5, supported


def test_a_screen_without_correction_fails(monkeypatch):
    """8 null heads, uncorrected: some head is SUPPORTED far more often than alpha."""
    monkeypatch.setattr(corrections, "correct", lambda pvalues, method: np.asarray(pvalues, dtype=float))
    supported, _ = rates("screen", "normal", 20)
    assert not supported.passed and supported.rate > 0.25, supported


def test_a_family_contradicted_without_correction_fails(monkeypatch):
    """4 comparisons at their contradiction boundary, uncorrected: one is contradicted by chance."""
    monkeypatch.setattr(corrections, "correct", lambda pvalues, method: np.asarray(pvalues, dtype=float))
    _, contradicted = rates("family", "normal", 20)
    assert not contradicted.passed and contradicted.rate > 0.1, contradicted


def test_the_worst_of_L_needs_its_selection():
    """The worst of 6 layers at the bound, contradicted without the factor 6: far above alpha."""
    spec = CALIBRATED["worst-of-L"]
    unselected = dataclasses.replace(spec, declared={**spec.declared, "selection": 1})
    _, contradicted = stats.simulate_verdict_rate(unselected, "binary", 108, n_sims=N_SIMS, seed=11)
    assert not contradicted.passed and contradicted.rate > 0.15, contradicted


def test_a_comparison_function_dropping_the_selection_fails_its_audit(monkeypatch):
    real = comparisons.proportion_comparison
    monkeypatch.setattr(comparisons, "proportion_comparison",
                        lambda *args, selection=1, **kwargs: real(*args, **kwargs))
    _, contradicted = rates("worst-of-L", "binary", 108)
    assert contradicted.mismatches > 0 and not contradicted.passed, contradicted


def test_a_two_sided_test_replaced_by_a_one_sided_one_fails(monkeypatch):
    """"Two-sided" answered by the one-sided test in the direction observed: twice alpha."""
    real = tests.t_test_differences

    def one_sided(d, alternative, tolerance=0.0):
        if alternative != "two-sided":
            return real(d, alternative, tolerance)
        t, greater = real(d, "greater", tolerance)
        return t, np.minimum(greater, real(d, "less", tolerance)[1])

    monkeypatch.setattr(tests, "t_test_differences", one_sided)
    supported, _ = rates("difference", "normal", 30)
    assert not supported.passed and supported.rate > 0.08, supported


def test_a_tost_at_twice_alpha_fails(monkeypatch):
    """Each one-sided test of the TOST read as if two-sided (its p halved): the TOST runs at 2 alpha."""
    real = tests.t_test_differences

    def halved(d, alternative, tolerance=0.0):
        t, p = real(d, alternative, tolerance)
        return t, p / 2 if alternative != "two-sided" else p

    monkeypatch.setattr(tests, "t_test_differences", halved)
    supported, _ = rates("equivalence", "normal", 30)
    assert not supported.passed and supported.rate > 0.08, supported


# --------------------------------------------------------------------------- power


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


def test_power_of_the_exact_test_at_small_n_matches_simulation():
    """The exact sign-flip test's (simulated) power at n = 10 matches simulation (a session's test of
    the sharp null, kept for the power check; the claims' paired decisions no longer use it)."""
    result = stats.simulate_power("superiority", effect=0.1, sd=0.1, n=10, n_sims=4000, seed=17, test="exact")
    assert 0.3 < result.analytic < 0.95
    assert result.passed, result


# --------------------------------------------------------------------------- the claims' n


def test_real_sizes_come_from_the_recorded_comparisons():
    results = [{"comparisons": [
        {"n": 60, "details": {"kind": "paired", "hypothesis": "greater"}},
        {"n": 60, "details": {"kind": "paired", "hypothesis": "two-sided"}},
        {"n": 108, "details": {"kind": "proportion", "hypothesis": "less", "selection": 6}},
        {"n": 34, "details": {"kind": "independent", "hypothesis": "greater", "sizes": [14, 20]}},
    ]}]
    sizes = method_checks.real_sizes(results)
    assert sizes["superiority"] == (60,) and sizes["difference"] == (60,) and sizes["worst-of-L"] == (108,)
    assert sizes["mann-whitney"] == ((14, 20),)
    assert sizes["proportion"] == method_checks.DEFAULT_SIZES["proportion"]  # none recorded: the default
    assert method_checks.real_sizes([]) == method_checks.DEFAULT_SIZES


def test_a_calibration_check_fails_with_its_broken_cell(monkeypatch):
    monkeypatch.setattr(corrections, "correct", lambda pvalues, method: np.asarray(pvalues, dtype=float))
    check = method_checks.check_calibration("family", "normal", Settings(), sizes=(20,), n_sims=300)
    assert not check["passed"] and "failing: CONTRADICTED" in check["detail"]
    cells = check["figures"]["calibration"]["cells"]
    assert [c["n"] for c in cells if c["verdict"] == "SUPPORTED"] == ["2", "3", "5", "10", "20"]
    assert [c["real"] for c in cells].count(True) == 2
