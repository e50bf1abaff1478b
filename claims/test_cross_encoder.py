"""Cross-encoder claims (CE-*), declared in cross_encoder.toml.

Loading checks each claim against the registered measurements, so a misspelt measurement or
parameter fails here, at collection, before any model is built.
"""

from pathlib import Path

import pytest

from suite.core.claims import load_claims
from suite.cross_encoder.measurements import MEASUREMENTS

CLAIMS = load_claims(Path(__file__).with_name("cross_encoder.toml"), MEASUREMENTS)


@pytest.mark.parametrize("claim", CLAIMS, ids=str)
def test_claim(claim, cross_encoder_study, claims):
    result = claims.evaluate(claim, cross_encoder_study)
    claims.assert_verdict(result)
