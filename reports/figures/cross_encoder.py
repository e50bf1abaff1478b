"""Figures of the cross-encoder wing (monoBERT-style rankers, CE-* claims): the directed
ablation table, the per-head screens (effect heatmaps, head depths, query-key alignment,
context-free shares, ablated heads), the query split of CE-8..CE-11 and the
attention-to-special-tokens profile."""

from __future__ import annotations

import math
from typing import Any

from reports.figures.head_grids import (
    diverging_legend,
    grid_table,
    head_grid_svg,
    head_label,
    head_list,
    head_matrix,
    significance_words,
)
from reports.figures.registry import figure_renderer
from reports.formatting import esc, finite_float, num, positive_int, pval
from reports.svg import (
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
        [(finite_float(v) - baseline) if baseline is not None and finite_float(v) is not None else None for v in row]
        for row in values
    ]
    scale = max((abs(d) for row in deltas for d in row if d is not None), default=0.0) or 1.0
    has_paper = any(finite_float(v) is not None for row in paper for v in row)

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
            if finite_float(paper[i][j]) is not None:
                tip += f"; paper {num(paper[i][j], 2)}"
            svg.append(
                f'<g><title>{esc(tip)}</title>'
                f'<rect x="{x + 1}" y="{y + 1}" width="{cw - 2}" height="{ch - 2}" rx="3" fill="{fill}"/>'
                f'<text class="val" x="{x + cw / 2}" y="{y + 22}" text-anchor="middle" fill="{ink}">{num(value)}{star}</text>'
                f'<text class="sub" x="{x + cw / 2}" y="{y + 38}" text-anchor="middle" fill="{ink}">'
                f'{"Δ " + num(delta, signed=True) if delta is not None else ""}</text>'
            )
            if finite_float(paper[i][j]) is not None:
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
    significance += f" (p < {num(alpha, 2)})" if finite_float(alpha) is not None else ""
    numbers_head = "".join(f'<th class="num">{esc(p)}</th>' for p in parts)
    numbers_rows = "".join(
        f"<tr><th>{esc(parts[i])}</th>"
        + "".join(
            f'<td class="num">{num(values[i][j])}{"*" if significant[i][j] is True else ""}'
            f'<br><span class="muted">p {pval(p_corrected[i][j])}</span>'
            + (f'<br><span class="muted">paper {num(paper[i][j], 2)}</span>' if finite_float(paper[i][j]) is not None else "")
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
        effect = head_matrix(statistic["effect"], f"{name} effect", shape)
        shape = (len(effect), len(effect[0]))
        significant = statistic.get("significant")
        significant = head_matrix(significant, f"{name} significant", shape) if significant is not None else [
            [False] * shape[1] for _ in range(shape[0])
        ]
        grids[str(name)] = (effect, significant)
    assert shape is not None
    layers = positive_int(data.get("layers"))
    if layers is not None and layers != shape[0]:
        raise ValueError(f"layers is {layers} but the grids have {shape[0]} rows")
    negative = str(data.get("negative") or "other")
    largest = max((abs(finite_float(v)) for e, _ in grids.values() for r in e for v in r if finite_float(v) is not None), default=0)
    scale = nice_ceiling(largest)
    tests = len(grids) * shape[0] * shape[1]

    panels, tables, found = [], [], []
    for name, (effect, significant) in grids.items():

        def tip(i: int, j: int, name: str = name, effect: list = effect, significant: list = significant) -> str:
            value = finite_float(effect[i][j])
            text = f"{name}, head {i}/{j}: d_z {num(value, 2, signed=True) if value is not None else num(effect[i][j])}"
            return text + (", significant" if significant[i][j] is True else ", not significant")

        panels.append(
            head_grid_svg(effect, significant, lambda i, j, effect=effect: diverging(finite_float(effect[i][j]), scale), tip, title=name,
                           label=f"{name}: Cohen's d_z, relevant vs {negative} negatives")
        )
        hits = sorted(
            ((i, j) for i in range(shape[0]) for j in range(shape[1]) if significant[i][j] is True),
            key=lambda ij: -(finite_float(effect[ij[0]][ij[1]]) or 0.0),
        )
        listed = ", ".join(f"{i}/{j} ({num(finite_float(effect[i][j]), 2, signed=True)})" for i, j in hits[:12])
        more = f", … {len(hits) - 12} more" if len(hits) > 12 else ""
        found.append(
            f"<li><strong>{esc(name)}</strong>: {len(hits)} of {shape[0] * shape[1]} heads"
            + (f": {listed}{more}" if hits else "") + "</li>"
        )
        tables.append(f"<h4>{esc(name)}</h4>" + grid_table(effect, significant, "*"))
    title = data.get("title") or f"Heads: relevant vs {negative} negatives (Cohen's d_z)"
    return (
        '<figure class="fig head-heatmap">'
        f"<figcaption>{esc(title)}</figcaption>"
        f'<div class="panels">{"".join(panels)}</div>'
        f'<div class="legend">{diverging_legend(scale, "Cohen&#x27;s d_z:")}'
        '<span class="swatch marked"></span><span class="tick">* significant</span></div>'
        f'<p class="caption">One cell per head (row = layer from 0, column = head). Colour = Cohen\'s d_z of the '
        f"per-query difference, relevant pairs minus {esc(negative)} negatives: blue = higher on relevant pairs, "
        f"red = higher on negatives, same scale in every panel. Outlined * = significant after "
        f"{significance_words(context)} over all {tests} head tests.</p>"
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
            median = quantile([float(layer) for layer, _ in heads[key]], 0.5)
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
    step = label_step(layers, cw)
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
        f"{esc(', '.join(head_label(h) for h in heads[key])) or '—'}</p>"
        for key, name, *_ in kinds
    )
    return (
        '<figure class="fig head-depths">'
        "<figcaption>Layers of the lexical and semantic matching heads</figcaption>"
        f'<div class="heatmap-wrap">{"".join(svg)}</div>'
        f'<p class="caption">One dot per significant head at its layer (number = heads in that layer); '
        f"▲ = median layer: {'; '.join(medians)}. Lexical heads separate relevant pairs from easy "
        "negatives, semantic heads from hard negatives"
        + (f"; {len(both)} head{'s' if len(both) != 1 else ''} significant in both screens "
           f"({esc(', '.join(head_label(h) for h in both))}) {'are' if len(both) != 1 else 'is'} left out of both"
           if both else "")
        + ".</p>"
        '<details><summary>Numbers (heads per layer)</summary><div class="scroll"><table class="small grid-table">'
        f'<thead><tr><th>layer</th>{"".join(f"<th class=num>{i}</th>" for i in range(layers))}'
        f'<th class="num">all</th></tr></thead><tbody>{rows}</tbody></table></div>{lists}</details>'
        "</figure>"
    )


@figure_renderer("alignment")
def render_alignment(data: dict[str, Any], context: dict[str, Any]) -> str:
    """Query-key alignment of every head as a layer x head heatmap (matching heads outlined),
    with a dot-and-box summary of matching against other heads."""
    values = head_matrix(data["values"], "values")
    shape = (len(values), len(values[0]))
    matching = data.get("matching")
    matching = head_matrix(matching, "matching", shape) if matching is not None else [[False] * shape[1] for _ in values]
    finite = [finite_float(v) for row in values for v in row]
    largest = max((abs(v) for v in finite if v is not None), default=0.0)
    scale = min(1.0, nice_ceiling(largest)) if largest <= 1 else nice_ceiling(largest)

    def tip(i: int, j: int) -> str:
        return f"head {i}/{j}: alignment {num(values[i][j])}" + (", matching head" if matching[i][j] is True else "")

    heatmap = head_grid_svg(values, matching, lambda i, j: diverging(finite_float(values[i][j]), scale), tip, mark="•",
                             label="query-key alignment per head; matching heads outlined")
    inside = [v for row, marks in zip(values, matching) for v, m in zip(row, marks) if m is True and finite_float(v) is not None]
    outside = [v for row, marks in zip(values, matching) for v, m in zip(row, marks) if m is not True and finite_float(v) is not None]
    shown = inside + outside
    box = box_svg(
        [("matching", [float(v) for v in inside], BLUE), ("other heads", [float(v) for v in outside], GREY)],
        "alignment",
        min(shown + [0.0]),
        max(shown + [0.0]),
    )
    medians = "; ".join(
        f"median {name} {num(quantile([float(v) for v in group], 0.5))} (n = {len(group)})"
        for name, group in (("matching", inside), ("other", outside))
        if group
    )
    return (
        '<figure class="fig alignment">'
        "<figcaption>Alignment of the singular vectors of each head's query-key matrix</figcaption>"
        f'<div class="panels">{heatmap}{box}</div>'
        f'<div class="legend">{diverging_legend(scale, "alignment:")}'
        '<span class="swatch marked"></span><span class="tick">• matching head</span></div>'
        '<p class="caption">Left: one cell per head (row = layer from 0, column = head), coloured by '
        "Σ<sub>k</sub> s<sub>k</sub> u<sub>k</sub>·v<sub>k</sub> / Σ<sub>k</sub> s<sub>k</sub> of W<sub>Q</sub> "
        "W<sub>K</sub><sup>T</sup> (1 = left and right singular vectors aligned, 0 = unrelated, −1 = opposed); "
        "outlined • = a matching head of CE-6/CE-7. Right: the same values, matching heads against all "
        f"other heads (box = quartiles, bar = median): {esc(medians) or 'no values'}.</p>"
        f"<details><summary>Numbers (alignment; • matching)</summary>{grid_table(values, matching, '•', 3)}</details>"
        "</figure>"
    )


@figure_renderer("decomposition")
def render_decomposition(data: dict[str, Any], context: dict[str, Any]) -> str:
    """Mean context-free share (R^2) per head: matching heads, then control heads."""
    heads = head_list(data.get("heads"), "heads")
    controls = head_list(data.get("controls"), "controls")
    shares = data["mean_share"]
    if not isinstance(shares, list) or len(shares) != len(heads) + len(controls) or not shares:
        raise ValueError(f"mean_share has {len(shares) if isinstance(shares, list) else 'no'} values "
                         f"for {len(heads)} heads and {len(controls)} controls")
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
        value = finite_float(share)
        label = head_label(head)
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
        f'<tr><td>{kind}</td><td><code>{esc(head_label(head))}</code></td><td class="num">{num(finite_float(share) if finite_float(share) is not None else share)}</td></tr>'
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


@figure_renderer("ablated_heads")
def render_ablated_heads(data: dict[str, Any], context: dict[str, Any]) -> str:
    """Which heads were ablated: the matching set on a layer x head grid (blue), how often
    each other head was drawn into a random control set (grey), and the sets as a list."""
    matching = head_list(data.get("matching"), "matching")
    random_sets = data.get("random_sets") or []
    if not isinstance(random_sets, list):
        raise ValueError("random_sets is not a list of head sets")
    sets = [head_list(s, f"random set {k + 1}") for k, s in enumerate(random_sets)]
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
    texts = [[("●" if marked[l][h] else (str(drawn[l][h]) if drawn[l][h] else "")) for h in range(n_heads)]
             for l in range(layers)]

    def colour(i: int, j: int) -> tuple[str, str]:
        return (BLUE, "#ffffff") if marked[i][j] else sequential(drawn[i][j] / total)

    def tip(i: int, j: int) -> str:
        what = "ablated (matching head)" if marked[i][j] else "not in the matching set"
        return f"head {i}/{j}: {what}; in {drawn[i][j]} of {len(sets)} random sets"

    cw, ch = max(14, min(26, 360 // n_heads)), max(12, min(22, 320 // layers))
    grid = head_grid_svg(values, marked, colour, tip, texts=texts, cell=(cw, ch), mark="●",
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
        f'<li><code>{esc(", ".join(head_label(h) for h in sorted(s)))}</code></li>' for s in sets
    )
    return (
        '<figure class="fig ablated-heads">'
        f"<figcaption>Ablated heads: {len(matching)} matching head{'s' if len(matching) != 1 else ''} "
        f"and {len(sets)} random control set{'s' if len(sets) != 1 else ''}</figcaption>"
        f'<div class="heatmap-wrap">{grid}</div>'
        f'<div class="legend">{legend}</div>'
        f'<p class="caption">Rows = layers{"" if positive_int(data.get("layers")) else f" 0 to {layers - 1} (the deepest used)"}, '
        f'columns = heads{"" if positive_int(data.get("heads")) else f" 0 to {n_heads - 1} (the highest index used)"}. '
        f"Matching heads ablated (blue ●): <code>{esc(', '.join(head_label(h) for h in matching)) or '—'}</code> ({esc(layout) or 'none'}). "
        "Each random control set has as many heads in each of those layers, drawn from the other heads; a grey cell's "
        "number is how many random sets contain that head.</p>"
        f'<details><summary>The {len(sets)} random head set{"s" if len(sets) != 1 else ""} (layer/head)</summary>'
        f'<ol class="data small">{listed or "<li class=muted>none</li>"}</ol></details>'
        "</figure>"
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
    listed = "".join(
        f"<p class=\"small\"><strong>{half}</strong>: <code>{esc(', '.join(qids)) or '—'}</code></p>"
        for half, qids in halves.items()
    )
    return (
        '<figure class="fig query-split">'
        f"<figcaption>Query split (seed {seed}): heads selected on {len(halves['selection'])} "
        f"quer{'y' if len(halves['selection']) == 1 else 'ies'}, tested on {len(halves['test'])}</figcaption>"
        '<p class="caption">The analysis queries (sorted ids) are shuffled with the session\'s seed; the matching '
        "heads are screened on the first half only and this claim's tests read only the second, so the heads are "
        "not re-tested on the queries that picked them.</p>"
        f"<details><summary>Query ids of each half</summary>{listed}</details>"
        "</figure>"
    )


# --------------------------------------------------------------------------- attention to special tokens


def _profile_panel(name: str, series: dict[str, list[Any]], layers: int, colours: dict[str, tuple[str, str, str]]) -> str:
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
            number = finite_float(value)
            if number is None:
                runs.append([])
                continue
            runs[-1].append(f"{x(layer):.1f},{y(number):.1f}")
            points.append(
                f'<circle cx="{x(layer):.1f}" cy="{y(number):.1f}" r="{radius}" fill="{colour}">'
                f"<title>{esc(f'{label}, layer {layer}: {number:.4g}')}</title></circle>"
            )
        dashing = dash_attr(dash)
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
    panels = "".join(
        _profile_panel(str(name), {str(g): v for g, v in statistics[name].items()}, layers, colours) for name in ordered
    )
    legend = "".join(
        f'<span class="line-key"><svg width="28" height="10" aria-hidden="true"><line x1="1" y1="5" x2="27" y2="5" '
        f'stroke="{colours[g][0]}" stroke-width="2.4"{dash_attr(colours[g][1])}/></svg>{esc(colours[g][2])}</span>'
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
            "".join(f'<td class="num">{num(finite_float(v[layer]) if finite_float(v[layer]) is not None else v[layer], 4)}</td>'
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
