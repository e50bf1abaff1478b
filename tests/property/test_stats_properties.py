"""Invariants of ranker_claims.core.stats (and of the strategies in tests.strategies) for generated data."""

from __future__ import annotations

import math

import numpy as np
import pytest
from hypothesis import assume, given, settings
from hypothesis import strategies as st

from ranker_claims.core import stats
from ranker_claims.core.results import Verdict
from tests.strategies import (
    attention_maps,
    paired_samples,
    pvalues,
    qrels,
    query_key_matrices,
    rankings,
)

QUICK = settings(max_examples=60, deadline=None)
SLOW = settings(max_examples=25, deadline=None)
ALTERNATIVES = st.sampled_from(["two-sided", "greater", "less"])
METHODS = st.sampled_from(["holm", "bh", "bonferroni", "none"])


# --------------------------------------------------------------------------- corrections


@QUICK
@given(pvalues(), METHODS)
def test_corrected_p_is_at_least_raw_and_in_unit_interval(p, method):
    adjusted = stats.correct(p, method)
    assert adjusted.shape == p.shape
    assert np.all(adjusted >= p - 1e-15)
    assert np.all((adjusted >= 0) & (adjusted <= 1))


@QUICK
@given(pvalues(min_size=2), METHODS)
def test_correction_keeps_the_order_of_p_values(p, method):
    adjusted = stats.correct(p, method)
    order = np.argsort(p, kind="stable")
    assert np.all(np.diff(adjusted[order]) >= 0)


@QUICK
@given(pvalues())
def test_bh_at_most_holm_at_most_bonferroni(p):
    bh, holm, bonferroni = stats.benjamini_hochberg(p), stats.holm(p), stats.correct(p, "bonferroni")
    assert np.all(bh <= holm + 1e-15)
    assert np.all(holm <= bonferroni + 1e-15)


@QUICK
@given(pvalues(), st.permutations(range(30)))
def test_correction_follows_the_p_values_not_their_positions(p, permutation):
    order = [i for i in permutation if i < p.size]
    for method in ("holm", "bh"):
        assert stats.correct(p[order], method) == pytest.approx(stats.correct(p, method)[order])


# --------------------------------------------------------------------------- paired tests


@QUICK
@given(paired_samples(), ALTERNATIVES)
def test_p_values_lie_in_the_unit_interval(sample, alternative):
    x, y = sample
    for result in (stats.paired_t(x, y, alternative), stats.wilcoxon(x, y, alternative),
                   stats.randomization(x, y, alternative, n_resamples=200)):
        assert 0 <= result.p_value <= 1


@QUICK
@given(paired_samples())
def test_swapping_treatment_and_control_flips_one_sided_p(sample):
    x, y = sample
    assert stats.paired_t(x, y, "greater").p_value == stats.paired_t(y, x, "less").p_value
    assert stats.paired_t(x, y).p_value == stats.paired_t(y, x).p_value
    assert stats.randomization(x, y, "greater", n_resamples=300, seed=1).p_value == (
        stats.randomization(y, x, "less", n_resamples=300, seed=1).p_value)
    assert stats.wilcoxon(x, y, "greater").p_value == pytest.approx(stats.wilcoxon(y, x, "less").p_value, rel=1e-12)


@QUICK
@given(paired_samples())
def test_one_sided_t_p_values_add_to_one(sample):
    x, y = sample
    assume(np.ptp(x - y) > 1e-6)
    assert stats.paired_t(x, y, "greater").p_value + stats.paired_t(x, y, "less").p_value == pytest.approx(1.0)


@QUICK
@given(paired_samples(), st.floats(-10, 10, allow_nan=False))
def test_t_test_is_invariant_to_a_shift_of_both_samples(sample, shift):
    x, y = sample
    assume(np.ptp(x - y) > 1e-3)
    before, after = stats.paired_t(x, y), stats.paired_t(x + shift, y + shift)
    assert after.statistic == pytest.approx(before.statistic, rel=1e-6)
    assert after.p_value == pytest.approx(before.p_value, rel=1e-6, abs=1e-12)


@QUICK
@given(paired_samples(), st.floats(0.01, 0.5), st.sampled_from(["t", "randomization"]))
def test_tost_is_symmetric_in_treatment_and_control(sample, margin, test):
    x, y = sample
    forward = stats.tost_paired(x, y, margin, test, n_resamples=200)
    assert stats.tost_paired(y, x, margin, test, n_resamples=200).p_value == pytest.approx(forward.p_value, rel=1e-9)


@QUICK
@given(paired_samples(), st.floats(0.01, 0.5))
def test_tost_p_is_at_least_each_one_sided_p(sample, margin):
    x, y = sample
    tost = stats.tost_paired(x, y, margin).p_value
    d = x - y
    assert tost >= stats.paired_t(d + margin, np.zeros_like(d), "greater").p_value - 1e-12
    assert tost >= stats.paired_t(d - margin, np.zeros_like(d), "less").p_value - 1e-12


