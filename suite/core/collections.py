"""Test collections and the re-ranking sets the claims are measured on.

One interface for every source: an ``ir_datasets`` id, a local directory in the
formats of TREC / BEIR / Cranfield, or a generated collection. Every loader
returns a :class:`Collection`; :func:`ranker_claims.core.reranking.build_reranking_set` turns it into the
papers' setting (re-rank a first-stage candidate list, with relevant, hard-negative
and easy-negative groups).

Conventions every loader follows, so that collections are comparable:

* grades are integers, higher is better, 0 = judged not relevant (TREC DL: 0-3);
* Cranfield's Cleverdon codes (1 = complete answer ... 4 = minimum interest, see
  ``cranqrel.readme``) become ``5 - code`` (4 ... 1), so every judged Cranfield pair counts
  as relevant to some degree and ``relevant_grade = 2`` keeps codes 1-3. Its ``-1`` lines
  mark the source document each question was written from (one per query), not a
  judged non-relevant one, so they are dropped rather than made hard negatives;
* texts are whitespace-normalised (the same passage arrives with different spacing from
  different sources), and a BEIR title is prepended to its text when non-empty;
* a run is ranked best first: by score, ties by the file's own rank; a NaN score sorts last;
* a run may hold entries no pool can use: ids without text, ids no document source
  names, ids listed twice for a query and non-finite scores. Loading keeps them (only a
  re-ranking set knows how deep it reads, or whether it reads the run at all), except an
  id listed twice in a run file, an error at its place in the file; :func:`ranker_claims.core.reranking.build_reranking_set`
  leaves them out of the pools and counts them per query, or refuses them with ``strict``.
"""

from __future__ import annotations

import json
import math
import os
import re
from collections.abc import Callable, Iterator, Mapping
from dataclasses import dataclass, field
from enum import Enum
from fnmatch import fnmatch
from functools import cached_property
from pathlib import Path
from typing import Any

from ranker_claims.core.bm25 import BM25


class CollectionError(ValueError):
    """Bad collection input; the message names the file (and line) at fault."""


@dataclass
class Collection:
    """Queries, documents, graded judgements and (optionally) a first-stage run."""

    id: str
    queries: dict[str, str]
    documents: Mapping[str, str]
    qrels: dict[str, dict[str, int]]
    run: dict[str, list[tuple[str, float]]] | None = None
    description: str = ""
    textless: set[str] = field(default_factory=set)  # ids a document source names without text


class Group(str, Enum):
    """Why a candidate is in the set, as in the cross-encoder paper (r = grade)."""

    RELEVANT = "relevant"  # judged grade >= relevant_grade
    PARTIAL = "partial"  # judged, 0 < grade < relevant_grade
    HARD = "hard"  # judged 0 (r = 0)
    EASY = "easy"  # a seeded random passage of another query (r = -1)
    UNJUDGED = "unjudged"  # first-stage candidate without judgement


@dataclass(frozen=True)
class Candidate:
    docid: str
    text: str
    grade: int  # judged grade; unjudged and easy negatives count 0 for nDCG
    group: Group
    first_stage_score: float | None = None


@dataclass
class RerankQuery:
    qid: str
    text: str
    candidates: list[Candidate]  # first-stage list, ranked; the nDCG ranking pool
    extra: list[Candidate] = field(default_factory=list)  # judged / easy pairs outside the pool


@dataclass
class RerankingSet:
    collection_id: str
    queries: list[RerankQuery]
    excluded: dict[str, str]  # qid -> why it was left out (e.g. no relevant document)
    relevant_grade: int
    seed: int
    first_stage: str = ""  # what ranked the candidates: the collection's run or BM25
    # qid -> {problem: count} of first-stage entries left out of its pool (see CANDIDATE_PROBLEMS)
    excluded_candidates: dict[str, dict[str, int]] = field(default_factory=dict)

    @property
    def missing_text(self) -> int:
        """First-stage candidates left out because their text is unavailable (textless or unknown ids)."""
        return sum(counts.get(problem, 0) for counts in self.excluded_candidates.values()
                   for problem in (NO_TEXT, UNKNOWN_ID))


