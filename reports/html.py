"""Render a run document (see :mod:`suite.core.runs`) as one self-contained HTML file.

The page needs nothing but itself: CSS and the little JavaScript it has (table sorting,
opening collapsed sections before printing) are inline, figures are inline SVG, there is
no URL of any kind, and a Content-Security-Policy forbids the browser from fetching
anything. Everything read from the run is escaped. Without JavaScript every number is
still there; only sorting is lost.

Figures are drawn by kind: :data:`FIGURE_RENDERERS` maps a kind (a key of a claim's
``figures``) to ``render(data, context) -> html``; adding a kind is one function::

    @figure_renderer("my_kind")
    def _my_kind(data, context):
        return "<figure>...</figure>"

A kind without a renderer (or whose renderer fails on odd data) is shown as a small
definition list / table of its JSON, so a new figure kind is never silently lost.
"""

from __future__ import annotations

import html
import importlib
import inspect
import json
import math
import numbers
import re
import textwrap
from collections.abc import Callable
from datetime import datetime
from pathlib import Path
from typing import Any

FigureRenderer = Callable[[Any, dict[str, Any]], str]
FIGURE_RENDERERS: dict[str, FigureRenderer] = {}

VERDICT_CLASS = {"SUPPORTED": "v-supported", "CONTRADICTED": "v-contradicted", "INCONCLUSIVE": "v-inconclusive"}
VERDICT_ORDER = {"CONTRADICTED": 0, "INCONCLUSIVE": 1, "SUPPORTED": 2}

ABLATION_MODES = {
    "pre-softmax": "attention scores are masked before the softmax, so the remaining weights renormalise",
    "post-softmax": "attention weights are zeroed after the softmax and not renormalised",
}

# No network, ever: a stray reference fails loudly in the browser instead of loading.
CSP = (
    "default-src 'none'; style-src 'unsafe-inline'; script-src 'unsafe-inline'; "
    "img-src data:; base-uri 'none'; form-action 'none'"
)


def figure_renderer(kind: str) -> Callable[[FigureRenderer], FigureRenderer]:
    """Register ``function(data, context) -> html`` as the renderer of figure ``kind``."""

    def register(function: FigureRenderer) -> FigureRenderer:
        FIGURE_RENDERERS[kind] = function
        return function

    return register


# --------------------------------------------------------------------------- formatting


def esc(value: Any) -> str:
    """Escape anything for HTML text or a quoted attribute."""
    return html.escape(str(value), quote=True)


def _finite(value: Any) -> float | None:
    if isinstance(value, bool) or not isinstance(value, (int, float)):
        return None
    return float(value) if math.isfinite(value) else None


def num(value: Any, digits: int = 3, signed: bool = False) -> str:
    """A number as escaped text; None as a dash, non-numbers escaped as they are."""
    if value is None:
        return "—"
    if isinstance(value, bool):
        return "yes" if value else "no"
    if isinstance(value, int):
        return f"{value:+d}" if signed else str(value)
    if isinstance(value, float):
        if math.isnan(value):
            return "NaN"
        if math.isinf(value):
            return "∞" if value > 0 else "−∞"
        return f"{value:+.{digits}f}" if signed else f"{value:.{digits}f}"
    return esc(value)


def plain(value: Any) -> str:
    """A value as written in the run (floats to 6 significant digits), escaped."""
    if isinstance(value, float) and math.isfinite(value):
        return f"{value:.6g}"
    return num(value)


def pval(value: Any) -> str:
    """A p-value: four decimals, scientific below 1e-4."""
    number = _finite(value)
    if number is None:
        return num(value)
    if 0 < number < 1e-4:
        return f"{number:.1e}"
    return f"{number:.4f}"


def interval(ci: Any, digits: int = 3) -> str:
    if isinstance(ci, (list, tuple)) and len(ci) == 2:
        return f"[{num(ci[0], digits)}, {num(ci[1], digits)}]"
    return "" if ci is None else num(ci)


def sort_key(value: Any) -> str:
    """A data-sort attribute value (numbers sort numerically in the page's script)."""
    number = _finite(value)
    return esc(repr(number) if number is not None else ("" if value is None else value))


def badge(verdict: Any) -> str:
    text = str(verdict) if verdict is not None else "—"
    return f'<span class="badge {VERDICT_CLASS.get(text, "v-other")}">{esc(text)}</span>'


def pass_badge(passed: Any) -> str:
    if passed is True:
        return '<span class="badge v-supported">PASS</span>'
    if passed is False:
        return '<span class="badge v-contradicted">FAIL</span>'
    return f'<span class="badge v-other">{esc(passed)}</span>'


def _when(stamp: Any) -> str:
    """An ISO timestamp as 'YYYY-MM-DD HH:MM:SS UTC' (or as given when it does not parse)."""
    if not stamp:
        return "—"
    try:
        moment = datetime.fromisoformat(str(stamp))
    except ValueError:
        return esc(stamp)
    zone = " UTC" if moment.utcoffset() is not None and moment.utcoffset().total_seconds() == 0 else ""
    if moment.utcoffset() is not None and not zone:
        zone = " " + moment.strftime("%z")
    return esc(moment.strftime("%Y-%m-%d %H:%M:%S") + zone)


def _duration(start: Any, end: Any) -> str | None:
    try:
        seconds = (datetime.fromisoformat(str(end)) - datetime.fromisoformat(str(start))).total_seconds()
    except (TypeError, ValueError):
        return None
    if seconds < 0:
        return None
    minutes, secs = divmod(int(round(seconds)), 60)
    hours, minutes = divmod(minutes, 60)
    return f"{hours} h {minutes:02d} min" if hours else (f"{minutes} min {secs:02d} s" if minutes else f"{secs} s")


# --------------------------------------------------------------------------- generic data


def render_data(value: Any, depth: int = 0) -> str:
    """Any JSON value as compact HTML: dicts as definition lists, matrices and lists of
    records as small tables, short lists inline."""
    if depth > 4:
        return f"<code>{esc(_short_json(value))}</code>"
    if isinstance(value, dict):
        if not value:
            return '<span class="muted">(empty)</span>'
        rows = "".join(f"<dt>{esc(k)}</dt><dd>{render_data(v, depth + 1)}</dd>" for k, v in value.items())
        return f'<dl class="kv">{rows}</dl>'
    if isinstance(value, (list, tuple)):
        items = list(value)
        if not items:
            return '<span class="muted">(none)</span>'
        if all(_scalar(v) for v in items):
            shown = ", ".join(plain(v) for v in items[:40])
            more = f' <span class="muted">… {len(items) - 40} more</span>' if len(items) > 40 else ""
            return f'<span class="list">{shown}{more}</span>'
        if all(isinstance(v, (list, tuple)) and all(_scalar(x) for x in v) for v in items) and len(items) <= 60:
            body = "".join("<tr>" + "".join(f'<td class="num">{plain(x)}</td>' for x in row) + "</tr>" for row in items)
            return f'<table class="matrix"><tbody>{body}</tbody></table>'
        if all(isinstance(v, dict) for v in items) and len(items) <= 100:
            columns: list[str] = []
            for record in items:
                columns.extend(k for k in record if k not in columns)
            head = "".join(f"<th>{esc(c)}</th>" for c in columns)
            body = "".join(
                "<tr>" + "".join(f"<td>{render_data(r.get(c), depth + 1)}</td>" for c in columns) + "</tr>" for r in items
            )
            return f'<table class="small"><thead><tr>{head}</tr></thead><tbody>{body}</tbody></table>'
        shown = "".join(f"<li>{render_data(v, depth + 1)}</li>" for v in items[:50])
        more = f'<li class="muted">… {len(items) - 50} more</li>' if len(items) > 50 else ""
        return f'<ol class="data">{shown}{more}</ol>'
    return plain(value)


def _scalar(value: Any) -> bool:
    return value is None or isinstance(value, (str, int, float, bool))


def _short_json(value: Any, limit: int = 2000) -> str:
    try:
        text = json.dumps(value, default=str)
    except (TypeError, ValueError):
        text = repr(value)
    return text if len(text) <= limit else text[:limit] + " …"


def render_figure(kind: str, data: Any, context: dict[str, Any]) -> str:
    """A figure by its registered renderer; unknown kinds and renderer failures fall back
    to the generic data view, with a note saying why."""
    renderer = FIGURE_RENDERERS.get(kind)
    note = ""
    if renderer is not None:
        try:
            return renderer(data, context)
        except Exception as error:  # odd data must not cost the whole report
            note = f'<p class="note">Could not draw this figure ({esc(type(error).__name__)}: {esc(error)}); its data:</p>'
    return (
        f'<figure class="fig generic"><figcaption>Figure <code>{esc(kind)}</code></figcaption>'
        f"{note}{render_data(data)}</figure>"
    )


# --------------------------------------------------------------------------- direction table


def _mix(a: tuple[int, int, int], b: tuple[int, int, int], t: float) -> tuple[int, int, int]:
    return tuple(round(x + (y - x) * t) for x, y in zip(a, b))  # type: ignore[return-value]


NEUTRAL, DROP, RISE = (247, 247, 247), (178, 24, 43), (33, 102, 172)


def diverging(delta: float | None, scale: float) -> tuple[str, str]:
    """Fill and text colour for a change ``delta`` (red = drop, blue = rise, grey = none)."""
    if delta is None:
        return "#e4e7eb", "#59636e"
    t = max(-1.0, min(1.0, delta / scale)) if scale > 0 else 0.0
    colour = _mix(NEUTRAL, DROP if t < 0 else RISE, abs(t) ** 0.85)
    return "#%02x%02x%02x" % colour, ("#ffffff" if abs(t) > 0.55 else "#1f2328")


def _grid(data: dict[str, Any], name: str, n: int, required: bool = True) -> list[list[Any]] | None:
    grid = data.get(name)
    if grid is None and not required:
        return None
    if not (isinstance(grid, list) and len(grid) == n and all(isinstance(r, list) and len(r) == n for r in grid)):
        raise ValueError(f"{name} is not a {n}x{n} grid")
    return grid


def _axis_names(convention: str) -> tuple[str, str]:
    text = convention.lower()
    if "information flows from x to y" in text:
        return "source (X)", "target (Y)"
    if "tokens of x attend to tokens of y" in text:
        return "attending (X)", "attended to (Y)"
    return "X", "Y"


@figure_renderer("direction_table")
def render_direction_table(data: dict[str, Any], context: dict[str, Any]) -> str:
    """The 5x5 table of directed ablations as an SVG heatmap (row X, column Y)."""
    parts = [str(p) for p in data["parts"]]
    n = len(parts)
    values = _grid(data, "values", n)
    significant = _grid(data, "significant", n, required=False) or [[False] * n for _ in range(n)]
    p_corrected = _grid(data, "p_corrected", n, required=False) or [[None] * n for _ in range(n)]
    paper = _grid(data, "paper", n, required=False) or [[None] * n for _ in range(n)]
    baseline = _finite(data.get("baseline"))
    convention = str(data.get("convention") or context.get("options", {}).get("direction_convention") or "")
    metric = str(context.get("metric") or "value")
    correction = str(context.get("correction") or "")
    alpha = context.get("alpha")
    row_axis, column_axis = _axis_names(convention)

    deltas = [
        [(_finite(v) - baseline) if baseline is not None and _finite(v) is not None else None for v in row]
        for row in values
    ]
    scale = max((abs(d) for row in deltas for d in row if d is not None), default=0.0) or 1.0
    has_paper = any(_finite(v) is not None for row in paper for v in row)

    cw, ch = 96, 66 if has_paper else 54
    left, top = 128, 58
    width, height = left + n * cw + 8, top + n * ch + 8
    svg = [
        f'<svg class="heatmap" viewBox="0 0 {width} {height}" width="{width}" height="{height}" role="img" '
        f'aria-label="{esc(metric)} after ablating each direction X to Y; rows X, columns Y">'
    ]
    svg.append(
        f'<text class="axis" x="{left + n * cw / 2}" y="14" text-anchor="middle">{esc(column_axis)} →</text>'
    )
    svg.append(
        f'<text class="axis" x="14" y="{top + n * ch / 2}" text-anchor="middle" '
        f'transform="rotate(-90 14 {top + n * ch / 2})">← {esc(row_axis)}</text>'
    )
    for j, part in enumerate(parts):
        svg.append(f'<text class="part" x="{left + j * cw + cw / 2}" y="{top - 10}" text-anchor="middle">{esc(part)}</text>')
    for i, part in enumerate(parts):
        svg.append(f'<text class="part" x="{left - 10}" y="{top + i * ch + ch / 2 + 4}" text-anchor="end">{esc(part)}</text>')
        for j in range(n):
            value, delta = values[i][j], deltas[i][j]
            fill, ink = diverging(delta, scale)
            star = "*" if significant[i][j] is True else ""
            x, y = left + j * cw, top + i * ch
            tip = f"{parts[i]}->{parts[j]}: {metric} {num(value)}"
            if delta is not None:
                tip += f" ({num(delta, signed=True)} vs baseline {num(baseline)})"
            if p_corrected[i][j] is not None:
                tip += f", p corrected {pval(p_corrected[i][j])}"
            tip += ", significant" if star else ", not significant"
            if _finite(paper[i][j]) is not None:
                tip += f"; paper {num(paper[i][j], 2)}"
            svg.append(
                f'<g><title>{esc(tip)}</title>'
                f'<rect x="{x + 1}" y="{y + 1}" width="{cw - 2}" height="{ch - 2}" rx="3" fill="{fill}"/>'
                f'<text class="val" x="{x + cw / 2}" y="{y + 22}" text-anchor="middle" fill="{ink}">{num(value)}{star}</text>'
                f'<text class="sub" x="{x + cw / 2}" y="{y + 38}" text-anchor="middle" fill="{ink}">'
                f'{"Δ " + num(delta, signed=True) if delta is not None else ""}</text>'
            )
            if _finite(paper[i][j]) is not None:
                svg.append(
                    f'<text class="sub" x="{x + cw / 2}" y="{y + 54}" text-anchor="middle" fill="{ink}">paper {num(paper[i][j], 2)}</text>'
                )
            svg.append("</g>")
    svg.append("</svg>")

    steps = [-1.0, -0.5, -0.25, 0.0, 0.25, 0.5, 1.0]
    legend = "".join(
        f'<span class="swatch" style="background:{diverging(s * scale, scale)[0]}"></span>'
        f'<span class="tick">{num(s * scale, signed=True) if s else "0"}</span>'
        for s in steps
    )
    significance = "* = significant after "
    significance += f"{esc(correction)} correction" if correction else "correction"
    significance += f" (p < {num(alpha, 2)})" if _finite(alpha) is not None else ""
    numbers_head = "".join(f'<th class="num">{esc(p)}</th>' for p in parts)
    numbers_rows = "".join(
        f"<tr><th>{esc(parts[i])}</th>"
        + "".join(
            f'<td class="num">{num(values[i][j])}{"*" if significant[i][j] is True else ""}'
            f'<br><span class="muted">p {pval(p_corrected[i][j])}</span>'
            + (f'<br><span class="muted">paper {num(paper[i][j], 2)}</span>' if _finite(paper[i][j]) is not None else "")
            + "</td>"
            for j in range(n)
        )
        + "</tr>"
        for i in range(n)
    )
    return (
        '<figure class="fig direction">'
        f"<figcaption>Direction table: {esc(metric)} after ablating each direction "
        f"(baseline, no ablation: <strong>{num(baseline)}</strong>)</figcaption>"
        f'<div class="heatmap-wrap">{"".join(svg)}</div>'
        f'<div class="legend"><span class="muted">change vs baseline:</span> {legend}</div>'
        f'<p class="caption">Row = {esc(row_axis)}, column = {esc(column_axis)}; each cell is {esc(metric)} after '
        f"ablating X→Y, coloured by its change from the baseline (red = drop, blue = rise, centred at the baseline). "
        f"{significance}."
        + (" Small type: the paper's value for that cell." if has_paper else "")
        + f'</p><p class="caption convention"><strong>Convention:</strong> {esc(convention or "not recorded")}</p>'
        f'<details><summary>Numbers (value, corrected p{", paper" if has_paper else ""})</summary>'
        f'<div class="scroll"><table class="small grid-table"><thead><tr><th>X \\ Y</th>{numbers_head}</tr></thead>'
        f"<tbody>{numbers_rows}</tbody></table></div></details>"
        "</figure>"
    )


# --------------------------------------------------------------------------- attention heads

# Categorical colours: one blue for "the heads the claim is about" (matching, lexical,
# relevant pairs), a warm orange for the second kind (semantic heads, hard negatives) and
# a grey for the background (other heads, controls, easy negatives). Changes and signed
# effects keep the diverging red/blue of :func:`diverging`; counts use :func:`sequential`.
BLUE, ORANGE, GREY = "#2c6fad", "#c0661e", "#8a949e"
OUTLINE = "#1f2328"
GROUPS = {  # layer_profile groups: colour, dash pattern, label
    "relevant": (BLUE, "", "relevant pairs"),
    "hard": (ORANGE, "6 3", "hard negatives"),
    "easy": (GREY, "2 3", "easy negatives"),
}
EXTRA_COLOURS = ("#5b8c3a", "#8e5ea2", "#a0522d")
PROFILE_TITLES = {
    "cls_mass": "attention of text tokens to [CLS]",
    "sep_mass": "attention of text tokens to [SEP]",
    "cls_entropy": "[CLS] attention entropy (nats)",
    "cls_to_sep": "[CLS] attention to [SEP]",
}


def sequential(t: float, colour: tuple[int, int, int] = (110, 119, 129)) -> tuple[str, str]:
    """Fill and text colour for a share ``t`` in [0, 1] (light grey to ``colour``)."""
    t = max(0.0, min(1.0, t))
    return "#%02x%02x%02x" % _mix(NEUTRAL, colour, t), ("#ffffff" if t > 0.6 else "#1f2328")


def _matrix(value: Any, name: str, shape: tuple[int, int] | None = None) -> list[list[Any]]:
    """A non-empty rectangular list of lists (of ``shape`` when given)."""
    if not (isinstance(value, list) and value and all(isinstance(r, list) and r for r in value)):
        raise ValueError(f"{name} is not a layers x heads grid")
    width = len(value[0])
    if any(len(r) != width for r in value):
        raise ValueError(f"{name} has rows of different lengths")
    if shape is not None and (len(value), width) != shape:
        raise ValueError(f"{name} is {len(value)}x{width}, not {shape[0]}x{shape[1]}")
    return value


