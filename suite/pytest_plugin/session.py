"""One session's claims state (kept in ``config.stash``) and the per-test handle claim tests use."""

from __future__ import annotations

import contextlib
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, TypeVar

import pytest

from suite.core.catalog import Catalog, ModelKind
from suite.core.claims import Claim, Settings
from suite.core.results import ClaimResult, Verdict
from suite.core.runs import add_claim_result, add_method_check, save_run
from suite.core.study import Study
from suite.pytest_plugin.options import ClaimsOptions

T = TypeVar("T")


@dataclass
class ClaimsSession:
    """Options, the embedded catalog, the run being written, and what is loaded once per session.

    Each evaluated claim and method check is written to the run JSON at once (atomically), so an
    interrupted session keeps what it measured."""

    config: pytest.Config
    options: ClaimsOptions
    catalog: Catalog
    run: dict[str, Any]
    run_path: Path
    baseline: Path | None = None  # the run --claims-compare names, checked at configure
    memo: dict[Any, Any] = field(default_factory=dict)
    kinds: dict[str, ModelKind] = field(default_factory=dict)

    @property
    def settings(self) -> Settings:
        return self.options.settings

    def targets_of(self, kind: ModelKind) -> list[tuple[str, str | None]]:
        """(model, collection) pairs of the models of ``kind``; a generative model's own collection
        is ``None`` unless collections were given on the command line."""
        for spec in self.options.models:
            if spec not in self.kinds:
                self.kinds[spec] = self.catalog.model_kind(spec, trust_remote_code=self.options.trust_remote_code)
        chosen = [m for m in self.options.models if self.kinds[m] is kind]
        if kind is ModelKind.GENERATIVE and not self.options.collections_given:
            return [(m, None) for m in chosen]
        return [(m, c) for m in chosen for c in self.options.collections]

    def remember(self, key: Any, make: Callable[[], T]) -> T:
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
        entry = {"model": model, "collection": collection}
        if entry not in self.run["targets"]:
            self.run["targets"].append(entry)
            save_run(self.run, self.run_path)

    def evaluate(self, claim: Claim, study: Study) -> ClaimResult:
        """Measure ``claim`` on ``study`` and store the result in the run at once."""
        with self.visible():
            result = claim.evaluate(study, self.settings)
        add_claim_result(self.run, result.to_dict())
        save_run(self.run, self.run_path)
        return result

    def record_check(self, check: dict[str, Any]) -> dict[str, Any]:
        """Store a method check in the run at once; returns it."""
        add_method_check(self.run, check)
        save_run(self.run, self.run_path)
        return check


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
        """Pass on SUPPORTED, fail on CONTRADICTED, skip (undecided) on INCONCLUSIVE."""
        __tracebackhide__ = True
        if result.verdict is Verdict.INCONCLUSIVE:
            pytest.skip(f"INCONCLUSIVE {result.claim_id}: {result.reason}")
        assert result.verdict is Verdict.SUPPORTED, f"CONTRADICTED {result.claim_id}: {result.reason}"
