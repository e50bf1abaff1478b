"""``reports trend``: runs ordered by label (numbers as numbers, else natural order) or start time, folders read
whole, rows keyed by claim x target or, for a checkpoint series, claim x collection, a verdict change marked, every
string from the runs shown as text under the report's CSP, and a bad run one line with exit 2."""

from __future__ import annotations

import copy
import html
import json
import re
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest

from ranker_claims import cli
from ranker_claims.reports import __main__ as reports_main
from ranker_claims.reports.page import CSP, csp_hash
from ranker_claims.reports.trend import (
    group_rows,
    natural_key,
    order_runs,
    render_trend,
    run_paths,
)
from tests.conftest import build_example_run

PAYLOAD = "<script>alert(1)</script>\"'><img src=x onerror=alert(2)>"


def labelled(base: dict[str, Any], label: str | None, verdict: str = "SUPPORTED", measured: float = 0.668,
             started: str = "2026-11-22T07:15:00+00:00") -> dict[str, Any]:
    """A copy of ``base`` with this label, run id and start, CE-3 (its first result) given this verdict and value."""
    run = copy.deepcopy(base)
    run["run_id"] = f"run-{label or started}"
    run["started"] = started
    if label is not None:
        run["label"] = label
    claim = run["claims"][0]
    claim["verdict"] = verdict
    claim["comparisons"][0].update(measured=measured, ci=[measured - 0.03, measured + 0.03], verdict=verdict)
    return run


def save(run: dict[str, Any], path: Path) -> Path:
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(json.dumps(run), encoding="utf-8")
    return path


@pytest.fixture(scope="module")
def base() -> dict[str, Any]:
    run = build_example_run()
    run.pop("comparison")  # a run's own --claims-compare is not part of a trend
    return run


def test_numeric_labels_order_as_numbers(base):
    runs = [labelled(base, label) for label in ("100", "50", "1e3", "150.5")]
    ordered, how = order_runs(runs)
    assert [run["label"] for run in ordered] == ["50", "100", "150.5", "1e3"]
    assert how == "by label, as numbers"


def test_text_labels_order_naturally_and_unlabelled_runs_by_start(base):
    runs = [labelled(base, label) for label in ("step-100", "step-50", "Step-9", "step-1000")]
    ordered, how = order_runs(runs)
    assert [run["label"] for run in ordered] == ["Step-9", "step-50", "step-100", "step-1000"]
    assert "natural order" in how
    assert natural_key("ckpt-2") < natural_key("ckpt-10") < natural_key("ckpt-10b")
    mixed = [labelled(base, "50", started="2026-11-23T00:00:00+00:00"),
             labelled(base, None, started="2026-11-22T00:00:00Z"),
             labelled(base, "10", started="2026-11-24T00:00:00")]  # no zone: read as UTC
    ordered, how = order_runs(mixed)
    assert [run.get("label") for run in ordered] == [None, "50", "10"]
    assert how.startswith("by start time (not every run has a label")


def test_folders_give_their_runs_and_those_of_their_runs_folder(tmp_path, base):
    a = save(labelled(base, "1"), tmp_path / "series" / "a.json")
    b = save(labelled(base, "2"), tmp_path / "series" / "runs" / "b.json")
    save(labelled(base, "3"), tmp_path / "series" / ".hidden.json")
    c = save(labelled(base, "3"), tmp_path / "c.json")
    assert run_paths([tmp_path / "series", c, a]) == [a, b, c]  # a named twice counts once
    (tmp_path / "empty").mkdir()
    code = reports_main.main(["trend", str(tmp_path / "empty"), "-o", str(tmp_path / "t.html")])
    assert code == 2


def test_a_verdict_change_is_marked_once_where_it_happens(base):
    runs = [labelled(base, "50", "INCONCLUSIVE", 0.74), labelled(base, "100", "SUPPORTED", 0.70),
            labelled(base, "150", "SUPPORTED", 0.69)]
    page = render_trend(runs)
    assert page.count("changed, was INCONCLUSIVE") == 1  # in the table
    assert page.count('class="changed"') == 1  # the ring on the chart
    assert page.count('mark-changed"') == 1
    assert "1 with a verdict that changed" in page
    assert page.count("<svg") == len(base["claims"])  # one chart per claim x target


