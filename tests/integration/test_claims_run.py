"""`pytest claims/` end to end through pytester: verdicts, the run JSON, the report, comparison.

These run the real embedded model (built and cached on first use) on a small slice of
the embedded collection, in a subprocess, exactly as a user's command line would.
"""

from __future__ import annotations

import json
import os
import re
import shutil
from pathlib import Path

import pytest

from ranker_claims.core.claims import load_claims
from ranker_claims.core.runs import load_run
from ranker_claims.cross_encoder.measurements import MEASUREMENTS

pytestmark = pytest.mark.slow

REPO = Path(__file__).resolve().parents[2]
CE_FAMILY = [claim.id for claim in load_claims(REPO / "claims" / "cross_encoder.toml", MEASUREMENTS)]
SMALL = ["--claims-max-queries", "16", "--claims-depth", "12", "--claims-bootstrap", "300", "-p", "no:cacheprovider"]
# The built models a user's sessions share (the default cache, read before pytester moves HOME): building
# the default takes minutes, and a build is the same for every run; scores are another matter.
SHARED_MODELS = Path(os.environ.get("CLAIMS_CACHE_DIR")
                     or Path(os.environ.get("XDG_CACHE_HOME", "~/.cache")) / "ranker-claims").expanduser() / "models"


@pytest.fixture
def project(pytester: pytest.Pytester) -> pytest.Pytester:
    """A directory with the claims alone: the installed plugins provide everything else."""
    shutil.copytree(REPO / "claims", pytester.path / "claims", ignore=shutil.ignore_patterns("__pycache__"))
    return pytester


def run_claims(project: pytest.Pytester, *args: str, model: str = "embedded:minilm-synthetic") -> pytest.RunResult:
    """The CE claims (and method checks) on one cross-encoder; the GR claims have their own tests."""
    return project.runpytest_subprocess("claims/", "-v", "--claims-output-dir", "out", "--claims-model", model, *SMALL, *args)


def outcomes_by_claim(result: pytest.RunResult) -> dict[str, str]:
    """Claim id -> the verdict word pytest -v printed for it."""
    verdicts = {}
    for line in result.outlines:
        match = re.search(r"::test_claim\[([^\]]*)\] ([A-Z]+)", line)
        if match:
            claim = re.search(r"(?:^|-)(CE-\d+)(?:-|$)", match.group(1)).group(1)
            verdicts[claim] = match.group(2)
    return verdicts


def test_claims_run_end_to_end(project: pytest.Pytester):
    result = run_claims(project)
    # Every claim got a verdict: no collection or fixture error on the way.
    result.assert_outcomes(errors=0, **{k: v for k, v in result.parseoutcomes().items() if k in ("passed", "failed", "skipped")})
    assert "claim verdicts" in result.stdout.str()
    verdicts = outcomes_by_claim(result)
    assert set(verdicts) == set(CE_FAMILY), result.stdout.str()
    assert set(verdicts.values()) <= {"SUPPORTED", "CONTRADICTED", "INCONCLUSIVE"}

    runs = sorted((project.path / "out" / "runs").glob("*.json"))
    assert len(runs) == 1
    run = load_run(runs[0])
    assert run["finished"] and run["options"]["ablation_mode"] == "pre-softmax"
    assert {c["claim_id"] for c in run["claims"]} == set(CE_FAMILY)
    target = run["targets"][0]
    assert len(target["model"]["weights_sha256"]) == 64 and target["collection"]["queries"] == 16
    for claim in run["claims"]:
        assert claim["verdict"] in ("SUPPORTED", "CONTRADICTED", "INCONCLUSIVE")
        assert claim["seconds"] >= 0  # its wall time, for the report's Time column
        # CE-8..CE-11 test on the half of the queries their heads were not selected on.
        split = claim["figures"].get("query_split")
        queries = len(split["test"]) if split else 16
        assert not split or len(split["selection"]) + queries == 16
        for comparison in claim["comparisons"]:
            assert 0.0 <= comparison["p_value"] <= comparison["p_corrected"] <= 1.0
            assert comparison["ci"][0] <= comparison["measured"] <= comparison["ci"][1]
            if comparison["details"]["kind"] == "paired":  # over queries; "independent" ones compare heads
                assert comparison["n"] == queries
        assert all(len(values) == queries for values in claim["per_query"].values())
    # Ranking claims keep their per-query values, so a saved run can be re-tested (CE-8 when its
    # selection half found matching heads to ablate).
    assert all(c["per_query"] for c in run["claims"]
               if c["claim_id"] in ("CE-1", "CE-2", "CE-3", "CE-4", "CE-5") or (c["claim_id"] == "CE-8" and c["comparisons"]))
    table = next(c for c in run["claims"] if c["claim_id"] == "CE-5")["figures"]["direction_table"]
    assert len(table["values"]) == 5 and all(len(row) == 5 for row in table["values"])

    report = (project.path / "out" / "report.html").read_text()
    for claim in CE_FAMILY:
        assert claim in report
    assert "information flows from X to Y" in report

    # A second run compares against the first, by claim id, and reads cached scores.
    again = run_claims(project, "--claims-compare", "latest")
    assert "0 verdict change(s)" in again.stdout.str()
    latest = max((project.path / "out" / "runs").glob("*.json"), key=lambda p: p.stat().st_mtime)
    comparison = load_run(latest)["comparison"]
    assert comparison["verdict_changes"] == 0 and len(comparison["changes"]) == len(CE_FAMILY)


