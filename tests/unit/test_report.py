"""The HTML report: self-contained, escaped, complete, and re-renderable from a saved run."""

from __future__ import annotations

import copy
import statistics
import subprocess
import sys
import types
from html.parser import HTMLParser
from pathlib import Path

import pytest

from ranker_claims.core.docstrings import docstring_section
from ranker_claims.core.runs import load_run, new_run, save_run
from ranker_claims.reports import render_report, write_report
from ranker_claims.reports.figures import FIGURE_RENDERERS, render_figure
from ranker_claims.reports.svg import BLUE, GREY, diverging

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
    figure = render_figure("direction_table", claim["figures"]["direction_table"], claim)
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
    assert diverging(-0.31, 0.31)[0] == "#b2182b"
    assert diverging(0.0, 0.31)[0] == "#f7f7f7"
    assert diverging(0.31, 0.31)[0] == "#2166ac"


def test_direction_table_follows_the_attend_convention_in_its_axis_names(example_run):
    claim = next(c for c in example_run["claims"] if c["claim_id"] == "CE-5")
    table = dict(claim["figures"]["direction_table"], convention="X->Y: tokens of X attend to tokens of Y (information flows from Y to X)")
    figure = render_figure("direction_table", table, claim)
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
    monkeypatch.setitem(FIGURE_RENDERERS, "future_kind", lambda data, claim: f"<p>bins: {len(data['bins'])}</p>")
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


def test_verdict_rules_are_the_ones_the_run_recorded_never_todays(example_run, monkeypatch):
    example_run["verdict_rules"] = "SUPPORTED when p_corrected < alpha & the effect has the claimed sign.\n  Indented."
    fake = types.ModuleType("ranker_claims.core.stats")
    fake.__doc__ = "Statistics.\n\nVerdict rules\n-------------\nToday's rules, not the run's.\n"
    monkeypatch.setitem(sys.modules, "ranker_claims.core.stats", fake)  # what is installed now must not matter
    page = render_report(example_run)
    section = page[page.index('<section id="rules">'):]
    assert "SUPPORTED when p_corrected &lt; alpha &amp; the effect has the claimed sign.\n  Indented." in section
    assert "As recorded in this run" in section and "Today&#x27;s rules" not in page

    example_run["verdict_rules"] = None  # recorded, but there was nothing to record
    section = render_report(example_run).split('<section id="rules">')[1]
    assert "recorded no verdict rules" in section and "Today" not in section

    del example_run["verdict_rules"]  # a run made before runs recorded their rules
    section = render_report(example_run).split('<section id="rules">')[1]
    assert "did not record its verdict rules" in section and "older version" in section
    assert "Today" not in section and '<div class="rules">' not in section


def test_a_new_run_records_the_verdict_rules_its_report_shows():
    run = new_run({}, {})
    assert run["verdict_rules"] and "SUPPORTED" in run["verdict_rules"]
    section = render_report(run).split('<section id="rules">')[1]
    assert '<div class="rules">' in section and "As recorded in this run" in section


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
        [sys.executable, "-m", "ranker_claims.reports", str(run_path), "-o", str(target)],
        cwd=ROOT, capture_output=True, text=True, timeout=120,
    )
    assert result.returncode == 0, result.stderr
    assert result.stdout.strip() == str(target)
    assert target.read_text(encoding="utf-8") == render_report(load_run(run_path))

    default = subprocess.run([sys.executable, "-m", "ranker_claims.reports", str(tmp_path)], cwd=ROOT, capture_output=True, text=True, timeout=120)
    assert default.returncode == 0 and default.stdout.strip() == str(run_path.with_suffix(".html"))

    (tmp_path / "not-a-run.json").write_text('{"hello": 1}')
    bad = subprocess.run([sys.executable, "-m", "ranker_claims.reports", str(tmp_path / "not-a-run.json")], cwd=ROOT,
                         capture_output=True, text=True, timeout=120)
    assert bad.returncode == 2 and "not a claims run" in bad.stderr


# --------------------------------------------------------------------------- attention-head figures

