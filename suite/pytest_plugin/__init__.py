"""The pytest plugin: ``--claims-*`` options, claim parametrization, verdicts, runs and reports.

Registered through the package's ``pytest11`` entry point, it needs no ``conftest.py``. Until a session
collects claims (a claim file, :mod:`.claim_files`, or a test using its fixtures) it only parses its
options' text: a session of other tests in the same environment checks, loads and writes nothing.
It owns the fixtures claim tests use (``claims``, ``cross_encoder_study``, ``generative_study``, the planted
setups) and parametrizes the study fixtures over every model x collection target of its kind.
Embedded models come from plugins implementing ``pytest_claims_catalog`` (see :mod:`.hookspecs`).
Each result is written to the run JSON as it is decided; at the end the run is compared with
``--claims-compare`` and rendered to HTML.

``-n N`` (pytest-xdist) runs studies side by side and still writes one run and one report. Each
claims item gets an ``xdist_group`` mark naming its study (a model x collection target, or a planted
setup), and ``-n`` alone (xdist's ``load``) becomes ``loadgroup``, which sends a group whole to one
worker: a study's model is loaded by one worker only, on that worker's device. Switching the mode at
configure, rather than shipping a scheduler, reuses xdist's own grouping: the controller sees node ids
only, which workers tag with their group under that mode (told so through ``workerinput``, since a
worker re-parses the command line). A ``--dist`` other than ``load`` is kept. Workers write nothing:
what each records travels on its test reports (``user_properties``); the controller merges it in
collection order, not arrival order, and saves the run at once, so an interrupted ``-n`` run keeps
what arrived and a finished one equals a one-process run's. The verdict summary, the comparison and
the report are the controller's.

``--claims-shard K/N`` splits a session across machines: each keeps every N-th study (whole, so no
model is loaded twice) and records where its entries stand in the whole session's order, which
``python -m ranker_claims.reports merge`` uses to write the run one machine would have written.
"""

from __future__ import annotations

import fnmatch
import json
import re
from datetime import UTC, datetime
from pathlib import Path
from typing import Any, cast

import pytest

from ranker_claims.core.catalog import Catalog, ModelKind
from ranker_claims.core.runs import (
    RunFormatError,
    compare_runs,
    default_run_path,
    environment_info,
    load_run,
    new_run,
    result_key,
    save_run,
)
from ranker_claims.pytest_plugin import hookspecs
from ranker_claims.pytest_plugin.claim_files import ClaimModule, collect_claim_file
from ranker_claims.pytest_plugin.fixtures import (
    claims,
    claims_session,
    cross_encoder_study,
    generative_study,
    planted_cross_encoder,
    planted_generative,
)
from ranker_claims.pytest_plugin.options import add_options, parse_options
from ranker_claims.pytest_plugin.session import CLAIMS_KEY, ORDER, RECORDS, RESULT_KEY, ClaimsSession
from ranker_claims.reports import write_report

__all__ = ["claims", "claims_session", "cross_encoder_study", "generative_study", "planted_cross_encoder",
           "planted_generative"]

#: The study fixtures, each parametrized over the targets of one model kind through these fixture names.
TARGET_FIXTURES = {"cross_encoder_target": ModelKind.CROSS_ENCODER, "generative_target": ModelKind.GENERATIVE}
#: Setups the method checks share, each one study (an xdist group) of its own.
PLANTED_FIXTURES = ("planted_cross_encoder", "planted_generative")
_PHASES = ("setup", "call", "teardown")
_LOADGROUP = "claims_loadgroup"  # workerinput: the controller schedules by xdist_group
_LETTERS = {"SUPPORTED": "S", "CONTRADICTED": "C", "INCONCLUSIVE": "I"}
#: The exit status of a session whose run or report could not be written (a full or read-only disk).
UNWRITTEN_EXIT = 3


def pytest_addhooks(pluginmanager: pytest.PytestPluginManager) -> None:
    pluginmanager.add_hookspecs(hookspecs)


