"""Trends across runs: ``python -m ranker_claims.reports trend RUN... -o trend.html``.

One run answers "does the claim hold here"; a series of runs (checkpoints of a training, versions of the suite,
a growing collection) asks "since when, and how steadily". This page puts the saved runs side by side: a verdict
table with a row per claim x target and a column per run, and for each row a small chart of the headline value
with its confidence interval, the verdict of each run as the report colours it and a mark where it changed.

Order: by the runs' ``label`` (the plugin's ``--claims-label``) when every run has one, numerically when every
label is a number and in natural order otherwise (``step-50`` before ``step-100``); else by start time. Rows: a
result's identity is (claim_id, model, collection), as :func:`ranker_claims.core.runs.result_key` spells it, but a
checkpoint series names another model in every run, so when every run measured each claim on each collection with
one model and keying on (claim_id, collection) joins results of different models, rows are keyed so (``--group
auto``; ``target`` and ``collection`` force either). The page says which order and rows it used.

The page is built as the report is (:mod:`ranker_claims.reports.page`): everything read from the runs goes through
:class:`~ranker_claims.reports.formatting.Html` formatting, the same inlined style and script, the same
Content-Security-Policy, charts drawn with :mod:`ranker_claims.reports.svg`; nothing is recomputed.
"""

from __future__ import annotations

import argparse
import math
import re
import sys
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from ranker_claims.core.caching import describe_os_error, write_text_atomic
from ranker_claims.core.runs import RunFormatError, load_run
from ranker_claims.reports.formatting import (
    VERDICT_CLASS,
    Html,
    badge,
    finite_real,
    interval,
    num,
    timestamp,
)
from ranker_claims.reports.page import SELF_CONTAINED, _section, document
from ranker_claims.reports.svg import BLUE, GREY, OUTLINE, axis_ticks, x_axis, y_gridline

DESCRIPTION = (
    "Render saved claims runs side by side as one HTML page: per claim x target the verdict of every run and a "
    "chart of the headline value with its confidence interval, verdict changes marked."
)
GROUPS = ("auto", "target", "collection")
#: The background of a chart's column where the verdict changed (the report's warning tint).
CHANGED_BAND = "#fff4d1"
#: Run names longer than this are shortened on a chart's axis (in full in its tooltip and the tables).
TICK_CHARS = 16

ResultKey = tuple[str, ...]


class TrendInputError(Exception):
    """A run argument that cannot be used (no run in a folder, an unreadable run, rows that cannot be keyed as
    asked); :func:`render` prints it as one line on stderr and exits 2, as ``render`` does for one run."""


# --------------------------------------------------------------------------- reading and ordering


def run_paths(arguments: Iterable[Path]) -> list[Path]:
    """The run files ``arguments`` name: a file as it is, a folder as every ``*.json`` in it and in its ``runs``
    subfolder (names starting with a dot left out), sorted by name. A file named twice counts once."""
    found: list[Path] = []
    seen: set[Path] = set()
    for argument in arguments:
        if argument.is_dir():
            folders = [argument] + ([argument / "runs"] if (argument / "runs").is_dir() else [])
            paths = sorted(p for folder in folders for p in folder.glob("*.json")
                           if not p.name.startswith(".") and p.is_file())
            if not paths:
                raise TrendInputError(f"no run JSON in {argument}")
        else:
            paths = [argument]
        for path in paths:
            if path.resolve() not in seen:
                seen.add(path.resolve())
                found.append(path)
    return found


def read_runs(paths: Iterable[Path]) -> list[dict[str, Any]]:
    """Each run file read and checked against the run schema (:func:`~ranker_claims.core.runs.load_run`)."""
    runs = []
    for path in paths:
        try:
            runs.append(load_run(path))
        except RunFormatError as error:
            raise TrendInputError(str(error)) from None
        except OSError as error:  # unreadable: no permission, a disk error
            raise TrendInputError(f"cannot read {path}: {describe_os_error(error)}") from None
    return runs


def run_label(run: dict[str, Any]) -> str | None:
    """The run's ``label`` (``--claims-label``), stripped; None when it has none."""
    label = run.get("label")
    return label.strip() or None if isinstance(label, str) else None