Run = dict[str, list[tuple[str, float]]]
Qrels = dict[str, dict[str, int]]

QUERY_FILES = ("queries*.tsv", "queries*.jsonl", "cran.qry")
QRELS_FILES = ("qrels*.txt", "*.qrels", "cranqrel")
DOCUMENT_FILES = ("*.jsonl", "cran.all.1400")
HITS_FILES = ("*.json",)  # BM25 hits with passage text (rank_llm format)
RUN_FILES = ("*.run",)
FIRST_STAGES = ("auto", "run", "bm25")
CRANFIELD_GRADES = "Cleverdon codes 1-4 as grades 4-1"

# Why a first-stage entry is left out of a pool, in the order they are reported.
NO_TEXT = "without text"  # a document source names the id but gives it no text
UNKNOWN_ID = "unknown id"  # no document source names the id
DUPLICATE_ID = "duplicate id"  # a later entry of an id the query's run already listed
NON_FINITE_SCORE = "non-finite score"  # NaN or infinite: its place in the ranking is unknown
CANDIDATE_PROBLEMS = (NO_TEXT, UNKNOWN_ID, DUPLICATE_ID, NON_FINITE_SCORE)


# ---------------------------------------------------------------------------
# Loading


def check_collection(spec: str) -> None:
    """Raise CollectionError if ``spec`` cannot name a collection, reading only names: a directory's
    files by their names, an ``ir_datasets`` id in its registry. Lets a session refuse a bad spec
    before anything is measured."""
    path = Path(spec).expanduser()
    if path.is_dir():
        check_local_directory(path)
    elif path.exists():
        raise CollectionError(f"{spec} is a file; a collection is a directory of files or an ir_datasets id")
    else:
        _ir_dataset(spec)


def load_collection(spec: str) -> Collection:
    """A local directory if ``spec`` names one, else an ``ir_datasets`` id."""
    path = Path(spec).expanduser()
    if path.is_dir():
        return load_local_directory(path)
    if path.exists():
        raise CollectionError(f"{spec} is a file; a collection is a directory of files or an ir_datasets id")
    return load_ir_datasets(spec)


def check_local_directory(path: str | os.PathLike[str]) -> None:
    """Raise CollectionError if ``path`` lacks the files :func:`load_local_directory` needs; reads no file."""
    _local_files(Path(path))


def _local_files(root: Path) -> tuple[list[Path], list[Path], list[Path], list[Path], list[Path]]:
    """The query, qrels, hits, run and document files of a collection directory, by name."""
    if not root.is_dir():
        raise CollectionError(f"{root} is not a directory")
    files = sorted(p for p in root.iterdir() if p.is_file())

    def matching(patterns: tuple[str, ...]) -> list[Path]:
        return [p for p in files if any(fnmatch(p.name, pattern) for pattern in patterns)]

    query_files, qrels_files, hits_files, run_files = (
        matching(QUERY_FILES), matching(QRELS_FILES), matching(HITS_FILES), matching(RUN_FILES))
    document_files = [p for p in matching(DOCUMENT_FILES) if p not in query_files]
    missing = [what for what, found in (("queries", query_files or hits_files), ("qrels", qrels_files)) if not found]
    if missing:
        raise CollectionError(
            f"{root}: no recognisable {' or '.join(missing)}; found {', '.join(p.name for p in files) or 'no files'}. "
            f"Accepted: queries {', '.join(QUERY_FILES)} (or the queries of {HITS_FILES[0]} BM25 hits); "
            f"qrels {', '.join(QRELS_FILES)}; documents {', '.join(DOCUMENT_FILES + HITS_FILES)}; "
            f"first-stage run {', '.join(RUN_FILES + HITS_FILES)}")
    if len(run_files) > 1 or (not run_files and len(hits_files) > 1):
        runs = run_files if len(run_files) > 1 else hits_files
        raise CollectionError(f"{root}: several first-stage runs ({', '.join(p.name for p in runs)}); keep one")

    return query_files, qrels_files, hits_files, run_files, document_files