def pytest_addoption(parser: pytest.Parser) -> None:
    add_options(parser)


@pytest.hookimpl(trylast=True)
def pytest_configure(config: pytest.Config) -> None:
    """Parse the options (their text only) and set up the session's state; nothing is checked or loaded
    until claims are collected (:meth:`ClaimsSession.activate`)."""
    options = parse_options(config)
    catalog = Catalog()
    config.hook.pytest_claims_catalog(catalog=catalog)
    run = new_run(options.recorded(), environment_info())
    if options.label is not None:
        run["label"] = options.label
    worker = config.workerinput["workerid"] if hasattr(config, "workerinput") else None
    session = ClaimsSession(config=config, options=options, catalog=catalog, run=run, worker=worker,
                            run_path=default_run_path(options.output_dir, run))
    config.stash[CLAIMS_KEY] = session
    config.pluginmanager.register(_Ordering(session), "claims-ordering")
    if worker is None:
        config.pluginmanager.register(_LiveVerdicts(session), "claims-live-verdicts")
    if worker is not None and config.workerinput.get(_LOADGROUP):  # type: ignore[attr-defined]  # xdist sets it
        config.option.loadgroup = True  # what xdist reads to tag node ids with their group
    elif getattr(config.option, "dist", "no") != "no":  # an xdist controller: see the module docstring
        if config.option.dist == "load":
            config.option.dist = "loadgroup"
        config.pluginmanager.register(_Controller(session), "claims-controller")


class _Controller:
    """The xdist controller's part: tell workers the mode, merge what their test reports carry."""

    def __init__(self, session: ClaimsSession) -> None:
        self.session = session

    def pytest_configure_node(self, node: Any) -> None:  # node: xdist's WorkerController
        node.workerinput[_LOADGROUP] = self.session.config.option.dist == "loadgroup"

    @pytest.hookimpl(tryfirst=True)  # before the terminal or junitxml see the report: the records are ours
    def pytest_runtest_logreport(self, report: pytest.TestReport) -> None:
        properties = [(name, value) for name, value in report.user_properties]
        records = [(name, value) for name, value in properties if name in RECORDS]
        if records:
            report.user_properties = [(name, value) for name, value in properties
                                      if name not in RECORDS and name != ORDER]
            self.session.receive(records, cast(list[int], dict(properties)[ORDER]))


@pytest.hookimpl(tryfirst=True)
def pytest_collection(session: pytest.Session) -> None:
    """An xdist controller collects nothing itself and learns of the workers' items only as node ids: it
    checks the session's specs before the workers start, so a spec that cannot serve is one usage error
    (exit 4), not one per worker. In one process the check waits until claims are collected."""
    state = session.config.stash.get(CLAIMS_KEY, None)
    if state is not None and state.worker is None and session.config.pluginmanager.has_plugin("claims-controller"):
        state.activate()


def pytest_collect_file(file_path: Path, parent: pytest.Collector) -> pytest.Collector | None:
    """A ``*.toml`` declaring ``[[claim]]`` tables is collected as a claims module (see :mod:`.claim_files`)."""
    return collect_claim_file(file_path, parent)


def pytest_generate_tests(metafunc: pytest.Metafunc) -> None:
    for name, kind in TARGET_FIXTURES.items():
        if name in metafunc.fixturenames:
            targets = metafunc.config.stash[CLAIMS_KEY].targets_of(kind)
            ids = [f"{m}@{c if c is not None else 'own'}" for m, c in targets]
            metafunc.parametrize(name, targets, ids=ids, scope="session")


