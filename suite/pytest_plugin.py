"""The pytest plugin: ``--claims-*`` options, claim parametrization, runs and reports.

Every claim test receives the ``claims`` fixture (this session's :class:`ClaimsSession`,
kept in ``config.stash``) and a study fixture from ``fixtures/``. Each evaluated claim
is written to the run JSON at once (atomically), so an interrupted session keeps what it
measured; at the end the run is compared with ``--claims-compare`` and rendered to HTML.
"""

from __future__ import annotations

import contextlib
import os
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import pytest

from suite.core.claims import Claim, Settings
from suite.core.results import ClaimResult, Verdict
from suite.cross_encoder.interventions import Convention, Mode

# A cross-encoder runs the CE claims on the default collections; a generative (DSI) model runs
# the GR claims on the collection it was trained on unless --claims-collection names others.
DEFAULT_MODELS = ["embedded:minilm-synthetic", "embedded:dsi-synthetic"]
DEFAULT_COLLECTIONS = ["embedded:synthetic"]
#: Claim tests receive targets of their model kind through these fixture names.
TARGET_FIXTURES = {"claims_target": "cross-encoder", "generative_target": "generative"}

# (option, ini name, type, default, help); None type = a flag.
OPTIONS: list[tuple[str, str, Any, Any, str]] = [
    ("--claims-output-dir", "claims_output_dir", str, ".claims", "where runs (runs/*.json) and report.html go"),
    ("--claims-cache-dir", "claims_cache_dir", str, None, "built models and cached scores (default ~/.cache/ranker-claims)"),
    ("--claims-report", "claims_report", str, None, "HTML report path (default <output-dir>/report.html)"),
    ("--claims-compare", "claims_compare", str, None, "a saved run JSON (or 'latest') to compare verdicts and effects with"),
    ("--claims-alpha", "claims_alpha", float, 0.05, "significance level of every claim family"),
    ("--claims-correction", "claims_correction", str, "holm", "multiple-comparison correction: holm, bh, bonferroni, none"),
    ("--claims-test", "claims_test", str, "t", "paired test on per-query values: t, wilcoxon, randomization"),
    ("--claims-min-power", "claims_min_power", float, 0.8, "power below which a non-significant result is INCONCLUSIVE"),
    ("--claims-bootstrap", "claims_bootstrap", int, 2000, "bootstrap resamples for confidence intervals"),
    ("--claims-seed", "claims_seed", int, 0, "seed of easy negatives, random orderings and resampling"),
    ("--claims-ablation-mode", "claims_ablation_mode", str, "pre-softmax", "pre-softmax (masked, renormalised) or post-softmax (zeroed)"),
    ("--claims-convention", "claims_convention", str, "flow", "how 'X->Y' reads: flow (X informs Y) or attend (X attends to Y)"),
    ("--claims-relevant-grade", "claims_relevant_grade", int, 2, "lowest judged grade that counts as relevant"),
    ("--claims-depth", "claims_depth", int, 30, "first-stage candidates re-ranked per query"),
    ("--claims-max-queries", "claims_max_queries", int, None, "use at most this many queries (sorted by id)"),
    ("--claims-easy-negatives", "claims_easy_negatives", int, 1, "random passages of other queries added per query"),
    ("--claims-pairs-per-group", "claims_pairs_per_group", int, 4, "relevant / hard / easy pairs per query whose attention is analysed"),
    ("--claims-batch-size", "claims_batch_size", int, 32, "pairs per forward pass"),
    ("--claims-max-length", "claims_max_length", int, 512, "token budget of a pair; the document is cut, never the query"),
    ("--claims-backend", "claims_backend", str, "sdpa", "attention kernel outside recorded layers: sdpa or eager"),
    ("--claims-fail-on-change", "claims_fail_on_change", None, False, "fail the session when a verdict changed against --claims-compare"),
    ("--claims-trust-remote-code", "claims_trust_remote_code", None, False, "allow models with custom code (off by default)"),
    ("--claims-pretrained", "claims_pretrained", str, None, "GR: the pre-trained T5 a user's DSI checkpoint started from (T5 patching, encoder swap)"),
    ("--claims-held-out", "claims_held_out", str, None, "GR: a DSI model trained without some documents (encoder swap, GR-6)"),
    ("--claims-held-out-docids", "claims_held_out_docids", str, None, "GR: comma-separated docids the held-out model lacks (default: its build.json)"),
    ("--claims-rank-over", "claims_rank_over", str, "docids", "GR: rank documents among the docid tokens (docids) or the whole vocabulary (vocab)"),
    ("--claims-mean-split", "claims_mean_split", float, 0.3, "GR: share of queries held apart (seeded) to compute mean patches from"),
    ("--claims-analysis-queries", "claims_analysis_queries", int, 200, "GR: at most this many correct queries for the per-head analyses (GR-9..GR-11)"),
]


