"""The generative-retrieval wing's common parts: values by decoder layer read from a run
(series and stages), a colour per decoder component, and the by-layer chart every GR
figure draws (stages labelled and shaded, data-driven stage starts dashed)."""

from __future__ import annotations

import math
import re
from collections.abc import Callable
from typing import Any

from ranker_claims.reports.formatting import Html, finite_real, non_negative_int, num
from ranker_claims.reports.svg import (
    BLUE,
    EXTRA_COLOURS,
    GREY,
    ORANGE,
    OUTLINE,
    axis_ticks,
    dash_attr,
    label_step,
    x_axis,
    y_gridline,
)

# One colour per decoder component in every GR figure (MLP blue, cross-attention orange,
# self-attention green); stages are told apart by lightness where both matter.
COMPONENT_STYLES = {
    "mlp": (BLUE, "", "MLP"),
    "cross_attention": (ORANGE, "", "cross-attention"),
    "self_attention": (EXTRA_COLOURS[0], "5 3", "self-attention"),
}
SPARE_COLOURS = ("#8e5ea2", "#a0522d", "#3b8686", "#6e7781")

Points = list[tuple[int, float | None]]
Style = tuple[str, str, str]  # colour, dash pattern, label


def component_key(name: Any) -> str:
    """ "Cross-attention", "cross attention" and "cross_attention" all as ``cross_attention``."""
    return re.sub(r"[\s\-]+", "_", str(name).strip().lower())


def series_styles(names: list[str], known: Callable[[str], Style | None]) -> dict[str, Style]:
    """A (colour, dash, label) per series: the known ones fixed, the others from SPARE_COLOURS in turn."""
    styles: dict[str, Style] = {}
    spare = 0
    for name in names:
        style = known(name)
        if style is None:
            style, spare = (SPARE_COLOURS[spare % len(SPARE_COLOURS)], "", name), spare + 1
        styles[name] = style
    return styles


def component_style(name: str) -> Style | None:
    """A decoder component's fixed style, or None for a series that is not a component."""
    return COMPONENT_STYLES.get(component_key(name))


def lens_style(name: str) -> Style | None:
    """A logit-lens series' style: relevant document black, docid tokens orange, other tokens grey."""
    key = name.lower()
    for start, colour, dash in (("relevant", OUTLINE, ""), ("docid", ORANGE, "6 3"), ("other", GREY, "2 3")):
        if key.startswith(start):
            return colour, dash, name
    return component_style(name)


def decoder_depth(data: dict[str, Any], *fields: str) -> int:
    """The decoder depth: ``layers`` when given, else the length of the first series found."""
    layers = non_negative_int(data.get("layers"))
    if layers:
        return layers
    for field in fields:
        series = data.get(field)
        if isinstance(series, dict):
            for values in series.values():
                if isinstance(values, (list, tuple)) and values:
                    return len(values)
    raise ValueError("no layer count and no values per layer")


def series_by_layer(
    data: dict[str, Any], field: str, layers: int, at: list[int] | None = None, required: bool = True
) -> dict[str, Points]:
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
        out[str(name)] = [(layer, finite_real(v)) for layer, v in zip(positions, values)]
    return out


def _stage_sets(value: Any, layers: int, name: str) -> dict[str, list[int]] | None:
    """``{stage: [layer, ...]}`` checked against the decoder depth; None when absent."""
    if value is None:
        return None
    if not isinstance(value, dict):
        raise ValueError(f"{name} is not a mapping of stage to layers")
    out = {}
    for stage, members in value.items():
        if not isinstance(members, (list, tuple)) or any(non_negative_int(m) is None for m in members):
            raise ValueError(f"{name}: stage {stage} is not a list of layers")
        ordered = sorted(int(m) for m in members)
        if ordered and ordered[-1] >= layers:
            raise ValueError(f"{name}: stage {stage} reaches layer {ordered[-1]} of a {layers}-layer decoder")
        out[str(stage)] = ordered
    return out


def read_stages(value: Any, layers: int) -> tuple[dict[str, list[int]] | None, dict[str, list[int]] | None, str | None]:
    """(the paper's stages mapped to this depth, the data-driven ones, why there are none) from a figure's ``stages``."""
    if value is None:
        return None, None, None
    if not isinstance(value, dict):
        raise ValueError("stages is not a mapping")
    why = value.get("data_driven_error")
    return (
        _stage_sets(value.get("paper"), layers, "paper stages"),
        _stage_sets(value.get("data_driven"), layers, "data-driven stages"),
        str(why) if why else None,
    )


