"""Run documents that are not whole: each is refused before it is compared or rendered, with one line
naming the first bad field by its JSON path; a file too large or nested too deep is refused before
it is parsed (json's parser recurses per level: 1,000 levels were a RecursionError).

``--claims-compare`` with such a file stops the session at configure (exit 4, see
``test_options.py``); ``python -m ranker_claims.reports`` prints one line on stderr and exits 2.
"""

from __future__ import annotations

import copy
import json
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest

from ranker_claims.core import runs
from ranker_claims.core.runs import MAX_RUN_DEPTH, RunFormatError, load_run, save_run, validate_run
from ranker_claims.reports.__main__ import main as render

REPO = Path(__file__).resolve().parents[2]


def _set(run: dict[str, Any], path: tuple, value: Any) -> dict[str, Any]:
    run = copy.deepcopy(run)
    *parents, last = path
    target = run
    for step in parents:
        target = target[step]
    if value is _DELETE:
        del target[last]
    else:
        target[last] = value
    return run


_DELETE = object()

#: (where, new value, the line after the file name)
BAD_FIELDS = [
    pytest.param(("claims", 0, "comparisons"), "none", "claims[0].comparisons: expected an array, got a string",
                 id="comparisons-a-string"),
    pytest.param(("claims", 1, "comparisons", 0, "verdict"), "MAYBE",
                 'claims[1].comparisons[0].verdict: expected one of SUPPORTED, CONTRADICTED, INCONCLUSIVE, got "MAYBE"',
                 id="unknown-verdict"),
    pytest.param(("claims", 0, "comparisons", 0, "measured"), "0.5",
                 "claims[0].comparisons[0].measured: expected a number or null, got a string", id="number-as-text"),
    pytest.param(("claims", 2, "model"), _DELETE, "claims[2].model: missing (a required field)", id="no-model"),
    pytest.param(("claims", 0, "per_query", "baseline", "q1"), [0.8],
                 "claims[0].per_query.baseline.q1: expected a number or null, got an array", id="per-query-list"),
    pytest.param(("method_checks", 1, "passed"), "no", "method_checks[1].passed: expected a boolean, got a string",
                 id="check-passed-text"),
    pytest.param(("targets", 0), "tiny-bert", "targets[0]: expected an object, got a string", id="target-a-string"),
    pytest.param(("comparison", "changes"), {}, "comparison.changes: expected an array, got an object",
                 id="comparison-changes"),
    pytest.param(("claims",), {}, "claims: expected an array, got an object", id="claims-an-object"),
    pytest.param(("run_id",), _DELETE, "run_id: missing (a required field)", id="no-run-id"),
]


@pytest.mark.parametrize(("where", "value", "line"), BAD_FIELDS)
def test_the_first_bad_field_is_named_by_its_path(tmp_path, example_run, where, value, line):
    path = tmp_path / "run.json"
    path.write_text(json.dumps(_set(example_run, where, value)))
    with pytest.raises(RunFormatError) as error:
        load_run(path)
    assert str(error.value) == f"{path}: {line}"


def test_a_whole_run_and_its_baseline_pass(tmp_path, example_run):
    assert load_run(save_run(example_run, tmp_path / "runs" / "r.json")) == json.loads(json.dumps(example_run))
    validate_run(json.loads(json.dumps(example_run)))


def _deep(levels: int) -> str:
    return ('{"schema": 1, "run_id": "x", "claims": [], "targets": [], "options": {"deep": '
            + "[" * levels + "]" * levels + "}}")


def test_nesting_deeper_than_the_limit_is_refused_before_parsing(tmp_path):
    path = tmp_path / "deep.json"
    path.write_text(_deep(1000))  # json.loads itself raised RecursionError on this
    with pytest.raises(RunFormatError, match=rf"nested deeper than {MAX_RUN_DEPTH} levels at character \d+"):
        load_run(path)
    path.write_text(_deep(MAX_RUN_DEPTH - 2))  # the run's object and options count: exactly the limit
    assert load_run(path)["run_id"] == "x"
    # Brackets inside strings are text, not nesting.
    path.write_text('{"schema": 1, "run_id": "[[[\\"' + "[" * 500 + '", "claims": [], "targets": [], "options": {}}')
    assert load_run(path)["run_id"].endswith("[" * 500)


def test_a_file_larger_than_the_limit_is_refused_unread(tmp_path, monkeypatch):
    path = tmp_path / "big.json"
    path.write_text(_deep(1))
    monkeypatch.setattr(runs, "MAX_RUN_BYTES", 16)
    with pytest.raises(RunFormatError, match=r"not read: \d+ bytes, more than a run may hold \(16 bytes\)"):
        load_run(path)


@pytest.mark.parametrize(("where", "value", "line"), BAD_FIELDS[:3])
def test_reports_refuses_a_bad_run_in_one_line(tmp_path, capsys, example_run, where, value, line):
    path = tmp_path / "run.json"
    path.write_text(json.dumps(_set(example_run, where, value)))
    assert render([str(path), "-o", str(tmp_path / "out.html")]) == 2
    captured = capsys.readouterr()
    assert captured.out == "" and captured.err == f"error: {path}: {line}\n"
    assert not (tmp_path / "out.html").exists()


def test_reports_refuses_a_deep_run_without_a_traceback(tmp_path):
    path = tmp_path / "deep.json"
    path.write_text(_deep(1000))
    result = subprocess.run([sys.executable, "-m", "ranker_claims.reports", str(path), "-o", str(tmp_path / "out.html")],
                            cwd=REPO, capture_output=True, text=True, timeout=120, check=False)
    assert result.returncode == 2, result.stderr
    assert result.stderr.count("\n") == 1 and "Traceback" not in result.stderr
    assert result.stderr.startswith(f"error: {path}: not a run document (nested deeper than {MAX_RUN_DEPTH} levels")