@pytest.hookimpl(tryfirst=True)  # an xdist worker reads the groups in its own (later) implementation
def pytest_collection_modifyitems(config: pytest.Config, items: list[pytest.Item]) -> None:
    """Deselect the claims of a model kind no model of this session has (the GR claims when only
    cross-encoders are named), rather than report each as skipped for an empty parameter set; on an
    xdist worker, mark each claims item with its study's group."""
    session = config.stash.get(CLAIMS_KEY, None)
    if session is None or not any("claims_session" in getattr(item, "fixturenames", ()) for item in items):
        return  # no claims collected: the plugin stays inert
    session.activate()
    if session.options.select:
        _select(config, session.options.select, items)
    absent = {name for name, kind in TARGET_FIXTURES.items() if not session.targets_of(kind)}
    if absent:
        kept: list[pytest.Item] = []
        dropped: list[pytest.Item] = []
        for item in items:
            (dropped if absent & set(getattr(item, "fixturenames", ())) else kept).append(item)
        if dropped:
            config.hook.pytest_deselected(items=dropped)
            items[:] = kept
    if session.worker is not None:
        for item in items:
            group = _study_group(item)
            if group is not None:
                item.add_marker(pytest.mark.xdist_group(group))


#: Where an item stands in the session's final collection order, before --claims-shard keeps its part.
PLACE_KEY = pytest.StashKey[int]()
_METHOD_CHECKS = "method-checks"  # the study of the claims plugin's items that need none (the calibration)


class _Ordering:
    """Number the items as the whole session would run them, then keep this shard's part.

    Last of every ``pytest_collection_modifyitems`` (after -k, -m and pytest's reordering by fixture), so
    the numbers are the run order of the session unsharded: each entry of a run sorts by its item's
    number, and the shards' runs merge into the run one machine would have written. A shard keeps whole
    studies (round robin over the studies in order of first appearance), so no model is loaded by two
    shards; the user's other tests run in shard 0."""

    def __init__(self, session: ClaimsSession) -> None:
        self.session = session

    @pytest.hookimpl(trylast=True)
    def pytest_collection_modifyitems(self, config: pytest.Config, items: list[pytest.Item]) -> None:
        session = self.session
        if not session.active:
            return
        for place, item in enumerate(items):
            item.stash[PLACE_KEY] = place
        if session.options.shard is None:
            return
        index, count = session.options.shard
        studies = [study for study in dict.fromkeys(_shard_study(item) for item in items) if study]
        mine = {study for position, study in enumerate(studies) if position % count == index} | (
            {""} if index == 0 else set())
        session.run["shard"]["studies"] = [study for study in studies if study in mine]
        kept = [item for item in items if _shard_study(item) in mine]
        if len(kept) < len(items):
            config.hook.pytest_deselected(items=[item for item in items if _shard_study(item) not in mine])
            items[:] = kept

    @pytest.hookimpl(wrapper=True)
    def pytest_runtest_protocol(self, item: pytest.Item, nextitem: pytest.Item | None):
        self.session.current = item.stash.get(PLACE_KEY, 0)
        return (yield)


def _shard_study(item: pytest.Item) -> str:
    """The study a shard keeps an item with: its target or planted setup, the method checks', or the user's."""
    if "claims_session" not in getattr(item, "fixturenames", ()):
        return ""  # not a claims item: shard 0's (studies are numbered from the claims' first one)
    return _study_group(item) or _METHOD_CHECKS


def _claim_id(item: pytest.Item) -> str | None:
    """The id of the claim a claims-file item runs, None for any other item."""
    if not isinstance(item.parent, ClaimModule):
        return None
    return item.callspec.params["claim"].id  # type: ignore[attr-defined]


def _select(config: pytest.Config, patterns: tuple[str, ...], items: list[pytest.Item]) -> None:
    """Keep the claims whose id matches a pattern (exactly, * and ? as wildcards: no substring match),
    drop the method checks; the user's other tests are left alone. A pattern matching no collected
    claim is a usage error, not a silently empty session."""
    ids = {claim_id for item in items if (claim_id := _claim_id(item)) is not None}
    unmatched = [p for p in patterns if not any(fnmatch.fnmatchcase(claim_id, p) for claim_id in ids)]
    if unmatched:
        raise pytest.UsageError(f"--claims-select {','.join(unmatched)}: no collected claim has this id "
                                f"(collected: {', '.join(sorted(ids, key=_natural)) or 'none'})")
    kept: list[pytest.Item] = []
    dropped: list[pytest.Item] = []
    for item in items:
        claim_id = _claim_id(item)
        ours = "claims_session" in getattr(item, "fixturenames", ())
        keep = not ours or (claim_id is not None and any(fnmatch.fnmatchcase(claim_id, p) for p in patterns))
        (kept if keep else dropped).append(item)
    if dropped:
        config.hook.pytest_deselected(items=dropped)
        items[:] = kept


