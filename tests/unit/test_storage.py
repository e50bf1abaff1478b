"""The run document's I/O: atomic saves, schema checks, merging results, comparing runs."""

from __future__ import annotations

import copy
import json
import re
from pathlib import Path

import pytest

from ranker_claims.core import runs as storage
from ranker_claims.core.results import ClaimResult, Verdict
from ranker_claims.core.runs import (
    SCHEMA,
    RunFormatError,
    add_claim_result,
    compare_runs,
    default_run_path,
    environment_info,
    latest_run,
    load_run,
    new_run,
    save_run,
)


def _result(claim_id: str = "CE-3", model: str = "m1", collection: str = "c1", verdict: str = "SUPPORTED",
            measured: float = 0.67, effect: float = -0.14, p: float = 0.001, **extra) -> dict:
    comparison = {
        "label": "ablate query->document vs baseline", "measured": measured, "ci": [measured - 0.03, measured + 0.03],
        "reference": 0.81, "effect": effect, "effect_size": effect / 0.1, "effect_size_name": "d_z", "test": "paired t",
        "p_value": p, "p_corrected": p, "n": 40, "power": 0.9, "verdict": verdict, "reason": "r", "details": {},
    }
    return {
        "claim_id": claim_id, "title": "t", "statement": "s", "paper": "0.81 -> 0.67*", "paper_value": 0.67,
        "figure": "Table 1", "citation": "c", "model": model, "collection": collection, "metric": "nDCG@10",
        "decision": "superiority", "correction": "holm", "alpha": 0.05, "verdict": verdict, "reason": "r",
        "comparisons": [comparison], "options": {}, "figures": {}, "per_query": {}, **extra,
    }


def _run(*results: dict, **options) -> dict:
    run = new_run({"alpha": 0.05, **options}, {"python": "3.11", "platform": "x", "packages": {}})
    for result in results:
        add_claim_result(run, result)
    return run


# --------------------------------------------------------------------------- creating


def test_new_run_has_the_documented_shape():
    run = new_run({"alpha": 0.05, "ablation_mode": "pre-softmax"}, {"python": "3.11.7", "platform": "p", "packages": {}})
    assert run["schema"] == SCHEMA == 1
    assert re.fullmatch(r"\d{8}T\d{6}Z-[0-9a-f]{4}", run["run_id"])
    assert run["started"].endswith("+00:00") and run["finished"] is None
    assert run["options"]["ablation_mode"] == "pre-softmax"
    assert run["targets"] == [] and run["claims"] == []


def test_environment_info_records_versions_and_none_for_missing(monkeypatch):
    real_version = storage.metadata.version

    def version(name: str) -> str:
        if name == "ir_measures":
            raise storage.metadata.PackageNotFoundError(name)
        return real_version(name) if name in ("pytest", "numpy") else "1.2.3"

    monkeypatch.setattr(storage.metadata, "version", version)
    info = environment_info()
    assert info["python"].count(".") == 2 and info["platform"]
    for name in ("torch", "transformers", "ir_datasets", "ir_measures", "scipy", "numpy", "pytest"):
        assert name in info["packages"]
    assert info["packages"]["ir_measures"] is None
    assert info["packages"]["pytest"] == pytest.__version__
    json.dumps(info)


# --------------------------------------------------------------------------- saving and loading


def _claim_result() -> ClaimResult:
    from ranker_claims.core.results import Comparison

    return ClaimResult(
        claim_id="CE-3", title="Query->Document attention is needed", statement="s", paper="0.81 -> 0.67*",
        paper_value=0.67, figure="Table 1", citation="c", model="m", collection="c", metric="nDCG@10",
        decision="superiority", correction="holm", alpha=0.05, verdict=Verdict.CONTRADICTED, reason="no drop",
        comparisons=[Comparison(label="ablate", measured=0.8, ci=(0.77, 0.83), reference=0.81, effect=-0.01,
                                effect_size=-0.1, effect_size_name="d_z", test="paired t", p_value=0.4,
                                p_corrected=0.4, n=40, power=0.95, verdict=Verdict.CONTRADICTED, reason="r",
                                details={"margin": 0.05})],
        options={"ablation_mode": "pre-softmax"},
        figures={"direction_table": {"values": [[0.1] * 5] * 5}},
        per_query={"baseline": {"q1": 0.5, "q2": 1.0}},
    )


