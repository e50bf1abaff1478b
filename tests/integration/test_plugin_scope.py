"""The plugin as an installed tool sees it: inert in sessions without claims, claim files of one's own,
claims selected by id, gating apart from verdicts, and the provenance a run records.

Claims run here on a tiny random cross-encoder and a six-query local collection: the verdicts mean
nothing; what is checked is what the plugin does with them.
"""

from __future__ import annotations

import json
import re
import shutil
from pathlib import Path

import pytest

from ranker_claims.core.runs import compare_runs, load_run
from ranker_claims.pytest_plugin.gating import Gate
from tests.faults.test_degenerate_collections import QIDS, _collection, _pool
from tests.faults.test_models import tiny_cross_encoder

REPO = Path(__file__).resolve().parents[2]
SMALL = ["-p", "no:cacheprovider", "-p", "no:randomly", "--claims-depth", "4", "--claims-pairs-per-group", "2",
         "--claims-max-length", "32", "--claims-bootstrap", "50", "--claims-output-dir", "out"]


@pytest.fixture(scope="module")
def tiny(tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, Path]:
    """A tiny cross-encoder and a local collection it can be run on."""
    root = tmp_path_factory.mktemp("tiny")
    pools = {qid: _pool(i) for i, qid in enumerate(QIDS)}
    collection = _collection(root, "six", {q: {pool[0]: 2, pool[1]: 0} for q, pool in pools.items()}, pools)
    return tiny_cross_encoder(root / "model"), root / collection


def run(pytester: pytest.Pytester, tiny: tuple[Path, Path], *args: str) -> pytest.RunResult:
    model, collection = tiny
    if not (pytester.path / "pytest.ini").exists():  # a project's root, as a user's has: node ids are relative to it
        pytester.makeini("[pytest]\n")
    return pytester.runpytest_subprocess(*args, "--claims-model", str(model), "--claims-collection", str(collection),
                                         "--claims-cache-dir", str(pytester.path / "cache"), *SMALL)


def the_run(pytester: pytest.Pytester) -> dict:
    (path,) = (pytester.path / "out" / "runs").glob("*.json")
    return load_run(path)


def test_a_session_without_claims_checks_loads_and_writes_nothing(pytester: pytest.Pytester):
    """Claims settings that could not serve (a hub id that does not exist, a device this machine lacks, a
    baseline that is not there) do not touch a session of other tests; torch is not even imported."""
    pytester.makeini("""
        [pytest]
        claims_models = nobody-here/no-such-ranker
        claims_device = cuda:3
        claims_compare = missing.json
    """)
    pytester.makepyfile(test_plain="def test_plain():\n    assert 1 + 1 == 2\n")
    pytester.makeconftest("""
        import sys
        def pytest_sessionfinish(session):
            open("imported.txt", "w").write(" ".join(m for m in ("torch", "transformers") if m in sys.modules))
    """)
    result = pytester.runpytest_subprocess("-p", "no:cacheprovider")
    result.assert_outcomes(passed=1)
    assert (pytester.path / "imported.txt").read_text() == ""
    assert not (pytester.path / ".claims").exists()
    assert "claim verdicts" not in result.stdout.str()


def test_the_same_settings_are_usage_errors_once_claims_are_collected(pytester: pytest.Pytester):
    shutil.copy(REPO / "claims" / "cross_encoder.toml", pytester.path / "cross_encoder.toml")
    result = pytester.runpytest_subprocess("cross_encoder.toml", "--collect-only", "-p", "no:cacheprovider",
                                           "--claims-model", "/no/such/model")
    assert result.ret == pytest.ExitCode.USAGE_ERROR
    assert "--claims-model /no/such/model" in result.stderr.str()


def test_a_claim_file_of_ones_own_is_collected_and_run(pytester: pytest.Pytester, tiny):
    """A team's TOML next to its code, naming a registered measurement: collected like the shipped ones,
    its results keyed to it in the run with its hash."""
    own = pytester.path / "our_claims.toml"
    own.write_text('''
        [source]
        citation = "Our lab notebook, 2026"

        [[claim]]
        id = "OUR-1"
        title = "Our re-ranker beats the first stage"
        statement = "nDCG@10 of the model is above random orderings."
        paper = "ours"
        figure = "none"
        measurement = "baseline_quality"
        params = { expected_gain_over_random = 0.3, smallest_gain_over_random = 0.05 }
    '''.replace("\n        ", "\n"))
    result = run(pytester, tiny, "our_claims.toml", "-v")
    assert result.ret in (pytest.ExitCode.OK, pytest.ExitCode.TESTS_FAILED), result.stdout.str()
    result.stdout.fnmatch_lines(["*our_claims.toml::test_claim[[]*-OUR-1[]]*"])
    saved = the_run(pytester)
    (result_,) = saved["claims"]
    assert result_["claim_id"] == "OUR-1" and result_["claim_file"] == "our_claims.toml"
    assert len(saved["claim_files"]["our_claims.toml"]) == 64


