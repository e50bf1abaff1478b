"""Collections: the real TREC DL / Cranfield files, malformed inputs, the ir_datasets path
(with a fake dataset: no network here) and the re-ranking sets built from them."""

from __future__ import annotations

import json
from collections import Counter
from pathlib import Path
from typing import NamedTuple

import pytest

from ranker_claims.core.collections import (
    Collection,
    CollectionError,
    Group,
    collection_counts,
    load_collection,
    load_ir_datasets,
    load_local_directory,
    read_trec_qrels,
    read_trec_run,
    write_trec_run,
)
from ranker_claims.core.reranking import build_reranking_set

DATA = Path(__file__).resolve().parents[2].parent / "shared" / "data"


def _real(name: str) -> Path:
    path = DATA / name
    if not path.is_dir():
        pytest.skip(f"real collection {name} not found at {path} (the shared data folder beside the checkout)")
    return path


@pytest.fixture(scope="module")
def dl19() -> Collection:
    return load_local_directory(_real("trec-dl-2019"))


@pytest.fixture(scope="module")
def dl19_set(dl19):
    return build_reranking_set(dl19)


@pytest.fixture(scope="module")
def dl20() -> Collection:
    return load_local_directory(_real("trec-dl-2020"))


@pytest.fixture(scope="module")
def cranfield() -> Collection:
    return load_local_directory(_real("cranfield"))


def write(directory: Path, files: dict[str, str]) -> Path:
    directory.mkdir(parents=True, exist_ok=True)
    for name, text in files.items():
        (directory / name).write_text(text, encoding="utf-8")
    return directory


SMALL = {
    "queries.tsv": "1\tcats and dogs\n2\tbird song\n3\tfish tank\n",
    "qrels.txt": "1 Q0 a 2\n1 Q0 b 0\n1 Q0 z 1\n2 Q0 c 3\n2 Q0 e 1\n3 Q0 d 1\n",
    "docs.jsonl": "\n".join(json.dumps({"_id": i, "title": "", "text": t}) for i, t in [
        ("a", "cats chase dogs"), ("b", "dogs bark at cats"), ("c", "a bird song at dawn"),
        ("d", "fish in a tank"), ("e", "birds"), ("f", "an unrelated passage about cars")]) + "\n",
    "first.run": "1 Q0 b 1 9.0 t\n1 Q0 a 2 8.0 t\n1 Q0 gone 3 7.0 t\n1 Q0 f 4 6.0 t\n2 Q0 c 1 5.0 t\n",
}


# --- real collections -------------------------------------------------------------------


def test_dl19_counts_match_the_data_readme(dl19):
    counts = collection_counts(dl19)
    assert counts["queries"] == counts["judged_queries"] == counts["run_queries"] == 43
    assert counts["qrels"] == 9260
    assert counts["documents"] == 7925  # 5,000 judged passages + 4,297 BM25 passages, 1,372 shared
    assert all(len(ranked) == 100 for ranked in dl19.run.values())
    assert dl19.id == "local:trec-dl-2019"
    for name in ("queries.tsv", "qrels.txt", "judged-passages.jsonl", "bm25-top100.json", "bm25-top100.run"):
        assert name in dl19.description
    assert dl19.queries["264014"] == "how long is life cycle of flea"
    assert dl19.run["264014"][0] == ("5611210", pytest.approx(15.780599594116211))


def test_dl19_hits_json_alone_gives_the_same_run_and_queries(dl19, tmp_path):
    real = _real("trec-dl-2019")
    for name in ("qrels.txt", "bm25-top100.json"):
        (tmp_path / name).symlink_to(real / name)
    from_json = load_local_directory(tmp_path)
    assert from_json.run == dl19.run
    assert from_json.queries == dl19.queries  # plain-string queries, qid taken from the hits
    assert len(from_json.documents) == 4297


def test_dl20_has_200_topics_54_judged(dl20):
    counts = collection_counts(dl20)
    assert (counts["queries"], counts["judged_queries"], counts["qrels"], counts["run_queries"]) == (200, 54, 11386, 54)
    assert set(dl20.qrels) == set(dl20.run)
    rerank = build_reranking_set(dl20)
    assert len(rerank.queries) == 54
    assert Counter(rerank.excluded.values()) == {"not judged": 146}
    assert all(len(q.candidates) == 100 for q in rerank.queries) and rerank.missing_text == 0