def _number(label: str) -> float | None:
    try:
        value = float(label)
    except ValueError:
        return None
    return value if math.isfinite(value) else None


def natural_key(text: str) -> tuple[tuple[int, int, str], ...]:
    """A sort key reading runs of ASCII digits as numbers: ``step-9`` < ``step-50`` < ``step-100``."""
    parts = re.split(r"([0-9]+)", text.casefold())
    return tuple((0, int(part), "") if k % 2 else (1, 0, part) for k, part in enumerate(parts))


def _started(run: dict[str, Any]) -> tuple[int, float]:
    """A run's start as a sortable number (a time without a zone read as UTC); no or an unreadable time last."""
    try:
        moment = datetime.fromisoformat(str(run.get("started")))
    except ValueError:
        return (1, 0.0)
    if moment.tzinfo is None:
        moment = moment.replace(tzinfo=UTC)
    return (0, moment.timestamp())


def order_runs(runs: Sequence[dict[str, Any]]) -> tuple[list[dict[str, Any]], str]:
    """``runs`` in trend order, and how they were ordered, in words for the page.

    Every run labelled: by label, numerically when every label is a number, else in natural order; otherwise
    (a label missing anywhere) by start time, since a partial labelling cannot place the unlabelled runs. Ties by
    start time, then run id.
    """
    labels = [run_label(run) for run in runs]
    texts = [label for label in labels if label is not None]
    tie = [(_started(run), str(run.get("run_id"))) for run in runs]
    order = list(range(len(runs)))
    if runs and len(texts) == len(runs):
        values = [value for value in map(_number, texts) if value is not None]
        if len(values) == len(runs):
            order.sort(key=lambda i: (values[i], tie[i]))
            how = "by label, as numbers"
        else:
            order.sort(key=lambda i: (natural_key(texts[i]), tie[i]))
            how = "by label, in natural order (digits read as numbers)"
    else:
        order.sort(key=lambda i: tie[i])
        how = ("by start time (" + ("no run has" if not texts else "not every run has")
               + " a label: pytest --claims-label)")
    return [runs[i] for i in order], how


# --------------------------------------------------------------------------- rows


@dataclass
class Row:
    """One claim x target across the runs: its results, one per run (None where a run has none)."""

    key: ResultKey
    claim_id: str
    title: str
    collection: str
    model: str | None  # None when rows join several models (a checkpoint series): each result names its own
    results: list[dict[str, Any] | None] = field(default_factory=list)

    def headline_label(self) -> str | None:
        """The comparison charted: the first comparison of the latest result that has any (the rule of
        :func:`~ranker_claims.core.runs.compare_runs`: the first comparison, matched by label across runs)."""
        for result in reversed(self.results):
            if result and result.get("comparisons"):
                return str(result["comparisons"][0].get("label"))
        return None


def _keyed_by_collection(runs: Sequence[dict[str, Any]]) -> bool:
    """Whether every run has at most one result per (claim_id, collection), i.e. one model per claim there."""
    for run in runs:
        keys = [(str(c.get("claim_id")), str(c.get("collection"))) for c in run.get("claims", [])]
        if len(keys) != len(set(keys)):
            return False
    return True