def pytest_addoption(parser: pytest.Parser) -> None:
    group = parser.getgroup("claims", "re-check interpretability claims on neural rankers")
    group.addoption("--claims-model", action="append", default=None, metavar="SPEC",
                    help="model to check (repeatable): embedded:NAME, a local directory or a Hugging Face id")
    group.addoption("--claims-collection", action="append", default=None, metavar="SPEC",
                    help="collection (repeatable): embedded:NAME, a local directory or an ir_datasets id")
    parser.addini("claims_models", "default models, one per line", type="linelist", default=DEFAULT_MODELS)
    parser.addini("claims_collections", "default collections, one per line", type="linelist", default=DEFAULT_COLLECTIONS)
    for flag, ini, kind, default, text in OPTIONS:
        if kind is None:
            group.addoption(flag, action="store_true", default=None, help=text)
            parser.addini(ini, text, type="bool", default=default)
        else:
            group.addoption(flag, default=None, metavar=ini.removeprefix("claims_").upper(), help=f"{text} (default: {default})")
            parser.addini(ini, text, type="string", default="" if default is None else str(default))


def option(config: pytest.Config, ini: str) -> Any:
    """A claims setting: the command line wins over the ini file."""
    flag, kind = next((f, k) for f, i, k, _, _ in OPTIONS if i == ini)
    value = config.getoption(flag.lstrip("-").replace("-", "_"))
    if value is None:
        value = config.getini(ini)
    if kind is None:
        return bool(value)
    if value in ("", None):
        return None
    try:
        return kind(value)
    except ValueError:
        raise pytest.UsageError(f"{flag}: expected {kind.__name__}, got {value!r}") from None


def _path_option(config: pytest.Config, ini: str) -> Path | None:
    """A path setting: relative to the working directory when given on the command line
    (as a shell user means it), relative to the ini file's directory when set there."""
    value = option(config, ini)
    if value is None:
        return None
    path = Path(value).expanduser()
    on_command_line = config.getoption(ini) is not None  # each option's dest is its ini name
    base = config.invocation_params.dir if on_command_line else config.rootpath
    return path if path.is_absolute() else base / path


def _choice(config: pytest.Config, ini: str, allowed: tuple[str, ...]) -> str:
    value = option(config, ini)
    if value not in allowed:
        flag = "--" + ini.replace("_", "-")
        raise pytest.UsageError(f"{flag}: {value!r} is not one of {', '.join(allowed)}")
    return value


