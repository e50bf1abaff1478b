"""The scheduler examples (README, "Several machines"): the Slurm scripts in examples/slurm and the GitHub
Actions workflow in examples/github-actions, checked without a cluster or a runner.

Slurm is faked by its environment: ``SLURM_ARRAY_TASK_ID``, ``SLURM_ARRAY_TASK_COUNT`` and
``SLURM_ARRAY_JOB_ID`` as an array task sees them, the tasks run one after another with ``bash``.
The scripts' arithmetic and the commands they build are checked with a stand-in for python (and for
sbatch) that records its arguments; end to end, the real thing runs on a tiny random cross-encoder and
two six-query collections (two studies over two shards, and over four, where two shards hold none), then
merges the shards' runs. The workflow is only read: its matrix and its shard expressions agree.
"""

from __future__ import annotations

import json
import os
import re
import subprocess
import sys
from pathlib import Path

import pytest

from ranker_claims.core.runs import load_run
from tests.faults.test_degenerate_collections import QIDS, _collection, _pool
from tests.faults.test_models import tiny_cross_encoder

REPO = Path(__file__).resolve().parents[2]
SLURM = REPO / "examples" / "slurm"
ARRAY, MERGE, SUBMIT = SLURM / "claims-array.sbatch", SLURM / "claims-merge.sbatch", SLURM / "submit.sh"
WORKFLOW = REPO / "examples" / "github-actions" / "claims.yml"
SMALL = "--claims-depth 4 --claims-pairs-per-group 2 --claims-max-length 32 --claims-bootstrap 50 -p no:randomly"

# A stand-in for python (or sbatch): its arguments one a line into $RECORD (appended, a blank line after
# each call), then what $REPLY says on stdout and the status $STATUS says.
RECORDER = """#!/usr/bin/env bash
printf '%s\\n' "$@" >> "$RECORD"; echo >> "$RECORD"
[[ -z ${REPLY_FILE:-} ]] || { head -n 1 "$REPLY_FILE"; sed -i 1d "$REPLY_FILE"; }
exit "${STATUS:-0}"
"""


def environment(tmp_path: Path, **overrides: str) -> dict[str, str]:
    """This process's environment without any Slurm variable of its own (the tests may run inside a job),
    with the given ones."""
    env = {key: value for key, value in os.environ.items() if not key.startswith(("SLURM_", "CLAIMS_"))}
    env.update(CLAIMS_RUNS=str(tmp_path / "runs"), CLAIMS_CACHE_DIR=str(tmp_path / "cache"), **overrides)
    return env


def bash(script: Path, env: dict[str, str], *args: str, cwd: Path) -> subprocess.CompletedProcess[str]:
    return subprocess.run(["bash", str(script), *args], env=env, cwd=cwd, capture_output=True, text=True,
                          timeout=600)


def recorder(tmp_path: Path, name: str = "python") -> Path:
    path = tmp_path / "bin" / name
    path.parent.mkdir(exist_ok=True)
    path.write_text(RECORDER)
    path.chmod(0o755)
    return path


def calls(record: Path) -> list[list[str]]:
    """The recorded calls, each its list of arguments."""
    return [block.split("\n") for block in record.read_text().split("\n\n") if block]


def option(args: list[str], flag: str) -> str:
    return args[args.index(flag) + 1]


@pytest.mark.parametrize("script", [ARRAY, MERGE, SUBMIT], ids=lambda p: p.name)
def test_the_scripts_parse(script: Path):
    assert subprocess.run(["bash", "-n", str(script)], capture_output=True).returncode == 0
    text = script.read_text()
    assert text.startswith("#!/usr/bin/env bash\n") and "set -euo pipefail" in text


def test_the_array_asks_one_gpu_a_task_and_four_tasks_numbered_from_0():
    directives = dict(re.findall(r"^#SBATCH --([\w-]+)=(\S+)", ARRAY.read_text(), re.M))
    assert directives["array"] == "0-3" and directives["gres"] == "gpu:1"
    assert {"cpus-per-task", "time", "output"} <= set(directives)


