"""The report opens in a real browser (headless Debian Chromium) without console errors and,
at a 1400 px window, opens with the matrix and clips no table; the checks themselves can
fail: a deliberately broken or clipping page is reported."""

from __future__ import annotations

import json

import pytest

from ranker_claims.reports import write_report
from ranker_claims.reports.trend import write_trend
from tests.browser import check_renders, find_chromium

pytestmark = pytest.mark.skipif(
    find_chromium() is None,
    reason="Chromium not found (/usr/bin/chromium or chromium on PATH); `./setup.sh --tests` installs it with apt",
)


def test_report_renders_without_console_errors(tmp_path, example_run):
    path = write_report(example_run, tmp_path / "report.html")
    check = check_renders(path)
    assert check.console_errors == [], check.console_errors
    assert check.requests == []  # self-contained: nothing fetched besides the page
    assert check.ok and check.loaded
    assert check.title == "Claims report · 20261122T071500Z-3f2a"


# Every laid-out table that is wider than the box that holds it must be inside a container that
# scrolls; a table in a box that hides its overflow, or spilling out of a box that does not
# scroll, is clipped or overlaps the page. A cell whose content is wider than the cell spills
# over its neighbours. Returns the first section's id, each problem as text, and the widths
# of the tables that should fit without scrolling at this width.
LAYOUT_PROBE = """(function () {
  function holder(table) {
    for (var node = table.parentElement; node && node !== document.body; node = node.parentElement) {
      if (getComputedStyle(node).overflowX !== "visible") { return node; }
    }
    return null;
  }
  function name(element) {
    var card = element.closest("article, section");
    return element.tagName.toLowerCase() + "." + (element.className || "-") + " in #" + (card ? card.id : "?");
  }
  var problems = [], fitting = [];
  document.querySelectorAll("table").forEach(function (table) {
    if (!table.getClientRects().length) { return; }  // inside a closed <details>: not laid out
    var box = holder(table), width = table.getBoundingClientRect().width;
    if (box === null) {
      if (width > table.parentElement.clientWidth + 1) { problems.push(name(table) + " spills out of its parent"); }
    } else {
      var mode = getComputedStyle(box).overflowX;
      var scrolls = (mode === "auto" || mode === "scroll") && box.scrollWidth >= width - 1;
      if (width > box.clientWidth + 1 && !scrolls) { problems.push(name(table) + " is clipped by " + name(box)); }
      if (table.matches("table.summary, table.comparisons, table.changes, table.claims-matrix")) {
        fitting.push({table: name(table), width: Math.round(width), room: box.clientWidth});
      }
    }
    table.querySelectorAll("th, td").forEach(function (cell) {
      if (cell.scrollWidth > cell.clientWidth + 1) { problems.push("a cell of " + name(table) + " spills: " +
        cell.textContent.trim().slice(0, 60)); }
    });
  });
  var first = document.querySelector("main > section");
  return {first: first && first.id, problems: problems, fitting: fitting};
})()"""


def test_at_1400_px_the_matrix_comes_first_and_no_table_is_clipped(tmp_path, example_run):
    path = write_report(example_run, tmp_path / "report.html")
    check = check_renders(path, width=1400, probe=LAYOUT_PROBE)
    assert check.ok, check.console_errors
    assert check.probe["first"] == "matrix"
    assert check.probe["problems"] == []
    # The tables one reads across (verdicts, comparisons and their reasons, changes, the matrix)
    # fit the page at this width: their last columns are visible without scrolling.
    assert {entry["table"].split(" in ")[0] for entry in check.probe["fitting"]} == {
        "table.claims-matrix", "table.sortable summary", "table.sortable changes", "table.sortable comparisons"}
    assert [entry for entry in check.probe["fitting"] if entry["width"] > entry["room"] + 1] == []


