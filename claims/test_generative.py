"""Generative-retrieval claims (GR-*), declared in generative.toml."""

from pathlib import Path

import pytest

from suite.core.claims import load_claims

CLAIMS = load_claims(Path(__file__).with_name("generative.toml"))


@pytest.mark.parametrize("claim", CLAIMS, ids=str)
def test_claim(claim, generative_study, claims):
    result = claims.evaluate(claim, generative_study)
    claims.assert_verdict(result)
