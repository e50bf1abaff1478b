"""Faults in ``--claims-compare`` and what ``--claims-share`` leaves out.

A baseline that is missing, not JSON, not a run of a readable schema, or ``latest`` with no
earlier run ends the session at configure time: exit code 4, one line, no claim run and no run
file left behind unfinished. A shared run and report hold no local absolute path and no platform.
"""

from __future__ import annotations

import json
import platform
import shutil
from pathlib import Path

import pytest

from suite.core.runs import load_run, new_run, save_run, shareable
from tests.faults.test_models import tiny_cross_encoder, usage_error

REPO = Path(__file__).resolve().parents[2]
ONE_CLAIM = ("-k", "CE-1 and not CE-10 and not CE-11 and not CE-12")
SMALL = ("--claims-max-queries", "4", "--claims-depth", "6", "--claims-bootstrap", "100", "-p", "no:cacheprovider")


@pytest.fixture(scope="module")
def cross_encoder(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return tiny_cross_encoder(tmp_path_factory.mktemp("models") / "tiny-bert")


@pytest.fixture
def project(pytester: pytest.Pytester) -> pytest.Pytester:
    """A directory with the claims alone: the installed plugins provide everything else."""
    shutil.copytree(REPO / "claims", pytester.path / "claims", ignore=shutil.ignore_patterns("__pycache__"))
    return pytester


def _baseline(path: Path) -> Path:
    """An earlier run, complete but for its results."""
    run = new_run({"models": ["tiny-bert"]}, {"python": "3.11", "packages": {}})
    run["finished"] = run["started"]
    return save_run(run, path)


@pytest.mark.parametrize(("content", "reason"), [
    pytest.param(None, "no such run file", id="missing"),
    pytest.param('{"schema": 1', "not a run document (invalid JSON: Expecting ',' delimiter: line 1 column 13 "
                 "(char 12))", id="malformed-json"),
    pytest.param(b"\xff\xfe{}", "not a run document (not UTF-8 text", id="not-text"),
    pytest.param("[1, 2]", "not a claims run document (found a list)", id="not-a-run"),
    pytest.param('{"schema": 7, "run_id": "x", "claims": [], "targets": [], "options": {}}',
                 "written with run schema 7, newer than this suite reads (up to 1)", id="newer-schema"),
    pytest.param('{"schema": "1", "run_id": "x", "claims": [], "targets": [], "options": {}}',
                 "'schema' must be an integer, found '1'", id="schema-not-an-integer"),
    pytest.param('{"schema": 1, "run_id": "x", "claims": {}, "targets": [], "options": {}}',
                 "run field 'claims' must be a list, found {}", id="claims-not-a-list"),
])
def test_a_bad_baseline_stops_the_session_before_any_claim(project, cross_encoder, content, reason):
    baseline = project.path / "baseline.json"
    if isinstance(content, bytes):
        baseline.write_bytes(content)
    elif content is not None:
        baseline.write_text(content)
    result = project.runpytest_inprocess("claims/", "--import-mode=importlib", "--claims-output-dir", "out", "--claims-model", str(cross_encoder),
                                         "--claims-compare", "baseline.json", *ONE_CLAIM, *SMALL)
    line = usage_error(result)
    assert line.startswith(f"--claims-compare: baseline.json: {reason}"), line
    assert "test session starts" not in result.stdout.str()  # stopped at configure: nothing collected or run
    assert not (project.path / "out").exists()  # so no run file is left with "finished": null


def test_latest_without_an_earlier_run_stops_the_session(project, cross_encoder):
    (project.path / "out" / "runs").mkdir(parents=True)
    (project.path / "out" / "runs" / ".unfinished.json.tmp").write_text("{")  # a write that died: not a run
    result = project.runpytest_inprocess("claims/", "--import-mode=importlib", "--claims-output-dir", "out", "--claims-model", str(cross_encoder),
                                         "--claims-compare", "latest", *ONE_CLAIM, *SMALL)
    assert usage_error(result) == f"--claims-compare latest: no earlier run in {project.path / 'out' / 'runs'}"
    assert not list((project.path / "out" / "runs").glob("*.json"))


def test_a_shared_run_and_report_hold_no_local_path_nor_platform(project, cross_encoder):
    baseline = _baseline(project.path / "baseline.json")
    result = project.runpytest_subprocess(
        "claims/", "--claims-output-dir", str(project.path / "out"), "--claims-cache-dir", str(project.path / "cache"),
        "--claims-model", str(cross_encoder), "--claims-compare", str(baseline), "--claims-share", *ONE_CLAIM, *SMALL)
    assert result.ret in (pytest.ExitCode.OK, pytest.ExitCode.TESTS_FAILED), result.stdout.str()
    (run_path,) = (project.path / "out" / "runs").glob("*.json")
    text, report = run_path.read_text(), (project.path / "out" / "report.html").read_text()
    local = {str(project.path), str(project.path.resolve()), str(cross_encoder.parents[1]), str(Path.home()),
             platform.platform()}
    for written in (text, report):
        assert not [part for part in local if part in written]
    run = load_run(run_path)
    assert "platform" not in run["environment"] and run["options"]["share"] is True
    # The paths were there and are shown short, not dropped.
    assert run["options"]["models"] == ["tiny-bert"] and run["targets"][0]["model"]["id"] == "tiny-bert"
    assert {c["model"] for c in run["claims"]} == {"tiny-bert"} and run["claims"]
    assert run["options"]["compare"] == run["comparison"]["baseline_path"] == "baseline.json"


def test_shareable_replaces_whole_paths_and_keeps_the_run(example_run):
    run = {**example_run, "environment": {**example_run["environment"], "platform": "Linux-6.1-x86_64"},
           "options": {**example_run["options"], "models": ["/home/ana/models/mono"], "compare": "/home/ana/b.json"},
           "notes": {"/home/ana/models/mono": "/home/ana/models/mono2 and /home/ana/models/mono/config.json"}}
    before = json.dumps(run)
    shared = shareable(run, {"/home/ana/models/mono": "mono", "/home/ana": "~"})
    assert json.dumps(run) == before  # a copy: the session's own run keeps its paths
    assert "platform" not in shared["environment"]
    assert shared["options"]["models"] == ["mono"] and shared["options"]["compare"] == "~/b.json"
    assert shared["notes"] == {"mono": "~/models/mono2 and mono/config.json"}
    assert json.dumps(shared["claims"]) == json.dumps(example_run["claims"])  # nothing else touched