def test_an_array_task_runs_its_shard_of_the_session(tmp_path: Path):
    """Task 2 of 4 runs shard 2/4 of the installed claims, with the array's job id as the session id, the
    shared cache, its own output folder and run path, the extra arguments of CLAIMS_ARGS and of the
    command line (in that order) and, unless told otherwise, the GPU and verdicts that fail nothing."""
    python = recorder(tmp_path)
    env = environment(tmp_path, SLURM_ARRAY_TASK_ID="2", SLURM_ARRAY_TASK_COUNT="4", SLURM_ARRAY_JOB_ID="777",
                      PYTHON=str(python), RECORD=str(tmp_path / "record"),
                      CLAIMS_ARGS="--claims-model ./ours  --claims-select CE-1")
    result = bash(ARRAY, env, "-x", "--claims-collection", "a folder", cwd=tmp_path)
    assert result.returncode == 0, result.stderr
    (args,) = calls(tmp_path / "record")
    assert args[:4] == ["-m", "pytest", "--pyargs", "ranker_claims.claims"]
    assert option(args, "--claims-shard") == "2/4"
    assert option(args, "--claims-session-id") == "777"
    assert option(args, "--claims-cache-dir") == str(tmp_path / "cache")
    assert option(args, "--claims-json") == str(tmp_path / "runs" / "shard-2.json")
    assert option(args, "--claims-output-dir") == str(tmp_path / "runs" / "shard-2")
    assert option(args, "--claims-device") == "cuda"
    assert option(args, "--claims-fail-on") == "none"
    assert args[-7:] == ["--claims-model", "./ours", "--claims-select", "CE-1", "-x", "--claims-collection",
                         "a folder"]


def test_the_shard_count_falls_back_to_four_and_a_rerun_names_its_session(tmp_path: Path):
    """Without Slurm's task count the array's four; a shard re-run alone (``sbatch --array=2``, where
    Slurm's count is 1 and the job id new) takes the count and session id it is given."""
    python = recorder(tmp_path)
    common = {"PYTHON": str(python), "RECORD": str(tmp_path / "record")}
    assert bash(ARRAY, environment(tmp_path, SLURM_ARRAY_TASK_ID="3", SLURM_ARRAY_JOB_ID="5", **common),
                cwd=tmp_path).returncode == 0
    rerun = environment(tmp_path, SLURM_ARRAY_TASK_ID="2", SLURM_ARRAY_TASK_COUNT="1", SLURM_ARRAY_JOB_ID="900",
                        CLAIMS_SHARDS="4", CLAIMS_SESSION_ID="777", CLAIMS_DEVICE="cpu", **common)
    assert bash(ARRAY, rerun, cwd=tmp_path).returncode == 0
    first, second = calls(tmp_path / "record")
    assert option(first, "--claims-shard") == "3/4" and option(first, "--claims-session-id") == "5"
    assert option(second, "--claims-shard") == "2/4" and option(second, "--claims-session-id") == "777"
    assert option(second, "--claims-device") == "cpu"


@pytest.mark.parametrize(("task", "count"), [("4", "4"), ("1", "0"), ("x", "4"), ("-1", "4")])
def test_a_task_id_outside_0_to_n_minus_1_is_refused_before_anything_runs(tmp_path: Path, task: str, count: str):
    env = environment(tmp_path, SLURM_ARRAY_TASK_ID=task, SLURM_ARRAY_TASK_COUNT=count, SLURM_ARRAY_JOB_ID="1",
                      PYTHON=str(recorder(tmp_path)), RECORD=str(tmp_path / "record"))
    result = bash(ARRAY, env, cwd=tmp_path)
    assert result.returncode == 2 and "task ids must run from 0" in result.stderr
    assert not (tmp_path / "record").exists()


def test_outside_an_array_the_task_id_is_asked_for(tmp_path: Path):
    result = bash(ARRAY, environment(tmp_path, PYTHON=str(recorder(tmp_path)), RECORD=str(tmp_path / "r")),
                  cwd=tmp_path)
    assert result.returncode != 0 and "SLURM_ARRAY_TASK_ID" in result.stderr


@pytest.mark.parametrize(("pytest_status", "task_status"), [(0, 0), (5, 0), (1, 1), (2, 2), (4, 4)])
def test_a_shard_with_no_study_succeeds_and_every_other_failure_stands(tmp_path: Path, pytest_status: int,
                                                                      task_status: int):
    """pytest's 5, no tests ran, is a shard that no study fell to (more shards than studies)."""
    env = environment(tmp_path, SLURM_ARRAY_TASK_ID="3", SLURM_ARRAY_TASK_COUNT="4", SLURM_ARRAY_JOB_ID="1",
                      PYTHON=str(recorder(tmp_path)), RECORD=str(tmp_path / "record"), STATUS=str(pytest_status))
    assert bash(ARRAY, env, cwd=tmp_path).returncode == task_status


