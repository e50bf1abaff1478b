"""Method checks: the detectors on planted mechanisms (a cross-encoder, a DSI T5), the decisions under simulated nulls.

The checks live in suite.method_checks; each is recorded in the run (and so in the
report's "Method checks" section) before it is asserted.
"""

import pytest

from suite import method_checks


@pytest.mark.parametrize("name", list(method_checks.PLANTED_CHECKS))
def test_planted_mechanism(name, planted_setup, claims):
    check = claims.record_check(method_checks.PLANTED_CHECKS[name](planted_setup))
    assert check["passed"], check["detail"]


@pytest.mark.parametrize("name", list(method_checks.PLANTED_GENERATIVE_CHECKS))
def test_planted_generative_mechanism(name, planted_generative_setup, claims):
    check = claims.record_check(method_checks.PLANTED_GENERATIVE_CHECKS[name](planted_generative_setup))
    assert check["passed"], check["detail"]


@pytest.mark.parametrize("decision", method_checks.CALIBRATED_DECISIONS)
def test_false_positive_rate(decision, planted_setup, claims):
    check = claims.record_check(method_checks.check_false_positive_rate(
        decision, claims.settings, n=planted_setup.study.n_queries, heads=planted_setup.screened_tests))
    assert check["passed"], check["detail"]


@pytest.mark.parametrize("decision", ["superiority", "equivalence"])
def test_power_matches_simulation(decision, planted_setup, claims):
    check = claims.record_check(method_checks.check_power(decision, claims.settings, n=planted_setup.study.n_queries))
    assert check["passed"], check["detail"]
