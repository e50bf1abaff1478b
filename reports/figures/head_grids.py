"""Attention-head figures' common parts: reading layer x head grids and head lists from a
run, and drawing a layer x head grid, its legend and its numbers table."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from ranker_claims.reports.formatting import Html, escape, finite_float, num
from ranker_claims.reports.svg import OUTLINE, diverging, label_step


def head_matrix(value: Any, name: str, shape: tuple[int, int] | None = None) -> list[list[Any]]:
    """A non-empty rectangular list of lists (of ``shape`` when given)."""
    if not (isinstance(value, list) and value and all(isinstance(r, list) and r for r in value)):
        raise ValueError(f"{name} is not a layers x heads grid")
    width = len(value[0])
    if any(len(r) != width for r in value):
        raise ValueError(f"{name} has rows of different lengths")
    if shape is not None and (len(value), width) != shape:
        raise ValueError(f"{name} is {len(value)}x{width}, not {shape[0]}x{shape[1]}")
    return value


def head_list(value: Any, name: str) -> list[tuple[int, int]]:
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


def head_label(head: tuple[int, int]) -> str:
    """A head as "layer/head", as the captions and tooltips name it."""
    return Html("{0}/{1}").format(head[0], head[1])


def head_grid_svg(
    values: list[list[Any]],
    marked: list[list[Any]],
    colour: Callable[[int, int], tuple[str, str]],
    tip: Callable[[int, int], str],
    *,
    title: str = "",
    mark: str = "*",
    label: str = "",
    texts: list[list[str]] | None = None,
    cell: tuple[int, int] | None = None,
) -> str:
    """A layer x head grid (rows = layers, top to bottom; columns = heads) as inline SVG.

    ``colour(layer_row, head)`` gives (fill, ink); marked cells are outlined and carry ``mark``;
    ``texts`` (optional) is written in the cells instead of the mark where it fits (in
    normal weight, except the mark itself)."""
    n_rows, n_cols = len(values), len(values[0])
    cw, ch = cell or (max(12, min(34, 400 // n_cols)), max(11, min(28, 380 // n_rows)))
    left, top = 58, 34 + (22 if title else 0)
    width, height = left + n_cols * cw + 6, top + n_rows * ch + 6
    head_step, layer_step = label_step(n_cols, cw), label_step(n_rows, ch)
    svg = [
        (
            Html('<svg class="heatmap heads" viewBox="0 0 {0} {1}" width="{2}" height="{3}" role="img" ').format(
                width, height, width, height
            )
            + Html('aria-label="{0}; rows layers, columns heads">').format(label or title or "layer by head grid")
        )
    ]
    if title:
        svg.append(Html('<text class="ptitle" x="{0}" y="15">{1}</text>').format(left, title))
    svg.append(
        Html('<text class="axis" x="{0}" y="{1}" text-anchor="middle">head →</text>').format(
            left + n_cols * cw / 2, top - 22
        )
    )
    middle = top + n_rows * ch / 2
    svg.append(
        Html(
            '<text class="axis" x="14" y="{0}" text-anchor="middle" transform="rotate(-90 14 {1})">← layer</text>'
        ).format(middle, middle)
    )
    for j in range(0, n_cols, head_step):
        svg.append(
            Html('<text class="tick" x="{0}" y="{1}" text-anchor="middle">{2}</text>').format(
                left + j * cw + cw / 2, top - 6, j
            )
        )
    star_size = min(13, ch - 1, cw - 1)
    outlines = []
    for i in range(n_rows):
        if i % layer_step == 0:
            svg.append(
                Html('<text class="tick" x="{0}" y="{1}" text-anchor="end">{2}</text>').format(
                    left - 6, top + i * ch + ch / 2 + 3.5, i
                )
            )
        for j in range(n_cols):
            fill, ink = colour(i, j)
            x, y = left + j * cw, top + i * ch
            is_marked = marked[i][j] is True
            inner = ""
            text = texts[i][j] if texts is not None else (mark if is_marked else "")
            if text and star_size >= 8:
                inner = Html('<text class="{0}" x="{1}" y="{2}" text-anchor="middle" ').format(
                    "star" if text == mark else "cnt", x + cw / 2, y + ch / 2 + star_size * 0.36
                ) + Html('fill="{0}" style="font-size:{1}px">{2}</text>').format(ink, star_size, text)
            svg.append(
                Html("<g><title>{0}</title>").format(tip(i, j))
                + Html('<rect x="{0}" y="{1}" width="{2}" height="{3}" rx="2" fill="{4}"/>{5}</g>').format(
                    x + 0.5, y + 0.5, cw - 1, ch - 1, fill, inner
                )
            )
            if is_marked:
                outlines.append(
                    Html('<rect x="{0}" y="{1}" width="{2}" height="{3}" rx="2" fill="none" ').format(
                        x + 1, y + 1, cw - 2, ch - 2
                    )
                    + Html('stroke="{0}" stroke-width="1.6" pointer-events="none"/>').format(OUTLINE)
                )
    svg.extend(outlines)
    svg.append(Html("</svg>"))
    return Html("").join(svg)


def diverging_legend(scale: float, label: str) -> str:
    """Swatches of the diverging scale from -``scale`` to +``scale``, after ``label`` (HTML)."""
    steps = [-1.0, -0.5, 0.0, 0.5, 1.0]
    swatches = Html("").join(
        (
            Html('<span class="swatch" style="background:{0}"></span>').format(diverging(s * scale, scale)[0])
            + Html('<span class="tick">{0}</span>').format(num(s * scale, 2, signed=True) if s else "0")
        )
        for s in steps
    )
    return Html('<span class="muted">{0}</span> {1}').format(label, swatches)


def significance_words(context: dict[str, Any]) -> str:
    """ "holm correction (p &lt; 0.05)": how significance was decided, from the claim's settings."""
    correction, alpha = context.get("correction"), context.get("alpha")
    words = Html("{0} correction").format(correction) if correction else "correction"
    return words + (Html(" (p &lt; {0})").format(num(alpha, 2)) if finite_float(alpha) is not None else "")


def grid_table(values: list[list[Any]], marked: list[list[Any]], mark: str, digits: int = 2) -> str:
    """A layer x head grid's numbers as a table (marked cells carry ``mark``), for the collapsed details."""
    head = Html("").join(Html('<th class="num">{0}</th>').format(j) for j in range(len(values[0])))
    body = Html("").join(
        Html("<tr><th>{0}</th>").format(i)
        + Html("").join(
            (
                Html('<td class="num">{0}').format(
                    num(finite_float(v) if finite_float(v) is not None else v, digits, signed=True)
                )
                + Html("{0}</td>").format(escape(mark) if marked[i][j] is True else "")
            )
            for j, v in enumerate(row)
        )
        + Html("</tr>")
        for i, row in enumerate(values)
    )
    return Html(
        '<div class="scroll"><table class="small grid-table heads-table"><thead><tr><th>layer \\ head</th>'
    ) + Html("{0}</tr></thead><tbody>{1}</tbody></table></div>").format(head, body)