def test_claim_result_round_trips_through_a_saved_run(tmp_path):
    original = _claim_result()
    run = _run()
    add_claim_result(run, original.to_dict())
    path = save_run(run, tmp_path / "runs" / "r.json")
    loaded = load_run(path)
    assert loaded == json.loads(json.dumps(run))
    again = ClaimResult.from_dict(loaded["claims"][0])
    assert again == original
    assert again.key == original.key and again.verdict is Verdict.CONTRADICTED
    assert isinstance(again.comparisons[0].ci, tuple)


def test_save_is_atomic_when_the_write_crashes(tmp_path, monkeypatch):
    path = tmp_path / "run.json"
    first = _run(_result())
    save_run(first, path)
    before = path.read_bytes()

    def crashing_dump(obj, handle, **kwargs):
        handle.write('{"schema": 1, "run_id": "half')  # part of a document, then the crash
        handle.flush()
        raise OSError("disk full (simulated)")

    monkeypatch.setattr(storage.json, "dump", crashing_dump)
    second = _run(_result(), _result("CE-4"))
    with pytest.raises(OSError, match="simulated"):
        save_run(second, path)
    assert path.read_bytes() == before  # the old complete file, untouched
    assert load_run(path)["claims"] == first["claims"]
    assert sorted(p.name for p in tmp_path.iterdir()) == ["run.json"]  # no temp or partial file left


def test_save_is_atomic_on_keyboard_interrupt_and_for_a_new_file(tmp_path, monkeypatch):
    def interrupted(obj, handle, **kwargs):
        handle.write("{")
        raise KeyboardInterrupt

    monkeypatch.setattr(storage.json, "dump", interrupted)
    with pytest.raises(KeyboardInterrupt):
        save_run(_run(), tmp_path / "runs" / "new.json")
    assert list((tmp_path / "runs").iterdir()) == []


def test_save_replaces_and_keeps_a_single_file(tmp_path):
    path = tmp_path / "run.json"
    run = _run(_result())
    save_run(run, path)
    add_claim_result(run, _result("CE-4"))
    run["finished"] = "2026-11-22T08:00:00+00:00"
    save_run(run, path)
    assert [c["claim_id"] for c in load_run(path)["claims"]] == ["CE-3", "CE-4"]
    assert [p.name for p in tmp_path.iterdir()] == ["run.json"]


def test_save_accepts_numpy_values(tmp_path):
    np = pytest.importorskip("numpy")
    run = _run()
    run["method_checks"] = [{"name": "n", "kind": "planted", "passed": np.bool_(True),
                             "figures": {"grid": np.arange(4).reshape(2, 2), "x": np.float32(0.5), "k": np.int64(3)}}]
    loaded = load_run(save_run(run, tmp_path / "r.json"))
    assert loaded["method_checks"][0]["figures"] == {"grid": [[0, 1], [2, 3]], "x": 0.5, "k": 3}
    assert loaded["method_checks"][0]["passed"] is True


@pytest.mark.parametrize(
    ("content", "message"),
    [
        ("{not json", "invalid JSON"),
        ("[1, 2]", "not a claims run"),
        ('{"claims": []}', "not a claims run"),
        ('{"schema": 2, "run_id": "x", "claims": [], "targets": [], "options": {}}', "newer"),
        ('{"schema": "1", "run_id": "x", "claims": [], "targets": [], "options": {}}', "must be an integer"),
        ('{"schema": 0, "run_id": "x", "claims": [], "targets": [], "options": {}}', "unknown run schema"),
        ('{"schema": 1, "run_id": "x", "claims": {}, "targets": [], "options": {}}', "claims: expected an array, got an object"),
        ('{"schema": 1, "run_id": "x", "claims": [{"a": 1}], "targets": [], "options": {}}', "claims\\[0\\]"),
    ],
)
def test_load_rejects_what_is_not_a_readable_run(tmp_path, content, message):
    path = tmp_path / "x.json"
    path.write_text(content)
    with pytest.raises(RunFormatError, match=message) as error:
        load_run(path)
    assert str(path) in str(error.value)


