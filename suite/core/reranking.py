"""The cross-encoder paper's re-ranking set: each judged query's first-stage pool, judged extras and easy negatives."""

from __future__ import annotations

import math
import random
from collections import Counter
from collections.abc import Iterable, Mapping

from ranker_claims.core.bm25 import BM25
from ranker_claims.core.collections import (
    CANDIDATE_PROBLEMS,
    DUPLICATE_ID,
    FIRST_STAGES,
    NO_TEXT,
    NON_FINITE_SCORE,
    UNKNOWN_ID,
    Candidate,
    Collection,
    CollectionError,
    Group,
    Qrels,
    RerankingSet,
    RerankQuery,
)


def build_reranking_set(
    collection: Collection,
    *,
    relevant_grade: int = 2,
    depth: int = 100,
    easy_negatives: int = 1,
    seed: int = 0,
    max_queries: int | None = None,
    first_stage: str = "auto",
    strict: bool = False,
    allow_empty: bool = False,
) -> RerankingSet:
    """The cross-encoder paper's setting: re-rank each judged query's first-stage top ``depth``.

    Candidates come from ``collection.run`` (``first_stage="run"``, or ``"auto"`` when there
    is one) or from BM25 over the collection's documents (``"bm25"``, or ``"auto"`` without
    a run). ``extra`` holds the query's judged documents outside the pool (for the group
    comparisons of CE-6/7/11) and ``easy_negatives`` seeded random passages drawn from the
    other kept queries' candidates and relevant documents, never judged for this query.
    Queries that cannot be measured are listed in ``excluded`` with the reason, never
    dropped silently; ``max_queries`` keeps the first eligible queries in qid order.

    The pool is the top ``depth`` of the entries that can be scored, so an unusable entry does
    not push a real candidate out: entries without text, with an unknown id, listed again or
    with a non-finite score are left out first and counted per query in
    ``excluded_candidates`` (ids listed again and non-finite scores over the query's whole run,
    since neither says where the document belongs; text only as deep as the pool reaches).
    ``strict`` makes any of them a :class:`CollectionError` naming the first query that has one.
    """
    if first_stage not in FIRST_STAGES:
        raise ValueError(f"first_stage must be one of {', '.join(FIRST_STAGES)}, got {first_stage!r}")
    if relevant_grade < 1 or depth < 1 or easy_negatives < 0 or (max_queries is not None and max_queries < 1):
        raise ValueError(f"need relevant_grade >= 1, depth >= 1, easy_negatives >= 0 and max_queries >= 1 or None; "
                         f"got {relevant_grade}, {depth}, {easy_negatives}, {max_queries}")
    if first_stage == "run" and collection.run is None:
        raise CollectionError(f"collection {collection.id} has no first-stage run; use first_stage='bm25'")
    run = collection.run if first_stage != "bm25" else None
    documents = collection.documents
    bm25 = None
    kept: list[RerankQuery] = []
    excluded: dict[str, str] = {}
    problems: dict[str, list[tuple[str, str]]] = {}  # qid -> (problem, entry) left out of its pool
    for qid in _sorted_ids(set(collection.queries) | set(collection.qrels) | set(run or ())):
        judged = collection.qrels.get(qid) or {}
        text = collection.queries.get(qid, "")
        if not judged:
            excluded[qid] = "not judged"
        elif not text:
            excluded[qid] = "no query text"
        elif max(judged.values()) < relevant_grade:
            excluded[qid] = f"no relevant document (grade >= {relevant_grade})"
        elif max_queries is not None and len(kept) >= max_queries:
            excluded[qid] = f"beyond max_queries={max_queries}"
        else:
            if run is not None:
                ranked = run.get(qid, [])
            else:
                if bm25 is None:
                    bm25 = BM25(documents)
                ranked = bm25.search(text, depth)
            pool, left_out = _pool(ranked, depth, documents, collection.textless)
            if left_out:
                problems[qid] = left_out
            candidates = []
            for docid, score, doc_text in pool:
                grade = judged.get(docid)
                candidates.append(Candidate(docid, doc_text, grade or 0, _group(grade, relevant_grade), score))
            if not candidates:
                excluded[qid] = ("no first-stage candidate with text" if not left_out else
                                 f"no usable first-stage candidate ({_summary(left_out)})")
                continue
            pooled = {c.docid for c in candidates}
            extra = [Candidate(docid, extra_text, grade, _group(grade, relevant_grade))
                     for docid, grade in sorted(judged.items(), key=lambda item: (-item[1], item[0]))
                     if docid not in pooled and (extra_text := documents.get(docid))]
            kept.append(RerankQuery(qid, text, candidates, extra))
    if strict and problems:
        qid, left_out = next(iter(problems.items()))
        more = len(problems) - 1
        others = f", and so do {more} more quer{'y' if more == 1 else 'ies'}" if more else ""
        raise CollectionError(
            f"collection {collection.id}: the first-stage run of query {qid} has entries no pool can use "
            f"({_summary(left_out, examples=3)}){others}; strict mode refuses them "
            "(without it they are left out of the pools and counted)")
    if not kept and not allow_empty:  # allow_empty: the claims say it, each INCONCLUSIVE (see no_query_reason)
        counts = Counter(excluded.values()).most_common()
        reasons = ", ".join(f"{reason}: {n}" for reason, n in counts) or "it has no queries"
        raise CollectionError(
            f"collection {collection.id} has no query with a relevant document (grade >= {relevant_grade}): {reasons}")
    _add_easy_negatives(kept, collection.qrels, easy_negatives, random.Random(seed))
    return RerankingSet(
        collection_id=collection.id,
        queries=kept,
        excluded=excluded,
        relevant_grade=relevant_grade,
        seed=seed,
        first_stage="run" if run is not None else "bm25",
        excluded_candidates={qid: _counts(left_out) for qid, left_out in problems.items()},
    )


