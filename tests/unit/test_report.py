"""The HTML report: self-contained, escaped, complete, and re-renderable from a saved run."""

from __future__ import annotations

import copy
import subprocess
import sys
import types
from html.parser import HTMLParser
from pathlib import Path

import pytest

from reports import html as report
from reports.html import docstring_section, render_report, write_report
from suite.storage import load_run, save_run

ROOT = Path(__file__).resolve().parents[2]
XSS = "<script>alert(1)</script>"
VOID = {"area", "base", "br", "col", "embed", "hr", "img", "input", "link", "meta", "source", "track", "wbr"}
SVG_SELF_CLOSING = {"rect", "path", "line", "circle"}


class _Page(HTMLParser):
    """Collects tags, attributes and text, and checks that elements nest properly."""

    def __init__(self) -> None:
        super().__init__(convert_charrefs=True)
        self.stack: list[str] = []
        self.problems: list[str] = []
        self.tags: list[tuple[str, dict[str, str | None]]] = []
        self.text: list[str] = []
        self.scripts: list[str] = []
        self.styles: list[str] = []
        self._in: str | None = None

    def handle_starttag(self, tag, attrs):
        self.tags.append((tag, dict(attrs)))
        if tag not in VOID:
            self.stack.append(tag)
        self._in = tag if tag in ("script", "style") else None

    def handle_startendtag(self, tag, attrs):
        self.tags.append((tag, dict(attrs)))

    def handle_endtag(self, tag):
        if tag in VOID:
            return
        if not self.stack or self.stack[-1] != tag:
            self.problems.append(f"</{tag}> closes {self.stack[-1:] or 'nothing'}")
            return
        self.stack.pop()
        self._in = None

    def handle_data(self, data):
        if self._in == "script":
            self.scripts.append(data)
        elif self._in == "style":
            self.styles.append(data)
        else:
            self.text.append(data)


def _parse(page: str) -> _Page:
    parser = _Page()
    parser.feed(page)
    parser.close()
    return parser


@pytest.fixture
def page(example_run) -> str:
    return render_report(example_run)


def test_report_is_well_formed_html(page):
    parsed = _parse(page)
    assert page.startswith("<!DOCTYPE html>")
    assert parsed.problems == []
    assert parsed.stack == []
    assert any(tag == "title" for tag, _ in parsed.tags)


def test_report_is_self_contained(page):
    parsed = _parse(page)
    lowered = page.lower()
    assert "http://" not in lowered and "https://" not in lowered and "//" not in "".join(parsed.styles)
    assert " src=" not in lowered and "src=" not in lowered
    assert "@import" not in lowered and "url(" not in lowered
    for tag, attrs in parsed.tags:
        assert tag not in ("link", "img", "iframe", "object", "embed", "base", "form"), tag
        href = attrs.get("href")
        assert href is None or href.startswith("#"), href  # only in-page anchors
    # One script, ours; CSP forbids any fetch.
    assert len(parsed.scripts) == 1 and "fetch(" not in parsed.scripts[0] and "XMLHttpRequest" not in parsed.scripts[0]
    csp = next(attrs for tag, attrs in parsed.tags if tag == "meta" and attrs.get("http-equiv") == "Content-Security-Policy")
    assert "default-src 'none'" in csp["content"]


def test_report_shows_every_claim_verdict_and_the_setup(page, example_run):
    text = " ".join(_parse(page).text)
    for claim in example_run["claims"]:
        assert claim["claim_id"] in text
        assert claim["title"] in text
        assert claim["statement"] in text
    for css, verdict in (("v-supported", "SUPPORTED"), ("v-inconclusive", "INCONCLUSIVE")):
        assert f'<span class="badge {css}">{verdict}</span>' in page
    # Summary: one row per claim result, linking to its card.
    for index in range(len(example_run["claims"])):
        assert f'href="#claim-{index}"' in page and f'id="claim-{index}"' in page
    # Header: run, model hash, collection counts, excluded queries with reasons, options, versions.
    assert "20261122T071500Z-3f2a" in text
    assert "9f2c4e1b0000" in text and "castorini/monobert-large-msmarco" in text
    assert "2 excluded" in text and "no passage judged relevant (grade >= 2)" in text and "1110199" in text
    assert "X->Y: information flows from X to Y (tokens of Y attend to tokens of X)" in text
    assert "pre-softmax" in text and "masked before the softmax" in text
    assert "2.13.0" in text and "transformers" in text
    # Cards: comparisons with CI, effect size, test, raw and corrected p (named), n, power.
    assert "[0.637, 0.697]" in text and "d_z" in text and "paired t" in text
    assert "p (holm)" in text and "p (raw)" in text
    assert "Table 1" in text and "arXiv:2507.14604" in text


