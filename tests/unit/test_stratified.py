"""The stratified two-sample decision (van Elteren's stratified rank-sum test), which CE-9 uses to
compare matching heads with the other heads of their layers: exact p-values by hand and by brute
force, the fixed-seed sampled p-value, the comparison's details, and simulations showing that a
trend of the values over layers makes the all-heads Mann-Whitney test say SUPPORTED far above
alpha while the stratified test stays at alpha, and still detects a real within-layer shift."""

from __future__ import annotations

import itertools
import math

import numpy as np
import pytest
from scipy import stats as sps

from ranker_claims.core import decisions, stats
from ranker_claims.core.claims import Settings
from ranker_claims.core.results import Verdict
from ranker_claims.core.stats import tests
from ranker_claims.core.stats.calibration import _mann_whitney_p
from ranker_claims.core.stats.power import detectable_effect
from ranker_claims.core.stats.verdicts import judge

# Two layers of three heads: layer 0 [0.10, 0.30*, 0.20], layer 1 [0.60, 0.90*, 0.80*] (* matching).
HAND = {"x": [0.30, 0.90, 0.80], "y": [0.10, 0.20, 0.60], "strata_x": [0, 1, 1], "strata_y": [0, 0, 1]}


# --------------------------------------------------------------------------- the test


def test_hand_computed_exact_p_on_two_layers_of_three_heads():
    """Within-layer ranks: layer 0 W_0 = 3 (null 1, 2, 3), layer 1 W_1 = 3 + 2 = 5 (null 3, 4, 5),
    each of the 3 x 3 splits equally likely; T = (W_0 + W_1) / 4 = 2 and its centre is 1.5.
    greater: only W_0 + W_1 = 8 reaches 8, p = 1/9; two-sided: |S - 6| >= 2 for S = 4 and 8,
    p = 2/9; less: every split, p = 1."""
    result = tests.stratified_rank_sum_tests(**HAND)
    assert {side: r.statistic for side, r in result.items()} == {"greater": 2.0, "less": 2.0, "two-sided": 2.0}
    assert result["greater"].p_value == pytest.approx(1 / 9)
    assert result["two-sided"].p_value == pytest.approx(2 / 9)
    assert result["less"].p_value == pytest.approx(1.0)
    assert result["greater"].name == "exact van Elteren stratified rank-sum test"
    assert tests.smallest_stratified_p([(1, 2), (2, 1)], "greater") == pytest.approx(1 / 9)
    assert tests.smallest_stratified_p([(1, 2), (2, 1)], "two-sided") == pytest.approx(2 / 9)
    # Pooled over the layers, Mann-Whitney sees U = 8 of 9: p = 2/20 (its own, different, question).
    assert tests.mann_whitney(HAND["x"], HAND["y"], "greater").p_value == pytest.approx(0.1)


def test_the_hand_example_as_a_comparison():
    c = stats.stratified_comparison("hand", HAND["x"], HAND["y"], HAND["strata_x"], HAND["strata_y"],
                                    hypothesis="greater", alpha=0.2, n_resamples=20, stratum="layer")
    assert c.verdict is Verdict.SUPPORTED and c.p_value == pytest.approx(1 / 9)
    assert c.details["kind"] == "stratified" and c.details["p_difference"] == pytest.approx(2 / 9)
    assert c.details["p_contradiction"] == pytest.approx(1.0)
    # Pairwise differences within layers (.2, .1; .3, .2), equal weights 1/4: weighted median 0.2.
    assert c.effect == pytest.approx(0.2)
    # r = 2 (T - centre) / sum_l k_l m_l / (N_l + 1) = 2 x 0.5 / ((2 + 2) / 4) = 1: every pair favours the matching heads.
    assert c.effect_size == pytest.approx(1.0) and c.effect_size_name == "stratified rank-biserial r"
    assert c.measured == pytest.approx((0.3 + 0.9 + 0.8) / 3)
    assert c.reference == pytest.approx((1 * 0.15 + 2 * 0.6) / 3)  # the others' mean on the matching heads' layers
    assert c.details["mean_difference"] == pytest.approx(c.measured - c.reference)
    assert c.details["strata"] == [
        {"layer": 0, "treatment": 1, "control": 2, "shift": pytest.approx(0.15), "mean_difference": pytest.approx(0.15),
         "rank_biserial": 1.0},
        {"layer": 1, "treatment": 2, "control": 1, "shift": pytest.approx(0.25), "mean_difference": pytest.approx(0.25),
         "rank_biserial": 1.0},
    ]
    assert c.details["exact"] and c.details["permutations"] == 9 and c.details["permutation_seed"] is None
    assert c.details["smallest_p"] == pytest.approx(1 / 9) and c.n == 6 and c.details["sizes"] == [3, 3]
    # At alpha 0.05 three heads a layer cannot decide: the smallest p is 1/9.
    at_05 = stats.stratified_comparison("hand", HAND["x"], HAND["y"], HAND["strata_x"], HAND["strata_y"],
                                        hypothesis="greater", n_resamples=20)
    assert at_05.verdict is Verdict.INCONCLUSIVE and at_05.reason.startswith("undecidable: at n=6 heads")


