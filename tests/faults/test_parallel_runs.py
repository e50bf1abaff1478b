"""``pytest claims/ -n 2``: one run and one report, equal to a one-process run's, nothing a worker records lost.

Two tiny cross-encoders on a tiny collection and the planted T5 make three studies; a test file
added beside the claims breaks a fixture and raises after recording a method check. The same
selection runs with ``-n 0`` and then ``-n 2 --claims-compare <the -n 0 run>``, once for the module.
"""

from __future__ import annotations

import json
import os
import random
import re
import shutil
import subprocess
import sys
from pathlib import Path
from types import SimpleNamespace
from typing import Any

import pytest

from ranker_claims.core.runs import load_run, new_run
from ranker_claims.pytest_plugin.session import METHOD_CHECK, RESULT, TARGET, ClaimsSession
from tests.faults.test_models import tiny_cross_encoder

REPO = Path(__file__).resolve().parents[2]
SELECTION = ("-k", "CE-1 or CE-3 or planted_generative or worker_faults")
SMALL = ("--claims-depth", "6", "--claims-bootstrap", "100", "-p", "no:cacheprovider")
WORKER_FAULTS = '''
import pytest


@pytest.fixture
def broken():
    raise RuntimeError("a fixture broke on a worker")


def test_setup_error(broken):
    pass


def test_error_after_recording(claims):
    claims.record_check({"name": "recorded before the error", "kind": "planted", "passed": True, "detail": ""})
    raise RuntimeError("raised on a worker after recording")
'''
# What differs between any two runs: when, which, where, and against what.
NOT_COMPARED = ("run_id", "started", "finished", "environment", "comparison")


def _collection(directory: Path) -> Path:
    """Eight queries, each with one relevant and one judged non-relevant document among forty."""
    rng = random.Random(0)
    words = "river city war film song team year born wrote founded largest capital novel album bridge".split()
    directory.mkdir()
    queries = {f"q{i}": " ".join(rng.sample(words, 3)) for i in range(8)}
    (directory / "queries.tsv").write_text("".join(f"{q}\t{text}\n" for q, text in queries.items()))
    (directory / "qrels.txt").write_text("".join(f"{q} 0 d{5 * i} 2\n{q} 0 d{5 * i + 1} 0\n"
                                                 for i, q in enumerate(queries)))
    docs = {f"d{i}": " ".join(rng.choices(words, k=12)) for i in range(40)}
    (directory / "docs.jsonl").write_text("".join(json.dumps({"_id": d, "text": t}) + "\n" for d, t in docs.items()))
    return directory