def test_load_of_a_missing_file_is_a_clear_error(tmp_path):
    with pytest.raises(RunFormatError, match="no such run file"):
        load_run(tmp_path / "absent.json")


def test_newer_schema_error_says_what_to_do(tmp_path):
    path = tmp_path / "future.json"
    path.write_text(json.dumps({"schema": 7, "run_id": "x", "claims": [], "targets": [], "options": {}}))
    with pytest.raises(RunFormatError, match=r"schema 7.*up to 1.*update the suite"):
        load_run(path)


def test_save_refuses_a_foreign_schema(tmp_path):
    with pytest.raises(RunFormatError):
        save_run({"schema": 9, "run_id": "x"}, tmp_path / "x.json")


# --------------------------------------------------------------------------- merging and paths


def test_add_claim_result_replaces_the_same_key_in_place():
    run = _run(_result("CE-1"), _result("CE-3"), _result("CE-4"))
    add_claim_result(run, _result("CE-3", verdict="CONTRADICTED"))
    assert [c["claim_id"] for c in run["claims"]] == ["CE-1", "CE-3", "CE-4"]
    assert run["claims"][1]["verdict"] == "CONTRADICTED"
    add_claim_result(run, _result("CE-3", model="m2"))  # another model: a new result
    add_claim_result(run, _claim_result())  # a ClaimResult is accepted too
    assert len(run["claims"]) == 5


def test_default_run_path_and_latest_run(tmp_path):
    run = _run()
    path = default_run_path(tmp_path / ".claims", run)
    assert path == tmp_path / ".claims" / "runs" / f"{run['run_id']}.json"
    assert default_run_path(tmp_path, "abc").name == "abc.json"
    assert default_run_path(tmp_path).parent == tmp_path / "runs"
    with pytest.raises(ValueError):
        default_run_path(tmp_path, "../escape")

    assert latest_run(tmp_path / ".claims") is None
    old = save_run(_run(), default_run_path(tmp_path / ".claims", "20260101T000000Z-aaaa"))
    new = save_run(_run(), default_run_path(tmp_path / ".claims", "20260102T000000Z-bbbb"))
    (tmp_path / ".claims" / "runs" / ".20260103.json.x.tmp").write_text("{")  # a temp file is never a run
    import os

    os.utime(old, ns=(1_000_000_000, 1_000_000_000))
    assert latest_run(tmp_path / ".claims") == new
    assert latest_run(tmp_path / ".claims", exclude=new) == old
    assert latest_run(tmp_path / ".claims" / "runs") == new  # the runs folder itself works too


# --------------------------------------------------------------------------- comparing


def test_compare_runs_matches_exactly_and_detects_verdict_changes():
    baseline = _run(_result("CE-3", verdict="INCONCLUSIVE", measured=0.74, effect=-0.07, p=0.09), _result("CE-4"))
    current = _run(_result("CE-3", verdict="SUPPORTED", measured=0.67, effect=-0.14, p=0.001), _result("CE-4"))
    comparison = compare_runs(baseline, current)
    json.dumps(comparison)
    assert comparison["verdict_changes"] == 1 and comparison["matched"] == 2
    ce3, ce4 = comparison["changes"]
    assert ce3["claim_id"] == "CE-3" and ce3["match"] == "exact"
    assert (ce3["verdict_before"], ce3["verdict_after"], ce3["verdict_changed"]) == ("INCONCLUSIVE", "SUPPORTED", True)
    assert ce3["measured_shift"] == pytest.approx(-0.07)
    assert ce3["effect_shift"] == pytest.approx(-0.07)
    assert (ce3["p_before"], ce3["p_after"]) == (0.09, 0.001)
    [label] = ce3["comparisons"]
    assert label["label"] == "ablate query->document vs baseline" and label["verdict_changed"]
    assert label["effect_size_shift"] == pytest.approx(-0.7)
    assert ce4["verdict_changed"] is False and ce4["measured_shift"] == 0
    assert comparison["only_in_baseline"] == comparison["only_in_current"] == []