def _span(layers: list[int]) -> str:
    """[4, 5, 6] -> "4-6" (as ranker_claims.generative.interventions.layer_label)."""
    if not layers:
        return "none"
    if len(layers) > 1 and layers == list(range(layers[0], layers[-1] + 1)):
        return Html("{0}-{1}").format(layers[0], layers[-1])
    return Html(",").join(map(str, layers))


def stage_text(stages: dict[str, list[int]] | None) -> str:
    """Stages as "I 0-3, II 4-8, III 9-11"."""
    return (
        Html(", ").join(Html("{0} {1}").format(name, _span(members)) for name, members in stages.items())
        if stages
        else "—"
    )


def _boundaries(stages: dict[str, list[int]] | None) -> list[int]:
    """The first layer of every stage but the one at layer 0."""
    return sorted({m[0] for m in (stages or {}).values() if m and m[0] > 0})


def stage_words(
    paper: dict[str, list[int]] | None, data: dict[str, list[int]] | None, why: str | None, drawn: bool = True
) -> str:
    """A caption sentence naming the paper's and the data-driven stages (and how the chart marks them when ``drawn``)."""
    words = (
        Html("Stages as the paper's mapped to this depth: {0}").format(stage_text(paper))
        if paper
        else "No stages recorded"
    )
    words += " (stage II shaded)" if paper and drawn else ""
    if data:
        words += Html("; data-driven from the contribution profile: {0}").format(stage_text(data))
        words += " (dashed: where they begin)" if drawn else ""
    elif why:
        words += Html("; no data-driven stages ({0})").format(why)
    return words + "."


def _power(exponent: int) -> str:
    """A log-axis tick label: 1 to 100 000 written out, other powers of ten as 1eN."""
    return (
        Html("{0:,}").format(10**exponent).replace(",", " ") if 0 <= exponent <= 5 else Html("1e{0}").format(exponent)
    )


def key_line(style: Style) -> str:
    """A legend entry: a short line in the series' colour and dash, then its label."""
    colour, dash, label = style
    return Html(
        '<span class="line-key"><svg width="28" height="10" aria-hidden="true"><line x1="1" y1="5" x2="27" y2="5" '
    ) + Html('stroke="{0}" stroke-width="2.4"{1}/></svg>{2}</span>').format(colour, dash_attr(dash), label)


