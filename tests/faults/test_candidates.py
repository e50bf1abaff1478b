"""Fault injection: first-stage entries no pool can use are left out before the depth cut,
counted per query, shown in the report, and errors under strict mode; never dropped unseen.

Tiny collections in a tmp dir (TREC qrels + run, ``qid<TAB>text`` queries, BEIR documents),
and a fake ``ir_datasets`` dataset for the one source that can repeat an id (its scoreddocs).
"""

from __future__ import annotations

import json
import math
from pathlib import Path
from typing import NamedTuple

import ir_datasets
import pytest

from ranker_claims.core.collections import Collection, CollectionError, load_collection, load_local_directory
from ranker_claims.core.reranking import build_reranking_set
from ranker_claims.core.runs import load_run, new_run, save_run
from ranker_claims.reports import render_report

DOCS = {"a": "cats chase dogs", "b": "dogs bark at cats", "c": "a cat sleeps", "d": "dogs dig", "e": "cats purr",
        "f": "an unrelated passage about cars", "blank": ""}  # "blank" is in the documents file, without text
QUERIES = "1\tcats and dogs\n2\tdogs\n"
QRELS = "1 Q0 a 2\n1 Q0 b 0\n2 Q0 d 3\n2 Q0 b 1\n"


def collection_dir(directory: Path, run: dict[str, list[tuple[str, float | str]]]) -> Path:
    """A local collection whose run lists ``run[qid]`` best first (ranks 1, 2, ...)."""
    directory.mkdir(parents=True, exist_ok=True)
    (directory / "queries.tsv").write_text(QUERIES)
    (directory / "qrels.txt").write_text(QRELS)
    (directory / "docs.jsonl").write_text("".join(json.dumps({"_id": d, "text": t}) + "\n" for d, t in DOCS.items()))
    lines = [f"{qid} Q0 {docid} {rank} {score} t" for qid, ranked in run.items()
             for rank, (docid, score) in enumerate(ranked, 1)]
    (directory / "first.run").write_text("\n".join(lines) + "\n")
    return directory


def docids(rerank, qid: str) -> list[str]:
    return [c.docid for q in rerank.queries if q.qid == qid for c in q.candidates]


CLEAN = {"1": [("a", 9.0), ("b", 8.0), ("c", 7.0), ("e", 6.0)], "2": [("d", 5.0), ("b", 4.0), ("f", 3.0)]}


def test_clean_run_leaves_nothing_out_and_strict_changes_nothing(tmp_path):
    collection = load_local_directory(collection_dir(tmp_path, CLEAN))
    rerank = build_reranking_set(collection, depth=3)
    assert rerank.excluded_candidates == {} and rerank.missing_text == 0
    assert docids(rerank, "1") == ["a", "b", "c"] and docids(rerank, "2") == ["d", "b", "f"]
    assert build_reranking_set(collection, depth=3, strict=True) == rerank


# --- counted per query, and the depth cut keeps `depth` scorable candidates -------------------


def test_ids_without_text_or_unknown_do_not_push_real_candidates_out(tmp_path):
    run = {"1": [("blank", 10.0), ("ghost", 9.5), ("a", 9.0), ("b", 8.0), ("c", 7.0), ("nowhere", 6.5), ("e", 6.0)],
           "2": [("d", 5.0), ("ghost", 4.5), ("b", 4.0), ("f", 3.0)]}
    collection = load_local_directory(collection_dir(tmp_path, run))
    assert collection.textless == {"blank"}
    rerank = build_reranking_set(collection, depth=3)
    assert docids(rerank, "1") == ["a", "b", "c"]  # before: ["a"], two real candidates cut by the unusable ones
    assert docids(rerank, "2") == ["d", "b", "f"]
    # "nowhere" lies below the full pool: its text was never needed, so it is not counted
    assert rerank.excluded_candidates == {"1": {"without text": 1, "unknown id": 1}, "2": {"unknown id": 1}}
    assert rerank.missing_text == 3


def test_non_finite_scores_are_left_out_wherever_they_are_and_do_not_scramble_the_order(tmp_path):
    run = {"1": [("c", "1.0"), ("a", "nan"), ("e", "3.0"), ("b", "inf"), ("f", "2.0"), ("d", "-inf")],
           "2": [("d", "5.0"), ("b", "4.0"), ("f", "NaN")]}
    collection = load_local_directory(collection_dir(tmp_path, run))
    assert math.isnan(dict(collection.run["2"])["f"])  # loading keeps them: only the set knows how deep it reads
    assert [d for d, _ in collection.run["1"]][:3] == ["b", "e", "f"]  # finite scores in order, NaN last
    rerank = build_reranking_set(collection, depth=2)
    assert docids(rerank, "1") == ["e", "f"] and docids(rerank, "2") == ["d", "b"]
    assert all(math.isfinite(c.first_stage_score) for q in rerank.queries for c in q.candidates)
    # "f" of query 2 sits below the pool and still counts: a NaN says nothing about where it belongs
    assert rerank.excluded_candidates == {"1": {"non-finite score": 3}, "2": {"non-finite score": 1}}
    # a judged document left out of the pool for its score still serves as a judged pair outside it
    assert "a" in {c.docid for q in rerank.queries if q.qid == "1" for c in q.extra}