def load_local_directory(path: str | os.PathLike[str]) -> Collection:
    """A collection from the TREC / BEIR / Cranfield files in a directory.

    Queries: ``queries*.tsv`` (``qid<TAB>text``), BEIR ``queries*.jsonl``, Cranfield
    ``cran.qry`` (renumbered 1..N in file order, as ``cranqrel`` numbers them) and, for
    queries no query file has, the query texts of the hits JSON. Qrels: ``qrels*.txt``,
    ``*.qrels`` (``qid Q0 docid grade`` or ``qid docid grade``) and ``cranqrel``.
    Documents: BEIR ``*.jsonl``, Cranfield ``cran.all.1400`` (title + abstract) and, for
    passages those lack, the texts inside ``*.json`` BM25 hits. Run: one ``*.run`` file,
    else the hits of the one ``*.json`` file, else none (BM25 later ranks the documents).
    """
    root = Path(path)
    query_files, qrels_files, hits_files, run_files, document_files = _local_files(root)
    queries: dict[str, str] = {}
    for file in query_files:
        if file.name == "cran.qry":
            _read_cranfield_queries(file, queries)
        elif file.suffix == ".jsonl":
            _read_jsonl(file, queries, "query")
        else:
            _read_tsv_queries(file, queries)
    qrels: Qrels = {}
    dropped = sum(_read_qrels(file, qrels, _cranfield_grade if file.name == "cranqrel" else None)
                  for file in qrels_files)
    documents: dict[str, str] = {}
    named: set[str] = set()  # every id a document source names, with text or without
    for file in document_files:
        if file.name == "cran.all.1400":
            _read_cranfield_documents(file, documents, named)
        else:
            _read_jsonl(file, documents, "document", named)
    run: Run | None = read_trec_run(run_files[0]) if run_files else None
    for file in hits_files:
        hit_queries, hit_run, texts = _read_hits_json(file)
        for qid, text in hit_queries.items():
            queries.setdefault(qid, text)
        for docid, text in texts.items():
            documents.setdefault(docid, text)
        named.update(docid for ranked in hit_run.values() for docid, _ in ranked)
        if not run_files:
            run = hit_run

    def names(group: list[Path]) -> str:
        return " + ".join(p.name for p in group)

    cranfield = f"; {CRANFIELD_GRADES}, {dropped} source-document (-1) lines dropped" if any(
        file.name == "cranqrel" for file in qrels_files) else ""
    text_sources = names(document_files + hits_files) or "no document file"
    run_source = f"{names(run_files or hits_files)} ({len(run)} queries)" if run is not None else "none"
    return Collection(
        id=f"local:{root.name}",
        queries=queries,
        documents=documents,
        qrels=qrels,
        run=run,
        textless=named - documents.keys(),
        description=(
            f"local directory {root}: queries {names(query_files or hits_files)} ({len(queries)}); "
            f"qrels {names(qrels_files)} ({sum(map(len, qrels.values()))} judgements of {len(qrels)} queries"
            f"{cranfield}); "
            f"documents {text_sources} ({len(documents)} with text); first-stage run {run_source}"
        ),
    )


def _ir_dataset(dataset_id: str) -> Any:
    """The ``ir_datasets`` dataset of an id, if it has queries, qrels and documents (nothing is downloaded)."""
    try:
        import ir_datasets
    except ImportError:
        raise CollectionError(f"{dataset_id!r} is not a directory, and ir_datasets is not installed") from None
    try:
        dataset = ir_datasets.load(dataset_id)
    except KeyError:
        raise CollectionError(f"{dataset_id!r} is neither a directory nor a known ir_datasets id") from None
    absent = [part for part in ("queries", "qrels", "docs") if not getattr(dataset, f"has_{part}")()]
    if absent:
        raise CollectionError(f"ir_datasets {dataset_id!r} provides no {' or '.join(absent)}")
    return dataset


