"""The report page: its sections (header, claims x targets matrix, verdict summary, comparison
with an earlier run, setup, one card per claim, method checks, verdict rules) and the page
around them.

The page needs nothing but itself: the CSS and the little JavaScript it has (table sorting,
opening collapsed sections before printing) are read from ``reports/static`` and inlined,
figures are inline SVG, there is no URL of any kind, and a Content-Security-Policy forbids
the browser from fetching anything. Everything read from the run is escaped. Without
JavaScript every number is still there; only sorting is lost. A section that fails to
render shows a notice instead of costing the whole report.
"""

from __future__ import annotations

import json
from collections.abc import Callable
from importlib import resources
from pathlib import Path
from typing import Any, NamedTuple

from reports.figures import FIGURE_RENDERERS, render_figure
from reports.figures.method_checks import calibration_table
from reports.formatting import (
    VERDICT_CLASS,
    VERDICT_ORDER,
    badge,
    esc,
    finite_float,
    interval,
    num,
    pass_badge,
    positive_int,
    pval,
    render_data,
    run_duration,
    sort_key,
    timestamp,
)
from suite.core.caching import write_text_atomic
from suite.core.results import FEW_UNITS

ABLATION_MODES = {
    "pre-softmax": "attention scores are masked before the softmax, so the remaining weights renormalise",
    "post-softmax": "attention weights are zeroed after the softmax and not renormalised",
}

# No network, ever: a stray reference fails loudly in the browser instead of loading.
CSP = (
    "default-src 'none'; style-src 'unsafe-inline'; script-src 'unsafe-inline'; "
    "img-src data:; base-uri 'none'; form-action 'none'"
)


def _static(name: str) -> str:
    """A file of ``reports/static`` (package data), to be inlined in the page."""
    return (resources.files("reports") / "static" / name).read_text(encoding="utf-8")


STYLE = _static("report.css")
SCRIPT = _static("report.js")


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
    """The distinct ``item[field]`` records in order (targets share models and collections)."""
    seen, result = set(), []
    for item in items:
        entry = item.get(field) or {}
        ident = json.dumps(entry, sort_keys=True, default=str)
        if ident not in seen:
            seen.add(ident)
            result.append(entry)
    return result


def _header(run: dict[str, Any]) -> str:
    """Run id, times, the verdict tally, and a warning when the run did not finish."""
    claims = run.get("claims", [])
    counts = {v: sum(1 for c in claims if c.get("verdict") == v) for v in VERDICT_CLASS}
    duration = run_duration(run.get("started"), run.get("finished"))
    finished = timestamp(run.get("finished")) if run.get("finished") else "not finished"
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
        f'<p class="sub">Run <code>{esc(run.get("run_id", "?"))}</code> · started {timestamp(run.get("started"))}'
        f" · finished {finished}{f' ({esc(duration)})' if duration else ''}</p>"
        f'<p class="tally">{len(claims)} claim result{"s" if len(claims) != 1 else ""} on '
        f'{len(run.get("targets", []))} target{"s" if len(run.get("targets", [])) != 1 else ""}: {tally}</p>'
        f"{status}</header>"
    )


def _excluded_candidates(per_query: Any) -> str:
    """First-stage entries left out of a collection's pools ({qid: {problem: count}}): totals, then per query.

    Shown beside the excluded queries: a pool that lost entries (no text, unknown or repeated
    ids, non-finite scores) changes what a claim measures, so it must not go unseen.
    """
    well_formed = isinstance(per_query, dict) and all(
        isinstance(counts, dict) and all(type(n) is int for n in counts.values()) for counts in per_query.values())
    if not well_formed:
        return render_data(per_query)
    totals: dict[str, int] = {}
    for counts in per_query.values():
        for problem, n in counts.items():
            totals[problem] = totals.get(problem, 0) + n

    def listed(counts: dict[str, int]) -> str:
        return ", ".join(f"{esc(problem)}: {n}" for problem, n in counts.items())

    total = sum(totals.values())
    items = "".join(f"<li><code>{esc(q)}</code>: {listed(counts)}</li>" for q, counts in per_query.items())
    return (
        f"<details><summary>{total} first-stage candidate{'s' if total != 1 else ''} left out in {len(per_query)} "
        f"quer{'y' if len(per_query) == 1 else 'ies'} ({listed(totals)})</summary>"
        f'<ul class="excluded">{items}</ul></details>'
    )