def _natural(claim_id: str) -> tuple[str, int]:
    """CE-2 before CE-10."""
    prefix, _, number = claim_id.rpartition("-")
    return (prefix, int(number)) if number.isdigit() else (claim_id, 0)


def pytest_collection_finish(session: pytest.Session) -> None:
    """Remember which models the selected claims need (-k and -m applied): the first build makes those only."""
    state = session.config.stash.get(CLAIMS_KEY, None)
    if state is not None and state.active:
        params = (getattr(getattr(item, "callspec", None), "params", {}) for item in session.items)
        # pytest calls this even after a usage error, when a target list may be empty (NOTSET)
        state.needed = tuple(dict.fromkeys(p[name][0] for p in params for name in TARGET_FIXTURES
                                           if isinstance(p.get(name), tuple)))


def _study_group(item: pytest.Item) -> str | None:
    """The study an item runs on: its target (model x collection) or the planted setup it uses."""
    params = getattr(getattr(item, "callspec", None), "params", {})
    for name in TARGET_FIXTURES:
        if name in params:
            model, collection = params[name]
            # loadgroup reads the group after the node id's last "@", and only past its last "]"
            return re.sub(r"[@\]]", "_", f"{model}|{collection if collection is not None else 'own'}")
    fixtures = getattr(item, "fixturenames", ())
    return next((name for name in PLANTED_FIXTURES if name in fixtures), None)


@pytest.hookimpl(wrapper=True)
def pytest_runtest_makereport(item: pytest.Item, call: pytest.CallInfo):
    report = yield
    session = item.config.stash.get(CLAIMS_KEY, None)
    records = session.take_records() if session is not None and session.worker is not None else []
    if records:  # to the controller, placed where a one-process run would have recorded them
        place = item.stash.get(PLACE_KEY, item.session.items.index(item))
        report.user_properties += [(ORDER, [place, _PHASES.index(call.when)]), *records]
    result = item.stash.get(RESULT_KEY, None)
    if call.when == "call" and result is not None:
        if report.failed and call.excinfo is not None and not call.excinfo.errisinstance(AssertionError):
            return report  # an error after measuring is not a verdict
        report.user_properties.append(("claim_verdict", result.verdict.value))
        item.user_properties.append(("claim_verdict", result.verdict.value))  # junitxml reads the teardown's
    return report


def pytest_report_teststatus(report: pytest.CollectReport | pytest.TestReport, config: pytest.Config):
    if not isinstance(report, pytest.TestReport) or report.when != "call":
        return None
    verdict = dict(report.user_properties).get("claim_verdict")
    if verdict is None:
        return None
    return report.outcome, _LETTERS[str(verdict)], verdict