HEAD_KINDS = ("head_heatmap", "head_depths", "alignment", "layer_profile", "decomposition", "ablated_heads")


def _figures(run, model=None):
    """(claim, kind, data) for every head figure in the run (of ``model`` when given)."""
    return [
        (claim, kind, data)
        for claim in run["claims"]
        for kind, data in claim["figures"].items()
        if kind in HEAD_KINDS and (model is None or claim["model"] == model)
    ]


def _drawn(kind, data, claim) -> tuple[str, _Page]:
    figure = render_figure(kind, data, claim)
    assert "Could not draw" not in figure and "generic" not in figure, figure[:400]
    parsed = _parse(figure)
    assert parsed.problems == [] and parsed.stack == []
    assert figure.count("<svg") >= 1 and figure.count("<svg") == figure.count("</svg>")
    assert "<details>" in figure  # the numbers, collapsed below the figure
    return figure, parsed


def _tags(parsed: _Page, name: str) -> list[dict]:
    return [attrs for tag, attrs in parsed.tags if tag == name]


def test_the_example_run_has_every_head_figure_kind_on_a_6x12_model(example_run):
    small = next(t["model"] for t in example_run["targets"] if (t["model"]["layers"], t["model"]["heads"]) == (6, 12))
    kinds = {kind for _, kind, _ in _figures(example_run, small["id"])}
    assert kinds == set(HEAD_KINDS)
    for claim, kind, data in _figures(example_run):
        _drawn(kind, data, claim)


def test_head_heatmap_draws_two_layer_by_head_panels_with_significant_heads_marked(example_run):
    claim, _, data = next(f for f in _figures(example_run) if f[1] == "head_heatmap" and f[2]["layers"] == 6)
    figure, parsed = _drawn("head_heatmap", data, claim)
    text = " ".join(parsed.text)
    assert "Query->Document" in text and "Document->Query" in text and data["title"] in text
    assert "head →" in text and "← layer" in text and "Cohen's d_z" in text and "holm" in text
    significant = sum(cell for s in data["statistics"].values() for row in s["significant"] for cell in row)
    rects = _tags(parsed, "rect")
    assert len(rects) == 2 * 6 * 12 + significant  # one per head and panel, plus an outline per significant head
    assert sum(1 for r in rects if r.get("fill") == "none" and r.get("stroke")) == significant > 0
    assert figure.count(">*</text>") == significant
    fills = {r["fill"] for r in rects if r.get("fill") != "none"}
    assert len(fills) > 20  # coloured by the effect, not uniformly
    # Diverging around 0: the strongest positive effect is the palette's blue end.
    largest = max(v for s in data["statistics"].values() for row in s["effect"] for v in row)
    assert diverging(largest, largest)[0] == "#2166ac"
    for layer in range(6):
        assert f">{layer}</text>" in figure
    assert "of 72 heads" in text  # significant heads are listed under the figure


def test_head_heatmap_stays_legible_for_bert_large(example_run):
    claim, _, data = next(f for f in _figures(example_run) if f[1] == "head_heatmap" and f[2]["layers"] == 24)
    _figure, parsed = _drawn("head_heatmap", data, claim)
    svgs = [attrs for tag, attrs in parsed.tags if tag == "svg"]
    assert len(svgs) == 2
    for svg in svgs:  # two panels side by side fit a 1,240 px page
        assert int(svg["width"]) <= 520 and 300 <= int(svg["height"]) <= 460
    rects = [r for r in _tags(parsed, "rect") if r.get("fill") != "none"]
    assert len(rects) == 2 * 24 * 16
    assert min(float(r["width"]) for r in rects) >= 20 and min(float(r["height"]) for r in rects) >= 12
    ticks = [t for t in parsed.text if t.strip().isdigit()]
    assert {str(i) for i in range(24)} <= set(ticks)  # every layer labelled
    assert {str(i) for i in range(16)} <= set(ticks)  # every head labelled


