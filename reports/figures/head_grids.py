"""Attention-head figures' common parts: reading layer x head grids and head lists from a
run, and drawing a layer x head grid, its legend and its numbers table."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from reports.formatting import esc, finite_float, num
from reports.svg import OUTLINE, diverging, label_step


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
    return f"{head[0]}/{head[1]}"


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
                f'<text class="tick" x="{left - 6}" y="{top + i * ch + ch / 2 + 3.5}" text-anchor="end">{i}</text>'
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


def diverging_legend(scale: float, label: str) -> str:
    """Swatches of the diverging scale from -``scale`` to +``scale``, after ``label`` (HTML)."""
    steps = [-1.0, -0.5, 0.0, 0.5, 1.0]
    swatches = "".join(
        f'<span class="swatch" style="background:{diverging(s * scale, scale)[0]}"></span>'
        f'<span class="tick">{num(s * scale, 2, signed=True) if s else "0"}</span>'
        for s in steps
    )
    return f'<span class="muted">{label}</span> {swatches}'


def significance_words(context: dict[str, Any]) -> str:
    """"holm correction (p &lt; 0.05)": how significance was decided, from the claim's settings."""
    correction, alpha = context.get("correction"), context.get("alpha")
    words = f"{esc(correction)} correction" if correction else "correction"
    return words + (f" (p &lt; {num(alpha, 2)})" if finite_float(alpha) is not None else "")


def grid_table(values: list[list[Any]], marked: list[list[Any]], mark: str, digits: int = 2) -> str:
    """A layer x head grid's numbers as a table (marked cells carry ``mark``), for the collapsed details."""
    head = "".join(f'<th class="num">{j}</th>' for j in range(len(values[0])))
    body = "".join(
        f"<tr><th>{i}</th>"
        + "".join(
            f'<td class="num">{num(finite_float(v) if finite_float(v) is not None else v, digits, signed=True)}'
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

