"""Method checks: the detectors on planted mechanisms (a cross-encoder, a DSI T5), the decisions under simulated nulls.

The checks live in each wing's ``method_checks`` and in :mod:`suite.core.method_checks`; each is
recorded in the run (and so in the report's "Method checks" section) before it is asserted.
"""

import pytest

from suite.core.method_checks import CALIBRATED_DECISIONS, check_false_positive_rate, check_power
from suite.cross_encoder.method_checks import PLANTED_CHECKS
from suite.generative.method_checks import PLANTED_GENERATIVE_CHECKS


@pytest.mark.parametrize("name", list(PLANTED_CHECKS))
def test_planted_mechanism(name, planted_cross_encoder, claims):
    check = claims.record_check(PLANTED_CHECKS[name](planted_cross_encoder))
    assert check["passed"], check["detail"]


@pytest.mark.parametrize("name", list(PLANTED_GENERATIVE_CHECKS))
def test_planted_generative_mechanism(name, planted_generative, claims):
    check = claims.record_check(PLANTED_GENERATIVE_CHECKS[name](planted_generative))
    assert check["passed"], check["detail"]


@pytest.mark.parametrize("decision", CALIBRATED_DECISIONS)
def test_false_positive_rate(decision, planted_cross_encoder, claims):
    check = claims.record_check(check_false_positive_rate(
        decision, claims.settings, n=planted_cross_encoder.study.n_queries, heads=planted_cross_encoder.screened_tests))
    assert check["passed"], check["detail"]


@pytest.mark.parametrize("decision", ["superiority", "equivalence"])
def test_power_matches_simulation(decision, planted_cross_encoder, claims):
    check = claims.record_check(check_power(decision, claims.settings, n=planted_cross_encoder.study.n_queries))
    assert check["passed"], check["detail"]