def test_head_depths_puts_one_dot_per_head_on_a_layer_axis(example_run):
    claim, _, data = next(f for f in _figures(example_run) if f[1] == "head_depths")
    _figure, parsed = _drawn("head_depths", data, claim)
    text = " ".join(parsed.text)
    assert "lexical heads" in text and "semantic heads" in text and "layer (0 = first of 6)" in text
    assert "median layer" in text
    assert len(_tags(parsed, "circle")) == len(data["lexical"]) + len(data["semantic"])
    for kind in ("lexical", "semantic"):
        median = statistics.median(layer for layer, _ in data[kind])
        assert f"{kind} {median:g} (relative depth {median / 5:.2f})" in text
    # A layer with many heads shows its count instead of an endless stack.
    crowded = render_figure("head_depths", {"lexical": [[1, h] for h in range(12)], "semantic": [[4, 0]], "layers": 6}, claim)
    assert "Could not draw" not in crowded and ">12↑</text>" in crowded
    assert crowded.count("<circle") == 8 + 1


def test_alignment_heatmap_outlines_matching_heads_and_summarises_both_groups(example_run):
    claim, _, data = next(f for f in _figures(example_run) if f[1] == "alignment")
    _figure, parsed = _drawn("alignment", data, claim)
    text = " ".join(parsed.text)
    matching = sum(cell for row in data["matching"] for cell in row)
    rects = _tags(parsed, "rect")
    outlines = [r for r in rects if r.get("fill") == "none"]
    assert len(outlines) == matching > 0
    assert "matching" in text and "other heads" in text and f"n = {matching}" in text and f"n = {72 - matching}" in text
    assert "alignment" in text and "median matching" in text
    assert len(_tags(parsed, "circle")) == 72  # every head once in the summary


def test_layer_profile_draws_one_small_chart_per_statistic(example_run):
    claim, _, data = next(f for f in _figures(example_run) if f[1] == "layer_profile")
    _figure, parsed = _drawn("layer_profile", data, claim)
    text = " ".join(parsed.text)
    for title in ("attention of text tokens to [CLS]", "attention of text tokens to [SEP]",
                  "[CLS] attention entropy (nats)", "[CLS] attention to [SEP]"):
        assert title in text
    assert "relevant pairs" in text and "hard negatives" in text and "easy negatives" in text and "layer →" in text
    assert len(_tags(parsed, "polyline")) == 4 * 3
    assert len({p["stroke"] for p in _tags(parsed, "polyline")}) == 3

    # Groups and statistics may be missing; gaps (None) break a line instead of failing.
    partial = copy.deepcopy(data)
    for series in partial["statistics"].values():
        del series["hard"]
    del partial["statistics"]["cls_to_sep"]
    partial["statistics"]["sep_mass"]["easy"][2] = None
    _figure, parsed = _drawn("layer_profile", partial, claim)
    text = " ".join(parsed.text)
    assert "hard negatives" not in text.replace("No hard negatives", "") and "No hard negatives in this run" in text
    assert "[CLS] attention to [SEP]" not in text
    assert len(_tags(parsed, "polyline")) == 3 * 2 + 1  # the easy [SEP] line is split at its gap


def test_decomposition_bars_are_labelled_by_head_in_two_colours(example_run):
    claim, _, data = next(f for f in _figures(example_run) if f[1] == "decomposition")
    _figure, parsed = _drawn("decomposition", data, claim)
    text = " ".join(parsed.text)
    for layer, head in data["heads"] + data["controls"]:
        assert f"{layer}/{head}" in parsed.text
    bars = list(_tags(parsed, "rect"))
    assert len(bars) == len(data["heads"]) + len(data["controls"])
    assert {r["fill"] for r in bars} == {BLUE, GREY}
    assert "matching heads" in text and "control heads" in text and "share (R²)" in text


