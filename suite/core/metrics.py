"""Per-query ranking quality with ir_measures, for re-ranked candidate pools.

Ties are broken by first-stage rank (a stable re-rank), not by document id as trec_eval
would: a model whose scores collapse under ablation then keeps the first-stage order
instead of an arbitrary id order. Scores are handed to ir_measures as ranks for that.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence

import numpy as np

from ranker_claims.core.collections import RerankingSet


def parse_measure(name: str):
    """An ir_measures measure from its name (``"nDCG@10"``), with a clear error."""
    import ir_measures

    try:
        return ir_measures.parse_measure(name)
    except Exception as error:  # ir_measures raises a mix of types for bad names
        raise ValueError(f"unknown ir_measures measure {name!r}: {error}") from None


def qrels_of(rerank: RerankingSet, full_qrels: dict[str, dict[str, int]]) -> dict[str, dict[str, int]]:
    """The judgements of the kept queries; the ideal ranking uses every judged document."""
    return {q.qid: full_qrels[q.qid] for q in rerank.queries}


def per_query(
    measure: str,
    qrels: dict[str, dict[str, int]],
    rankings: Mapping[str, Sequence[str]],
) -> dict[str, float]:
    """``measure`` for every query of ``rankings`` (docids best first)."""
    import ir_measures

    parsed = parse_measure(measure)
    run = {qid: {docid: float(len(docs) - i) for i, docid in enumerate(docs)} for qid, docs in rankings.items()}
    values = {m.query_id: float(m.value) for m in ir_measures.iter_calc([parsed], qrels, run)}
    return {qid: values.get(qid, 0.0) for qid in rankings}


def ranking_from_scores(rerank: RerankingSet, scores: np.ndarray) -> dict[str, list[str]]:
    """Order each query's pool by ``scores`` (pool order, flattened), ties by first-stage rank."""
    out, start = {}, 0
    for query in rerank.queries:
        n = len(query.candidates)
        own = scores[start : start + n]
        order = np.lexsort((np.arange(n), -own))
        out[query.qid] = [query.candidates[i].docid for i in order]
        start += n
    if start != len(scores):
        raise ValueError(f"{len(scores)} scores for {start} candidates")
    return out


def first_stage(rerank: RerankingSet) -> dict[str, list[str]]:
    return {q.qid: [c.docid for c in q.candidates] for q in rerank.queries}


def random_orderings(
    rerank: RerankingSet, measure: str, qrels: dict[str, dict[str, int]], *, samples: int = 100, seed: int = 0) -> dict[str, float]:
    """Mean ``measure`` over ``samples`` seeded random orderings of each pool: the chance level."""
    rng = np.random.default_rng(seed)
    totals = {q.qid: 0.0 for q in rerank.queries}
    for _ in range(samples):
        shuffled = {q.qid: [q.candidates[i].docid for i in rng.permutation(len(q.candidates))] for q in rerank.queries}
        for qid, value in per_query(measure, qrels, shuffled).items():
            totals[qid] += value
    return {qid: total / samples for qid, total in totals.items()}