def load_ir_datasets(dataset_id: str) -> Collection:
    """A collection through ``ir_datasets`` (downloads on first use; documents stay in its store).

    Query text is the record's ``text`` field, else its first text field (a TREC topic's
    title). ``scoreddocs`` become the run; MS MARCO's top-1000 pools carry no scores and
    come in random order, so such pools are ranked with BM25 over the union of the pools.
    """
    dataset = _ir_dataset(dataset_id)
    grade = _cranfield_grade if dataset_id.split("/")[0] == "cranfield" else int
    documents = _DocstoreTexts(dataset, dataset_id)
    try:
        queries = {q.query_id: text for q in dataset.queries_iter() if (text := _clean(_record_text(q, "query_id")))}
        qrels: Qrels = {}
        for qrel in dataset.qrels_iter():
            if (value := grade(qrel.relevance)) is not None:
                qrels.setdefault(qrel.query_id, {})[qrel.doc_id] = value
        run, run_note = _scoreddocs(dataset, queries, documents) if dataset.has_scoreddocs() else (None, "none")
    except CollectionError:
        raise
    except Exception as error:  # downloads and parsers inside ir_datasets fail with many types
        raise CollectionError(
            f"ir_datasets {dataset_id!r} could not be read ({type(error).__name__}: {str(error)[:300]}); "
            "without network access, point the suite at a local copy of the files instead") from error
    return Collection(
        id=dataset_id,
        queries=queries,
        documents=documents,
        qrels=qrels,
        run=run,
        description=(
            f"ir_datasets {dataset_id}: {len(queries)} queries, {sum(map(len, qrels.values()))} judgements; "
            f"first-stage run {run_note}"
            + (f"; {CRANFIELD_GRADES}, -1 lines dropped" if grade is _cranfield_grade else "")
        ),
    )


class _DocstoreTexts(Mapping[str, str]):
    """Document texts fetched from an ir_datasets docstore on demand (MS MARCO has 8.8M)."""

    def __init__(self, dataset, dataset_id: str) -> None:
        self._dataset, self._id = dataset, dataset_id

    @cached_property
    def _store(self):
        return self._dataset.docs_store()

    def __getitem__(self, docid: str) -> str:
        try:
            doc = self._store.get(docid)
        except KeyError:
            raise
        except Exception as error:  # a failed download surfaces here, on first lookup
            raise CollectionError(f"ir_datasets {self._id!r}: could not read document {docid} ({error})") from error
        text = doc.default_text() if hasattr(doc, "default_text") else _record_text(doc, "doc_id")
        return _clean(text)

    def __iter__(self) -> Iterator[str]:
        return (doc.doc_id for doc in self._dataset.docs_iter())

    def __len__(self) -> int:
        count = self._dataset.docs_count()
        return count if count is not None else sum(1 for _ in self)


def _record_text(record, id_field: str) -> str:
    """A record's ``text`` field, else its first other text field."""
    text = getattr(record, "text", None)
    if isinstance(text, str):
        return text
    return next((v for f, v in zip(record._fields, record) if f != id_field and isinstance(v, str)), "")


def _scoreddocs(dataset, queries: dict[str, str], documents: Mapping[str, str]) -> tuple[Run, str]:
    """The run of ``scoreddocs``; unscored pools (all scores equal) are ranked with BM25."""
    pools: dict[str, list[tuple[float, int, str]]] = {}
    for position, scored in enumerate(dataset.scoreddocs_iter()):
        pools.setdefault(scored.query_id, []).append((float(scored.score), position, scored.doc_id))
    if len({score for rows in pools.values() for score, _, _ in rows}) != 1:
        return _ranked(pools), "scoreddocs"
    pooled = {docid for rows in pools.values() for _, _, docid in rows}
    texts = {docid: text for docid in sorted(pooled) if (text := documents.get(docid))}
    if texts:
        index = BM25(texts)
        row = {docid: i for i, docid in enumerate(index.docids)}
        for qid, rows in pools.items():
            if qid in queries:
                scores = index.scores(queries[qid])
                pools[qid] = [(float(scores[row[d]]) if d in row else 0.0, position, d) for _, position, d in rows]
    return _ranked(pools), "scoreddocs pools (no scores) ranked with BM25 over the union of the pools"