def _setup(run: dict[str, Any]) -> str:
    """What was run: models (with weight hashes), collections (with excluded queries), options and versions."""
    targets = run.get("targets", [])
    models = _unique(targets, "model")
    collections = _unique(targets, "collection")
    any_candidates = any(collection.get("excluded_candidates") for collection in collections)
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
        candidates = collection.get("excluded_candidates")
        if isinstance(excluded, dict) and excluded:
            items = "".join(f"<li><code>{esc(q)}</code>: {esc(r)}</li>" for q, r in excluded.items())
            excluded_html = (
                f'<details><summary>{len(excluded)} excluded</summary><ul class="excluded">{items}</ul></details>'
            )
        elif excluded:
            excluded_html = render_data(excluded)
        else:
            excluded_html = '<span class="muted">no query excluded</span>' if candidates else "0"
        if candidates:
            excluded_html += _excluded_candidates(candidates)
        other = {k: v for k, v in collection.items()
                 if k not in ("id", "queries", "candidates", "excluded", "excluded_candidates")}
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
        '<th class="num">Candidates</th>'
        f'<th>Excluded queries{" and candidates" if any_candidates else ""}</th><th>Other</th></tr></thead>'
        f'<tbody>{"".join(collection_rows) or "<tr><td colspan=5 class=muted>no targets recorded</td></tr>"}</tbody></table></div>'
        f'<h3>Options</h3><ul class="words">{"".join(words)}</ul>'
        '<div class="cols"><div class="scroll"><table class="kvtable"><tbody>'
        f"{option_rows}</tbody></table></div>"
        '<div class="scroll"><table class="kvtable"><tbody>'
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
    ps = [p for p in (finite_float(c.get("p_corrected")) for c in comparisons) if p is not None]
    low = min(ps) if ps else None
    return (
        f'{len(comparisons)} comparisons<br><span class="muted small">{esc(parts)}</span>',
        None,  # no single measured value: sorts after the numbers
        f'<span class="muted">min</span> {pval(low)}',
        low,
    )


def _unmet_note(claim: dict[str, Any]) -> str:
    """Beside a verdict made INCONCLUSIVE by a precondition: which one, in small print."""
    unmet = _unmet(claim)
    return f'<br><span class="precondition small">{esc(_unmet_words(unmet))}</span>' if unmet else ""


def _summary(run: dict[str, Any]) -> str:
    """The sortable table of verdicts, one row per claim and target, linking to the cards."""
    rows = []
    for index, claim in enumerate(run.get("claims", [])):
        measured, measured_key, p_html, p_key = _measured_summary(claim)
        verdict, units = claim.get("verdict"), _units(claim)
        rows.append(
            f'<tr class="{VERDICT_CLASS.get(str(verdict), "v-other")}-row">'
            f'<td data-sort="{sort_key(claim.get("claim_id"))}"><a href="#claim-{index}"><strong>{esc(claim.get("claim_id"))}</strong></a></td>'
            f'<td class="title">{esc(claim.get("title", ""))}</td>'
            f'<td class="target-cell"><code>{esc(claim.get("model"))}</code><br>'
            f'<span class="muted">on</span> <code>{esc(claim.get("collection"))}</code></td>'
            f'<td data-sort="{VERDICT_ORDER.get(str(verdict), 9)}">{badge(verdict)}{_unmet_note(claim)}</td>'
            f'<td class="units" data-sort="{sort_key(units[1])}">{units[0]}</td>'
            f'<td class="num" data-sort="{sort_key(measured_key)}">{measured}</td>'
            f'<td class="paper" data-sort="{sort_key(claim.get("paper_value"))}">{esc(claim.get("paper", ""))}</td>'
            f'<td class="num" data-sort="{sort_key(p_key)}">{p_html}</td>'
            f'<td class="num" data-sort="{sort_key(claim.get("seconds"))}">{_seconds(claim.get("seconds"))}</td></tr>'
        )
    return (
        '<section id="summary"><h2>Verdicts</h2>'
        '<p class="hint">One row per claim and target; click a column heading to sort, a claim id to jump to its card.</p>'
        '<div class="scroll"><table class="sortable summary"><thead><tr><th>Claim</th><th>Title</th>'
        '<th>Model and collection</th><th>Verdict</th><th>Unit, n</th><th class="num">Measured [CI]</th><th>Paper</th>'
        '<th class="num">p (corrected)</th><th class="num" title="wall time of the claim\'s measurement">Time</th>'
        '</tr></thead>'
        f'<tbody>{"".join(rows) or "<tr><td colspan=9 class=muted>no claim results in this run</td></tr>"}</tbody></table></div>'
        "</section>"
    )