def test_cranfield_queries_are_renumbered_in_file_order_and_grades_turned_around(cranfield):
    counts = collection_counts(cranfield)
    assert (counts["queries"], counts["judged_queries"], counts["run_queries"]) == (225, 225, None)
    raw = (DATA / "cranfield" / "cran.all.1400").read_text()
    assert raw.count("\n.I ") + raw.startswith(".I ") == 1400
    assert counts["documents"] == 1398  # records 471 and 995 are empty
    assert "471" not in cranfield.documents and "995" not in cranfield.documents
    assert cranfield.queries["1"].startswith("what similarity laws must be obeyed")
    assert cranfield.queries["3"].startswith("what problems of heat conduction")  # its .I is 004
    assert cranfield.queries["225"].endswith("lift-drag ratios at mach numbers above 5 .")
    assert cranfield.documents["1"].startswith("experimental investigation of the aerodynamics of a wing in a slipstream . "
                                               "experimental investigation")  # title, then the abstract
    # cranqrel "1 184 2" (high relevance) -> 3; "1 13 4" (minimum interest) -> 1; "1 486 -1" dropped
    assert cranfield.qrels["1"]["184"] == 3 and cranfield.qrels["1"]["13"] == 1 and "486" not in cranfield.qrels["1"]
    assert counts["qrels"] == 1837 - 225  # every line but the 225 -1 lines
    assert "225 source-document (-1) lines dropped" in cranfield.description


def test_cranfield_reranking_set_uses_bm25(cranfield):
    rerank = build_reranking_set(cranfield)
    assert rerank.first_stage == "bm25"
    assert len(rerank.queries) == 222
    assert Counter(rerank.excluded.values()) == {"no relevant document (grade >= 2)": 3}
    assert all(1 <= len(q.candidates) <= 100 for q in rerank.queries)
    scores = [c.first_stage_score for c in rerank.queries[0].candidates]
    assert scores == sorted(scores, reverse=True)


# --- the DL19 re-ranking set ---------------------------------------------------------------


def test_dl19_set_keeps_every_query_with_a_full_pool(dl19_set):
    assert len(dl19_set.queries) == 43 and dl19_set.excluded == {}
    assert dl19_set.missing_text == 0 and dl19_set.first_stage == "run"
    assert all(len(q.candidates) == 100 for q in dl19_set.queries)
    qids = [q.qid for q in dl19_set.queries]
    assert qids == sorted(qids, key=int)


def test_dl19_groups_follow_the_grades(dl19, dl19_set):
    in_pool = Counter(c.group for q in dl19_set.queries for c in q.candidates)
    extra = Counter(c.group for q in dl19_set.queries for c in q.extra)
    assert in_pool[Group.RELEVANT] == 846  # README: the BM25 top-100 holds 846 of the 2,501 grade 2-3 passages
    assert in_pool[Group.RELEVANT] + extra[Group.RELEVANT] == 2501  # the rest have text in judged-passages.jsonl
    assert in_pool[Group.HARD] > 0 and in_pool[Group.PARTIAL] > 0 and in_pool[Group.UNJUDGED] > 0
    assert extra[Group.EASY] == 43
    for query in dl19_set.queries:
        judged = dl19.qrels[query.qid]
        for c in query.candidates + query.extra:
            if c.group is Group.EASY or c.group is Group.UNJUDGED:
                assert c.docid not in judged and c.grade == 0
            else:
                assert c.grade == judged[c.docid]
        assert not {c.docid for c in query.candidates} & {c.docid for c in query.extra}


def test_dl19_set_is_deterministic_by_seed(dl19, dl19_set):
    def easy(rerank):
        return [(q.qid, c.docid) for q in rerank.queries for c in q.extra if c.group is Group.EASY]

    assert build_reranking_set(dl19) == dl19_set
    assert easy(build_reranking_set(dl19, seed=1)) != easy(dl19_set)
    three = build_reranking_set(dl19, easy_negatives=3, seed=5)
    assert all(sum(c.group is Group.EASY for c in q.extra) == 3 for q in three.queries)


def test_dl19_relevant_grade_and_max_queries(dl19):
    strict = build_reranking_set(dl19, relevant_grade=3)
    assert len(strict.queries) == 36
    assert Counter(strict.excluded.values()) == {"no relevant document (grade >= 3)": 7}
    first = build_reranking_set(dl19, max_queries=5, depth=10)
    assert [q.qid for q in first.queries] == sorted(dl19.queries, key=int)[:5]
    assert Counter(first.excluded.values()) == {"beyond max_queries=5": 38}
    assert all(len(q.candidates) == 10 for q in first.queries)


def test_bm25_first_stage_on_request(tmp_path):
    collection = load_local_directory(write(tmp_path, SMALL))
    rerank = build_reranking_set(collection, first_stage="bm25")
    assert rerank.first_stage == "bm25"
    assert [c.docid for c in rerank.queries[0].candidates][:2] == ["a", "b"]