def pytest_sessionfinish(session: pytest.Session, exitstatus: int) -> None:
    state = session.config.stash.get(CLAIMS_KEY, None)
    # A run file exists once a target was loaded: finish it then, even with nothing decided (interrupted early);
    # a shard's always, its part of the session empty or not, for the merge to find every shard.
    if state is None or state.worker is not None or not (state.run["claims"] or state.run.get("method_checks")
                                                         or state.run["targets"] or state.run.get("shard")):
        return
    if state.run.get("shard") and exitstatus == pytest.ExitCode.NO_TESTS_COLLECTED:
        session.exitstatus = pytest.ExitCode.OK  # more shards than studies: this one had nothing to do
    state.run["finished"] = datetime.now(UTC).isoformat(timespec="seconds")
    state.run["interrupted"] = exitstatus == pytest.ExitCode.INTERRUPTED
    try:  # checked at configure; a baseline changed since is reported, and the run still finishes
        baseline = load_run(state.baseline) if state.baseline is not None else None
    except (OSError, RunFormatError) as error:
        state.say(f"--claims-compare: {error}; not compared")
        baseline = None
    if baseline is not None:
        comparison = compare_runs(baseline, state.written())
        comparison["baseline_path"] = str(state.baseline)
        state.run["comparison"] = comparison
        failures = state.options.gate.failures(comparison)
        state.run["gate"] = {"rules": state.options.gate.describe(), "failures": failures}
        if failures and session.exitstatus == pytest.ExitCode.OK:
            session.exitstatus = pytest.ExitCode.TESTS_FAILED
    run = state.save()
    if state.options.json is not None:
        try:
            save_run(run, state.options.json)
        except OSError as error:
            state.cannot_write("the run", state.options.json, error)
    try:
        write_report(run, state.options.report)
    except OSError as error:  # a full or read-only disk: named, the verdicts still shown below
        state.cannot_write("the report", state.options.report, error)
    if state.unwritten and session.exitstatus in (pytest.ExitCode.OK, pytest.ExitCode.TESTS_FAILED):
        session.exitstatus = UNWRITTEN_EXIT  # an interrupted session keeps its own status (2)


class _LiveVerdicts:
    """Print each verdict line as its claim is decided (the line the summary repeats at the end), so a long
    or interrupted session shows what it has decided so far. In one process or the xdist controller, after
    the controller merged the report's records."""

    def __init__(self, session: ClaimsSession) -> None:
        self.session = session

    @pytest.hookimpl(trylast=True)  # after the terminal's own word for the test, never inside its line
    def pytest_runtest_logreport(self, report: pytest.TestReport) -> None:
        for result in self.session.run["claims"]:
            key = json.dumps(result_key(result))
            if key not in self.session.shown:
                self.session.shown.add(key)
                self.session.say(verdict_line(result))


def verdict_line(result: dict[str, Any]) -> str:
    """One result's line of the verdict summary: verdict, claim, target, the deciding comparison."""
    worst = min(result["comparisons"], key=lambda c: c["p_corrected"], default=None)
    measured = f"{worst['measured']:.3f} [{worst['ci'][0]:.3f}, {worst['ci'][1]:.3f}]" if worst else ""
    unmet = ", ".join(f"{claim_id} {verdict}" for claim_id, verdict in (result.get("preconditions") or {}).items()
                      if verdict != "SUPPORTED")
    if unmet:
        measured += f"  (precondition not met: {unmet}; own evidence {result.get('verdict_unconditioned')})"
    return f"{result['verdict']:<13} {result['claim_id']:<6} {result['model']} @ {result['collection']}  {measured}"


def pytest_terminal_summary(terminalreporter, exitstatus: int, config: pytest.Config) -> None:
    state = config.stash.get(CLAIMS_KEY, None)
    if state is None or state.worker is not None or not state.run["claims"]:
        return
    write = terminalreporter.write_line
    terminalreporter.section("claim verdicts")
    for result in state.run["claims"]:
        write(verdict_line(result))
    comparison = state.run.get("comparison")
    if comparison:
        write(f"against {comparison['baseline_path']}: {comparison['verdict_changes']} verdict change(s)")
        for change in comparison["changes"]:
            if change.get("verdict_changed"):
                write(f"  {change['claim_id']}: {change['verdict_before']} -> {change['verdict_after']}")
        for key, (before, after) in comparison.get("claim_file_changes", {}).items():
            write(f"  decided by a different claim file: {key} ({before[:12]} -> {after[:12]})")
    for failure in state.run.get("gate", {}).get("failures", []):
        write(f"FAILED --claims-fail-on {failure}")
    for line in state.unwritten:
        write(f"NOT WRITTEN: {line}")
    if state.run.get("interrupted"):
        write(f"interrupted: the {len(state.run['claims'])} claim result(s) decided before it are in the run")
    write(f"run: {state.run_path}" + (f" (and {state.options.json})" if state.options.json else ""))
    write(f"report: {state.options.report}")