# A result's identity across runs, as suite.core.runs.result_key spells it.
ResultKey = tuple[str, str, str]

MARK_NAMES = {"mark-changed": "verdict changed", "mark-new": "new result", "mark-missing": "result missing"}


class _Mark(NamedTuple):
    """How one result differs from the baseline run: a css class (a key of MARK_NAMES), a few words for the
    cell, and the whole story for its title."""

    css: str
    text: str
    title: str


def _seconds(seconds: Any) -> str:
    """A claim's wall time (the conditions it was first to need included); runs before it was kept: —."""
    if not isinstance(seconds, (int, float)) or isinstance(seconds, bool):
        return "—"
    return f"{seconds:.1f} s" if seconds < 60 else f"{seconds / 60:.1f} min"


def _wrappable(text: Any) -> str:
    """Escaped text that may break after each "/" and ":", so long model and collection ids wrap at their parts."""
    return esc(text).replace("/", "/<wbr>").replace(":", ":<wbr>")


def _baseline_marks(comparison: dict[str, Any] | None) -> dict[ResultKey, _Mark]:
    """The results of this run (and the baseline's missing from it) that differ from the baseline, by
    (claim_id, model, collection); unchanged results are absent."""
    marks: dict[ResultKey, _Mark] = {}
    if not comparison:
        return marks
    for change in comparison.get("changes") or []:
        if change.get("verdict_changed"):
            before, after = change.get("verdict_before"), change.get("verdict_after")
            key = (str(change.get("claim_id")), str(change.get("model_after")), str(change.get("collection_after")))
            marks[key] = _Mark("mark-changed", f"changed, was {before}", f"changed: {before} → {after}")
    for entry in comparison.get("only_in_current") or []:
        if isinstance(entry, dict):
            key = (str(entry.get("claim_id")), str(entry.get("model")), str(entry.get("collection")))
            marks[key] = _Mark("mark-new", "new", "new: no result in the baseline run")
    for entry in comparison.get("only_in_baseline") or []:
        if isinstance(entry, dict):
            key = (str(entry.get("claim_id")), str(entry.get("model")), str(entry.get("collection")))
            verdict = entry.get("verdict")
            marks[key] = _Mark("mark-missing", f"missing, was {verdict}",
                               f"missing: {verdict} in the baseline run, no result in this one")
    return marks


def _preconditions(claim: dict[str, Any]) -> dict[str, str]:
    """The claims this result presupposed, with their verdicts on its target ({} for runs before they were kept)."""
    given = claim.get("preconditions")
    return {str(claim_id): str(verdict) for claim_id, verdict in given.items()} if isinstance(given, dict) else {}


def _unmet(claim: dict[str, Any]) -> dict[str, str]:
    """The preconditions that were not SUPPORTED: the verdict is INCONCLUSIVE for want of them."""
    return {claim_id: verdict for claim_id, verdict in _preconditions(claim).items() if verdict != "SUPPORTED"}


def _unmet_words(unmet: dict[str, str]) -> str:
    """"precondition not met: CE-1 CONTRADICTED", as plain text (escape it where it goes)."""
    return "precondition not met: " + ", ".join(f"{claim_id} {verdict}" for claim_id, verdict in unmet.items())


def _matrix_cell(key: ResultKey, claims: list[dict[str, Any]], index: int | None, mark: _Mark | None) -> str:
    """One claim on one target: its verdict and headline value linking to its card, or "not run"; a verdict
    made INCONCLUSIVE by a precondition that was not met says so (and is hatched)."""
    claim_id, model, collection = key
    verdict = claims[index].get("verdict") if index is not None else None
    unmet = _unmet(claims[index]) if index is not None else {}
    title = f"{claim_id} on {model} @ {collection}: {verdict if index is not None else 'not run'}"
    if unmet:
        title += f"; {_unmet_words(unmet)}"
    if mark:
        title += f"; {mark.title}"
    mark_html = f'<span class="mark">{esc(mark.text)}</span>' if mark else ""
    unmet_html = f'<span class="precondition">{esc(_unmet_words(unmet))}</span>' if unmet else ""
    kind = "not-run" if index is None else f'{VERDICT_CLASS.get(str(verdict), "v-other")}-cell'
    classes = " ".join([kind, *(["precondition-unmet"] if unmet else []), *([mark.css] if mark else [])])
    if index is None:
        return f'<td class="{classes}" title="{esc(title)}">not run{mark_html}</td>'
    return (
        f'<td class="{classes}" title="{esc(title)}">'
        f'<a href="#claim-{index}">{badge(verdict)}'
        f'<span class="effect">{_measured_summary(claims[index])[0]}</span></a>'
        f"{unmet_html}{mark_html}</td>"
    )