def group_rows(runs: Sequence[dict[str, Any]], group: str = "auto") -> tuple[list[Row], str]:
    """The rows of the trend (in the order results first appear) and how they are keyed, in words.

    ``target``: by (claim_id, model, collection). ``collection``: by (claim_id, collection), allowed only when
    every run measured each claim on each collection with one model. ``auto``: ``collection`` when it is allowed
    and joins results that ``target`` would keep apart (the models differ between runs), else ``target``.
    """
    if group not in GROUPS:
        raise ValueError(f"group must be one of {GROUPS}, not {group!r}")
    by_collection = _keyed_by_collection(runs)
    if group == "collection" and not by_collection:
        raise TrendInputError("rows cannot be keyed by claim x collection: a run has results of several models "
                              "for one claim on one collection (use --group target)")
    exact = {(str(c.get("claim_id")), str(c.get("model")), str(c.get("collection")))
             for run in runs for c in run.get("claims", [])}
    joined = {(claim_id, collection) for claim_id, _, collection in exact}
    collapse = group == "collection" or (group == "auto" and by_collection and len(joined) < len(exact))
    rows: dict[ResultKey, Row] = {}
    for position, run in enumerate(runs):
        for result in run.get("claims", []):
            claim_id, model, collection = (str(result.get(f)) for f in ("claim_id", "model", "collection"))
            key = (claim_id, collection) if collapse else (claim_id, model, collection)
            row = rows.get(key)
            if row is None:
                row = rows[key] = Row(key, claim_id, str(result.get("title") or ""), collection,
                                      None if collapse else model, [None] * len(runs))
            if row.results[position] is None:  # a result repeated in one run: its first, as the report's matrix
                row.results[position] = result
            if result.get("title"):
                row.title = str(result["title"])  # the latest run's title
    if collapse:
        how = ("one row per claim x collection: every run measured each claim on each collection with one model, "
               "and the models differ between runs (a checkpoint series); each run's model is named in its column")
    else:
        how = "one row per claim x model x collection"
    return list(rows.values()), how


# --------------------------------------------------------------------------- values


@dataclass(frozen=True)
class Point:
    """What a run's result contributes to a row's chart."""

    verdict: str | None
    label: str | None  # the comparison's label
    measured: float | None
    low: float | None
    high: float | None
    reference: float | None
    effect: float | None
    model: str


def headline(result: dict[str, Any], label: str | None) -> dict[str, Any] | None:
    """The result's comparison labelled ``label``, else its first; None when it has none."""
    comparisons = result.get("comparisons") or []
    return next((c for c in comparisons if c.get("label") == label), comparisons[0] if comparisons else None)


def point(result: dict[str, Any], label: str | None) -> Point:
    """The verdict and the headline comparison's measured value, CI, reference and effect of ``result``."""
    comparison = headline(result, label) or {}
    ci = comparison.get("ci")
    low, high = (finite_real(ci[0]), finite_real(ci[1])) if isinstance(ci, (list, tuple)) and len(ci) == 2 else (None, None)
    return Point(
        verdict=None if result.get("verdict") is None else str(result.get("verdict")),
        label=None if comparison.get("label") is None else str(comparison.get("label")),
        measured=finite_real(comparison.get("measured")),
        low=low,
        high=high,
        reference=finite_real(comparison.get("reference")),
        effect=finite_real(comparison.get("effect")),
        model=str(result.get("model")),
    )


def changed(row: Row) -> list[bool]:
    """Per run: whether its verdict differs from that of the previous run with a result for this row."""
    marks, before = [], None
    for result in row.results:
        verdict = result.get("verdict") if result else None
        marks.append(result is not None and before is not None and verdict != before)
        if result is not None:
            before = verdict
    return marks


def run_name(run: dict[str, Any]) -> str:
    """How a run is named on the axes: its label, else its run id."""
    return run_label(run) or str(run.get("run_id", "?"))


def _short(text: str) -> str:
    return text if len(text) <= TICK_CHARS else text[: TICK_CHARS - 1] + "…"


def _ci(p: Point) -> str:
    """The point's confidence interval as text; nothing when the run gave none."""
    return interval([p.low, p.high]) if p.low is not None and p.high is not None else ""


def _verdict_class(verdict: Any) -> str:
    return VERDICT_CLASS.get(str(verdict), "v-other")


# --------------------------------------------------------------------------- sections


def _header(runs: list[dict[str, Any]], rows: list[Row], order: str, grouping: str) -> str:
    flips = sum(1 for row in rows if any(changed(row)))
    note = (
        Html('<p class="banner warn">One run only: each chart has one point; give two or more runs to see a trend.</p>')
        if len(runs) < 2
        else ""
    )
    return (
        Html('<header class="top"><h1>Claims trend</h1>')
        + Html('<p class="sub">{0} run{1}, ordered {2}; {3}.</p>').format(
            len(runs), "s" if len(runs) != 1 else "", order, grouping
        )
        + Html('<p class="tally">{0} claim result{1} across the runs; {2} with a verdict that changed.</p>').format(
            len(rows), "s" if len(rows) != 1 else "", flips
        )
        + Html("{0}</header>").format(note)
    )