def test_a_clipped_table_is_reported(tmp_path):
    wide = "<table><tr>" + "<td>a&nbsp;long&nbsp;unbreakable&nbsp;cell</td>" * 12 + "</tr></table>"
    page = tmp_path / "clipped.html"
    page.write_text(
        "<!DOCTYPE html><html><head><title>clipped</title></head><body><main>"
        f'<section id="first"><div style="overflow:hidden;width:600px">{wide}</div></section>'
        f'<section><div style="width:600px">{wide}</div></section>'
        f'<section><div style="overflow-x:auto;width:600px">{wide}</div></section>'
        '<section><table style="table-layout:fixed;width:120px"><tr><td style="white-space:nowrap">'
        "a cell far too narrow for this text</td></tr></table></section>"
        "</main></body></html>",
        encoding="utf-8",
    )
    check = check_renders(page, width=1400, probe=LAYOUT_PROBE)
    assert check.probe["first"] == "first"
    problems = check.probe["problems"]
    assert len([p for p in problems if " is clipped by div" in p]) == 1  # overflow hidden
    assert len([p for p in problems if "spills out of its parent" in p]) == 1  # no container at all
    assert any("a cell far too narrow" in p for p in problems)
    assert len(problems) == 3  # the table in the scrolling container is fine


def test_a_broken_page_is_reported(tmp_path):
    page = tmp_path / "broken.html"
    page.write_text(
        "<!DOCTYPE html><html><head><title>broken</title></head><body><p>hi</p>"
        '<script>console.log("just a log"); console.warn("just a warning"); console.error("boom");</script>'
        "<script>undefinedFunction();</script>"
        "<script>setTimeout(function () { console.error('late boom'); }, 50);</script>"
        "</body></html>",
        encoding="utf-8",
    )
    check = check_renders(page)
    assert not check.ok
    assert check.title == "broken"
    errors = "\n".join(check.console_errors)
    assert "boom" in errors
    assert "ReferenceError" in errors and "undefinedFunction" in errors
    assert "late boom" in errors  # errors after the load event are waited for
    assert "just a log" not in errors and "just a warning" not in errors  # levels are told apart
    assert any("just a warning" in w for w in check.warnings)


def test_a_page_that_fetches_something_is_reported(tmp_path):
    page = tmp_path / "fetching.html"
    page.write_text(
        '<!DOCTYPE html><html><head><title>fetching</title></head><body><img alt="" src="missing.png"></body></html>',
        encoding="utf-8",
    )
    check = check_renders(page)
    assert not check.ok
    assert any(url.endswith("/missing.png") for url in check.requests)
    assert any("missing.png" in e for e in check.console_errors)


# What a hostile run tries: each payload, if it ever ran, sets a global and the title.
BROWSER_PAYLOAD = ("<script>window.__pwned = 1; document.title = 'pwned'</script>\"'>"
                   "<img src=x onerror=\"window.__pwned = 2; document.title = 'pwned'\">"
                   "<svg onload=\"window.__pwned = 3\"></svg>")
OWN_SCRIPT_PROBE = """({
  pwned: window.__pwned === undefined ? null : window.__pwned,
  images: document.images.length,
  sortable: document.querySelectorAll("table.sortable").length,
  wired: Array.prototype.every.call(document.querySelectorAll("table.sortable thead th"),
                                   function (th) { return th.title === "Sort by this column" && th.tabIndex === 0; }),
  sorted: (function () {
    var th = document.querySelector("table.sortable thead th");
    th.click();
    return th.getAttribute("aria-sort");
  })()
})"""


def _poisoned_run(run):
    from tests.unit.test_report_escaping import poison_keys, poison_values

    # Every string value, and the keys of the run's free-form mappings (shown as they are).
    places = {("options",), ("environment",), ("environment", "packages"), ("claims", "[]", "options"),
              ("targets", "[]", "collection", "excluded")}
    return poison_keys(poison_values(run, BROWSER_PAYLOAD), places, payload=BROWSER_PAYLOAD)


