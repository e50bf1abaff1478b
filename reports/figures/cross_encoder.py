"""Figures of the cross-encoder wing (monoBERT-style rankers, CE-* claims): the directed
ablation table, the per-head screens (effect heatmaps, head depths, query-key alignment,
context-free shares, ablated heads), the query split of CE-8..CE-11 and the
attention-to-special-tokens profile."""

from __future__ import annotations

import math
from typing import Any, Literal, overload

from ranker_claims.reports.figures.head_grids import (
    diverging_legend,
    grid_table,
    head_grid_svg,
    head_label,
    head_list,
    head_matrix,
    significance_words,
)
from ranker_claims.reports.figures.registry import figure_renderer
from ranker_claims.reports.formatting import Html, escape, finite_float, num, positive_int, pval
from ranker_claims.reports.svg import (
    BLUE,
    EXTRA_COLOURS,
    GREY,
    ORANGE,
    OUTLINE,
    axis_ticks,
    box_svg,
    dash_attr,
    diverging,
    label_step,
    nice_ceiling,
    quantile,
    sequential,
    x_axis,
    y_gridline,
)

GROUPS = {  # layer_profile groups: colour, dash pattern, label
    "relevant": (BLUE, "", "relevant pairs"),
    "hard": (ORANGE, "6 3", "hard negatives"),
    "easy": (GREY, "2 3", "easy negatives"),
}
PROFILE_TITLES = {
    "cls_mass": "attention of text tokens to [CLS]",
    "sep_mass": "attention of text tokens to [SEP]",
    "cls_entropy": "[CLS] attention entropy (nats)",
    "cls_to_sep": "[CLS] attention to [SEP]",
}


# --------------------------------------------------------------------------- direction table


@overload
def _grid(data: dict[str, Any], name: str, n: int, required: Literal[True] = True) -> list[list[Any]]: ...
@overload
def _grid(data: dict[str, Any], name: str, n: int, required: bool) -> list[list[Any]] | None: ...
def _grid(data: dict[str, Any], name: str, n: int, required: bool = True) -> list[list[Any]] | None:
    """``data[name]`` as an n x n grid; None when optional and absent."""
    grid = data.get(name)
    if grid is None and not required:
        return None
    if not (isinstance(grid, list) and len(grid) == n and all(isinstance(r, list) and len(r) == n for r in grid)):
        raise ValueError(f"{name} is not a {n}x{n} grid")
    return grid