@pytest.fixture(scope="module")
def runs(tmp_path_factory: pytest.TempPathFactory) -> SimpleNamespace:
    """The selection with ``-n 0``, then with ``-n 2`` compared against it, each on a fresh cache."""
    root = tmp_path_factory.mktemp("parallel")
    shutil.copytree(REPO / "claims", root / "claims", ignore=shutil.ignore_patterns("__pycache__"))
    (root / "claims" / "test_worker_faults.py").write_text(WORKER_FAULTS)
    models = [str(tiny_cross_encoder(root / name)) for name in ("tiny-a", "tiny-b")]
    collection = _collection(root / "collection")

    # The one process gets the CPU threads each of two workers takes: the count alone moves float rounding.
    env = {**os.environ, "OMP_NUM_THREADS": str(max(1, (os.cpu_count() or 1) // 2))}

    def run(name: str, *args: str) -> subprocess.CompletedProcess:
        command = [sys.executable, "-m", "pytest", "claims/", "-v", *SELECTION, *SMALL, "--claims-model", models[0],
                   "--claims-model", models[1], "--claims-collection", str(collection),
                   "--claims-output-dir", name, "--claims-cache-dir", str(root / f"cache-{name}"), *args]
        return subprocess.run(command, cwd=root, env=env, capture_output=True, text=True, timeout=600)

    serial = run("serial", "-n", "0")
    (baseline,) = (root / "serial" / "runs").glob("*.json")
    parallel = run("parallel", "-n", "2", "--claims-compare", str(baseline))
    return SimpleNamespace(root=root, serial=serial, parallel=parallel, baseline=baseline,
                           studies={f"{model}|{collection}" for model in models} | {"planted_generative"})


def _comparable(run: dict[str, Any]) -> str:
    kept = {key: value for key, value in run.items() if key not in NOT_COMPARED}
    kept["claims"] = [{k: v for k, v in claim.items() if k != "seconds"} for claim in run["claims"]]  # wall times
    kept["options"] = {key: value for key, value in run["options"].items() if key != "compare"}
    return json.dumps(kept, sort_keys=True)


def test_one_run_and_one_report_hold_every_result(runs):
    assert runs.parallel.returncode == pytest.ExitCode.TESTS_FAILED, runs.parallel.stdout[-3000:]
    output = runs.root / "parallel"
    written = sorted(str(path.relative_to(output)) for path in output.rglob("*") if path.is_file())
    # The controller's run and report, and nothing from the workers (each would have its own run id).
    assert len(written) == 2 and written[0] == "report.html" and written[1].startswith("runs/"), written
    assert f"run: {output / written[1]}" in runs.parallel.stdout
    run = load_run(output / written[1])
    assert run["finished"] and not run["interrupted"]
    claims = [(c["claim_id"], Path(c["model"]).name) for c in run["claims"]]
    ce = ["CE-1", "CE-3", "CE-10", "CE-11", "CE-12"]
    assert claims == [(claim, model) for model in ("tiny-a", "tiny-b") for claim in ce]
    assert [Path(t["model"]["id"]).name for t in run["targets"]] == ["tiny-a", "tiny-b"]
    assert len(run["method_checks"]) == 5  # four planted T5 checks and the one recorded before an error
    assert run["environment"]["placements"] and set(run["environment"]["placements"]) <= {"gw0", "gw1"}
    report = (runs.root / "parallel" / "report.html").read_text()
    assert all(claim in report for claim in ce) and "recorded before the error" in report
    summary = runs.parallel.stdout[runs.parallel.stdout.index("claim verdicts"):]
    assert len(re.findall(r"^(SUPPORTED|CONTRADICTED|INCONCLUSIVE) +CE-", summary, re.MULTILINE)) == 10


def test_each_study_runs_on_one_worker(runs):
    workers: dict[str, set[str]] = {}
    for worker, group in re.findall(r"^\[(gw\d)\] \[ *\d+%\] [A-Z]+ \S+\]@(\S+)", runs.parallel.stdout, re.MULTILINE):
        workers.setdefault(group, set()).add(worker)
    assert set(workers) == runs.studies, workers
    assert all(len(ran_on) == 1 for ran_on in workers.values()), workers


def test_the_parallel_run_equals_the_one_process_run(runs):
    serial = load_run(runs.baseline)
    (parallel_path,) = (runs.root / "parallel" / "runs").glob("*.json")
    parallel = load_run(parallel_path)
    assert _comparable(parallel) == _comparable(serial)
    assert parallel["comparison"]["verdict_changes"] == 0
    assert "0 verdict change(s)" in runs.parallel.stdout


def test_an_error_on_a_worker_reaches_the_controller(runs):
    for result in (runs.serial, runs.parallel):
        assert "RuntimeError: a fixture broke on a worker" in result.stdout
        assert "RuntimeError: raised on a worker after recording" in result.stdout
        assert re.search(r"\b1 error\b", result.stdout.splitlines()[-1]), result.stdout[-2000:]
    (parallel_path,) = (runs.root / "parallel" / "runs").glob("*.json")
    checks = [check["name"] for check in load_run(parallel_path)["method_checks"]]
    assert "recorded before the error" in checks


def _record(kind: str, index: int) -> tuple[str, dict[str, Any]]:
    if kind == RESULT:
        return kind, {"claim_id": f"CE-{index}", "model": "m", "collection": "c", "verdict": "SUPPORTED"}
    if kind == METHOD_CHECK:
        return kind, {"name": f"check {index}", "kind": "planted", "passed": True}
    return kind, {"model": {"id": f"m{index}"}, "collection": {"id": "c"}}


def test_what_arrives_sorts_by_collection_order_not_arrival(tmp_path):
    """However the workers' reports interleave, the run lists what they carried as one process would."""
    reports = [([index, 1], [_record(RESULT, index), _record(METHOD_CHECK, index)]) for index in range(6)]
    reports += [([index, 0], [_record(TARGET, index)]) for index in (0, 3)]
    reports.append(([4, 1], [_record(RESULT, 1)]))  # the same result again: replaced, keeping its first place
    written = set()
    for seed in range(5):
        arrival = random.Random(seed).sample(reports, len(reports))
        session = ClaimsSession(config=None, options=SimpleNamespace(share=False), catalog=None,
                                run=new_run({}, {}), run_path=tmp_path / f"{seed}.json")
        for order, records in arrival:
            session.receive(records, order)
        run = load_run(session.run_path)  # saved at each arrival
        assert [c["claim_id"] for c in run["claims"]] == [f"CE-{index}" for index in range(6)]
        assert [c["name"] for c in run["method_checks"]] == [f"check {index}" for index in range(6)]
        assert [t["model"]["id"] for t in run["targets"]] == ["m0", "m3"]
        written.add(_comparable(run))
    assert len(written) == 1