def test_a_poisoned_run_renders_and_no_payload_runs(tmp_path, example_run):
    from tests.unit.test_report_escaping import gr_run

    for name, run in (("ce", example_run), ("gr", gr_run())):
        path = write_report(_poisoned_run(run), tmp_path / f"{name}.html")
        check = check_renders(path, probe=OWN_SCRIPT_PROBE)
        # Rendered, nothing fetched (an <img src=x> would be), no CSP refusal or other error
        # (the report's own script is allowed by its hash and runs: the headers are wired).
        assert check.ok and check.loaded, check.console_errors
        assert check.console_errors == [] and check.requests == []
        assert check.title == f"Claims report · {run['run_id']}{BROWSER_PAYLOAD}"  # the payload as text, unchanged
        assert check.probe["pwned"] is None and check.probe["images"] == 0
        assert check.probe["sortable"] > 0 and check.probe["wired"] and check.probe["sorted"] == "ascending"


def test_the_csp_stops_an_inline_script_that_got_into_the_page(tmp_path, example_run):
    # Second line of defence: were a payload ever to reach the page raw, the CSP (no
    # 'unsafe-inline' for scripts) keeps it from running, while the page's own script runs.
    page = write_report(example_run, tmp_path / "report.html")
    html = page.read_text(encoding="utf-8")
    injected = "<script>window.__pwned = 1</script><img alt=\"\" src=\"data:,\" onerror=\"window.__pwned = 2\">"
    page.write_text(html.replace("</main>", injected + "</main>", 1), encoding="utf-8")
    check = check_renders(page, probe=OWN_SCRIPT_PROBE)
    assert check.probe["pwned"] is None
    assert check.probe["wired"] and check.probe["sorted"] == "ascending"
    refusals = [e for e in check.console_errors if "Content Security Policy" in e]
    assert len(refusals) >= 1, check.console_errors


# What the trend page shows, read from the laid-out page: its header, the verdict table's rows and columns,
# the charts (an <svg> each, with a dot per run that has a value) and the rings marking a changed verdict.
TREND_PROBE = """({
  heading: document.querySelector("h1").textContent,
  sub: document.querySelector("header.top .sub").textContent,
  tally: document.querySelector("header.top .tally").textContent,
  rows: document.querySelectorAll("#verdicts tbody tr").length,
  columns: Array.prototype.map.call(document.querySelectorAll("#verdicts thead th"),
                                    function (th) { return th.innerText.replace(/\\s+/g, " "); }),
  svgs: document.querySelectorAll("svg").length,
  charts: document.querySelectorAll("#charts figure svg.trend").length,
  dots: document.querySelectorAll("svg.trend circle[r='5.5']").length,
  rings: document.querySelectorAll("svg.trend circle.changed").length,
  changedCells: Array.prototype.map.call(document.querySelectorAll("#verdicts td.mark-changed"),
                                         function (td) { return td.innerText.replace(/\\s+/g, " "); }),
  firstRow: document.querySelector("#verdicts tbody tr").innerText.replace(/\\s+/g, " ").trim(),
  dotColour: getComputedStyle(document.querySelector("svg.trend g.v-contradicted circle")).fill
})"""


def test_a_trend_of_three_runs_renders_its_charts(tmp_path, example_run, capsys):
    from tests.unit.test_trend import labelled

    del example_run["comparison"]
    runs = [labelled(example_run, "150", "CONTRADICTED", 0.79), labelled(example_run, "50", "INCONCLUSIVE", 0.74),
            labelled(example_run, "100", "SUPPORTED", 0.70)]
    path = write_trend(runs, tmp_path / "trend.html")
    check = check_renders(path, width=1400, probe=TREND_PROBE)
    shown = check.probe
    with capsys.disabled():
        print("\ntrend page in Chromium:", json.dumps(shown, indent=1, ensure_ascii=False))
    assert check.ok and check.loaded, check.console_errors
    assert check.console_errors == [] and check.requests == []  # no CSP refusal, nothing fetched
    assert check.title == "Claims trend · 3 runs"
    results = len(example_run["claims"])
    assert shown["rows"] == results and shown["charts"] == results and shown["svgs"] == results
    assert shown["dots"] == 3 * results
    assert [column.split(" ")[0] for column in shown["columns"]] == ["Claim", "50", "100", "150"]
    assert shown["rings"] == 2 and len(shown["changedCells"]) == 2  # INCONCLUSIVE -> SUPPORTED -> CONTRADICTED
    assert shown["dotColour"] == "rgb(164, 14, 38)"  # the report's --bad, through the verdict class