def _axis_names(convention: str) -> tuple[str, str]:
    """What rows and columns are under the run's direction convention (source/target or attending/attended)."""
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
    baseline = finite_float(data.get("baseline"))
    convention = str(data.get("convention") or context.get("options", {}).get("direction_convention") or "")
    metric = str(context.get("metric") or "value")
    correction = str(context.get("correction") or "")
    alpha = context.get("alpha")
    row_axis, column_axis = _axis_names(convention)

    deltas = [
        [(f - baseline) if baseline is not None and (f := finite_float(v)) is not None else None for v in row]
        for row in values
    ]
    scale = max((abs(d) for row in deltas for d in row if d is not None), default=0.0) or 1.0
    has_paper = any(finite_float(v) is not None for row in paper for v in row)

    cw, ch = 96, 66 if has_paper else 54
    left, top = 128, 58
    width, height = left + n * cw + 8, top + n * ch + 8
    svg = [
        (
            Html('<svg class="heatmap" viewBox="0 0 {0} {1}" width="{2}" height="{3}" role="img" ').format(
                width, height, width, height
            )
            + Html('aria-label="{0} after ablating each direction X to Y; rows X, columns Y">').format(metric)
        )
    ]
    svg.append(
        Html('<text class="axis" x="{0}" y="14" text-anchor="middle">{1} →</text>').format(
            left + n * cw / 2, column_axis
        )
    )
    svg.append(
        Html('<text class="axis" x="14" y="{0}" text-anchor="middle" ').format(top + n * ch / 2)
        + Html('transform="rotate(-90 14 {0})">← {1}</text>').format(top + n * ch / 2, row_axis)
    )
    for j, part in enumerate(parts):
        svg.append(
            Html('<text class="part" x="{0}" y="{1}" text-anchor="middle">{2}</text>').format(
                left + j * cw + cw / 2, top - 10, part
            )
        )
    for i, part in enumerate(parts):
        svg.append(
            Html('<text class="part" x="{0}" y="{1}" text-anchor="end">{2}</text>').format(
                left - 10, top + i * ch + ch / 2 + 4, part
            )
        )
        for j in range(n):
            value, delta = values[i][j], deltas[i][j]
            fill, ink = diverging(delta, scale)
            star = "*" if significant[i][j] is True else ""
            x, y = left + j * cw, top + i * ch
            tip = Html("{0}-&gt;{1}: {2} {3}").format(parts[i], parts[j], metric, num(value))
            if delta is not None:
                tip += Html(" ({0} vs baseline {1})").format(num(delta, signed=True), num(baseline))
            if p_corrected[i][j] is not None:
                tip += Html(", p corrected {0}").format(pval(p_corrected[i][j]))
            tip += ", significant" if star else ", not significant"
            if finite_float(paper[i][j]) is not None:
                tip += Html("; paper {0}").format(num(paper[i][j], 2))
            svg.append(
                Html("<g><title>{0}</title>").format(tip)
                + Html('<rect x="{0}" y="{1}" width="{2}" height="{3}" rx="3" fill="{4}"/>').format(
                    x + 1, y + 1, cw - 2, ch - 2, fill
                )
                + Html('<text class="val" x="{0}" y="{1}" text-anchor="middle" fill="{2}">{3}{4}</text>').format(
                    x + cw / 2, y + 22, ink, num(value), star
                )
                + Html('<text class="sub" x="{0}" y="{1}" text-anchor="middle" fill="{2}">').format(
                    x + cw / 2, y + 38, ink
                )
                + Html("{0}</text>").format("Δ " + num(delta, signed=True) if delta is not None else "")
            )
            if finite_float(paper[i][j]) is not None:
                svg.append(
                    Html('<text class="sub" x="{0}" y="{1}" text-anchor="middle" fill="{2}">paper {3}</text>').format(
                        x + cw / 2, y + 54, ink, num(paper[i][j], 2)
                    )
                )
            svg.append(Html("</g>"))
    svg.append(Html("</svg>"))

    steps = [-1.0, -0.5, -0.25, 0.0, 0.25, 0.5, 1.0]
    legend = Html("").join(
        (
            Html('<span class="swatch" style="background:{0}"></span>').format(diverging(s * scale, scale)[0])
            + Html('<span class="tick">{0}</span>').format(num(s * scale, signed=True) if s else "0")
        )
        for s in steps
    )
    significance = "* = significant after "
    significance += Html("{0} correction").format(correction) if correction else "correction"
    significance += Html(" (p &lt; {0})").format(num(alpha, 2)) if finite_float(alpha) is not None else ""
    numbers_head = Html("").join(Html('<th class="num">{0}</th>').format(p) for p in parts)
    numbers_rows = Html("").join(
        Html("<tr><th>{0}</th>").format(parts[i])
        + Html("").join(
            (
                Html('<td class="num">{0}{1}').format(num(values[i][j]), "*" if significant[i][j] is True else "")
                + Html('<br><span class="muted">p {0}</span>').format(pval(p_corrected[i][j]))
            )
            + (
                Html('<br><span class="muted">paper {0}</span>').format(num(paper[i][j], 2))
                if finite_float(paper[i][j]) is not None
                else ""
            )
            + Html("</td>")
            for j in range(n)
        )
        + Html("</tr>")
        for i in range(n)
    )
    return (
        (
            Html('<figure class="fig direction">')
            + Html("<figcaption>Direction table: {0} after ablating each direction ").format(metric)
            + Html("(baseline, no ablation: <strong>{0}</strong>)</figcaption>").format(num(baseline))
            + Html('<div class="heatmap-wrap">{0}</div>').format(Html("").join(svg))
            + Html('<div class="legend"><span class="muted">change vs baseline:</span> {0}</div>').format(legend)
            + Html('<p class="caption">Row = {0}, column = {1}; each cell is {2} after ').format(
                row_axis, column_axis, metric
            )
            + Html(
                "ablating X→Y, coloured by its change from the baseline (red = drop, blue = rise, centred at the baseline). "
            )
            + Html("{0}.").format(significance)
        )
        + (" Small type: the paper's value for that cell." if has_paper else "")
        + (
            Html('</p><p class="caption convention"><strong>Convention:</strong> {0}</p>').format(
                convention or "not recorded"
            )
            + Html("<details><summary>Numbers (value, corrected p{0})</summary>").format(", paper" if has_paper else "")
            + Html(
                '<div class="scroll"><table class="small grid-table"><thead><tr><th>X \\ Y</th>{0}</tr></thead>'
            ).format(numbers_head)
            + Html("<tbody>{0}</tbody></table></div></details>").format(numbers_rows)
            + Html("</figure>")
        )
    )