def test_ablated_heads_shows_the_matching_set_on_a_grid_and_lists_the_random_sets(example_run):
    claim, _, data = next(f for f in _figures(example_run) if f[1] == "ablated_heads")
    figure, parsed = _drawn("ablated_heads", data, claim)
    text = " ".join(parsed.text)
    assert figure.count(">●</text>") == len(data["matching"])
    assert sum(1 for r in _tags(parsed, "rect") if r.get("fill") == BLUE) == len(data["matching"])
    assert f"The {len(data['random_sets'])} random head sets" in text
    for head_set in data["random_sets"]:
        assert ", ".join(f"{l}/{h}" for l, h in head_set) in text
    alone = render_figure("ablated_heads", {"matching": [[2, 3]], "random_sets": [], "layers": 6, "heads": 12}, claim)
    assert "Could not draw" not in alone and "<svg" in alone and "The 0 random head sets" in alone


@pytest.mark.parametrize(
    ("kind", "data"),
    [
        ("head_heatmap", {"statistics": {"Query->Document": {"effect": [[0.1, 0.2], [0.3]]}}}),  # ragged
        ("head_heatmap", {"statistics": {}}),
        ("head_heatmap", {"layers": 3, "statistics": {"Q->D": {"effect": [[0.1], [0.2]]}}}),  # layers disagree
        ("head_heatmap", {"statistics": {"a": {"effect": [[0.1]]}, "b": {"effect": [[0.1, 0.2]]}}}),  # shapes disagree
        ("head_depths", {"lexical": [[1]], "semantic": []}),
        ("head_depths", {"lexical": [[7, 0]], "semantic": [], "layers": 6}),  # deeper than the model
        ("alignment", {"values": "not a grid"}),
        ("alignment", {"values": [[0.1, 0.2]], "matching": [[True]]}),
        ("layer_profile", {"layers": 6, "statistics": {"cls_mass": {"relevant": [0.1, 0.2]}}}),
        ("layer_profile", {"statistics": "nothing"}),
        ("decomposition", {"heads": [[0, 1]], "controls": [[0, 2]], "mean_share": [0.5]}),
        ("decomposition", {"heads": [["a", 1]], "controls": [], "mean_share": [0.5]}),
        ("ablated_heads", {"matching": [], "random_sets": []}),
        ("ablated_heads", {"matching": [[0, 1]], "random_sets": "x"}),
        ("head_heatmap", None),
        ("ablated_heads", [1, 2, 3]),
    ],
)
def test_odd_head_figure_data_falls_back_to_its_data(kind, data):
    figure = render_figure(kind, data, {"correction": "holm", "alpha": 0.05})
    assert "Could not draw this figure" in figure and f"<code>{kind}</code>" in figure
    assert _parse(figure).problems == []


def test_head_figures_tolerate_missing_optional_parts(example_run):
    claim = {}
    heatmap = render_figure("head_heatmap", {"statistics": {"Query->Document": {"effect": [[0.5, float("nan")], [None, -0.2]]}}}, claim)
    assert "Could not draw" not in heatmap and "<svg" in heatmap and "NaN" in heatmap  # no significance, no title
    alignment = render_figure("alignment", {"values": [[0.5, -0.1], [0.2, 0.9]]}, claim)
    assert "Could not draw" not in alignment and "<svg" in alignment
    depths = render_figure("head_depths", {"lexical": [[0, 1], [1, 2]], "semantic": []}, claim)
    assert "Could not draw" not in depths and "no semantic heads" in depths and "first of 2" in depths
    shares = render_figure("decomposition", {"heads": [[0, 1]], "controls": [], "mean_share": [None]}, claim)
    assert "Could not draw" not in shares and "<svg" in shares


def test_head_figures_escape_everything_from_the_run(example_run):
    run = copy.deepcopy(example_run)
    for claim, kind, data in _figures(run):
        if kind == "head_heatmap":
            data["title"] = XSS
            data["negative"] = XSS
            data["statistics"][XSS] = data["statistics"].pop("Query->Document")
        elif kind == "layer_profile":
            data["statistics"][XSS] = {XSS: [0.1] * data["layers"]}
            data["statistics"]["cls_mass"][XSS] = [0.2] * data["layers"]
        elif kind == "decomposition":
            data["mean_share"][0] = XSS
        elif kind == "alignment":
            data["values"][0][0] = XSS
        claim["correction"] = XSS
    page = render_report(run)
    assert XSS not in page and page.count("<script") == 1
    assert "&lt;script&gt;alert(1)&lt;/script&gt;" in page
    assert "Could not draw" not in page
    assert _parse(page).problems == []


