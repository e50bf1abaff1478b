"""A session split with ``--claims-shard K/N`` and merged gives the run one machine writes.

The end-to-end check runs the embedded default's selection that the ``-n`` check uses (claims of both
wings and the planted method checks, 40 queries) once whole and once as three shards, each on fresh
scores and the shared built models, merges the shards' runs and requires the same claims, targets,
method checks and verdicts. The refusals are checked on runs made by hand.
"""

from __future__ import annotations

import copy
import json
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

from ranker_claims.core.runs import MergeError, load_run, merge_shards, save_run
from tests.integration.test_claims_run import PARALLEL_SELECTION, SHARED_MODELS

REPO = Path(__file__).resolve().parents[2]


def _shard(run: dict, index: int, count: int = 2, session: str = "s1") -> dict:
    shard = copy.deepcopy(run)
    shard["shard"] = {"index": index, "count": count, "session_id": session,
                      "order": {section: [[i * count + index] for i in range(len(shard.get(section, [])))]
                                for section in ("targets", "claims", "method_checks")}}
    return shard


def _halves(example_run: dict) -> tuple[dict, dict]:
    """Two shards whose claims interleave: shard 0 holds the even places, shard 1 the odd."""
    first, second = _shard(example_run, 0), _shard(example_run, 1)
    first["claims"], second["claims"] = example_run["claims"][0::2], example_run["claims"][1::2]
    first["shard"]["order"]["claims"] = [[2 * i] for i in range(len(first["claims"]))]
    second["shard"]["order"]["claims"] = [[2 * i + 1] for i in range(len(second["claims"]))]
    for shard in (first, second):
        shard["targets"], shard["shard"]["order"]["targets"] = [], []
    return first, second


def test_shards_merge_in_the_session_order(example_run):
    first, second = _halves(example_run)
    merged = merge_shards([second, first])
    assert [c["claim_id"] for c in merged["claims"]] == [c["claim_id"] for c in example_run["claims"]]
    assert merged["merged_from"] == [first["run_id"], second["run_id"]]
    assert "shard" not in merged and [s["index"] for s in merged["environment"]["shards"]] == [0, 1]


@pytest.mark.parametrize(("change", "message"), [
    (lambda a, b: b.pop("shard"), "is not a shard"),
    (lambda a, b: b["shard"].update(session_id="s2"), "is a shard of session s2"),
    (lambda a, b: b["shard"].update(count=3), "is a shard of 3"),
    (lambda a, b: b["shard"].update(index=0), "has 2 shards: missing 1/2; given twice 0/2"),
    (lambda a, b: b["options"].update(alpha=0.01), "differ in the options"),
    (lambda a, b: b.update(verdict_rules="other"), "differ in the verdict rules"),
    (lambda a, b: b["environment"].update(suite={"version": "0.2.0"}), "differ in the suite version"),
    (lambda a, b: (a.update(claim_files={"x.toml": "1"}), b.update(claim_files={"x.toml": "2"})),
     "different versions of the claim file x.toml"),
])
def test_runs_that_are_not_one_sessions_shards_are_refused(example_run, change, message):
    first, second = _halves(example_run)
    change(first, second)
    with pytest.raises(MergeError, match=message.replace("(", r"\(")):
        merge_shards([first, second])


def test_the_merge_command_writes_the_run_and_its_report(example_run, tmp_path):
    paths = []
    for shard in _halves(example_run):
        paths.append(save_run(shard, tmp_path / f"shard-{shard['shard']['index']}.json"))
    done = subprocess.run([sys.executable, "-m", "ranker_claims.reports", "merge", *map(str, paths), "-o",
                           str(tmp_path / "merged.json")], capture_output=True, text=True, timeout=300)
    assert done.returncode == 0, done.stderr
    assert len(load_run(tmp_path / "merged.json")["claims"]) == len(example_run["claims"])
    assert (tmp_path / "merged.html").read_text().startswith("<!DOCTYPE html>")
    refused = subprocess.run([sys.executable, "-m", "ranker_claims.reports", "merge", str(paths[0]), "-o",
                              str(tmp_path / "half.json")], capture_output=True, text=True, timeout=300)
    assert refused.returncode == 2 and refused.stderr.strip().splitlines() == [
        "error: session s1 has 2 shards: missing 1/2"]
    assert not (tmp_path / "half.json").exists()


@pytest.mark.slow
def test_three_shards_merged_equal_one_run(pytester: pytest.Pytester, monkeypatch: pytest.MonkeyPatch):
    shutil.copytree(REPO / "claims", pytester.path / "claims", ignore=shutil.ignore_patterns("__pycache__"))
    monkeypatch.setenv("OMP_NUM_THREADS", "1")  # one thread in every process: the same float rounding
    cache = pytester.path / "cache"
    cache.mkdir()
    SHARED_MODELS.mkdir(parents=True, exist_ok=True)
    (cache / "models").symlink_to(SHARED_MODELS, target_is_directory=True)

    def run(name: str, *args: str) -> dict:
        for entry in cache.iterdir():  # fresh scores: each process computes every number
            if entry.name != "models":
                shutil.rmtree(entry)
        result = pytester.runpytest_subprocess("claims/", "-p", "no:cacheprovider", "--claims-output-dir", name,
                                               "--claims-cache-dir", str(cache), "--claims-json", f"{name}.json",
                                               "--claims-fail-on", "none", *PARALLEL_SELECTION, *args)
        assert result.ret == pytest.ExitCode.OK, result.stdout.str()[-4000:]
        return load_run(pytester.path / f"{name}.json")

    whole = run("whole")
    shards = [run(f"shard-{k}", "--claims-shard", f"{k}/3") for k in range(3)]
    assert len({shard["shard"]["session_id"] for shard in shards}) == 1
    assert all(shard["claims"] or shard["method_checks"] for shard in shards)  # each shard had a study
    merged = merge_shards(shards)
    for run_ in (whole, merged):  # wall times differ between any two runs
        run_["claims"] = [{k: v for k, v in claim.items() if k != "seconds"} for claim in run_["claims"]]
    for section in ("claims", "targets", "method_checks", "claim_files", "options"):
        assert json.dumps(merged.get(section), sort_keys=True) == json.dumps(whole.get(section), sort_keys=True), section
    assert [c["verdict"] for c in merged["claims"]] == [c["verdict"] for c in whole["claims"]]