def test_verdict_change_can_fail_the_session(project: pytest.Pytester):
    first = run_claims(project, "-k", "CE-1")
    run_path = next((project.path / "out" / "runs").glob("*.json"))
    doctored = json.loads(run_path.read_text())
    before = doctored["claims"][0]["verdict"]
    doctored["claims"][0]["verdict"] = "CONTRADICTED" if before != "CONTRADICTED" else "SUPPORTED"
    baseline = project.path / "baseline.json"
    baseline.write_text(json.dumps(doctored))
    assert first.ret in (0, 1)

    tolerant = run_claims(project, "-k", "CE-1", "--claims-compare", str(baseline))
    assert "1 verdict change(s)" in tolerant.stdout.str()
    strict = run_claims(project, "-k", "CE-1", "--claims-compare", str(baseline), "--claims-fail-on",
                        "contradicted,changed")
    assert strict.ret == pytest.ExitCode.TESTS_FAILED
    assert "1 verdict change(s)" in strict.stdout.str()


def test_options_are_listed_in_one_group(project: pytest.Pytester):
    result = project.runpytest_subprocess("--help")
    text = result.stdout.str()
    section = text[text.index("re-check interpretability claims") :]
    for flag in ("--claims-model", "--claims-collection", "--claims-compare", "--claims-ablation-mode", "--claims-convention"):
        assert flag in section
    assert "claims_alpha" in text  # ini settings are listed too


def test_bad_option_values_are_usage_errors(project: pytest.Pytester):
    result = project.runpytest_subprocess("claims/", "--claims-ablation-mode", "sideways")
    assert result.ret == pytest.ExitCode.USAGE_ERROR
    assert "pre-softmax" in result.stderr.str()


def test_unknown_model_is_a_clear_error(project: pytest.Pytester):
    result = run_claims(project, "-k", "CE-1", model="embedded:no-such-model")
    assert result.ret == pytest.ExitCode.USAGE_ERROR  # refused before collection, not an error per test
    assert "--claims-model embedded:no-such-model: unknown embedded model 'no-such-model'" in result.stderr.str()


def check_parallel_against_one_process(project: pytest.Pytester, monkeypatch: pytest.MonkeyPatch,
                                       *selection: str) -> None:
    """``pytest claims/ -n 2 --claims-compare <the -n 0 run>`` on the embedded default, each run on fresh
    scores (so both compute every number) and the shared built models: no verdict may change, and
    every result (measured values, CIs, p-values, per-query values), target and method check must be
    identical. The one process gets the CPU threads each of two workers takes: the thread count alone
    moves float rounding (GR-12 by 1e-9 between 1 and 2 threads)."""
    monkeypatch.setenv("OMP_NUM_THREADS", str(max(1, (os.cpu_count() or 1) // 2)))
    cache = project.path / "cache"
    cache.mkdir()
    SHARED_MODELS.mkdir(parents=True, exist_ok=True)
    (cache / "models").symlink_to(SHARED_MODELS, target_is_directory=True)
    runs = project.path / "out" / "runs"

    def run(*args: str) -> tuple[dict, pytest.RunResult]:
        for entry in cache.iterdir():
            if entry.name != "models":
                shutil.rmtree(entry)
        before = set(runs.glob("*.json"))
        result = project.runpytest_subprocess("claims/", "-p", "no:cacheprovider", "--claims-output-dir", "out",
                                              "--claims-cache-dir", str(cache), *selection, *args)
        assert result.ret in (pytest.ExitCode.OK, pytest.ExitCode.TESTS_FAILED), result.stdout.str()[-4000:]
        (written,) = set(runs.glob("*.json")) - before  # one run, however many workers
        return load_run(written), result

    serial, _ = run("-n", "0")
    parallel, result = run("-n", "2", "--claims-compare", str(runs / f"{serial['run_id']}.json"))
    assert "0 verdict change(s)" in result.stdout.str()
    comparison = parallel["comparison"]
    assert comparison["verdict_changes"] == 0 and comparison["matched"] == len(serial["claims"]) > 0
    assert not comparison["only_in_baseline"] and not comparison["only_in_current"]
    assert set(comparison["option_changes"]) == {"compare"}
    for run in (serial, parallel):  # wall times differ between any two runs
        run["claims"] = [{k: v for k, v in claim.items() if k != "seconds"} for claim in run["claims"]]
    for section in ("claims", "targets", "method_checks"):
        same = json.dumps(parallel.get(section), sort_keys=True) == json.dumps(serial.get(section), sort_keys=True)
        assert same, section


# Claims of both wings (a ranking claim, the head screen, the patching grid, the per-head analyses)
# and the method checks, on the embedded default's models and collections with fewer queries: the
# whole default (about 35 minutes for the two runs here) was checked the same way when -n came in.
PARALLEL_SELECTION = ("-k", "CE-1 or CE-3 or CE-6 or GR-1 or GR-3 or GR-9 or planted", "--claims-max-queries", "40")


def test_parallel_run_equals_one_process_run(project: pytest.Pytester, monkeypatch: pytest.MonkeyPatch):
    check_parallel_against_one_process(project, monkeypatch, *PARALLEL_SELECTION)
