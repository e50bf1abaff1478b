"""Collection specs are checked by name before anything runs: a bad one is one line and exit code 4."""

from __future__ import annotations

import shutil
from pathlib import Path

import pytest

from ranker_claims.core.collections import CollectionError, check_collection
from tests.faults.test_models import usage_error

REPO = Path(__file__).resolve().parents[2]


@pytest.fixture
def project(pytester: pytest.Pytester) -> pytest.Pytester:
    shutil.copytree(REPO / "claims", pytester.path / "claims", ignore=shutil.ignore_patterns("__pycache__"))
    (pytester.path / "no-qrels").mkdir()
    (pytester.path / "no-qrels" / "queries.tsv").write_text("1\twhat is a test\n")
    (pytester.path / "a-file.tsv").write_text("1\twhat is a test\n")
    return pytester


@pytest.mark.parametrize(("spec", "reason"), [
    ("embedded:nope", "unknown embedded collection 'nope'; known: "),
    ("no-such/dataset-id", "'no-such/dataset-id' is neither a directory nor a known ir_datasets id"),
    ("no-qrels", "no-qrels: no recognisable qrels; found queries.tsv."),
    ("a-file.tsv", "a-file.tsv is a file; a collection is a directory of files or an ir_datasets id"),
])
def test_a_bad_collection_spec_stops_the_session_before_collection(project, spec, reason):
    result = project.runpytest_inprocess("claims/", "--collect-only", "-q", "-p", "no:cacheprovider",
                                         "--import-mode=importlib", "--claims-output-dir", "out",
                                         "--claims-model", "embedded:minilm-synthetic", "--claims-collection", spec)
    line = usage_error(result)
    assert line.startswith(f"--claims-collection {spec}: ") and reason in line, line
    assert not (project.path / "out").exists()


def test_a_good_spec_passes_by_names_alone(tmp_path):
    (tmp_path / "queries.tsv").write_text("1\tq\n")
    (tmp_path / "qrels.txt").write_text("1 0 d1 1\n")
    check_collection(str(tmp_path))  # no document is read: the check looks at names only
    with pytest.raises(CollectionError, match="several first-stage runs"):
        (tmp_path / "a.run").write_text("")
        (tmp_path / "b.run").write_text("")
        check_collection(str(tmp_path))


GOOD = {"queries.tsv": b"1\twhat is a test\n2\tanother test\n", "qrels.txt": b"1 0 d1 2\n1 0 d2 0\n2 0 d2 1\n",
        "docs.jsonl": b'{"_id": "d1", "text": "a test"}\n{"_id": "d2", "text": "no test"}\n',
        "first.run": b"1 Q0 d1 1 2.0 t\n1 Q0 d2 2 1.0 t\n2 Q0 d2 1 1.0 t\n"}


@pytest.mark.parametrize(("name", "content", "reason"), [
    ("qrels.txt", b"1 0 d1 2\n1 0 d2 high\n", "qrels.txt:2: grade 'high' is not an integer"),
    ("qrels.txt", b"1 0 d1 2\n\n1 0 d2\n", "qrels.txt:3: expected 'qid Q0 docid grade', got 3 fields"),
    ("docs.jsonl", b'{"_id": "d1", "text": "a test"}\n{"_id": "d2", "text": \n', "docs.jsonl:2: invalid JSON"),
    ("docs.jsonl", b'{"_id": "d1", "text": "a test"}\n{"id": "d2"}\n', "docs.jsonl:2: expected a JSON object"),
    ("first.run", b"1 Q0 d1 1 2.0 t\n1 Q0 d2 2 t\n", "first.run:2: expected 'qid Q0 docid rank score tag', got 5"),
    ("first.run", b"1 Q0 d1 1 2.0 t\n1 Q0 d2 2 high t\n", "first.run:2: expected an integer rank and a numeric score"),
    ("queries.tsv", b"1\twhat is a test\n2\tcaf\xe9 test\n", "queries.tsv:2: not UTF-8 text (invalid continuation byte)"),
    ("hits.json", b'[\n{"query": "caf\xe9", "hits": []}\n]\n', "hits.json:2: not UTF-8 text"),
])
def test_a_malformed_local_file_is_one_line_naming_file_and_line(project, name, content, reason):
    """Local collections are parsed before anything is measured: a bad line stops the session (exit 4)."""
    folder = project.path / "bad"
    folder.mkdir()
    for file, text in {**GOOD, name: content}.items():
        (folder / file).write_bytes(text)
    if name == "hits.json":
        (folder / "first.run").unlink()
    result = project.runpytest_inprocess("claims/", "--collect-only", "-q", "-p", "no:cacheprovider",
                                         "--import-mode=importlib", "--claims-output-dir", "out",
                                         "--claims-model", "embedded:minilm-synthetic", "--claims-collection", "bad")
    line = usage_error(result)
    assert line.startswith("--claims-collection bad: ") and f"bad/{reason}" in line, line
    assert not (project.path / "out").exists()


def test_a_well_formed_local_collection_is_parsed_once_at_collection(project):
    folder = project.path / "good"
    folder.mkdir()
    for file, text in GOOD.items():
        (folder / file).write_bytes(text)
    result = project.runpytest_inprocess("claims/", "--collect-only", "-q", "-p", "no:cacheprovider",
                                         "--import-mode=importlib", "--claims-output-dir", "out",
                                         "--claims-model", "embedded:minilm-synthetic", "--claims-collection", "good")
    assert result.ret == pytest.ExitCode.OK, result.stdout.str()
