"""Hypothesis strategies for the suite's data: paired per-query values, p-values, rankings,
relevance judgements, attention maps and query-key weights.

Each public function returns a :class:`~hypothesis.strategies.SearchStrategy`, like the
functions of :mod:`hypothesis.strategies`, and takes keyword bounds. Values are finite and
bounded by default so that a failing example points at the code under test, not at
overflowing inputs; widen the bounds where a test is about extremes.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping

import numpy as np
from hypothesis import strategies as st
from hypothesis.extra import numpy as hnp
from hypothesis.strategies import SearchStrategy

__all__ = ["attention_maps", "paired_samples", "pvalues", "qrels", "query_key_matrices", "rankings"]

_IDS = st.text(alphabet="abcdefghijklmnopqrstuvwxyz0123456789", min_size=1, max_size=6)


def _floats(min_value: float, max_value: float) -> SearchStrategy[float]:
    return st.floats(min_value, max_value, allow_nan=False, allow_infinity=False, allow_subnormal=False)


@st.composite
def paired_samples(
    draw: st.DrawFn,
    *,
    min_size: int = 2,
    max_size: int = 30,
    min_value: float = -1.0,
    max_value: float = 1.0,
) -> tuple[np.ndarray, np.ndarray]:
    """Two aligned float arrays (treatment, control) of one length in [min_size, max_size],
    values in [min_value, max_value] (per-query scores such as nDCG live in [0, 1])."""
    n = draw(st.integers(min_size, max_size))
    values = st.lists(_floats(min_value, max_value), min_size=n, max_size=n)
    return np.array(draw(values)), np.array(draw(values))


@st.composite
def pvalues(draw: st.DrawFn, *, min_size: int = 1, max_size: int = 30) -> np.ndarray:
    """An array of p-values in [0, 1], exact 0, 1 and ties included."""
    return np.array(draw(st.lists(st.floats(0.0, 1.0), min_size=min_size, max_size=max_size)))


@st.composite
def rankings(
    draw: st.DrawFn,
    *,
    min_queries: int = 1,
    max_queries: int = 5,
    min_docs: int = 1,
    max_docs: int = 20,
    min_score: float = -10.0,
    max_score: float = 10.0,
) -> dict[str, list[tuple[str, float]]]:
    """A run: query id -> list of (doc id, score) in descending score order (ties keep their
    drawn order), with no doc id twice in a query's list."""
    qids = draw(st.lists(_IDS, min_size=min_queries, max_size=max_queries, unique=True))
    run = {}
    for qid in qids:
        docids = draw(st.lists(_IDS, min_size=min_docs, max_size=max_docs, unique=True))
        scores = draw(st.lists(_floats(min_score, max_score), min_size=len(docids), max_size=len(docids)))
        run[qid] = sorted(zip(docids, scores), key=lambda pair: -pair[1])
    return run


@st.composite
def qrels(
    draw: st.DrawFn,
    *,
    docids: Mapping[str, Iterable[str]] | None = None,
    min_queries: int = 1,
    max_queries: int = 5,
    max_docs: int = 20,
    max_unranked: int = 2,
    max_grade: int = 3,
) -> dict[str, dict[str, int]]:
    """Relevance judgements: query id -> doc id -> grade in 0..max_grade.

    With ``docids`` (query id -> the doc ids of a ranking, e.g. from :func:`rankings`), the
    queries are those of the ranking; each judges a subset of its ranked documents plus up
    to ``max_unranked`` documents the ranking missed (as real judgements do)."""
    grades = st.integers(0, max_grade)
    if docids is None:
        qids = draw(st.lists(_IDS, min_size=min_queries, max_size=max_queries, unique=True))
        return {qid: draw(st.dictionaries(_IDS, grades, max_size=max_docs)) for qid in qids}
    judged = {}
    for qid, ranked in docids.items():
        ranked = list(dict.fromkeys(ranked))
        chosen = draw(st.lists(st.sampled_from(ranked), unique=True)) if ranked else []
        missed = draw(st.lists(_IDS.map(lambda s: f"unranked-{s}"), max_size=max_unranked, unique=True))
        judged[qid] = {docid: draw(grades) for docid in chosen + missed}
    return judged


@st.composite
def attention_maps(
    draw: st.DrawFn,
    *,
    min_heads: int = 1,
    max_heads: int = 4,
    min_seq: int = 1,
    max_seq: int = 10,
    mask: np.ndarray | None = None,
) -> np.ndarray:
    """Row-stochastic attention of shape (heads, seq, seq): entry [h, i, j] is how much
    query position i of head h attends to key position j, each row summing to 1.

    Rows mix exact zeros and peaked weights (as after ablation or with sharp heads). A
    boolean ``mask`` of shape (seq, seq) or (heads, seq, seq) fixes the shape and allows only
    its True entries; a row with none allowed is all zeros."""
    if mask is None:
        heads = draw(st.integers(min_heads, max_heads))
        seq = draw(st.integers(min_seq, max_seq))
        allowed = np.ones((heads, seq, seq), dtype=bool)
    else:
        allowed = np.asarray(mask, dtype=bool)
        if allowed.ndim == 2:
            allowed = np.broadcast_to(allowed, (draw(st.integers(min_heads, max_heads)), *allowed.shape))
        if allowed.ndim != 3 or allowed.shape[1] != allowed.shape[2]:
            raise ValueError(f"mask must have shape (seq, seq) or (heads, seq, seq), got {allowed.shape}")
    weights = draw(hnp.arrays(np.float64, allowed.shape, elements=st.one_of(st.just(0.0), _floats(1e-3, 1.0))))
    weights = np.where(allowed, weights, 0.0)
    totals = weights.sum(axis=-1, keepdims=True)
    # A row drawn all zero where something is allowed becomes uniform over what is allowed.
    weights = np.where((totals == 0) & allowed, 1.0, weights)
    totals = weights.sum(axis=-1, keepdims=True)
    return np.divide(weights, totals, out=np.zeros_like(weights), where=totals > 0)


@st.composite
def query_key_matrices(
    draw: st.DrawFn,
    *,
    min_d_model: int = 1,
    max_d_model: int = 12,
    min_d_head: int = 1,
    max_d_head: int = 6,
    max_abs: float = 10.0,
) -> tuple[np.ndarray, np.ndarray]:
    """A head's projections (W_Q, W_K), each of shape (d_model, d_head) with
    d_head <= d_model as in real heads, entries finite in [-max_abs, max_abs]; the head's
    bilinear form is W_Q @ W_K.T."""
    d_model = draw(st.integers(max(min_d_model, min_d_head), max_d_model))
    d_head = draw(st.integers(min_d_head, min(max_d_head, d_model)))
    entries = _floats(-max_abs, max_abs)
    return (
        draw(hnp.arrays(np.float64, (d_model, d_head), elements=entries)),
        draw(hnp.arrays(np.float64, (d_model, d_head), elements=entries)),
    )