def _matrix_legend(comparison: dict[str, Any], marks: dict[ResultKey, _Mark], grid: set[ResultKey]) -> str:
    """What the outlines mean, only those the matrix shows, and a count of baseline results it has no cell for."""
    shown = {mark.css for key, mark in marks.items() if key in grid}
    keys = " ".join(f'<span class="mark-key {css}">{words}</span>' for css, words in MARK_NAMES.items() if css in shown)
    off_grid = sum(1 for key in marks if key not in grid)
    text = f"Against baseline run <code>{esc(comparison.get('baseline_run_id', '?'))}</code>: "
    text += keys or "no verdict changed, no result new or missing"
    if off_grid:
        text += (f'; {off_grid} more result{"s" if off_grid != 1 else ""} of the baseline on claims or targets '
                 'this run did not run (see <a href="#comparison">the comparison</a>)')
    return f'<p class="muted small">{text}.</p>'  # not a .hint, which print hides: it explains the outlines


def _matrix(run: dict[str, Any]) -> str:
    """Every verdict at a glance, first: one row per claim, one column per model @ collection target.

    With many models the one-row-per-result table is long; the matrix shows which claims hold
    where, each cell with the summary table's headline value and a link to its card, and marks
    what differs from the baseline of ``--claims-compare``.
    """
    claims = run.get("claims", [])
    if not claims:
        return (
            '<section id="matrix"><h2>Claims and targets</h2>'
            '<p class="muted">No claim results in this run.</p></section>'
        )
    titles: dict[str, str] = {}  # claim id -> title, in the order the results appear
    targets: list[tuple[str, str]] = []
    results: dict[ResultKey, int] = {}  # -> index in run["claims"], the card's anchor
    for index, claim in enumerate(claims):
        claim_id, model, collection = str(claim.get("claim_id")), str(claim.get("model")), str(claim.get("collection"))
        titles.setdefault(claim_id, str(claim.get("title", "")))
        if (model, collection) not in targets:
            targets.append((model, collection))
        results.setdefault((claim_id, model, collection), index)
    marks = _baseline_marks(run.get("comparison"))
    head = "".join(
        f'<th class="target" scope="col" title="{esc(model)} @ {esc(collection)}"><code>{_wrappable(model)}</code>'
        f'<span class="collection"><span class="muted">@</span> <code>{_wrappable(collection)}</code></span></th>'
        for model, collection in targets
    )
    rows = "".join(
        f'<tr><th scope="row"><strong>{esc(claim_id)}</strong><span class="title">{esc(title)}</span></th>'
        + "".join(_matrix_cell(key, claims, results.get(key), marks.get(key))
                  for key in ((claim_id, model, collection) for model, collection in targets))
        + "</tr>"
        for claim_id, title in titles.items()
    )
    grid = {(claim_id, model, collection) for claim_id in titles for model, collection in targets}
    legend = _matrix_legend(run["comparison"], marks, grid) if run.get("comparison") else ""
    if any(_unmet(claims[index]) for index in results.values()):
        legend += (
            '<p class="muted small"><span class="precondition-key">precondition not met</span>: '
            "the claim presupposes another (its <code>requires</code>), which is not SUPPORTED on that target, "
            "so its verdict is INCONCLUSIVE; its measurements are still shown, and its card gives the verdict "
            "its own evidence gave.</p>"
        )
    return (
        '<section id="matrix"><h2>Claims and targets</h2>'
        '<p class="hint">One row per claim, one column per model @ collection: the verdict and the headline value '
        "(measured [CI], or the tally over several comparisons); a cell links to its claim card.</p>"
        f"{legend}"
        f'<div class="scroll"><table class="claims-matrix"><thead><tr><th scope="col">Claim</th>{head}</tr></thead>'
        f"<tbody>{rows}</tbody></table></div></section>"
    )