def layer_chart(
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
    low: float
    high: float
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
        start, end, values, decimals = axis_ticks(low, high, 4)
        ticks = [(t, Html("{0:.{1}f}").format(t, decimals)) for t in values]

    def x(layer: float) -> float:
        return left + plot_w * (layer + 0.5) / layers

    def edge(layer: int) -> float:
        return left + plot_w * layer / layers

    def y(value: float) -> float:
        position = math.log10(value) if log else value
        return top + plot_h * (end - position) / (end - start)

    svg = [
        (
            Html('<svg class="heatmap chart layers" viewBox="0 0 {0} {1}" width="{2}" height="{3}" role="img" ').format(
                width, height, width, height
            )
            + Html('aria-label="{0} by layer">').format(title or y_label)
        )
    ]
    for name, members in (paper or {}).items():
        if not members:
            continue
        a, b = edge(members[0]), edge(members[-1] + 1)
        if name == "II":
            svg.append(
                Html('<rect x="{0:.1f}" y="{1}" width="{2:.1f}" height="{3}" fill="#f1f3f5"/>').format(
                    a, top, b - a, plot_h
                )
            )
        svg.append(
            Html('<text class="stage" x="{0:.1f}" y="{1}" text-anchor="middle">{2}</text>').format(
                (a + b) / 2, top - 8, name
            )
        )
    for tick, text in ticks:
        position = top + plot_h * (end - tick) / (end - start)
        svg.append(y_gridline(left, left + plot_w, position, text))
    for boundary in _boundaries(paper):
        svg.append(
            Html('<line x1="{0:.1f}" y1="{1}" x2="{2:.1f}" y2="{3}" stroke="#c9d1d9"/>').format(
                edge(boundary), top, edge(boundary), top + plot_h
            )
        )
    for boundary in _boundaries(data):
        svg.append(
            Html("<g><title>{0}</title>").format(
                Html("data-driven stage boundary: a stage begins at layer {0}").format(boundary)
            )
            + Html('<line x1="{0:.1f}" y1="{1}" x2="{2:.1f}" y2="{3}" stroke="#59636e" ').format(
                edge(boundary), top, edge(boundary), top + plot_h
            )
            + Html('stroke-width="1.3" stroke-dasharray="4 3"/></g>')
        )
    if not log and start < 0 < end:
        svg.append(
            Html('<line x1="{0}" y1="{1:.1f}" x2="{2}" y2="{3:.1f}" class="zero"/>').format(
                left, y(0.0), left + plot_w, y(0.0)
            )
        )
    for value, label, colour, dash in lines:
        svg.append(
            Html('<g><title>{0}</title><line x1="{1}" y1="{2:.1f}" x2="{3}" ').format(
                Html("{0}: {1:g}").format(label, value), left, y(value), left + plot_w
            )
            + Html('y2="{0:.1f}" stroke="{1}" stroke-width="1.5"{2}/></g>').format(y(value), colour, dash_attr(dash))
        )
    for first, last, value, colour, label in segments:
        svg.append(
            Html('<g><title>{0}</title><line x1="{1:.1f}" y1="{2:.1f}" ').format(
                Html("{0}: {1:.3f}").format(label, value), edge(first) + 2, y(value)
            )
            + Html('x2="{0:.1f}" y2="{1:.1f}" stroke="{2}" stroke-width="5" stroke-opacity="0.45" ').format(
                edge(last + 1) - 2, y(value), colour
            )
            + Html('stroke-linecap="round"/></g>')
        )
    radius = 3 if layers <= 12 else 2.3
    for name, points in series.items():
        colour, dash, label = styles[name]
        runs: list[list[str]] = [[]]
        dots = []
        for layer, point in points:
            if point is None or (log and point <= 0):
                runs.append([])
                continue
            runs[-1].append(Html("{0:.1f},{1:.1f}").format(x(layer), y(point)))
            dots.append(
                Html('<circle cx="{0:.1f}" cy="{1:.1f}" r="{2}" fill="{3}">').format(x(layer), y(point), radius, colour)
                + Html("<title>{0}</title></circle>").format(
                    Html("{0}, layer {1}: {2:.4g}").format(label, layer, point)
                )
            )
        for run in runs:
            if len(run) > 1:
                svg.append(
                    Html('<polyline points="{0}" fill="none" stroke="{1}" stroke-width="2"{2} ').format(
                        Html(" ").join(run), colour, dash_attr(dash)
                    )
                    + Html('stroke-linejoin="round"/>')
                )
        svg.extend(dots)
    if not drawn:
        svg.append(
            Html('<text class="tick" x="{0}" y="{1}" text-anchor="middle">no values</text>').format(
                left + plot_w / 2, top + plot_h / 2
            )
        )
    step = label_step(layers, plot_w / layers)
    for layer in range(0, layers, step):
        svg.append(
            Html('<text class="tick" x="{0:.1f}" y="{1}" text-anchor="middle">{2}</text>').format(
                x(layer), top + plot_h + 15, layer
            )
        )
    svg.append(x_axis(left, left + plot_w, top + plot_h, "decoder layer →", top + plot_h + 34))
    middle = top + plot_h / 2
    svg.append(
        Html('<text class="axis" x="13" y="{0}" text-anchor="middle" transform="rotate(-90 13 {1})">').format(
            middle, middle
        )
        + Html("{0}{1}</text>").format(y_label, " (log)" if log else "")
    )
    svg.append(Html("</svg>"))
    heading = Html('<div class="panel-title">{0}</div>').format(title) if title else ""
    return Html('<div class="panel-wide">{0}{1}</div>').format(heading, Html("").join(svg))


def series_table(columns: list[tuple[str, dict[str, Points]]], layers: int, digits: int = 4) -> str:
    """Numbers by layer: one column per (panel, series), blank where a series has no value at a layer."""
    head = Html("").join(
        Html('<th class="num">{0}<br>{1}</th>').format(panel, name) for panel, group in columns for name in group
    )
    lookup = [dict(points) for _, group in columns for points in group.values()]
    body = Html("").join(
        Html("<tr><th>{0}</th>").format(layer)
        + Html("").join(
            Html('<td class="num">{0}</td>').format(num(values[layer], digits) if layer in values else "")
            for values in lookup
        )
        + Html("</tr>")
        for layer in range(layers)
    )
    return Html('<div class="scroll"><table class="small grid-table"><thead><tr><th>layer</th>{0}</tr></thead>').format(
        head
    ) + Html("<tbody>{0}</tbody></table></div>").format(body)