def test_direction_table_is_an_svg_heatmap_with_stars_and_paper_values(example_run):
    claim = next(c for c in example_run["claims"] if c["claim_id"] == "CE-5")
    figure = report.render_figure("direction_table", claim["figures"]["direction_table"], claim)
    parsed = _parse(figure)
    rects = [attrs for tag, attrs in parsed.tags if tag == "rect"]
    assert len(rects) == 25
    fills = {attrs["fill"] for attrs in rects}
    assert len(fills) > 5  # coloured by the drop, not uniformly
    table = claim["figures"]["direction_table"]
    stars = sum(cell for row in table["significant"] for cell in row)
    svg = figure[figure.index("<svg"): figure.index("</svg>")]
    assert stars > 0 and svg.count("*</text>") == stars
    assert "source (X)" in figure and "target (Y)" in figure
    assert table["convention"] in " ".join(parsed.text)
    assert "paper 0.67" in figure and "paper 0.81" in figure
    assert "0.812" in figure  # the baseline the colours are centred at
    # The biggest drop gets the strongest red, no drop stays neutral.
    assert report.diverging(-0.31, 0.31)[0] == "#b2182b"
    assert report.diverging(0.0, 0.31)[0] == "#f7f7f7"
    assert report.diverging(0.31, 0.31)[0] == "#2166ac"


def test_direction_table_follows_the_attend_convention_in_its_axis_names(example_run):
    claim = next(c for c in example_run["claims"] if c["claim_id"] == "CE-5")
    table = dict(claim["figures"]["direction_table"], convention="X->Y: tokens of X attend to tokens of Y (information flows from Y to X)")
    figure = report.render_figure("direction_table", table, claim)
    assert "attending (X)" in figure and "attended to (Y)" in figure and "source (X)" not in figure


def test_unknown_and_malformed_figures_still_show_their_data(example_run):
    page = render_report(example_run)
    assert "future_kind" in page and "no renderer yet" in page  # no renderer: generic view
    broken = copy.deepcopy(example_run)
    broken["claims"][2]["figures"]["direction_table"]["values"] = [[0.5, 0.4]]  # not 5x5
    page = render_report(broken)
    assert "Could not draw this figure" in page and "CE-5" in page
    assert _parse(page).problems == []


def test_a_figure_kind_is_one_registered_function(example_run, monkeypatch):
    monkeypatch.setitem(report.FIGURE_RENDERERS, "future_kind", lambda data, claim: f"<p>bins: {len(data['bins'])}</p>")
    assert "<p>bins: 3</p>" in render_report(example_run)


def test_everything_from_the_run_is_escaped(example_run):
    run = copy.deepcopy(example_run)
    run["run_id"] = XSS
    run["options"]["direction_convention"] = XSS
    run["options"][XSS] = XSS
    run["environment"]["packages"][XSS] = XSS
    target = run["targets"][0]
    target["model"]["id"] = XSS
    target["model"]["weights_sha256"] = XSS
    target["collection"]["id"] = XSS
    target["collection"]["excluded"][XSS] = XSS
    for claim in run["claims"]:
        claim.update(model=XSS, collection=XSS, statement=XSS, title=XSS, citation=XSS, paper=XSS, reason=XSS)
        claim["options"][XSS] = XSS
        claim["comparisons"][0].update(label=XSS, test=XSS, reason=XSS, effect_size_name=XSS, details={XSS: XSS})
    table = run["claims"][2]["figures"]["direction_table"]
    table["parts"][0] = XSS
    table["convention"] = XSS
    run["claims"][2]["figures"][XSS] = {XSS: [XSS]}
    run["comparison"]["changes"][0].update(claim_id=XSS, model_after=XSS, verdict_before=XSS)
    run["comparison"]["baseline_path"] = XSS
    run["method_checks"][0].update(name=XSS, detail=XSS, figures={XSS: XSS})
    page = render_report(run)
    assert XSS not in page
    assert "<script>" not in page.replace("<script>\n(function", "")  # only our own script opens
    assert page.count("<script") == 1
    assert "&lt;script&gt;alert(1)&lt;/script&gt;" in page
    assert page.count("&lt;script&gt;alert(1)&lt;/script&gt;") > 20
    assert _parse(page).problems == []


