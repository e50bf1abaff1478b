"""Claims as data: each is declared once in a TOML file under ``claims/`` and measured by a registered function.

A declaration carries the prose (statement, paper value, figure, citation), names its
measurement and gives the measurement's parameters. Each wing's ``measurements`` package
keeps a :class:`Registry`; a function joins it through :meth:`Registry.register`, which
also declares its parameters as a frozen dataclass. :func:`load_claims` resolves every
claim against the registry and checks its parameters against that schema when the file
is read (at pytest collection), so a misspelt name or a wrong type stops the session
before any model is built instead of surfacing mid-run.

A claim may presuppose others of its file (``requires = ["CE-1"]``): a mechanism claim means
nothing on a model that does not rank. :meth:`Claim.evaluate` measures the claim as always and
then conditions it on the verdicts of those claims on the same study (:meth:`Claim.condition`):
where one is not SUPPORTED the claim is INCONCLUSIVE, its measurements kept, and the verdict its
own evidence gave recorded beside. The dependency is data (the TOML); only the wording of the
reason (:data:`PRECONDITION_UNMET`) lives here.
"""

from __future__ import annotations

import dataclasses
import tomllib
import types
import typing
from collections.abc import Callable, Iterator, Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any, Generic, Literal, TypeVar, Union, cast

from ranker_claims.core.results import ClaimResult, InsufficientData, Verdict
from ranker_claims.core.study import Study

if TYPE_CHECKING:
    from _typeshed import DataclassInstance

P = TypeVar("P", bound="DataclassInstance")


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


class ClaimsFileError(ValueError):
    """A claims file that does not match the measurements it names; the message locates the claim."""


# Why a claim whose precondition is not SUPPORTED on a target is INCONCLUSIVE there: one clause per unmet
# precondition (joined by "; "), then the consequence. ``how`` words the precondition's verdict.
PRECONDITION_UNMET = 'precondition {id} is {verdict} on this target ({how}: "{title}")'
PRECONDITION_CONSEQUENCE = "{unmet}: its mechanisms cannot be tested here; its own evidence gave {own}"
PRECONDITION_HOW = {Verdict.CONTRADICTED: "shown not to hold", Verdict.INCONCLUSIVE: "not shown to hold"}


@dataclass(frozen=True)
class NoParams:
    """The schema of a measurement that takes no parameters."""


# A measurement: (claim, its typed parameters, the study, the session's settings) -> result.
MeasureFunction = Callable[["Claim", P, Any, Settings], ClaimResult]


@dataclass(frozen=True)
class Measurement(Generic[P]):
    """A registered measurement: its name in the TOML, its function and its parameter schema."""

    name: str
    function: MeasureFunction[P]
    params: type[P]

    def parse(self, raw: Mapping[str, Any]) -> P:
        """The typed parameters from a claim's ``params`` table; ValueError names what does not fit."""
        return _build(self.params, raw, "", f"measurement {self.name!r}")


class Registry:
    """The measurements of one wing, by the name claims give in their ``measurement`` key."""

    def __init__(self, wing: str) -> None:
        self.wing = wing
        self._entries: dict[str, Measurement[Any]] = {}

    def register(
        self, params: type[P] | None = None, *, name: str | None = None
    ) -> Callable[[MeasureFunction[P]], MeasureFunction[P]]:
        """Decorator: add the function under ``name`` (default: its own) with ``params`` as schema."""
        schema = NoParams if params is None else params
        # typeshed's DataclassInstance lacks __dataclass_params__, which every dataclass has.
        if not (dataclasses.is_dataclass(schema) and schema.__dataclass_params__.frozen):  # type: ignore[union-attr]
            raise TypeError(f"{schema!r}: a measurement's parameters must be a frozen dataclass")

        def add(function: MeasureFunction[P]) -> MeasureFunction[P]:
            key = name or function.__name__
            if key in self._entries:
                raise ValueError(f"{self.wing}: measurement {key!r} is registered twice")
            self._entries[key] = Measurement(key, function, schema)
            return function

        return add

    def __getitem__(self, name: str) -> Measurement[Any]:
        return self._entries[name]

    def __contains__(self, name: object) -> bool:
        return name in self._entries

    def __iter__(self) -> Iterator[str]:
        return iter(sorted(self._entries))

    def __len__(self) -> int:
        return len(self._entries)


