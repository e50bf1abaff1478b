"""The pytest plugin: ``--claims-*`` options, claim parametrization, verdicts, runs and reports.

Registered through the package's ``pytest11`` entry point, it needs no ``conftest.py``: it owns the
fixtures claim tests use (``claims``, ``cross_encoder_study``, ``generative_study``, the planted
setups) and parametrizes the study fixtures over every model x collection target of its kind.
Embedded models come from plugins implementing ``pytest_claims_catalog`` (see :mod:`.hookspecs`).
Each result is written to the run JSON as it is decided; at the end the run is compared with
``--claims-compare`` and rendered to HTML.
"""

from __future__ import annotations

from datetime import datetime, timezone
from pathlib import Path

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
from suite.pytest_plugin.session import CLAIMS_KEY, RESULT_KEY, ClaimsSession

__all__ = ["claims", "claims_session", "cross_encoder_study", "generative_study", "planted_cross_encoder",
           "planted_generative"]

#: The study fixtures, each parametrized over the targets of one model kind through these fixture names.
TARGET_FIXTURES = {"cross_encoder_target": ModelKind.CROSS_ENCODER, "generative_target": ModelKind.GENERATIVE}
_LETTERS = {"SUPPORTED": "S", "CONTRADICTED": "C", "INCONCLUSIVE": "I"}


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
    config.stash[CLAIMS_KEY] = ClaimsSession(config=config, options=options, catalog=catalog, run=run,
                                             run_path=default_run_path(options.output_dir, run), baseline=baseline)


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


def pytest_collection_modifyitems(config: pytest.Config, items: list[pytest.Item]) -> None:
    """Deselect the claims of a model kind no model of this session has (the GR claims when only
    cross-encoders are named), rather than report each as skipped for an empty parameter set."""
    session = config.stash.get(CLAIMS_KEY, None)
    if session is None:
        return
    absent = {name for name, kind in TARGET_FIXTURES.items() if not session.targets_of(kind)}
    if not absent:
        return
    kept, dropped = [], []
    for item in items:
        (dropped if absent & set(getattr(item, "fixturenames", ())) else kept).append(item)
    if dropped:
        config.hook.pytest_deselected(items=dropped)
        items[:] = kept


@pytest.hookimpl(wrapper=True)
def pytest_runtest_makereport(item: pytest.Item, call: pytest.CallInfo):
    report = yield
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
    if state is None or not (state.run["claims"] or state.run.get("method_checks")):
        return
    state.run["finished"] = datetime.now(timezone.utc).isoformat(timespec="seconds")
    state.run["interrupted"] = exitstatus == pytest.ExitCode.INTERRUPTED
    if state.baseline is not None:
        comparison = compare_runs(load_run(state.baseline), state.written())
        comparison["baseline_path"] = str(state.baseline)
        state.run["comparison"] = comparison
        if state.options.fail_on_change and comparison["verdict_changes"]:
            session.exitstatus = pytest.ExitCode.TESTS_FAILED
    write_report(state.save(), state.options.report)


def pytest_terminal_summary(terminalreporter, exitstatus: int, config: pytest.Config) -> None:
    state = config.stash.get(CLAIMS_KEY, None)
    if state is None or not state.run["claims"]:
        return
    write = terminalreporter.write_line
    terminalreporter.section("claim verdicts")
    for result in state.run["claims"]:
        worst = min(result["comparisons"], key=lambda c: c["p_corrected"], default=None)
        measured = f"{worst['measured']:.3f} [{worst['ci'][0]:.3f}, {worst['ci'][1]:.3f}]" if worst else ""
        write(f"{result['verdict']:<13} {result['claim_id']:<6} {result['model']} @ {result['collection']}  {measured}")
    comparison = state.run.get("comparison")
    if comparison:
        write(f"against {comparison['baseline_path']}: {comparison['verdict_changes']} verdict change(s)")
        for change in comparison["changes"]:
            if change.get("verdict_changed"):
                write(f"  {change['claim_id']}: {change['verdict_before']} -> {change['verdict_after']}")
    write(f"run: {state.run_path}")
    write(f"report: {state.options.report}")
