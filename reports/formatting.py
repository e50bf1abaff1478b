"""Text helpers shared by every part of the report: escaping, numbers as text, reading
numbers from a run document, and a generic HTML view of any JSON value.

Everything that comes from a run passes through :func:`esc` (or a helper built on it), so
a hostile string in a run can never become markup.
"""

from __future__ import annotations

import html
import json
import math
import numbers
from datetime import datetime
from typing import Any

VERDICT_CLASS = {"SUPPORTED": "v-supported", "CONTRADICTED": "v-contradicted", "INCONCLUSIVE": "v-inconclusive"}
VERDICT_ORDER = {"CONTRADICTED": 0, "INCONCLUSIVE": 1, "SUPPORTED": 2}


def esc(value: Any) -> str:
    """Escape anything for HTML text or a quoted attribute."""
    return html.escape(str(value), quote=True)


def finite_float(value: Any) -> float | None:
    """A finite Python int or float as a float, else None (numpy scalars too: see :func:`finite_real`)."""
    if isinstance(value, bool) or not isinstance(value, (int, float)):
        return None
    return float(value) if math.isfinite(value) else None


def finite_real(value: Any) -> float | None:
    """A finite number (numpy scalars included), else None: what a point or a bar can be drawn from."""
    if isinstance(value, bool) or not isinstance(value, numbers.Real):
        return None
    number = float(value)
    return number if math.isfinite(number) else None


def positive_int(value: Any) -> int | None:
    """A count given in a run (layers, heads, simulations), or None when it is not a positive int."""
    return value if isinstance(value, int) and not isinstance(value, bool) and value > 0 else None


def non_negative_int(value: Any) -> int | None:
    """A layer number or a size given in a run (numpy ints included), or None when it is not one."""
    return int(value) if isinstance(value, numbers.Integral) and not isinstance(value, bool) and value >= 0 else None


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
    number = finite_float(value)
    if number is None:
        return num(value)
    if 0 < number < 1e-4:
        return f"{number:.1e}"
    return f"{number:.4f}"


def interval(ci: Any, digits: int = 3) -> str:
    """A confidence interval ``[low, high]`` as text; anything else as it is."""
    if isinstance(ci, (list, tuple)) and len(ci) == 2:
        return f"[{num(ci[0], digits)}, {num(ci[1], digits)}]"
    return "" if ci is None else num(ci)


def sort_key(value: Any) -> str:
    """A data-sort attribute value (numbers sort numerically in the page's script)."""
    number = finite_float(value)
    return esc(repr(number) if number is not None else ("" if value is None else value))


def badge(verdict: Any) -> str:
    """A verdict as a coloured pill (an unknown verdict grey, never dropped)."""
    text = str(verdict) if verdict is not None else "—"
    return f'<span class="badge {VERDICT_CLASS.get(text, "v-other")}">{esc(text)}</span>'


def pass_badge(passed: Any) -> str:
    """A method check's outcome as a PASS / FAIL pill (anything else shown as it is)."""
    if passed is True:
        return '<span class="badge v-supported">PASS</span>'
    if passed is False:
        return '<span class="badge v-contradicted">FAIL</span>'
    return f'<span class="badge v-other">{esc(passed)}</span>'


def timestamp(stamp: Any) -> str:
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


def run_duration(start: Any, end: Any) -> str | None:
    """How long a run took, in words; None when a time is missing, unreadable or out of order."""
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
            return f'<div class="scroll"><table class="matrix"><tbody>{body}</tbody></table></div>'
        if all(isinstance(v, dict) for v in items) and len(items) <= 100:
            columns: list[str] = []
            for record in items:
                columns.extend(k for k in record if k not in columns)
            head = "".join(f"<th>{esc(c)}</th>" for c in columns)
            body = "".join(
                "<tr>" + "".join(f"<td>{render_data(r.get(c), depth + 1)}</td>" for c in columns) + "</tr>" for r in items
            )
            table = f'<table class="small"><thead><tr>{head}</tr></thead><tbody>{body}</tbody></table>'
            return f'<div class="scroll">{table}</div>'
        shown = "".join(f"<li>{render_data(v, depth + 1)}</li>" for v in items[:50])
        more = f'<li class="muted">… {len(items) - 50} more</li>' if len(items) > 50 else ""
        return f'<ol class="data">{shown}{more}</ol>'
    return plain(value)


def _scalar(value: Any) -> bool:
    """A JSON leaf: shown inline rather than nested."""
    return value is None or isinstance(value, (str, int, float, bool))


def _short_json(value: Any, limit: int = 2000) -> str:
    """Deeply nested data as (truncated) JSON text, so one odd figure cannot blow up the page."""
    try:
        text = json.dumps(value, default=str)
    except (TypeError, ValueError):
        text = repr(value)
    return text if len(text) <= limit else text[:limit] + " …"