def _runs_table(runs: list[dict[str, Any]]) -> str:
    body = Html("").join(
        Html('<tr><td class="num">{0}</td><td><strong>{1}</strong></td><td><code>{2}</code></td>').format(
            position + 1, run_label(run) or "—", run.get("run_id", "?")
        )
        + Html("<td>{0}</td><td>{1}</td>").format(timestamp(run.get("started")), timestamp(run.get("finished")))
        + Html("<td>{0}</td></tr>").format(
            Html("<br>").join(
                Html("<code>{0}</code>").format(model)
                for model in dict.fromkeys(str(c.get("model")) for c in run.get("claims", []))
            )
            or "—"
        )
        for position, run in enumerate(runs)
    )
    return (
        Html('<section id="runs"><h2>Runs</h2><div class="scroll"><table class="small runs"><thead><tr>')
        + Html('<th class="num">#</th><th>Label</th><th>Run</th><th>Started</th><th>Finished</th><th>Models</th>')
        + Html("</tr></thead><tbody>{0}</tbody></table></div></section>").format(body)
    )


def _cell(row: Row, result: dict[str, Any] | None, flipped: bool, before: str | None) -> str:
    if result is None:
        return Html('<td class="not-run" title="no result in this run">not run</td>')
    verdict = result.get("verdict")
    value = point(result, row.headline_label())
    title = Html("{0}: {1}").format(row.claim_id, verdict) + (
        Html(" (was {0})").format(before) if flipped else ""
    )
    model = Html('<span class="muted small"><code>{0}</code></span>').format(result.get("model")) if row.model is None else ""
    return (
        Html('<td class="{0}-cell{1}" title="{2}">').format(
            _verdict_class(verdict), " mark-changed" if flipped else "", title
        )
        + Html("{0}").format(badge(verdict))
        + Html('<span class="effect">{0} <span class="small muted">{1}</span></span>').format(
            num(value.measured), _ci(value)
        )
        + Html("{0}{1}</td>").format(
            model, Html('<span class="mark">changed, was {0}</span>').format(before) if flipped else ""
        )
    )


def _summary(runs: list[dict[str, Any]], rows: list[Row]) -> str:
    head = Html("").join(
        Html('<th scope="col" title="{0}">{1}<br><span class="muted small">{2}</span></th>').format(
            run.get("run_id", "?"), run_name(run), timestamp(run.get("started"))
        )
        for run in runs
    )
    body = []
    for index, row in enumerate(rows):
        marks, before, cells = changed(row), None, []
        for position, result in enumerate(row.results):
            cells.append(_cell(row, result, marks[position], before))
            if result is not None:
                before = str(result.get("verdict"))
        target = (
            Html("<code>{0}</code> @ ").format(row.model) if row.model is not None else Html("")
        ) + Html("<code>{0}</code>").format(row.collection)
        body.append(
            Html('<tr><th scope="row"><a href="#trend-{0}"><strong>{1}</strong></a>').format(index, row.claim_id)
            + Html('<span class="title">{0}</span><span class="title">{1}</span></th>').format(row.title, target)
            + Html("").join(cells)
            + Html("</tr>")
        )
    return (
        Html('<section id="verdicts"><h2>Verdicts by run</h2>')
        + Html('<p class="hint">One row per claim x target, one column per run in order: the verdict and the headline ')
        + Html("value (measured [CI]); an outlined cell is a verdict that changed from the run before it.</p>")
        + Html('<div class="scroll"><table class="claims-matrix trend"><thead><tr><th scope="col">Claim</th>{0}')
        .format(head)
        + Html("</tr></thead><tbody>{0}</tbody></table></div></section>").format(
            Html("").join(body) or Html('<tr><td class="muted">no claim results in these runs</td></tr>')
        )
    )


