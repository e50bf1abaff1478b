"""Invariants of the query-key analyses (CE-9 alignment, CE-10 decomposition) on synthetic weights."""

from __future__ import annotations

import numpy as np
import pytest
from hypothesis import assume, given, settings
from hypothesis import strategies as st

from ranker_claims.cross_encoder.analyses.query_key import (
    alignment_of,
    decompose_logits,
    explained_share,
    head_alignment,
    qk_matrix,
)
from tests.strategies import query_key_matrices

SETTINGS = settings(max_examples=60, deadline=None)


def _nondegenerate(w_q: np.ndarray, w_k: np.ndarray) -> bool:
    return np.linalg.norm(qk_matrix(w_q, w_k)) > 1e-3


def _orthogonal(d: int, seed: int) -> np.ndarray:
    q, r = np.linalg.qr(np.random.default_rng(seed).normal(size=(d, d)))
    return q * np.sign(np.diag(r))


@SETTINGS
@given(query_key_matrices())
def test_thin_computation_equals_full_svd(weights):
    w_q, w_k = weights
    assume(_nondegenerate(w_q, w_k))
    assert head_alignment(w_q, w_k) == pytest.approx(alignment_of(qk_matrix(w_q, w_k)), abs=1e-7)


@SETTINGS
@given(query_key_matrices())
def test_alignment_is_bounded(weights):
    assert -1 - 1e-9 <= head_alignment(*weights) <= 1 + 1e-9


@SETTINGS
@given(query_key_matrices(), st.integers(0, 2**16), st.floats(0.01, 100))
def test_alignment_ignores_shared_rotation_and_scale(weights, seed, scale):
    w_q, w_k = weights
    assume(_nondegenerate(w_q, w_k))
    rotation = _orthogonal(w_q.shape[0], seed)
    moved = head_alignment(scale * rotation @ w_q, rotation @ w_k)
    assert moved == pytest.approx(head_alignment(w_q, w_k), abs=1e-7)


@SETTINGS
@given(query_key_matrices())
def test_positive_semidefinite_heads_score_maximal_alignment(weights):
    w_q, _ = weights
    assume(np.linalg.norm(w_q) > 1e-3)
    assert head_alignment(w_q, w_q) == pytest.approx(1.0, abs=1e-9)  # A = W W^T


@SETTINGS
@given(query_key_matrices())
def test_swapping_query_and_key_transposes_the_form(weights):
    w_q, w_k = weights
    assume(_nondegenerate(w_q, w_k))
    assert head_alignment(w_k, w_q) == pytest.approx(head_alignment(w_q, w_k), abs=1e-7)


def test_planted_structure_is_ranked_first():
    rng = np.random.default_rng(0)
    d_model, d_head = 32, 8
    matching = rng.normal(size=(d_model, d_head))
    heads = [(matching, matching + 0.05 * rng.normal(size=(d_model, d_head)))]
    heads += [(rng.normal(size=(d_model, d_head)), rng.normal(size=(d_model, d_head))) for _ in range(11)]
    scores = [head_alignment(w_q, w_k) for w_q, w_k in heads]
    assert int(np.argmax(scores)) == 0 and scores[0] > 0.9


@SETTINGS
@given(query_key_matrices(min_d_model=2), st.integers(1, 6), st.integers(1, 6), st.integers(0, 2**16))
def test_decomposition_sums_back_to_the_logits(weights, n_rows, n_cols, seed):
    w_q, w_k = weights
    rng = np.random.default_rng(seed)
    d_model, d_head = w_q.shape
    x, y = rng.normal(size=(n_rows, d_model)), rng.normal(size=(n_cols, d_model))
    queries, keys = rng.normal(size=(n_rows, d_head)), rng.normal(size=(n_cols, d_head))
    b_q, b_k = rng.normal(size=d_head), rng.normal(size=d_head)
    logits, free, rest = decompose_logits(queries, keys, x, y, w_q, b_q, w_k, b_k, d_head**-0.5)
    np.testing.assert_allclose(free + rest, logits, rtol=1e-9, atol=1e-9)
    assert logits.shape == (n_rows, n_cols)


@SETTINGS
@given(st.integers(0, 2**16), st.floats(-5, 5).filter(lambda a: abs(a) > 0.01), st.floats(-5, 5))
def test_explained_share_recovers_an_affine_relation(seed, slope, offset):
    free = np.random.default_rng(seed).normal(size=40)
    assert explained_share(slope * free + offset, free) == pytest.approx(1.0)


def test_explained_share_is_small_for_unrelated_logits():
    rng = np.random.default_rng(1)
    assert explained_share(rng.normal(size=2000), rng.normal(size=2000)) < 0.01
    assert explained_share(np.ones(10), rng.normal(size=10)) == 0.0  # constant logits: nothing to explain


def test_context_free_part_uses_the_head_on_embeddings():
    """Hand computation: with contextual vectors equal to the head's own projection of the
    embeddings, the remainder is zero."""
    rng = np.random.default_rng(2)
    w_q, w_k = rng.normal(size=(5, 3)), rng.normal(size=(5, 3))
    b_q, b_k = rng.normal(size=3), rng.normal(size=3)
    x, y = rng.normal(size=(2, 5)), rng.normal(size=(4, 5))
    _logits, free, rest = decompose_logits(x @ w_q + b_q, y @ w_k + b_k, x, y, w_q, b_q, w_k, b_k, 0.5)
    np.testing.assert_allclose(rest, 0.0, atol=1e-12)
    np.testing.assert_allclose(free, 0.5 * (x @ w_q + b_q) @ (y @ w_k + b_k).T)
