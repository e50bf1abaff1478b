"""One session's claims state (kept in ``config.stash``) and the per-test handle claim tests use.

Under pytest-xdist each worker has its own session that writes nothing: what it records (results,
method checks, targets, its device) goes out with the test report of the phase that recorded it,
and the controller's session merges it into the one run (:meth:`ClaimsSession.receive`).
"""

from __future__ import annotations

import contextlib
import hashlib
import json
import os
import time
from collections.abc import Callable, Iterator, Sequence
from dataclasses import dataclass, field
from functools import cached_property
from pathlib import Path
from typing import Any, TypeVar

import pytest

from ranker_claims.core.caching import CacheRefused, describe_os_error
from ranker_claims.core.catalog import BuildPlan, Catalog, ModelKind
from ranker_claims.core.claims import Claim, Settings
from ranker_claims.core.collections import CollectionError
from ranker_claims.core.devices import DeviceError, Placement, check_device, resolve_placement
from ranker_claims.core.models import ModelError
from ranker_claims.core.results import ClaimResult, Verdict
from ranker_claims.core.runs import (
    RunFormatError,
    add_claim_result,
    add_method_check,
    json_default,
    latest_run,
    load_run,
    result_key,
    save_run,
    shareable,
    suite_provenance,
)
from ranker_claims.core.study import Study
from ranker_claims.pytest_plugin.options import ClaimsOptions

T = TypeVar("T")

# What a worker's test report carries to the controller, as ``report.user_properties`` entries.
RESULT, METHOD_CHECK, TARGET, PLACEMENT = "claims_result", "claims_method_check", "claims_target", "claims_placement"
ORDER = "claims_order"  # [index of the test in collection order, phase]: where its records sort
RECORDS = (RESULT, METHOD_CHECK, TARGET, PLACEMENT)
# A record kind's run section and the identity under which a later entry replaces an earlier one,
# as add_claim_result / add_method_check / add_target do in one process.
_SECTIONS: dict[str, tuple[str, Callable[[dict[str, Any]], Any]]] = {
    RESULT: ("claims", result_key),
    METHOD_CHECK: ("method_checks", lambda check: (check["name"], check["kind"])),
    TARGET: ("targets", lambda target: json.dumps(target, sort_keys=True)),
}


@dataclass(frozen=True)
class _Failed:
    """A load that failed: remembered, so the targets sharing it fail alike without trying again."""

    error: Exception


