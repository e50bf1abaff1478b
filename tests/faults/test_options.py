"""Faults in ``--claims-*`` options, ``--claims-compare`` and what ``--claims-share`` leaves out.

A baseline that is missing, not JSON, not a run of a readable schema (any field of the wrong type,
nested too deep), or ``latest`` with no earlier run ends the session at configure time: exit code 4,
one line, no claim run and no run file left behind unfinished. So does an option out of its range
(on the command line or in the ini file) or a device this machine lacks. A shared run and report
hold no local absolute path and no platform.
"""

from __future__ import annotations

import json
import platform
import shutil
from pathlib import Path

import pytest

from ranker_claims.core.runs import load_run, new_run, save_run, shareable
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
                 "claims: expected an array, got an object", id="claims-not-a-list"),
    pytest.param('{"schema": 1, "run_id": "x", "targets": [], "options": {}, "claims": [{"claim_id": "CE-1", '
                 '"model": "m", "collection": "c", "verdict": "SUPPORTED", "comparisons": "none"}]}',
                 "claims[0].comparisons: expected an array, got a string", id="comparisons-a-string"),
    pytest.param('{"schema": 1, "run_id": "x", "claims": [], "targets": [], "options": {"a": ' + "[" * 1000
                 + "]" * 1000 + "}}", "not a run document (nested deeper than 64 levels at character 137)",
                 id="nested-1000-deep"),
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
    assert "claim verdicts" not in result.stdout.str()  # stopped once claims were collected, before any ran
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


@pytest.mark.parametrize(("args", "line"), [
    pytest.param(("--claims-alpha", "2"), "--claims-alpha 2: out of range, must be in (0, 0.5]", id="alpha-2"),
    pytest.param(("--claims-alpha", "0"), "--claims-alpha 0: out of range, must be in (0, 0.5]", id="alpha-0"),
    pytest.param(("--claims-alpha", "nan"), "--claims-alpha nan: out of range, must be in (0, 0.5]", id="alpha-nan"),
    pytest.param(("--claims-min-power", "1"), "--claims-min-power 1: out of range, must be in (0, 1)", id="power-1"),
    pytest.param(("--claims-depth", "0"), "--claims-depth 0: out of range, must be >= 1", id="depth-0"),
    pytest.param(("--claims-bootstrap", "0"), "--claims-bootstrap 0: out of range, must be >= 1", id="bootstrap-0"),
    pytest.param(("--claims-seed", "-1"), "--claims-seed -1: out of range, must be >= 0", id="seed-negative"),
    pytest.param(("--claims-batch-size", "0"), "--claims-batch-size 0: out of range, must be >= 1", id="batch-0"),
    pytest.param(("--claims-max-length", "-5"), "--claims-max-length -5: out of range, must be >= 1", id="length"),
    pytest.param(("--claims-max-tokens", "0"), "--claims-max-tokens 0: out of range, must be >= 1", id="tokens-0"),
    pytest.param(("--claims-max-queries", "0"), "--claims-max-queries 0: out of range, must be >= 1", id="queries-0"),
    pytest.param(("--claims-easy-negatives", "-1"), "--claims-easy-negatives -1: out of range, must be >= 0",
                 id="easy-negatives"),
    pytest.param(("--claims-pairs-per-group", "0"), "--claims-pairs-per-group 0: out of range, must be >= 1",
                 id="pairs-0"),
    pytest.param(("--claims-relevant-grade", "0"), "--claims-relevant-grade 0: out of range, must be >= 1",
                 id="grade-0"),
    pytest.param(("--claims-mean-split", "1"), "--claims-mean-split 1: out of range, must be in (0, 1)", id="split-1"),
    pytest.param(("--claims-analysis-queries", "0"), "--claims-analysis-queries 0: out of range, must be >= 1",
                 id="analysis-0"),
    pytest.param(("--claims-depth", "ten"), "--claims-depth: expected int, got 'ten'", id="depth-not-a-number"),
])
def test_an_option_out_of_range_stops_the_session_at_configure(project, args, line):
    result = project.runpytest_inprocess("claims/", "--import-mode=importlib", "--claims-output-dir", "out", *args,
                                         "-p", "no:cacheprovider")
    assert usage_error(result) == line
    assert "test session starts" not in result.stdout.str() and not (project.path / "out").exists()


def test_an_ini_setting_gets_the_same_check(project):
    project.makeini("[pytest]\nclaims_alpha = 0.05\nclaims_depth = 0\n")
    result = project.runpytest_inprocess("claims/", "--import-mode=importlib", "-p", "no:cacheprovider")
    assert usage_error(result) == "claims_depth (ini setting) 0: out of range, must be >= 1"


def test_the_help_shows_each_range(project):
    result = project.runpytest_inprocess("--help")
    text = " ".join(result.stdout.str().split())
    assert "significance level of every claim family, in (0, 0.5] (default: 0.05)" in text
    assert "first-stage candidates re-ranked per query, >= 1 (default: 30)" in text


def test_a_device_this_machine_lacks_stops_the_session_naming_what_it_has(project):
    import torch

    from ranker_claims.core.devices import available_devices

    have = ", ".join(available_devices())
    cases = [("cuda:" + str(torch.cuda.device_count()), f"no cuda:{torch.cuda.device_count()}")]
    if not torch.cuda.is_available():
        cases.append(("cuda", "no CUDA device"))
    if "mps" not in have:
        cases.append(("mps", "no MPS device"))
    for device, what in cases:
        result = project.runpytest_inprocess("claims/", "--import-mode=importlib", "--claims-output-dir", "out",
                                             "--claims-device", device, "-p", "no:cacheprovider")
        assert usage_error(result) == f"--claims-device {device}: this machine has {what}; it has {have}"


def test_a_cuda_index_past_the_gpus_names_those_there_are(monkeypatch):
    """``cuda:3`` on a machine with one GPU (simulated: this check needs no GPU)."""
    import torch

    from ranker_claims.core.devices import DeviceError, check_device

    monkeypatch.setattr(torch.cuda, "is_available", lambda: True)
    monkeypatch.setattr(torch.cuda, "device_count", lambda: 1)
    monkeypatch.setattr(torch.backends.mps, "is_available", lambda: False)
    check_device("cuda")
    check_device("cuda:0")
    with pytest.raises(DeviceError, match=r"^cuda:3: this machine has no cuda:3; it has cpu, cuda:0$"):
        check_device("cuda:3")
    with pytest.raises(DeviceError, match=r"^mps: this machine has no MPS device; it has cpu, cuda:0$"):
        check_device("mps")