def _brute_force(x, y, sx, sy):
    """p-values by relabelling every informative stratum every way and recomputing T from scratch."""
    x, y, sx, sy = map(np.asarray, (x, y, sx, sy))
    strata = [s for s in np.unique(np.concatenate([sx, sy])) if (sx == s).any() and (sy == s).any()]
    pooled = [np.concatenate([x[sx == s], y[sy == s]]) for s in strata]
    counts = [int((sx == s).sum()) for s in strata]

    def statistic(chosen):
        return sum(sps.rankdata(v)[list(c)].sum() / (v.size + 1) for v, c in zip(pooled, chosen))

    observed = statistic([range(k) for k in counts])
    null = np.array([statistic(chosen) for chosen in itertools.product(
        *(itertools.combinations(range(v.size), k) for v, k in zip(pooled, counts)))])
    centre, eps = sum(counts) / 2, 1e-9
    return {"greater": np.mean(null >= observed - eps), "less": np.mean(null <= observed + eps),
            "two-sided": np.mean(np.abs(null - centre) >= abs(observed - centre) - eps)}


@pytest.mark.parametrize("seed", range(4))
def test_exact_p_values_match_brute_force_with_unequal_layers_and_ties(seed):
    rng = np.random.default_rng(seed)
    # Layers of 4, 5 and 3 heads (weights 1/5, 1/6, 1/4), values on a coarse grid (ties), plus a layer of
    # matching heads only and one of other heads only: both carry no information.
    sx = [0, 0, 1, 2, 2, 7, 7]
    sy = [0, 0, 1, 1, 1, 1, 2, 9, 9]
    x, y = rng.integers(0, 4, len(sx)) / 4, rng.integers(0, 4, len(sy)) / 4
    got = tests.stratified_rank_sum_tests(x, y, sx, sy)
    expected = _brute_force(x, y, sx, sy)
    for side in ("greater", "less", "two-sided"):
        assert got[side].p_value == pytest.approx(expected[side]), side
    # The uninformative layers change nothing.
    keep_x, keep_y = np.isin(sx, [0, 1, 2]), np.isin(sy, [0, 1, 2])
    alone = tests.stratified_rank_sum_tests(x[keep_x], y[keep_y], np.array(sx)[keep_x], np.array(sy)[keep_y])
    assert {s: r.p_value for s, r in alone.items()} == {s: r.p_value for s, r in got.items()}


@pytest.mark.parametrize("alternative", ["greater", "less", "two-sided"])
def test_one_stratum_is_the_mann_whitney_test(alternative):
    rng = np.random.default_rng(5)
    x, y = rng.integers(0, 5, 5).astype(float), rng.integers(0, 5, 7).astype(float)
    stratified = tests.stratified_rank_sum(x, y, ["a"] * 5, ["a"] * 7, alternative)
    assert stratified.p_value == pytest.approx(tests.mann_whitney(x, y, alternative).p_value)
    c = stats.stratified_comparison("one", x, y, ["a"] * 5, ["a"] * 7, hypothesis="greater", n_resamples=20)
    assert c.effect == pytest.approx(np.median(np.subtract.outer(x, y)))  # the Hodges-Lehmann shift