def _head_list(value: Any, name: str) -> list[tuple[int, int]]:
    """``[[layer, head], ...]`` as tuples of non-negative ints."""
    if value is None:
        return []
    if not isinstance(value, list):
        raise ValueError(f"{name} is not a list of [layer, head] pairs")
    heads = []
    for item in value:
        if not (
            isinstance(item, (list, tuple))
            and len(item) == 2
            and all(isinstance(x, int) and not isinstance(x, bool) and x >= 0 for x in item)
        ):
            raise ValueError(f"{name}: {item!r} is not a [layer, head] pair")
        heads.append((int(item[0]), int(item[1])))
    return heads


def _count(value: Any) -> int | None:
    return value if isinstance(value, int) and not isinstance(value, bool) and value > 0 else None


def _lh(head: tuple[int, int]) -> str:
    return f"{head[0]}/{head[1]}"


def _nice_step(span: float, target: int = 4) -> float:
    raw = span / max(target, 1)
    magnitude = 10 ** math.floor(math.log10(raw))
    return next(m * magnitude for m in (1, 2, 2.5, 5, 10) if m * magnitude >= raw * 0.999)


def _ticks(low: float, high: float, target: int = 4) -> tuple[float, float, list[float], int]:
    """A nice axis covering [low, high]: (start, end, ticks, decimals)."""
    if high - low < 1e-12:
        pad = abs(high) * 0.1 or 0.5
        low, high = low - pad, high + pad
    step = _nice_step(high - low, target)
    start, end = math.floor(low / step + 1e-9) * step, math.ceil(high / step - 1e-9) * step
    ticks = [start + i * step for i in range(int(round((end - start) / step)) + 1)]
    decimals = max(0, -math.floor(math.log10(step) + 1e-9))
    if abs(step * 10**decimals - round(step * 10**decimals)) > 1e-6:
        decimals += 1
    return start, end, ticks, decimals


def _nice_ceiling(value: float) -> float:
    """The smallest of 1, 1.5, 2, 2.5, 3, 4, 5, 6, 8 (times a power of ten) at or above ``value``."""
    if value <= 0:
        return 1.0
    magnitude = 10 ** math.floor(math.log10(value))
    return next(m * magnitude for m in (1, 1.5, 2, 2.5, 3, 4, 5, 6, 8, 10) if m * magnitude >= value * 0.999)


def _layer_ticks(n: int, room: float) -> int:
    """Label every k-th of ``n`` cells ``room`` pixels wide so that labels do not collide."""
    return 1 if room >= 14 else (2 if room >= 7 else max(1, math.ceil(14 / max(room, 1))))


def _quantile(values: list[float], q: float) -> float:
    ordered = sorted(values)
    position = (len(ordered) - 1) * q
    low = math.floor(position)
    high = min(low + 1, len(ordered) - 1)
    return ordered[low] + (ordered[high] - ordered[low]) * (position - low)


