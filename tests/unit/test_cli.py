"""The ``ranker-claims`` command line: README's claims tables are its output, and each subcommand does what it says
without building a model (``run`` is checked through the arguments it hands to pytest)."""

from __future__ import annotations

import copy
import csv
import io
import json
import re
import subprocess
import sys
from pathlib import Path

import pytest

from ranker_claims import cli
from ranker_claims.core.claims import ClaimsFileError, load_claims
from ranker_claims.core.runs import compare_runs, load_run, save_run
from ranker_claims.cross_encoder.measurements import MEASUREMENTS as CROSS_ENCODER
from tests.conftest import build_example_run

REPO = Path(__file__).resolve().parents[2]
README = REPO / "README.md"
ALL_IDS = [f"CE-{i}" for i in range(1, 13)] + [f"GR-{i}" for i in range(1, 13)]


def _readme_table(kind: str) -> str:
    text = README.read_text(encoding="utf-8")
    found = re.findall(rf"<!-- claims-table: {re.escape(kind)}[;\s].*?-->\n(.*?)\n<!-- /claims-table -->", text, re.S)
    assert len(found) == 1, f"README.md must hold one '<!-- claims-table: {kind} ... -->' block, found {len(found)}"
    return found[0].strip()


@pytest.mark.parametrize("kind", sorted(cli.KINDS))
def test_readme_claims_table_is_the_generated_one(kind):
    generated = cli.claims_markdown(kind)
    assert _readme_table(kind) == generated, (
        f"README.md's {kind} claims table differs from the claims files. Edit claims/*.toml (measures, decided_by, "
        f"params), not the table, and paste the output of `ranker-claims list --format markdown --kind {kind}` "
        f"between its '<!-- claims-table: {kind} ... -->' and '<!-- /claims-table -->' markers.")


def test_every_shipped_claim_says_what_it_measures_and_what_decides_it():
    for row in cli.claim_rows(cli.KINDS):
        assert row["measures"] and row["decided_by"], f"{row['id']}: declare measures and decided_by in its TOML entry"


def test_measures_must_be_text(tmp_path):
    text = (REPO / "claims" / "cross_encoder.toml").read_text()
    old = 'measures = "Document->Query ablated vs unablated"'
    assert text.count(old) == 1
    path = tmp_path / "cross_encoder.toml"
    path.write_text(text.replace(old, "measures = 3"))
    with pytest.raises(ClaimsFileError, match=re.escape("claim CE-2: measures must be a string, got int 3")):
        load_claims(path, CROSS_ENCODER)


# --------------------------------------------------------------------------- list


def _main(capsys, *argv: str) -> tuple[int, str, str]:
    code = cli.main(list(argv))
    out, err = capsys.readouterr()
    return code, out, err


def test_list_json_has_every_claim_with_its_measurement_and_params(capsys):
    code, out, _ = _main(capsys, "list", "--format", "json")
    rows = json.loads(out)
    assert code == 0
    assert [row["id"] for row in rows] == ALL_IDS
    ce1 = rows[0]
    assert ce1["kind"] == "cross-encoder" and ce1["measurement"] == "baseline_quality" and ce1["requires"] == []
    assert ce1["params"] == {"expected_gain_over_random": 0.33, "smallest_gain_over_random": 0.05}
    gr3 = next(row for row in rows if row["id"] == "GR-3")
    assert len(gr3["params"]["cells"]) == 27 and gr3["requires"] == ["GR-1"]  # JSON gives parameters in full


@pytest.mark.parametrize("kind, ids", [("cross-encoder", ALL_IDS[:12]), ("generative", ALL_IDS[12:])])
def test_list_kind_selects_its_claims(capsys, kind, ids):
    _, out, _ = _main(capsys, "list", "--format", "json", "--kind", kind)
    assert [row["id"] for row in json.loads(out)] == ids


def test_list_table_and_markdown(capsys):
    code, out, _ = _main(capsys, "list")
    lines = out.splitlines()
    assert code == 0 and lines[0].split() == ["id", "measurement", "requires", "declared", "parameters"]
    assert [line.split()[0] for line in lines[1:]] == ALL_IDS
    assert "CE-1   baseline_quality     -         expected_gain_over_random=0.33" in out
    assert "cells=[27 tables]" in out  # a long parameter is summarised
    _, markdown, _ = _main(capsys, "list", "--format", "markdown")
    assert markdown.count("| --- | --- | --- | --- |") == 2
    for kind in cli.KINDS:
        assert f"### {kind}\n\n{cli.claims_markdown(kind)}\n" in markdown
    rows = [line for line in markdown.splitlines() if line.startswith(("| CE-", "| GR-"))]
    assert [row.split(" | ")[0][2:] for row in rows] == ALL_IDS