@dataclass(frozen=True)
class Claim:
    """One declared claim, resolved: its measurement and the typed parameters it runs with.

    ``declared_params`` is the ``params`` table exactly as written (keys, values, order); it,
    not the typed copy with its defaults, is what a result records among its options.
    """

    id: str
    title: str
    statement: str
    paper: str
    paper_value: float | None
    figure: str
    citation: str
    measurement: Measurement[Any]
    params: Any = field(default_factory=NoParams, hash=False, compare=False)
    declared_params: dict[str, Any] = field(default_factory=dict, hash=False, compare=False)
    # Why this claim's verdict is not to be trusted below float32 (measured, see the README), or None.
    reduced_precision: str | None = None
    # The claims of the same file this one presupposes (its TOML ``requires``), resolved at load.
    requires: tuple[Claim, ...] = ()
    # In a phrase each, what is measured and what decides it (TOML ``measures``, ``decided_by``): the README's
    # claims tables are generated from them (``ranker-claims list --format markdown``); "" where not declared.
    measures: str = ""
    decided_by: str = ""

    def __str__(self) -> str:
        return self.id

    def evaluate(self, study: Study, settings: Settings,
                 preconditions: Mapping[str, Verdict] | None = None) -> ClaimResult:
        """Measure this claim on ``study``, conditioned on the claims it ``requires`` (see :meth:`condition`).

        Their verdicts on the same study are taken from ``preconditions`` (by claim id) where given there,
        else evaluated here first, so the verdict never depends on which claims ran before.
        """
        known = dict(preconditions or {})
        for required in self.requires:
            if required.id not in known:
                known[required.id] = required.evaluate(study, settings, known).verdict
        try:
            # A study may say up front that nothing can be measured on its collection (no query to measure).
            not_measurable = getattr(study, "not_measurable", None)
            if callable(not_measurable) and (lack := not_measurable()):
                raise InsufficientData(lack)
            result = self.measurement.function(self, self.params, study, settings)
        except InsufficientData as missing:  # a degenerate collection: a reason, not an error
            result = self.result(study, settings, metric="", decision="not measured", verdict=Verdict.INCONCLUSIVE,
                                 reason=f"not measurable on this collection: {missing}", comparisons=[])
        placement = getattr(getattr(study, "model", None), "placement", None)
        if placement is not None and placement.reduced_precision:
            result.options["dtype"] = placement.dtype
            if self.reduced_precision:
                result.options["precision_warning"] = self.reduced_precision
                result.reason = f"{result.reason} [{placement.dtype}: {self.reduced_precision}]"
        return self.condition(result, {required.id: known[required.id] for required in self.requires})

    def condition(self, result: ClaimResult, verdicts: Mapping[str, Verdict | str]) -> ClaimResult:
        """``result`` (this claim's own evidence) given the verdicts of the claims it requires on the same target.

        Records each precondition's verdict and the verdict and reason the evidence gave; where a
        precondition is not SUPPORTED the verdict becomes INCONCLUSIVE with a reason naming it. The
        comparisons, figures and per-query values are left as measured. A claim that requires nothing
        is returned as it is.
        """
        if not self.requires:
            return result
        states = {required.id: Verdict(verdicts[required.id]) for required in self.requires}
        result.preconditions = {claim_id: verdict.value for claim_id, verdict in states.items()}
        result.verdict_unconditioned, result.reason_unconditioned = result.verdict, result.reason
        unmet = [required for required in self.requires if states[required.id] is not Verdict.SUPPORTED]
        if unmet:
            clauses = "; ".join(
                PRECONDITION_UNMET.format(id=required.id, verdict=states[required.id].value,
                                          how=PRECONDITION_HOW[states[required.id]], title=required.title)
                for required in unmet
            )
            own = Verdict(result.verdict_unconditioned).value
            result.verdict = Verdict.INCONCLUSIVE
            result.reason = PRECONDITION_CONSEQUENCE.format(unmet=clauses, own=own)
        return result

    def result(self, study: Study, settings: Settings, **fields: Any) -> ClaimResult:
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
            options={**settings.to_dict(), **study.recorded_options(), **self.declared_params},
            **fields,
        )


