"""The pytest plugin: ``--claims-*`` options, claim parametrization, verdicts, runs and reports.

Registered through the package's ``pytest11`` entry point, it needs no ``conftest.py``: it owns the
fixtures claim tests use (``claims``, ``cross_encoder_study``, ``generative_study``, the planted
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
"""

from __future__ import annotations

import json
import re
from datetime import datetime, timezone
from pathlib import Path
from typing import Any

import pytest

from reports import write_report
from suite.core.catalog import Catalog, ModelKind
from suite.core.runs import (
    RunFormatError,
    compare_runs,
    default_run_path,
    environment_info,
    latest_run,
    load_run,
    new_run,
    result_key,
)
from suite.pytest_plugin import hookspecs
from suite.pytest_plugin.fixtures import (
    claims,
    claims_session,
    cross_encoder_study,
    generative_study,
    planted_cross_encoder,
    planted_generative,
)
from suite.pytest_plugin.options import add_options, parse_options
from suite.pytest_plugin.session import CLAIMS_KEY, ORDER, RECORDS, RESULT_KEY, ClaimsSession

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
    options = parse_options(config)
    baseline = _baseline_path(options.compare, options.output_dir)
    catalog = Catalog()
    config.hook.pytest_claims_catalog(catalog=catalog)
    run = new_run(options.recorded(), environment_info())
    worker = config.workerinput["workerid"] if hasattr(config, "workerinput") else None
    session = ClaimsSession(config=config, options=options, catalog=catalog, run=run, worker=worker,
                            run_path=default_run_path(options.output_dir, run), baseline=baseline)
    config.stash[CLAIMS_KEY] = session
    if worker is None:
        config.pluginmanager.register(_LiveVerdicts(session), "claims-live-verdicts")
    if worker is not None and config.workerinput.get(_LOADGROUP):
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
            self.session.receive(records, dict(properties)[ORDER])


def _baseline_path(compare: str | None, output_dir: Path) -> Path | None:
    """The run ``--claims-compare`` names, checked before any claim runs."""
    if compare is None:
        return None
    path = latest_run(output_dir) if compare == "latest" else Path(compare)
    if path is None:
        raise pytest.UsageError(f"--claims-compare latest: no earlier run in {output_dir / 'runs'}")
    try:
        load_run(path)
    except (OSError, RunFormatError) as error:
        raise pytest.UsageError(f"--claims-compare: {error}") from None
    return path


@pytest.hookimpl(tryfirst=True)
def pytest_collection(session: pytest.Session) -> None:
    """Check every model spec before anything is collected: a model that cannot serve is a usage error
    (exit 4) naming the spec and the reason, not an internal error or a traceback per test."""
    state = session.config.stash.get(CLAIMS_KEY, None)
    if state is not None:
        state.check_models()


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
    if session is None:
        return
    absent = {name for name, kind in TARGET_FIXTURES.items() if not session.targets_of(kind)}
    if absent:
        kept, dropped = [], []
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


def pytest_collection_finish(session: pytest.Session) -> None:
    """Remember which models the selected claims need (-k and -m applied): the first build makes those only."""
    state = session.config.stash.get(CLAIMS_KEY, None)
    if state is not None:
        params = (getattr(getattr(item, "callspec", None), "params", {}) for item in session.items)
        state.needed = tuple(dict.fromkeys(p[name][0] for p in params for name in TARGET_FIXTURES if name in p))


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
        report.user_properties += [(ORDER, [item.session.items.index(item), _PHASES.index(call.when)]), *records]
    result = item.stash.get(RESULT_KEY, None)
    if call.when == "call" and result is not None:
        if report.failed and call.excinfo is not None and not call.excinfo.errisinstance(AssertionError):
            return report  # an error after measuring is not a verdict
        report.user_properties.append(("claim_verdict", result.verdict.value))
    return report


def pytest_report_teststatus(report: pytest.CollectReport | pytest.TestReport, config: pytest.Config):
    if not isinstance(report, pytest.TestReport) or report.when != "call":
        return None
    verdict = dict(report.user_properties).get("claim_verdict")
    if verdict is None:
        return None
    return report.outcome, _LETTERS[verdict], verdict


def pytest_sessionfinish(session: pytest.Session, exitstatus: int) -> None:
    state = session.config.stash.get(CLAIMS_KEY, None)
    # A run file exists once a target was loaded: finish it then, even with nothing decided (interrupted early).
    if state is None or state.worker is not None or not (state.run["claims"] or state.run.get("method_checks")
                                                         or state.run["targets"]):
        return
    state.run["finished"] = datetime.now(timezone.utc).isoformat(timespec="seconds")
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
        if state.options.fail_on_change and comparison["verdict_changes"]:
            session.exitstatus = pytest.ExitCode.TESTS_FAILED
    run = state.save()
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
    for line in state.unwritten:
        write(f"NOT WRITTEN: {line}")
    if state.run.get("interrupted"):
        write(f"interrupted: the {len(state.run['claims'])} claim result(s) decided before it are in the run")
    write(f"run: {state.run_path}")
    write(f"report: {state.options.report}")
