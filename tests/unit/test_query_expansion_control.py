"""GR-11's shuffled-query control: each query's promoted tokens are also judged against another query."""

from __future__ import annotations

import numpy as np
import pytest

from ranker_claims.generative.measurements.lens import derangement


@pytest.mark.parametrize("n", [2, 3, 7, 50])
def test_every_query_gets_another_query_and_each_is_used_once(n):
    other = derangement(n, seed=0)
    assert sorted(other.tolist()) == list(range(n))
    assert not np.any(other == np.arange(n))


def test_the_derangement_is_seeded():
    assert derangement(20, seed=1).tolist() == derangement(20, seed=1).tolist()
    assert derangement(20, seed=1).tolist() != derangement(20, seed=2).tolist()