# --------------------------------------------------------------------------- intervals and effect sizes


@QUICK
@given(paired_samples(min_size=1), st.integers(0, 2**16))
def test_bootstrap_ci_of_the_mean_is_ordered_bounded_and_seeded(sample, seed):
    values = sample[0]
    low, high = stats.bootstrap_ci(values, n_resamples=200, seed=seed)
    assert values.min() - 1e-12 <= low <= high <= values.max() + 1e-12
    assert stats.bootstrap_ci(values, n_resamples=200, seed=seed) == (low, high)


@QUICK
@given(paired_samples(), st.floats(-5, 5, allow_nan=False))
def test_bootstrap_ci_moves_with_a_shift(sample, shift):
    values = sample[0]
    low, high = stats.bootstrap_ci(values, n_resamples=200)
    assert stats.bootstrap_ci(values + shift, n_resamples=200) == pytest.approx((low + shift, high + shift), abs=1e-9)


@QUICK
@given(paired_samples(), st.floats(0.01, 100))
def test_cohens_dz_has_the_sign_of_the_mean_and_no_scale(sample, scale):
    d = sample[0] - sample[1]
    assume(np.ptp(d) > 1e-6)
    dz = stats.cohens_dz(d)
    assert np.sign(dz) == np.sign(d.mean())
    assert stats.cohens_dz(d * scale) == pytest.approx(dz, rel=1e-9, abs=1e-12)


# --------------------------------------------------------------------------- power and proportions


@QUICK
@given(st.floats(0.01, 1), st.floats(0.05, 1), st.integers(2, 200))
def test_power_grows_with_n_and_stays_a_probability(effect, sd, n):
    now = stats.power_paired(effect, sd, n, 0.05, "greater")
    later = stats.power_paired(effect, sd, n + 10, 0.05, "greater")
    assert 0.05 - 1e-9 <= now <= later + 1e-9 <= 1 + 1e-9
    tost = stats.power_tost(sd, n, effect)
    assert 0 <= tost <= stats.power_tost(sd, n, effect * 2) + 1e-9 <= 1 + 1e-9


@QUICK
@given(st.integers(1, 200).flatmap(lambda n: st.tuples(st.integers(0, n), st.just(n))), st.floats(0.01, 0.99))
def test_binomial_inference_is_coherent(counts, p0):
    k, n = counts
    low, high = stats.clopper_pearson(k, n)
    assert low <= k / n <= high
    greater = stats.binomial_test(k, n, p0, "greater").p_value
    assert greater == pytest.approx(stats.binomial_test(n - k, n, 1 - p0, "less").p_value, rel=1e-9, abs=1e-300)
    assert 0 <= stats.tost_binomial(k, n, p0, 0.1).p_value <= 1


# --------------------------------------------------------------------------- decisions


@SLOW
@given(paired_samples(min_value=0.0, max_value=1.0), st.sampled_from(["greater", "less", "two-sided"]),
       st.sampled_from(["t", "wilcoxon"]))
def test_a_supported_superiority_has_a_significant_effect_of_the_claimed_sign(sample, hypothesis, test):
    x, y = sample
    c = stats.paired_comparison("c", x, y, hypothesis=hypothesis, test=test, n_resamples=50)
    if c.verdict is Verdict.SUPPORTED:
        assert c.p_corrected < 0.05
        assert hypothesis == "two-sided" or (c.effect > 0) == (hypothesis == "greater")
    # Without a smallest effect only a significant effect the other way contradicts (two-sided: nothing).
    if c.verdict is Verdict.CONTRADICTED:
        assert hypothesis != "two-sided" and c.details["p_contradiction_corrected"] < 0.05
        if c.details["test"] in ("t", "exact"):  # tests of the mean; a rank test may oppose it (see test_stats)
            assert (c.effect < 0) == (hypothesis == "greater")
    assert c.ci[0] <= c.ci[1] and c.details["effect_ci"][0] <= c.details["effect_ci"][1]


@SLOW
@given(st.lists(paired_samples(min_size=3, min_value=0.0, max_value=1.0), min_size=1, max_size=5), METHODS,
       st.sampled_from([None, 0.05]))