def load_claims(path: str | Path, registry: Registry) -> list[Claim]:
    """Read claim declarations, resolving each measurement in ``registry`` and checking its parameters.

    The file's ``[source]`` table gives the shared citation; a claim's ``requires`` lists the ids
    of the claims of the same file it presupposes; its optional ``measures`` and ``decided_by`` describe it
    in a phrase each (documentation only: nothing is measured or decided from them). Raises
    :class:`ClaimsFileError` naming the file and the claim on a missing key, an unknown measurement, a
    parameter the measurement does not know, lacks or cannot read, a non-string ``measures`` or
    ``decided_by``, a duplicate id, a ``requires`` naming no claim of the file, or claims that require each
    other in a cycle.
    """
    path = Path(path)
    data = tomllib.loads(path.read_text())
    source = data.get("source", {})
    claims: list[Claim] = []
    requires: dict[str, tuple[str, ...]] = {}
    for entry in data.get("claim", []):
        entry = dict(entry)
        where = f"{path}: claim {entry.get('id', '?')}"
        try:
            claim_id, title, statement, paper, figure, name = (
                entry.pop(key) for key in ("id", "title", "statement", "paper", "figure", "measurement")
            )
        except KeyError as missing:
            raise ClaimsFileError(f"{where}: lacks {missing}") from None
        paper_value = entry.pop("paper_value", None)
        citation = entry.pop("citation", source.get("citation", ""))
        declared = entry.pop("params", {})
        reduced_precision = entry.pop("reduced_precision", None)
        measures, decided_by = entry.pop("measures", ""), entry.pop("decided_by", "")
        for key, text in (("measures", measures), ("decided_by", decided_by)):
            if not isinstance(text, str):
                raise ClaimsFileError(f"{where}: {key} must be a string, got {_shown(text)}")
        required = entry.pop("requires", [])
        if not (isinstance(required, list) and all(isinstance(i, str) for i in required)):
            raise ClaimsFileError(f"{where}: requires must be an array of claim ids, got {_shown(required)}")
        if entry:
            raise ClaimsFileError(f"{where}: unknown keys {sorted(entry)}")
        if name not in registry:
            raise ClaimsFileError(f"{where}: unknown measurement {name!r} (known: {', '.join(registry)})")
        measurement = registry[name]
        try:
            params = measurement.parse(declared)
        except ValueError as error:
            raise ClaimsFileError(f"{where}: {error}") from None
        claims.append(Claim(
            id=claim_id, title=title, statement=statement, paper=paper, paper_value=paper_value, figure=figure,
            citation=citation, measurement=measurement, params=params, declared_params=declared,
            reduced_precision=reduced_precision, measures=measures, decided_by=decided_by,
        ))
        requires.setdefault(claim_id, tuple(dict.fromkeys(required)))
    ids = [c.id for c in claims]
    if duplicates := sorted({i for i in ids if ids.count(i) > 1}):
        raise ClaimsFileError(f"{path}: duplicate claim ids {duplicates}")
    for claim in claims:
        if unknown := [i for i in requires[claim.id] if i not in requires]:
            raise ClaimsFileError(f"{path}: claim {claim.id}: requires unknown claim ids {unknown} "
                                  f"(claims of this file: {', '.join(ids)})")
    if cycle := _cycle(requires):
        raise ClaimsFileError(f"{path}: claims require each other in a cycle: {' -> '.join(cycle)}")
    return _with_requirements(claims, requires)


def _cycle(requires: Mapping[str, tuple[str, ...]]) -> list[str] | None:
    """A cycle of ``requires`` as the ids along it, first repeated at the end (``[a, b, a]``), or None."""
    done: set[str] = set()

    def visit(claim_id: str, path: list[str]) -> list[str] | None:
        if claim_id in path:
            return path[path.index(claim_id):] + [claim_id]
        if claim_id in done:
            return None
        for required in requires[claim_id]:
            if found := visit(required, path + [claim_id]):
                return found
        done.add(claim_id)
        return None

    return next((found for claim_id in requires if (found := visit(claim_id, []))), None)


def _with_requirements(claims: list[Claim], requires: Mapping[str, tuple[str, ...]]) -> list[Claim]:
    """The claims, in file order, each holding the claims it requires (which hold theirs); the graph is acyclic."""
    declared = {claim.id: claim for claim in claims}
    resolved: dict[str, Claim] = {}

    def resolve(claim_id: str) -> Claim:
        if claim_id not in resolved:
            needed = tuple(resolve(required) for required in requires[claim_id])
            resolved[claim_id] = dataclasses.replace(declared[claim_id], requires=needed)
        return resolved[claim_id]

    return [resolve(claim.id) for claim in claims]