# ---------------------------------------------------------------------------
# File formats


def read_trec_qrels(path: str | os.PathLike[str]) -> Qrels:
    """TREC qrels (``qid Q0 docid grade``, or ``qid docid grade``) as qid -> docid -> grade."""
    qrels: Qrels = {}
    _read_qrels(Path(path), qrels, None)
    return qrels


def read_trec_run(path: str | os.PathLike[str]) -> Run:
    """A TREC run (``qid Q0 docid rank score tag``) as qid -> [(docid, score)], best first."""
    path = Path(path)
    rows: dict[str, list[tuple[float, int, str]]] = {}
    seen: set[tuple[str, str]] = set()
    for where, line in _lines(path):
        fields = line.split()
        if len(fields) != 6:
            raise CollectionError(f"{where}: expected 'qid Q0 docid rank score tag', got {len(fields)} fields")
        qid, _, docid, rank, score, _ = fields
        try:
            entry = (float(score), int(rank), docid)
        except ValueError:
            raise CollectionError(
                f"{where}: expected an integer rank and a numeric score, got {rank!r} and {score!r}") from None
        if (qid, docid) in seen:
            raise CollectionError(f"{where}: document {docid} is listed twice for query {qid}")
        seen.add((qid, docid))
        rows.setdefault(qid, []).append(entry)
    return _ranked(rows)


def write_trec_run(run: Run, path: str | os.PathLike[str], tag: str = "suite") -> None:
    """Write ``run`` (lists best first) as a TREC run file that :func:`read_trec_run` reads back."""
    with open(path, "w", encoding="utf-8") as handle:
        for qid, ranked in run.items():
            for rank, (docid, score) in enumerate(ranked, 1):
                handle.write(f"{qid} Q0 {docid} {rank} {float(score)!r} {tag}\n")


def collection_counts(collection: Collection) -> dict[str, int | None]:
    """Sizes for reports; ``documents`` is None where counting would scan a lazy store."""
    return {
        "queries": len(collection.queries),
        "judged_queries": sum(1 for judged in collection.qrels.values() if judged),
        "qrels": sum(len(judged) for judged in collection.qrels.values()),
        "documents": len(collection.documents) if isinstance(collection.documents, dict) else None,
        "run_queries": None if collection.run is None else len(collection.run),
    }


def _lines(path: Path) -> Iterator[tuple[str, str]]:
    """Non-blank lines with their ``file:line`` location; decoded per line so errors point exactly."""
    with open(path, "rb") as handle:
        for number, raw in enumerate(handle, 1):
            try:
                line = raw.decode("utf-8-sig" if number == 1 else "utf-8")
            except UnicodeDecodeError as error:
                raise CollectionError(f"{path}:{number}: not UTF-8 text ({error.reason})") from None
            if line.strip():
                yield f"{path}:{number}", line


def _clean(text: str) -> str:
    return " ".join(text.split())


def _put(table: dict[str, str], key: str, text: str, where: str, what: str) -> None:
    """Insert ``text``, refusing a second, different text for the same id."""
    if table.get(key, text) != text:
        raise CollectionError(f"{where}: {what} {key} appears again with a different text")
    table[key] = text


def _ranked(rows: dict[str, list[tuple[float, int, str]]]) -> Run:
    """(score, rank, docid) rows as lists best first: by score, ties by rank.

    NaN scores sort last (by rank): compared as they are, a NaN would scramble the order of the
    finite scores around it. Pools leave such entries out anyway (:func:`ranker_claims.core.reranking.build_reranking_set`).
    """
    def key(entry: tuple[float, int, str]) -> tuple[bool, float, int]:
        score, rank, _ = entry
        return (True, 0.0, rank) if math.isnan(score) else (False, -score, rank)

    return {qid: [(docid, score) for score, _, docid in sorted(entries, key=key)] for qid, entries in rows.items()}


def _cranfield_grade(code: int) -> int | None:
    """Cleverdon's code (1 = complete answer) as a higher-is-better grade; -1 (source document) dropped."""
    if code == -1:
        return None
    if 1 <= code <= 4:
        return 5 - code
    raise ValueError(f"expected a Cranfield relevance code 1-4 or -1, got {code}")