def test_correcting_a_family_never_adds_support_and_is_idempotent(samples, method, smallest):
    """A screen ("any") corrects the support p-values: correction never adds support. A claim
    ("all") corrects the contradiction p-values: correction never adds a contradiction, and its
    support tests stay at alpha. Either way correcting twice is correcting once."""
    family = [stats.paired_comparison(f"c{i}", x, y, hypothesis="greater", expected_effect=0.1,
                                      smallest_effect=smallest, n_resamples=20)
              for i, (x, y) in enumerate(samples)]
    screen = stats.correct_family(family, method, require="any")
    for before, after in zip(family, screen):
        assert after.p_corrected >= before.p_value - 1e-15
        assert after.details["p_contradiction_corrected"] == before.details["p_contradiction"]
        assert after.verdict is not Verdict.SUPPORTED or before.verdict is Verdict.SUPPORTED
        assert after.power is None or after.power <= before.power + 1e-9  # power at alpha/m <= at alpha
    claim = stats.correct_family(family, method, require="all")
    for before, after in zip(family, claim):
        assert after.p_corrected == before.p_value
        assert after.details["p_contradiction_corrected"] >= before.details["p_contradiction"] - 1e-15
        assert after.verdict is not Verdict.CONTRADICTED or before.verdict is Verdict.CONTRADICTED
        assert after.power == before.power  # the support tests face alpha, as alone
        if smallest is None:  # support and contradiction cannot both reject: a verdict only weakens
            assert after.verdict in (before.verdict, Verdict.INCONCLUSIVE)
    for require, corrected in (("any", screen), ("all", claim)):
        assert stats.correct_family(corrected, method, require=require) == corrected


@SLOW
@given(paired_samples(min_size=3, min_value=0.0, max_value=1.0), st.floats(0.01, 0.3))
def test_equivalence_and_contradiction_exclude_each_other_sensibly(sample, margin):
    x, y = sample
    c = stats.paired_comparison("c", x, y, hypothesis="equivalent", margin=margin, n_resamples=20)
    if c.verdict is Verdict.SUPPORTED:
        assert abs(c.effect) < margin
    if c.verdict is Verdict.CONTRADICTED:
        assert abs(c.effect) > margin and c.details["p_contradiction"] < 0.05
    assert 0 <= c.power <= 1


# --------------------------------------------------------------------------- the strategies themselves


@QUICK
@given(paired_samples(min_size=3, max_size=7))
def test_paired_samples_are_aligned(sample):
    x, y = sample
    assert x.shape == y.shape and 3 <= x.size <= 7 and np.all(np.isfinite(x))


@QUICK
@given(rankings())
def test_rankings_have_unique_docids_in_score_order(run):
    for ranking in run.values():
        docids = [d for d, _ in ranking]
        assert len(docids) == len(set(docids))
        scores = [s for _, s in ranking]
        assert scores == sorted(scores, reverse=True)


def _ranked_docids(run):
    return {qid: [docid for docid, _ in ranking] for qid, ranking in run.items()}


@QUICK
@given(rankings().flatmap(lambda run: st.tuples(st.just(run), qrels(docids=_ranked_docids(run)))))
def test_qrels_can_follow_a_ranking(pair):
    run, judged = pair
    assert set(judged) == set(run)
    for qid, grades in judged.items():
        ranked = {d for d, _ in run[qid]}
        assert all(d in ranked or d.startswith("unranked-") for d in grades)
        assert all(0 <= g <= 3 for g in grades.values())


@QUICK
@given(qrels(max_grade=1))
def test_qrels_grades_are_bounded(judged):
    assert all(g in (0, 1) for grades in judged.values() for g in grades.values())


@QUICK
@given(attention_maps())
def test_attention_maps_are_row_stochastic(maps):
    assert maps.ndim == 3 and maps.shape[1] == maps.shape[2]
    assert np.all(maps >= 0)
    assert np.allclose(maps.sum(axis=-1), 1.0)


CAUSAL = np.tril(np.ones((5, 5), dtype=bool))


@QUICK
@given(attention_maps(mask=CAUSAL))
def test_attention_maps_respect_a_mask(maps):
    assert maps.shape[1:] == (5, 5)
    assert np.all(maps[:, ~CAUSAL] == 0)
    assert np.allclose(maps.sum(axis=-1), 1.0)


ROW_MASKED = np.ones((3, 3), dtype=bool)
ROW_MASKED[1] = False


@QUICK
@given(attention_maps(mask=ROW_MASKED))
def test_attention_maps_leave_fully_masked_rows_empty(maps):
    assert np.all(maps[:, 1] == 0) and np.allclose(maps[:, [0, 2]].sum(axis=-1), 1.0)


@QUICK
@given(query_key_matrices(max_abs=3.0))
def test_query_key_matrices_are_finite_bounded_pairs(matrices):
    w_q, w_k = matrices
    assert w_q.shape == w_k.shape and w_q.shape[1] <= w_q.shape[0]
    assert np.all(np.isfinite(w_q)) and np.all(np.abs(w_k) <= 3.0)
    assert math.isfinite(float(np.linalg.norm(w_q @ w_k.T)))