def _comparison_rows(claim: dict[str, Any]) -> str:
    """A claim's comparisons as table rows: measured, reference, effect, test, p values, power, verdict."""
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
            f'{f"<span class=muted>{esc(size_name)}</span><br>" if size_name else ""}'
            f'{num(c.get("effect_size"), 2, signed=True)}</td>'
            f'<td class="test">{esc(c.get("test", ""))}</td>'
            f'<td class="num" data-sort="{sort_key(c.get("p_value"))}">{pval(c.get("p_value"))}</td>'
            f'<td class="num" data-sort="{sort_key(c.get("p_corrected"))}">{pval(c.get("p_corrected"))}</td>'
            f'<td class="num">{num(c.get("n"))}</td>'
            f'<td class="num" data-sort="{sort_key(c.get("power"))}">{num(c.get("power"), 2)}</td>'
            f'<td data-sort="{VERDICT_ORDER.get(str(c.get("verdict")), 9)}">{badge(c.get("verdict"))}</td>'
            f'<td class="reason">{esc(c.get("reason", ""))}{extra}</td></tr>'
        )
    return "".join(rows)


def _units(claim: dict[str, Any]) -> tuple[str, int | None]:
    """The unit of analysis and n of the comparisons that decide the claim, in words, and the
    smallest n (None without comparisons); a verdict on fewer than FEW_UNITS is flagged."""
    deciding = [c for c in claim.get("comparisons") or [] if (c.get("details") or {}).get("decides", True)]
    sizes = [n for n in (positive_int(c.get("n")) for c in deciding) if n]
    if not sizes:
        return "—", None
    unit = " / ".join(sorted({str((c.get("details") or {}).get("unit", "queries")) for c in deciding}))
    low, high = min(sizes), max(sizes)
    text = f"{esc(unit)}, n = {low}" + (f"–{high}" if high != low else "")
    if low < FEW_UNITS:
        text += (f' <span class="few-units">fewer than {FEW_UNITS} {esc(unit)}: less than an IR evaluation '
                 "would accept (TREC tracks judge 43–50 topics)</span>")
    return text, low


def _card(claim: dict[str, Any], index: int) -> str:
    """One claim result: its statement, the paper's value, the verdict and why, comparisons and figures."""
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
    preconditions, unmet = _preconditions(claim), _unmet(claim)
    precondition_html = ""
    if unmet:
        own = claim.get("verdict_unconditioned")
        precondition_html = (
            f'<p class="banner warn precondition-banner"><strong>P{esc(_unmet_words(unmet)[1:])}</strong> '
            "on this target: the claim presupposes it, so its mechanisms cannot be tested here and its verdict is "
            "INCONCLUSIVE. Its measurements are shown below as they were made"
            + (f"; its own evidence gave {badge(own)}" if own else "")
            + (f": {esc(claim.get('reason_unconditioned'))}" if own and claim.get("reason_unconditioned") else "")
            + ".</p>"
        )
    facts = [
        ("Paper", esc(claim.get("paper", "—"))),
        ("Paper value", num(paper_value) if paper_value is not None else "—"),
        ("Figure", esc(claim.get("figure", "—"))),
        ("Citation", esc(claim.get("citation", "—"))),
        ("Metric", esc(claim.get("metric", "—"))),
        ("Decision", esc(claim.get("decision", "—"))),
        ("Unit of analysis", _units(claim)[0]),
        ("α / correction", f"{num(claim.get('alpha'), 2)} / {esc(correction)}"),
        ("Measured in", _seconds(claim.get("seconds"))),
    ]
    if preconditions:
        facts.append(("Requires", ", ".join(f"{esc(claim_id)} {badge(verdict)}"
                                            for claim_id, verdict in preconditions.items())))
    return (
        f'<article class="card" id="claim-{index}">'
        f'<header class="card-head"><span class="cid">{esc(claim.get("claim_id", "?"))}</span>'
        f'<h3>{esc(claim.get("title", ""))}</h3>{badge(claim.get("verdict"))}</header>'
        f'<p class="target"><code>{esc(claim.get("model"))}</code> on <code>{esc(claim.get("collection"))}</code></p>'
        f'<p class="statement">{esc(claim.get("statement", ""))}</p>'
        f"{precondition_html}"
        f'<dl class="facts">{"".join(f"<dt>{k}</dt><dd>{v}</dd>" for k, v in facts)}</dl>'
        f'<p class="reason-line"><strong>Why {esc(claim.get("verdict", "—"))}:</strong> {esc(claim.get("reason", ""))}</p>'
        f"{table}{figures}"
        + (f"<details><summary>Options used for this claim</summary>{render_data(options)}</details>" if options else "")
        + stored
        + "</article>"
    )