# --- re-ranking rules on a small collection ------------------------------------------------


def test_missing_text_and_exclusions_are_counted_not_hidden(tmp_path):
    collection = load_local_directory(write(tmp_path, SMALL))
    rerank = build_reranking_set(collection)
    assert rerank.missing_text == 1  # "gone" is in the run without text
    assert rerank.excluded == {"3": "no relevant document (grade >= 2)"}
    by_qid = {q.qid: q for q in rerank.queries}
    assert [(c.docid, c.group) for c in by_qid["1"].candidates] == [
        ("b", Group.HARD), ("a", Group.RELEVANT), ("f", Group.UNJUDGED)]
    assert [c.first_stage_score for c in by_qid["1"].candidates] == [9.0, 8.0, 6.0]
    # judged docs outside the pool with text (z has none), then one easy negative judged for neither
    assert [(c.docid, c.group) for c in by_qid["2"].extra][:1] == [("e", Group.PARTIAL)]
    easy = [c for q in rerank.queries for c in q.extra if c.group is Group.EASY]
    assert len(easy) == 2 and all(c.docid not in collection.qrels[q.qid] for q in rerank.queries
                                  for c in q.extra if c.group is Group.EASY)


def test_unjudged_textless_and_candidateless_queries_are_excluded(tmp_path):
    files = dict(SMALL, **{"queries.tsv": "1\tcats and dogs\n2\tbird song\n9\tnever judged\n",
                           "first.run": "2 Q0 c 1 1.0 t\n"})
    rerank = build_reranking_set(load_local_directory(write(tmp_path, files)))
    assert [q.qid for q in rerank.queries] == ["2"]
    assert rerank.excluded == {"1": "no first-stage candidate with text", "3": "no query text", "9": "not judged"}


def test_a_collection_without_relevant_documents_is_an_error(tmp_path):
    files = dict(SMALL, **{"qrels.txt": "1 Q0 a 1\n2 Q0 c 0\n"})
    with pytest.raises(CollectionError, match=r"no query with a relevant document \(grade >= 2\).*"
                                              r"no relevant document \(grade >= 2\): 2.*not judged: 1"):
        build_reranking_set(load_local_directory(write(tmp_path, files)))


def test_query_order_is_numeric_when_ids_are_numbers():
    docs = {"d": "word"}
    collection = Collection("x", dict.fromkeys(("10", "9", "100"), "word"), docs,
                            {q: {"d": 2} for q in ("10", "9", "100")}, run=None)
    assert [q.qid for q in build_reranking_set(collection).queries] == ["9", "10", "100"]
    mixed = Collection("x", {"b": "word", "a2": "word"}, docs, {"b": {"d": 2}, "a2": {"d": 2}})
    assert [q.qid for q in build_reranking_set(mixed).queries] == ["a2", "b"]


def test_bad_arguments_are_refused(tmp_path):
    collection = load_local_directory(write(tmp_path, SMALL))
    with pytest.raises(ValueError, match="first_stage"):
        build_reranking_set(collection, first_stage="dense")
    with pytest.raises(ValueError, match="depth >= 1"):
        build_reranking_set(collection, depth=0)
    with pytest.raises(CollectionError, match="no first-stage run"):
        build_reranking_set(Collection("x", {}, {}, {}), first_stage="run")


# --- formats and malformed inputs ----------------------------------------------------------


def test_trec_run_round_trip_and_tie_order(tmp_path):
    path = write(tmp_path, {"r.run": "q Q0 b 2 1.5 t\nq Q0 a 1 1.5 t\nq Q0 c 3 2.0 t\n"}) / "r.run"
    run = read_trec_run(path)
    assert run == {"q": [("c", 2.0), ("a", 1.5), ("b", 1.5)]}  # by score, ties by the file's rank
    write_trec_run(run, tmp_path / "out.run")
    assert read_trec_run(tmp_path / "out.run") == run


def test_three_column_qrels_and_alternative_hits_json(tmp_path):
    hits = [{"query": {"text": "cats", "qid": "1"},
             "hits": [{"docid": "a", "score": 2.0, "rank": 1, "content": "cats  purr"},
                      {"docid": "b", "score": 1.0, "rank": 2, "content": ""}]}]
    directory = write(tmp_path, {"x.qrels": "1 a 2\n1 b 0\n", "hits.json": json.dumps(hits)})
    collection = load_local_directory(directory)
    assert collection.qrels == {"1": {"a": 2, "b": 0}} == read_trec_qrels(directory / "x.qrels")
    assert collection.queries == {"1": "cats"} and collection.documents == {"a": "cats purr"}
    assert collection.run == {"1": [("a", 2.0), ("b", 1.0)]}


