"""The claims x targets matrix that opens the report: one row per claim, one column per
(model, collection) target, each cell the verdict and headline value linking to its card,
marked where it differs from the baseline run."""

from __future__ import annotations

import copy
from dataclasses import dataclass, field
from html.parser import HTMLParser
from typing import Any

import pytest

from ranker_claims.core.runs import compare_runs
from ranker_claims.reports import render_report

BERT, MINILM, DSI = "castorini/monobert-large-msmarco", "cross-encoder/ms-marco-MiniLM-L-6-v2", "embedded:dsi-synthetic"
DL19, SYNTHETIC = "msmarco-passage/trec-dl-2019/judged", "embedded:synthetic-dsi"


def _comparison(measured: float, verdict: str, label: str = "ablated vs baseline") -> dict[str, Any]:
    return {"label": label, "measured": measured, "ci": [measured - 0.03, measured + 0.03], "reference": 0.8,
            "effect": measured - 0.8, "p_corrected": 0.001, "verdict": verdict, "reason": "as decided"}


def _result(claim_id: str, model: str, collection: str, verdict: str, measured: float = 0.5,
            comparisons: list[dict[str, Any]] | None = None) -> dict[str, Any]:
    return {"claim_id": claim_id, "title": f"title of {claim_id}", "model": model, "collection": collection,
            "verdict": verdict, "reason": "as decided", "paper": "0.81",
            "comparisons": comparisons if comparisons is not None else [_comparison(measured, verdict)]}


def _run(claims: list[dict[str, Any]]) -> dict[str, Any]:
    return {"schema": 1, "run_id": "run-b", "started": "2026-12-01T10:00:00+00:00", "targets": [], "claims": claims}


def three_target_run() -> dict[str, Any]:
    """CE-1 on two cross-encoders, CE-2 on one of them, GR-1 on a DSI model; results interleaved."""
    return _run([
        _result("CE-1", BERT, DL19, "SUPPORTED", 0.668),
        _result("CE-2", BERT, DL19, "CONTRADICTED", 0.249),
        _result("CE-1", MINILM, DL19, "INCONCLUSIVE", 0.721),
        _result("GR-1", DSI, SYNTHETIC, "SUPPORTED", comparisons=[
            _comparison(0.9, "SUPPORTED", "a"),
            _comparison(0.8, "SUPPORTED", "b"),
            _comparison(0.1, "INCONCLUSIVE", "c"),
        ]),
    ])


@dataclass
class Cell:
    tag: str
    attrs: dict[str, str]
    text: str = ""
    links: list[str] = field(default_factory=list)


class _MatrixTable(HTMLParser):
    """The cells of the report's claims-matrix table, row by row."""

    def __init__(self) -> None:
        super().__init__(convert_charrefs=True)
        self.rows: list[list[Cell]] = []
        self.inside = False
        self.cell: Cell | None = None

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        values = {name: value or "" for name, value in attrs}
        if tag == "table" and "claims-matrix" in values.get("class", "").split():
            self.inside = True
        elif self.inside and tag == "tr":
            self.rows.append([])
        elif self.inside and tag in ("th", "td"):
            self.cell = Cell(tag, values)
            self.rows[-1].append(self.cell)
        elif self.cell is not None and tag == "a":
            self.cell.links.append(values.get("href", ""))
        elif self.cell is not None and tag in ("br", "span"):
            self.cell.text += " "

    def handle_endtag(self, tag: str) -> None:
        if tag == "table":
            self.inside = False
        elif tag in ("th", "td"):
            self.cell = None

    def handle_data(self, data: str) -> None:
        if self.cell is not None:
            self.cell.text += data


def matrix(page: str) -> tuple[list[Cell], dict[str, list[Cell]]]:
    """(column headers after the first, {claim id: the row's cells after its header})."""
    parser = _MatrixTable()
    parser.feed(page)
    header, *body = parser.rows
    return header[1:], {row[0].text.split()[0]: row[1:] for row in body}


def columns(page: str) -> list[str]:
    return [cell.attrs["title"] for cell in matrix(page)[0]]


def test_one_column_per_target_and_one_row_per_claim_in_order_of_appearance():
    page = render_report(three_target_run())
    assert columns(page) == [f"{BERT} @ {DL19}", f"{MINILM} @ {DL19}", f"{DSI} @ {SYNTHETIC}"]
    _, rows = matrix(page)
    assert list(rows) == ["CE-1", "CE-2", "GR-1"]
    assert all(len(cells) == 3 for cells in rows.values())


