"""What a claim evaluation produces: plain data, serialisable to the run JSON."""

from __future__ import annotations

from dataclasses import asdict, dataclass, field
from enum import Enum
from typing import Any

# Fewer units of analysis than this and a verdict rests on less than an IR evaluation would
# accept: TREC tracks judge 43-50 topics, and Voorhees & Buckley (SIGIR 2002) found 25 topics
# the least at which a difference is stable. The report flags such verdicts; they still count.
FEW_UNITS = 25


class Verdict(str, Enum):
    """The three outcomes of a claim; the rules that pick one live in :mod:`ranker_claims.core.stats`."""

    SUPPORTED = "SUPPORTED"
    CONTRADICTED = "CONTRADICTED"
    INCONCLUSIVE = "INCONCLUSIVE"


class InsufficientData(ValueError):
    """The collection lacks what a measurement needs (too few queries, no pair of a group): the claim is
    INCONCLUSIVE with this message as its reason (:meth:`ranker_claims.core.claims.Claim.evaluate`), not an error."""


@dataclass
class Comparison:
    """One hypothesis test inside a claim (a claim may hold a family of them).

    ``measured`` is the quantity the claim is about (e.g. nDCG@10 after ablation)
    with its bootstrap confidence interval; ``effect`` is the difference the test is
    on (e.g. ablated minus baseline) and ``effect_size`` a standardised version of it.
    """

    label: str
    measured: float
    ci: tuple[float, float]
    reference: float | None  # the value compared against (baseline, random, ...)
    effect: float
    effect_size: float
    effect_size_name: str
    test: str
    p_value: float
    p_corrected: float
    n: int
    power: float | None
    verdict: Verdict
    reason: str
    details: dict[str, Any] = field(default_factory=dict)


@dataclass
class ClaimResult:
    """A claim measured on one model and collection, as stored and reported."""

    claim_id: str
    title: str
    statement: str
    paper: str
    paper_value: float | None
    figure: str
    citation: str
    model: str
    collection: str
    metric: str
    decision: str  # "superiority" | "equivalence" | ...; see ranker_claims.core.stats
    correction: str
    alpha: float
    verdict: Verdict
    reason: str
    comparisons: list[Comparison]
    options: dict[str, Any] = field(default_factory=dict)
    # Pictures the report draws, keyed by kind (e.g. "direction_table").
    figures: dict[str, Any] = field(default_factory=dict)
    # Per-query values by condition label, so a run can be re-tested later.
    per_query: dict[str, dict[str, float]] = field(default_factory=dict)
    # The claims this one presupposes (its TOML ``requires``), each with its verdict on the same target.
    # Where one is not SUPPORTED the verdict is INCONCLUSIVE (see Claim.condition); what the claim's own
    # evidence gave is kept in the two fields below, which are None for a claim that requires nothing.
    preconditions: dict[str, str] = field(default_factory=dict)
    verdict_unconditioned: Verdict | None = None
    reason_unconditioned: str | None = None

    @property
    def unmet_preconditions(self) -> dict[str, str]:
        """The preconditions that are not SUPPORTED on this target, with their verdicts."""
        return {claim_id: verdict for claim_id, verdict in self.preconditions.items()
                if verdict != Verdict.SUPPORTED.value}

    def units(self) -> tuple[str, int, int] | None:
        """(unit of analysis, smallest n, largest n) over the comparisons that decide the claim
        (``details["decides"]``, default true), or None when it has none."""
        deciding = [c for c in self.comparisons if c.details.get("decides", True)]
        if not deciding:
            return None
        unit = " / ".join(sorted({c.details.get("unit", "queries") for c in deciding}))
        sizes = [c.n for c in deciding]
        return unit, min(sizes), max(sizes)

    @property
    def key(self) -> str:
        """Identity across runs: the claim on a model and collection."""
        return f"{self.claim_id}[{self.model}@{self.collection}]"

    def to_dict(self) -> dict[str, Any]:
        data = asdict(self)
        data["verdict"] = self.verdict.value
        if self.verdict_unconditioned is not None:
            data["verdict_unconditioned"] = Verdict(self.verdict_unconditioned).value
        for comparison in data["comparisons"]:
            comparison["verdict"] = comparison["verdict"].value
        return data

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> ClaimResult:
        data = dict(data)
        data["verdict"] = Verdict(data["verdict"])
        if data.get("verdict_unconditioned") is not None:
            data["verdict_unconditioned"] = Verdict(data["verdict_unconditioned"])
        data["comparisons"] = [
            Comparison(**{**c, "verdict": Verdict(c["verdict"]), "ci": tuple(c["ci"])})
            for c in data["comparisons"]
        ]
        return cls(**data)