def test_comparison_and_method_check_sections(page, example_run):
    text = " ".join(_parse(page).text)
    assert 'id="comparison"' in page and "1 verdict change" in text
    assert '<tr class="changed">' in page and "changed" in text
    assert "-0.073" in text  # CE-3's measured and effect shift against the baseline
    assert "Only in the baseline" in text and "CE-2" in text
    assert 'id="method-checks"' in page and "1 of 2" in text and "PASS" in text and "FAIL" in text
    assert "rejection_rate" in text and "0.047" in text

    plain = dict(example_run)
    del plain["comparison"], plain["method_checks"]
    bare = render_report(plain)
    assert 'id="comparison"' not in bare and 'id="method-checks"' not in bare


def test_an_empty_or_odd_run_still_renders():
    from suite.storage import new_run

    run = new_run({}, {})
    page = render_report(run)
    assert "no claim results in this run" in page and _parse(page).problems == []
    run["claims"].append({"claim_id": "X-1", "model": "m", "collection": "c", "verdict": "SOMETHING NEW",
                          "comparisons": [{"label": "l", "measured": float("nan"), "ci": None, "p_corrected": None}],
                          "figures": {"direction_table": "not a table"}})
    page = render_report(run)
    assert "X-1" in page and "SOMETHING NEW" in page and "NaN" in page
    assert _parse(page).problems == []


def test_unfinished_run_is_flagged(example_run):
    example_run["finished"] = None
    assert "has no finish time" in render_report(example_run)
    example_run["interrupted"] = True
    assert "was interrupted" in render_report(example_run)


def test_verdict_rules_come_from_suite_stats_or_are_not_invented(example_run, monkeypatch):
    fake = types.ModuleType("suite.stats")
    fake.__doc__ = """Statistics of claims.

    Verdict rules
    -------------
    A superiority comparison is SUPPORTED when p_corrected < alpha & its effect has the claimed sign.
    Otherwise INCONCLUSIVE when power < min_power.

    Corrections
    -----------
    Holm by default.
    """
    monkeypatch.setitem(sys.modules, "suite.stats", fake)
    page = render_report(example_run)
    assert "A superiority comparison is SUPPORTED when p_corrected &lt; alpha &amp; its effect" in page
    assert "Holm by default" not in page  # the next section is not part of the rules

    fake.__doc__ = "Statistics without a rules section."
    assert "not available (or has no" in render_report(example_run)
    monkeypatch.setitem(sys.modules, "suite.stats", None)  # import fails
    page = render_report(example_run)
    assert "not available (or has no" in page and "SUPPORTED when" not in page


@pytest.mark.parametrize(
    ("doc", "expected"),
    [
        ("Intro.\n\nVerdict rules\n=============\nRule one.\n  indented two.\n\nNext\n----\nx", "Rule one.\n  indented two."),
        ("Intro.\n\nVerdict rules: rule on the heading line.\nMore.\n", "rule on the heading line.\nMore."),
        ("Intro.\n\n## Verdict rules\nA.\n## Other\nB.", "A."),
        ("Intro.\n\nVerdict rules\n\n    SUPPORTED if ...\n# Other\nB.", "SUPPORTED if ..."),
        ("No rules here.", None),
    ],
)
def test_docstring_section(doc, expected):
    assert docstring_section(doc, "Verdict rules") == expected


def test_write_report_and_rerender_from_the_command_line(tmp_path, example_run):
    written = write_report(example_run, tmp_path / "out" / "report.html")
    assert written.read_text(encoding="utf-8") == render_report(example_run)

    run_path = save_run(example_run, tmp_path / "runs" / "run.json")
    target = tmp_path / "again.html"
    result = subprocess.run(
        [sys.executable, "-m", "reports", str(run_path), "-o", str(target)],
        cwd=ROOT, capture_output=True, text=True, timeout=120,
    )
    assert result.returncode == 0, result.stderr
    assert result.stdout.strip() == str(target)
    assert target.read_text(encoding="utf-8") == render_report(load_run(run_path))

    default = subprocess.run([sys.executable, "-m", "reports", str(tmp_path)], cwd=ROOT, capture_output=True, text=True, timeout=120)
    assert default.returncode == 0 and default.stdout.strip() == str(run_path.with_suffix(".html"))

    (tmp_path / "not-a-run.json").write_text('{"hello": 1}')
    bad = subprocess.run([sys.executable, "-m", "reports", str(tmp_path / "not-a-run.json")], cwd=ROOT,
                         capture_output=True, text=True, timeout=120)
    assert bad.returncode == 2 and "not a claims run" in bad.stderr