def trend_svg(row: Row, runs: list[dict[str, Any]]) -> str:
    """The headline value of ``row`` across ``runs``: the measured value with its CI per run, coloured by the
    run's verdict, a ring and a tinted column where the verdict changed, the reference as a dashed grey line."""
    label = row.headline_label()
    points = [point(result, label) if result else None for result in row.results]
    values = [v for p in points if p for v in (p.measured, p.low, p.high, p.reference) if v is not None]
    if not values:
        return Html('<p class="muted small">No headline value in any run.</p>')
    names = [run_name(run) for run in runs]
    rotate = any(len(_short(name)) > 6 for name in names)
    start, end, ticks, decimals = axis_ticks(min(values), max(values), 4)
    left, top, plot_h = 58, 12, 150
    step = _step(len(runs))
    right = left + step * len(runs)
    width = right + 16
    label_room = 78 if rotate else 22
    height = top + plot_h + label_room + 20

    def x(position: int) -> float:
        return left + step * (position + 0.5)

    def y(value: float) -> float:
        return top + plot_h * (end - value) / (end - start)

    svg: list[str] = [
        Html('<svg class="heatmap chart trend" viewBox="0 0 {0:.0f} {1}" width="{2:.0f}" height="{3}" role="img" ')
        .format(width, height, width, height)
        + Html('aria-label="{0}: headline value and verdict by run">').format(row.claim_id)
    ]
    flips = changed(row)
    for position, flipped in enumerate(flips):
        if flipped:
            svg.append(
                Html('<rect x="{0:.1f}" y="{1}" width="{2:.1f}" height="{3}" fill="{4}"/>').format(
                    x(position) - step / 2, top, step, plot_h, CHANGED_BAND
                )
            )
    for tick in ticks:
        svg.append(y_gridline(left, right, y(tick), Html("{0:.{1}f}").format(tick, decimals)))
    if start < 0 < end:
        svg.append(Html('<line x1="{0}" y1="{1:.1f}" x2="{2}" y2="{3:.1f}" class="zero"/>').format(left, y(0), right, y(0)))
    svg.append(x_axis(left, right, top + plot_h, "run", top + plot_h + label_room + 14))
    svg.append(
        Html('<text class="axis" x="12" y="{0}" text-anchor="middle" transform="rotate(-90 12 {0})">measured</text>')
        .format(top + plot_h / 2)
    )
    for position, name in enumerate(names):
        anchor_y = top + plot_h + 14
        if rotate:
            svg.append(
                Html('<text class="tick" x="{0:.1f}" y="{1}" text-anchor="end" transform="rotate(-35 {0:.1f} {1})">')
                .format(x(position) + 4, anchor_y)
                + Html("<title>{0}</title>{1}</text>").format(name, _short(name))
            )
        else:
            svg.append(
                Html('<text class="tick" x="{0:.1f}" y="{1}" text-anchor="middle">{2}</text>').format(
                    x(position), anchor_y, name
                )
            )
    svg.extend(_lines(points, x, y))
    for position, p in enumerate(points):
        if p is not None:
            svg.append(_marker(p, names[position], x(position), y, top + plot_h, flips[position]))
    svg.append(Html("</svg>"))
    return Html("").join(svg)


def _step(count: int) -> float:
    """The width of one run's column on a chart of ``count`` runs."""
    return 72 if count <= 8 else max(30, 576 / count)


def chart_width(count: int) -> float:
    """The width of a chart of ``count`` runs, in pixels (its figure is as wide, its caption wrapping)."""
    return 58 + _step(count) * count + 16


def _segments(points: list[Point | None], value: str) -> list[list[tuple[int, float]]]:
    """Runs of consecutive points that have ``value``: each is drawn as one line."""
    segments: list[list[tuple[int, float]]] = [[]]
    for position, p in enumerate(points):
        number = getattr(p, value) if p is not None else None
        if number is None:
            segments.append([])
        else:
            segments[-1].append((position, number))
    return [segment for segment in segments if segment]