def _read_qrels(path: Path, qrels: Qrels, grade: Callable[[int], int | None] | None) -> int:
    """Add the judgements of ``path`` to ``qrels``; returns how many lines ``grade`` dropped."""
    layout = None
    dropped = 0
    for where, line in _lines(path):
        fields = line.split()
        if layout is None and len(fields) in (3, 4):
            layout = len(fields)
        if len(fields) != layout:
            expected = "'qid docid grade'" if layout == 3 else "'qid Q0 docid grade'" if layout == 4 else (
                "'qid Q0 docid grade' or 'qid docid grade'")
            raise CollectionError(f"{where}: expected {expected}, got {len(fields)} fields")
        qid, docid, value = fields[0], fields[-2], fields[-1]
        try:
            number = int(value)
        except ValueError:
            raise CollectionError(f"{where}: grade {value!r} is not an integer") from None
        try:
            judged = number if grade is None else grade(number)
        except ValueError as error:
            raise CollectionError(f"{where}: {error}") from None
        if judged is None:
            dropped += 1
            continue
        if qrels.setdefault(qid, {}).setdefault(docid, judged) != judged:
            raise CollectionError(f"{where}: query {qid} document {docid} judged again with another grade "
                                  f"({judged}, was {qrels[qid][docid]})")
    return dropped


def _read_tsv_queries(path: Path, queries: dict[str, str]) -> None:
    for where, line in _lines(path):
        qid, tab, text = line.rstrip("\r\n").partition("\t")
        if not tab or not qid.strip() or not text.strip():
            raise CollectionError(f"{where}: expected 'qid<TAB>text', got {line.strip()[:60]!r}")
        _put(queries, qid.strip(), _clean(text), where, "query")


def _read_jsonl(path: Path, table: dict[str, str], what: str, named: set[str] | None = None) -> None:
    """BEIR ``{"_id", "title", "text"}`` lines; the title, when non-empty, goes before the text.

    Records without text are skipped; their ids still go into ``named`` (so a run listing one
    is told apart from a run listing an id the collection does not have).
    """
    for where, line in _lines(path):
        try:
            record = json.loads(line)
        except json.JSONDecodeError as error:
            raise CollectionError(f"{where}: invalid JSON ({error.msg})") from None
        if not (isinstance(record, dict) and isinstance(record.get("_id"), str | int)
                and isinstance(record.get("text"), str) and isinstance(record.get("title", ""), str)):
            raise CollectionError(f"{where}: expected a JSON object with '_id' and 'text' (BEIR format)")
        if named is not None:
            named.add(str(record["_id"]))
        if text := _clean(f"{record.get('title', '')} {record['text']}"):
            _put(table, str(record["_id"]), text, where, what)


_MARKER = re.compile(r"\.([A-Z])(?:\s+(.*))?")


def _read_smart(path: Path, fields: str) -> Iterator[tuple[str, str, dict[str, str]]]:
    """SMART records (``.I n`` then ``.X`` field markers) as (location, n, {letter: text}).

    A repeated marker continues its field, as Cranfield does for a few documents.
    """
    record: tuple[str, str, dict[str, str]] | None = None
    current = None
    for where, line in _lines(path):
        marker = _MARKER.fullmatch(line.strip())
        if marker and marker[1] == "I":
            if record is not None:
                yield record
            number = (marker[2] or "").strip()
            if not number.isdigit():
                raise CollectionError(f"{where}: expected '.I <number>', got {line.strip()!r}")
            record, current = (where, str(int(number)), {}), None
        elif record is None:
            raise CollectionError(f"{where}: expected '.I <number>' to start a record, got {line.strip()[:60]!r}")
        elif marker:
            if marker[1] not in fields:
                expected = ", ".join("." + f for f in fields)
                raise CollectionError(f"{where}: unknown field '.{marker[1]}' (expected {expected})")
            current = marker[1]
            record[2][current] = record[2].get(current, "") + " " + (marker[2] or "")
        elif current is None:
            raise CollectionError(f"{where}: text before any field marker ({', '.join('.' + f for f in fields)})")
        else:
            record[2][current] += " " + line
    if record is not None:
        yield record


