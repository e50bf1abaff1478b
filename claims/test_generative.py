"""Generative-retrieval claims (GR-*), declared in generative.toml.

Loading checks each claim against the registered measurements, so a misspelt measurement or
parameter fails here, at collection, before any model is built.
"""

from pathlib import Path

import pytest

from suite.core.claims import load_claims
from suite.generative.measurements import MEASUREMENTS

CLAIMS = load_claims(Path(__file__).with_name("generative.toml"), MEASUREMENTS)


@pytest.mark.parametrize("claim", CLAIMS, ids=str)
def test_claim(claim, generative_study, claims):
    result = claims.evaluate(claim, generative_study)
    claims.assert_verdict(result)
