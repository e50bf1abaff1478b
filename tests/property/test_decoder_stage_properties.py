"""Stage mapping invariants and recovery of planted contribution profiles."""

from __future__ import annotations

import numpy as np
from hypothesis import given, settings
from hypothesis import strategies as st

from ranker_claims.generative.interventions import Component, data_driven_stages, stages


@given(st.integers(3, 96))
def test_stages_partition_the_decoder_in_order(n):
    parts = stages(n)
    assert list(parts) == ["I", "II", "III"]
    assert sum(parts.values(), ()) == tuple(range(n)) and all(parts.values())
    assert abs(len(parts["I"]) - 7 * n / 24) <= 1 and abs(len(parts["III"]) - 6 * n / 24) <= 2


@settings(max_examples=60, deadline=None)
@given(st.integers(3, 40).flatmap(lambda n: st.tuples(st.just(n), st.integers(1, n - 2)).flatmap(
    lambda t: st.tuples(st.just(t[0]), st.just(t[1]), st.integers(t[1] + 1, t[0] - 1)))),
    st.floats(0.05, 2.0), st.integers(0, 2**16))
def test_planted_profile_boundaries_are_recovered(planted, gap, seed):
    n, b1, b2 = planted
    rng = np.random.default_rng(seed)
    base = rng.uniform(0.1, 1.0, n)
    stage_two = (np.arange(n) >= b1) & (np.arange(n) < b2)
    mlp = base + np.where(stage_two, 0.0, gap)
    cross = base + np.where(stage_two, gap, 0.0)
    found = data_driven_stages({Component.MLP: mlp, Component.CROSS_ATTENTION: cross})
    assert found == {"I": tuple(range(b1)), "II": tuple(range(b1, b2)), "III": tuple(range(b2, n))}
