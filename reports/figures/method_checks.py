"""Figures of the method checks (the suite checking itself): the calibration table, each decision's
rate of SUPPORTED under its null and of CONTRADICTED with its claim true against the limit."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from ranker_claims.reports.figures.registry import figure_renderer
from ranker_claims.reports.formatting import Html, num

VERDICTS = ("SUPPORTED", "CONTRADICTED")
HEADINGS = {"SUPPORTED": "SUPPORTED under the null", "CONTRADICTED": "CONTRADICTED with the claim true"}


@figure_renderer("calibration")
def render_calibration(data: dict[str, Any], context: dict[str, Any]) -> str:
    """One calibration row as a table of its own (the report draws every row in one: :func:`calibration_table`)."""
    return calibration_table([data])


def calibration_table(rows: Sequence[dict[str, Any]]) -> str:
    """Rows = decision x data; columns = verdict x n (the small n, then the claims' n); each cell the
    rate over its simulations, green at most its limit alpha + 3 Monte-Carlo s.e., red above it or
    where the comparison function decided an audited data set otherwise than the simulation."""
    rows = [row for row in rows if isinstance(row, dict) and row.get("cells")]
    if not rows:
        return ""
    small = max(sum(1 for c in row["cells"] if not c.get("real") and c.get("verdict") == VERDICTS[0]) for row in rows)
    head = Html("").join(Html('<th colspan="{0}">{1}</th>').format(small + 1, HEADINGS[v]) for v in VERDICTS)
    sizes = Html("").join(
        Html("").join(Html('<th class="num">{0}</th>').format(c["n"]) for c in _cells(rows[0], v, real=False))
        + Html("<th class=num>claims' n</th>")
        for v in VERDICTS
    )
    body = []
    for row in rows:
        cells = ""
        for verdict in VERDICTS:
            cells += Html("").join(_cell(c) for c in _cells(row, verdict, real=False))
            real = _cells(row, verdict, real=True)
            good = all(c.get("passed") is True for c in real)
            shown = Html("<br>").join(_cell(c, labelled=True) for c in real) or "–"
            cells += Html('<td class="num {0}">{1}</td>').format(
                "v-supported-cell" if good else "v-contradicted-cell", shown
            )
        body.append(
            Html("<tr><td><strong>{0}</strong><br><span class=muted>").format(row.get("decision", "?"))
            + Html("{0}</span></td><td>{1}</td>{2}</tr>").format(row.get("label", ""), row.get("data", ""), cells)
        )
    sims = {row.get("n_sims") for row in rows}
    limits = {num(row.get("limit")) for row in rows}
    return (
        Html('<figure class="fig calibration"><figcaption>Calibration: how often each decision says what it must not')
        + Html("</figcaption><div class=scroll><table class=calibration><thead>")
        + Html("<tr><th rowspan=2>Decision</th><th rowspan=2>Data</th>{0}</tr><tr>{1}</tr></thead>").format(head, sizes)
        + Html("<tbody>{0}</tbody></table></div>").format(Html("").join(body))
        + Html('<p class="caption">Each cell: the rate over {0} ').format(
            Html(", ").join(str(s) for s in sorted(sims, key=str))
        )
        + Html(
            "simulations, the largest over the truths simulated for it (the boundary of the null, and a point inside "
        )
        + Html("it); green = at most alpha + 3 Monte-Carlo standard errors ({0}), red = above ").format(
            Html(", ").join(sorted(limits))
        )
        + Html(
            "it, or a data set the comparison function decided otherwise than the simulation (marked ≠).</p></figure>"
        )
    )


def _cells(row: dict[str, Any], verdict: str, *, real: bool) -> list[dict[str, Any]]:
    return [c for c in row["cells"] if c.get("verdict") == verdict and bool(c.get("real")) == real]


def _cell(cell: dict[str, Any], labelled: bool = False) -> str:
    """A rate with where it was taken on hover: a coloured cell, or (``labelled``, several to a cell)
    a line naming its n, in bold where it fails."""
    passed = cell.get("passed") is True
    mark = Html(" ≠{0}").format(cell["mismatches"]) if cell.get("mismatches") else ""
    label = Html("n={0}: ").format(cell["n"]) if labelled else ""
    title = Html("{0}; limit {1}; {2} audited, ").format(
        cell.get("truth", ""), num(cell.get("limit")), cell.get("audited", 0)
    ) + Html("{0} decided otherwise").format(cell.get("mismatches", 0))
    text = Html('<span title="{0}">{1}{2}{3}</span>').format(title, label, num(cell.get("rate")), mark)
    if labelled:
        return text if passed else Html("<strong>{0}</strong>").format(text)
    return Html('<td class="num {0}">{1}</td>').format("v-supported-cell" if passed else "v-contradicted-cell", text)