def test_compare_runs_falls_back_to_collection_then_claim_id():
    baseline = _run(
        _result("CE-1", model="old-model", collection="dl19"),
        _result("CE-2", model="old-model", collection="dl20"),
        _result("CE-9", model="old-model", collection="dl19"),
    )
    current = _run(
        _result("CE-1", model="new-model", collection="dl19"),  # same collection, new model
        _result("CE-2", model="new-model", collection="synthetic"),  # only the claim id in common
        _result("CE-7", model="new-model", collection="dl19"),  # nothing in common
    )
    comparison = compare_runs(baseline, current)
    matches = {c["claim_id"]: (c["match"], c["key_before"]) for c in comparison["changes"]}
    assert matches == {
        "CE-1": ("collection", "CE-1[old-model@dl19]"),
        "CE-2": ("claim", "CE-2[old-model@dl20]"),
    }
    assert [e["claim_id"] for e in comparison["only_in_baseline"]] == ["CE-9"]
    assert [e["claim_id"] for e in comparison["only_in_current"]] == ["CE-7"]


def test_compare_runs_pairs_each_result_once_and_prefers_exact_matches():
    # Two targets of one claim in both runs, listed in different orders: the exact
    # pass must pair them by target, not by position.
    baseline = _run(_result("CE-1", collection="dl20", measured=0.5), _result("CE-1", collection="dl19", measured=0.6))
    current = _run(_result("CE-1", collection="dl19", measured=0.61), _result("CE-1", collection="dl20", measured=0.52),
                   _result("CE-1", collection="dl21"))
    comparison = compare_runs(baseline, current)
    pairs = {(c["collection_before"], c["collection_after"]): c["measured_shift"] for c in comparison["changes"]}
    assert pairs == {("dl19", "dl19"): pytest.approx(0.01), ("dl20", "dl20"): pytest.approx(0.02)}
    assert [e["collection"] for e in comparison["only_in_current"]] == ["dl21"]


def test_compare_runs_reports_option_and_package_changes_and_missing_values():
    before = _result("CE-3", p=float("nan"))
    after = _result("CE-3")
    after["comparisons"][0]["label"] = "renamed"
    after["comparisons"].append(copy.deepcopy(before["comparisons"][0]))  # shares the old label, second
    baseline = _run(before, ablation_mode="pre-softmax")
    current = _run(after, ablation_mode="post-softmax")
    current["environment"]["packages"] = {"torch": "2.13.0"}
    comparison = compare_runs(baseline, current)
    assert comparison["option_changes"] == {"ablation_mode": ["pre-softmax", "post-softmax"]}
    assert comparison["package_changes"] == {"torch": [None, "2.13.0"]}
    change = comparison["changes"][0]
    assert change["headline"] == before["comparisons"][0]["label"]  # the first label both runs have
    assert change["comparisons_only_in_current"] == ["renamed"]
    json.dumps(comparison, allow_nan=True)


def test_compare_runs_of_a_run_with_itself_changes_nothing(example_run):
    comparison = compare_runs(example_run, example_run)
    assert comparison["verdict_changes"] == 0
    assert len(comparison["changes"]) == len(example_run["claims"])
    assert all(c["measured_shift"] in (0, None) for c in comparison["changes"])


def test_example_run_survives_save_and_load(tmp_path, example_run):
    path = save_run(example_run, default_run_path(tmp_path, example_run))
    assert load_run(path) == json.loads(json.dumps(example_run))
    for claim in load_run(path)["claims"]:
        ClaimResult.from_dict(claim)
    assert Path(path).name == "20261122T071500Z-3f2a.json"