@dataclass
class ClaimsSession:
    """Options, the embedded catalog, the run being written, and what is loaded once per session.

    Each evaluated claim and method check is written to the run JSON at once (atomically), so an
    interrupted session keeps what it measured. With ``--claims-share`` what is written leaves out
    local paths and the platform (:meth:`written`). An xdist worker (``worker`` set) writes nothing:
    it queues its records for its next test report (:meth:`take_records`)."""

    config: pytest.Config
    options: ClaimsOptions
    catalog: Catalog
    run: dict[str, Any]
    run_path: Path
    baseline: Path | None = None  # the run --claims-compare names, checked once claims are collected
    memo: dict[Any, Any] = field(default_factory=dict)
    kinds: dict[str, ModelKind | ModelError] = field(default_factory=dict)  # a failed check is not retried
    worker: str | None = None  # this process's xdist worker id ("gw0"), None in one process or the controller
    outbox: list[tuple[str, Any]] = field(default_factory=list)  # a worker's records not yet reported
    places: dict[tuple[str, Any], tuple[int, ...]] = field(default_factory=dict)  # sort key per entry: see current
    needed: tuple[str, ...] | None = None  # the model specs of the collected claims, once collection is done
    # The verdicts this process reached, by (claim id, model, collection): a claim's preconditions are read here.
    verdicts: dict[tuple[str, str, str], Verdict] = field(default_factory=dict)
    # What could not be written (the run, the report), one line each naming the path: said once, and the
    # session then exits non-zero (see pytest_sessionfinish).
    unwritten: list[str] = field(default_factory=list)
    shown: set[Any] = field(default_factory=set)  # the results whose verdict line was printed as decided
    claim_sources: dict[str, str] = field(default_factory=dict)  # claim id -> the key of the file declaring it
    claim_file_hashes: dict[str, str] = field(default_factory=dict)  # a collected claim file's key -> its SHA-256
    # The item running now, by its place in the whole session's collection (before --claims-shard keeps its
    # part), and a counter: one process sorts what it records by these, as the controller does what workers send.
    current: int = 0
    sequence: int = 0
    active: bool = False  # the session collected claims or method checks: see activate()

    @property
    def settings(self) -> Settings:
        return self.options.settings

    @cached_property
    def placement(self) -> Placement:
        """This process's device (an xdist worker's own), resolved when the first model loads: a session
        that runs no model never imports torch."""
        options = self.options
        try:
            placement = resolve_placement(options.device, options.dtype, options.max_tokens,
                                          worker=os.environ.get("PYTEST_XDIST_WORKER"),
                                          workers=int(os.environ.get("PYTEST_XDIST_WORKER_COUNT", "1")))
        except DeviceError as error:
            raise pytest.UsageError(f"--claims-device/--claims-dtype: {error}") from None
        if placement.threads is not None:
            import torch

            torch.set_num_threads(placement.threads)
        described = placement.describe()
        self.run["environment"]["placement"] = described
        if self.worker is not None:
            self._send(PLACEMENT, {"worker": self.worker, "placement": described})
        return placement

    def activate(self) -> None:
        """Check what the session's claims will use, once it has collected some: until then the plugin has
        looked at nothing but its options' text, so an unrelated pytest session in the same environment
        loads, checks and builds nothing. Whatever cannot serve (a device, a model or collection spec, a
        baseline run) is one usage error; the run records which suite decided it."""
        if self.active:
            return
        self.active = True
        if self.options.device not in ("auto", "cpu"):  # torch is imported only for these
            try:
                check_device(self.options.device)
            except DeviceError as error:
                raise pytest.UsageError(f"--claims-device {error}") from None
        self.check_models()
        self.baseline = baseline_path(self.options.compare, self.options.output_dir)
        if self.options.gate.needs_baseline and self.baseline is None:
            raise pytest.UsageError(f"--claims-fail-on {self.options.gate.describe()}: needs a baseline "
                                    "(--claims-compare RUN or latest)")
        self.run["environment"]["suite"] = suite_provenance()
        self.run["gate"] = {"rules": self.options.gate.describe(), "failures": []}
        if self.options.shard is not None:
            index, count = self.options.shard
            self.run["shard"] = {"index": index, "count": count, "session_id": self.session_id()}

    def session_id(self) -> str:
        """What the shards of one session share: ``--claims-session-id``, else a digest of what decides the
        session's items (the options recorded with its models and collections, the shard count, the
        command line's paths and its selection), so shards started alike agree without being told."""
        if self.options.session_id:
            return self.options.session_id
        option = self.config.option
        identity = {"options": self.run["options"], "count": self.options.shard and self.options.shard[1],
                    "args": self.config.args, "select": self.options.select,
                    "keyword": getattr(option, "keyword", ""), "markexpr": getattr(option, "markexpr", "")}
        return hashlib.sha256(json.dumps(identity, sort_keys=True, default=str).encode()).hexdigest()[:16]

    def add_claim_file(self, key: str, sha256: str, claim_ids: Sequence[str]) -> str | None:
        """Record a collected claim file; the reason it cannot be, if a claim id of it is declared by
        another file (results are matched across runs by claim id)."""
        for claim_id in claim_ids:
            other = self.claim_sources.get(claim_id)
            if other is not None and other != key:
                return f"{claim_id} is declared both in {other} and in {key}; claim ids must be unique"
        self.claim_sources.update(dict.fromkeys(claim_ids, key))
        self.claim_file_hashes[key] = sha256
        return None

    def check_models(self) -> None:
        """Check every model spec (each ``--claims-model`` and the GR companions) as far as the catalog can
        without loading weights, and every collection spec by its names; whatever cannot serve is one usage
        error naming each spec and why, before any claim runs, rather than a traceback or an error per test
        later."""
        options = self.options
        companions = (("--claims-pretrained", options.pretrained), ("--claims-held-out", options.held_out))
        problems = [self._problem("--claims-model", spec, None) for spec in options.models]
        problems += [self._problem(flag, spec, ModelKind.GENERATIVE) for flag, spec in companions if spec]
        if not options.collections_given:
            problems += [f"--claims-model {spec}: give --claims-collection (the collection its document ids index)"
                         for spec in options.models
                         if self.kinds.get(spec) is ModelKind.GENERATIVE and self.catalog.embedded_model(spec) is None]
        problems += [self._collection_problem(spec) for spec in options.collections]
        found = [problem for problem in problems if problem]
        if found:
            raise pytest.UsageError(" ".join("; ".join(found).split()))

    def _problem(self, flag: str, spec: str, needed: ModelKind | None) -> str | None:
        """Why ``spec`` cannot serve (None if it can); each spec is checked once a session."""
        if spec not in self.kinds:
            try:
                self.kinds[spec] = self.catalog.model_kind(spec, trust_remote_code=self.options.trust_remote_code,
                                                           allow_pickle=self.options.allow_pickle)
            except ModelError as error:
                self.kinds[spec] = error
        kind = self.kinds[spec]
        if isinstance(kind, ModelError):
            return f"{flag} {kind}"
        if needed is not None and kind is not needed:
            return f"{flag} {spec}: a {kind.value} model, where a {needed.value} (T5-family) one is needed"
        return None

    def _collection_problem(self, spec: str) -> str | None:
        """Why a collection spec cannot serve (None if it can): judged by names, and a local directory's
        files parsed in full (kept for the studies), so a malformed line is one usage error naming its
        ``file:line`` rather than an error per test. ``ir_datasets`` ids and embedded names are not read."""
        try:
            self.catalog.check_collection(spec)
            if not spec.startswith("embedded:") and Path(spec).expanduser().is_dir():
                self.remember(("collection", spec), lambda: self.catalog.resolve_collection(spec))
        except (CollectionError, OSError) as error:
            return f"--claims-collection {spec}: {error}"
        return None

    def targets_of(self, kind: ModelKind) -> list[tuple[str, str | None]]:
        """(model, collection) pairs of the models of ``kind``; a generative model's own collection
        is ``None`` unless collections were given on the command line. A spec that cannot serve is left
        out here (this runs during collection) and named by :meth:`activate` after it."""
        for spec in self.options.models:
            self._problem("--claims-model", spec, None)
        chosen = [m for m in self.options.models if self.kinds[m] is kind]
        if kind is ModelKind.GENERATIVE and not self.options.collections_given:
            return [(m, None) for m in chosen]
        return [(m, c) for m in chosen for c in self.options.collections]

    def build_models(self) -> dict[str, BuildPlan]:
        """Build every missing embedded model the collected claims need, in one go: one line names the
        builds and an estimate, then independent builds run side by side, one thread each, on this
        process's share of the cores. The run records each build used, with its weights hash."""
        workers = max(1, len(os.sched_getaffinity(0)) // int(os.environ.get("PYTEST_XDIST_WORKER_COUNT", "1")))
        plans = self.catalog.build_all(self.needed if self.needed is not None else self.options.models,
                                       self.options.cache_dir, workers=workers, say=self.say)
        builds = self.run["environment"].setdefault("builds", [])
        for job in (job for plan in plans.values() for job in plan.jobs):
            record = json.loads((job.target / "build.json").read_text())
            entry = {"name": job.name, "target": job.target.name, "seconds": record.get("seconds"),
                     "weights_sha256": record.get("weights_sha256"), "expected_sha256": job.expected}
            if entry not in builds:
                builds.append(entry)
        return plans

    def say(self, line: str) -> None:
        """One line to the terminal, between pytest's own."""
        reporter = self.config.pluginmanager.get_plugin("terminalreporter")
        if reporter is None:
            print(line, flush=True)
        else:
            reporter.ensure_newline()
            if getattr(getattr(reporter, "_tw", None), "width_of_current_line", 0):  # after the progress "[100%]"
                reporter.line("")
            reporter.write_line(line)

    def remember(self, key: Any, make: Callable[[], T]) -> T:
        """One model or collection per session, however many targets share it; a failure is remembered too."""
        if key not in self.memo:
            try:
                with self.visible():
                    self.memo[key] = make()
            except CacheRefused as error:  # a symlinked build target or lock: one line, not an error per test
                pytest.exit(str(error), returncode=pytest.ExitCode.USAGE_ERROR)
            except Exception as error:
                self.memo[key] = _Failed(error)
        value = self.memo[key]
        if isinstance(value, _Failed):
            raise value.error
        return value

    @contextlib.contextmanager
    def visible(self) -> Iterator[None]:
        """Let progress bars of long work reach the terminal through pytest's capture."""
        capture = self.config.pluginmanager.getplugin("capturemanager")
        if capture is None:
            yield
            return
        with capture.global_and_fixture_disabled():
            yield

    @cached_property
    def local_places(self) -> dict[str, str]:
        """This session's local paths and what a shared run shows instead: a model, collection or baseline
        path its last component, the cache and output folders a placeholder, the project and working
        folders ``.``, the home folder ``~``."""
        options = self.options
        places = {str(Path.home()): "~", str(self.config.rootpath): ".", str(self.config.invocation_params.dir): "."}
        for folder, shown in ((options.cache_dir, "<cache-dir>"), (options.output_dir, "<output-dir>")):
            places.update(dict.fromkeys({str(folder), str(folder.resolve())}, shown))
        specs = (*options.models, *options.collections, options.pretrained, options.held_out, options.compare,
                 self.baseline)
        for spec in specs:
            if spec is not None and Path(spec).exists():
                path = Path(spec).resolve()
                places.update(dict.fromkeys({str(spec), str(Path(spec).absolute()), str(path)}, path.name))
        return places

    def written(self) -> dict[str, Any]:
        """The run as it is written: as measured, or with ``--claims-share`` without local paths and platform."""
        return shareable(self.run, self.local_places) if self.options.share else self.run

    def save(self) -> dict[str, Any]:
        """Write the run (atomically); returns what was written."""
        if self.run.get("shard"):
            self.run["shard"]["order"] = self.shard_order()
        run = self.written()
        try:
            save_run(run, self.run_path)
        except OSError as error:  # a full or read-only disk: the session goes on, its verdicts still shown
            self.cannot_write("the run", self.run_path, error)
        return run

    def cannot_write(self, what: str, path: Path, error: OSError) -> None:
        """Say once that ``what`` could not be written to ``path``; the session exits non-zero."""
        line = f"cannot write {what} to {path} ({describe_os_error(error)})"
        if line not in self.unwritten:
            self.unwritten.append(line)
            with self.visible():  # said as it happens, not kept in a passing test's captured output
                self.say(f"ranker-claims: {line}")

    def add_target(self, model: dict[str, Any], collection: dict[str, Any]) -> None:
        entry = {"model": model, "collection": collection}
        if entry not in self.run["targets"]:
            self.run["targets"].append(entry)
            self._publish(TARGET, entry)

    def evaluate(self, claim: Claim, study: Study) -> ClaimResult:
        """Measure ``claim`` on ``study`` and store the result, with its wall time, in the run at once.

        The claims it requires are taken first, on the same study: the result this session already has
        for them, else evaluated (and stored) here, whether or not they were selected, so a verdict
        does not depend on test selection or order. Under xdist a study's claims all run on one worker,
        whose own results this reads."""
        preconditions = {required.id: self.precondition(required, study) for required in claim.requires}
        started = time.perf_counter()
        with self.visible():
            result = claim.evaluate(study, self.settings, preconditions)
        # Its wall time: the conditions it was the first to need included, its study's loading not.
        source = self.claim_sources.get(claim.id)
        entry = {**result.to_dict(), "seconds": round(time.perf_counter() - started, 2), "claim_file": source,
                 "claim_file_sha256": self.claim_file_hashes.get(source or "")}
        _note_claim_file(self.run, entry)
        self._publish(RESULT, add_claim_result(self.run, entry))
        self.verdicts[_target_key(claim, study)] = result.verdict
        return result

    def precondition(self, claim: Claim, study: Study) -> Verdict:
        """``claim``'s verdict on ``study``: the one this session reached, else evaluated and stored now."""
        known = self.verdicts.get(_target_key(claim, study))
        return known if known is not None else self.evaluate(claim, study).verdict

    def record_check(self, check: dict[str, Any]) -> dict[str, Any]:
        """Store a method check in the run at once; returns it."""
        self._publish(METHOD_CHECK, add_method_check(self.run, check))
        return check

    def _publish(self, kind: str, entry: dict[str, Any]) -> None:
        """Save the run with ``entry`` in it; a worker sends the entry to the controller instead."""
        if self.worker is None:
            self.sequence += 1
            self._place(kind, entry, (self.current, self.sequence))
            self.save()
        else:
            self._send(kind, entry)

    def _place(self, kind: str, entry: dict[str, Any], place: tuple[int, ...]) -> None:
        """Where ``entry`` sorts among the session's entries: the first place it was recorded at."""
        section, identity = _SECTIONS[kind]
        key = (section, identity(entry))
        self.places[key] = min(self.places.get(key, place), place)

    def shard_order(self) -> dict[str, list[list[int]]]:
        """Each section's entries' places, for ``merge_shards`` to order the shards' entries as one run would."""
        return {section: [list(self.places.get((section, identity(entry)), (1 << 62,)))
                          for entry in self.run.get(section, [])]
                for section, identity in _SECTIONS.values()}

    def _send(self, kind: str, entry: dict[str, Any]) -> None:
        # As the run file would hold it: plain JSON values, which xdist's channel carries (numpy scalars it cannot).
        self.outbox.append((kind, json.loads(json.dumps(entry, default=json_default))))

    def take_records(self) -> list[tuple[str, Any]]:
        """A worker's records since the last call, for the test report being made."""
        records, self.outbox = self.outbox, []
        return records

    def receive(self, records: Sequence[tuple[str, Any]], order: Sequence[int]) -> None:
        """Merge the records of one worker's test report into the run and save it at once.

        Each entry sorts by where it was recorded (``order``: the test's collection index and phase,
        then its place in the report), not by when it arrived, so the run lists everything as one
        process running the tests in collection order would, however the workers were timed."""
        for position, (kind, entry) in enumerate(records):
            if kind == PLACEMENT:  # each worker's device, where one process records its own as "placement"
                placements = {**self.run["environment"].get("placements", {}), entry["worker"]: entry["placement"]}
                self.run["environment"]["placements"] = dict(sorted(placements.items()))
                continue
            if kind == RESULT:
                _note_claim_file(self.run, entry)
            section, identity = _SECTIONS[kind]
            self._place(kind, entry, (*order, position))
            entries = [e for e in self.run.setdefault(section, []) if identity(e) != identity(entry)] + [entry]
            self.run[section] = sorted(entries, key=lambda e: self.places[(section, identity(e))])
        self.save()


def _note_claim_file(run: dict[str, Any], result: dict[str, Any]) -> None:
    """The run names the claim files that declared what it decided, with their hashes."""
    if result.get("claim_file") and result.get("claim_file_sha256"):
        run.setdefault("claim_files", {})[result["claim_file"]] = result["claim_file_sha256"]


def baseline_path(compare: str | None, output_dir: Path) -> Path | None:
    """The run ``--claims-compare`` names (``latest``: the newest in the output folder), read to check it."""
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


def _target_key(claim: Claim, study: Study) -> tuple[str, str, str]:
    """A claim on a study's target, spelt as the result it gives is keyed in the run (runs.result_key)."""
    return (claim.id, study.model.name, study.collection.id)


CLAIMS_KEY = pytest.StashKey[ClaimsSession]()
RESULT_KEY = pytest.StashKey[ClaimResult]()


@dataclass
class ClaimCheck:
    """What a claim test holds: the session, and the test item its verdict is reported on."""

    session: ClaimsSession
    item: pytest.Item

    @property
    def settings(self) -> Settings:
        return self.session.settings

    def evaluate(self, claim: Claim, study: Study) -> ClaimResult:
        """Measure and store the claim; the test report reads its verdict from the item."""
        result = self.session.evaluate(claim, study)
        self.item.stash[RESULT_KEY] = result
        return result

    def record_check(self, check: dict[str, Any]) -> dict[str, Any]:
        return self.session.record_check(check)

    def assert_verdict(self, result: ClaimResult) -> None:
        """Pass on SUPPORTED, skip (undecided) on INCONCLUSIVE, and fail on CONTRADICTED unless
        ``--claims-fail-on`` leaves ``contradicted`` out (then the verdict is reported, not asserted)."""
        __tracebackhide__ = True
        if result.verdict is Verdict.INCONCLUSIVE:
            pytest.skip(f"INCONCLUSIVE {result.claim_id}: {result.reason}")
        if self.session.options.gate.contradicted:
            assert result.verdict is Verdict.SUPPORTED, f"CONTRADICTED {result.claim_id}: {result.reason}"