def test_a_checkpoint_series_is_keyed_by_claim_and_collection(base):
    runs = []
    for step in (50, 100):
        run = labelled(base, str(step))
        for claim in run["claims"]:
            claim["model"] = f"{claim['model']}@step-{step}"
        runs.append(run)
    rows, how = group_rows(runs)
    # The example measures CE-6 on two models in one run: those cannot be joined, so rows stay per target.
    assert len(rows) == len(base["claims"]) * 2 and how == "one row per claim x model x collection"
    for run in runs:
        run["claims"] = [c for c in run["claims"] if c["model"].startswith("castorini/")]
    rows, how = group_rows(runs)
    assert len(rows) == len(runs[0]["claims"]) and "claim x collection" in how
    assert all(None not in row.results for row in rows)
    assert len(group_rows(runs, "target")[0]) == 2 * len(rows)


def test_hostile_strings_are_shown_as_text(base):
    runs = []
    for step in ("1", "2"):
        run = labelled(base, PAYLOAD + step)
        run["run_id"] += PAYLOAD
        for claim in run["claims"]:
            claim.update(claim_id=claim["claim_id"] + PAYLOAD, model=claim["model"] + PAYLOAD,
                         title=PAYLOAD, collection=claim["collection"] + PAYLOAD)
            for comparison in claim["comparisons"]:
                comparison["label"] += PAYLOAD
        runs.append(run)
    page = render_trend(runs)
    assert page.count("<script") == 1  # the page's own
    assert "<img" not in page and "onerror=alert" not in page.replace("&lt;img src=x onerror=alert", "")
    assert "&lt;script&gt;alert(1)&lt;/script&gt;" in page
    assert "Could not render" not in page


def test_the_page_has_the_reports_csp_and_no_unsafe_inline_script(base):
    page = render_trend([labelled(base, "1"), labelled(base, "2")])
    meta = re.search(r'<meta http-equiv="Content-Security-Policy" content="([^"]*)">', page)
    assert meta is not None and html.unescape(meta.group(1)) == CSP
    script_src = re.search(r"script-src ([^;]*);", CSP)
    assert script_src is not None and "unsafe-inline" not in script_src.group(1)
    script = re.search(r"<script>(.*?)</script>", page, re.S)
    assert script is not None and script_src.group(1) == csp_hash(html.unescape(script.group(1)))
    assert re.findall(r"<script", page) == ["<script"] and re.findall(r"<style", page) == ["<style"]
    assert not re.search(r"\son[a-z]+=", page)  # no inline handler
    assert "http://" not in page and "https://" not in page


def test_one_run_renders_with_a_note(base):
    page = render_trend([labelled(base, "1")])
    assert "One run only" in page and page.count("<svg") == len(base["claims"])


def test_a_bad_run_is_one_line_and_exit_2(tmp_path, base, capsys):
    good = save(labelled(base, "1"), tmp_path / "good.json")
    bad = tmp_path / "bad.json"
    bad.write_text('{"schema": 1, "claims": "nope"}', encoding="utf-8")
    output = tmp_path / "trend.html"
    assert cli.main(["trend", str(good), str(bad), "-o", str(output)]) == 2
    err = capsys.readouterr().err
    assert err.startswith("error: ") and "bad.json" in err and err.count("\n") == 1
    assert not output.exists()


def test_the_subcommand_runs_as_a_module(tmp_path, base):
    paths = [save(labelled(base, label), tmp_path / "runs" / f"{label}.json") for label in ("100", "50")]
    output = tmp_path / "out" / "trend.html"
    done = subprocess.run([sys.executable, "-m", "ranker_claims.reports", "trend", str(paths[0]), str(tmp_path),
                           "-o", str(output)], capture_output=True, text=True, timeout=120, check=False)
    assert done.returncode == 0, done.stderr
    assert done.stdout.strip() == str(output)
    page = output.read_text(encoding="utf-8")
    assert "2 runs, ordered by label, as numbers" in page
    assert page.index("run-50") < page.index("run-100")
