"""Text helpers shared by every part of the report: escaping, numbers as text, reading
numbers from a run document, and a generic HTML view of any JSON value.

HTML is :class:`Html` (markupsafe's ``Markup``) from end to end: fragments of trusted HTML
are ``Html`` literals, and values are put into them only by ``Html(...).format(...)``,
``Html(...).join(...)`` or ``+``, which escape every argument that is not already ``Html``.
So a string read from a run cannot reach the page unescaped by omission: forgetting to
escape it escapes it. Only literals in this package are wrapped in ``Html`` directly.
"""

from __future__ import annotations

import html
import json
import math
import numbers
from datetime import datetime
from typing import Any

from markupsafe import Markup

VERDICT_CLASS = {"SUPPORTED": "v-supported", "CONTRADICTED": "v-contradicted", "INCONCLUSIVE": "v-inconclusive"}
VERDICT_ORDER = {"CONTRADICTED": 0, "INCONCLUSIVE": 1, "SUPPORTED": 2}


class Html(Markup):
    """A fragment of trusted HTML (markupsafe's ``Markup``).

    ``Html(template).format(...)``, ``Html(separator).join(...)`` and ``+`` escape every
    argument that is not itself ``Html``/``Markup``, so a value read from a run reaches the
    page escaped unless code wraps it in ``Html`` on purpose, which only literals do. The
    escaping is :func:`html.escape` (``&quot;``, ``&#x27;``), the page's spelling since its
    first version.
    """

    __slots__ = ()

    @classmethod
    def escape(cls, s: Any, /) -> Html:
        if hasattr(s, "__html__"):
            return cls(s.__html__())
        return cls(html.escape(str(s), quote=True))


def escape(value: Any) -> Html:
    """Anything as HTML text or a quoted attribute: escaped, unless it is already ``Html``."""
    return Html.escape(value)


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
    # typeshed's numbers.Integral has no __ge__; every Integral compares with 0.
    return int(value) if isinstance(value, numbers.Integral) and not isinstance(value, bool) and value >= 0 else None  # type: ignore[operator]


def num(value: Any, digits: int = 3, signed: bool = False) -> str:
    """A number as escaped text; None as a dash, non-numbers escaped as they are."""
    if value is None:
        return "—"
    if isinstance(value, bool):
        return "yes" if value else "no"
    if isinstance(value, int):
        return Html("{0:+d}").format(value) if signed else str(value)
    if isinstance(value, float):
        if math.isnan(value):
            return "NaN"
        if math.isinf(value):
            return "∞" if value > 0 else "−∞"
        return Html("{0:+.{1}f}").format(value, digits) if signed else Html("{0:.{1}f}").format(value, digits)
    return escape(value)


def plain(value: Any) -> str:
    """A value as written in the run (floats to 6 significant digits), escaped."""
    if isinstance(value, float) and math.isfinite(value):
        return Html("{0:.6g}").format(value)
    return num(value)


def pval(value: Any) -> str:
    """A p-value: four decimals, scientific below 1e-4."""
    number = finite_float(value)
    if number is None:
        return num(value)
    if 0 < number < 1e-4:
        return Html("{0:.1e}").format(number)
    return Html("{0:.4f}").format(number)


def interval(ci: Any, digits: int = 3) -> str:
    """A confidence interval ``[low, high]`` as text; anything else as it is."""
    if isinstance(ci, (list, tuple)) and len(ci) == 2:
        return Html("[{0}, {1}]").format(num(ci[0], digits), num(ci[1], digits))
    return "" if ci is None else num(ci)


def sort_key(value: Any) -> str:
    """A data-sort attribute value (numbers sort numerically in the page's script)."""
    number = finite_float(value)
    return escape(repr(number) if number is not None else ("" if value is None else value))