def _head_grid_svg(
    values: list[list[Any]],
    marked: list[list[Any]],
    colour: Callable[[int, int], tuple[str, str]],
    tip: Callable[[int, int], str],
    *,
    title: str = "",
    mark: str = "*",
    label: str = "",
    rows: list[int] | None = None,
    texts: list[list[str]] | None = None,
    cell: tuple[int, int] | None = None,
) -> str:
    """A layer x head grid (rows = layers, top to bottom; columns = heads) as inline SVG.

    ``colour(layer_row, head)`` gives (fill, ink); marked cells are outlined and carry ``mark``;
    ``texts`` (optional) is written in the cells instead of the mark where it fits (in
    normal weight, except the mark itself)."""
    n_rows, n_cols = len(values), len(values[0])
    rows = rows if rows is not None else list(range(n_rows))
    cw, ch = cell or (max(12, min(34, 400 // n_cols)), max(11, min(28, 380 // n_rows)))
    left, top = 58, 34 + (22 if title else 0)
    width, height = left + n_cols * cw + 6, top + n_rows * ch + 6
    head_step, layer_step = _layer_ticks(n_cols, cw), _layer_ticks(n_rows, ch)
    svg = [
        f'<svg class="heatmap heads" viewBox="0 0 {width} {height}" width="{width}" height="{height}" role="img" '
        f'aria-label="{esc(label or title or "layer by head grid")}; rows layers, columns heads">'
    ]
    if title:
        svg.append(f'<text class="ptitle" x="{left}" y="15">{esc(title)}</text>')
    svg.append(f'<text class="axis" x="{left + n_cols * cw / 2}" y="{top - 22}" text-anchor="middle">head →</text>')
    middle = top + n_rows * ch / 2
    svg.append(
        f'<text class="axis" x="14" y="{middle}" text-anchor="middle" transform="rotate(-90 14 {middle})">← layer</text>'
    )
    for j in range(0, n_cols, head_step):
        svg.append(f'<text class="tick" x="{left + j * cw + cw / 2}" y="{top - 6}" text-anchor="middle">{j}</text>')
    star_size = min(13, ch - 1, cw - 1)
    outlines = []
    for i in range(n_rows):
        if i % layer_step == 0:
            svg.append(
                f'<text class="tick" x="{left - 6}" y="{top + i * ch + ch / 2 + 3.5}" text-anchor="end">{rows[i]}</text>'
            )
        for j in range(n_cols):
            fill, ink = colour(i, j)
            x, y = left + j * cw, top + i * ch
            is_marked = marked[i][j] is True
            inner = ""
            text = texts[i][j] if texts is not None else (mark if is_marked else "")
            if text and star_size >= 8:
                inner = (
                    f'<text class="{"star" if text == mark else "cnt"}" x="{x + cw / 2}" y="{y + ch / 2 + star_size * 0.36}" text-anchor="middle" '
                    f'fill="{ink}" style="font-size:{star_size}px">{esc(text)}</text>'
                )
            svg.append(
                f"<g><title>{esc(tip(i, j))}</title>"
                f'<rect x="{x + 0.5}" y="{y + 0.5}" width="{cw - 1}" height="{ch - 1}" rx="2" fill="{fill}"/>{inner}</g>'
            )
            if is_marked:
                outlines.append(
                    f'<rect x="{x + 1}" y="{y + 1}" width="{cw - 2}" height="{ch - 2}" rx="2" fill="none" '
                    f'stroke="{OUTLINE}" stroke-width="1.6" pointer-events="none"/>'
                )
    svg.extend(outlines)
    svg.append("</svg>")
    return "".join(svg)


def _diverging_legend(scale: float, label: str, digits: int = 2) -> str:
    steps = [-1.0, -0.5, 0.0, 0.5, 1.0]
    swatches = "".join(
        f'<span class="swatch" style="background:{diverging(s * scale, scale)[0]}"></span>'
        f'<span class="tick">{num(s * scale, digits, signed=True) if s else "0"}</span>'
        for s in steps
    )
    return f'<span class="muted">{label}</span> {swatches}'


def _significance_words(context: dict[str, Any]) -> str:
    correction, alpha = context.get("correction"), context.get("alpha")
    words = f"{esc(correction)} correction" if correction else "correction"
    return words + (f" (p &lt; {num(alpha, 2)})" if _finite(alpha) is not None else "")


def _grid_table(values: list[list[Any]], marked: list[list[Any]], mark: str, digits: int = 2,
                signed: bool = True, rows: list[int] | None = None) -> str:
    rows = rows if rows is not None else list(range(len(values)))
    head = "".join(f'<th class="num">{j}</th>' for j in range(len(values[0])))
    body = "".join(
        f"<tr><th>{rows[i]}</th>"
        + "".join(
            f'<td class="num">{num(_finite(v) if _finite(v) is not None else v, digits, signed=signed)}'
            f'{esc(mark) if marked[i][j] is True else ""}</td>'
            for j, v in enumerate(row)
        )
        + "</tr>"
        for i, row in enumerate(values)
    )
    return (
        '<div class="scroll"><table class="small grid-table heads-table"><thead><tr><th>layer \\ head</th>'
        f"{head}</tr></thead><tbody>{body}</tbody></table></div>"
    )


@figure_renderer("head_heatmap")
def render_head_heatmap(data: dict[str, Any], context: dict[str, Any]) -> str:
    """Per-head effect sizes (Cohen's d_z, relevant vs negatives) as one layer x head heatmap
    per screened statistic, side by side; significant heads outlined and starred."""
    statistics = data["statistics"]
    if not isinstance(statistics, dict) or not statistics:
        raise ValueError("no statistics to draw")
    shape: tuple[int, int] | None = None
    grids: dict[str, tuple[list[list[Any]], list[list[Any]]]] = {}
    for name, statistic in statistics.items():
        effect = _matrix(statistic["effect"], f"{name} effect", shape)
        shape = (len(effect), len(effect[0]))
        significant = statistic.get("significant")
        significant = _matrix(significant, f"{name} significant", shape) if significant is not None else [
            [False] * shape[1] for _ in range(shape[0])
        ]
        grids[str(name)] = (effect, significant)
    assert shape is not None
    layers = _count(data.get("layers"))
    if layers is not None and layers != shape[0]:
        raise ValueError(f"layers is {layers} but the grids have {shape[0]} rows")
    negative = str(data.get("negative") or "other")
    largest = max((abs(_finite(v)) for e, _ in grids.values() for r in e for v in r if _finite(v) is not None), default=0)
    scale = _nice_ceiling(largest)
    tests = len(grids) * shape[0] * shape[1]

    panels, tables, found = [], [], []
    for name, (effect, significant) in grids.items():

        def tip(i: int, j: int, name: str = name, effect: list = effect, significant: list = significant) -> str:
            value = _finite(effect[i][j])
            text = f"{name}, head {i}/{j}: d_z {num(value, 2, signed=True) if value is not None else num(effect[i][j])}"
            return text + (", significant" if significant[i][j] is True else ", not significant")

        panels.append(
            _head_grid_svg(effect, significant, lambda i, j, effect=effect: diverging(_finite(effect[i][j]), scale), tip, title=name,
                           label=f"{name}: Cohen's d_z, relevant vs {negative} negatives")
        )
        hits = sorted(
            ((i, j) for i in range(shape[0]) for j in range(shape[1]) if significant[i][j] is True),
            key=lambda ij: -(_finite(effect[ij[0]][ij[1]]) or 0.0),
        )
        listed = ", ".join(f"{i}/{j} ({num(_finite(effect[i][j]), 2, signed=True)})" for i, j in hits[:12])
        more = f", … {len(hits) - 12} more" if len(hits) > 12 else ""
        found.append(
            f"<li><strong>{esc(name)}</strong>: {len(hits)} of {shape[0] * shape[1]} heads"
            + (f": {listed}{more}" if hits else "") + "</li>"
        )
        tables.append(f"<h4>{esc(name)}</h4>" + _grid_table(effect, significant, "*"))
    title = data.get("title") or f"Heads: relevant vs {negative} negatives (Cohen's d_z)"
    return (
        '<figure class="fig head-heatmap">'
        f"<figcaption>{esc(title)}</figcaption>"
        f'<div class="panels">{"".join(panels)}</div>'
        f'<div class="legend">{_diverging_legend(scale, "Cohen&#x27;s d_z:")}'
        '<span class="swatch marked"></span><span class="tick">* significant</span></div>'
        f'<p class="caption">One cell per head (row = layer from 0, column = head). Colour = Cohen\'s d_z of the '
        f"per-query difference, relevant pairs minus {esc(negative)} negatives: blue = higher on relevant pairs, "
        f"red = higher on negatives, same scale in every panel. Outlined * = significant after "
        f"{_significance_words(context)} over all {tests} head tests.</p>"
        f'<ul class="caption found">{"".join(found)}</ul>'
        f"<details><summary>Numbers (Cohen's d_z; * significant)</summary>{''.join(tables)}</details>"
        "</figure>"
    )


@figure_renderer("head_depths")
def render_head_depths(data: dict[str, Any], context: dict[str, Any]) -> str:
    """Where lexical (relevant vs easy) and semantic (relevant vs hard) heads sit: one row of
    dots per kind along a shared layer axis, one dot per head, counts above."""
    kinds = [
        ("lexical", "lexical", "relevant vs easy", BLUE),
        ("semantic", "semantic", "relevant vs hard", ORANGE),
    ]
    heads = {key: _head_list(data.get(key), key) for key, *_ in kinds}
    if not any(heads.values()):
        raise ValueError("no heads to place")
    deepest = max(layer for found in heads.values() for layer, _ in found)
    layers = _count(data.get("layers")) or deepest + 1
    if deepest >= layers:
        raise ValueError(f"a head sits in layer {deepest} of a {layers}-layer model")
    counts = {key: [0] * layers for key in heads}
    members: dict[str, list[list[str]]] = {key: [[] for _ in range(layers)] for key in heads}
    for key, found in heads.items():
        for layer, head in found:
            counts[key][layer] += 1
            members[key][layer].append(_lh((layer, head)))
    cap = 8  # dots per column; a taller stack shows its count only
    radius, gap = 4.5, 11
    stack = max(3, min(cap, max(max(c) for c in counts.values())))
    band = stack * gap + 26
    cw = max(22, min(56, 640 // layers))
    left, top = 150, 8
    width, height = left + layers * cw + 10, top + band * len(kinds) + 40
    svg = [
        f'<svg class="heatmap chart depths" viewBox="0 0 {width} {height}" width="{width}" height="{height}" role="img" '
        'aria-label="layers of the lexical and semantic matching heads">'
    ]
    for layer in range(layers):
        x = left + layer * cw + cw / 2
        svg.append(f'<line x1="{x}" y1="{top}" x2="{x}" y2="{top + band * len(kinds)}" class="grid"/>')
    depth = max(layers - 1, 1)
    medians = []
    for row, (key, name, against, colour) in enumerate(kinds):
        base = top + band * (row + 1) - 8
        svg.append(f'<text class="glabel" x="{left - 12}" y="{base - 14}" text-anchor="end" fill="{colour}">{esc(name)} heads</text>')
        svg.append(
            f'<text class="tick" x="{left - 12}" y="{base}" text-anchor="end">{esc(against)}, n = {len(heads[key])}</text>'
        )
        svg.append(f'<line x1="{left}" y1="{base + 5}" x2="{left + layers * cw}" y2="{base + 5}" class="base"/>')
        for layer, count in enumerate(counts[key]):
            if not count:
                continue
            x = left + layer * cw + cw / 2
            dots = "".join(
                f'<circle cx="{x}" cy="{base - k * gap}" r="{radius}" fill="{colour}"/>' for k in range(min(count, stack))
            )
            tip = f"{name} heads in layer {layer}: {count} ({', '.join(members[key][layer])})"
            svg.append(
                f"<g><title>{esc(tip)}</title>{dots}"
                f'<text class="count" x="{x}" y="{base - min(count, stack) * gap - 1}" text-anchor="middle">'
                f'{count if count <= stack else f"{count}↑"}</text></g>'
            )
        if heads[key]:
            median = _quantile([float(layer) for layer, _ in heads[key]], 0.5)
            medians.append(
                f"{esc(name)} {num(median, 1) if median % 1 else int(median)} "
                f"(relative depth {num(median / depth, 2)})"
            )
            mx = left + median * cw + cw / 2
            svg.append(
                f'<g><title>{esc(f"median layer of the {name} heads: {median:g}")}</title>'
                f'<path d="M{mx} {base + 6} l-5 8 h10 z" fill="{colour}"/></g>'
            )
        else:
            medians.append(f"{esc(name)}: none")
            svg.append(f'<text class="tick" x="{left + 8}" y="{base - 4}">no {esc(name)} heads</text>')
    axis_y = top + band * len(kinds) + 2
    step = _layer_ticks(layers, cw)
    for layer in range(0, layers, step):
        svg.append(f'<text class="tick" x="{left + layer * cw + cw / 2}" y="{axis_y + 14}" text-anchor="middle">{layer}</text>')
    svg.append(
        f'<text class="axis" x="{left + layers * cw / 2}" y="{axis_y + 32}" text-anchor="middle">'
        f"layer (0 = first of {layers}) →</text>"
    )
    svg.append("</svg>")
    rows = "".join(
        f"<tr><th>{esc(name)}</th>" + "".join(f'<td class="num">{c or ""}</td>' for c in counts[key])
        + f'<td class="num">{len(heads[key])}</td></tr>'
        for key, name, *_ in kinds
    )
    lists = "".join(
        f"<p class=\"small\"><strong>{esc(name)}</strong> (strongest first): "
        f"{esc(', '.join(_lh(h) for h in heads[key])) or '—'}</p>"
        for key, name, *_ in kinds
    )
    return (
        '<figure class="fig head-depths">'
        "<figcaption>Layers of the lexical and semantic matching heads</figcaption>"
        f'<div class="heatmap-wrap">{"".join(svg)}</div>'
        f'<p class="caption">One dot per significant head at its layer (number = heads in that layer); '
        f"▲ = median layer: {'; '.join(medians)}. Lexical heads separate relevant pairs from easy "
        "negatives, semantic heads from hard negatives.</p>"
        '<details><summary>Numbers (heads per layer)</summary><div class="scroll"><table class="small grid-table">'
        f'<thead><tr><th>layer</th>{"".join(f"<th class=num>{i}</th>" for i in range(layers))}'
        f'<th class="num">all</th></tr></thead><tbody>{rows}</tbody></table></div>{lists}</details>'
        "</figure>"
    )


def _box_svg(groups: list[tuple[str, list[float], str]], axis: str, low: float, high: float) -> str:
    """A small dot-and-box summary: one column per group, jittered dots, quartile box, median."""
    start, end, ticks, decimals = _ticks(low, high, 4)
    left, top, plot_h, col = 46, 14, 230, 92
    width, height = left + col * len(groups) + 12, top + plot_h + 42

    def y(value: float) -> float:
        return top + plot_h * (end - value) / (end - start)

    svg = [
        f'<svg class="heatmap chart box" viewBox="0 0 {width} {height}" width="{width}" height="{height}" role="img" '
        f'aria-label="{esc(axis)} by group">'
    ]
    for tick in ticks:
        svg.append(f'<line x1="{left}" y1="{y(tick)}" x2="{width - 8}" y2="{y(tick)}" class="grid"/>')
        svg.append(f'<text class="tick" x="{left - 6}" y="{y(tick) + 3.5}" text-anchor="end">{tick:.{decimals}f}</text>')
    if start < 0 < end:
        svg.append(f'<line x1="{left}" y1="{y(0)}" x2="{width - 8}" y2="{y(0)}" class="zero"/>')
    middle = top + plot_h / 2
    svg.append(f'<text class="axis" x="12" y="{middle}" text-anchor="middle" transform="rotate(-90 12 {middle})">{esc(axis)}</text>')
    for g, (name, values, colour) in enumerate(groups):
        cx = left + col * g + col / 2
        if values:
            q1, q2, q3 = (_quantile(values, q) for q in (0.25, 0.5, 0.75))
            spread = 26 if len(values) > 40 else 18
            dots = "".join(
                f'<circle cx="{cx + ((k * 0.618034) % 1 - 0.5) * spread * 2:.1f}" cy="{y(v):.1f}" r="2.6" '
                f'fill="{colour}" fill-opacity="{0.45 if len(values) > 40 else 0.75}"/>'
                for k, v in enumerate(values)
            )
            svg.append(
                f'<g><title>{esc(f"{name}: n = {len(values)}, median {q2:.3f}, quartiles {q1:.3f} to {q3:.3f}")}</title>'
                f'<rect x="{cx - 30}" y="{y(q3)}" width="60" height="{max(y(q1) - y(q3), 1)}" fill="#ffffff" '
                f'fill-opacity="0.55" stroke="{OUTLINE}" stroke-width="1"/>{dots}'
                f'<line x1="{cx - 30}" y1="{y(q2)}" x2="{cx + 30}" y2="{y(q2)}" stroke="{OUTLINE}" stroke-width="2.2"/></g>'
            )
        svg.append(f'<text class="glabel" x="{cx}" y="{top + plot_h + 18}" text-anchor="middle" fill="{colour}">{esc(name)}</text>')
        svg.append(f'<text class="tick" x="{cx}" y="{top + plot_h + 33}" text-anchor="middle">n = {len(values)}</text>')
    svg.append("</svg>")
    return "".join(svg)


@figure_renderer("alignment")
def render_alignment(data: dict[str, Any], context: dict[str, Any]) -> str:
    """Query-key alignment of every head as a layer x head heatmap (matching heads outlined),
    with a dot-and-box summary of matching against other heads."""
    values = _matrix(data["values"], "values")
    shape = (len(values), len(values[0]))
    matching = data.get("matching")
    matching = _matrix(matching, "matching", shape) if matching is not None else [[False] * shape[1] for _ in values]
    finite = [_finite(v) for row in values for v in row]
    largest = max((abs(v) for v in finite if v is not None), default=0.0)
    scale = min(1.0, _nice_ceiling(largest)) if largest <= 1 else _nice_ceiling(largest)

    def tip(i: int, j: int) -> str:
        return f"head {i}/{j}: alignment {num(values[i][j])}" + (", matching head" if matching[i][j] is True else "")

    heatmap = _head_grid_svg(values, matching, lambda i, j: diverging(_finite(values[i][j]), scale), tip, mark="•",
                             label="query-key alignment per head; matching heads outlined")
    inside = [v for row, marks in zip(values, matching) for v, m in zip(row, marks) if m is True and _finite(v) is not None]
    outside = [v for row, marks in zip(values, matching) for v, m in zip(row, marks) if m is not True and _finite(v) is not None]
    shown = inside + outside
    box = _box_svg(
        [("matching", [float(v) for v in inside], BLUE), ("other heads", [float(v) for v in outside], GREY)],
        "alignment",
        min(shown + [0.0]),
        max(shown + [0.0]),
    )
    medians = "; ".join(
        f"median {name} {num(_quantile([float(v) for v in group], 0.5))} (n = {len(group)})"
        for name, group in (("matching", inside), ("other", outside))
        if group
    )
    return (
        '<figure class="fig alignment">'
        "<figcaption>Alignment of the singular vectors of each head's query-key matrix</figcaption>"
        f'<div class="panels">{heatmap}{box}</div>'
        f'<div class="legend">{_diverging_legend(scale, "alignment:")}'
        '<span class="swatch marked"></span><span class="tick">• matching head</span></div>'
        '<p class="caption">Left: one cell per head (row = layer from 0, column = head), coloured by '
        "Σ<sub>k</sub> s<sub>k</sub> u<sub>k</sub>·v<sub>k</sub> / Σ<sub>k</sub> s<sub>k</sub> of W<sub>Q</sub> "
        "W<sub>K</sub><sup>T</sup> (1 = left and right singular vectors aligned, 0 = unrelated, −1 = opposed); "
        "outlined • = a matching head of CE-6/CE-7. Right: the same values, matching heads against all "
        f"other heads (box = quartiles, bar = median): {esc(medians) or 'no values'}.</p>"
        f"<details><summary>Numbers (alignment; • matching)</summary>{_grid_table(values, matching, '•', 3)}</details>"
        "</figure>"
    )


def _dash(pattern: str) -> str:
    return f' stroke-dasharray="{pattern}"' if pattern else ""


def _profile_panel(name: str, series: dict[str, list[Any]], layers: int, colours: dict[str, tuple[str, str, str]]) -> str:
    finite = [v for values in series.values() for v in (_finite(x) for x in values) if v is not None]
    start, end, ticks, decimals = _ticks(min(finite, default=0.0), max(finite, default=1.0), 4)
    left, top, plot_w, plot_h = 46, 8, 190, 150
    width, height = left + plot_w + 12, top + plot_h + 40

    def x(layer: float) -> float:
        return left + plot_w * (layer / max(layers - 1, 1))

    def y(value: float) -> float:
        return top + plot_h * (end - value) / (end - start)

    title = PROFILE_TITLES.get(name, name)
    svg = [
        f'<svg class="heatmap chart profile" viewBox="0 0 {width} {height}" width="{width}" height="{height}" role="img" '
        f'aria-label="{esc(title)} by layer">'
    ]
    for tick in ticks:
        svg.append(f'<line x1="{left}" y1="{y(tick):.1f}" x2="{left + plot_w}" y2="{y(tick):.1f}" class="grid"/>')
        svg.append(f'<text class="tick" x="{left - 6}" y="{y(tick) + 3.5:.1f}" text-anchor="end">{tick:.{decimals}f}</text>')
    step = 1 if layers <= 10 else math.ceil(layers / 7)
    for layer in range(0, layers, step):
        svg.append(f'<text class="tick" x="{x(layer):.1f}" y="{top + plot_h + 15}" text-anchor="middle">{layer}</text>')
    svg.append(f'<line x1="{left}" y1="{top + plot_h}" x2="{left + plot_w}" y2="{top + plot_h}" class="base"/>')
    svg.append(f'<text class="axis" x="{left + plot_w / 2}" y="{top + plot_h + 33}" text-anchor="middle">layer →</text>')
    radius = 3 if layers <= 12 else 2.2
    for group, values in series.items():
        colour, dash, label = colours[group]
        runs: list[list[str]] = [[]]
        points = []
        for layer, value in enumerate(values):
            number = _finite(value)
            if number is None:
                runs.append([])
                continue
            runs[-1].append(f"{x(layer):.1f},{y(number):.1f}")
            points.append(
                f'<circle cx="{x(layer):.1f}" cy="{y(number):.1f}" r="{radius}" fill="{colour}">'
                f"<title>{esc(f'{label}, layer {layer}: {number:.4g}')}</title></circle>"
            )
        dashing = _dash(dash)
        for run in runs:
            if len(run) > 1:
                svg.append(
                    f'<polyline points="{" ".join(run)}" fill="none" stroke="{colour}" stroke-width="2"{dashing} '
                    'stroke-linejoin="round"/>'
                )
        svg.extend(points)
    svg.append("</svg>")
    return f'<div class="panel"><div class="panel-title">{esc(title)}</div>{"".join(svg)}</div>'


@figure_renderer("layer_profile")
def render_layer_profile(data: dict[str, Any], context: dict[str, Any]) -> str:
    """Small multiples: each statistic's mean by layer, one line per pair group."""
    statistics = data["statistics"]
    if not isinstance(statistics, dict) or not statistics:
        raise ValueError("no statistics to draw")
    layers = _count(data.get("layers"))
    for name, series in statistics.items():
        if not isinstance(series, dict):
            raise ValueError(f"{name} is not a mapping of group to values per layer")
        for group, values in series.items():
            if not isinstance(values, list):
                raise ValueError(f"{name}/{group} is not a list")
            layers = layers or len(values)
            if len(values) != layers:
                raise ValueError(f"{name}/{group} has {len(values)} values for {layers} layers")
    if not layers:
        raise ValueError("no values per layer")
    ordered = [n for n in PROFILE_TITLES if n in statistics] + [n for n in statistics if n not in PROFILE_TITLES]
    groups: list[str] = [g for g in GROUPS if any(g in s for s in statistics.values())]
    groups += [str(g) for s in statistics.values() for g in s if g not in GROUPS and str(g) not in groups]
    colours = dict(GROUPS)
    for k, group in enumerate(g for g in groups if g not in GROUPS):
        colours[group] = (EXTRA_COLOURS[k % len(EXTRA_COLOURS)], "", group)
    panels = "".join(
        _profile_panel(str(name), {str(g): v for g, v in statistics[name].items()}, layers, colours) for name in ordered
    )
    legend = "".join(
        f'<span class="line-key"><svg width="28" height="10" aria-hidden="true"><line x1="1" y1="5" x2="27" y2="5" '
        f'stroke="{colours[g][0]}" stroke-width="2.4"{_dash(colours[g][1])}/></svg>{esc(colours[g][2])}</span>'
        for g in groups
    )
    absent = [GROUPS[g][2] for g in GROUPS if g not in groups]
    header = "".join(
        f'<th class="num" colspan="{len(statistics[n]) or 1}">{esc(PROFILE_TITLES.get(str(n), n))}</th>' for n in ordered
    )
    subheader = "".join(
        "".join(f'<th class="num">{esc(g)}</th>' for g in statistics[n]) or "<th></th>" for n in ordered
    )
    body = "".join(
        f"<tr><th>{layer}</th>"
        + "".join(
            "".join(f'<td class="num">{num(_finite(v[layer]) if _finite(v[layer]) is not None else v[layer], 4)}</td>'
                    for v in statistics[n].values()) or "<td></td>"
            for n in ordered
        )
        + "</tr>"
        for layer in range(layers)
    )
    return (
        '<figure class="fig layer-profile">'
        "<figcaption>Attention to the special tokens, layer by layer</figcaption>"
        f'<div class="legend">{legend}</div>'
        f'<div class="panels narrow">{panels}</div>'
        '<p class="caption">Each point is the mean over the analysis pairs of a group and over all heads of a layer '
        f"(layer 0 = first of {layers}). Text tokens are the query and document tokens; [SEP] is both separators."
        + (f" No {esc(', no '.join(absent))} in this run." if absent else "")
        + "</p>"
        '<details><summary>Numbers (mean per layer)</summary><div class="scroll"><table class="small grid-table">'
        f'<thead><tr><th rowspan="2">layer</th>{header}</tr><tr>{subheader}</tr></thead><tbody>{body}</tbody></table>'
        "</div></details>"
        "</figure>"
    )


@figure_renderer("decomposition")
def render_decomposition(data: dict[str, Any], context: dict[str, Any]) -> str:
    """Mean context-free share (R^2) per head: matching heads, then control heads."""
    heads = _head_list(data.get("heads"), "heads")
    controls = _head_list(data.get("controls"), "controls")
    shares = data["mean_share"]
    if not isinstance(shares, list) or len(shares) != len(heads) + len(controls) or not shares:
        raise ValueError(f"mean_share has {len(shares) if isinstance(shares, list) else 'no'} values "
                         f"for {len(heads)} heads and {len(controls)} controls")
    bars = [("matching", h, shares[k], BLUE) for k, h in enumerate(heads)]
    bars += [("control", h, shares[len(heads) + k], GREY) for k, h in enumerate(controls)]
    finite = [_finite(s) for s in shares]
    known = [v for v in finite if v is not None]
    high = max(known + [0.0])
    low = min(known + [0.0])
    high = 1.0 if 0.6 < high <= 1.0 else high
    start, end, ticks, decimals = _ticks(low, high, 5)
    bw = max(30, min(56, 560 // len(bars)))
    gap = 22 if heads and controls else 0
    left, top, plot_h = 52, 12, 200
    plot_w = bw * len(bars) + gap
    width, height = left + plot_w + 14, top + plot_h + 54

    def y(value: float) -> float:
        return top + plot_h * (end - value) / (end - start)

    def x(k: int) -> float:
        return left + k * bw + (gap if k >= len(heads) else 0)

    svg = [
        f'<svg class="heatmap chart bars" viewBox="0 0 {width} {height}" width="{width}" height="{height}" role="img" '
        'aria-label="mean context-free share per head, matching and control heads">'
    ]
    for tick in ticks:
        svg.append(f'<line x1="{left}" y1="{y(tick):.1f}" x2="{left + plot_w}" y2="{y(tick):.1f}" class="grid"/>')
        svg.append(f'<text class="tick" x="{left - 6}" y="{y(tick) + 3.5:.1f}" text-anchor="end">{tick:.{decimals}f}</text>')
    middle = top + plot_h / 2
    svg.append(
        f'<text class="axis" x="12" y="{middle}" text-anchor="middle" transform="rotate(-90 12 {middle})">share (R²)</text>'
    )
    for k, (kind, head, share, colour) in enumerate(bars):
        value = _finite(share)
        label = _lh(head)
        tip = f"{kind} head {label}: mean context-free share {num(value) if value is not None else num(share)}"
        bar = ""
        if value is not None:
            y0, y1 = sorted((y(0.0), y(value)))
            inside = y1 - y0 >= 20 and value > 0  # inside: at the foot, clear of the mean line
            bar = (
                f'<rect x="{x(k) + 3}" y="{y0:.1f}" width="{bw - 6}" height="{max(y1 - y0, 0.5):.1f}" rx="1.5" fill="{colour}"/>'
                f'<text class="barval{" in" if inside else ""}" x="{x(k) + bw / 2}" y="{y1 - 6 if inside else (y0 - 4 if value >= 0 else y1 + 12):.1f}" '
                f'text-anchor="middle">{num(value, 2)}</text>'
            )
        else:
            bar = f'<text class="tick" x="{x(k) + bw / 2}" y="{y(0.0) - 4:.1f}" text-anchor="middle">—</text>'
        svg.append(
            f"<g><title>{esc(tip)}</title>{bar}"
            f'<text class="part" x="{x(k) + bw / 2}" y="{top + plot_h + 15}" text-anchor="middle">{esc(label)}</text></g>'
        )
    means = []
    for kind, members, first, colour in (("matching", heads, 0, BLUE), ("control", controls, len(heads), GREY)):
        values = [v for v in finite[first: first + len(members)] if v is not None]
        if members:
            span = (x(first), x(first + len(members) - 1) + bw)
            svg.append(
                f'<text class="glabel" x="{(span[0] + span[1]) / 2}" y="{top + plot_h + 36}" text-anchor="middle" '
                f'fill="{colour}">{kind} heads</text>'
            )
        if values:
            mean = sum(values) / len(values)
            means.append(f"{kind} {num(mean)}")
            svg.append(
                f'<g><title>{esc(f"mean of the {kind} heads: {mean:.3f}")}</title>'
                f'<line x1="{span[0]}" y1="{y(mean):.1f}" x2="{span[1]}" y2="{y(mean):.1f}" stroke="{OUTLINE}" '
                'stroke-width="1.4" stroke-dasharray="5 3"/></g>'
            )
    svg.append(f'<line x1="{left}" y1="{y(0.0):.1f}" x2="{left + plot_w}" y2="{y(0.0):.1f}" class="base"/>')
    svg.append("</svg>")
    rows = "".join(
        f'<tr><td>{kind}</td><td><code>{esc(_lh(head))}</code></td><td class="num">{num(_finite(share) if _finite(share) is not None else share)}</td></tr>'
        for kind, head, share, _ in bars
    )
    return (
        '<figure class="fig decomposition">'
        "<figcaption>Context-free share of the attention logits, per head</figcaption>"
        f'<div class="heatmap-wrap">{"".join(svg)}</div>'
        '<p class="caption">Each bar is the share of a head\'s query/document attention-logit variance explained by '
        "the context-free part (token embeddings through the head's query-key matrix), averaged over the relevant "
        "pairs; labels are layer/head. Blue = matching heads, grey = control heads drawn at random from the same "
        f"layers; dashed line = group mean ({esc(', '.join(means)) or 'none'}).</p>"
        '<details><summary>Numbers (mean share per head)</summary><div class="scroll"><table class="small">'
        '<thead><tr><th>Kind</th><th>Head</th><th class="num">Mean share</th></tr></thead>'
        f"<tbody>{rows}</tbody></table></div></details>"
        "</figure>"
    )


@figure_renderer("calibration")
def render_calibration(data: dict[str, Any], context: dict[str, Any]) -> str:
    """A decision's false-positive rate under a simulated null: the rate with its Monte-Carlo
    interval (± 3 s.e.) against alpha and the limit alpha + 3 s.e., on one 0..max axis."""
    rate, error = float(data["rate"]), float(data["mc_error"])
    alpha, limit = float(data["alpha"]), float(data["limit"])
    sims, n = _count(data.get("n_sims")), _count(data.get("n"))
    high = _nice_ceiling(max(rate + 3 * error, limit) * 1.15)
    left, width, plot_w = 14, 480, 452

    def x(value: float) -> float:
        return left + plot_w * min(max(value, 0.0), high) / high

    colour = BLUE if rate <= limit else "#b2182b"
    svg = [
        f'<svg class="chart" viewBox="0 0 {width} 70" width="{width}" height="70" role="img" '
        f'aria-label="false-positive rate {num(rate)} against alpha {num(alpha)} and limit {num(limit)}">',
        f'<line x1="{left}" y1="40" x2="{left + plot_w}" y2="40" class="grid"/>',
        f'<line x1="{x(alpha):.1f}" y1="14" x2="{x(alpha):.1f}" y2="48" stroke="{GREY}" stroke-dasharray="3 3"/>',
        f'<text class="tick" x="{x(alpha):.1f}" y="10" text-anchor="middle">alpha {num(alpha)}</text>',
        f'<line x1="{x(limit):.1f}" y1="14" x2="{x(limit):.1f}" y2="48" stroke="{ORANGE}"/>',
        f'<text class="tick" x="{x(limit):.1f}" y="62" text-anchor="middle">limit {num(limit)}</text>',
        f'<line x1="{x(rate - 3 * error):.1f}" y1="30" x2="{x(rate + 3 * error):.1f}" y2="30" stroke="{colour}" stroke-width="2"/>',
        f'<circle cx="{x(rate):.1f}" cy="30" r="5" fill="{colour}"><title>rate {num(rate)} ± {num(error)} (1 s.e.)</title></circle>',
        f'<text class="tick" x="{left}" y="62">0</text><text class="tick" x="{left + plot_w}" y="62" text-anchor="end">{num(high)}</text>',
        "</svg>",
    ]
    runs = f" over {sims} simulations" + (f" of n = {n}" if n else "") if sims else ""
    return (
        '<figure class="fig calibration">'
        f"<figcaption>{esc(data.get('decision', 'decision'))}: rate of SUPPORTED under the null{esc(runs)}</figcaption>"
        + "".join(svg)
        + '<p class="caption">Dot = observed rate, bar = ± 3 Monte-Carlo standard errors; dashed = alpha; '
        "solid = the limit alpha + 3 s.e. the rate must not exceed.</p></figure>"
    )


@figure_renderer("ablated_heads")
def render_ablated_heads(data: dict[str, Any], context: dict[str, Any]) -> str:
    """Which heads were ablated: the matching set on a layer x head grid (blue), how often
    each other head was drawn into a random control set (grey), and the sets as a list."""
    matching = _head_list(data.get("matching"), "matching")
    random_sets = data.get("random_sets") or []
    if not isinstance(random_sets, list):
        raise ValueError("random_sets is not a list of head sets")
    sets = [_head_list(s, f"random set {k + 1}") for k, s in enumerate(random_sets)]
    everything = matching + [h for s in sets for h in s]
    if not everything:
        raise ValueError("no heads")
    layers = _count(data.get("layers")) or max(l for l, _ in everything) + 1
    n_heads = _count(data.get("heads")) or max(h for _, h in everything) + 1
    if any(l >= layers or h >= n_heads for l, h in everything):
        raise ValueError("a head lies outside the model's layers x heads")
    chosen = set(matching)
    drawn = [[0] * n_heads for _ in range(layers)]
    for group in sets:
        for layer, head in set(group):
            drawn[layer][head] += 1
    total = max(len(sets), 1)
    values = [[float(c) for c in row] for row in drawn]
    marked = [[(l, h) in chosen for h in range(n_heads)] for l in range(layers)]
    texts = [[("●" if marked[l][h] else (str(drawn[l][h]) if drawn[l][h] else "")) for h in range(n_heads)]
             for l in range(layers)]

    def colour(i: int, j: int) -> tuple[str, str]:
        return (BLUE, "#ffffff") if marked[i][j] else sequential(drawn[i][j] / total)

    def tip(i: int, j: int) -> str:
        what = "ablated (matching head)" if marked[i][j] else "not in the matching set"
        return f"head {i}/{j}: {what}; in {drawn[i][j]} of {len(sets)} random sets"

    cw, ch = max(14, min(26, 360 // n_heads)), max(12, min(22, 320 // layers))
    grid = _head_grid_svg(values, marked, colour, tip, texts=texts, cell=(cw, ch), mark="●",
                          label="ablated matching heads and how often each head was in a random set")
    per_layer: dict[int, int] = {}
    for layer, _ in matching:
        per_layer[layer] = per_layer.get(layer, 0) + 1
    layout = ", ".join(f"{n} in layer {l}" for l, n in sorted(per_layer.items()))
    legend = f'<span class="swatch" style="background:{BLUE}"></span><span class="tick">● ablated matching head</span>'
    if sets:
        legend += '<span class="muted">in how many random sets:</span> ' + "".join(
            f'<span class="swatch" style="background:{sequential(k / total)[0]}"></span><span class="tick">{k}</span>'
            for k in range(1, len(sets) + 1)
        )
    listed = "".join(
        f'<li><code>{esc(", ".join(_lh(h) for h in sorted(s)))}</code></li>' for s in sets
    )
    return (
        '<figure class="fig ablated-heads">'
        f"<figcaption>Ablated heads: {len(matching)} matching head{'s' if len(matching) != 1 else ''} "
        f"and {len(sets)} random control set{'s' if len(sets) != 1 else ''}</figcaption>"
        f'<div class="heatmap-wrap">{grid}</div>'
        f'<div class="legend">{legend}</div>'
        f'<p class="caption">Rows = layers{"" if _count(data.get("layers")) else f" 0 to {layers - 1} (the deepest used)"}, '
        f'columns = heads{"" if _count(data.get("heads")) else f" 0 to {n_heads - 1} (the highest index used)"}. '
        f"Matching heads ablated (blue ●): <code>{esc(', '.join(_lh(h) for h in matching)) or '—'}</code> ({esc(layout) or 'none'}). "
        "Each random control set has as many heads in each of those layers, drawn from the other heads; a grey cell's "
        "number is how many random sets contain that head.</p>"
        f'<details><summary>The {len(sets)} random head set{"s" if len(sets) != 1 else ""} (layer/head)</summary>'
        f'<ol class="data small">{listed or "<li class=muted>none</li>"}</ol></details>'
        "</figure>"
    )


# --------------------------------------------------------------------------- generative retrieval (GR)

# One colour per decoder component in every GR figure (MLP blue, cross-attention orange,
# self-attention green); stages are told apart by lightness where both matter.
COMPONENT_STYLES = {
    "mlp": (BLUE, "", "MLP"),
    "cross_attention": (ORANGE, "", "cross-attention"),
    "self_attention": (EXTRA_COLOURS[0], "5 3", "self-attention"),
}
COMPONENT_RGB = {"mlp": (44, 111, 173), "cross_attention": (192, 102, 30), "self_attention": (91, 140, 58)}
SPARE_COLOURS = ("#8e5ea2", "#a0522d", "#3b8686", "#6e7781")
STAGE_TINT = {"I": 0.0, "II": 0.38, "II+III": 0.38, "III": 0.62}
VERDICT_STROKE = {"SUPPORTED": "#1a7f37", "CONTRADICTED": "#a40e26", "INCONCLUSIVE": "#bf8700"}
VERDICT_MARK = {"SUPPORTED": "✓", "CONTRADICTED": "✗", "INCONCLUSIVE": "?"}
HATCH_FILL = "#eef0f2"

Points = list[tuple[int, float | None]]
Style = tuple[str, str, str]  # colour, dash pattern, label


def _hatch(x: float, y: float, w: float, h: float) -> str:
    """A grey, diagonally hatched rectangle: a cell that could not be measured."""
    lines = []
    for t in range(-int(h), int(w), 7):
        low, high = max(0.0, -t), min(h, w - t)
        if low < high:
            lines.append(f"M{x + t + low:.1f} {y + h - low:.1f}L{x + t + high:.1f} {y + h - high:.1f}")
    return (f'<rect x="{x}" y="{y}" width="{w}" height="{h}" rx="3" fill="{HATCH_FILL}"/>'
            f'<path d="{"".join(lines)}" stroke="#c3c9d0" stroke-width="1.5" fill="none"/>')


def _real(value: Any) -> float | None:
    """A finite number (numpy scalars included), else None: what a point or a bar can be drawn from."""
    if isinstance(value, bool) or not isinstance(value, numbers.Real):
        return None
    number = float(value)
    return number if math.isfinite(number) else None


def _index(value: Any) -> int | None:
    return int(value) if isinstance(value, numbers.Integral) and not isinstance(value, bool) and value >= 0 else None


def _component_key(name: Any) -> str:
    return re.sub(r"[\s\-]+", "_", str(name).strip().lower())


def _styles(names: list[str], known: Callable[[str], Style | None]) -> dict[str, Style]:
    """A (colour, dash, label) per series: the known ones fixed, the others from SPARE_COLOURS in turn."""
    styles: dict[str, Style] = {}
    spare = 0
    for name in names:
        style = known(name)
        if style is None:
            style, spare = (SPARE_COLOURS[spare % len(SPARE_COLOURS)], "", name), spare + 1
        styles[name] = style
    return styles


def _component_style(name: str) -> Style | None:
    return COMPONENT_STYLES.get(_component_key(name))


def _lens_style(name: str) -> Style | None:
    key = name.lower()
    for start, colour, dash in (("relevant", OUTLINE, ""), ("docid", ORANGE, "6 3"), ("other", GREY, "2 3")):
        if key.startswith(start):
            return colour, dash, name
    return _component_style(name)


def _layers_of(data: dict[str, Any], *fields: str) -> int:
    """The decoder depth: ``layers`` when given, else the length of the first series found."""
    layers = _index(data.get("layers"))
    if layers:
        return layers
    for field in fields:
        series = data.get(field)
        if isinstance(series, dict):
            for values in series.values():
                if isinstance(values, (list, tuple)) and values:
                    return len(values)
    raise ValueError("no layer count and no values per layer")


def _series(data: dict[str, Any], field: str, layers: int, at: list[int] | None = None,
            required: bool = True) -> dict[str, Points]:
    """``data[field]`` = ``{name: [value per layer]}`` as ``{name: [(layer, value or None)]}``;
    ``at`` names the layers when the values cover only some."""
    value = data.get(field)
    if value is None and not required:
        return {}
    if not isinstance(value, dict):
        raise ValueError(f"{field} is not a mapping of series to values per layer")
    positions = at if at is not None else list(range(layers))
    out = {}
    for name, values in value.items():
        if not isinstance(values, (list, tuple)) or len(values) != len(positions):
            count = len(values) if isinstance(values, (list, tuple)) else "no"
            raise ValueError(f"{field}/{name} has {count} values for {len(positions)} layers")
        out[str(name)] = [(layer, _real(v)) for layer, v in zip(positions, values)]
    return out


def _stage_sets(value: Any, layers: int, name: str) -> dict[str, list[int]] | None:
    if value is None:
        return None
    if not isinstance(value, dict):
        raise ValueError(f"{name} is not a mapping of stage to layers")
    out = {}
    for stage, members in value.items():
        if not isinstance(members, (list, tuple)) or any(_index(m) is None for m in members):
            raise ValueError(f"{name}: stage {stage} is not a list of layers")
        ordered = sorted(int(m) for m in members)
        if ordered and ordered[-1] >= layers:
            raise ValueError(f"{name}: stage {stage} reaches layer {ordered[-1]} of a {layers}-layer decoder")
        out[str(stage)] = ordered
    return out


def _stages(value: Any, layers: int) -> tuple[dict[str, list[int]] | None, dict[str, list[int]] | None, str | None]:
    """(the paper's stages mapped to this depth, the data-driven ones, why there are none) from a figure's ``stages``."""
    if value is None:
        return None, None, None
    if not isinstance(value, dict):
        raise ValueError("stages is not a mapping")
    why = value.get("data_driven_error")
    return (_stage_sets(value.get("paper"), layers, "paper stages"),
            _stage_sets(value.get("data_driven"), layers, "data-driven stages"), str(why) if why else None)


def _span(layers: list[int]) -> str:
    """[4, 5, 6] -> "4-6" (as suite.generative.interventions.layer_label)."""
    if not layers:
        return "none"
    if len(layers) > 1 and layers == list(range(layers[0], layers[-1] + 1)):
        return f"{layers[0]}-{layers[-1]}"
    return ",".join(map(str, layers))


def _stage_text(stages: dict[str, list[int]] | None) -> str:
    return ", ".join(f"{name} {_span(members)}" for name, members in stages.items()) if stages else "—"


def _boundaries(stages: dict[str, list[int]] | None) -> list[int]:
    """The first layer of every stage but the one at layer 0."""
    return sorted({m[0] for m in (stages or {}).values() if m and m[0] > 0})


def _stage_words(paper: dict[str, list[int]] | None, data: dict[str, list[int]] | None, why: str | None,
                 drawn: bool = True) -> str:
    words = f"Stages as the paper's mapped to this depth: {esc(_stage_text(paper))}" if paper else "No stages recorded"
    words += " (stage II shaded)" if paper and drawn else ""
    if data:
        words += f"; data-driven from the contribution profile: {esc(_stage_text(data))}"
        words += " (dashed: where they begin)" if drawn else ""
    elif why:
        words += f"; no data-driven stages ({esc(why)})"
    return words + "."


def _power(exponent: int) -> str:
    return f"{10 ** exponent:,}".replace(",", " ") if 0 <= exponent <= 5 else f"1e{exponent}"


def _short(value: float) -> str:
    return f"{value:.3f}" if value == 0 or 0.01 <= abs(value) < 1000 else f"{value:.3g}"


def _key_line(style: Style) -> str:
    colour, dash, label = style
    return (
        f'<span class="line-key"><svg width="28" height="10" aria-hidden="true"><line x1="1" y1="5" x2="27" y2="5" '
        f'stroke="{colour}" stroke-width="2.4"{_dash(dash)}/></svg>{esc(label)}</span>'
    )


def _layer_chart(
    series: dict[str, Points],
    styles: dict[str, Style],
    layers: int,
    *,
    title: str,
    y_label: str,
    log: bool = False,
    fixed: tuple[float, float] | None = None,
    floor: float | None = None,
    lines: list[tuple[float, str, str, str]] = (),  # type: ignore[assignment]
    segments: list[tuple[int, int, float, str, str]] = (),  # type: ignore[assignment]
    paper: dict[str, list[int]] | None = None,
    data: dict[str, list[int]] | None = None,
) -> str:
    """One panel of values by layer (one band per layer): the paper's stages labelled and stage II
    shaded, data-driven stage starts dashed, reference ``lines`` (value, label, colour, dash) and
    whole-stage ``segments`` (first, last, value, colour, label); a log y axis when ``log``."""
    drawn = [v for points in series.values() for _, v in points if v is not None and (v > 0 or not log)]
    drawn += [v for v, *_ in lines if not log or v > 0] + [s[2] for s in segments if not log or s[2] > 0]
    left, top, plot_h = 58, 24, 170
    plot_w = max(220, min(480, 18 * layers))
    width, height = left + plot_w + 14, top + plot_h + 42
    if log:
        low = math.floor(math.log10(min(drawn))) if drawn else 0
        high = math.ceil(math.log10(max(drawn))) if drawn else 1
        high = max(high, low + 1)
        every = max(1, math.ceil((high - low) / 6))
        ticks = [(float(e), _power(e)) for e in range(low, high + 1, every)]
        start, end = float(low), float(high)
    else:
        if fixed is not None:
            low, high = min([fixed[0]] + drawn), max([fixed[1]] + drawn)
        else:
            low = min(drawn + ([floor] if floor is not None else []), default=0.0)
            high = max(drawn + ([floor] if floor is not None else []), default=1.0)
        start, end, values, decimals = _ticks(low, high, 4)
        ticks = [(t, f"{t:.{decimals}f}") for t in values]

    def x(layer: float) -> float:
        return left + plot_w * (layer + 0.5) / layers

    def edge(layer: int) -> float:
        return left + plot_w * layer / layers

    def y(value: float) -> float:
        position = math.log10(value) if log else value
        return top + plot_h * (end - position) / (end - start)

    svg = [
        f'<svg class="heatmap chart layers" viewBox="0 0 {width} {height}" width="{width}" height="{height}" role="img" '
        f'aria-label="{esc(title or y_label)} by layer">'
    ]
    for name, members in (paper or {}).items():
        if not members:
            continue
        a, b = edge(members[0]), edge(members[-1] + 1)
        if name == "II":
            svg.append(f'<rect x="{a:.1f}" y="{top}" width="{b - a:.1f}" height="{plot_h}" fill="#f1f3f5"/>')
        svg.append(f'<text class="stage" x="{(a + b) / 2:.1f}" y="{top - 8}" text-anchor="middle">{esc(name)}</text>')
    for tick, text in ticks:
        position = top + plot_h * (end - tick) / (end - start)
        svg.append(f'<line x1="{left}" y1="{position:.1f}" x2="{left + plot_w}" y2="{position:.1f}" class="grid"/>')
        svg.append(f'<text class="tick" x="{left - 6}" y="{position + 3.5:.1f}" text-anchor="end">{esc(text)}</text>')
    for boundary in _boundaries(paper):
        svg.append(f'<line x1="{edge(boundary):.1f}" y1="{top}" x2="{edge(boundary):.1f}" y2="{top + plot_h}" stroke="#c9d1d9"/>')
    for boundary in _boundaries(data):
        svg.append(
            f'<g><title>{esc(f"data-driven stage boundary: a stage begins at layer {boundary}")}</title>'
            f'<line x1="{edge(boundary):.1f}" y1="{top}" x2="{edge(boundary):.1f}" y2="{top + plot_h}" stroke="#59636e" '
            'stroke-width="1.3" stroke-dasharray="4 3"/></g>'
        )
    if not log and start < 0 < end:
        svg.append(f'<line x1="{left}" y1="{y(0.0):.1f}" x2="{left + plot_w}" y2="{y(0.0):.1f}" class="zero"/>')
    for value, label, colour, dash in lines:
        svg.append(
            f'<g><title>{esc(f"{label}: {value:g}")}</title><line x1="{left}" y1="{y(value):.1f}" x2="{left + plot_w}" '
            f'y2="{y(value):.1f}" stroke="{colour}" stroke-width="1.5"{_dash(dash)}/></g>'
        )
    for first, last, value, colour, label in segments:
        svg.append(
            f'<g><title>{esc(f"{label}: {value:.3f}")}</title><line x1="{edge(first) + 2:.1f}" y1="{y(value):.1f}" '
            f'x2="{edge(last + 1) - 2:.1f}" y2="{y(value):.1f}" stroke="{colour}" stroke-width="5" stroke-opacity="0.45" '
            'stroke-linecap="round"/></g>'
        )
    radius = 3 if layers <= 12 else 2.3
    for name, points in series.items():
        colour, dash, label = styles[name]
        runs: list[list[str]] = [[]]
        dots = []
        for layer, value in points:
            if value is None or (log and value <= 0):
                runs.append([])
                continue
            runs[-1].append(f"{x(layer):.1f},{y(value):.1f}")
            dots.append(
                f'<circle cx="{x(layer):.1f}" cy="{y(value):.1f}" r="{radius}" fill="{colour}">'
                f"<title>{esc(f'{label}, layer {layer}: {value:.4g}')}</title></circle>"
            )
        for run in runs:
            if len(run) > 1:
                svg.append(
                    f'<polyline points="{" ".join(run)}" fill="none" stroke="{colour}" stroke-width="2"{_dash(dash)} '
                    'stroke-linejoin="round"/>'
                )
        svg.extend(dots)
    if not drawn:
        svg.append(f'<text class="tick" x="{left + plot_w / 2}" y="{top + plot_h / 2}" text-anchor="middle">no values</text>')
    step = _layer_ticks(layers, plot_w / layers)
    for layer in range(0, layers, step):
        svg.append(f'<text class="tick" x="{x(layer):.1f}" y="{top + plot_h + 15}" text-anchor="middle">{layer}</text>')
    svg.append(f'<line x1="{left}" y1="{top + plot_h}" x2="{left + plot_w}" y2="{top + plot_h}" class="base"/>')
    svg.append(f'<text class="axis" x="{left + plot_w / 2}" y="{top + plot_h + 34}" text-anchor="middle">decoder layer →</text>')
    middle = top + plot_h / 2
    svg.append(
        f'<text class="axis" x="13" y="{middle}" text-anchor="middle" transform="rotate(-90 13 {middle})">'
        f'{esc(y_label)}{" (log)" if log else ""}</text>'
    )
    svg.append("</svg>")
    heading = f'<div class="panel-title">{esc(title)}</div>' if title else ""
    return f'<div class="panel-wide">{heading}{"".join(svg)}</div>'


def _series_table(columns: list[tuple[str, dict[str, Points]]], layers: int, digits: int = 4) -> str:
    """Numbers by layer: one column per (panel, series), blank where a series has no value at a layer."""
    head = "".join(f'<th class="num">{esc(panel)}<br>{esc(name)}</th>' for panel, group in columns for name in group)
    lookup = [dict(points) for _, group in columns for points in group.values()]
    body = "".join(
        f"<tr><th>{layer}</th>"
        + "".join(f'<td class="num">{num(values[layer], digits) if layer in values else ""}</td>' for values in lookup)
        + "</tr>"
        for layer in range(layers)
    )
    return (
        f'<div class="scroll"><table class="small grid-table"><thead><tr><th>layer</th>{head}</tr></thead>'
        f"<tbody>{body}</tbody></table></div>"
    )


@figure_renderer("stage_table")
def render_stage_table(data: dict[str, Any], context: dict[str, Any]) -> str:
    """Table 3 as a heatmap: rows = component x patching method, columns = stages; each cell the
    share of correct queries leaving rank 1, the paper's NQ10k value, the role and the verdict."""
    components, methods, stages = (list(data[k]) for k in ("components", "methods", "stages"))
    cells = data["cells"]
    if not (components and methods and stages) or not isinstance(cells, list) or not cells:
        raise ValueError("no components, methods, stages or cells")
    component_names = data.get("component_names") or {}
    method_names = data.get("method_names") or {}
    models = data.get("paper_models") or {"paper": "NQ10k", "nq320k": "NQ320k", "trivia_qa": "Trivia-QA"}
    boundary = _real(data.get("boundary"))
    layers_of = data.get("stage_layers") or {}
    grid: dict[tuple[str, str, str], dict[str, Any]] = {}
    for cell in cells:
        if not isinstance(cell, dict):
            raise ValueError("a cell is not a mapping")
        key = (str(cell["component"]), str(cell["method"]), str(cell["stage"]))
        if key[0] not in components or key[1] not in methods or key[2] not in stages:
            raise ValueError(f"cell {key} is outside the declared components, methods and stages")
        measured = cell.get("measured")
        if measured is not None and not isinstance(measured, numbers.Real):
            raise ValueError(f"cell {key}: measured is {measured!r}")
        grid[key] = cell

    def cname(component: str) -> str:
        return str(component_names.get(component, component))

    def mname(method: str) -> str:
        return str(method_names.get(method, method))

    label_w, cw, ch = 190, 150, 48
    top = 46
    rows = [(c, m) for c in components for m in methods]
    width, height = label_w + len(stages) * cw + 8, top + len(rows) * ch + 8
    svg = [
        f'<svg class="heatmap stages" viewBox="0 0 {width} {height}" width="{width}" height="{height}" role="img" '
        'aria-label="share of correct queries leaving rank 1 per component, patching method and stage">'
    ]
    for j, stage in enumerate(stages):
        cx = label_w + j * cw + cw / 2
        svg.append(f'<text class="part" x="{cx}" y="18" text-anchor="middle">stage {esc(stage)}</text>')
        if layers_of.get(stage) is not None:
            svg.append(f'<text class="sub" x="{cx}" y="34" text-anchor="middle" fill="#59636e">layers {esc(layers_of[stage])}</text>')
    for g, component in enumerate(components):
        y0 = top + g * len(methods) * ch
        if g:
            svg.append(f'<line x1="4" y1="{y0}" x2="{width - 4}" y2="{y0}" stroke="#8c959f"/>')
        svg.append(
            f'<text class="part" x="6" y="{y0 + len(methods) * ch / 2 + 4}" style="font-weight:650">{esc(cname(component))}</text>'
        )
    for i, (component, method) in enumerate(rows):
        y0 = top + i * ch
        svg.append(f'<text class="part" x="{label_w - 10}" y="{y0 + ch / 2 + 4}" text-anchor="end">{esc(mname(method))}</text>')
        for j, stage in enumerate(stages):
            x0 = label_w + j * cw
            cell = grid.get((component, method, stage))
            name = f"{cname(component)}, {mname(method)}, stage {stage}"
            if cell is None:
                svg.append(
                    f'<g><title>{esc(name)}: not in this run</title>{_hatch(x0 + 1, y0 + 1, cw - 2, ch - 2)}'
                    f'<text class="sub" x="{x0 + cw / 2}" y="{y0 + ch / 2 + 4}" text-anchor="middle" fill="#59636e">not declared</text></g>'
                )
                continue
            value, role, verdict = _real(cell.get("measured")), str(cell.get("role", "")), cell.get("verdict")
            tip = [f"{name} (layers {cell.get('layers', '?')}), {role}"]
            if value is not None:
                tip.append(f"measured {value:.3f}" + (f" ({cell['k']} of {cell['n']})" if "k" in cell and "n" in cell else "")
                           + (f", 95% CI {interval(cell.get('ci'))}" if cell.get("ci") is not None else ""))
            if cell.get("p_corrected") is not None:
                tip.append(f"p corrected {pval(cell.get('p_corrected'))}, {verdict}")
            tip.append("paper " + ", ".join(f"{label} {num(_real(cell.get(field)), 3)}" for field, label in models.items()
                                            if cell.get(field) is not None))
            if cell.get("missing"):
                tip.append(f"not measured: {cell['missing']}")
            if value is None:
                ink, main = "#59636e", "not measured" if cell.get("missing") else "no value"
                background = _hatch(x0 + 1, y0 + 1, cw - 2, ch - 2)
            else:
                fill, ink = sequential(value, DROP)
                background = f'<rect x="{x0 + 1}" y="{y0 + 1}" width="{cw - 2}" height="{ch - 2}" rx="3" fill="{fill}"/>'
                main = num(value) + (f" {VERDICT_MARK[str(verdict)]}" if str(verdict) in VERDICT_MARK else "")
            paper = _real(cell.get("paper"))
            svg.append(
                f"<g><title>{esc('; '.join(tip))}</title>{background}"
                f'<text class="val" x="{x0 + cw / 2}" y="{y0 + 21}" text-anchor="middle" fill="{ink}">{esc(main)}</text>'
                f'<text class="sub" x="{x0 + cw / 2}" y="{y0 + 38}" text-anchor="middle" fill="{ink}">'
                f'{esc(role)}{" · paper " + num(paper, 3) if paper is not None else ""}</text>'
            )
            if str(verdict) in VERDICT_STROKE:
                svg.append(
                    f'<rect x="{x0 + 2.5}" y="{y0 + 2.5}" width="{cw - 5}" height="{ch - 5}" rx="3" fill="none" '
                    f'stroke="{VERDICT_STROKE[str(verdict)]}" stroke-width="2.2"/>'
                )
            svg.append("</g>")
    svg.append("</svg>")
    legend = "".join(
        f'<span class="swatch" style="background:{sequential(t, DROP)[0]}"></span><span class="tick">{t:g}</span>'
        for t in (0.0, 0.25, 0.5, 0.75, 1.0)
    )
    legend += "".join(
        f'<span class="swatch" style="background:#fff;border:2px solid {colour}"></span>'
        f'<span class="tick">{VERDICT_MARK[v]} {v.lower()}</span>'
        for v, colour in VERDICT_STROKE.items()
    )
    legend += '<span class="swatch" style="background:repeating-linear-gradient(45deg,#eef0f2 0 3px,#c3c9d0 3px 5px)"></span>' \
              '<span class="tick">not measured</span>'
    missing = sorted({str(c["missing"]) for c in grid.values() if c.get("missing")})
    body = "".join(
        f"<tr><td>{esc(cname(c))}</td><td>{esc(mname(m))}</td><td>{esc(s)}</td><td>{esc(cell.get('layers', ''))}</td>"
        f"<td>{esc(cell.get('role', ''))}</td>"
        f'<td class="num">{num(_real(cell.get("measured")))}</td><td class="num">{interval(cell.get("ci"))}</td>'
        f'<td class="num">{num(cell.get("k"))} / {num(cell.get("n"))}</td><td class="num">{pval(cell.get("p_corrected"))}</td>'
        f"<td>{badge(cell['verdict']) if cell.get('verdict') else ''}</td>"
        + "".join(f'<td class="num">{num(_real(cell.get(field)), 4)}</td>' for field in models)
        + f"<td>{esc(cell.get('missing') or '')}</td></tr>"
        for (c, m, s), cell in sorted(grid.items(), key=lambda kv: (components.index(kv[0][0]), methods.index(kv[0][1]),
                                                                   stages.index(kv[0][2])))
    )
    paper_heads = "".join(f'<th class="num">paper {esc(label)}</th>' for label in models.values())
    data_driven = data.get("stages_data_driven")
    n = _index(data.get("n"))
    return (
        '<figure class="fig stage-table">'
        "<figcaption>Stage patching (Table 3): share of correct queries whose relevant document leaves rank 1</figcaption>"
        f'<div class="heatmap-wrap">{"".join(svg)}</div>'
        f'<div class="legend"><span class="muted">share leaving rank 1:</span> {legend}</div>'
        f'<p class="caption">Each cell: the component\'s output patched in every layer of the stage (zero, the mean '
        f"output over a held-apart split, or the pre-trained T5's output for the same query), over the "
        f"{n if n is not None else 'recorded'} correct queries; big number = measured share leaving rank 1, small type = "
        f"the role the paper gives the cell and its NQ10k value (NQ320k and Trivia-QA in the tooltip and the numbers). "
        + (f"Boundary {num(boundary, 2)}: a removable cell must lie significantly below it, a crucial one significantly "
           "above; reported cells are not tested. " if boundary is not None else "")
        + f"Mapped stage layers: {esc(', '.join(f'{k} {v}' for k, v in layers_of.items()) or '—')}; data-driven stages "
        f"(reported, never deciding): {esc(_stage_text(data_driven) if isinstance(data_driven, dict) else 'none')}.</p>"
        + (f'<p class="caption">Not measured: {esc("; ".join(missing))}.</p>' if missing else "")
        + '<details><summary>Numbers (measured, CI, corrected p, paper)</summary><div class="scroll"><table class="small">'
        "<thead><tr><th>Component</th><th>Method</th><th>Stage</th><th>Layers</th><th>Role</th>"
        '<th class="num">Measured</th><th class="num">95% CI</th><th class="num">k / n</th><th class="num">p (corrected)</th>'
        f"<th>Verdict</th>{paper_heads}<th>Not measured</th></tr></thead><tbody>{body}</tbody></table></div></details>"
        "</figure>"
    )


@figure_renderer("contribution_profile")
def render_contribution_profile(data: dict[str, Any], context: dict[str, Any]) -> str:
    """Fig. 3: per layer, each component's share of the residual change, its cosine with the
    residual, and (stage III) its cosine with the summed stage-I MLP output."""
    layers = _layers_of(data, "ratios", "cosines")
    ratios = _series(data, "ratios", layers)
    cosines = _series(data, "cosines", layers, required=False)
    at = data.get("stage_cosine_layers")
    if at is not None and (not isinstance(at, (list, tuple)) or any(_index(v) is None or v >= layers for v in at)):
        raise ValueError("stage_cosine_layers is not a list of this decoder's layers")
    primed = _series(data, "stage_cosines", layers, at=[int(v) for v in at] if at is not None else None, required=False)
    threshold = _real(data.get("threshold"))
    paper, driven, why = _stages(data.get("stages"), layers)
    names = list(dict.fromkeys([*ratios, *cosines, *primed]))
    styles = _styles(names, _component_style)
    panels = [_layer_chart(ratios, styles, layers, title="‖c_out‖ / ‖r_end − r_begin‖", y_label="ratio", floor=0.0,
                           paper=paper, data=driven)]
    if cosines:
        panels.append(_layer_chart(cosines, styles, layers, title="cosine with the residual at the layer's start",
                                   y_label="cosine", fixed=(-1.0, 1.0), paper=paper, data=driven))
    if primed:
        lines = [(threshold, "threshold", "#b2182b", "5 3")] if threshold is not None else []
        panels.append(_layer_chart(primed, styles, layers, title="stage III: cosine with the summed stage-I MLP output",
                                   y_label="cosine", fixed=(-1.0, 1.0), lines=lines, paper=paper, data=driven))
    n = _index(data.get("n"))
    columns = [("ratio", ratios), ("cos residual", cosines), ("cos stage-I MLPs", primed)]
    return (
        '<figure class="fig contribution-profile">'
        "<figcaption>What each decoder component adds to the residual stream, layer by layer (Fig. 3)</figcaption>"
        f'<div class="legend">{"".join(_key_line(styles[name]) for name in names)}</div>'
        f'<div class="panels">{"".join(panels)}</div>'
        f'<p class="caption">Each point is a mean over the {n if n is not None else "recorded"} correct queries of '
        f"one decoder layer (0 = first of {layers}): left, the norm of the component's output over the norm of the "
        "layer's whole change to the residual; middle, its cosine with the residual entering the layer; right, for the "
        "stage-III layers the claim tests, its cosine with the summed output of the stage-I MLPs"
        + (f" (red dashed: the threshold {num(threshold, 2)})" if threshold is not None and primed else "")
        + f". {_stage_words(paper, driven, why)}</p>"
        f"<details><summary>Numbers (mean per layer)</summary>{_series_table([c for c in columns if c[1]], layers)}</details>"
        "</figure>"
    )


@figure_renderer("lens_ranks")
def render_lens_ranks(data: dict[str, Any], context: dict[str, Any]) -> str:
    """Fig. 4: mean logit-lens ranks by layer on a log axis, for the residual and the component outputs."""
    layers = _layers_of(data, "residual", "components")
    residual = _series(data, "residual", layers)
    components = _series(data, "components", layers, required=False)
    if not residual and not components:
        raise ValueError("no rank series")
    paper, driven, why = _stages(data.get("stages"), layers)
    over = str(data.get("over") or "docids")
    styles = _styles(list(residual), _lens_style)
    styles.update(_styles(list(components), _component_style))
    panels = []
    if residual:
        panels.append(_layer_chart(residual, styles, layers, title="residual stream after each layer", y_label="mean rank",
                                   log=True, paper=paper, data=driven))
    if components:
        panels.append(_layer_chart(components, styles, layers, title="each component's output alone (relevant document)",
                                   y_label="mean rank", log=True, paper=paper, data=driven))
    n, vocab, docids = (_index(data.get(k)) for k in ("n", "vocab", "docids"))
    sizes = ", ".join(p for p in (f"{vocab} vocabulary tokens" if vocab else "", f"{docids} document ids" if docids else "") if p)
    return (
        '<figure class="fig lens-ranks">'
        "<figcaption>Logit lens: ranks by layer (Fig. 4)</figcaption>"
        f'<div class="legend">{"".join(_key_line(s) for s in styles.values())}</div>'
        f'<div class="panels">{"".join(panels)}</div>'
        f'<p class="caption">Each point is a mean over the {n if n is not None else "recorded"} analysed correct queries '
        f"of a rank read through the model's own final norm and unembedding after a decoder layer (0 = first of {layers}); "
        f"log scale, lower is better. The relevant document is ranked among the {esc(over)}; the docid and other-token "
        f"lines are the mean rank of those tokens in the whole vocabulary{f' ({esc(sizes)})' if sizes else ''}. "
        f"{_stage_words(paper, driven, why)}</p>"
        f"<details><summary>Numbers (mean rank per layer)</summary>"
        f"{_series_table([c for c in (('residual', residual), ('component', components)) if c[1]], layers, 2)}</details>"
        "</figure>"
    )


@figure_renderer("layer_series")
def render_layer_series(data: dict[str, Any], context: dict[str, Any]) -> str:
    """GR-4: a value per layer per component (one layer patched at a time), the boundary as a
    line and each whole-stage value as a bar across its stage."""
    layers = _layers_of(data, "series")
    series = _series(data, "series", layers)
    if not series:
        raise ValueError("no series")
    paper, driven, why = _stages(data.get("stages"), layers)
    boundary = _real(data.get("boundary"))
    styles = _styles(list(series), _component_style)
    whole = data.get("whole_stage") or {}
    if not isinstance(whole, dict):
        raise ValueError("whole_stage is not a mapping")
    segments, listed = [], []
    for spec, value in whole.items():
        component, _, stage = str(spec).partition(":")
        number = _real(value)
        style = _component_style(component)
        label = f"{style[2] if style else component}, whole stage {stage}"
        listed.append(f"{esc(label)} {num(number)}")
        members = (paper or {}).get(stage)
        if number is not None and members:
            segments.append((members[0], members[-1], number, style[0] if style else GREY, label))
    log = str(data.get("scale", "linear")) == "log"
    y_label = str(data.get("y_label") or "value")
    chart = _layer_chart(series, styles, layers, title="", y_label=y_label, log=log,
                         floor=None if log else 0.0, lines=[(boundary, "boundary", "#b2182b", "5 3")] if boundary is not None else [],
                         segments=segments, paper=paper, data=driven)
    n = _index(data.get("n"))
    return (
        '<figure class="fig layer-series">'
        f"<figcaption>{esc(data.get('title') or 'Values by layer')}</figcaption>"
        f'<div class="legend">{"".join(_key_line(styles[name]) for name in series)}</div>'
        f'<div class="panels">{chart}</div>'
        f'<p class="caption">Each point: {esc(y_label)} over the {n if n is not None else "recorded"} correct queries '
        f"with that one layer's component patched (layer 0 = first of {layers})"
        + (f"; red dashed: the boundary {num(boundary, 2)}" if boundary is not None else "")
        + ("; thick bars: the same component patched in its whole stage, drawn across the stage" if segments else "")
        + f". Whole stages: {'; '.join(listed) or 'none'}. {_stage_words(paper, driven, why)}</p>"
        f"<details><summary>Numbers (per layer)</summary>{_series_table([('', series)], layers)}</details>"
        "</figure>"
    )


def _group_colour(group: str, spare: dict[str, str]) -> str:
    """A writer group's colour: its component's hue, lighter for later stages; the embedding grey."""
    if group == "embedding":
        return "#b6bdc5"
    component, _, stage = group.partition("/")
    base = COMPONENT_RGB.get(_component_key(component))
    if base is None:
        return spare.setdefault(group, SPARE_COLOURS[len(spare) % len(SPARE_COLOURS)])
    return "#%02x%02x%02x" % _mix(base, (255, 255, 255), STAGE_TINT.get(stage, 0.2))


def _group_order(group: str) -> tuple[int, int, str]:
    component, _, stage = group.partition("/")
    order = ["embedding", "mlp", "cross_attention", "self_attention"]
    key = _component_key(component)
    return (order.index(key) if key in order else len(order), list(STAGE_TINT).index(stage) if stage in STAGE_TINT else 9, group)


@figure_renderer("attribution_shares")
def render_attribution_shares(data: dict[str, Any], context: dict[str, Any]) -> str:
    """Fig. 5: for each reader layer, the writer groups' shares of the positive contribution to
    what it reads, as stacked bars; one panel per reader; the head-sharing numbers below."""
    panels = data["panels"]
    if not isinstance(panels, list):
        raise ValueError("panels is not a list")
    parsed = []
    for k, panel in enumerate(panels):
        if not isinstance(panel, dict) or not isinstance(panel.get("shares"), dict):
            raise ValueError(f"panel {k + 1} has no shares by reader layer")
        readers = [_index(v) for v in panel.get("layers") or [int(key) for key in panel["shares"]]]
        if any(r is None for r in readers):
            raise ValueError(f"panel {k + 1}: reader layers are not layer numbers")
        shares = {}
        for layer in readers:
            groups = panel["shares"].get(str(layer), {})
            if not isinstance(groups, dict):
                raise ValueError(f"panel {k + 1}, layer {layer}: shares are not a mapping of group to share")
            shares[layer] = {str(g): _real(v) for g, v in groups.items()}
        parsed.append((str(panel.get("title") or panel.get("reader") or f"panel {k + 1}"), readers, shares))
    groups = sorted({g for _, _, shares in parsed for row in shares.values() for g in row}, key=_group_order)
    spare: dict[str, str] = {}
    colours = {g: _group_colour(g, spare) for g in groups}
    figures, tables = [], []
    for title, readers, shares in parsed:
        bw = max(20, min(44, 420 // max(len(readers), 1)))
        left, top, plot_h = 44, 10, 180
        plot_w = max(bw * len(readers), 110)
        width, height = left + plot_w + 10, top + plot_h + 40
        svg = [
            f'<svg class="heatmap chart stacked" viewBox="0 0 {width} {height}" width="{width}" height="{height}" '
            f'role="img" aria-label="{esc(title)}: writer group shares per reader layer">'
        ]
        for tick in (0.0, 0.25, 0.5, 0.75, 1.0):
            position = top + plot_h * (1 - tick)
            svg.append(f'<line x1="{left}" y1="{position:.1f}" x2="{left + plot_w}" y2="{position:.1f}" class="grid"/>')
            svg.append(f'<text class="tick" x="{left - 6}" y="{position + 3.5:.1f}" text-anchor="end">{tick:g}</text>')
        for k, layer in enumerate(readers):
            x0, bottom = left + k * bw, top + plot_h
            row = shares[layer]
            known = [(g, v) for g in groups if (v := row.get(g)) is not None and v > 0]
            if not known:
                svg.append(f'<text class="tick" x="{x0 + bw / 2}" y="{bottom - 4}" text-anchor="middle">—</text>')
            for group, value in known:
                h = plot_h * min(value, 1.0)
                bottom -= h
                svg.append(
                    f'<rect x="{x0 + 2}" y="{bottom:.1f}" width="{bw - 4}" height="{h:.1f}" fill="{colours[group]}">'
                    f"<title>{esc(f'reader layer {layer}: {group} {value:.3f}')}</title></rect>"
                )
            svg.append(f'<text class="tick" x="{x0 + bw / 2}" y="{top + plot_h + 14}" text-anchor="middle">{layer}</text>')
        svg.append(f'<line x1="{left}" y1="{top + plot_h}" x2="{left + plot_w}" y2="{top + plot_h}" class="base"/>')
        svg.append(f'<text class="axis" x="{left + plot_w / 2}" y="{top + plot_h + 32}" text-anchor="middle">reader layer</text>')
        if not readers:
            svg.append(f'<text class="tick" x="{left + plot_w / 2}" y="{top + plot_h / 2}" text-anchor="middle">no readers</text>')
        svg.append("</svg>")
        figures.append(f'<div class="panel-wide"><div class="panel-title">{esc(title)}</div>{"".join(svg)}</div>')
        head = "".join(f'<th class="num">{esc(g)}</th>' for g in groups)
        body = "".join(
            f"<tr><th>{layer}</th>" + "".join(f'<td class="num">{num(shares[layer].get(g))}</td>' for g in groups) + "</tr>"
            for layer in readers
        )
        tables.append(f"<h4>{esc(title)}</h4>"
                      f'<div class="scroll"><table class="small grid-table"><thead><tr><th>reader</th>{head}</tr></thead>'
                      f"<tbody>{body}</tbody></table></div>")
    legend = "".join(
        f'<span class="swatch" style="background:{colours[g]}"></span><span class="tick">{esc(g)}</span>' for g in groups
    )
    heads = data.get("heads")
    head_words = ""
    if isinstance(heads, dict):
        k, candidates = _index(heads.get("k")), _index(heads.get("candidates"))
        paper = _real(heads.get("paper_share_in_all"))
        head_words = (
            f'<p class="caption"><strong>Shared heads:</strong> of the {candidates if candidates is not None else "?"} '
            f"candidate cross-attention heads, {num(_real(heads.get('share_in_all')))} are among the top "
            f"{k if k is not None else '?'} contributors to some active stage-III neuron for every analysed correct query, "
            f"{num(_real(heads.get('share_in_any')))} for at least one"
            + (f" (paper: {num(paper, 2)} for every query)" if paper is not None else "") + ".</p>"
        )
    paper, driven, why = _stages(data.get("stages"), _index(data.get("layers")) or 10**6)  # only named here
    n = _index(data.get("n"))
    return (
        '<figure class="fig attribution-shares">'
        "<figcaption>Who reads whom: writer groups' shares of what each reader reads (Fig. 5)</figcaption>"
        f'<div class="legend"><span class="muted">writer group (component/stage):</span> {legend or "none"}</div>'
        f'<div class="panels">{"".join(figures) or "<p class=muted>no panels</p>"}</div>'
        f'<p class="caption">One bar per reader layer: each writer group\'s share of the positive contribution to the '
        f"reader's activations (exact decomposition into the start embedding and every earlier component output), "
        f"averaged over the {n if n is not None else 'recorded'} analysed correct queries; darker = earlier stage. "
        f"{_stage_words(paper, driven, why, drawn=False)}</p>"
        f"{head_words}"
        f"<details><summary>Numbers (share per reader layer)</summary>{''.join(tables)}</details>"
        "</figure>"
    )


@figure_renderer("metric_bars")
def render_metric_bars(data: dict[str, Any], context: dict[str, Any]) -> str:
    """Measured shares as horizontal bars with their CI, a reference tick per bar and the paper's value."""
    bars = data["bars"]
    if not isinstance(bars, list) or not all(isinstance(b, dict) and "label" in b for b in bars):
        raise ValueError("bars is not a list of labelled bars")
    for bar in bars:
        ci = bar.get("ci")
        if ci is not None and not (isinstance(ci, (list, tuple)) and len(ci) == 2):
            raise ValueError(f"bar {bar['label']!r}: ci is not a pair")
    unit = str(data.get("unit") or "value")
    reference_label = str(data.get("reference_label") or "reference")
    title = str(data.get("title") or unit)
    values = [v for b in bars for v in (_real(b.get("measured")), _real(b.get("reference")), _real(b.get("paper")),
                                        _real(b.get("bound")), *[_real(c) for c in (b.get("ci") or [])]) if v is not None]
    start = min(values + [0.0])
    end = _nice_ceiling(max(values + [0.0])) if max(values + [0.0]) > 0 else 1.0
    left, plot_w, row, top = 24, 440, 50, 6
    width, height = left + plot_w + 90, top + row * len(bars) + 30

    def x(value: float) -> float:
        return left + plot_w * (min(max(value, start), end) - start) / (end - start)

    svg = [
        f'<svg class="heatmap chart hbars" viewBox="0 0 {width} {height}" width="{width}" height="{height}" role="img" '
        f'aria-label="{esc(title)}">'
    ]
    for tick in (start + (end - start) * t / 4 for t in range(5)):
        svg.append(f'<line x1="{x(tick):.1f}" y1="{top}" x2="{x(tick):.1f}" y2="{top + row * len(bars)}" class="grid"/>')
        svg.append(f'<text class="tick" x="{x(tick):.1f}" y="{top + row * len(bars) + 14}" text-anchor="middle">{tick:.4g}</text>')
    for k, bar in enumerate(bars):
        y0 = top + k * row
        measured, reference, paper, bound = (_real(bar.get(f)) for f in ("measured", "reference", "paper", "bound"))
        ci = [_real(c) for c in bar.get("ci") or []]
        tip = [f"{bar['label']}: {_short(measured) if measured is not None else 'not measured'}"]
        if len(ci) == 2 and None not in ci:
            tip.append(f"95% CI [{_short(ci[0])}, {_short(ci[1])}]")
        for name, value in ((reference_label, reference), ("paper", paper), ("bound", bound)):
            if value is not None:
                tip.append(f"{name} {_short(value)}")
        other = bar.get("paper_other")
        if isinstance(other, dict):
            tip.extend(f"paper {name} {_short(v)}" for name, v in other.items() if _real(v) is not None)
        parts = [f'<text class="part" x="{left}" y="{y0 + 12}">{esc(bar["label"])}</text>']
        cy = y0 + 27
        if measured is not None:
            parts.append(f'<rect x="{x(min(0.0, measured)):.1f}" y="{cy - 8}" width="{max(abs(x(measured) - x(0.0)), 0.8):.1f}" '
                         f'height="16" rx="1.5" fill="{BLUE}" fill-opacity="0.85"/>')
            parts.append(f'<text class="barval" x="{left + plot_w + 8}" y="{cy + 4}">{_short(measured)}</text>')
        else:
            parts.append(f'<text class="tick" x="{left + plot_w + 8}" y="{cy + 4}">—</text>')
        if len(ci) == 2 and None not in ci:
            a, b = x(ci[0]), x(ci[1])
            parts.append(f'<path d="M{a:.1f} {cy - 5}v10M{a:.1f} {cy}H{b:.1f}M{b:.1f} {cy - 5}v10" stroke="{OUTLINE}" '
                         'stroke-width="1.4" fill="none"/>')
        if reference is not None:
            parts.append(f'<line x1="{x(reference):.1f}" y1="{cy - 12}" x2="{x(reference):.1f}" y2="{cy + 12}" '
                         f'stroke="{OUTLINE}" stroke-width="2.2"/>')
        if bound is not None:
            parts.append(f'<line x1="{x(bound):.1f}" y1="{cy - 12}" x2="{x(bound):.1f}" y2="{cy + 12}" stroke="#b2182b" '
                         'stroke-width="1.6" stroke-dasharray="3 2"/>')
        if paper is not None:
            parts.append(f'<path d="M{x(paper):.1f} {cy - 6}l6 6l-6 6l-6 -6z" fill="{ORANGE}" stroke="#ffffff" stroke-width="1"/>')
        svg.append(f"<g><title>{esc('; '.join(tip))}</title>{''.join(parts)}</g>")
    if not bars:
        svg.append(f'<text class="tick" x="{left + plot_w / 2}" y="{top + 14}" text-anchor="middle">nothing measured</text>')
    svg.append("</svg>")
    has_bound = any(_real(b.get("bound")) is not None for b in bars)
    legend = (
        f'<span class="swatch" style="background:{BLUE}"></span><span class="tick">measured (whisker: 95% CI)</span>'
        f'<span class="line-key"><svg width="12" height="14" aria-hidden="true"><line x1="6" y1="0" x2="6" y2="14" '
        f'stroke="{OUTLINE}" stroke-width="2.2"/></svg>{esc(reference_label)}</span>'
        f'<span class="line-key"><svg width="14" height="14" aria-hidden="true"><path d="M7 1l6 6l-6 6l-6 -6z" '
        f'fill="{ORANGE}"/></svg>paper</span>'
        + ('<span class="line-key"><svg width="12" height="14" aria-hidden="true"><line x1="6" y1="0" x2="6" y2="14" '
           'stroke="#b2182b" stroke-width="1.6" stroke-dasharray="3 2"/></svg>declared bound</span>' if has_bound else "")
    )
    notes = [f"{esc(b['label'])}: {esc(b['note'])}" for b in bars if b.get("note")]
    rows = "".join(
        f"<tr><td>{esc(b['label'])}</td><td class=\"num\">{num(_real(b.get('measured')), 4)}</td>"
        f'<td class="num">{interval([_real(c) for c in b["ci"]], 4) if b.get("ci") else "—"}</td>'
        f'<td class="num">{num(_real(b.get("reference")), 4)}</td><td class="num">{num(_real(b.get("paper")), 4)}</td>'
        f'<td class="num">{num(_real(b.get("bound")), 4)}</td>'
        f"<td>{esc(', '.join(f'{k} {plain(v)}' for k, v in b['paper_other'].items())) if isinstance(b.get('paper_other'), dict) else ''}"
        f"{esc(b.get('note') or '')}</td></tr>"
        for b in bars
    )
    n = _index(data.get("n"))
    return (
        '<figure class="fig metric-bars">'
        f"<figcaption>{esc(title)}</figcaption>"
        f'<div class="heatmap-wrap">{"".join(svg)}</div>'
        f'<div class="legend">{legend}</div>'
        f'<p class="caption">Each bar: a measured {esc(unit)}'
        + (f" over {n} queries" if n is not None else "")
        + f"; black tick: {esc(reference_label)}; diamond: the paper's value where it has one."
        + (f" {esc(data['caption'])}" if data.get("caption") else "")
        + (f" {esc(data['note'])}" if data.get("note") else "")
        + "</p>"
        + (f'<ul class="caption found">{"".join(f"<li>{n}</li>" for n in notes)}</ul>' if notes else "")
        + '<details><summary>Numbers</summary><div class="scroll"><table class="small"><thead><tr><th>Bar</th>'
        f'<th class="num">Measured</th><th class="num">95% CI</th><th class="num">{esc(reference_label)}</th>'
        '<th class="num">Paper</th><th class="num">Bound</th><th>Other</th></tr></thead>'
        f"<tbody>{rows}</tbody></table></div></details>"
        "</figure>"
    )


@figure_renderer("promoted_tokens")
def render_promoted_tokens(data: dict[str, Any], context: dict[str, Any]) -> str:
    """Table 6: per example query, the strongest stage-II cross-attention heads and the tokens
    their output promotes (model vocabulary: escaped like everything else), with the judge's cosines."""
    examples = data["examples"]
    if not isinstance(examples, list):
        raise ValueError("examples is not a list")
    rows = []
    for example in examples:
        heads = example.get("heads") if isinstance(example, dict) else None
        if not isinstance(heads, list):
            raise ValueError("an example has no list of heads")
        cells = []
        for head in heads:
            tokens = head.get("tokens") if isinstance(head, dict) else None
            if not isinstance(tokens, list):
                raise ValueError("a head has no list of tokens")
            chips = " ".join(f'<code class="tok">{esc(t)}</code>' if str(t) else '<code class="tok muted">∅</code>'
                             for t in tokens)
            cells.append(f'<td class="nowrap">{esc(head.get("layer", "?"))}/{esc(head.get("head", "?"))}</td>'
                         f"<td>{chips or '<span class=muted>none</span>'}</td>")
        query = f'<td rowspan="{max(len(cells), 1)}">{esc(example.get("query", ""))}</td>'
        if not cells:
            rows.append(f'<tr>{query}<td colspan="2" class="muted">no heads</td></tr>')
        rows.extend(f"<tr>{query if k == 0 else ''}{cell}</tr>" for k, cell in enumerate(cells))
    promoted, random_ = _real(data.get("mean_promoted")), _real(data.get("mean_random"))
    judged = (
        f"Mean cosine to the query by {esc(data.get('judge') or 'the judge')}: promoted tokens "
        f"<strong>{num(promoted)}</strong>, as many random vocabulary tokens <strong>{num(random_)}</strong>"
        + (f" (difference {num(promoted - random_, signed=True)})" if promoted is not None and random_ is not None else "")
        + "."
    )
    return (
        '<figure class="fig promoted-tokens">'
        "<figcaption>Tokens promoted by stage-II cross-attention heads (Table 6)</figcaption>"
        '<div class="scroll"><table class="small tokens"><thead><tr><th>Query</th><th>Head (layer/head)</th>'
        f'<th>Promoted tokens (logit lens, top first)</th></tr></thead><tbody>{"".join(rows) or "<tr><td colspan=3 class=muted>no examples</td></tr>"}'
        "</tbody></table></div>"
        f'<p class="caption">{esc(data.get("caption") or "")} {judged}</p>'
        "</figure>"
    )


# --------------------------------------------------------------------------- verdict rules


def verdict_rules() -> str | None:
    """The 'Verdict rules' section of ``suite.core.stats``'s docstring, or None if there is none."""
    try:
        module = importlib.import_module("suite.core.stats")
    except Exception:  # absent, or broken while another engineer writes it
        return None
    return docstring_section(module.__doc__ or "", "Verdict rules")


_UNDERLINE = re.compile(r"^\s*([-=~^*+#])\1{2,}\s*$")


def docstring_section(doc: str, heading: str) -> str | None:
    """The text of the docstring section whose first line starts with ``heading``, up to the
    next heading (an RST-underlined line or a Markdown ``#`` line); None if absent."""
    lines = inspect.cleandoc(doc).splitlines()
    start = next((i for i, line in enumerate(lines) if line.strip().lstrip("#").strip().startswith(heading)), None)
    if start is None:
        return None
    body_start = start + 1
    if body_start < len(lines) and _UNDERLINE.match(lines[body_start]):
        body_start += 1
    end = len(lines)
    for i in range(body_start, len(lines)):
        if lines[i].lstrip().startswith("#") or (
            lines[i].strip() and i + 1 < len(lines) and _UNDERLINE.match(lines[i + 1])
        ):
            end = i
            break
    title = lines[start].strip().lstrip("#").strip().rstrip(":")
    body = "\n".join(lines[body_start:end]).strip("\n")
    body = textwrap.dedent(body) if body.strip() else ""
    first_rest = title[len(heading):].lstrip(" :.-—")
    if first_rest and not body:
        body = first_rest
    elif first_rest:
        body = first_rest + "\n" + body
    return body.strip() or None


# --------------------------------------------------------------------------- sections


def _section(builder: Callable[..., str], *args: Any) -> str:
    """Build one section; a failure shows up as a notice instead of losing the report."""
    try:
        return builder(*args)
    except Exception as error:
        return (
            f'<div class="error">Could not render {esc(builder.__name__.strip("_").replace("_", " "))}: '
            f"{esc(type(error).__name__)}: {esc(error)}</div>"
        )


def _unique(items: list[dict[str, Any]], field: str) -> list[dict[str, Any]]:
    seen, result = set(), []
    for item in items:
        entry = item.get(field) or {}
        ident = json.dumps(entry, sort_keys=True, default=str)
        if ident not in seen:
            seen.add(ident)
            result.append(entry)
    return result


def _header(run: dict[str, Any]) -> str:
    claims = run.get("claims", [])
    counts = {v: sum(1 for c in claims if c.get("verdict") == v) for v in VERDICT_CLASS}
    duration = _duration(run.get("started"), run.get("finished"))
    finished = _when(run.get("finished")) if run.get("finished") else "not finished"
    status = ""
    if run.get("interrupted"):
        status = '<p class="banner warn">This run was interrupted: the results below are those measured before it stopped.</p>'
    elif not run.get("finished"):
        status = (
            '<p class="banner warn">This run has no finish time (still running, or stopped without finishing): '
            "the results below are those measured so far.</p>"
        )
    tally = " · ".join(f"{badge(v)} {counts[v]}" for v in VERDICT_CLASS)
    return (
        '<header class="top">'
        "<h1>Claims report</h1>"
        f'<p class="sub">Run <code>{esc(run.get("run_id", "?"))}</code> · started {_when(run.get("started"))}'
        f" · finished {finished}{f' ({esc(duration)})' if duration else ''}</p>"
        f'<p class="tally">{len(claims)} claim result{"s" if len(claims) != 1 else ""} on '
        f'{len(run.get("targets", []))} target{"s" if len(run.get("targets", [])) != 1 else ""}: {tally}</p>'
        f"{status}</header>"
    )


def _setup(run: dict[str, Any]) -> str:
    targets = run.get("targets", [])
    models = _unique(targets, "model")
    collections = _unique(targets, "collection")
    model_rows = []
    for model in models:
        sha = str(model.get("weights_sha256") or "")
        other = {k: v for k, v in model.items() if k not in ("id", "weights_sha256", "source", "layers", "heads")}
        model_rows.append(
            f'<tr><td><code>{esc(model.get("id", "?"))}</code></td>'
            f'<td><code title="{esc(sha)}">{esc(sha[:12]) if sha else "—"}</code></td>'
            f'<td>{esc(model.get("source", "—"))}</td>'
            f'<td class="num">{num(model.get("layers"))}</td><td class="num">{num(model.get("heads"))}</td>'
            f"<td>{render_data(other) if other else ''}</td></tr>"
        )
    collection_rows = []
    for collection in collections:
        excluded = collection.get("excluded") or {}
        if isinstance(excluded, dict) and excluded:
            items = "".join(f"<li><code>{esc(q)}</code>: {esc(r)}</li>" for q, r in excluded.items())
            excluded_html = (
                f'<details><summary>{len(excluded)} excluded</summary><ul class="excluded">{items}</ul></details>'
            )
        elif excluded:
            excluded_html = render_data(excluded)
        else:
            excluded_html = "0"
        other = {k: v for k, v in collection.items() if k not in ("id", "queries", "candidates", "excluded")}
        collection_rows.append(
            f'<tr><td><code>{esc(collection.get("id", "?"))}</code></td>'
            f'<td class="num">{num(collection.get("queries"))}</td>'
            f'<td class="num">{num(collection.get("candidates"))}</td>'
            f"<td>{excluded_html}</td><td>{render_data(other) if other else ''}</td></tr>"
        )
    options = run.get("options", {})
    mode = options.get("ablation_mode")
    convention = options.get("direction_convention")
    words = []
    if convention is not None:
        words.append(f"<li><strong>Direction convention.</strong> {esc(convention)}</li>")
    if mode is not None:
        explained = ABLATION_MODES.get(str(mode))
        words.append(
            f"<li><strong>Ablation mode.</strong> <code>{esc(mode)}</code>"
            + (f": {esc(explained)}." if explained else "")
            + "</li>"
        )
    if "alpha" in options or "correction" in options:
        words.append(
            f"<li><strong>Significance.</strong> α = {num(options.get('alpha'), 2)} per claim family, "
            f"multiple-comparison correction <code>{esc(options.get('correction', '—'))}</code>, "
            f"test <code>{esc(options.get('test', '—'))}</code>.</li>"
        )
    option_rows = "".join(f"<tr><th>{esc(k)}</th><td>{render_data(v)}</td></tr>" for k, v in options.items())
    environment = run.get("environment") or {}
    packages = environment.get("packages") or {}
    package_rows = "".join(
        f'<tr><td><code>{esc(name)}</code></td><td>{esc(version) if version is not None else "<span class=muted>not installed</span>"}</td></tr>'
        for name, version in packages.items()
    )
    env_other = {k: v for k, v in environment.items() if k != "packages"}
    return (
        '<section id="setup"><h2>Setup</h2>'
        '<h3>Models</h3><div class="scroll"><table><thead><tr><th>Model</th><th>Weights (sha256)</th><th>Source</th>'
        '<th class="num">Layers</th><th class="num">Heads</th><th>Other</th></tr></thead>'
        f'<tbody>{"".join(model_rows) or "<tr><td colspan=6 class=muted>no targets recorded</td></tr>"}</tbody></table></div>'
        '<h3>Collections</h3><div class="scroll"><table><thead><tr><th>Collection</th><th class="num">Queries</th>'
        '<th class="num">Candidates</th><th>Excluded queries</th><th>Other</th></tr></thead>'
        f'<tbody>{"".join(collection_rows) or "<tr><td colspan=5 class=muted>no targets recorded</td></tr>"}</tbody></table></div>'
        f'<h3>Options</h3><ul class="words">{"".join(words)}</ul>'
        '<div class="cols"><div><table class="kvtable"><tbody>'
        f"{option_rows}</tbody></table></div>"
        '<div><table class="kvtable"><tbody>'
        + "".join(f"<tr><th>{esc(k)}</th><td>{render_data(v)}</td></tr>" for k, v in env_other.items())
        + "</tbody></table>"
        '<table class="kvtable packages"><thead><tr><th>Package</th><th>Version</th></tr></thead>'
        f"<tbody>{package_rows}</tbody></table></div></div>"
        "</section>"
    )


def _measured_summary(claim: dict[str, Any]) -> tuple[str, Any, str, Any]:
    """(measured html, its sort value, p html, its sort value) for the summary table."""
    comparisons = claim.get("comparisons") or []
    if len(comparisons) == 1:
        c = comparisons[0]
        return (
            f'{num(c.get("measured"))}<br><span class="muted small">{interval(c.get("ci"))}</span>',
            c.get("measured"),
            pval(c.get("p_corrected")),
            c.get("p_corrected"),
        )
    if not comparisons:
        return '<span class="muted">no comparisons</span>', None, "—", None
    counts = {v: sum(1 for c in comparisons if c.get("verdict") == v) for v in VERDICT_CLASS}
    parts = ", ".join(f"{n} {v.lower()}" for v, n in counts.items() if n)
    ps = [p for p in (_finite(c.get("p_corrected")) for c in comparisons) if p is not None]
    low = min(ps) if ps else None
    return (
        f'{len(comparisons)} comparisons<br><span class="muted small">{esc(parts)}</span>',
        None,  # no single measured value: sorts after the numbers
        f'<span class="muted">min</span> {pval(low)}',
        low,
    )


def _summary(run: dict[str, Any]) -> str:
    rows = []
    for index, claim in enumerate(run.get("claims", [])):
        measured, measured_key, p_html, p_key = _measured_summary(claim)
        verdict = claim.get("verdict")
        rows.append(
            f'<tr class="{VERDICT_CLASS.get(str(verdict), "v-other")}-row">'
            f'<td data-sort="{sort_key(claim.get("claim_id"))}"><a href="#claim-{index}"><strong>{esc(claim.get("claim_id"))}</strong></a></td>'
            f'<td class="title">{esc(claim.get("title", ""))}</td>'
            f'<td class="target-cell"><code>{esc(claim.get("model"))}</code><br>'
            f'<span class="muted">on</span> <code>{esc(claim.get("collection"))}</code></td>'
            f'<td data-sort="{VERDICT_ORDER.get(str(verdict), 9)}">{badge(verdict)}</td>'
            f'<td class="num" data-sort="{sort_key(measured_key)}">{measured}</td>'
            f'<td class="paper" data-sort="{sort_key(claim.get("paper_value"))}">{esc(claim.get("paper", ""))}</td>'
            f'<td class="num" data-sort="{sort_key(p_key)}">{p_html}</td></tr>'
        )
    return (
        '<section id="summary"><h2>Verdicts</h2>'
        '<p class="hint">One row per claim and target; click a column heading to sort, a claim id to jump to its card.</p>'
        '<div class="scroll"><table class="sortable summary"><thead><tr><th>Claim</th><th>Title</th>'
        '<th>Model and collection</th><th>Verdict</th><th class="num">Measured [CI]</th><th>Paper</th>'
        '<th class="num">p (corrected)</th></tr></thead>'
        f'<tbody>{"".join(rows) or "<tr><td colspan=7 class=muted>no claim results in this run</td></tr>"}</tbody></table></div>'
        "</section>"
    )


def _comparison_rows(claim: dict[str, Any]) -> str:
    rows = []
    for c in claim.get("comparisons") or []:
        details = c.get("details") or {}
        extra = f'<details class="inline"><summary>details</summary>{render_data(details)}</details>' if details else ""
        size_name = c.get("effect_size_name")
        rows.append(
            f'<tr class="{VERDICT_CLASS.get(str(c.get("verdict")), "v-other")}-row">'
            f'<td class="label">{esc(c.get("label", ""))}</td>'
            f'<td class="num" data-sort="{sort_key(c.get("measured"))}">{num(c.get("measured"))}'
            f'<br><span class="muted small">{interval(c.get("ci"))}</span></td>'
            f'<td class="num" data-sort="{sort_key(c.get("reference"))}">{num(c.get("reference"))}</td>'
            f'<td class="num" data-sort="{sort_key(c.get("effect"))}">{num(c.get("effect"), signed=True)}</td>'
            f'<td class="num" data-sort="{sort_key(c.get("effect_size"))}">'
            f'{(esc(size_name) + " ") if size_name else ""}{num(c.get("effect_size"), 2, signed=True)}</td>'
            f'<td class="nowrap">{esc(c.get("test", ""))}</td>'
            f'<td class="num" data-sort="{sort_key(c.get("p_value"))}">{pval(c.get("p_value"))}</td>'
            f'<td class="num" data-sort="{sort_key(c.get("p_corrected"))}">{pval(c.get("p_corrected"))}</td>'
            f'<td class="num">{num(c.get("n"))}</td>'
            f'<td class="num" data-sort="{sort_key(c.get("power"))}">{num(c.get("power"), 2)}</td>'
            f'<td data-sort="{VERDICT_ORDER.get(str(c.get("verdict")), 9)}">{badge(c.get("verdict"))}</td>'
            f'<td class="reason">{esc(c.get("reason", ""))}{extra}</td></tr>'
        )
    return "".join(rows)


def _card(claim: dict[str, Any], index: int) -> str:
    comparisons = claim.get("comparisons") or []
    correction = claim.get("correction") or "—"
    table = (
        '<div class="scroll"><table class="sortable comparisons"><thead><tr>'
        '<th>Comparison</th><th class="num">Measured [CI]</th><th class="num">Reference</th>'
        '<th class="num">Effect</th><th class="num">Effect size</th><th>Test</th><th class="num">p (raw)</th>'
        f'<th class="num">p ({esc(correction)})</th><th class="num">n</th><th class="num">Power</th>'
        f"<th>Verdict</th><th>Reason</th></tr></thead><tbody>{_comparison_rows(claim)}</tbody></table></div>"
    )
    if not comparisons:
        table = '<p class="muted">This result has no comparisons.</p>'
    elif len(comparisons) > 8:
        table = f"<details><summary>All {len(comparisons)} comparisons</summary>{table}</details>"
    figures = "".join(
        render_figure(str(kind), data, claim) for kind, data in (claim.get("figures") or {}).items()
    )
    options = claim.get("options") or {}
    per_query = claim.get("per_query") or {}
    stored = ""
    if per_query:
        sizes = sorted({len(v) for v in per_query.values() if isinstance(v, dict)})
        stored = (
            f'<p class="muted small">Per-query values stored for {len(per_query)} condition'
            f'{"s" if len(per_query) != 1 else ""} ({", ".join(str(s) for s in sizes)} queries), '
            "so this result can be re-tested from the run file.</p>"
        )
    paper_value = claim.get("paper_value")
    facts = [
        ("Paper", esc(claim.get("paper", "—"))),
        ("Paper value", num(paper_value) if paper_value is not None else "—"),
        ("Figure", esc(claim.get("figure", "—"))),
        ("Citation", esc(claim.get("citation", "—"))),
        ("Metric", esc(claim.get("metric", "—"))),
        ("Decision", esc(claim.get("decision", "—"))),
        ("α / correction", f"{num(claim.get('alpha'), 2)} / {esc(correction)}"),
    ]
    return (
        f'<article class="card" id="claim-{index}">'
        f'<header class="card-head"><span class="cid">{esc(claim.get("claim_id", "?"))}</span>'
        f'<h3>{esc(claim.get("title", ""))}</h3>{badge(claim.get("verdict"))}</header>'
        f'<p class="target"><code>{esc(claim.get("model"))}</code> on <code>{esc(claim.get("collection"))}</code></p>'
        f'<p class="statement">{esc(claim.get("statement", ""))}</p>'
        f'<dl class="facts">{"".join(f"<dt>{k}</dt><dd>{v}</dd>" for k, v in facts)}</dl>'
        f'<p class="reason-line"><strong>Why {esc(claim.get("verdict", "—"))}:</strong> {esc(claim.get("reason", ""))}</p>'
        f"{table}{figures}"
        + (f"<details><summary>Options used for this claim</summary>{render_data(options)}</details>" if options else "")
        + stored
        + "</article>"
    )


def _cards(run: dict[str, Any]) -> str:
    cards = "".join(_section(_card, claim, index) for index, claim in enumerate(run.get("claims", [])))
    return f'<section id="claims"><h2>Claims</h2>{cards or "<p class=muted>No claim results.</p>"}</section>'


def _arrow(before: Any, after: Any, fmt: Callable[[Any], str] = num) -> str:
    return f'{fmt(before)} <span class="muted">→</span> {fmt(after)}'


def _comparison(run: dict[str, Any]) -> str:
    comparison = run.get("comparison")
    if not comparison:
        return ""
    changes = comparison.get("changes") or []
    rows, detail_blocks = [], []
    for change in changes:
        changed = bool(change.get("verdict_changed"))
        target = f'<code>{esc(change.get("model_after"))}</code> @ <code>{esc(change.get("collection_after"))}</code>'
        if change.get("match") not in (None, "exact"):
            target += (
                f'<br><span class="muted">against <code>{esc(change.get("model_before"))}</code> @ '
                f'<code>{esc(change.get("collection_before"))}</code> (matched by {esc(change.get("match"))})</span>'
            )
        rows.append(
            f'<tr class="{"changed" if changed else ""}">'
            f'<td><strong>{esc(change.get("claim_id"))}</strong></td><td>{target}</td>'
            f'<td class="nowrap" data-sort="{1 if changed else 0}">{badge(change.get("verdict_before"))} → {badge(change.get("verdict_after"))}'
            f'{" <span class=flag>changed</span>" if changed else ""}</td>'
            f'<td class="num">{_arrow(change.get("measured_before"), change.get("measured_after"))}</td>'
            f'<td class="num" data-sort="{sort_key(change.get("measured_shift"))}">{num(change.get("measured_shift"), signed=True)}</td>'
            f'<td class="num" data-sort="{sort_key(change.get("effect_shift"))}">{num(change.get("effect_shift"), signed=True)}</td>'
            f'<td class="num">{_arrow(change.get("p_before"), change.get("p_after"), pval)}</td>'
            f'<td class="num" data-sort="{sort_key(change.get("max_abs_effect_shift"))}">{num(change.get("max_abs_effect_shift"))}</td></tr>'
        )
        per = change.get("comparisons") or []
        if per:
            body = "".join(
                f'<tr class="{"changed" if c.get("verdict_changed") else ""}"><td>{esc(c.get("label"))}</td>'
                f'<td>{badge(c.get("verdict_before"))} → {badge(c.get("verdict_after"))}</td>'
                f'<td class="num">{_arrow(c.get("measured_before"), c.get("measured_after"))}</td>'
                f'<td class="num">{num(c.get("effect_shift"), signed=True)}</td>'
                f'<td class="num">{esc(c.get("effect_size_name") or "")} {_arrow(c.get("effect_size_before"), c.get("effect_size_after"))}</td>'
                f'<td class="num">{_arrow(c.get("p_before"), c.get("p_after"), pval)}</td></tr>'
                for c in per
            )
            missing = ""
            for name, labels in (("only in the baseline", change.get("comparisons_only_in_baseline")),
                                 ("only in this run", change.get("comparisons_only_in_current"))):
                if labels:
                    missing += f'<p class="muted small">Comparisons {name}: {", ".join(esc(x) for x in labels)}</p>'
            detail_blocks.append(
                f'<h4>{esc(change.get("claim_id"))} <span class="muted">{esc(change.get("key_after"))}</span></h4>'
                '<div class="scroll"><table class="small"><thead><tr><th>Comparison</th><th>Verdict</th>'
                '<th class="num">Measured</th><th class="num">Effect shift</th><th class="num">Effect size</th>'
                f'<th class="num">p (corrected)</th></tr></thead><tbody>{body}</tbody></table></div>{missing}'
            )
    only = ""
    for name, entries in (("Only in the baseline", comparison.get("only_in_baseline")),
                          ("Only in this run", comparison.get("only_in_current"))):
        if entries:
            items = "".join(
                f'<li><code>{esc(e.get("key", e.get("claim_id")))}</code> {badge(e.get("verdict"))}</li>'
                if isinstance(e, dict) else f"<li>{esc(e)}</li>"
                for e in entries
            )
            only += f"<h3>{name}</h3><ul>{items}</ul>"
    diffs = ""
    for name, entries in (("Options that differ", comparison.get("option_changes")),
                          ("Package versions that differ", comparison.get("package_changes"))):
        if entries:
            body = "".join(
                f"<tr><th>{esc(k)}</th><td>{render_data(v[0] if isinstance(v, list) and len(v) == 2 else v)}</td>"
                f"<td>{render_data(v[1]) if isinstance(v, list) and len(v) == 2 else ''}</td></tr>"
                for k, v in entries.items()
            )
            diffs += (
                f'<h3>{name}</h3><table class="kvtable"><thead><tr><th></th><th>Baseline</th><th>This run</th></tr></thead>'
                f"<tbody>{body}</tbody></table>"
            )
    if comparison.get("option_changes"):
        diffs = (
            '<p class="banner warn">The two runs used different options: a changed verdict may come from the '
            "options rather than the model (comparison labels can mean different directions under different "
            "conventions).</p>" + diffs
        )
    count = comparison.get("verdict_changes", 0)
    source = comparison.get("baseline_path")
    return (
        '<section id="comparison"><h2>Comparison with an earlier run</h2>'
        f'<p>Baseline run <code>{esc(comparison.get("baseline_run_id", "?"))}</code>'
        + (f" from <code>{esc(source)}</code>" if source else "")
        + (f", started {_when(comparison.get('baseline_started'))}" if comparison.get("baseline_started") else "")
        + f'. {len(changes)} result{"s" if len(changes) != 1 else ""} matched; '
        f'<strong class="{"flag" if count else ""}">{esc(count)} verdict change{"s" if count != 1 else ""}</strong>.</p>'
        '<p class="hint">Shifts are this run minus the baseline, for the headline comparison of each claim '
        "(the first comparison both runs have); the last column is the largest effect shift over all of the claim's comparisons.</p>"
        '<div class="scroll"><table class="sortable changes"><thead><tr><th>Claim</th><th>Target</th><th>Verdict</th>'
        '<th class="num">Measured</th><th class="num">Shift</th><th class="num">Effect shift</th>'
        '<th class="num">p (corrected)</th><th class="num">max |Δ effect|</th></tr></thead>'
        f'<tbody>{"".join(rows) or "<tr><td colspan=8 class=muted>no results in common</td></tr>"}</tbody></table></div>'
        + (f"<details><summary>Per-comparison shifts</summary>{''.join(detail_blocks)}</details>" if detail_blocks else "")
        + only
        + diffs
        + "</section>"
    )


def _method_checks(run: dict[str, Any]) -> str:
    checks = run.get("method_checks")
    if not checks:
        return ""
    passed = sum(1 for c in checks if c.get("passed") is True)
    rows, figures = [], []
    for check in checks:
        rows.append(
            f'<tr class="{"v-contradicted-row" if check.get("passed") is False else ""}">'
            f'<td><strong>{esc(check.get("name", "?"))}</strong></td><td>{esc(check.get("kind", ""))}</td>'
            f'<td data-sort="{1 if check.get("passed") is True else 0}">{pass_badge(check.get("passed"))}</td>'
            f'<td>{esc(check.get("detail", ""))}</td></tr>'
        )
        for kind, data in (check.get("figures") or {}).items():
            if kind in FIGURE_RENDERERS:
                figures.append(f"<h4>{esc(check.get('name', '?'))}</h4>" + render_figure(kind, data, check))
            else:
                figures.append(
                    f'<h4>{esc(check.get("name", "?"))}: <code>{esc(kind)}</code></h4><div class="figdata">{render_data(data)}</div>'
                )
    return (
        '<section id="method-checks"><h2>Method checks</h2>'
        f"<p>The suite's own correctness: calibration under a null and planted mechanisms. "
        f"<strong>{passed} of {len(checks)}</strong> passed.</p>"
        '<div class="scroll"><table class="sortable"><thead><tr><th>Check</th><th>Kind</th><th>Result</th>'
        f'<th>Detail</th></tr></thead><tbody>{"".join(rows)}</tbody></table></div>'
        + (f'<details open><summary>Figures</summary><div class="method-figures">{"".join(figures)}</div></details>' if figures else "")
        + "</section>"
    )


def _rules(run: dict[str, Any]) -> str:
    text = verdict_rules()
    if text is None:
        body = (
            '<p class="muted">The verdict rules are stated in the docstring of <code>suite.core.stats</code>, '
            "which is not available (or has no “Verdict rules” section) in the installation that rendered "
            "this report. Each verdict's own reason is given on its claim card.</p>"
        )
    else:
        body = (
            f'<div class="rules">{esc(text)}</div>'
            '<p class="muted small">From the docstring of <code>suite.core.stats</code> in the installation that '
            "rendered this report.</p>"
        )
    return f'<section id="rules"><h2>How verdicts are decided</h2>{body}</section>'


# --------------------------------------------------------------------------- page


STYLE = """
:root{--fg:#1f2328;--muted:#59636e;--line:#d8dee4;--soft:#f6f8fa;--page:#fbfbfc;--accent:#0a58a8;
--ok:#116329;--ok-bg:#dcf5e3;--ok-line:#a6dcb5;--bad:#a40e26;--bad-bg:#ffe9e7;--bad-line:#f5b5ae;
--warn:#7d4e00;--warn-bg:#fff4d1;--warn-line:#ecd38d}
*{box-sizing:border-box}
html{-webkit-text-size-adjust:100%}
body{margin:0;background:var(--page);color:var(--fg);
font:14px/1.5 system-ui,-apple-system,"Segoe UI",Roboto,"Helvetica Neue",Arial,"Noto Sans","Liberation Sans",sans-serif}
main{max-width:1240px;margin:0 auto;padding:28px 32px 56px}
code,.mono{font-family:ui-monospace,SFMono-Regular,"SF Mono",Menlo,Consolas,"Liberation Mono",monospace;font-size:12.5px}
h1{font-size:26px;font-weight:650;margin:0 0 4px;letter-spacing:-.01em}
h2{font-size:19px;font-weight:650;margin:36px 0 12px;padding-bottom:6px;border-bottom:1px solid var(--line)}
h3{font-size:15px;font-weight:650;margin:20px 0 8px}
h4{font-size:13.5px;font-weight:650;margin:16px 0 6px}
a{color:var(--accent);text-decoration:none}a:hover{text-decoration:underline}
.sub,.tally{margin:2px 0;color:var(--muted)}
.tally .badge{margin-left:6px}
.muted{color:var(--muted)}.small{font-size:12.5px}.hint{color:var(--muted);font-size:12.5px;margin:0 0 8px}
.banner{padding:8px 12px;border-radius:6px;border:1px solid}
.banner.warn{background:var(--warn-bg);border-color:var(--warn-line);color:var(--warn)}
.error{padding:8px 12px;border-radius:6px;background:var(--bad-bg);border:1px solid var(--bad-line);color:var(--bad);margin:12px 0}
.scroll{overflow-x:auto}
table{border-collapse:collapse;width:100%;font-variant-numeric:tabular-nums;background:#fff}
th,td{padding:6px 9px;border-bottom:1px solid var(--line);text-align:left;vertical-align:top}
thead th{background:var(--soft);font-size:12px;font-weight:600;color:var(--muted);white-space:nowrap;border-bottom:1px solid #c9d1d9}
.num{text-align:right;white-space:nowrap}
table.small th,table.small td{padding:3px 7px;font-size:12.5px}
table.kvtable{width:auto;min-width:50%}
table.kvtable th{font-weight:600;font-size:12.5px;color:var(--muted);background:none;white-space:nowrap;padding-right:18px}
table.matrix{width:auto}table.matrix td{padding:2px 8px;font-size:12px}
table.sortable thead th{cursor:pointer;user-select:none}
table.sortable thead th[aria-sort=ascending]::after{content:" ▲";font-size:9px}
table.sortable thead th[aria-sort=descending]::after{content:" ▼";font-size:9px}
tr.v-contradicted-row td:first-child{box-shadow:inset 3px 0 0 var(--bad)}
tr.v-inconclusive-row td:first-child{box-shadow:inset 3px 0 0 #d4a72c}
tr.v-supported-row td:first-child{box-shadow:inset 3px 0 0 #4ac26b}
tr.changed td{background:var(--warn-bg)}
.flag{color:var(--bad);font-weight:650}
span.flag{font-size:11.5px;margin-left:4px;text-transform:uppercase;letter-spacing:.04em}
.badge{display:inline-block;padding:1px 8px;border-radius:999px;border:1px solid;font-size:11px;font-weight:650;
letter-spacing:.03em;line-height:17px;white-space:nowrap;vertical-align:baseline}
.v-supported{color:var(--ok);background:var(--ok-bg);border-color:var(--ok-line)}
.v-contradicted{color:var(--bad);background:var(--bad-bg);border-color:var(--bad-line)}
.v-inconclusive{color:var(--warn);background:var(--warn-bg);border-color:var(--warn-line)}
.v-other{color:var(--muted);background:var(--soft);border-color:var(--line)}
ul.words{margin:4px 0 12px;padding-left:18px}ul.words li{margin:2px 0}
.cols{display:grid;grid-template-columns:minmax(0,1.2fr) minmax(0,1fr);gap:24px;align-items:start}
.cols table.kvtable{width:100%}
table.packages{margin-top:10px}
dl.kv{margin:0;display:grid;grid-template-columns:max-content 1fr;gap:1px 12px}
dl.kv dt{color:var(--muted);font-size:12.5px}dl.kv dd{margin:0}
ol.data{margin:0;padding-left:20px}
ul.excluded{margin:4px 0;padding-left:18px;font-size:12.5px}
details>summary{cursor:pointer;color:var(--accent);font-size:13px;margin:6px 0}
details.inline>summary{font-size:12px;margin:2px 0}
.card{background:#fff;border:1px solid var(--line);border-radius:8px;padding:16px 20px 12px;margin:16px 0;
box-shadow:0 1px 2px rgba(31,35,40,.04)}
.card-head{display:flex;align-items:center;gap:10px;flex-wrap:wrap}
.card-head h3{margin:0;font-size:16px;flex:1 1 auto}
.cid{font-weight:700;font-size:14px;color:#fff;background:#3d4752;border-radius:5px;padding:1px 8px}
.target{margin:4px 0 8px;color:var(--muted)}
.statement{font-size:14.5px;margin:6px 0 10px;max-width:78ch}
dl.facts{display:grid;grid-template-columns:max-content 1fr;gap:2px 14px;margin:0 0 10px;font-size:13px}
dl.facts dt{color:var(--muted)}dl.facts dd{margin:0}
.reason-line{margin:8px 0 10px;padding:6px 10px;background:var(--soft);border-radius:6px;font-size:13px}
td.reason{min-width:160px;font-size:12.5px}
td.label{min-width:170px}
table.comparisons th,table.comparisons td{padding:5px 6px}
.nowrap{white-space:nowrap}
table.summary td.title{min-width:210px}
table.summary td.paper{white-space:nowrap}
table.summary code,table.changes code{font-size:12px}
figure.fig{margin:14px 0 6px}
figure.fig figcaption{font-weight:600;font-size:13.5px;margin-bottom:6px}
.heatmap-wrap{overflow-x:auto}
svg.heatmap{display:block;max-width:100%;height:auto;font-family:inherit}
svg.heatmap text.part{font-size:12px;fill:#1f2328;font-family:ui-monospace,SFMono-Regular,Menlo,Consolas,"Liberation Mono",monospace}
svg.heatmap text.axis{font-size:12px;fill:#59636e;font-weight:600;letter-spacing:.02em}
svg.heatmap text.val{font-size:14px;font-weight:650}
svg.heatmap text.sub{font-size:10.5px}
svg.heads text.tick,svg.chart text.tick{font-size:10.5px;fill:#59636e;font-variant-numeric:tabular-nums}
svg.heads text.ptitle{font-size:12.5px;font-weight:650;fill:#1f2328}
svg.heads text.star{font-weight:700}
svg.heads text.cnt{font-size:11px}
svg.chart text.glabel{font-size:12px;font-weight:650}
svg.chart text.count,svg.chart text.barval{font-size:10.5px;fill:#1f2328;font-variant-numeric:tabular-nums}
svg.chart text.barval.in{fill:#ffffff;font-weight:600}
svg.chart line.grid{stroke:#eaeef2;stroke-width:1}
svg.chart line.base{stroke:#8c959f;stroke-width:1}
svg.chart line.zero{stroke:#8c959f;stroke-width:1;stroke-dasharray:3 3}
svg.chart text.part{font-size:11px}
.panels{display:flex;flex-wrap:wrap;gap:14px 30px;align-items:flex-start}
.panels.narrow{gap:14px 22px;align-items:flex-end}
.panels .panel{width:248px}
.panels .panel-title{font-size:12px;font-weight:600;margin:0 0 2px;text-align:center}
.legend .swatch.marked{background:#fff;border:2px solid #1f2328}
.legend .line-key{display:inline-flex;align-items:center;gap:5px;margin-right:14px}
ul.found{margin:4px 0;padding-left:18px}
table.heads-table td,table.heads-table th{padding:2px 5px;font-size:11.5px}
svg.chart text.stage{font-size:11px;font-weight:650;fill:#59636e}
.panels .panel-wide{max-width:100%;overflow-x:auto}
table.tokens code.tok{display:inline-block;background:var(--soft);border:1px solid var(--line);border-radius:4px;padding:0 5px;margin:1px 2px;white-space:pre}
.legend{display:flex;align-items:center;gap:4px;flex-wrap:wrap;font-size:11.5px;margin:6px 0}
.legend .swatch{display:inline-block;width:22px;height:12px;border:1px solid var(--line);border-radius:2px}
.legend .tick{margin-right:8px;color:var(--muted);font-variant-numeric:tabular-nums}
.caption{font-size:12.5px;color:var(--muted);margin:4px 0;max-width:100ch}
.caption.convention{color:var(--fg)}
.rules{white-space:pre-wrap;background:#fff;border:1px solid var(--line);border-radius:8px;padding:12px 16px;max-width:100ch}
footer{margin-top:40px;color:var(--muted);font-size:12px;border-top:1px solid var(--line);padding-top:10px}
nav.toc{margin:10px 0 0;font-size:13px}nav.toc a{margin-right:14px}
@media (max-width:800px){main{padding:16px}.cols{grid-template-columns:1fr}}
@media print{
body{background:#fff;font-size:11px}main{max-width:none;padding:0}
.card{box-shadow:none;border-color:#bbb;break-inside:avoid-page}
nav.toc,.hint{display:none}
table.sortable thead th{cursor:auto}
a{color:inherit}
thead{display:table-header-group}tr,figure{break-inside:avoid}
h2{break-after:avoid}
}
"""

SCRIPT = """
(function () {
  "use strict";
  function key(cell) {
    var raw = cell.getAttribute("data-sort");
    if (raw === null) { raw = cell.textContent.trim(); }
    var number = Number(raw);
    return raw !== "" && isFinite(number) ? number : raw.toLowerCase();
  }
  function compare(a, b) {
    if (typeof a === "number" && typeof b === "number") { return a - b; }
    if (typeof a === "number") { return -1; }
    if (typeof b === "number") { return 1; }
    return a < b ? -1 : a > b ? 1 : 0;
  }
  function sortTable(table, column, header) {
    var body = table.tBodies[0];
    if (!body) { return; }
    var ascending = header.getAttribute("aria-sort") !== "ascending";
    var rows = Array.prototype.slice.call(body.rows).filter(function (row) { return row.cells.length > column; });
    rows.sort(function (r1, r2) {
      var order = compare(key(r1.cells[column]), key(r2.cells[column]));
      return ascending ? order : -order;
    });
    rows.forEach(function (row) { body.appendChild(row); });
    Array.prototype.forEach.call(header.parentNode.cells, function (th) { th.removeAttribute("aria-sort"); });
    header.setAttribute("aria-sort", ascending ? "ascending" : "descending");
  }
  Array.prototype.forEach.call(document.querySelectorAll("table.sortable"), function (table) {
    if (!table.tHead || !table.tHead.rows.length) { return; }
    Array.prototype.forEach.call(table.tHead.rows[0].cells, function (header, column) {
      header.tabIndex = 0;
      header.title = "Sort by this column";
      header.addEventListener("click", function () { sortTable(table, column, header); });
      header.addEventListener("keydown", function (event) {
        if (event.key === "Enter" || event.key === " ") { event.preventDefault(); sortTable(table, column, header); }
      });
    });
  });
  window.addEventListener("beforeprint", function () {
    Array.prototype.forEach.call(document.querySelectorAll("details"), function (d) { d.open = true; });
  });
})();
"""


def render_report(run: dict[str, Any]) -> str:
    """The whole report for ``run`` as one self-contained HTML document."""
    title = f"Claims report · {run.get('run_id', '?')}"
    sections = [
        _section(_header, run),
        '<nav class="toc"><a href="#setup">Setup</a><a href="#summary">Verdicts</a><a href="#claims">Claims</a>'
        + ('<a href="#comparison">Comparison</a>' if run.get("comparison") else "")
        + ('<a href="#method-checks">Method checks</a>' if run.get("method_checks") else "")
        + '<a href="#rules">Verdict rules</a></nav>',
        _section(_summary, run),
        _section(_comparison, run),
        _section(_setup, run),
        _section(_cards, run),
        _section(_method_checks, run),
        _section(_rules, run),
    ]
    return (
        "<!DOCTYPE html>\n"
        '<html lang="en"><head><meta charset="utf-8">'
        f'<meta http-equiv="Content-Security-Policy" content="{esc(CSP)}">'
        '<meta name="viewport" content="width=device-width, initial-scale=1">'
        '<meta name="color-scheme" content="light">'
        f"<title>{esc(title)}</title><style>{STYLE}</style></head>\n"
        f'<body><main>{"".join(sections)}'
        f'<footer>Rendered by <code>reports.html</code> from run <code>{esc(run.get("run_id", "?"))}</code> '
        f'(schema {esc(run.get("schema", "?"))}). This file is self-contained: it loads nothing from anywhere. '
        "Re-render a saved run with <code>python -m reports RUN.json</code>.</footer>"
        f"</main><script>{SCRIPT}</script></body></html>\n"
    )


def write_report(run: dict[str, Any], path: str | Path) -> Path:
    """Render ``run`` and write it to ``path`` (atomically, folders created); returns the path."""
    from suite.core.runs import write_text_atomic

    return write_text_atomic(render_report(run), Path(path))