def test_format_value():
    assert cli.format_value(True) == "true"
    assert cli.format_value("zero") == '"zero"'
    assert cli.format_value([1, 5, 10]) == "[1, 5, 10]"
    assert cli.format_value({"1": 0.4}) == "{1=0.4}"
    assert cli.format_value([{"label": "x" * 60}]) == "[1 table]"
    assert cli.format_value(list(range(40))) == "[40 values]"
    assert cli.format_value({"lexical": ["6/12"] * 9, "semantic": []}) == "{lexical=..., semantic=...}"


def test_list_runs_as_a_module_without_torch():
    done = subprocess.run([sys.executable, "-m", "ranker_claims.cli", "list", "--format", "json"],
                          capture_output=True, text=True, check=True, cwd=REPO.parent)
    assert [row["id"] for row in json.loads(done.stdout)] == ALL_IDS
    probe = ("import sys; from ranker_claims.cli import main; main(['list']); "
             "heavy = sorted(m for m in ('torch', 'transformers', 'pytest') if m in sys.modules); "
             "assert not heavy, heavy")
    subprocess.run([sys.executable, "-c", probe], check=True, capture_output=True, text=True)
    package = subprocess.run([sys.executable, "-m", "ranker_claims", "--help"], capture_output=True, text=True,
                             check=True)
    assert all(command in package.stdout for command in ("run", "report", "compare", "list"))


# --------------------------------------------------------------------------- compare


@pytest.fixture
def two_runs(tmp_path):
    """A baseline and a later run: CE-3's verdict and effect change, CE-4 is only in the baseline, a GR-1 result
    only in the later run."""
    run = build_example_run()
    run.pop("comparison")
    baseline = copy.deepcopy(run)
    baseline["run_id"] = "20261101T090000Z-a1b2"
    ce3 = baseline["claims"][0]
    assert ce3["claim_id"] == "CE-3"
    ce3["verdict"] = "INCONCLUSIVE"
    ce3["comparisons"][0].update(measured=0.741, effect=0.741 - 0.812, verdict="INCONCLUSIVE")
    run["claims"] = [claim for claim in run["claims"] if claim["claim_id"] != "CE-4"]
    run["claims"].append({**copy.deepcopy(run["claims"][0]), "claim_id": "GR-1", "model": "embedded:dsi-synthetic",
                          "collection": "embedded:synthetic-dsi"})
    run["options"]["seed"] = 1
    return save_run(baseline, tmp_path / "baseline.json"), save_run(run, tmp_path / "run.json")


def test_compare_table(capsys, two_runs):
    code, out, err = _main(capsys, "compare", *map(str, two_runs))
    assert code == 0 and err == ""
    lines = out.splitlines()
    assert lines[0].startswith("baseline 20261101T090000Z-a1b2 (")
    assert lines[0].endswith(": 10 matched, 1 with a changed verdict")
    header = next(line for line in lines if line.lstrip().startswith("claim"))
    assert header.split() == ["claim", "model", "collection", "verdict", "effect", "before", "after", "delta",
                              "headline"]
    ce3 = next(line for line in lines if " CE-3 " in line)
    assert ce3.startswith("*") and "INCONCLUSIVE -> SUPPORTED" in ce3
    assert "-0.0710" in ce3 and "-0.1440" in ce3 and "-0.0730" in ce3
    assert next(line for line in lines if " CE-4 " in line).startswith("-")
    gr1 = next(line for line in lines if " GR-1 " in line)
    assert gr1.startswith("+") and "(none) -> SUPPORTED" in gr1
    assert "  seed: 0 -> 1" in lines