@dataclass
class ClaimsSession:
    """State of one pytest session's claims, kept in ``config.stash``.

    ``models`` are of two kinds, told apart by :func:`fixtures.embedded.model_kind` when a
    claim test first asks for them: cross-encoders pair with every collection; generative
    models pair with the collections given on the command line, else with ``None`` (the
    collection they were trained on, resolved by their study fixture)."""

    config: pytest.Config
    settings: Settings
    models: list[str]
    collections: list[str]
    collections_given: bool
    output_dir: Path
    cache_dir: Path
    run: dict[str, Any]
    run_path: Path
    report_path: Path
    memo: dict[Any, Any] = field(default_factory=dict)
    kinds: dict[str, str] = field(default_factory=dict)

    def option(self, ini: str) -> Any:
        return option(self.config, ini)

    def choice(self, ini: str, allowed: tuple[str, ...]) -> str:
        return _choice(self.config, ini, allowed)

    @property
    def targets(self) -> list[tuple[str, str]]:
        """Cross-encoder targets (model, collection)."""
        return self.targets_of("cross-encoder")

    def targets_of(self, kind: str) -> list[tuple[str, str | None]]:
        """(model, collection) pairs of the models of ``kind``; a generative model's own
        collection is ``None`` unless collections were given on the command line."""
        from fixtures.embedded import model_kind

        for spec in self.models:
            if spec not in self.kinds:
                self.kinds[spec] = model_kind(spec, trust_remote_code=self.option("claims_trust_remote_code"))
        chosen = [m for m in self.models if self.kinds[m] == kind]
        if kind == "generative" and not self.collections_given:
            return [(m, None) for m in chosen]
        return [(m, c) for m in chosen for c in self.collections]

    def remember(self, key: Any, make: Any) -> Any:
        """One model or collection per session, however many targets share it."""
        if key not in self.memo:
            with self.visible():
                self.memo[key] = make()
        return self.memo[key]

    @contextlib.contextmanager
    def visible(self) -> Iterator[None]:
        """Let progress bars of long work reach the terminal through pytest's capture."""
        capture = self.config.pluginmanager.getplugin("capturemanager")
        if capture is None:
            yield
            return
        with capture.global_and_fixture_disabled():
            yield

    def add_target(self, model: dict[str, Any], collection: dict[str, Any]) -> None:
        from suite.core.runs import save_run

        entry = {"model": model, "collection": collection}
        if entry not in self.run["targets"]:
            self.run["targets"].append(entry)
            save_run(self.run, self.run_path)

    def evaluate(self, claim: Claim, study: Any) -> ClaimResult:
        """Measure ``claim`` on ``study`` and store the result in the run at once."""
        from suite.core.runs import add_claim_result, save_run

        with self.visible():
            result = claim.evaluate(study, self.settings)
        add_claim_result(self.run, result.to_dict())
        save_run(self.run, self.run_path)
        return result

    def record_check(self, check: dict[str, Any]) -> dict[str, Any]:
        """Store a method check (see :mod:`suite.method_checks`) in the run at once; returns it."""
        from suite.core.runs import add_method_check, save_run

        add_method_check(self.run, check)
        save_run(self.run, self.run_path)
        return check

    def assert_verdict(self, result: ClaimResult) -> None:
        """Pass on SUPPORTED, fail on CONTRADICTED, skip (undecided) on INCONCLUSIVE."""
        __tracebackhide__ = True
        if result.verdict is Verdict.INCONCLUSIVE:
            pytest.skip(f"INCONCLUSIVE {result.claim_id}: {result.reason}")
        assert result.verdict is Verdict.SUPPORTED, f"CONTRADICTED {result.claim_id}: {result.reason}"


CLAIMS_KEY = pytest.StashKey[ClaimsSession]()
VERDICT_KEY = pytest.StashKey[str]()


def _settings(config: pytest.Config) -> Settings:
    return Settings(
        alpha=option(config, "claims_alpha"),
        correction=_choice(config, "claims_correction", ("holm", "bh", "bonferroni", "none")),
        test=_choice(config, "claims_test", ("t", "wilcoxon", "randomization")),
        min_power=option(config, "claims_min_power"),
        bootstrap=option(config, "claims_bootstrap"),
        seed=option(config, "claims_seed"),
    )


