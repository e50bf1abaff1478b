"""Claims as data: each is declared once in a TOML file under ``claims/`` and measured here.

A declaration carries the prose (statement, paper value, figure, citation) and names
its measurement, a function ``(claim, study, settings) -> ClaimResult`` in
``suite.measurements``; the test files under ``claims/`` only parametrize and assert.
"""

from __future__ import annotations

import importlib
import tomllib
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from suite.core.results import ClaimResult


@dataclass(frozen=True)
class Settings:
    """Session-wide statistical choices every measurement honours; all are recorded in the run."""

    alpha: float = 0.05
    correction: str = "holm"
    test: str = "t"
    min_power: float = 0.8
    bootstrap: int = 2000
    seed: int = 0

    def to_dict(self) -> dict[str, Any]:
        return {
            "alpha": self.alpha,
            "correction": self.correction,
            "test": self.test,
            "min_power": self.min_power,
            "bootstrap_resamples": self.bootstrap,
            "seed": self.seed,
        }


@dataclass(frozen=True)
class Claim:
    id: str
    title: str
    statement: str
    paper: str
    paper_value: float | None
    figure: str
    citation: str
    measurement: str  # "module:function" under suite.measurements
    params: dict[str, Any] = field(default_factory=dict, hash=False, compare=False)

    def __str__(self) -> str:
        return self.id

    def evaluate(self, study: Any, settings: Settings) -> ClaimResult:
        module_name, _, function_name = self.measurement.partition(":")
        wing, _, name = module_name.partition("_")
        package = {"ce": "suite.cross_encoder", "gr": "suite.generative"}[wing]
        module = importlib.import_module(f"{package}.measurements.{name}")
        return getattr(module, function_name)(self, study, settings)

    def result(self, study: Any, settings: Settings, **fields: Any) -> ClaimResult:
        """A ClaimResult carrying this claim's declaration and the study's identity."""
        return ClaimResult(
            claim_id=self.id,
            title=self.title,
            statement=self.statement,
            paper=self.paper,
            paper_value=self.paper_value,
            figure=self.figure,
            citation=self.citation,
            model=study.model.name,
            collection=study.collection.id,
            alpha=settings.alpha,
            correction=settings.correction,
            options={**settings.to_dict(), **study.recorded_options(), **self.params},
            **fields,
        )


def load_claims(path: str | Path) -> list[Claim]:
    """Read claim declarations; the file's ``[source]`` table gives the shared citation."""
    path = Path(path)
    data = tomllib.loads(path.read_text())
    source = data.get("source", {})
    claims = []
    for entry in data.get("claim", []):
        entry = dict(entry)
        try:
            claims.append(
                Claim(
                    id=entry.pop("id"),
                    title=entry.pop("title"),
                    statement=entry.pop("statement"),
                    paper=entry.pop("paper"),
                    paper_value=entry.pop("paper_value", None),
                    figure=entry.pop("figure"),
                    citation=entry.pop("citation", source.get("citation", "")),
                    measurement=entry.pop("measurement"),
                    params=entry.pop("params", {}),
                )
            )
        except KeyError as missing:
            raise ValueError(f"{path}: claim {entry.get('id', '?')} lacks {missing}") from None
        if entry:
            raise ValueError(f"{path}: claim {claims[-1].id} has unknown keys {sorted(entry)}")
    ids = [c.id for c in claims]
    if len(set(ids)) != len(ids):
        raise ValueError(f"{path}: duplicate claim ids")
    return claims
