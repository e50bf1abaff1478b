"""The betting test and interval against the authors' implementation, and their guarantee.

Reference values: ``confseq`` 0.0.11 (Waudby-Smith and Ramdas), ``betting_mart`` (one-sided
capital, ``theta`` 1 or 0) and ``betting_ci`` with ``lambda_predmix_eb(x, alpha=0.05,
fixed_n=len(x))``, ``trunc_scale=0.99, m_trunc=True``, computed on 2026-12-07 (confseq needs a
C++ build and matplotlib, so it is not a test dependency: its numbers are written here).
"""

from __future__ import annotations

import numpy as np
import pytest

from ranker_claims.core.stats.betting import betting_ci, betting_p, max_capital, smallest_betting_p

CASES = {
    "uniform-ish": [round((i * 0.37) % 1, 2) for i in range(1, 21)],
    "rare ones": [1.0 if i % 9 == 4 else 0.0 for i in range(50)],
    "mostly zero, tail": [0.0] * 30 + [0.9, 0.05, 0.5, 0.2, 1.0],
    "concentrated": [0.5 + 0.01 * ((i * 7) % 11 - 3) for i in range(40)],
}
# name: (interval, {m: (largest capital betting up, largest capital betting down)})
CONFSEQ = {
    "uniform-ish": ((0.339, 0.664), {0.1: (17366.96747373349, 0.7044402715239534),
                                     0.3: (109.82769825156178, 0.9233734037284324),
                                     0.5: (1.1737033806364776, 1.25411469452494)}),
    "rare ones": ((0.024, 0.337), {0.1: (1.4492336210473702, 1.4234564432353836),
                                   0.3: (0.7923017940877257, 17.93825718652402),
                                   0.5: (0.653836323479543, 1520653.5478822687)}),
    "mostly zero, tail": ((0.003, 0.118), {0.1: (0.9172510540620746, 22.223054840916234),
                                           0.3: (0.7517531621862239, 31317.360322075132),
                                           0.5: (0.5862552703103732, 262828213.54232726)}),
    "concentrated": ((0.472, 0.567), {0.1: (271202522167134.9, 0.7136031605448337),
                                      0.3: (196226816.70141494, 0.8684122629530318),
                                      0.5: (4.423531035119566, 1.0232213653612297)}),
}


@pytest.mark.parametrize("name", CASES)
def test_capital_and_interval_are_confseqs(name):
    x = np.array(CASES[name])
    interval, capital = CONFSEQ[name]
    assert betting_ci(x, 0.0, 1.0) == pytest.approx(interval, abs=1e-12)
    for m, (up, down) in capital.items():
        assert max_capital(x, m, 0.05, "greater") == pytest.approx(up, rel=1e-9)
        assert max_capital(x, m, 0.05, "less") == pytest.approx(down, rel=1e-9)


def test_a_range_is_mapped_onto_the_unit_interval():
    x = np.array(CASES["uniform-ish"])
    low, high = betting_ci(2 * x - 1, -1.0, 1.0)
    assert (low, high) == pytest.approx((2 * 0.339 - 1, 2 * 0.664 - 1))
    assert betting_p(2 * x - 1, -0.6, -1.0, 1.0, "greater") == pytest.approx(1 / max_capital(x, 0.2, 0.05, "greater"))


@pytest.mark.parametrize("shape", ["rare ones", "two points", "beta(0.5, 4.5)"])
@pytest.mark.parametrize("n", [5, 30, 120])
def test_valid_at_every_n_for_skewed_and_discrete_values(shape, n):
    """At the null's boundary the one-sided tests reject at most at alpha (plus 3 Monte-Carlo s.e.),
    whatever the distribution on the range: the guarantee a t-test lacks on these shapes."""
    rng = np.random.default_rng([n, len(shape)])
    sims = 2000
    if shape == "rare ones":
        x, mean = (rng.random((sims, n)) < 0.05).astype(float), 0.05
    elif shape == "two points":
        x, mean = np.where(rng.random((sims, n)) < 0.9, 0.45, 1.0), 0.9 * 0.45 + 0.1
    else:
        x, mean = rng.beta(0.5, 4.5, (sims, n)), 0.1
    limit = 0.05 + 3 * np.sqrt(0.05 * 0.95 / sims)
    for alternative in ("greater", "less", "two-sided"):
        assert np.mean(betting_p(x, mean, 0.0, 1.0, alternative) < 0.05) <= limit, alternative


def test_boundaries_at_or_beyond_the_range():
    x = np.full(10, 0.5)
    assert betting_p(x, 1.0, 0.0, 1.0, "greater") == 1.0  # nothing exceeds the top of the range
    assert betting_p(x, -0.1, 0.0, 1.0, "greater") == 0.0  # every mean exceeds what lies below it
    # Four values at the top against a mean of 1/2: each bet capped at 0.99 / (1/2), the capital 1.99**4.
    assert smallest_betting_p(4, 0.5, 0.0, 1.0, "greater") == pytest.approx(1 / 1.99**4)
    assert betting_p(np.ones(4), 0.0, 0.0, 1.0, "greater") < 0.01  # against a mean of 0, any value above it counts