# --------------------------------------------------------------------------- attention heads


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
        effect = head_matrix(statistic["effect"], Html("{0} effect").format(name), shape)
        shape = (len(effect), len(effect[0]))
        significant = statistic.get("significant")
        significant = (
            head_matrix(significant, Html("{0} significant").format(name), shape)
            if significant is not None
            else [[False] * shape[1] for _ in range(shape[0])]
        )
        grids[str(name)] = (effect, significant)
    assert shape is not None
    layers = positive_int(data.get("layers"))
    if layers is not None and layers != shape[0]:
        raise ValueError(f"layers is {layers} but the grids have {shape[0]} rows")
    negative = str(data.get("negative") or "other")
    largest = max(
        (abs(f) for e, _ in grids.values() for r in e for v in r if (f := finite_float(v)) is not None),
        default=0,
    )
    scale = nice_ceiling(largest)
    tests = len(grids) * shape[0] * shape[1]

    panels, tables, found = [], [], []
    for name, (effect, significant) in grids.items():

        def tip(i: int, j: int, name: str = name, effect: list = effect, significant: list = significant) -> str:
            value = finite_float(effect[i][j])
            text = Html("{0}, head {1}/{2}: d_z {3}").format(
                name, i, j, num(value, 2, signed=True) if value is not None else num(effect[i][j])
            )
            return text + (", significant" if significant[i][j] is True else ", not significant")

        def fill_of(i: int, j: int, effect: list = effect) -> tuple[str, str]:
            return diverging(finite_float(effect[i][j]), scale)

        panels.append(
            head_grid_svg(
                effect,
                significant,
                fill_of,
                tip,
                title=name,
                label=Html("{0}: Cohen's d_z, relevant vs {1} negatives").format(name, negative),
            )
        )
        hits = sorted(
            ((i, j) for i in range(shape[0]) for j in range(shape[1]) if significant[i][j] is True),
            key=lambda ij: -(finite_float(effect[ij[0]][ij[1]]) or 0.0),
        )
        listed = Html(", ").join(
            Html("{0}/{1} ({2})").format(i, j, num(finite_float(effect[i][j]), 2, signed=True)) for i, j in hits[:12]
        )
        more = Html(", … {0} more").format(len(hits) - 12) if len(hits) > 12 else ""
        found.append(
            Html("<li><strong>{0}</strong>: {1} of {2} heads").format(name, len(hits), shape[0] * shape[1])
            + (Html(": {0}{1}").format(listed, more) if hits else "")
            + Html("</li>")
        )
        tables.append(Html("<h4>{0}</h4>").format(name) + grid_table(effect, significant, "*"))
    title = data.get("title") or Html("Heads: relevant vs {0} negatives (Cohen's d_z)").format(negative)
    return (
        Html('<figure class="fig head-heatmap">')
        + Html("<figcaption>{0}</figcaption>").format(title)
        + Html('<div class="panels">{0}</div>').format(Html("").join(panels))
        + Html('<div class="legend">{0}').format(diverging_legend(scale, "Cohen's d_z:"))
        + Html('<span class="swatch marked"></span><span class="tick">* significant</span></div>')
        + Html(
            '<p class="caption">One cell per head (row = layer from 0, column = head). Colour = Cohen\'s d_z of the '
        )
        + Html("per-query difference, relevant pairs minus {0} negatives: blue = higher on relevant pairs, ").format(
            negative
        )
        + Html("red = higher on negatives, same scale in every panel. Outlined * = significant after ")
        + Html("{0} over all {1} head tests.</p>").format(significance_words(context), tests)
        + Html('<ul class="caption found">{0}</ul>').format(Html("").join(found))
        + Html("<details><summary>Numbers (Cohen's d_z; * significant)</summary>{0}</details>").format(
            Html("").join(tables)
        )
        + Html("</figure>")
    )