def _cards(run: dict[str, Any]) -> str:
    """Every claim's card; a card that fails to render costs only itself."""
    cards = "".join(_section(_card, claim, index) for index, claim in enumerate(run.get("claims", [])))
    return f'<section id="claims"><h2>Claims</h2>{cards or "<p class=muted>No claim results.</p>"}</section>'


def _arrow(before: Any, after: Any, fmt: Callable[[Any], str] = num) -> str:
    """"before → after" for the comparison with an earlier run."""
    return f'{fmt(before)} <span class="muted">→</span> {fmt(after)}'


def _comparison(run: dict[str, Any]) -> str:
    """How this run differs from the baseline it was compared with (nothing when it was not)."""
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
                f'<h3>{name}</h3><div class="scroll"><table class="kvtable"><thead><tr><th></th><th>Baseline</th>'
                f"<th>This run</th></tr></thead><tbody>{body}</tbody></table></div>"
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
        + (f", started {timestamp(comparison.get('baseline_started'))}" if comparison.get("baseline_started") else "")
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
    """The suite's own checks (calibration, planted mechanisms) and their figures (nothing when none ran)."""
    checks = run.get("method_checks")
    if not checks:
        return ""
    passed = sum(1 for c in checks if c.get("passed") is True)
    rows, figures, calibration = [], [], []
    for check in checks:
        rows.append(
            f'<tr class="{"v-contradicted-row" if check.get("passed") is False else ""}">'
            f'<td><strong>{esc(check.get("name", "?"))}</strong></td><td>{esc(check.get("kind", ""))}</td>'
            f'<td data-sort="{1 if check.get("passed") is True else 0}">{pass_badge(check.get("passed"))}</td>'
            f'<td>{esc(check.get("detail", ""))}</td></tr>'
        )
        for kind, data in (check.get("figures") or {}).items():
            if kind == "calibration":  # every row in one table, below
                calibration.append(data)
            elif kind in FIGURE_RENDERERS:
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
        + calibration_table(calibration)
        + (f'<details open><summary>Figures</summary><div class="method-figures">{"".join(figures)}</div></details>' if figures else "")
        + "</section>"
    )


def _rules(run: dict[str, Any]) -> str:
    """The verdict rules the run recorded when it was made: today's rules may differ, so they are never substituted."""
    text = run.get("verdict_rules")
    if isinstance(text, str) and text.strip():
        body = (
            f'<div class="rules">{esc(text)}</div>'
            '<p class="muted small">As recorded in this run when it was made (from the docstring of '
            "<code>suite.core.stats</code> in the version of the suite that ran it).</p>"
        )
    elif "verdict_rules" in run:
        body = (
            '<p class="muted">This run recorded no verdict rules: the version of the suite that made it had no '
            "“Verdict rules” section to record. Each verdict's own reason is given on its claim card.</p>"
        )
    else:
        body = (
            '<p class="muted">This run did not record its verdict rules: it was made by an older version of the '
            "suite, and the rules installed today may not be the ones that decided it, so none are shown. Each "
            "verdict's own reason is given on its claim card.</p>"
        )
    return f'<section id="rules"><h2>How verdicts are decided</h2>{body}</section>'


# --------------------------------------------------------------------------- page


def render_report(run: dict[str, Any]) -> str:
    """The whole report for ``run`` as one self-contained HTML document."""
    title = f"Claims report · {run.get('run_id', '?')}"
    sections = [
        _section(_header, run),
        '<nav class="toc"><a href="#matrix">Matrix</a><a href="#summary">Verdicts</a>'
        + ('<a href="#comparison">Comparison</a>' if run.get("comparison") else "")
        + '<a href="#setup">Setup</a><a href="#claims">Claims</a>'
        + ('<a href="#method-checks">Method checks</a>' if run.get("method_checks") else "")
        + '<a href="#rules">Verdict rules</a></nav>',
        _section(_matrix, run),
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
        f"<title>{esc(title)}</title><style>\n{STYLE}</style></head>\n"
        f'<body><main>{"".join(sections)}'
        f'<footer>Rendered by <code>reports</code> from run <code>{esc(run.get("run_id", "?"))}</code> '
        f'(schema {esc(run.get("schema", "?"))}). This file is self-contained: it loads nothing from anywhere. '
        "Re-render a saved run with <code>python -m reports RUN.json</code>.</footer>"
        f"</main><script>\n{SCRIPT}</script></body></html>\n"
    )


def write_report(run: dict[str, Any], path: str | Path) -> Path:
    """Render ``run`` and write it to ``path`` (atomically, folders created); returns the path."""
    return write_text_atomic(render_report(run), Path(path))
