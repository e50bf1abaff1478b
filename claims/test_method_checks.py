"""Method checks: the detectors on planted mechanisms (a cross-encoder, a DSI T5), the decisions under simulated nulls.

The checks live in each wing's ``method_checks`` and in :mod:`ranker_claims.core.method_checks`; each is
recorded in the run (and so in the report's "Method checks" section) before it is asserted. This
module runs after the claims of ``pytest claims/``, so the calibration takes the n they recorded.
"""

import pytest

from ranker_claims.core.method_checks import CALIBRATION_ROWS, check_calibration, check_power, real_sizes
from ranker_claims.cross_encoder.method_checks import PLANTED_CHECKS
from ranker_claims.generative.method_checks import PLANTED_GENERATIVE_CHECKS


@pytest.mark.parametrize("name", list(PLANTED_CHECKS))
def test_planted_mechanism(name, planted_cross_encoder, claims):
    check = claims.record_check(PLANTED_CHECKS[name](planted_cross_encoder))
    assert check["passed"], check["detail"]


@pytest.mark.parametrize("name", list(PLANTED_GENERATIVE_CHECKS))
def test_planted_generative_mechanism(name, planted_generative, claims):
    check = claims.record_check(PLANTED_GENERATIVE_CHECKS[name](planted_generative))
    assert check["passed"], check["detail"]


def _sizes(claims) -> dict:
    """The n of this session's claims; an xdist worker or a shard holds only its own, so it takes the
    defaults, as a session without claims does."""
    session = claims.session
    return real_sizes(session.run.get("claims", []) if session.worker is None and session.options.shard is None
                      else [])


@pytest.mark.parametrize(("decision", "data"), CALIBRATION_ROWS, ids=[f"{d}-{k}" for d, k in CALIBRATION_ROWS])
def test_calibration(decision, data, claims):
    check = claims.record_check(check_calibration(decision, data, claims.settings, sizes=_sizes(claims)[decision]))
    assert check["passed"], check["detail"]


@pytest.mark.parametrize("decision", ["superiority", "equivalence"])
def test_power_matches_simulation(decision, claims):
    check = claims.record_check(check_power(decision, claims.settings, n=_sizes(claims)["superiority"][0]))
    assert check["passed"], check["detail"]