def _pool(ranked: list[tuple[str, float]], depth: int, documents: Mapping[str, str],
          textless: set[str]) -> tuple[list[tuple[str, float, str]], list[tuple[str, str]]]:
    """The top ``depth`` scorable entries as (docid, score, text), and (problem, entry) for each left out.

    Repeated ids and non-finite scores are dropped over the whole list (cheap, and neither
    entry has a trustworthy place in it); texts are looked up only until the pool is full,
    as a deep run may rightly lack texts below it (and a docstore lookup costs).
    """
    problems: list[tuple[str, str]] = []
    seen: set[str] = set()
    usable: list[tuple[str, float]] = []
    for docid, score in ranked:
        if docid in seen:
            problems.append((DUPLICATE_ID, docid))
        elif not math.isfinite(score):
            problems.append((NON_FINITE_SCORE, f"{docid}={score}"))
        else:
            usable.append((docid, score))
        seen.add(docid)
    pool: list[tuple[str, float, str]] = []
    for docid, score in usable:
        if len(pool) == depth:
            break
        text = documents.get(docid)
        if text:
            pool.append((docid, score, text))
        else:
            problems.append((NO_TEXT if text is not None or docid in textless else UNKNOWN_ID, docid))
    return pool, problems


def _counts(left_out: list[tuple[str, str]]) -> dict[str, int]:
    """{problem: count} in the order of CANDIDATE_PROBLEMS."""
    counts = Counter(problem for problem, _ in left_out)
    return {problem: counts[problem] for problem in CANDIDATE_PROBLEMS if counts[problem]}


def _summary(left_out: list[tuple[str, str]], examples: int = 0) -> str:
    """'problem: count' per problem, with up to ``examples`` of its entries."""
    parts = []
    for problem, count in _counts(left_out).items():
        shown = [entry for p, entry in left_out if p == problem][:examples]
        more = ", ..." if count > len(shown) else ""
        parts.append(f"{problem}: {count}" + (f" ({', '.join(shown)}{more})" if shown else ""))
    return "; ".join(parts)


def _group(grade: int | None, relevant_grade: int) -> Group:
    """A negative judged grade (TREC's junk, -2) counts as a hard negative, like 0."""
    if grade is None:
        return Group.UNJUDGED
    if grade >= relevant_grade:
        return Group.RELEVANT
    return Group.PARTIAL if grade > 0 else Group.HARD


def _sorted_ids(ids: Iterable[str]) -> list[str]:
    """Numeric order when every id is a number (TREC qids), string order otherwise."""
    ids = list(ids)
    if all(i.isascii() and i.isdigit() for i in ids):
        return sorted(ids, key=lambda i: (int(i), i))
    return sorted(ids)


def _add_easy_negatives(queries: list[RerankQuery], qrels: Qrels, k: int, rng: random.Random) -> None:
    """Append ``k`` EASY passages per query from the other queries' candidates and relevant documents."""
    texts: dict[str, str] = {}
    for query in queries:
        for c in query.candidates + [c for c in query.extra if c.group is Group.RELEVANT]:
            texts.setdefault(c.docid, c.text)
    pool = sorted(texts)
    for query in queries:
        taken = set(qrels.get(query.qid, ())) | {c.docid for c in query.candidates + query.extra}
        for docid in _draw(pool, taken, k, rng):
            query.extra.append(Candidate(docid, texts[docid], 0, Group.EASY))


def _draw(pool: list[str], taken: set[str], k: int, rng: random.Random) -> list[str]:
    """``k`` distinct pool members outside ``taken``: rejection sampling, exact filtering if that stalls."""
    chosen: list[str] = []
    for _ in range(16 * k + 64):
        if len(chosen) == k or not pool:
            return chosen
        docid = pool[rng.randrange(len(pool))]
        if docid not in taken and docid not in chosen:
            chosen.append(docid)
    rest = [d for d in pool if d not in taken and d not in chosen]
    return chosen + rng.sample(rest, min(k - len(chosen), len(rest)))


def no_query_reason(rerank: RerankingSet) -> str | None:
    """Why a re-ranking set has no query to measure (each reason with its count), or None if it has one."""
    if rerank.queries:
        return None
    counts = Counter(rerank.excluded.values()).most_common()
    reasons = ", ".join(f"{reason}: {n}" for reason, n in counts) or "it has no queries"
    return (f"collection {rerank.collection_id} has no query with a relevant document "
            f"(grade >= {rerank.relevant_grade}): {reasons}")