@pytest.hookimpl(trylast=True)
def pytest_configure(config: pytest.Config) -> None:
    from suite.core.runs import default_run_path, environment_info, new_run

    models = config.getoption("claims_model") or config.getini("claims_models")
    given = config.getoption("claims_collection")
    collections = given or config.getini("claims_collections")
    settings = _settings(config)
    output_dir = _path_option(config, "claims_output_dir")
    cache_dir = _path_option(config, "claims_cache_dir") or Path(
        os.environ.get("CLAIMS_CACHE_DIR") or Path(os.environ.get("XDG_CACHE_HOME", "~/.cache")) / "ranker-claims"
    ).expanduser()
    report = _path_option(config, "claims_report")
    run_options = {
        **settings.to_dict(),
        "ablation_mode": _choice(config, "claims_ablation_mode", tuple(m.value for m in Mode)),
        "direction_convention": Convention(_choice(config, "claims_convention", tuple(c.value for c in Convention))).describe(),
        "models": list(models),
        "collections": list(collections),
        **{ini.removeprefix("claims_"): option(config, ini) for _, ini, _, _, _ in OPTIONS if ini not in _NOT_RECORDED},
    }
    run = new_run(run_options, environment_info())
    config.stash[CLAIMS_KEY] = ClaimsSession(
        config=config,
        settings=settings,
        models=list(models),
        collections=list(collections),
        collections_given=bool(given),
        output_dir=output_dir,
        cache_dir=cache_dir,
        run=run,
        run_path=default_run_path(output_dir, run),
        report_path=report or output_dir / "report.html",
    )


# Paths are not results; the settings are recorded through Settings.to_dict().
_NOT_RECORDED = {
    "claims_output_dir", "claims_cache_dir", "claims_report", "claims_alpha", "claims_correction", "claims_test",
    "claims_min_power", "claims_bootstrap", "claims_seed", "claims_ablation_mode", "claims_convention",
}


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


@pytest.fixture(scope="session")
def claims(pytestconfig: pytest.Config) -> ClaimsSession:
    """This session's claims state: settings, the run being written, evaluation and asserts."""
    return pytestconfig.stash[CLAIMS_KEY]


@pytest.hookimpl(wrapper=True)
def pytest_runtest_makereport(item: pytest.Item, call: pytest.CallInfo):
    report = yield
    if call.when == "call" and "claim" in getattr(item, "funcargs", {}):
        outcome = {"passed": Verdict.SUPPORTED, "failed": Verdict.CONTRADICTED, "skipped": Verdict.INCONCLUSIVE}
        verdict = outcome[report.outcome]
        if report.failed and call.excinfo is not None and not call.excinfo.errisinstance(AssertionError):
            return report  # an error while measuring is not a verdict
        report.user_properties.append(("claim_verdict", verdict.value))
    return report


def pytest_report_teststatus(report: pytest.CollectReport | pytest.TestReport, config: pytest.Config):
    if not isinstance(report, pytest.TestReport):
        return None
    verdict = dict(report.user_properties).get("claim_verdict")
    if verdict is None or report.when != "call":
        return None
    letters = {"SUPPORTED": "S", "CONTRADICTED": "C", "INCONCLUSIVE": "I"}
    return report.outcome, letters[verdict], verdict


def pytest_sessionfinish(session: pytest.Session, exitstatus: int) -> None:
    from reports.html import write_report
    from suite.core.runs import compare_runs, latest_run, load_run, save_run

    state = session.config.stash.get(CLAIMS_KEY, None)
    if state is None or not (state.run["claims"] or state.run.get("method_checks")):
        return
    from datetime import datetime, timezone

    state.run["finished"] = datetime.now(timezone.utc).isoformat(timespec="seconds")
    state.run["interrupted"] = exitstatus == pytest.ExitCode.INTERRUPTED
    compare = option(session.config, "claims_compare")
    if compare:
        path = latest_run(state.output_dir, exclude=state.run_path) if compare == "latest" else Path(compare)
        if path is None:
            raise pytest.UsageError(f"--claims-compare latest: no earlier run in {state.output_dir / 'runs'}")
        state.run["comparison"] = compare_runs(load_run(path), state.run)
        state.run["comparison"]["baseline_path"] = str(path)
        if option(session.config, "claims_fail_on_change") and state.run["comparison"]["verdict_changes"]:
            session.exitstatus = pytest.ExitCode.TESTS_FAILED
    save_run(state.run, state.run_path)
    write_report(state.run, state.report_path)


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
    write(f"report: {state.report_path}")