def test_non_finite_scores_in_bm25_hits_json_are_counted(tmp_path):
    hits = [{"query": {"text": "cats and dogs", "qid": "1"},
             "hits": [{"docid": "a", "score": float("nan"), "content": "cats chase dogs"},
                      {"docid": "b", "score": float("inf"), "content": "dogs bark at cats"},
                      {"docid": "c", "score": 1.0, "content": "a cat sleeps"},
                      {"docid": "x", "score": 0.5, "content": ""}]}]  # named by the hits, without text
    tmp_path.mkdir(exist_ok=True)
    (tmp_path / "qrels.txt").write_text("1 Q0 a 2\n")
    (tmp_path / "hits.json").write_text(json.dumps(hits))  # NaN and Infinity, as Python's json writes them
    rerank = build_reranking_set(load_local_directory(tmp_path), depth=5)
    assert docids(rerank, "1") == ["c"]
    assert rerank.excluded_candidates == {"1": {"without text": 1, "non-finite score": 2}}


def test_a_query_left_with_no_usable_candidate_is_excluded_with_the_reason(tmp_path):
    run = {"1": [("a", 2.0), ("b", 1.0)], "2": [("blank", 3.0), ("d", "nan")]}
    rerank = build_reranking_set(load_local_directory(collection_dir(tmp_path, run)), depth=3)
    assert [q.qid for q in rerank.queries] == ["1"]
    assert rerank.excluded == {"2": "no usable first-stage candidate (without text: 1; non-finite score: 1)"}
    assert rerank.excluded_candidates == {"2": {"without text": 1, "non-finite score": 1}}


def test_a_trec_run_listing_an_id_twice_stays_an_error_at_its_line(tmp_path):
    run = {"1": [("a", 2.0), ("b", 1.5), ("a", 1.0)], "2": [("d", 1.0)]}
    with pytest.raises(CollectionError, match=r"first.run:3: document a is listed twice for query 1"):
        load_local_directory(collection_dir(tmp_path, run))


def test_duplicate_ids_of_a_programmatic_run_keep_the_best_ranked_entry():
    collection = Collection("mine", {"1": "cats"}, {"a": "cats", "b": "dogs", "c": "cats sleep"}, {"1": {"a": 2}},
                            run={"1": [("a", 3.0), ("b", 2.0), ("a", 1.5), ("a", 1.0), ("c", 0.5)]})
    rerank = build_reranking_set(collection, depth=3)
    assert docids(rerank, "1") == ["a", "b", "c"]
    assert rerank.excluded_candidates == {"1": {"duplicate id": 2}}


# --- ir_datasets: scoreddocs can repeat ids, the docstore knows unknown from empty ------------


class _Query(NamedTuple):
    query_id: str
    text: str


class _Qrel(NamedTuple):
    query_id: str
    doc_id: str
    relevance: int


class _Doc(NamedTuple):
    doc_id: str
    text: str


class _Scored(NamedTuple):
    query_id: str
    doc_id: str
    score: float


class _Store:
    def __init__(self, docs: dict[str, _Doc]) -> None:
        self.docs = docs

    def get(self, doc_id: str) -> _Doc:
        return self.docs[doc_id]  # KeyError when absent, as ir_datasets' stores do


class _Dataset:
    """Just enough of an ir_datasets dataset: queries, qrels, a docstore and scoreddocs."""

    def __init__(self, scored: list[tuple[str, str, float]]) -> None:
        self.docs = {d: _Doc(d, t) for d, t in DOCS.items()}
        self.scored = scored

    def has_queries(self): return True
    def has_qrels(self): return True
    def has_docs(self): return True
    def has_scoreddocs(self): return True
    def docs_store(self): return _Store(self.docs)
    def docs_iter(self): return iter(self.docs.values())
    def docs_count(self): return len(self.docs)
    def queries_iter(self): return iter([_Query("1", "cats and dogs")])
    def qrels_iter(self): return iter([_Qrel("1", "a", 2)])
    def scoreddocs_iter(self): return (_Scored(*row) for row in self.scored)


def test_ir_datasets_repeats_unknown_and_empty_documents_are_counted(monkeypatch):
    scored = [("1", "a", 9.0), ("1", "a", 8.0), ("1", "ghost", 7.0), ("1", "blank", 6.0), ("1", "b", 5.0),
              ("1", "c", float("nan")), ("1", "d", 4.0), ("1", "e", 3.0)]
    monkeypatch.setattr(ir_datasets, "load", lambda name: _Dataset(scored))
    rerank = build_reranking_set(load_collection("fake/faulty"), depth=3)
    assert docids(rerank, "1") == ["a", "b", "d"]
    assert rerank.excluded_candidates == {
        "1": {"without text": 1, "unknown id": 1, "duplicate id": 1, "non-finite score": 1}}


# --- strict: each kind is an error naming the collection, the first query and the entry --------