def test_compare_csv(capsys, two_runs):
    code, out, _ = _main(capsys, "compare", *map(str, two_runs), "--format", "csv")
    rows = list(csv.DictReader(io.StringIO(out)))
    assert code == 0 and tuple(rows[0]) == cli.COMPARE_FIELDS
    ce3 = next(row for row in rows if row["claim_id"] == "CE-3")
    assert (ce3["status"], ce3["verdict_before"], ce3["verdict_after"]) == ("changed", "INCONCLUSIVE", "SUPPORTED")
    assert float(ce3["effect_delta"]) == pytest.approx(-0.073)
    assert {row["claim_id"]: row["status"] for row in rows if row["status"].startswith("only")} == {
        "CE-4": "only in baseline", "GR-1": "only in run"}


def test_compare_json_is_compare_runs(capsys, two_runs):
    code, out, _ = _main(capsys, "compare", *map(str, two_runs), "--format", "json")
    assert code == 0
    assert json.loads(out) == json.loads(json.dumps(compare_runs(*map(load_run, two_runs))))


def test_compare_refuses_a_file_that_is_not_a_run(capsys, two_runs, tmp_path):
    bad = tmp_path / "bad.json"
    bad.write_text("[]")
    code, out, err = _main(capsys, "compare", str(two_runs[0]), str(bad))
    assert code == 2 and out == ""
    assert err.startswith("error: ") and err.count("\n") == 1 and str(bad) in err
    code, _, err = _main(capsys, "compare", str(tmp_path / "missing.json"), str(two_runs[1]))
    assert code == 2 and "no such run file" in err


# --------------------------------------------------------------------------- report


def test_report_writes_the_page(capsys, two_runs, tmp_path):
    output = tmp_path / "page.html"
    code, out, _ = _main(capsys, "report", str(two_runs[1]), "-o", str(output))
    assert code == 0 and out.strip() == str(output)
    assert output.read_text(encoding="utf-8").lstrip().lower().startswith("<!doctype html")
    code, _, err = _main(capsys, "report", str(tmp_path / "missing.json"))
    assert code == 2 and err.startswith("error: ")


# --------------------------------------------------------------------------- run


def _run_args(*argv: str) -> list[str]:
    args, extra = cli.build_parser().parse_known_args(["run", *argv])
    return cli.pytest_args(args, extra)


def test_run_maps_its_options_and_runs_the_shipped_claims():
    assert _run_args() == ["--pyargs", "ranker_claims.claims"]
    assert _run_args("--json", "ci/run.json", "-k", "CE-3", "--select", "CE-1,GR-*", "-n", "2") == [
        "--claims-json", "ci/run.json", "--claims-select", "CE-1,GR-*", "-k", "CE-3", "-n", "2",
        "--pyargs", "ranker_claims.claims"]
    assert _run_args("--", "--help") == ["--help", "--pyargs", "ranker_claims.claims"]
    assert _run_args("--pyargs", "my_claims") == ["--pyargs", "my_claims"]


def test_run_with_a_test_path_runs_that(tmp_path):
    claims = tmp_path / "claims"
    claims.mkdir()
    (claims / "mine.toml").write_text("")
    model = tmp_path / "model"
    model.mkdir()
    (model / "config.json").write_text("{}")
    assert _run_args(str(claims), "-x") == [str(claims), "-x"]
    assert _run_args(f"{claims / 'mine.toml'}::test_claim") == [f"{claims / 'mine.toml'}::test_claim"]
    # a model folder given to an option is not a test path: the shipped claims still run
    assert _run_args("--claims-model", str(model)) == ["--claims-model", str(model), "--pyargs", "ranker_claims.claims"]


def test_run_returns_pytests_exit_code(monkeypatch):
    seen = []
    monkeypatch.setattr(pytest, "main", lambda args: seen.append(args) or pytest.ExitCode.TESTS_FAILED)
    assert cli.main(["run", "--select", "CE-1", "-q"]) == 1
    assert seen == [["--claims-select", "CE-1", "-q", "--pyargs", "ranker_claims.claims"]]


def test_run_help(capsys):
    with pytest.raises(SystemExit) as stop:
        cli.main(["run", "--help"])
    out = capsys.readouterr().out
    assert stop.value.code == 0
    assert "--json PATH" in out and "--select IDS" in out and "--claims-json" in out and "--claims-select" in out


def test_unknown_arguments_are_refused_outside_run(capsys):
    with pytest.raises(SystemExit) as stop:
        cli.main(["list", "-k", "CE-3"])
    assert stop.value.code == 2 and "unrecognized arguments: -k CE-3" in capsys.readouterr().err