def _lines(points: list[Point | None], x: Any, y: Any) -> list[str]:
    """The reference (dashed grey, a tick per run) and the measured values (blue) joined run to run."""
    marks: list[str] = []
    for segment in _segments(points, "reference"):
        if len(segment) > 1:
            marks.append(
                Html('<polyline points="{0}" fill="none" stroke="{1}" stroke-width="1.2" stroke-dasharray="4 3"/>')
                .format(Html(" ").join(Html("{0:.1f},{1:.1f}").format(x(i), y(v)) for i, v in segment), GREY)
            )
        for i, v in segment:
            marks.append(
                Html('<line x1="{0:.1f}" y1="{1:.1f}" x2="{2:.1f}" y2="{1:.1f}" stroke="{3}" stroke-width="2">')
                .format(x(i) - 8, y(v), x(i) + 8, GREY)
                + Html("<title>reference {0}</title></line>").format(num(v))
            )
    for segment in _segments(points, "measured"):
        if len(segment) > 1:
            marks.append(
                Html('<polyline points="{0}" fill="none" stroke="{1}" stroke-width="1.5" stroke-opacity="0.7"/>')
                .format(Html(" ").join(Html("{0:.1f},{1:.1f}").format(x(i), y(v)) for i, v in segment), BLUE)
            )
    return marks


def _marker(p: Point, name: str, cx: float, y: Any, baseline: float, flipped: bool) -> str:
    """One run's point: CI whisker and dot in its verdict's colour (the report's verdict classes), a tooltip with
    the numbers, a ring when the verdict changed; a verdict without a value sits on the axis as a square."""
    title = Html("{0}: {1}; measured {2} {3}").format(name, p.verdict or "—", num(p.measured), _ci(p))
    title += Html("; effect {0}; reference {1}; {2}; model {3}").format(
        num(p.effect, signed=True), num(p.reference), p.label or "no comparison", p.model
    )
    if flipped:
        title += "; verdict changed"
    parts = [Html('<g class="{0}"><title>{1}</title>').format(_verdict_class(p.verdict), title)]
    if p.measured is None:
        parts.append(
            Html('<rect x="{0:.1f}" y="{1:.1f}" width="9" height="9" fill="currentColor"/>').format(cx - 4.5, baseline - 4.5)
        )
    else:
        if p.low is not None and p.high is not None:
            parts.append(
                Html('<line x1="{0:.1f}" y1="{1:.1f}" x2="{0:.1f}" y2="{2:.1f}" stroke="currentColor" stroke-width="2"/>')
                .format(cx, y(p.low), y(p.high))
                + Html("").join(
                    Html('<line x1="{0:.1f}" y1="{1:.1f}" x2="{2:.1f}" y2="{1:.1f}" stroke="currentColor" '
                         'stroke-width="2"/>').format(cx - 5, y(v), cx + 5)
                    for v in (p.low, p.high)
                )
            )
        parts.append(
            Html('<circle cx="{0:.1f}" cy="{1:.1f}" r="5.5" fill="currentColor" stroke="#ffffff" stroke-width="1.5"/>')
            .format(cx, y(p.measured))
        )
    if flipped:
        centre = baseline if p.measured is None else y(p.measured)
        parts.append(
            Html('<circle class="changed" cx="{0:.1f}" cy="{1:.1f}" r="9.5" fill="none" stroke="{2}" stroke-width="1.6"/>')
            .format(cx, centre, OUTLINE)
        )
    parts.append(Html("</g>"))
    return Html("").join(parts)


