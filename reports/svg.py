"""SVG drawing primitives shared by the figures: the palette, colour scales, nice axes,
dash patterns, the hatch of an unmeasured cell and a dot-and-box summary.

Figures are inline SVG strings so that the report needs nothing but itself; every colour a
figure uses comes from here so that the same meaning has the same colour in every figure.
"""

from __future__ import annotations

import math

from ranker_claims.reports.formatting import Html

# Categorical colours: one blue for "the heads the claim is about" (matching, lexical,
# relevant pairs), a warm orange for the second kind (semantic heads, hard negatives) and
# a grey for the background (other heads, controls, easy negatives). Changes and signed
# effects keep the diverging red/blue of :func:`diverging`; counts use :func:`sequential`.
BLUE, ORANGE, GREY = "#2c6fad", "#c0661e", "#8a949e"
OUTLINE = "#1f2328"
EXTRA_COLOURS = ("#5b8c3a", "#8e5ea2", "#a0522d")
NEUTRAL, DROP, RISE = (247, 247, 247), (178, 24, 43), (33, 102, 172)
HATCH_FILL = "#eef0f2"


# --------------------------------------------------------------------------- colour scales


def mix(a: tuple[int, int, int], b: tuple[int, int, int], t: float) -> tuple[int, int, int]:
    """The colour a fraction ``t`` of the way from ``a`` to ``b``."""
    return tuple(round(x + (y - x) * t) for x, y in zip(a, b))  # type: ignore[return-value]


def diverging(delta: float | None, scale: float) -> tuple[str, str]:
    """Fill and text colour for a change ``delta`` (red = drop, blue = rise, grey = none)."""
    if delta is None:
        return "#e4e7eb", "#59636e"
    t = max(-1.0, min(1.0, delta / scale)) if scale > 0 else 0.0
    colour = mix(NEUTRAL, DROP if t < 0 else RISE, abs(t) ** 0.85)
    return "#{:02x}{:02x}{:02x}".format(*colour), ("#ffffff" if abs(t) > 0.55 else "#1f2328")


def sequential(t: float, colour: tuple[int, int, int] = (110, 119, 129)) -> tuple[str, str]:
    """Fill and text colour for a share ``t`` in [0, 1] (light grey to ``colour``)."""
    t = max(0.0, min(1.0, t))
    return "#{:02x}{:02x}{:02x}".format(*mix(NEUTRAL, colour, t)), ("#ffffff" if t > 0.6 else "#1f2328")


# --------------------------------------------------------------------------- axes


def _nice_step(span: float, target: int = 4) -> float:
    """A round tick step (1, 2, 2.5 or 5 times a power of ten) giving about ``target`` ticks."""
    raw = span / max(target, 1)
    magnitude = 10 ** math.floor(math.log10(raw))
    return next(m * magnitude for m in (1, 2, 2.5, 5, 10) if m * magnitude >= raw * 0.999)


def axis_ticks(low: float, high: float, target: int = 4) -> tuple[float, float, list[float], int]:
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


def nice_ceiling(value: float) -> float:
    """The smallest of 1, 1.5, 2, 2.5, 3, 4, 5, 6, 8 (times a power of ten) at or above ``value``."""
    if value <= 0:
        return 1.0
    magnitude = 10 ** math.floor(math.log10(value))
    return next(m * magnitude for m in (1, 1.5, 2, 2.5, 3, 4, 5, 6, 8, 10) if m * magnitude >= value * 0.999)


def label_step(n: int, room: float) -> int:
    """Label every k-th of ``n`` cells ``room`` pixels wide so that labels do not collide."""
    return 1 if room >= 14 else (2 if room >= 7 else max(1, math.ceil(14 / max(room, 1))))


def quantile(values: list[float], q: float) -> float:
    """The ``q`` quantile of ``values`` by linear interpolation (the median and quartiles drawn)."""
    ordered = sorted(values)
    position = (len(ordered) - 1) * q
    low = math.floor(position)
    high = min(low + 1, len(ordered) - 1)
    return ordered[low] + (ordered[high] - ordered[low]) * (position - low)


# --------------------------------------------------------------------------- marks


def dash_attr(pattern: str) -> str:
    """A ``stroke-dasharray`` attribute for ``pattern``; nothing for a solid line."""
    return Html(' stroke-dasharray="{0}"').format(pattern) if pattern else ""


def hatch(x: float, y: float, w: float, h: float) -> str:
    """A grey, diagonally hatched rectangle: a cell that could not be measured."""
    lines = []
    for t in range(-int(h), int(w), 7):
        low, high = max(0.0, -t), min(h, w - t)
        if low < high:
            lines.append(
                Html("M{0:.1f} {1:.1f}L{2:.1f} {3:.1f}").format(x + t + low, y + h - low, x + t + high, y + h - high)
            )
    return Html('<rect x="{0}" y="{1}" width="{2}" height="{3}" rx="3" fill="{4}"/>').format(
        x, y, w, h, HATCH_FILL
    ) + Html('<path d="{0}" stroke="#c3c9d0" stroke-width="1.5" fill="none"/>').format(Html("").join(lines))