def test_each_claim_shows_its_unit_of_analysis_and_n_and_flags_few_units(example_run):
    run = copy.deepcopy(example_run)
    claim = run["claims"][0]
    for c in claim["comparisons"]:
        c["n"], c.setdefault("details", {})["unit"] = 40, "queries"
    claim["comparisons"][0]["details"]["decides"] = True
    card = _card_of(render_report(run), claim["claim_id"])
    assert "Unit of analysis" in card and "queries, n = 40" in card and "few-units" not in card
    for c in claim["comparisons"]:
        c["n"] = 3
    card = _card_of(render_report(run), claim["claim_id"])
    assert "queries, n = 3" in card and "fewer than 25 queries" in card
    # Comparisons only reported beside the deciding ones do not count.
    claim["comparisons"][0]["n"] = 200
    for c in claim["comparisons"][1:]:
        c["details"]["decides"] = False
    if len(claim["comparisons"]) > 1:
        assert "queries, n = 200" in _card_of(render_report(run), claim["claim_id"])


def _card_of(page: str, claim_id: str) -> str:
    start = page.index(f'<span class="cid">{claim_id}</span>')
    return page[start : page.index("</article>", start)]


def test_each_claim_shows_its_wall_time_in_its_card_and_a_sortable_column(example_run):
    run = copy.deepcopy(example_run)
    first, second = run["claims"][0], run["claims"][1]
    first["seconds"], second["seconds"] = 12.34, 192.0
    page = render_report(run)
    assert "Measured in</dt><dd>12.3 s" in _card_of(page, first["claim_id"])
    assert "Measured in</dt><dd>3.2 min" in _card_of(page, second["claim_id"])
    assert 'title="wall time of the claim\'s measurement">Time</th>' in page
    assert '<td class="num" data-sort="192.0">3.2 min</td>' in page
    del first["seconds"]  # a run from before wall times were kept
    assert "Measured in</dt><dd>—" in _card_of(render_report(run), first["claim_id"])


def test_a_unit_of_analysis_from_the_run_is_escaped_in_the_card_and_the_summary(example_run):
    """A shared run is anyone's input: its unit lands in two places, escaped in both (issue 24's first row)."""
    run = copy.deepcopy(example_run)
    payload = "<img src=x onerror=alert(document.domain)>"
    for comparison in run["claims"][0]["comparisons"]:
        comparison["n"], comparison.setdefault("details", {})["unit"] = 3, payload
    page = render_report(run)
    assert payload not in page and page.count("&lt;img src=x onerror=alert(document.domain)&gt;") >= 2


def test_the_report_shows_the_gate_and_the_claim_files_that_decided(example_run):
    """What --claims-fail-on failed the session on, and claim files whose bytes differ from the baseline's,
    are stated in the comparison, escaped like everything else a run holds."""
    from ranker_claims.core.runs import compare_runs

    run = copy.deepcopy(example_run)
    baseline = copy.deepcopy(example_run)
    run["claim_files"] = {"ranker_claims.claims/cross_encoder.toml": "b" * 64}
    baseline["claim_files"] = {"ranker_claims.claims/cross_encoder.toml": "a" * 64}
    run["comparison"] = compare_runs(baseline, run)
    run["gate"] = {"rules": "lost", "failures": ["lost: CE-3 <b>m</b> @ c: SUPPORTED -> INCONCLUSIVE"]}
    page = render_report(run)
    assert "The session failed on <code>--claims-fail-on lost</code>" in page
    assert "lost: CE-3 &lt;b&gt;m&lt;/b&gt; @ c: SUPPORTED -&gt; INCONCLUSIVE" in page
    assert "Claim files that differ (SHA-256)" in page and "a" * 64 in page and "b" * 64 in page