# --------------------------------------------------------------------------- parameter schemas
#
# A schema field's annotation says what TOML value it takes: bool, int, float (an integer is
# read as a float), str, Literal[...] (one of the listed strings), X | None (optional; TOML has
# no null, so None only comes from the default), tuple[X, ...] or tuple[X, Y] (an array),
# Mapping[str, X] (a table of X), or another frozen dataclass (a table of named fields).


def _build(schema: type[P], raw: Any, where: str, owner: str) -> P:
    """An instance of the dataclass ``schema`` from the table ``raw``; ``where`` is its path in params."""
    if not isinstance(raw, Mapping):
        raise ValueError(f"parameter {where!r} for {owner} must be a table, got {_shown(raw)}")
    fields = {f.name: f for f in dataclasses.fields(schema) if f.init}
    hints = typing.get_type_hints(schema)
    for key in raw:
        if key not in fields:
            known = ", ".join(fields) or "none"
            raise ValueError(f"unknown parameter {_joined(where, key)!r} for {owner} (known: {known})")
    values = {}
    for key, spec in fields.items():
        if key in raw:
            values[key] = _read(raw[key], hints[key], _joined(where, key), owner)
        elif spec.default is dataclasses.MISSING and spec.default_factory is dataclasses.MISSING:
            raise ValueError(f"missing parameter {_joined(where, key)!r} for {owner}")
    return schema(**values)


def _read(value: Any, hint: Any, where: str, owner: str) -> Any:
    """``value`` as the type ``hint`` reads it (see the note above), or ValueError."""
    origin, args = typing.get_origin(hint), typing.get_args(hint)
    if origin in (Union, types.UnionType):
        hint = next(a for a in args if a is not type(None))  # optional: present means the other type
        origin, args = typing.get_origin(hint), typing.get_args(hint)
    if dataclasses.is_dataclass(hint):
        return _build(cast("type[DataclassInstance]", hint), value, where, owner)
    fits = {
        bool: lambda v: isinstance(v, bool),
        int: lambda v: isinstance(v, int) and not isinstance(v, bool),
        float: lambda v: isinstance(v, (int, float)) and not isinstance(v, bool),
        str: lambda v: isinstance(v, str),
    }
    if hint in fits:
        if not fits[hint](value):
            raise ValueError(f"parameter {where!r} for {owner} must be {_named(hint)}, got {_shown(value)}")
        return float(value) if hint is float else value
    if origin is Literal:
        if value not in args:
            raise ValueError(f"parameter {where!r} for {owner} must be {_named(hint)}, got {_shown(value)}")
        return value
    if origin is tuple:
        if not isinstance(value, list):
            raise ValueError(f"parameter {where!r} for {owner} must be {_named(hint)}, got {_shown(value)}")
        if len(args) == 2 and args[1] is Ellipsis:
            return tuple(_read(v, args[0], f"{where}[{i}]", owner) for i, v in enumerate(value))
        if len(value) != len(args):
            raise ValueError(f"parameter {where!r} for {owner} must be {_named(hint)}, got {_shown(value)}")
        return tuple(_read(v, a, f"{where}[{i}]", owner) for i, (v, a) in enumerate(zip(value, args)))
    if origin in (Mapping, dict):
        if not isinstance(value, Mapping):
            raise ValueError(f"parameter {where!r} for {owner} must be {_named(hint)}, got {_shown(value)}")
        return {k: _read(v, args[1], _joined(where, k), owner) for k, v in value.items()}
    raise TypeError(f"{owner}: parameter {where!r} has a type the schema reader does not know: {hint!r}")


def _named(hint: Any) -> str:
    """How an error message names the expected type."""
    origin, args = typing.get_origin(hint), typing.get_args(hint)
    if origin is Literal:
        return "one of " + ", ".join(repr(a) for a in args)
    if origin is tuple:
        if len(args) == 2 and args[1] is Ellipsis:
            return f"an array of {_named(args[0])}"
        return f"an array of {len(args)} ({', '.join(_named(a) for a in args)})"
    if origin in (Mapping, dict):
        return f"a table of {_named(args[1])}"
    if dataclasses.is_dataclass(hint):
        return "a table"
    return getattr(hint, "__name__", str(hint))


def _shown(value: Any) -> str:
    return f"{type(value).__name__} {value!r}"


def _joined(where: str, key: str) -> str:
    return f"{where}.{key}" if where else key
