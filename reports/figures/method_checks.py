"""Figures of the method checks (the suite checking itself): the calibration table, each decision's
rate of SUPPORTED under its null and of CONTRADICTED with its claim true against the limit."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from reports.figures.registry import figure_renderer
from reports.formatting import esc, num

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
    head = "".join(f'<th colspan="{small + 1}">{esc(HEADINGS[v])}</th>' for v in VERDICTS)
    sizes = "".join("".join(f'<th class="num">{esc(c["n"])}</th>' for c in _cells(rows[0], v, real=False))
                    + "<th class=num>claims' n</th>" for v in VERDICTS)
    body = []
    for row in rows:
        cells = ""
        for verdict in VERDICTS:
            cells += "".join(_cell(c) for c in _cells(row, verdict, real=False))
            real = _cells(row, verdict, real=True)
            good = all(c.get("passed") is True for c in real)
            shown = "<br>".join(_cell(c, labelled=True) for c in real) or "–"
            cells += f'<td class="num {"v-supported-cell" if good else "v-contradicted-cell"}">{shown}</td>'
        body.append(f"<tr><td><strong>{esc(row.get('decision', '?'))}</strong><br><span class=muted>"
                    f"{esc(row.get('label', ''))}</span></td><td>{esc(row.get('data', ''))}</td>{cells}</tr>")
    sims = {row.get("n_sims") for row in rows}
    limits = {num(row.get("limit")) for row in rows}
    return (
        '<figure class="fig calibration"><figcaption>Calibration: how often each decision says what it must not'
        "</figcaption><div class=scroll><table class=calibration><thead>"
        f"<tr><th rowspan=2>Decision</th><th rowspan=2>Data</th>{head}</tr><tr>{sizes}</tr></thead>"
        f"<tbody>{''.join(body)}</tbody></table></div>"
        f'<p class="caption">Each cell: the rate over {esc(", ".join(str(s) for s in sorted(sims, key=str)))} '
        "simulations, the largest over the truths simulated for it (the boundary of the null, and a point inside "
        f"it); green = at most alpha + 3 Monte-Carlo standard errors ({esc(', '.join(sorted(limits)))}), red = above "
        "it, or a data set the comparison function decided otherwise than the simulation (marked ≠).</p></figure>"
    )


def _cells(row: dict[str, Any], verdict: str, *, real: bool) -> list[dict[str, Any]]:
    return [c for c in row["cells"] if c.get("verdict") == verdict and bool(c.get("real")) == real]


def _cell(cell: dict[str, Any], labelled: bool = False) -> str:
    """A rate with where it was taken on hover: a coloured cell, or (``labelled``, several to a cell)
    a line naming its n, in bold where it fails."""
    passed = cell.get("passed") is True
    mark = f" ≠{cell['mismatches']}" if cell.get("mismatches") else ""
    label = f"n={esc(cell['n'])}: " if labelled else ""
    title = (f"{cell.get('truth', '')}; limit {num(cell.get('limit'))}; {cell.get('audited', 0)} audited, "
             f"{cell.get('mismatches', 0)} decided otherwise")
    text = f'<span title="{esc(title)}">{label}{num(cell.get("rate"))}{esc(mark)}</span>'
    if labelled:
        return text if passed else f"<strong>{text}</strong>"
    return f'<td class="num {"v-supported-cell" if passed else "v-contradicted-cell"}">{text}</td>'