def test_beyond_the_enumeration_limit_the_p_value_is_sampled_with_a_fixed_seed():
    rng = np.random.default_rng(2)
    sx, sy = [0] * 3 + [1] * 3, [0] * 3 + [1] * 4  # C(6, 3) C(7, 3) = 700 splits
    x, y = rng.normal(0.5, 1, 6), rng.normal(0, 1, 7)
    exact = tests.stratified_rank_sum(x, y, sx, sy, "greater")
    np.random.seed(123)  # no global state, and no session seed, enters
    sampled = tests.stratified_rank_sum(x, y, sx, sy, "greater", n_resamples=500)
    again = tests.stratified_rank_sum(x, y, sx, sy, "greater", n_resamples=500)
    assert exact.name.startswith("exact") and "500 within-stratum permutations, fixed seed" in sampled.name
    assert sampled == again
    assert abs(sampled.p_value - exact.p_value) <= 4 * math.sqrt(exact.p_value * (1 - exact.p_value) / 500) + 1 / 501
    assert tests.smallest_stratified_p([(3, 3), (3, 4)], "greater", n_resamples=500) == pytest.approx(1 / 501)
    # Whatever the session's seed, the verdict's p-values are the same (the seed only moves the interval).
    a, b = (decisions.stratified(Settings(seed=s, bootstrap=20), "x", x, y, sx, sy, hypothesis="greater")
            for s in (0, 99))
    assert (a.p_value, a.details["p_contradiction"], a.details["p_difference"]) == (
        b.p_value, b.details["p_contradiction"], b.details["p_difference"])


def test_smallest_p_of_many_layers_does_not_overflow():
    assert tests.smallest_stratified_p([(8, 8)] * 24, "greater") == pytest.approx(1 / 20_001)
    assert tests.smallest_stratified_p([(8, 8)] * 24, "greater", n_resamples=10**400) == pytest.approx(
        math.exp(-24 * math.log(math.comb(16, 8))))


def test_dropped_layers_are_reported_and_no_informative_layer_is_refused():
    c = stats.stratified_comparison("d", [1.0, 2.0, 5.0], [0.0, 1.5, 3.0], [0, 0, 4], [0, 2, 2], hypothesis="greater",
                                    n_resamples=20, stratum="layer")
    assert [row["layer"] for row in c.details["strata"]] == [0]
    assert c.details["dropped_strata"] == [{"layer": 2, "treatment": 0, "control": 2},
                                           {"layer": 4, "treatment": 1, "control": 0}]
    assert c.details["dropped_note"] == ("2 layer(s) with no treatment or no control value carry no information and "
                                         "are left out: 2, 4")
    assert c.n == 3 and c.details["sizes"] == [2, 1]
    with pytest.raises(ValueError, match="no layer has both"):
        stats.stratified_comparison("d", [1.0], [0.0], [0], [1], hypothesis="greater", stratum="layer")
    with pytest.raises(ValueError, match="one stratum"):
        tests.stratified_rank_sum_tests([1.0, 2.0], [0.0], [0], [0])


def test_power_and_the_detectable_effect_are_not_claimed_for_the_stratified_kind():
    rng = np.random.default_rng(0)
    c = stats.stratified_comparison("p", rng.normal(size=4), rng.normal(size=8), [0, 0, 1, 1], [0] * 4 + [1] * 4,
                                    hypothesis="greater", n_resamples=20)
    assert c.power is None and c.details["detectable_effect"] is None
    assert detectable_effect(c, 0.05, 0.8) is None
    rejudged = judge(c, "holm", 0.05, 0.8, 0.025)
    assert rejudged.power is None and rejudged.verdict in (Verdict.INCONCLUSIVE, Verdict.SUPPORTED)
    # In a family: corrected like any other comparison.
    (corrected,) = stats.correct_family([c], method="holm", alpha=0.05, require="all")
    assert corrected.details["kind"] == "stratified"