def badge(verdict: Any) -> str:
    """A verdict as a coloured pill (an unknown verdict grey, never dropped)."""
    text = str(verdict) if verdict is not None else "—"
    return Html('<span class="badge {0}">{1}</span>').format(VERDICT_CLASS.get(text, "v-other"), text)


def pass_badge(passed: Any) -> str:
    """A method check's outcome as a PASS / FAIL pill (anything else shown as it is)."""
    if passed is True:
        return Html('<span class="badge v-supported">PASS</span>')
    if passed is False:
        return Html('<span class="badge v-contradicted">FAIL</span>')
    return Html('<span class="badge v-other">{0}</span>').format(passed)


def timestamp(stamp: Any) -> str:
    """An ISO timestamp as 'YYYY-MM-DD HH:MM:SS UTC' (or as given when it does not parse)."""
    if not stamp:
        return "—"
    try:
        moment = datetime.fromisoformat(str(stamp))
    except ValueError:
        return escape(stamp)
    zone = " UTC" if (offset := moment.utcoffset()) is not None and offset.total_seconds() == 0 else ""
    if moment.utcoffset() is not None and not zone:
        zone = " " + moment.strftime("%z")
    return escape(moment.strftime("%Y-%m-%d %H:%M:%S") + zone)


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
    return (
        Html("{0} h {1:02d} min").format(hours, minutes)
        if hours
        else (Html("{0} min {1:02d} s").format(minutes, secs) if minutes else Html("{0} s").format(secs))
    )


# --------------------------------------------------------------------------- generic data


def render_data(value: Any, depth: int = 0) -> str:
    """Any JSON value as compact HTML: dicts as definition lists, matrices and lists of
    records as small tables, short lists inline."""
    if depth > 4:
        return Html("<code>{0}</code>").format(_short_json(value))
    if isinstance(value, dict):
        if not value:
            return Html('<span class="muted">(empty)</span>')
        rows = Html("").join(
            Html("<dt>{0}</dt><dd>{1}</dd>").format(k, render_data(v, depth + 1)) for k, v in value.items()
        )
        return Html('<dl class="kv">{0}</dl>').format(rows)
    if isinstance(value, (list, tuple)):
        items = list(value)
        if not items:
            return Html('<span class="muted">(none)</span>')
        if all(_scalar(v) for v in items):
            shown = Html(", ").join(plain(v) for v in items[:40])
            more = Html(' <span class="muted">… {0} more</span>').format(len(items) - 40) if len(items) > 40 else ""
            return Html('<span class="list">{0}{1}</span>').format(shown, more)
        if all(isinstance(v, (list, tuple)) and all(_scalar(x) for x in v) for v in items) and len(items) <= 60:
            body = Html("").join(
                Html("<tr>")
                + Html("").join(Html('<td class="num">{0}</td>').format(plain(x)) for x in row)
                + Html("</tr>")
                for row in items
            )
            return Html('<div class="scroll"><table class="matrix"><tbody>{0}</tbody></table></div>').format(body)
        if all(isinstance(v, dict) for v in items) and len(items) <= 100:
            columns: list[str] = []
            for record in items:
                columns.extend(k for k in record if k not in columns)
            head = Html("").join(Html("<th>{0}</th>").format(c) for c in columns)
            body = Html("").join(
                Html("<tr>")
                + Html("").join(Html("<td>{0}</td>").format(render_data(r.get(c), depth + 1)) for c in columns)
                + Html("</tr>")
                for r in items
            )
            table = Html('<table class="small"><thead><tr>{0}</tr></thead><tbody>{1}</tbody></table>').format(
                head, body
            )
            return Html('<div class="scroll">{0}</div>').format(table)
        shown = Html("").join(Html("<li>{0}</li>").format(render_data(v, depth + 1)) for v in items[:50])
        more = Html('<li class="muted">… {0} more</li>').format(len(items) - 50) if len(items) > 50 else ""
        return Html('<ol class="data">{0}{1}</ol>').format(shown, more)
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