def test_the_merge_takes_the_shard_runs_and_nothing_else(tmp_path: Path):
    runs = tmp_path / "runs"
    (runs / "shard-0").mkdir(parents=True)  # a shard's output folder, not a run
    for name in ("shard-1.json", "shard-0.json", "merged.json"):
        (runs / name).write_text("{}")
    env = environment(tmp_path, PYTHON=str(recorder(tmp_path)), RECORD=str(tmp_path / "record"))
    result = bash(MERGE, env, cwd=tmp_path)
    assert result.returncode == 0, result.stderr
    (args,) = calls(tmp_path / "record")
    assert args == ["-m", "ranker_claims.reports", "merge", str(runs / "shard-0.json"), str(runs / "shard-1.json"),
                    "-o", str(runs / "merged.json")]


def test_a_merge_with_no_shard_runs_says_where_it_looked(tmp_path: Path):
    env = environment(tmp_path, PYTHON=str(recorder(tmp_path)), RECORD=str(tmp_path / "record"))
    result = bash(MERGE, env, cwd=tmp_path)
    assert result.returncode == 2 and f"no shard runs in {tmp_path / 'runs'}" in result.stderr


def test_submit_queues_the_merge_after_the_whole_array_however_its_tasks_end(tmp_path: Path):
    sbatch = recorder(tmp_path, "sbatch")
    (tmp_path / "replies").write_text("4242;cluster\n4243\n")
    env = environment(tmp_path, PATH=f"{sbatch.parent}{os.pathsep}{os.environ['PATH']}",
                      RECORD=str(tmp_path / "record"), REPLY_FILE=str(tmp_path / "replies"), CLAIMS_SHARDS="6")
    del env["CLAIMS_RUNS"]
    result = bash(SUBMIT, env, "--claims-select", "CE-1", cwd=tmp_path)
    assert result.returncode == 0, result.stderr
    array, merge = calls(tmp_path / "record")
    assert "--parsable" in array and "--array=0-5" in array and array[-3:] == [str(ARRAY), "--claims-select", "CE-1"]
    assert "--dependency=afterany:4242" in merge and merge[-1] == str(MERGE)
    assert f"--export=ALL,CLAIMS_RUNS={tmp_path / 'claims-runs' / '4242'}" in merge
    assert (tmp_path / "logs").is_dir()  # where #SBATCH --output points: Slurm does not create it


@pytest.fixture(scope="module")
def tiny(tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, list[Path]]:
    """A tiny cross-encoder and two local collections: two studies."""
    root = tmp_path_factory.mktemp("tiny")
    pools = {qid: _pool(i) for i, qid in enumerate(QIDS)}
    collections = [root / _collection(root, name, {q: {pool[0]: 2, pool[1]: 0} for q, pool in pools.items()}, pools)
                   for name in ("six", "again")]
    return tiny_cross_encoder(root / "model"), collections


@pytest.mark.parametrize("count", [2, 4])
def test_a_faked_array_runs_two_studies_and_merges_them_into_one_run(tmp_path: Path, tiny, count: int):
    """The array's tasks, one after another as a busy cluster might run them, on one shared cache: each
    shard writes its run (with four shards, the two that no study fell to as well, so the merge can tell
    a shard missing from a shard empty), the two studies land in different shards, and the merge joins
    them."""
    model, collections = tiny
    args = f"--claims-model {model} " + " ".join(f"--claims-collection {c}" for c in collections)
    env = environment(tmp_path, SLURM_ARRAY_TASK_COUNT=str(count), SLURM_ARRAY_JOB_ID="4242", CLAIMS_DEVICE="cpu",
                      PYTHON=sys.executable, OMP_NUM_THREADS="1",
                      CLAIMS_ARGS=f"{args} --claims-select CE-1,CE-2 {SMALL}")
    for task in range(count):
        result = bash(ARRAY, {**env, "SLURM_ARRAY_TASK_ID": str(task)}, cwd=tmp_path)
        assert result.returncode == 0, f"task {task}:\n{result.stdout[-3000:]}\n{result.stderr[-3000:]}"
    runs = tmp_path / "runs"
    shards = [load_run(path) for path in sorted(runs.glob("shard-*.json"))]
    assert [run["shard"]["index"] for run in shards] == list(range(count)), "every shard writes its run"
    assert {run["shard"]["count"] for run in shards} == {count}
    assert {run["shard"]["session_id"] for run in shards} == {"4242"}
    targets = [{(c["model"], c["collection"]) for c in run["claims"]} for run in shards]
    assert [len(t) for t in targets] == [1, 1] + [0] * (count - 2)  # round robin over the two studies
    assert targets[0] != targets[1]
    assert all((runs / f"shard-{task}" / "report.html").exists() for task in range(2))  # each its own folder

    result = bash(MERGE, env, cwd=tmp_path)
    assert result.returncode == 0, result.stdout + result.stderr
    merged = load_run(runs / "merged.json")
    assert sorted((c["claim_id"], c["collection"]) for c in merged["claims"]) == [
        ("CE-1", "local:again"), ("CE-1", "local:six"), ("CE-2", "local:again"), ("CE-2", "local:six")]
    assert (runs / "merged.html").exists()
    by_target = {(c["claim_id"], c["model"], c["collection"]): c["verdict"] for run in shards for c in run["claims"]}
    assert {(c["claim_id"], c["model"], c["collection"]): c["verdict"] for c in merged["claims"]} == by_target

    # Gating on the merged run: against itself nothing changed; against a baseline with one verdict
    # flipped, the merge job fails and says so.
    again = {**env, "CLAIMS_BASELINE": str(runs / "merged.json"), "CLAIMS_MERGED": str(tmp_path / "again.json")}
    assert bash(MERGE, again, cwd=tmp_path).returncode == 0
    merged["claims"][0]["verdict"] = "SUPPORTED" if merged["claims"][0]["verdict"] != "SUPPORTED" else "CONTRADICTED"
    (tmp_path / "baseline.json").write_text(json.dumps(merged))
    result = bash(MERGE, {**env, "CLAIMS_BASELINE": str(tmp_path / "baseline.json")}, cwd=tmp_path)
    assert result.returncode == 1 and "1 verdict(s) changed against" in result.stderr


