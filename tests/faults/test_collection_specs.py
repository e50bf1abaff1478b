"""Collection specs are checked by name before anything runs: a bad one is one line and exit code 4."""

from __future__ import annotations

import shutil
from pathlib import Path

import pytest

from suite.core.collections import CollectionError, check_collection
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