# --------------------------------------------------------------------------- simulations (CE-9's design)

LAYERS, HEADS = 6, 12
MATCHING_PER_LAYER = (0, 0, 1, 2, 3, 4)  # matching heads concentrated in deep layers
ALPHA = 0.05


def _alignment_sets(rng, sims, *, trend=0.5, shift=0.0):
    """Alignment = trend x layer + unit normal noise; matching heads drawn at random within their layer,
    shifted by ``shift`` (0: no within-layer effect)."""
    layers = np.repeat(np.arange(LAYERS), HEADS)
    values = trend * layers + rng.normal(size=(sims, LAYERS * HEADS))
    matching = np.zeros((sims, LAYERS * HEADS), dtype=bool)
    for layer, k in enumerate(MATCHING_PER_LAYER):
        for i in range(sims):
            matching[i, layer * HEADS + rng.choice(HEADS, size=k, replace=False)] = True
    return values + shift * matching, matching, layers


def _stratified_verdicts(values, matching, layers):
    return np.array([stats.stratified_comparison("s", v[m], v[~m], layers[m], layers[~m], hypothesis="greater",
                                                 n_resamples=20, stratum="layer").verdict.value
                     for v, m in zip(values, matching)])


def test_a_trend_over_layers_fools_the_pooled_test_but_not_the_stratified_one():
    sims = 1000
    values, matching, layers = _alignment_sets(np.random.default_rng(2024), sims)
    limit = ALPHA + 3 * math.sqrt(ALPHA * (1 - ALPHA) / sims)
    # The old decision: one-sided Mann-Whitney (the suite's sampled test, vectorised) of matching vs all
    # other heads; SUPPORTED where it rejects and the Hodges-Lehmann shift is positive.
    x = np.stack([v[m] for v, m in zip(values, matching)])
    y = np.stack([v[~m] for v, m in zip(values, matching)])
    p = _mann_whitney_p(x, y, seed=0)
    shift = np.median((x[:, :, None] - y[:, None, :]).reshape(sims, -1), axis=1)
    old = float(np.mean((p["greater"] < ALPHA) & (shift > 0)))
    new = _stratified_verdicts(values, matching, layers)
    supported, contradicted = float(np.mean(new == "SUPPORTED")), float(np.mean(new == "CONTRADICTED"))
    print(f"false SUPPORTED: pooled Mann-Whitney {old:.3f}, stratified {supported:.3f} "
          f"(false CONTRADICTED {contradicted:.3f}; limit {limit:.4f})")
    assert old > 0.5
    assert supported <= limit and contradicted <= limit


def test_the_old_decision_on_the_same_data_is_the_all_heads_comparison():
    """One of the simulated sets through decisions.independent (what CE-9 ran before) and
    decisions.stratified: the pooled test rejects on the trend alone, the stratified one does not."""
    values, matching, layers = _alignment_sets(np.random.default_rng(7), 1, trend=1.0)
    v, m = values[0], matching[0]
    settings = Settings(bootstrap=20)
    old = decisions.independent(settings, "old", v[m], v[~m], hypothesis="greater")
    new = decisions.stratified(settings, "new", v[m], v[~m], layers[m], layers[~m], hypothesis="greater")
    assert old.verdict is Verdict.SUPPORTED
    assert new.verdict is not Verdict.SUPPORTED
    assert [row["layer"] for row in new.details["strata"]] == [2, 3, 4, 5]
    assert "0, 1" in new.details["dropped_note"]


@pytest.mark.parametrize(("shift", "verdict"), [(1.0, "SUPPORTED"), (-1.0, "CONTRADICTED")])
def test_a_real_within_layer_shift_is_detected(shift, verdict):
    """A 1 sd within-layer shift of 10 matching heads against the 38 others of their layers: power about 0.85."""
    sims = 200
    values, matching, layers = _alignment_sets(np.random.default_rng(11), sims, shift=shift)
    rate = float(np.mean(_stratified_verdicts(values, matching, layers) == verdict))
    print(f"{verdict} rate at a within-layer shift of {shift:+g} sd: {rate:.3f}")
    assert rate >= 0.7