def test_a_misnamed_measurement_in_ones_own_file_is_a_collection_error(pytester: pytest.Pytester):
    (pytester.path / "our_claims.toml").write_text('[[claim]]\nid = "X-1"\nmeasurement = "no_such_thing"\n')
    result = pytester.runpytest_subprocess("our_claims.toml", "--collect-only", "-p", "no:cacheprovider")
    assert result.ret == pytest.ExitCode.INTERRUPTED
    result.stdout.fnmatch_lines(["*our_claims.toml: no claim names a registered measurement*"])


def test_claims_are_selected_by_id_not_by_substring(pytester: pytest.Pytester):
    """``-k CE-1`` also selects CE-10..CE-12 (and any test whose name contains the text); the select
    option matches ids whole, with wildcards, and leaves the method checks out."""
    shutil.copytree(REPO / "claims", pytester.path / "claims", ignore=shutil.ignore_patterns("__pycache__"))

    def selected(*args: str) -> list[str]:
        result = pytester.runpytest_subprocess("claims", "--collect-only", "-q", "-p", "no:cacheprovider", *args)
        return [match.group(1) for line in result.outlines if (match := re.search(r"::test_claim\[.*-(\w+-\d+)\]", line))]

    assert selected("--claims-select", "CE-1") == ["CE-1"]
    assert selected("--claims-select", "CE-1,CE-3,GR-1?") == ["CE-1", "CE-3", "GR-10", "GR-11", "GR-12"]
    assert len(selected("-k", "CE-1")) == 4  # what the option is for
    every = pytester.runpytest_subprocess("claims", "--collect-only", "-q", "-p", "no:cacheprovider",
                                          "--claims-select", "CE-*")
    assert "test_method_checks" not in every.stdout.str()
    unknown = pytester.runpytest_subprocess("claims", "--collect-only", "-p", "no:cacheprovider",
                                            "--claims-select", "CE-1,CE-13")
    assert unknown.ret == pytest.ExitCode.USAGE_ERROR
    assert "--claims-select CE-13: no collected claim has this id" in unknown.stderr.str()


def test_verdicts_can_be_reported_without_failing_and_changes_can_fail(pytester: pytest.Pytester, tiny):
    """Under ``--claims-fail-on none`` a CONTRADICTED claim passes its test, its verdict still shown and
    recorded (the junitxml property too); against a baseline, only the named rules fail the session."""
    shutil.copy(REPO / "claims" / "cross_encoder.toml", pytester.path / "cross_encoder.toml")
    first = run(pytester, tiny, "cross_encoder.toml", "--claims-select", "CE-1", "--claims-fail-on", "none",
                "--junitxml", "junit.xml")
    assert first.ret == pytest.ExitCode.OK, first.stdout.str()
    verdict = the_run(pytester)["claims"][0]["verdict"]
    assert f"{verdict:<13} CE-1" in first.stdout.str()
    assert f'name="claim_verdict" value="{verdict}"' in (pytester.path / "junit.xml").read_text()

    baseline = the_run(pytester)
    other = {"SUPPORTED": "CONTRADICTED", "CONTRADICTED": "SUPPORTED", "INCONCLUSIVE": "SUPPORTED"}[verdict]
    baseline["claims"][0]["verdict"] = other
    (pytester.path / "baseline.json").write_text(json.dumps(baseline))
    shutil.rmtree(pytester.path / "out")
    compare = ["cross_encoder.toml", "--claims-select", "CE-1", "--claims-compare", "baseline.json"]

    tolerant = run(pytester, tiny, *compare, "--claims-fail-on", "none")
    assert tolerant.ret == pytest.ExitCode.OK and "1 verdict change(s)" in tolerant.stdout.str()
    assert the_run(pytester)["gate"] == {"rules": "none", "failures": []}
    shutil.rmtree(pytester.path / "out")

    strict = run(pytester, tiny, *compare, "--claims-fail-on", "changed", "--claims-json", "ci/run.json")
    assert strict.ret == pytest.ExitCode.TESTS_FAILED
    strict.stdout.fnmatch_lines([f"FAILED --claims-fail-on changed: CE-1 * {other} -> {verdict}"])
    assert load_run(pytester.path / "ci" / "run.json")["gate"]["failures"] == the_run(pytester)["gate"]["failures"]