def _charts(runs: list[dict[str, Any]], rows: list[Row]) -> str:
    figures = []
    for index, row in enumerate(rows):
        target = (
            Html("<code>{0}</code> @ ").format(row.model) if row.model is not None else Html("")
        ) + Html("<code>{0}</code>").format(row.collection)
        label = row.headline_label()
        figures.append(
            Html('<figure class="fig" id="trend-{0}" style="width:{1:.0f}px"><figcaption>{2} · {3}<br>')
            .format(index, max(chart_width(len(runs)), 320), row.claim_id, row.title)
            + Html('<span class="muted small">on</span> <span class="small">{0}</span>').format(target)
            + Html('</figcaption><div class="heatmap-wrap">{0}</div>').format(_section(trend_svg, row, runs))
            + Html('<p class="caption">Headline comparison: {0}.</p></figure>').format(label or "none in any run")
        )
    legend = (
        Html('<p class="caption">Each chart: the headline comparison&#39;s measured value per run (the first ')
        + Html("comparison, matched by label across runs) with its confidence interval, coloured by the run&#39;s ")
        + Html('verdict ({0}, {1}, {2}); a ringed point on a tinted column is a verdict ').format(
            badge("SUPPORTED"), badge("CONTRADICTED"), badge("INCONCLUSIVE")
        )
        + Html("that changed from the run before; the dashed grey line is the reference the comparison is made ")
        + Html("against (the effect is their difference, in each point&#39;s tooltip). A run without the result ")
        + Html("leaves a gap.</p>")
    )
    return (
        Html('<section id="charts"><h2>Headline values by run</h2>{0}').format(legend)
        + Html('<div class="panels">{0}</div></section>').format(Html("").join(figures))
    )


# --------------------------------------------------------------------------- page


def render_trend(runs: Sequence[dict[str, Any]], group: str = "auto") -> str:
    """The trend page for ``runs`` (any order: they are ordered here) as one self-contained HTML document."""
    ordered, order = order_runs(runs)
    rows, grouping = group_rows(ordered, group)
    title = Html("Claims trend · {0} run{1}").format(len(ordered), "s" if len(ordered) != 1 else "")
    sections = [
        _section(_header, ordered, rows, order, grouping),
        Html('<nav class="toc"><a href="#verdicts">Verdicts</a><a href="#charts">Charts</a><a href="#runs">Runs</a>')
        + Html("</nav>"),
        _section(_summary, ordered, rows),
        _section(_charts, ordered, rows),
        _section(_runs_table, ordered),
    ]
    footer = Html("Rendered by <code>reports trend</code> from {0} saved run{1}. ").format(
        len(ordered), "s" if len(ordered) != 1 else ""
    )
    return document(title, sections, footer + SELF_CONTAINED)


def write_trend(runs: Sequence[dict[str, Any]], path: str | Path, group: str = "auto") -> Path:
    """Render the trend of ``runs`` and write it to ``path`` (atomically, folders created); returns the path."""
    return write_text_atomic(render_trend(runs, group), Path(path))


# --------------------------------------------------------------------------- command line


def add_arguments(parser: argparse.ArgumentParser) -> None:
    """The arguments :func:`render` reads; shared with ``ranker-claims trend``."""
    parser.add_argument("runs", type=Path, nargs="+", metavar="RUN",
                        help="run JSON files or folders (each: every *.json in it and in its runs/ folder)")
    parser.add_argument("-o", "--output", type=Path, default=Path("trend.html"),
                        help="page path (default: trend.html in the current folder)")
    parser.add_argument("--group", choices=GROUPS, default="auto",
                        help="rows by claim x model x collection (target), by claim x collection (collection: a "
                             "checkpoint series, one model per run), or auto (collection when every run has one "
                             "model per claim and collection and the models differ; default)")


def render(args: argparse.Namespace) -> int:
    """Write the trend of ``args.runs`` to ``args.output``; print the path and return 0, else one line on stderr
    and 2 (no run, a run that cannot be read, rows that cannot be keyed as asked) or 1 (cannot write)."""
    try:
        runs = read_runs(run_paths(args.runs))
        html = render_trend(runs, args.group)
    except TrendInputError as error:
        print(f"error: {error}", file=sys.stderr)
        return 2
    try:
        written = write_text_atomic(html, Path(args.output))
    except OSError as error:  # a read-only folder, a full disk, no permission
        print(f"error: cannot write the trend to {args.output}: {describe_os_error(error)}", file=sys.stderr)
        return 1
    print(written)
    return 0


def main(argv: Sequence[str] | None = None) -> int:
    """``python -m ranker_claims.reports trend``: parse ``argv`` (default: the command line after ``trend``) and :func:`render`."""
    parser = argparse.ArgumentParser(prog="python -m ranker_claims.reports trend", description=DESCRIPTION)
    add_arguments(parser)
    return render(parser.parse_args(sys.argv[2:] if argv is None else list(argv)))
