"""Cross-encoder claims (CE-*), declared in cross_encoder.toml."""

from pathlib import Path

import pytest

from suite.core.claims import load_claims

CLAIMS = load_claims(Path(__file__).with_name("cross_encoder.toml"))


@pytest.mark.parametrize("claim", CLAIMS, ids=str)
def test_claim(claim, cross_encoder_study, claims):
    result = claims.evaluate(claim, cross_encoder_study)
    claims.assert_verdict(result)