def y_gridline(left: float, right: float, y: float, label: str) -> Html:
    """A horizontal grid line across a plot at height ``y``, with its tick label to the left."""
    return Html('<line x1="{0}" y1="{1:.1f}" x2="{2}" y2="{3:.1f}" class="grid"/>').format(left, y, right, y) + Html(
        '<text class="tick" x="{0}" y="{1:.1f}" text-anchor="end">{2}</text>'
    ).format(left - 6, y + 3.5, label)


def x_axis(left: float, right: float, baseline: float, label: str, label_y: float) -> Html:
    """A plot's base line and the axis label centred under it."""
    return Html('<line x1="{0}" y1="{1}" x2="{2}" y2="{3}" class="base"/>').format(
        left, baseline, right, baseline
    ) + Html('<text class="axis" x="{0}" y="{1}" text-anchor="middle">{2}</text>').format(
        (left + right) / 2, label_y, label
    )


def box_svg(groups: list[tuple[str, list[float], str]], axis: str, low: float, high: float) -> str:
    """A small dot-and-box summary: one column per group, jittered dots, quartile box, median."""
    start, end, ticks, decimals = axis_ticks(low, high, 4)
    left, top, plot_h, col = 46, 14, 230, 92
    width, height = left + col * len(groups) + 12, top + plot_h + 42

    def y(value: float) -> float:
        return top + plot_h * (end - value) / (end - start)

    svg = [
        (
            Html('<svg class="heatmap chart box" viewBox="0 0 {0} {1}" width="{2}" height="{3}" role="img" ').format(
                width, height, width, height
            )
            + Html('aria-label="{0} by group">').format(axis)
        )
    ]
    for tick in ticks:
        svg.append(
            Html('<line x1="{0}" y1="{1}" x2="{2}" y2="{3}" class="grid"/>').format(left, y(tick), width - 8, y(tick))
        )
        svg.append(
            Html('<text class="tick" x="{0}" y="{1}" text-anchor="end">{2:.{3}f}</text>').format(
                left - 6, y(tick) + 3.5, tick, decimals
            )
        )
    if start < 0 < end:
        svg.append(Html('<line x1="{0}" y1="{1}" x2="{2}" y2="{3}" class="zero"/>').format(left, y(0), width - 8, y(0)))
    middle = top + plot_h / 2
    svg.append(
        Html('<text class="axis" x="12" y="{0}" text-anchor="middle" transform="rotate(-90 12 {1})">{2}</text>').format(
            middle, middle, axis
        )
    )
    for g, (name, values, colour) in enumerate(groups):
        cx = left + col * g + col / 2
        if values:
            q1, q2, q3 = (quantile(values, q) for q in (0.25, 0.5, 0.75))
            spread = 26 if len(values) > 40 else 18
            dots = Html("").join(
                (
                    Html('<circle cx="{0:.1f}" cy="{1:.1f}" r="2.6" ').format(
                        cx + ((k * 0.618034) % 1 - 0.5) * spread * 2, y(v)
                    )
                    + Html('fill="{0}" fill-opacity="{1}"/>').format(colour, 0.45 if len(values) > 40 else 0.75)
                )
                for k, v in enumerate(values)
            )
            svg.append(
                Html("<g><title>{0}</title>").format(
                    Html("{0}: n = {1}, median {2:.3f}, quartiles {3:.3f} to {4:.3f}").format(
                        name, len(values), q2, q1, q3
                    )
                )
                + Html('<rect x="{0}" y="{1}" width="60" height="{2}" fill="#ffffff" ').format(
                    cx - 30, y(q3), max(y(q1) - y(q3), 1)
                )
                + Html('fill-opacity="0.55" stroke="{0}" stroke-width="1"/>{1}').format(OUTLINE, dots)
                + Html('<line x1="{0}" y1="{1}" x2="{2}" y2="{3}" stroke="{4}" stroke-width="2.2"/></g>').format(
                    cx - 30, y(q2), cx + 30, y(q2), OUTLINE
                )
            )
        svg.append(
            Html('<text class="glabel" x="{0}" y="{1}" text-anchor="middle" fill="{2}">{3}</text>').format(
                cx, top + plot_h + 18, colour, name
            )
        )
        svg.append(
            Html('<text class="tick" x="{0}" y="{1}" text-anchor="middle">n = {2}</text>').format(
                cx, top + plot_h + 33, len(values)
            )
        )
    svg.append(Html("</svg>"))
    return Html("").join(svg)