@pytest.mark.parametrize(
    ("name", "text", "message"),
    [
        ("qrels.txt", "1 Q0 a 1\n1 Q0 b 0\n\n1 b 2\n", r"qrels.txt:4: expected 'qid Q0 docid grade', got 3 fields"),
        ("qrels.txt", "1 Q0 a 1\n1 Q0 b high\n", r"qrels.txt:2: grade 'high' is not an integer"),
        ("qrels.txt", "1 Q0 a 1\n1 Q0 a 2\n", r"qrels.txt:2: query 1 document a judged again"),
        ("qrels.txt", "1 a\n", r"qrels.txt:1: expected 'qid Q0 docid grade' or 'qid docid grade', got 2 fields"),
        ("cranqrel", "1 a 2\n1 b 7\n", r"cranqrel:2: expected a Cranfield relevance code 1-4 or -1, got 7"),
        ("queries.tsv", "1\tcats\n2 no tab\n", r"queries.tsv:2: expected 'qid<TAB>text'"),
        ("queries.tsv", "1\tcats\n1\tdogs\n", r"queries.tsv:2: query 1 appears again with a different text"),
        ("docs.jsonl", '{"_id": "a", "text": "x"}\n{"_id": "b", "text": \n', r"docs.jsonl:2: invalid JSON"),
        ("docs.jsonl", '{"id": "a", "text": "x"}\n', r"docs.jsonl:1: expected a JSON object with '_id' and 'text'"),
        ("first.run", "1 Q0 a 1 2.0\n", r"first.run:1: expected 'qid Q0 docid rank score tag', got 5 fields"),
        ("first.run", "1 Q0 a one 2.0 t\n", r"first.run:1: expected an integer rank and a numeric score"),
        ("first.run", "1 Q0 a 1 2.0 t\n1 Q0 a 2 1.0 t\n", r"first.run:2: document a is listed twice for query 1"),
        ("cran.all.1400", "some text\n.I 1\n", r"cran.all.1400:1: expected '.I <number>' to start a record"),
        ("cran.all.1400", ".I 1\n.T\ntitle\n.X\n", r"cran.all.1400:4: unknown field '.X' \(expected .T, .A, .B, .W\)"),
        ("cran.all.1400", ".I one\n", r"cran.all.1400:1: expected '.I <number>'"),
        ("hits.json", '[{"query": "q", "hits": [{"qid": 1}]}]', r"hits.json: entry 1, hit 1: expected 'docid'"),
        ("hits.json", '{"query": "q"}', r"hits.json: expected a JSON list"),
        ("hits.json", '[{"query": "q",\n "hits": [}]', r"hits.json:2: invalid JSON"),
    ],
)
def test_malformed_files_name_the_file_and_line(tmp_path, name, text, message):
    files = {"queries.tsv": "1\tcats\n", "qrels.txt": "1 Q0 a 2\n"}
    files[name] = text
    with pytest.raises(CollectionError, match=message):
        load_local_directory(write(tmp_path, files))


def test_missing_pieces_get_a_helpful_error(tmp_path):
    with pytest.raises(CollectionError, match=r"no recognisable queries or qrels; found no files\. Accepted: queries"):
        load_local_directory(write(tmp_path / "empty", {}))
    with pytest.raises(CollectionError, match=r"no recognisable qrels; found notes.txt, queries.tsv\..*cranqrel"):
        load_local_directory(write(tmp_path / "half", {"queries.tsv": "1\tx\n", "notes.txt": "hi"}))
    with pytest.raises(CollectionError, match="several first-stage runs"):
        load_local_directory(write(tmp_path / "two", dict(SMALL, **{"second.run": "1 Q0 a 1 1.0 t\n"})))
    with pytest.raises(CollectionError, match="is not a directory"):
        load_local_directory(tmp_path / "absent")


def test_load_collection_dispatches_on_the_spec(tmp_path):
    assert load_collection(str(write(tmp_path / "small", SMALL))).id == "local:small"
    with pytest.raises(CollectionError, match="neither a directory nor a known ir_datasets id"):
        load_collection(str(tmp_path / "no-such-dir"))
    with pytest.raises(CollectionError, match="is a file"):
        load_collection(str(tmp_path / "small" / "qrels.txt"))


# --- ir_datasets, with a fake dataset ------------------------------------------------------


class Query(NamedTuple):  # like ir_datasets' TrecQuery: no "text" field, the title comes first
    query_id: str
    title: str
    description: str