@pytest.mark.parametrize(("run", "problem"), [
    ({"1": [("a", 1.0)], "2": [("blank", 2.0), ("d", 1.0)]}, r"without text: 1 \(blank\)"),
    ({"1": [("a", 1.0)], "2": [("ghost", 2.0), ("d", 1.0)]}, r"unknown id: 1 \(ghost\)"),
    ({"1": [("a", 1.0)], "2": [("d", "nan"), ("b", 1.0)]}, r"non-finite score: 1 \(d=nan\)"),
    ({"1": [("a", 1.0)], "2": [("d", 2.0), ("b", "inf")]}, r"non-finite score: 1 \(b=inf\)"),
    ({"1": [("a", 1.0)], "2": [("d", 2.0), ("b", "-inf")]}, r"non-finite score: 1 \(b=-inf\)"),
])
def test_strict_refuses_each_kind_naming_the_collection_and_query(tmp_path, run, problem):
    collection = load_local_directory(collection_dir(tmp_path / "c", run))
    build_reranking_set(collection, depth=3)  # without strict: counted, no error
    with pytest.raises(CollectionError, match=r"^collection local:c: the first-stage run of query 2 has entries no "
                                              rf"pool can use \({problem}\); strict mode refuses them"):
        build_reranking_set(collection, depth=3, strict=True)


def test_strict_refuses_duplicates_and_names_the_first_of_several_queries():
    collection = Collection("mine", {"1": "cats", "2": "dogs", "3": "cars"}, {"a": "cats", "b": "dogs", "c": "cars"},
                            {"1": {"a": 2}, "2": {"b": 2}, "3": {"c": 2}},
                            run={"1": [("a", 2.0), ("a", 1.0)], "2": [("b", 1.0)], "3": [("c", 2.0), ("x", 1.0)]})
    with pytest.raises(CollectionError, match=r"query 1 has entries no pool can use \(duplicate id: 1 \(a\)\), "
                                              r"and so do 1 more query; strict mode"):
        build_reranking_set(collection, strict=True)


def test_strict_lists_three_entries_then_an_ellipsis(tmp_path):
    run = {"1": [("g1", 5.0), ("g2", 4.0), ("g3", 3.0), ("g4", 2.0), ("a", 1.0)], "2": [("d", 1.0)]}
    with pytest.raises(CollectionError, match=r"\(unknown id: 4 \(g1, g2, g3, \.\.\.\)\);"):
        build_reranking_set(load_local_directory(collection_dir(tmp_path, run)), strict=True)


# --- recorded in the run's target and shown in the report --------------------------------------


def _run_with_target(collection_record: dict) -> dict:
    run = new_run({"alpha": 0.05}, {"packages": {}})
    run["run_id"], run["started"] = "20260101T000000Z-0000", "2026-01-01T00:00:00+00:00"
    run["targets"].append({"model": {"id": "m"}, "collection": collection_record})
    return run


def test_counts_reach_the_run_and_the_report(tmp_path):
    run_spec = {"1": [("blank", 10.0), ("ghost", 9.0), ("a", 8.0), ("c", "nan")], "2": [("d", 5.0), ("ghost", 4.0)]}
    rerank = build_reranking_set(load_local_directory(collection_dir(tmp_path / "faulty", run_spec)), depth=3)
    # what the cross-encoder study's describe() records of the set
    record = {"id": rerank.collection_id, "queries": len(rerank.queries), "excluded": dict(rerank.excluded),
              "excluded_candidates": dict(rerank.excluded_candidates)}
    run = load_run(save_run(_run_with_target(record), tmp_path / "run.json"))  # survives the JSON round trip
    assert run["targets"][0]["collection"]["excluded_candidates"] == {
        "1": {"without text": 1, "unknown id": 1, "non-finite score": 1}, "2": {"unknown id": 1}}
    page = render_report(run)
    assert "<th>Excluded queries and candidates</th>" in page
    assert ("4 first-stage candidates left out in 2 queries (without text: 1, unknown id: 2, non-finite score: 1)"
            in page)
    assert "<li><code>1</code>: without text: 1, unknown id: 1, non-finite score: 1</li>" in page
    assert "<li><code>2</code>: unknown id: 1</li>" in page
    assert "no query excluded" in page
    assert "excluded_candidates" not in page  # shown in its place, not again among the other facts


def test_a_clean_target_renders_as_before_and_odd_records_still_render():
    base = {"id": "c", "queries": 3, "candidates": 90, "excluded": {"7": "not judged"}}
    assert render_report(_run_with_target({**base, "excluded_candidates": {}})) == render_report(
        _run_with_target(base))
    hostile = render_report(_run_with_target({**base, "excluded_candidates": {"<q>": {"<p>": 2}}}))
    assert "<q>" not in hostile and "&lt;q&gt;" in hostile and "&lt;p&gt;: 2" in hostile
    assert "1 excluded" in hostile and "2 first-stage candidates left out in 1 query" in hostile
    odd = render_report(_run_with_target({**base, "excluded_candidates": {"1": {"without text": "two"}}}))
    assert "Could not render" not in odd and "two" in odd
