"""Escaping by construction: a run is shared between people, so every string in it, value or
key, figures included, is hostile. A script payload put into all of them must reach the page
only as text, and the page's CSP must not let an inline script run even if one got through."""

from __future__ import annotations

import ast
import base64
import copy
import hashlib
import re
from html.parser import HTMLParser
from pathlib import Path
from typing import Any

import pytest

from ranker_claims import reports
from ranker_claims.reports import render_report
from ranker_claims.reports.figures import FIGURE_RENDERERS
from ranker_claims.reports.formatting import Html, escape
from ranker_claims.reports.page import CSP
from tests.conftest import build_example_run
from tests.unit import test_report_generative as gr_figures

PAYLOAD = "<script>alert(1)</script>\"'><img src=x onerror=alert(2)>"
RAW = ("<script>alert", "<img src=x", "onerror=")
SHOWN = "&lt;img src=x onerror="  # the payload as text: its onerror= is harmless there
FAILED = ("Could not render", "Could not draw")


def poison_values(value: Any, payload: str = PAYLOAD) -> Any:
    """Every string value with the payload appended (numbers stay numbers, keys as they are)."""
    if isinstance(value, dict):
        return {k: poison_values(v, payload) for k, v in value.items()}
    if isinstance(value, list):
        return [poison_values(v, payload) for v in value]
    return value + payload if isinstance(value, str) else value


def _dict_paths(value: Any, path: tuple = (), found: list | None = None) -> list[tuple]:
    """The distinct places of dicts in a run, list positions folded ("[]"), outermost first."""
    found = [] if found is None else found
    if isinstance(value, dict):
        if path not in found:
            found.append(path)
        for k, v in value.items():
            _dict_paths(v, (*path, k), found)
    elif isinstance(value, list):
        for v in value:
            _dict_paths(v, (*path, "[]"), found)
    return found


def poison_keys(value: Any, places: set[tuple] | None, path: tuple = (), payload: str = PAYLOAD) -> Any:
    """The payload appended to every key of the dicts at ``places`` (every dict when None).
    Paths are those of the unpoisoned run: a poisoned dict's children keep their own place."""
    if isinstance(value, dict):
        hit = places is None or path in places
        return {
            (k + payload if hit and isinstance(k, str) else k): poison_keys(v, places, (*path, k), payload)
            for k, v in value.items()
        }
    if isinstance(value, list):
        return [poison_keys(v, places, (*path, "[]"), payload) for v in value]
    return value


def gr_run() -> dict[str, Any]:
    """A run of GR claims, one per GR figure kind, each drawn from the GR report tests' data."""
    run = build_example_run()
    template = run["claims"][0]
    claims = []
    for k, (kind, (builder, _)) in enumerate(sorted(gr_figures.BUILDERS.items())):
        claim = copy.deepcopy(template)
        claim.update(claim_id=f"GR-{k + 1}", title=f"GR figure {kind}", figures={kind: builder()})
        claims.append(claim)
    run["claims"] = claims
    return run


RUNS = {"ce": build_example_run, "gr": gr_run}


class _Page(HTMLParser):
    def __init__(self) -> None:
        super().__init__()
        self.tags: list[tuple[str, dict[str, str | None]]] = []
        self.scripts: list[str] = []
        self._in_script = False

    def handle_starttag(self, tag, attrs):
        self.tags.append((tag, dict(attrs)))
        self._in_script = tag == "script"
        if tag == "script":
            self.scripts.append("")

    def handle_endtag(self, tag):
        if tag == "script":
            self._in_script = False

    def handle_data(self, data):
        if self._in_script:
            self.scripts[-1] += data


def _assert_inert(page: str) -> None:
    text = page.replace(SHOWN, "")
    for raw in RAW:
        assert raw not in text, text[max(0, text.index(raw) - 300) : text.index(raw) + 100]
    parsed = _Page()
    parsed.feed(page)
    assert [tag for tag, _ in parsed.tags].count("script") == 1  # ours, at the end
    assert "img" not in [tag for tag, _ in parsed.tags]
    assert not [(tag, name) for tag, attrs in parsed.tags for name in attrs if name.startswith("on")]


def _failures(page: str) -> int:
    return sum(page.count(words) for words in FAILED)


@pytest.mark.parametrize("wing", sorted(RUNS))
def test_a_payload_in_every_string_value_is_shown_as_text(wing):
    honest = RUNS[wing]()
    page = render_report(poison_values(honest))
    _assert_inert(page)
    assert page.count(escape(PAYLOAD)) > 20  # it got there, escaped, in many places
    # Figures included: drawn figures (not only the data view) show the poisoned strings.
    drawn = [chunk.split("</figure>")[0] for chunk in page.split('<figure class="fig ')[1:]]
    assert sum(escape(PAYLOAD) in chunk for chunk in drawn if not chunk.startswith("generic")) >= 3