@figure_renderer("head_depths")
def render_head_depths(data: dict[str, Any], context: dict[str, Any]) -> str:
    """Where lexical (relevant vs easy) and semantic (relevant vs hard) heads sit: one row of
    dots per kind along a shared layer axis, one dot per head, counts above."""
    kinds = [
        ("lexical", "lexical", "relevant vs easy", BLUE),
        ("semantic", "semantic", "relevant vs hard", ORANGE),
    ]
    heads = {key: head_list(data.get(key), key) for key, *_ in kinds}
    both = head_list(data.get("both"), "both")
    if not any(heads.values()) and not both:
        raise ValueError("no heads to place")
    deepest = max(layer for found in [*heads.values(), both] for layer, _ in found)
    layers = positive_int(data.get("layers")) or deepest + 1
    if deepest >= layers:
        raise ValueError(f"a head sits in layer {deepest} of a {layers}-layer model")
    counts = {key: [0] * layers for key in heads}
    members: dict[str, list[list[str]]] = {key: [[] for _ in range(layers)] for key in heads}
    for key, found in heads.items():
        for layer, head in found:
            counts[key][layer] += 1
            members[key][layer].append(head_label((layer, head)))
    cap = 8  # dots per column; a taller stack shows its count only
    radius, gap = 4.5, 11
    stack = max(3, min(cap, max(max(c) for c in counts.values())))
    band = stack * gap + 26
    cw = max(22, min(56, 640 // layers))
    left, top = 150, 8
    width, height = left + layers * cw + 10, top + band * len(kinds) + 40
    svg = [
        (
            Html('<svg class="heatmap chart depths" viewBox="0 0 {0} {1}" width="{2}" height="{3}" role="img" ').format(
                width, height, width, height
            )
            + Html('aria-label="layers of the lexical and semantic matching heads">')
        )
    ]
    for layer in range(layers):
        x = left + layer * cw + cw / 2
        svg.append(
            Html('<line x1="{0}" y1="{1}" x2="{2}" y2="{3}" class="grid"/>').format(x, top, x, top + band * len(kinds))
        )
    depth = max(layers - 1, 1)
    medians = []
    for row, (key, name, against, colour) in enumerate(kinds):
        base = top + band * (row + 1) - 8
        svg.append(
            Html('<text class="glabel" x="{0}" y="{1}" text-anchor="end" fill="{2}">{3} heads</text>').format(
                left - 12, base - 14, colour, name
            )
        )
        svg.append(
            Html('<text class="tick" x="{0}" y="{1}" text-anchor="end">{2}, n = {3}</text>').format(
                left - 12, base, against, len(heads[key])
            )
        )
        svg.append(
            Html('<line x1="{0}" y1="{1}" x2="{2}" y2="{3}" class="base"/>').format(
                left, base + 5, left + layers * cw, base + 5
            )
        )
        for layer, count in enumerate(counts[key]):
            if not count:
                continue
            x = left + layer * cw + cw / 2
            dots = Html("").join(
                Html('<circle cx="{0}" cy="{1}" r="{2}" fill="{3}"/>').format(x, base - k * gap, radius, colour)
                for k in range(min(count, stack))
            )
            tip = Html("{0} heads in layer {1}: {2} ({3})").format(
                name, layer, count, Html(", ").join(members[key][layer])
            )
            svg.append(
                Html("<g><title>{0}</title>{1}").format(tip, dots)
                + Html('<text class="count" x="{0}" y="{1}" text-anchor="middle">').format(
                    x, base - min(count, stack) * gap - 1
                )
                + Html("{0}</text></g>").format(count if count <= stack else Html("{0}↑").format(count))
            )
        if heads[key]:
            median = quantile([float(layer) for layer, _ in heads[key]], 0.5)
            medians.append(
                Html("{0} {1} ").format(name, num(median, 1) if median % 1 else int(median))
                + Html("(relative depth {0})").format(num(median / depth, 2))
            )
            mx = left + median * cw + cw / 2
            svg.append(
                Html("<g><title>{0}</title>").format(Html("median layer of the {0} heads: {1:g}").format(name, median))
                + Html('<path d="M{0} {1} l-5 8 h10 z" fill="{2}"/></g>').format(mx, base + 6, colour)
            )
        else:
            medians.append(Html("{0}: none").format(name))
            svg.append(Html('<text class="tick" x="{0}" y="{1}">no {2} heads</text>').format(left + 8, base - 4, name))
    axis_y = top + band * len(kinds) + 2
    step = label_step(layers, cw)
    for layer in range(0, layers, step):
        svg.append(
            Html('<text class="tick" x="{0}" y="{1}" text-anchor="middle">{2}</text>').format(
                left + layer * cw + cw / 2, axis_y + 14, layer
            )
        )
    svg.append(
        Html('<text class="axis" x="{0}" y="{1}" text-anchor="middle">').format(left + layers * cw / 2, axis_y + 32)
        + Html("layer (0 = first of {0}) →</text>").format(layers)
    )
    svg.append(Html("</svg>"))
    rows = Html("").join(
        Html("<tr><th>{0}</th>").format(name)
        + Html("").join(Html('<td class="num">{0}</td>').format(c or "") for c in counts[key])
        + Html('<td class="num">{0}</td></tr>').format(len(heads[key]))
        for key, name, *_ in kinds
    )
    lists = Html("").join(
        (
            Html('<p class="small"><strong>{0}</strong> (strongest first): ').format(name)
            + Html("{0}</p>").format(escape(Html(", ").join(head_label(h) for h in heads[key])) or "—")
        )
        for key, name, *_ in kinds
    )
    return (
        (
            Html('<figure class="fig head-depths">')
            + Html("<figcaption>Layers of the lexical and semantic matching heads</figcaption>")
            + Html('<div class="heatmap-wrap">{0}</div>').format(Html("").join(svg))
            + Html('<p class="caption">One dot per significant head at its layer (number = heads in that layer); ')
            + Html("▲ = median layer: {0}. Lexical heads separate relevant pairs from easy ").format(
                Html("; ").join(medians)
            )
            + Html("negatives, semantic heads from hard negatives")
        )
        + (
            (
                Html("; {0} head{1} significant in both screens ").format(len(both), "s" if len(both) != 1 else "")
                + Html("({0}) {1} left out of both").format(
                    Html(", ").join(head_label(h) for h in both), "are" if len(both) != 1 else "is"
                )
            )
            if both
            else ""
        )
        + (
            Html(".</p>")
            + Html(
                '<details><summary>Numbers (heads per layer)</summary><div class="scroll"><table class="small grid-table">'
            )
            + Html("<thead><tr><th>layer</th>{0}").format(
                Html("").join(Html("<th class=num>{0}</th>").format(i) for i in range(layers))
            )
            + Html('<th class="num">all</th></tr></thead><tbody>{0}</tbody></table></div>{1}</details>').format(
                rows, lists
            )
            + Html("</figure>")
        )
    )


@figure_renderer("alignment")
def render_alignment(data: dict[str, Any], context: dict[str, Any]) -> str:
    """Query-key alignment of every head as a layer x head heatmap (matching heads outlined),
    with a dot-and-box summary of matching against other heads."""
    values = head_matrix(data["values"], "values")
    shape = (len(values), len(values[0]))
    matching = data.get("matching")
    matching = (
        head_matrix(matching, "matching", shape) if matching is not None else [[False] * shape[1] for _ in values]
    )
    finite = [finite_float(v) for row in values for v in row]
    largest = max((abs(v) for v in finite if v is not None), default=0.0)
    scale = min(1.0, nice_ceiling(largest)) if largest <= 1 else nice_ceiling(largest)

    def tip(i: int, j: int) -> str:
        return Html("head {0}/{1}: alignment {2}").format(i, j, num(values[i][j])) + (
            ", matching head" if matching[i][j] is True else ""
        )

    heatmap = head_grid_svg(
        values,
        matching,
        lambda i, j: diverging(finite_float(values[i][j]), scale),
        tip,
        mark="•",
        label="query-key alignment per head; matching heads outlined",
    )
    inside = [
        v
        for row, marks in zip(values, matching)
        for v, m in zip(row, marks)
        if m is True and finite_float(v) is not None
    ]
    outside = [
        v
        for row, marks in zip(values, matching)
        for v, m in zip(row, marks)
        if m is not True and finite_float(v) is not None
    ]
    shown = inside + outside
    box = box_svg(
        [("matching", [float(v) for v in inside], BLUE), ("other heads", [float(v) for v in outside], GREY)],
        "alignment",
        min(shown + [0.0]),
        max(shown + [0.0]),
    )
    medians = Html("; ").join(
        Html("median {0} {1} (n = {2})").format(name, num(quantile([float(v) for v in group], 0.5)), len(group))
        for name, group in (("matching", inside), ("other", outside))
        if group
    )
    return (
        Html('<figure class="fig alignment">')
        + Html("<figcaption>Alignment of the singular vectors of each head's query-key matrix</figcaption>")
        + Html('<div class="panels">{0}{1}</div>').format(heatmap, box)
        + Html('<div class="legend">{0}').format(diverging_legend(scale, "alignment:"))
        + Html('<span class="swatch marked"></span><span class="tick">• matching head</span></div>')
        + Html('<p class="caption">Left: one cell per head (row = layer from 0, column = head), coloured by ')
        + Html(
            "Σ<sub>k</sub> s<sub>k</sub> u<sub>k</sub>·v<sub>k</sub> / Σ<sub>k</sub> s<sub>k</sub> of W<sub>Q</sub> "
        )
        + Html("W<sub>K</sub><sup>T</sup> (1 = left and right singular vectors aligned, 0 = unrelated, −1 = opposed); ")
        + Html("outlined • = a matching head of CE-6/CE-7. Right: the same values, matching heads against all ")
        + Html("other heads (box = quartiles, bar = median): {0}.</p>").format(escape(medians) or "no values")
        + Html("<details><summary>Numbers (alignment; • matching)</summary>{0}</details>").format(
            grid_table(values, matching, "•", 3)
        )
        + Html("</figure>")
    )


@figure_renderer("decomposition")
def render_decomposition(data: dict[str, Any], context: dict[str, Any]) -> str:
    """Mean context-free share (R^2) per head: matching heads, then control heads."""
    heads = head_list(data.get("heads"), "heads")
    controls = head_list(data.get("controls"), "controls")
    shares = data["mean_share"]
    if not isinstance(shares, list) or len(shares) != len(heads) + len(controls) or not shares:
        raise ValueError(
            f"mean_share has {len(shares) if isinstance(shares, list) else 'no'} values "
            f"for {len(heads)} heads and {len(controls)} controls"
        )
    bars = [("matching", h, shares[k], BLUE) for k, h in enumerate(heads)]
    bars += [("control", h, shares[len(heads) + k], GREY) for k, h in enumerate(controls)]
    finite = [finite_float(s) for s in shares]
    known = [v for v in finite if v is not None]
    high = max(known + [0.0])
    low = min(known + [0.0])
    high = 1.0 if 0.6 < high <= 1.0 else high
    start, end, ticks, decimals = axis_ticks(low, high, 5)
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
        (
            Html('<svg class="heatmap chart bars" viewBox="0 0 {0} {1}" width="{2}" height="{3}" role="img" ').format(
                width, height, width, height
            )
            + Html('aria-label="mean context-free share per head, matching and control heads">')
        )
    ]
    for tick in ticks:
        svg.append(y_gridline(left, left + plot_w, y(tick), f"{tick:.{decimals}f}"))
    middle = top + plot_h / 2
    svg.append(
        Html(
            '<text class="axis" x="12" y="{0}" text-anchor="middle" transform="rotate(-90 12 {1})">share (R²)</text>'
        ).format(middle, middle)
    )
    for k, (kind, head, share, colour) in enumerate(bars):
        value = finite_float(share)
        label = head_label(head)
        tip = Html("{0} head {1}: mean context-free share {2}").format(
            kind, label, num(value) if value is not None else num(share)
        )
        bar = ""
        if value is not None:
            y0, y1 = sorted((y(0.0), y(value)))
            inside = y1 - y0 >= 20 and value > 0  # inside: at the foot, clear of the mean line
            bar = (
                Html('<rect x="{0}" y="{1:.1f}" width="{2}" height="{3:.1f}" rx="1.5" fill="{4}"/>').format(
                    x(k) + 3, y0, bw - 6, max(y1 - y0, 0.5), colour
                )
                + Html('<text class="barval{0}" x="{1}" y="{2:.1f}" ').format(
                    " in" if inside else "", x(k) + bw / 2, y1 - 6 if inside else (y0 - 4 if value >= 0 else y1 + 12)
                )
                + Html('text-anchor="middle">{0}</text>').format(num(value, 2))
            )
        else:
            bar = Html('<text class="tick" x="{0}" y="{1:.1f}" text-anchor="middle">—</text>').format(
                x(k) + bw / 2, y(0.0) - 4
            )
        svg.append(
            Html("<g><title>{0}</title>{1}").format(tip, bar)
            + Html('<text class="part" x="{0}" y="{1}" text-anchor="middle">{2}</text></g>').format(
                x(k) + bw / 2, top + plot_h + 15, label
            )
        )
    means = []
    for kind, members, first, colour in (("matching", heads, 0, BLUE), ("control", controls, len(heads), GREY)):
        values = [v for v in finite[first : first + len(members)] if v is not None]
        if members:
            span = (x(first), x(first + len(members) - 1) + bw)
            svg.append(
                Html('<text class="glabel" x="{0}" y="{1}" text-anchor="middle" ').format(
                    (span[0] + span[1]) / 2, top + plot_h + 36
                )
                + Html('fill="{0}">{1} heads</text>').format(colour, kind)
            )
        if values:
            mean = sum(values) / len(values)
            means.append(Html("{0} {1}").format(kind, num(mean)))
            svg.append(
                Html("<g><title>{0}</title>").format(Html("mean of the {0} heads: {1:.3f}").format(kind, mean))
                + Html('<line x1="{0}" y1="{1:.1f}" x2="{2}" y2="{3:.1f}" stroke="{4}" ').format(
                    span[0], y(mean), span[1], y(mean), OUTLINE
                )
                + Html('stroke-width="1.4" stroke-dasharray="5 3"/></g>')
            )
    svg.append(
        Html('<line x1="{0}" y1="{1:.1f}" x2="{2}" y2="{3:.1f}" class="base"/>').format(
            left, y(0.0), left + plot_w, y(0.0)
        )
    )
    svg.append(Html("</svg>"))
    rows = Html("").join(
        Html('<tr><td>{0}</td><td><code>{1}</code></td><td class="num">{2}</td></tr>').format(
            kind, head_label(head), num(finite_float(share) if finite_float(share) is not None else share)
        )
        for kind, head, share, _ in bars
    )
    return (
        Html('<figure class="fig decomposition">')
        + Html("<figcaption>Context-free share of the attention logits, per head</figcaption>")
        + Html('<div class="heatmap-wrap">{0}</div>').format(Html("").join(svg))
        + Html(
            '<p class="caption">Each bar is the share of a head\'s query/document attention-logit variance explained by '
        )
        + Html(
            "the context-free part (token embeddings through the head's query-key matrix), averaged over the relevant "
        )
        + Html(
            "pairs; labels are layer/head. Blue = matching heads, grey = control heads drawn at random from the same "
        )
        + Html("layers; dashed line = group mean ({0}).</p>").format(escape(Html(", ").join(means)) or "none")
        + Html('<details><summary>Numbers (mean share per head)</summary><div class="scroll"><table class="small">')
        + Html('<thead><tr><th>Kind</th><th>Head</th><th class="num">Mean share</th></tr></thead>')
        + Html("<tbody>{0}</tbody></table></div></details>").format(rows)
        + Html("</figure>")
    )


@figure_renderer("ablated_heads")
def render_ablated_heads(data: dict[str, Any], context: dict[str, Any]) -> str:
    """Which heads were ablated: the matching set on a layer x head grid (blue), how often
    each other head was drawn into a random control set (grey), and the sets as a list."""
    matching = head_list(data.get("matching"), "matching")
    random_sets = data.get("random_sets") or []
    if not isinstance(random_sets, list):
        raise ValueError("random_sets is not a list of head sets")
    sets = [head_list(s, Html("random set {0}").format(k + 1)) for k, s in enumerate(random_sets)]
    everything = matching + [h for s in sets for h in s]
    if not everything:
        raise ValueError("no heads")
    layers = positive_int(data.get("layers")) or max(l for l, _ in everything) + 1
    n_heads = positive_int(data.get("heads")) or max(h for _, h in everything) + 1
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
    texts = [
        [("●" if marked[l][h] else (str(drawn[l][h]) if drawn[l][h] else "")) for h in range(n_heads)]
        for l in range(layers)
    ]

    def colour(i: int, j: int) -> tuple[str, str]:
        return (BLUE, "#ffffff") if marked[i][j] else sequential(drawn[i][j] / total)

    def tip(i: int, j: int) -> str:
        what = "ablated (matching head)" if marked[i][j] else "not in the matching set"
        return Html("head {0}/{1}: {2}; in {3} of {4} random sets").format(i, j, what, drawn[i][j], len(sets))

    cw, ch = max(14, min(26, 360 // n_heads)), max(12, min(22, 320 // layers))
    grid = head_grid_svg(
        values,
        marked,
        colour,
        tip,
        texts=texts,
        cell=(cw, ch),
        mark="●",
        label="ablated matching heads and how often each head was in a random set",
    )
    per_layer: dict[int, int] = {}
    for layer, _ in matching:
        per_layer[layer] = per_layer.get(layer, 0) + 1
    layout = Html(", ").join(Html("{0} in layer {1}").format(n, l) for l, n in sorted(per_layer.items()))
    legend = Html(
        '<span class="swatch" style="background:{0}"></span><span class="tick">● ablated matching head</span>'
    ).format(BLUE)
    if sets:
        legend += Html('<span class="muted">in how many random sets:</span> ') + Html("").join(
            Html('<span class="swatch" style="background:{0}"></span><span class="tick">{1}</span>').format(
                sequential(k / total)[0], k
            )
            for k in range(1, len(sets) + 1)
        )
    listed = Html("").join(
        Html("<li><code>{0}</code></li>").format(Html(", ").join(head_label(h) for h in sorted(s))) for s in sets
    )
    return (
        Html('<figure class="fig ablated-heads">')
        + Html("<figcaption>Ablated heads: {0} matching head{1} ").format(
            len(matching), "s" if len(matching) != 1 else ""
        )
        + Html("and {0} random control set{1}</figcaption>").format(len(sets), "s" if len(sets) != 1 else "")
        + Html('<div class="heatmap-wrap">{0}</div>').format(grid)
        + Html('<div class="legend">{0}</div>').format(legend)
        + Html('<p class="caption">Rows = layers{0}, ').format(
            "" if positive_int(data.get("layers")) else Html(" 0 to {0} (the deepest used)").format(layers - 1)
        )
        + Html("columns = heads{0}. ").format(
            "" if positive_int(data.get("heads")) else Html(" 0 to {0} (the highest index used)").format(n_heads - 1)
        )
        + Html("Matching heads ablated (blue ●): <code>{0}</code> ({1}). ").format(
            escape(Html(", ").join(head_label(h) for h in matching)) or "—", escape(layout) or "none"
        )
        + Html(
            "Each random control set has as many heads in each of those layers, drawn from the other heads; a grey cell's "
        )
        + Html("number is how many random sets contain that head.</p>")
        + Html("<details><summary>The {0} random head set{1} (layer/head)</summary>").format(
            len(sets), "s" if len(sets) != 1 else ""
        )
        + Html('<ol class="data small">{0}</ol></details>').format(listed or Html("<li class=muted>none</li>"))
        + Html("</figure>")
    )


@figure_renderer("query_split")
def render_query_split(data: dict[str, Any], context: dict[str, Any]) -> str:
    """The two halves of the queries (CE-8..CE-11): heads selected on one, the claim tested on the other."""
    halves = {}
    for half in ("selection", "test"):
        qids = data.get(half)
        if not isinstance(qids, list):
            raise ValueError(f"{half} is not a list of query ids")
        halves[half] = [str(q) for q in qids]
    seed = data.get("seed")
    if not isinstance(seed, int) or isinstance(seed, bool):
        raise ValueError(f"seed is {seed!r}")
    listed = Html("").join(
        Html('<p class="small"><strong>{0}</strong>: <code>{1}</code></p>').format(
            half, escape(Html(", ").join(qids)) or "—"
        )
        for half, qids in halves.items()
    )
    return (
        Html('<figure class="fig query-split">')
        + Html("<figcaption>Query split (seed {0}): heads selected on {1} ").format(seed, len(halves["selection"]))
        + Html("quer{0}, tested on {1}</figcaption>").format(
            "y" if len(halves["selection"]) == 1 else "ies", len(halves["test"])
        )
        + Html(
            '<p class="caption">The analysis queries (sorted ids) are shuffled with the session\'s seed; the matching '
        )
        + Html(
            "heads are screened on the first half only and this claim's tests read only the second, so the heads are "
        )
        + Html("not re-tested on the queries that picked them.</p>")
        + Html("<details><summary>Query ids of each half</summary>{0}</details>").format(listed)
        + Html("</figure>")
    )


# --------------------------------------------------------------------------- attention to special tokens


def _profile_panel(
    name: str, series: dict[str, list[Any]], layers: int, colours: dict[str, tuple[str, str, str]]
) -> str:
    """One small chart of a statistic by layer, a line per pair group (gaps break a line)."""
    finite = [v for values in series.values() for v in (finite_float(x) for x in values) if v is not None]
    start, end, ticks, decimals = axis_ticks(min(finite, default=0.0), max(finite, default=1.0), 4)
    left, top, plot_w, plot_h = 46, 8, 190, 150
    width, height = left + plot_w + 12, top + plot_h + 40

    def x(layer: float) -> float:
        return left + plot_w * (layer / max(layers - 1, 1))

    def y(value: float) -> float:
        return top + plot_h * (end - value) / (end - start)

    title = PROFILE_TITLES.get(name, name)
    svg = [
        (
            Html(
                '<svg class="heatmap chart profile" viewBox="0 0 {0} {1}" width="{2}" height="{3}" role="img" '
            ).format(width, height, width, height)
            + Html('aria-label="{0} by layer">').format(title)
        )
    ]
    for tick in ticks:
        svg.append(y_gridline(left, left + plot_w, y(tick), f"{tick:.{decimals}f}"))
    step = 1 if layers <= 10 else math.ceil(layers / 7)
    for layer in range(0, layers, step):
        svg.append(
            Html('<text class="tick" x="{0:.1f}" y="{1}" text-anchor="middle">{2}</text>').format(
                x(layer), top + plot_h + 15, layer
            )
        )
    svg.append(x_axis(left, left + plot_w, top + plot_h, "layer →", top + plot_h + 33))
    radius = 3 if layers <= 12 else 2.2
    for group, values in series.items():
        colour, dash, label = colours[group]
        runs: list[list[str]] = [[]]
        points = []
        for layer, value in enumerate(values):
            number = finite_float(value)
            if number is None:
                runs.append([])
                continue
            runs[-1].append(Html("{0:.1f},{1:.1f}").format(x(layer), y(number)))
            points.append(
                Html('<circle cx="{0:.1f}" cy="{1:.1f}" r="{2}" fill="{3}">').format(
                    x(layer), y(number), radius, colour
                )
                + Html("<title>{0}</title></circle>").format(
                    Html("{0}, layer {1}: {2:.4g}").format(label, layer, number)
                )
            )
        dashing = dash_attr(dash)
        for run in runs:
            if len(run) > 1:
                svg.append(
                    Html('<polyline points="{0}" fill="none" stroke="{1}" stroke-width="2"{2} ').format(
                        Html(" ").join(run), colour, dashing
                    )
                    + Html('stroke-linejoin="round"/>')
                )
        svg.extend(points)
    svg.append(Html("</svg>"))
    return Html('<div class="panel"><div class="panel-title">{0}</div>{1}</div>').format(title, Html("").join(svg))


@figure_renderer("layer_profile")
def render_layer_profile(data: dict[str, Any], context: dict[str, Any]) -> str:
    """Small multiples: each statistic's mean by layer, one line per pair group."""
    statistics = data["statistics"]
    if not isinstance(statistics, dict) or not statistics:
        raise ValueError("no statistics to draw")
    layers = positive_int(data.get("layers"))
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
    panels = Html("").join(
        _profile_panel(str(name), {str(g): v for g, v in statistics[name].items()}, layers, colours) for name in ordered
    )
    legend = Html("").join(
        (
            Html(
                '<span class="line-key"><svg width="28" height="10" aria-hidden="true"><line x1="1" y1="5" x2="27" y2="5" '
            )
            + Html('stroke="{0}" stroke-width="2.4"{1}/></svg>{2}</span>').format(
                colours[g][0], dash_attr(colours[g][1]), colours[g][2]
            )
        )
        for g in groups
    )
    absent = [GROUPS[g][2] for g in GROUPS if g not in groups]
    header = Html("").join(
        Html('<th class="num" colspan="{0}">{1}</th>').format(len(statistics[n]) or 1, PROFILE_TITLES.get(str(n), n))
        for n in ordered
    )
    subheader = Html("").join(
        Html("").join(Html('<th class="num">{0}</th>').format(g) for g in statistics[n]) or Html("<th></th>")
        for n in ordered
    )
    body = Html("").join(
        Html("<tr><th>{0}</th>").format(layer)
        + Html("").join(
            Html("").join(
                Html('<td class="num">{0}</td>').format(
                    num(finite_float(v[layer]) if finite_float(v[layer]) is not None else v[layer], 4)
                )
                for v in statistics[n].values()
            )
            or Html("<td></td>")
            for n in ordered
        )
        + Html("</tr>")
        for layer in range(layers)
    )
    return (
        (
            Html('<figure class="fig layer-profile">')
            + Html("<figcaption>Attention to the special tokens, layer by layer</figcaption>")
            + Html('<div class="legend">{0}</div>').format(legend)
            + Html('<div class="panels narrow">{0}</div>').format(panels)
            + Html(
                '<p class="caption">Each point is the mean over the analysis pairs of a group and over all heads of a layer '
            )
            + Html(
                "(layer 0 = first of {0}). Text tokens are the query and document tokens; [SEP] is both separators."
            ).format(layers)
        )
        + (Html(" No {0} in this run.").format(Html(", no ").join(absent)) if absent else "")
        + (
            Html("</p>")
            + Html(
                '<details><summary>Numbers (mean per layer)</summary><div class="scroll"><table class="small grid-table">'
            )
            + Html(
                '<thead><tr><th rowspan="2">layer</th>{0}</tr><tr>{1}</tr></thead><tbody>{2}</tbody></table>'
            ).format(header, subheader, body)
            + Html("</div></details>")
            + Html("</figure>")
        )
    )