def test_gating_needs_a_baseline_and_known_rules(pytester: pytest.Pytester):
    shutil.copy(REPO / "claims" / "cross_encoder.toml", pytester.path / "cross_encoder.toml")
    no_baseline = pytester.runpytest_subprocess("cross_encoder.toml", "--collect-only", "-p", "no:cacheprovider",
                                                "--claims-fail-on", "lost")
    assert no_baseline.ret == pytest.ExitCode.USAGE_ERROR and "needs a baseline" in no_baseline.stderr.str()
    unknown = pytester.runpytest_subprocess("--collect-only", "-p", "no:cacheprovider", "--claims-fail-on", "slower")
    assert unknown.ret == pytest.ExitCode.USAGE_ERROR and "unknown rule 'slower'" in unknown.stderr.str()


def _change(verdicts: tuple[str, str], effects: tuple[float, float]) -> dict:
    before, after = ({"claim_id": "CE-3", "model": "m", "collection": "c", "verdict": v,
                      "comparisons": [{"label": "drop", "verdict": v, "effect": e}]} for v, e in zip(verdicts, effects))
    return compare_runs({"claims": [before]}, {"claims": [after]})


@pytest.mark.parametrize(("rules", "verdicts", "effects", "failed"), [
    ("contradicted", ("SUPPORTED", "CONTRADICTED"), (0.1, -0.5), []),  # decided per test, not against the baseline
    ("changed", ("SUPPORTED", "SUPPORTED"), (0.1, 0.9), []),
    ("changed", ("SUPPORTED", "INCONCLUSIVE"), (0.1, 0.1), ["changed"]),
    ("lost", ("CONTRADICTED", "SUPPORTED"), (0.1, 0.1), []),
    ("lost", ("SUPPORTED", "INCONCLUSIVE"), (0.1, 0.1), ["lost"]),
    ("changed,lost", ("SUPPORTED", "CONTRADICTED"), (0.1, 0.1), ["changed", "lost"]),
    ("effect:0.05", ("SUPPORTED", "SUPPORTED"), (0.10, 0.14), []),
    ("effect:0.05", ("SUPPORTED", "SUPPORTED"), (0.10, 0.16), ["effect"]),
    ("effect:50%", ("SUPPORTED", "SUPPORTED"), (0.10, 0.14), []),
    ("effect:50%", ("SUPPORTED", "SUPPORTED"), (-0.10, -0.16), ["effect"]),
    ("none", ("SUPPORTED", "CONTRADICTED"), (0.1, -0.9), []),
])
def test_each_rule_fails_on_what_it_names(rules, verdicts, effects, failed):
    gate = Gate.parse(rules)
    assert Gate.parse(gate.describe()) == gate
    assert [line.split(":")[0] for line in gate.failures(_change(verdicts, effects))] == failed


def test_the_run_says_which_suite_and_claim_files_decided_it(pytester: pytest.Pytester, tiny):
    shutil.copy(REPO / "claims" / "cross_encoder.toml", pytester.path / "cross_encoder.toml")
    once = ["cross_encoder.toml", "--claims-select", "CE-1", "--claims-fail-on", "none"]
    run(pytester, tiny, *once, "--claims-json", "first.json")
    first = load_run(pytester.path / "first.json")
    suite = first["environment"]["suite"]
    assert suite["version"] and len(suite["commit"]) == 40 and isinstance(suite["dirty"], bool)  # run from this checkout
    edited = pytester.path / "cross_encoder.toml"
    edited.write_text(edited.read_text().replace('title = "', 'title = "(edited) ', 1))
    second = run(pytester, tiny, *once, "--claims-compare", "first.json", "--claims-json", "second.json")
    (key,) = first["claim_files"]
    comparison = load_run(pytester.path / "second.json")["comparison"]
    assert list(comparison["claim_file_changes"]) == [key] and comparison["changes"][0]["claim_file_changed"]
    second.stdout.fnmatch_lines([f"*decided by a different claim file: {key} *"])
    assert compare_runs(first, first)["claim_file_changes"] == {}