@pytest.mark.parametrize("wing", sorted(RUNS))
def test_a_payload_in_every_key_the_report_tolerates_is_shown_as_text(wing):
    honest = RUNS[wing]()
    values = poison_values(honest)
    page = render_report(values)
    failures, shown = _failures(page), page.count(escape(PAYLOAD))
    # A key is structural where poisoning it loses what the report showed (a section, a figure, a
    # value: fewer payloads shown, or a failure notice); the others (data keys: figure kinds,
    # options, packages, per-query ids, statistics names, ...) all get the payload.
    tolerated = set()
    for place in _dict_paths(honest):
        page = render_report(poison_keys(values, {place}))
        if _failures(page) == failures and page.count(escape(PAYLOAD)) > shown:
            tolerated.add(place)
    assert len(tolerated) >= 5, tolerated
    page = render_report(poison_keys(values, tolerated))
    _assert_inert(page)
    assert _failures(page) == failures and page.count(escape(PAYLOAD)) > shown


@pytest.mark.parametrize("wing", sorted(RUNS))
def test_a_payload_in_every_key_and_value_is_inert_even_where_the_report_fails(wing):
    page = render_report(poison_keys(poison_values(RUNS[wing]()), None))
    _assert_inert(page)  # a section that cannot render says so, escaped


def test_the_unit_of_a_comparison_is_escaped():
    # The case that reached the page raw before: a comparison's unit, read from the run.
    run = build_example_run()
    for claim in run["claims"]:
        for comparison in claim["comparisons"]:
            comparison.setdefault("details", {})["unit"] = "<img src=x onerror=alert(1)>"
    page = render_report(run)
    _assert_inert(page)
    assert "&lt;img src=x onerror=alert(1)&gt;" in page


def test_the_csp_allows_only_the_page_script_by_its_hash():
    page = render_report(build_example_run())
    parsed = _Page()
    parsed.feed(page)
    content = next(
        attrs["content"]
        for tag, attrs in parsed.tags
        if tag == "meta" and attrs.get("http-equiv") == "Content-Security-Policy"
    )
    assert content == CSP
    directives = {part.split()[0]: part.split()[1:] for part in content.split(";") if part.strip()}
    assert "'unsafe-inline'" not in directives["script-src"] and "'unsafe-eval'" not in directives["script-src"]
    digest = base64.b64encode(hashlib.sha256(parsed.scripts[0].encode("utf-8")).digest()).decode()
    assert directives["script-src"] == [f"'sha256-{digest}'"]
    style = re.search(r"<style>(.*?)</style>", page, re.DOTALL).group(1)
    digest = base64.b64encode(hashlib.sha256(style.encode("utf-8")).digest()).decode()
    assert directives["style-src-elem"] == [f"'sha256-{digest}'"]
    assert directives["default-src"] == ["'none'"]


def test_html_is_escaped_unless_it_is_html():
    shown = "&lt;script&gt;alert(1)&lt;/script&gt;&quot;&#x27;&gt;&lt;img src=x onerror=alert(2)&gt;"
    assert escape(PAYLOAD) == shown  # html.escape's spelling, as the page always had
    assert Html("<b>{0}</b>").format(PAYLOAD) == "<b>" + shown + "</b>"
    assert Html(", ").join(["<i>", Html("<i>")]) == "&lt;i&gt;, <i>"
    assert Html("<p>") + "<i>" == "<p>&lt;i&gt;"
    assert escape(escape(PAYLOAD)) == escape(PAYLOAD)  # never twice


def test_every_renderer_of_the_project_returns_html():
    for kind, (builder, _) in gr_figures.BUILDERS.items():
        assert isinstance(FIGURE_RENDERERS[kind](builder(), gr_figures.CONTEXT), Html), kind
    for claim in build_example_run()["claims"]:
        for kind, data in claim.get("figures", {}).items():
            if kind in FIGURE_RENDERERS:
                assert isinstance(FIGURE_RENDERERS[kind](data, claim), Html), kind


def test_no_html_is_built_but_through_html():
    """The construction itself: in ``reports/`` no f-string holds markup, and ``Html(...)`` wraps only
    literals (plus the page's own CSS / JS and what a figure renderer, code, returns)."""
    root = Path(reports.__file__).parent
    trusted = {"STYLE", "SCRIPT", "renderer(data, context)"}
    for path in sorted(root.rglob("*.py")):
        source = path.read_text(encoding="utf-8")
        for node in ast.walk(ast.parse(source)):
            if isinstance(node, ast.JoinedStr):
                literal = "".join(v.value for v in node.values if isinstance(v, ast.Constant))
                assert not re.search(r"<[A-Za-z/!]|[\w-]+=\"", literal), (path.name, node.lineno)
            if isinstance(node, ast.Call) and isinstance(node.func, ast.Name) and node.func.id == "Html" and node.args:
                argument = node.args[0]
                wrapped = isinstance(argument, ast.Constant) or ast.get_source_segment(source, argument) in trusted
                assert wrapped, (path.name, node.lineno, ast.get_source_segment(source, argument))