def _read_cranfield_queries(path: Path, queries: dict[str, str]) -> None:
    """``cran.qry``: its ``.I`` numbers skip values; ``cranqrel`` numbers the queries 1..N in file order."""
    for position, (where, _, fields) in enumerate(_read_smart(path, "W"), 1):
        if text := _clean(fields.get("W", "")):
            _put(queries, str(position), text, where, "query")


def _read_cranfield_documents(path: Path, documents: dict[str, str], named: set[str]) -> None:
    """``cran.all.1400``: text = title + abstract (author and bibliography left out); every id goes into ``named``."""
    for where, docid, fields in _read_smart(path, "TABW"):
        named.add(docid)
        if text := _clean(f"{fields.get('T', '')} {fields.get('W', '')}"):
            _put(documents, docid, text, where, "document")


def _read_hits_json(path: Path) -> tuple[dict[str, str], Run, dict[str, str]]:
    """Queries, run and passage texts of rank_llm-style BM25 hits.

    A list of ``{"query": text | {"text", "qid"}, "hits": [{"qid", "docid", "rank",
    "score", "content"}]}``; with a plain-string query the qid comes from its hits.
    """
    raw = path.read_bytes()
    try:
        data = json.loads(raw.decode("utf-8-sig"))
    except json.JSONDecodeError as error:
        raise CollectionError(f"{path}:{error.lineno}: invalid JSON ({error.msg})") from None
    except UnicodeDecodeError as error:
        line = raw[:error.start].count(b"\n") + 1
        raise CollectionError(f"{path}:{line}: not UTF-8 text ({error.reason})") from None
    if not isinstance(data, list):
        raise CollectionError(f"{path}: expected a JSON list of {{'query', 'hits'}} entries, got {type(data).__name__}")
    queries: dict[str, str] = {}
    texts: dict[str, str] = {}
    rows: dict[str, list[tuple[float, int, str]]] = {}
    for number, entry in enumerate(data, 1):
        where = f"{path}: entry {number}"
        if not (isinstance(entry, dict) and "query" in entry and isinstance(entry.get("hits"), list)):
            raise CollectionError(f"{where}: expected an object with 'query' and a list 'hits'")
        query = entry["query"]
        text, qid = (query.get("text"), query.get("qid")) if isinstance(query, dict) else (query, None)
        if not isinstance(text, str):
            raise CollectionError(f"{where}: expected the query as a string or {{'text', 'qid'}}")
        qid = None if qid is None else str(qid)
        entries: list[tuple[float, int, str]] = []
        seen: set[str] = set()
        for position, hit in enumerate(entry["hits"], 1):
            try:
                docid, score, hit_qid = str(hit["docid"]), float(hit["score"]), hit.get("qid", qid)
                rank = int(hit.get("rank", position))
            except (KeyError, TypeError, ValueError, AttributeError):
                raise CollectionError(
                    f"{where}, hit {position}: expected 'docid', a numeric 'score' and 'qid'") from None
            if hit_qid is None or (qid is not None and str(hit_qid) != qid):
                raise CollectionError(f"{where}, hit {position}: qid {hit_qid!r} does not match the query's ({qid!r})")
            qid = str(hit_qid)
            if docid in seen:
                raise CollectionError(f"{where}, hit {position}: document {docid} is listed twice")
            seen.add(docid)
            entries.append((score, rank, docid))
            if isinstance(hit.get("content"), str) and (content := _clean(hit["content"])):
                texts.setdefault(docid, content)
        if qid is None:
            continue  # neither a qid nor hits: nothing to attach the text to
        if qid in rows:
            raise CollectionError(f"{where}: query {qid} appears in an earlier entry too")
        rows[qid] = entries
        if text := _clean(text):
            queries[qid] = text
    return queries, _ranked(rows), texts


# ---------------------------------------------------------------------------
# Re-ranking sets