def test_cells_carry_verdict_headline_value_and_a_link_to_the_card():
    run = three_target_run()
    page = render_report(run)
    _, rows = matrix(page)
    bert, minilm, _ = rows["CE-1"]
    assert "v-supported-cell" in bert.attrs["class"].split()
    assert "SUPPORTED" in bert.text and "0.668" in bert.text and "[0.638, 0.698]" in bert.text
    assert "v-inconclusive-cell" in minilm.attrs["class"].split()
    assert "INCONCLUSIVE" in minilm.text and "0.721" in minilm.text
    assert bert.links == ["#claim-0"] and minilm.links == ["#claim-2"]  # the index of the result in run["claims"]
    card = page.split('id="claim-2"')[1].split("</article>")[0]
    assert "CE-1" in card and MINILM in card
    contradicted = rows["CE-2"][0]
    assert "v-contradicted-cell" in contradicted.attrs["class"].split() and "0.249" in contradicted.text
    gr1 = rows["GR-1"][2]  # several comparisons: the summary table's tally
    assert "3 comparisons" in gr1.text and "2 supported, 1 inconclusive" in gr1.text
    assert gr1.attrs["title"] == f"GR-1 on {DSI} @ {SYNTHETIC}: SUPPORTED"


def test_a_claim_without_a_result_on_a_target_is_not_run():
    _, rows = matrix(render_report(three_target_run()))
    for claim_id, column in (("CE-1", 2), ("CE-2", 1), ("CE-2", 2), ("GR-1", 0), ("GR-1", 1)):
        cell = rows[claim_id][column]
        assert cell.attrs["class"].split() == ["not-run"]
        assert cell.text.strip() == "not run" and cell.links == []
    assert "not-run" not in rows["CE-2"][0].attrs["class"]


def test_verdicts_changed_against_the_baseline_are_marked_and_new_and_missing_results_too():
    current = three_target_run()
    baseline = three_target_run()
    baseline["run_id"] = "run-a"
    baseline["claims"][0]["verdict"] = "INCONCLUSIVE"  # CE-1 on BERT: INCONCLUSIVE -> SUPPORTED
    del baseline["claims"][3]  # GR-1 is new in the current run
    baseline["claims"].append(_result("CE-2", MINILM, DL19, "SUPPORTED"))  # not run this time
    baseline["claims"].append(_result("CE-9", "old-model", DL19, "SUPPORTED"))  # no row or column for it
    current["comparison"] = compare_runs(baseline, current)
    page = render_report(current)
    _, rows = matrix(page)

    changed = rows["CE-1"][0]
    assert "mark-changed" in changed.attrs["class"].split()
    assert "changed: INCONCLUSIVE → SUPPORTED" in changed.attrs["title"]
    assert "changed, was INCONCLUSIVE" in changed.text
    new = rows["GR-1"][2]
    assert "mark-new" in new.attrs["class"].split() and "new" in new.text.split()
    missing = rows["CE-2"][1]
    assert missing.attrs["class"].split() == ["not-run", "mark-missing"]
    assert "missing, was SUPPORTED" in missing.text and "not run" in missing.text
    for unchanged in (rows["CE-1"][1], rows["CE-2"][0], rows["CE-1"][2]):
        assert not any(name.startswith("mark-") for name in unchanged.attrs["class"].split())
        assert "title" in unchanged.attrs and "changed" not in unchanged.attrs["title"]

    section = page.split('<section id="matrix">')[1].split("</section>")[0]
    assert "Against baseline run <code>run-a</code>" in section
    assert "1 more result of the baseline on claims or targets this run did not run" in section


def test_a_comparison_without_differences_says_so():
    current = three_target_run()
    current["comparison"] = compare_runs(copy.deepcopy(current), current)
    page = render_report(current)
    section = page.split('<section id="matrix">')[1].split("</section>")[0]
    assert "no verdict changed, no result new or missing" in section
    assert "mark-" not in section
    assert "Against baseline" not in render_report(three_target_run())


def test_html_in_model_and_collection_names_is_escaped():
    model, collection = '<img src=x onerror="alert(1)">/m&m', "<b>bold</b>:col"
    run = three_target_run()
    run["claims"].append(_result("CE-2", model, collection, "SUPPORTED"))
    page = render_report(run)
    section = page.split('<section id="matrix">')[1].split("</section>")[0]
    assert "<img" not in section and "<b>" not in section
    assert "&lt;img src=x onerror=&quot;alert(1)&quot;&gt;/<wbr>m&amp;m" in section
    assert columns(page)[-1] == f"{model} @ {collection}"  # the title attribute reads back as the full text
    _, rows = matrix(page)
    assert rows["CE-2"][-1].attrs["title"] == f"CE-2 on {model} @ {collection}: SUPPORTED"


def test_the_matrix_is_the_first_section():
    page = render_report(three_target_run())
    sections = [chunk.split('"')[0] for chunk in page.split('<section id="')[1:]]
    assert sections[0] == "matrix" and "summary" in sections
    assert page.index('<a href="#matrix">') < page.index('<section id="matrix">')


@pytest.mark.parametrize("claims", [[], [_result("CE-1", BERT, DL19, "SUPPORTED", comparisons=[])]])
def test_no_results_or_no_comparisons_render_without_error(claims):
    page = render_report(_run(claims))
    section = page.split('<section id="matrix">')[1].split("</section>")[0]
    if claims:
        assert "no comparisons" in section and "SUPPORTED" in section
    else:
        assert "No claim results in this run." in section
    assert "Could not render" not in page