def test_a_merge_missing_a_shard_is_refused(tmp_path: Path, tiny):
    """The session's shard 1 of 2 never ran: the merge says so rather than writing half a session."""
    model, collections = tiny
    env = environment(tmp_path, SLURM_ARRAY_TASK_ID="0", SLURM_ARRAY_TASK_COUNT="2", SLURM_ARRAY_JOB_ID="17",
                      CLAIMS_DEVICE="cpu", PYTHON=sys.executable, OMP_NUM_THREADS="1",
                      CLAIMS_ARGS=f"--claims-model {model} --claims-collection {collections[0]} "
                                  f"--claims-collection {collections[1]} --claims-select CE-1 {SMALL}")
    result = bash(ARRAY, env, cwd=tmp_path)
    assert result.returncode == 0, result.stdout[-3000:] + result.stderr[-3000:]
    result = bash(MERGE, env, cwd=tmp_path)
    assert result.returncode == 2 and len(result.stderr.strip().splitlines()) == 1, result.stderr
    assert not (tmp_path / "runs" / "merged.json").exists()


def test_the_workflow_runs_as_many_shards_as_its_matrix_has_and_merges_them():
    yaml = pytest.importorskip("yaml")
    workflow = yaml.safe_load(WORKFLOW.read_text())
    claims, merge = workflow["jobs"]["claims"], workflow["jobs"]["merge"]
    strategy = claims["strategy"]
    shards = strategy["matrix"]["shard"]
    assert strategy["fail-fast"] is False and shards == list(range(len(shards)))
    steps = {step.get("name", step.get("uses")): step for step in claims["steps"]}
    (command,) = [step["run"] for step in claims["steps"] if "--claims-shard" in step.get("run", "")]
    assert re.search(r"--claims-shard \$\{\{ matrix\.shard \}\}/(\d+)", command).group(1) == str(len(shards))
    assert "--claims-session-id ${{ github.run_id }}" in command and "--claims-fail-on none" in command
    run_path = re.search(r"--claims-json (.+?\.json)", command).group(1)
    upload = steps["Upload the shard's run"]
    assert upload["with"]["path"] == run_path and "${{ matrix.shard }}" in upload["with"]["name"]
    assert any("actions/cache" in step.get("uses", "") and "matrix.shard" in step["with"]["key"]
               for step in claims["steps"])

    assert merge["needs"] == "claims"
    (download,) = [step for step in merge["steps"] if "download-artifact" in step.get("uses", "")]
    assert download["with"]["merge-multiple"] is True
    assert download["with"]["pattern"].replace("*", "{}").format("${{ matrix.shard }}") == upload["with"]["name"]
    (merging,) = [step["run"] for step in merge["steps"] if "ranker_claims.reports merge" in step.get("run", "")]
    shard_glob = re.search(r"merge (\S+)", merging).group(1)
    assert Path(run_path.replace("${{ matrix.shard }}", "*")).name == Path(shard_glob).name
    assert Path(shard_glob).parent == Path(download["with"]["path"])