class Qrel(NamedTuple):
    query_id: str
    doc_id: str
    relevance: int
    iteration: str


class Doc(NamedTuple):
    doc_id: str
    text: str


class ScoredDoc(NamedTuple):
    query_id: str
    doc_id: str
    score: float


class FakeStore:
    def __init__(self, docs: dict[str, Doc]):
        self.docs, self.lookups = docs, 0

    def get(self, doc_id):
        self.lookups += 1
        return self.docs[doc_id]  # KeyError when absent, as ir_datasets' stores do


class FakeDataset:
    def __init__(self, qrels, scored, *, fail: bool = False):
        self.qrels, self.scored, self.fail = qrels, scored, fail
        texts = {"a": "cats chase dogs", "b": "dogs bark", "c": "cats  sleep\n all day"}
        self.docs = {d: Doc(d, t) for d, t in texts.items()}
        self.store = FakeStore(self.docs)

    def has_queries(self): return True
    def has_qrels(self): return True
    def has_docs(self): return True
    def has_scoreddocs(self): return self.scored is not None
    def docs_store(self): return self.store
    def docs_iter(self): return iter(self.docs.values())
    def docs_count(self): return len(self.docs)
    def scoreddocs_iter(self): return (ScoredDoc(*row) for row in self.scored)
    def qrels_iter(self): return (Qrel(q, d, r, "0") for q, d, r in self.qrels)

    def queries_iter(self):
        if self.fail:
            raise RuntimeError("All download sources failed")
        return iter([Query("1", "cats", "what do cats do"), Query("2", "dogs", "about dogs")])


@pytest.fixture
def fake_ir_datasets(monkeypatch):
    import ir_datasets

    registry: dict[str, FakeDataset] = {}

    def load(name):
        if name not in registry:
            raise KeyError(f"{name} not found")
        return registry[name]

    monkeypatch.setattr(ir_datasets, "load", load)
    return registry


def test_ir_datasets_collection_is_read_through_the_api(fake_ir_datasets):
    fake = fake_ir_datasets["fake/judged"] = FakeDataset(
        [("1", "a", 2), ("1", "b", 0), ("2", "b", 1)], [("1", "b", 3.0), ("1", "a", 5.0), ("1", "c", 4.0)])
    collection = load_collection("fake/judged")
    assert collection.id == "fake/judged"
    assert collection.queries == {"1": "cats", "2": "dogs"}
    assert collection.qrels == {"1": {"a": 2, "b": 0}, "2": {"b": 1}}
    assert collection.run == {"1": [("a", 5.0), ("c", 4.0), ("b", 3.0)]}
    assert fake.store.lookups == 0  # documents stay in the store until asked for
    assert not isinstance(collection.documents, dict) and collection_counts(collection)["documents"] is None
    assert collection.documents["c"] == "cats sleep all day" and "zzz" not in collection.documents
    assert len(collection.documents) == 3 and sorted(collection.documents) == ["a", "b", "c"]
    rerank = build_reranking_set(collection)
    assert [q.qid for q in rerank.queries] == ["1"] and rerank.excluded == {"2": "no relevant document (grade >= 2)"}
    assert [c.docid for c in rerank.queries[0].candidates] == ["a", "c", "b"]


def test_ir_datasets_pools_without_scores_are_ranked_with_bm25(fake_ir_datasets):
    fake_ir_datasets["fake/top1000"] = FakeDataset([("1", "a", 2)], [("1", "b", 0.0), ("1", "c", 0.0), ("1", "a", 0.0)])
    collection = load_ir_datasets("fake/top1000")
    assert [d for d, _ in collection.run["1"]] == ["a", "c", "b"]  # "cats" in a (shorter) and c; b has no match
    assert "ranked with BM25" in collection.description


def test_ir_datasets_cranfield_grades_are_turned_around(fake_ir_datasets):
    fake_ir_datasets["cranfield"] = FakeDataset([("1", "a", 1), ("1", "b", 4), ("1", "c", -1)], None)
    collection = load_ir_datasets("cranfield")
    assert collection.qrels == {"1": {"a": 4, "b": 1}} and collection.run is None


def test_ir_datasets_failures_are_collection_errors(fake_ir_datasets):
    fake_ir_datasets["fake/offline"] = FakeDataset([], None, fail=True)
    with pytest.raises(CollectionError, match=r"could not be read \(RuntimeError: All download sources failed\).*copy"):
        load_ir_datasets("fake/offline")
    with pytest.raises(CollectionError, match="neither a directory nor a known ir_datasets id"):
        load_ir_datasets("fake/unknown")
