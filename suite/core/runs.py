"""The run document: create, save (atomically), load, merge results and compare runs.

A run is a plain JSON dict (``schema`` 1)::

    {"schema": 1, "run_id": "20261122T071500Z-3f2a", "started": iso, "finished": iso | None,
     "environment": {...}, "options": {...}, "targets": [{"model": {...}, "collection": {...}}],
     "claims": [ClaimResult.to_dict(), ...],
     "method_checks": [...],  # optional
     "claim_files": {key: sha256},  # the claim files that declared its claims (each result names its own)
     "gate": {"rules": "...", "failures": [...]},  # optional: what --claims-fail-on failed the session on
     "comparison": {...}}     # optional, from compare_runs()

``environment.suite`` says which suite decided it: its version, and the commit and whether the
checkout was dirty where it runs from one (:func:`suite_provenance`).

Runs live in ``<output dir>/runs/<run_id>.json``. Every save replaces the file in one
step (a temporary file in the same folder, flushed and fsynced, then ``os.replace``), so a
session killed mid-write leaves the previous complete version, never half a JSON.
A run is read only whole: no larger than :data:`MAX_RUN_BYTES`, nested no deeper than
:data:`MAX_RUN_DEPTH` (both checked before parsing), and every field of :data:`RUN_SCHEMA` of its
type (:func:`validate_run`), before anything compares or renders it.
"""

from __future__ import annotations

import io
import json
import math
import os
import platform
import re
import secrets
import subprocess
from collections.abc import Mapping
from dataclasses import asdict, is_dataclass
from datetime import UTC, datetime
from enum import Enum
from importlib import metadata
from pathlib import Path
from typing import IO, Any

from ranker_claims.core import stats
from ranker_claims.core.caching import write_atomic
from ranker_claims.core.docstrings import docstring_section

SCHEMA = 1

# Distributions whose versions every run records (None when not installed).
PACKAGES = (
    "torch",
    "transformers",
    "ir_datasets",
    "ir_measures",
    "scipy",
    "numpy",
    "pytest",
    "ranker-claims",
)


class RunFormatError(ValueError):
    """A file that is not a run document this version of the suite can read."""


# --------------------------------------------------------------------------- creating


def new_run_id(now: datetime | None = None) -> str:
    """``YYYYMMDDTHHMMSSZ-xxxx``: UTC start time, then 4 random hex digits."""
    now = (now or datetime.now(UTC)).astimezone(UTC)
    return f"{now:%Y%m%dT%H%M%SZ}-{secrets.token_hex(2)}"


def environment_info() -> dict[str, Any]:
    """Python, platform and the versions of the packages results depend on."""
    packages: dict[str, str | None] = {}
    for name in PACKAGES:
        try:
            packages[name] = metadata.version(name)
        except metadata.PackageNotFoundError:
            packages[name] = None
    return {
        "python": platform.python_version(),
        "implementation": platform.python_implementation(),
        "platform": platform.platform(),
        "packages": packages,
    }


def suite_provenance() -> dict[str, Any]:
    """This suite's version and, run from a git checkout of it, the commit and whether the tree differed
    from it (``dirty``; untracked files count: a new claim file decides verdicts too). Installed from a
    wheel, or without git, the commit and flag are None."""
    try:
        version: str | None = metadata.version("ranker-claims")
    except metadata.PackageNotFoundError:
        version = None
    package = Path(__file__).resolve().parents[1]  # the package's own folder, suite/ in a checkout

    def git(*args: str) -> str | None:
        try:
            done = subprocess.run(["git", "-C", str(package), *args], capture_output=True, text=True, timeout=30)
        except (OSError, subprocess.SubprocessError):
            return None
        return done.stdout.strip() if done.returncode == 0 else None

    top = git("rev-parse", "--show-toplevel")
    project = Path(top) / "pyproject.toml" if top else None
    if project is None or not project.is_file() or 'name = "ranker-claims"' not in project.read_text():
        return {"version": version, "commit": None, "dirty": None}  # a wheel, or a checkout of something else
    status = git("status", "--porcelain", "--", ".", "../fixtures", "../reports", "../claims", "../pyproject.toml")
    return {"version": version, "commit": git("rev-parse", "HEAD"), "dirty": None if status is None else bool(status)}


def new_run(options: dict[str, Any], environment: dict[str, Any] | None = None) -> dict[str, Any]:
    """An empty run started now; ``environment`` defaults to :func:`environment_info`."""
    now = datetime.now(UTC)
    return {
        "schema": SCHEMA,
        "run_id": new_run_id(now),
        "started": now.isoformat(timespec="seconds"),
        "finished": None,
        "environment": environment_info() if environment is None else dict(environment),
        "options": dict(options),
        # The rules as this version states them, so a run re-rendered later shows what decided it.
        "verdict_rules": docstring_section(stats.__doc__ or "", "Verdict rules"),
        "targets": [],
        "claims": [],
    }


def shareable(run: dict[str, Any], places: Mapping[str, str]) -> dict[str, Any]:
    """A copy of ``run`` fit to share: each local path of ``places`` (path -> what to show instead)
    replaced wherever it occurs, in values and keys (longest first, whole path components only), and
    the environment's platform string (kernel and libc builds: this machine) left out."""
    names = sorted((place for place in places if place), key=len, reverse=True)
    pattern = re.compile(rf"(?<![\w.-])(?:{'|'.join(map(re.escape, names))})(?![\w.-])") if names else None

    def redact(value: Any) -> Any:
        if isinstance(value, os.PathLike):
            value = os.fspath(value)
        if isinstance(value, str):
            return pattern.sub(lambda match: places[match.group(0)], value) if pattern else value
        if isinstance(value, dict):
            return {redact(key): redact(item) for key, item in value.items()}
        if isinstance(value, (list, tuple)):
            return [redact(item) for item in value]
        return value

    shared = redact(run)
    if isinstance(shared.get("environment"), dict):
        shared["environment"].pop("platform", None)
    return shared


def result_key(result: dict[str, Any]) -> tuple[str, str, str]:
    """Identity of a stored result across runs: (claim_id, model, collection)."""
    return (result["claim_id"], result["model"], result["collection"])


def _key_text(result: dict[str, Any]) -> str:
    # Same spelling as ClaimResult.key.
    return f"{result['claim_id']}[{result['model']}@{result['collection']}]"


def add_claim_result(run: dict[str, Any], result: Any) -> dict[str, Any]:
    """Put a result (``ClaimResult.to_dict()`` or a ClaimResult) into ``run["claims"]``.

    A result with the same key (claim_id, model, collection) is replaced in place, so a
    claim measured again in the same run keeps its position; new keys are appended.
    """
    if hasattr(result, "to_dict"):
        result = result.to_dict()
    claims = run.setdefault("claims", [])
    key = result_key(result)
    for index, existing in enumerate(claims):
        if result_key(existing) == key:
            claims[index] = result
            return result
    claims.append(result)
    return result


def add_method_check(run: dict[str, Any], check: dict[str, Any]) -> dict[str, Any]:
    """Put a method check (``name``, ``kind``, ``passed``, ...) into ``run["method_checks"]``,
    replacing one with the same name and kind."""
    for field in ("name", "kind", "passed"):
        if field not in check:
            raise ValueError(f"a method check needs {field!r}: {check!r}")
    checks = run.setdefault("method_checks", [])
    for index, existing in enumerate(checks):
        if (existing.get("name"), existing.get("kind")) == (check["name"], check["kind"]):
            checks[index] = check
            return check
    checks.append(check)
    return check


# --------------------------------------------------------------------------- saving


def json_default(value: Any) -> Any:
    """What json cannot write by itself: numpy scalars and arrays, enums, paths, sets."""
    if isinstance(value, Enum):
        return value.value
    if is_dataclass(value) and not isinstance(value, type):
        return asdict(value)
    if isinstance(value, (Path, os.PathLike)):
        return os.fspath(value)
    if isinstance(value, (set, frozenset)):
        return sorted(value, key=repr)
    if hasattr(value, "tolist"):  # numpy arrays and scalars (item() is tolist() for 0-d)
        return value.tolist()
    raise TypeError(f"cannot store a {type(value).__name__} in a run: {value!r}")


def save_run(run: dict[str, Any], path: str | os.PathLike[str]) -> Path:
    """Write ``run`` as JSON to ``path`` atomically: readers (and a crash) see the old
    complete file or the new complete file, nothing in between."""
    if run.get("schema") != SCHEMA:
        raise RunFormatError(f"refusing to save a run with schema {run.get('schema')!r} (this suite writes {SCHEMA})")

    def dump(handle: IO[bytes]) -> None:  # streamed: a large run is never held twice in memory
        text = io.TextIOWrapper(handle, encoding="utf-8")
        json.dump(run, text, indent=1, default=json_default)
        text.write("\n")
        text.flush()
        text.detach()

    return write_atomic(path, dump)


# --------------------------------------------------------------------------- loading


# A run document is refused before it is parsed when larger than this (the largest runs written so far,
# every claim's per-query values on thousands of queries, are tens of MiB) or nested deeper than this
# (a run nests about 10 levels; json's parser recurses per level and dies near 1,000).
MAX_RUN_BYTES = 256 * 1024 * 1024
MAX_RUN_DEPTH = 64

_TYPE_NAMES = {"object": "an object", "array": "an array", "string": "a string", "number": "a number",
               "integer": "an integer", "boolean": "a boolean", "null": "null"}
_NUMBER = {"type": ["number", "null"]}
_TEXT = {"type": "string"}
_MAYBE_TEXT = {"type": ["string", "null"]}
_OBJECT = {"type": "object"}
_VERDICT = {"enum": ["SUPPORTED", "CONTRADICTED", "INCONCLUSIVE"]}

#: The run document's schema, in the JSON Schema vocabulary (type, enum, required, properties, items,
#: additionalProperties), the subset :func:`validate_run` reads. Fields a version of the suite wrote
#: only later are optional; each one present must have its type. ``schema`` is checked first, apart.
COMPARISON_SCHEMA: dict[str, Any] = {
    "type": "object",
    "required": ["label", "verdict"],
    "properties": {
        "label": _TEXT, "measured": _NUMBER, "ci": {"type": ["array", "null"], "items": _NUMBER},
        "reference": _NUMBER, "effect": _NUMBER, "effect_size": _NUMBER, "effect_size_name": _MAYBE_TEXT,
        "test": _MAYBE_TEXT, "p_value": _NUMBER, "p_corrected": _NUMBER, "n": _NUMBER, "power": _NUMBER,
        "verdict": _VERDICT, "reason": _MAYBE_TEXT, "details": _OBJECT,
    },
}
CLAIM_SCHEMA: dict[str, Any] = {
    "type": "object",
    "required": ["claim_id", "model", "collection", "verdict"],
    "properties": {
        "claim_id": _TEXT, "title": _MAYBE_TEXT, "statement": _MAYBE_TEXT, "paper": _MAYBE_TEXT,
        "paper_value": _NUMBER, "figure": _MAYBE_TEXT, "citation": _MAYBE_TEXT, "model": _TEXT,
        "collection": _TEXT, "metric": _MAYBE_TEXT, "decision": _MAYBE_TEXT, "correction": _MAYBE_TEXT,
        "alpha": _NUMBER, "verdict": _VERDICT, "reason": _MAYBE_TEXT,
        "comparisons": {"type": "array", "items": COMPARISON_SCHEMA},
        "options": _OBJECT, "figures": _OBJECT,
        "per_query": {"type": "object", "additionalProperties": {"type": "object", "additionalProperties": _NUMBER}},
        "preconditions": {"type": "object", "additionalProperties": _TEXT},
        "verdict_unconditioned": {"enum": [*_VERDICT["enum"], None]}, "reason_unconditioned": _MAYBE_TEXT,
        "seconds": _NUMBER, "claim_file": _MAYBE_TEXT, "claim_file_sha256": _MAYBE_TEXT,
    },
}
RUN_SCHEMA: dict[str, Any] = {
    "type": "object",
    "required": ["schema", "run_id", "claims", "targets", "options"],
    "properties": {
        "schema": {"type": "integer"}, "run_id": _TEXT, "started": _MAYBE_TEXT, "finished": _MAYBE_TEXT,
        "label": _MAYBE_TEXT, "merged_from": {"type": "array", "items": _TEXT},
        "shard": {"type": ["object", "null"], "properties": {
            "index": {"type": "integer"}, "count": {"type": "integer"}, "session_id": _TEXT,
            "order": {"type": "object", "additionalProperties": {"type": "array", "items": {"type": "array"}}}}},
        "interrupted": {"type": ["boolean", "null"]},
        "environment": {"type": "object", "properties": {"packages": _OBJECT, "placements": _OBJECT,
                                                          "suite": _OBJECT}},
        "claim_files": {"type": "object", "additionalProperties": _TEXT},
        "gate": {"type": "object", "properties": {"rules": _TEXT, "failures": {"type": "array", "items": _TEXT}}},
        "options": _OBJECT, "verdict_rules": {"type": ["string", "array", "object", "null"]},
        "targets": {"type": "array", "items": {"type": "object", "properties": {"model": _OBJECT,
                                                                              "collection": _OBJECT}}},
        "claims": {"type": "array", "items": CLAIM_SCHEMA},
        "method_checks": {"type": "array", "items": {
            "type": "object", "required": ["name", "kind", "passed"],
            "properties": {"name": _TEXT, "kind": _TEXT, "passed": {"type": "boolean"}, "figures": _OBJECT}}},
        "comparison": {"type": ["object", "null"], "properties": {
            "baseline_run_id": _MAYBE_TEXT, "baseline_path": _MAYBE_TEXT, "verdict_changes": _NUMBER,
            "changes": {"type": "array", "items": _OBJECT},
            "only_in_baseline": {"type": "array", "items": _OBJECT},
            "only_in_current": {"type": "array", "items": _OBJECT},
            "option_changes": _OBJECT, "package_changes": _OBJECT, "claim_file_changes": _OBJECT}},
    },
}


def load_run(path: str | os.PathLike[str]) -> dict[str, Any]:
    """Read a run document, checking that it is one and that its schema is readable: the file's size
    and nesting before it is parsed, then every field against :data:`RUN_SCHEMA`."""
    path = Path(path)
    try:
        size = path.stat().st_size
        if size > MAX_RUN_BYTES:
            raise RunFormatError(f"{path}: not read: {size:,} bytes, more than a run may hold "
                                 f"({MAX_RUN_BYTES:,} bytes)")
        text = path.read_text(encoding="utf-8")
    except FileNotFoundError:
        raise RunFormatError(f"{path}: no such run file") from None
    except IsADirectoryError:
        raise RunFormatError(f"{path}: a directory, not a run file") from None
    except UnicodeDecodeError as error:
        raise RunFormatError(f"{path}: not a run document (not UTF-8 text: {error})") from None
    except OSError as error:
        raise RunFormatError(f"{path}: cannot be read ({error.strerror or error})") from None
    depth = _nesting(text)
    if depth is not None:
        raise RunFormatError(f"{path}: not a run document (nested deeper than {MAX_RUN_DEPTH} levels at "
                             f"character {depth})")
    try:
        run = json.loads(text)
    except (json.JSONDecodeError, RecursionError) as error:
        raise RunFormatError(f"{path}: not a run document (invalid JSON: {error})") from None
    return validate_run(run, source=str(path))


_JSON_TOKENS = re.compile(r'"(?:[^"\\]|\\.)*"|[\[\]{}]')


def _nesting(text: str) -> int | None:
    """Where ``text`` first nests arrays and objects deeper than :data:`MAX_RUN_DEPTH` (None if nowhere),
    found without parsing: brackets outside strings are counted."""
    depth = 0
    for token in _JSON_TOKENS.finditer(text):
        bracket = token.group()
        if bracket in "[{":
            depth += 1
            if depth > MAX_RUN_DEPTH:
                return token.start()
        elif bracket in "]}":
            depth -= 1
    return None


def validate_run(run: Any, source: str = "run") -> dict[str, Any]:
    """Check a run document whole against :data:`RUN_SCHEMA` and return it; :class:`RunFormatError`
    naming the first bad field by its JSON path (``claims[0].comparisons: expected an array, got a string``)."""
    if not isinstance(run, dict) or "schema" not in run:
        kind = type(run).__name__ if not isinstance(run, dict) else "JSON object without a 'schema' field"
        raise RunFormatError(f"{source}: not a claims run document (found a {kind})")
    schema = run["schema"]
    if not isinstance(schema, int) or isinstance(schema, bool):
        raise RunFormatError(f"{source}: 'schema' must be an integer, found {schema!r}")
    if schema > SCHEMA:
        raise RunFormatError(
            f"{source}: written with run schema {schema}, newer than this suite reads (up to {SCHEMA}); "
            "update the suite to read it"
        )
    if schema < 1:
        raise RunFormatError(f"{source}: unknown run schema {schema}")
    problem = schema_problem(run, RUN_SCHEMA)
    if problem is not None:
        raise RunFormatError(f"{source}: {problem}")
    return run


def schema_problem(value: Any, schema: dict[str, Any], path: str = "") -> str | None:
    """The first place ``value`` breaks ``schema`` (fields in the schema's order, items in order), as
    ``path: what was expected, what was found``; None where it fits. Recurses along the schema only,
    never deeper than it, so free-form parts (figures, options) cost nothing however they nest."""
    where = path or "the run"
    if "enum" in schema and value not in schema["enum"]:
        allowed = ", ".join("null" if v is None else str(v) for v in schema["enum"])
        return f"{where}: expected one of {allowed}, got {_shown(value)}"
    kinds = schema.get("type")
    if kinds is not None:
        kinds = [kinds] if isinstance(kinds, str) else kinds
        if not any(_is(value, kind) for kind in kinds):
            expected = " or ".join(_TYPE_NAMES[kind] for kind in kinds)
            return f"{where}: expected {expected}, got {_type_name(value)}"
    if isinstance(value, dict):
        for name in schema.get("required", ()):
            if name not in value:
                return f"{_join(path, name)}: missing (a required field)"
        properties = schema.get("properties", {})
        for name, inner in properties.items():
            if name in value:
                problem = schema_problem(value[name], inner, _join(path, name))
                if problem is not None:
                    return problem
        extra = schema.get("additionalProperties")
        if isinstance(extra, dict):
            for name, item in value.items():
                if name not in properties:
                    problem = schema_problem(item, extra, _join(path, name))
                    if problem is not None:
                        return problem
    if isinstance(value, list) and isinstance(schema.get("items"), dict):
        for index, item in enumerate(value):
            problem = schema_problem(item, schema["items"], f"{path}[{index}]")
            if problem is not None:
                return problem
    return None


def _is(value: Any, kind: str) -> bool:
    if kind == "null":
        return value is None
    if kind == "boolean":
        return isinstance(value, bool)
    if isinstance(value, bool):
        return False
    types: dict[str, type | tuple[type, ...]] = {"object": dict, "array": list, "string": str,
                                                  "number": (int, float), "integer": int}
    return isinstance(value, types[kind])


def _type_name(value: Any) -> str:
    for kind in ("null", "boolean", "integer", "number", "string", "array", "object"):
        if _is(value, kind):
            return _TYPE_NAMES[kind] if kind != "integer" else "a number"
    return type(value).__name__


def _shown(value: Any) -> str:
    text = json.dumps(value) if isinstance(value, (str, int, float, bool, type(None))) else _type_name(value)
    return text if len(text) <= 40 else text[:37] + "..."


def _join(path: str, name: str) -> str:
    plain = re.fullmatch(r"[A-Za-z_][A-Za-z0-9_]*", name)
    return (f"{path}.{name}" if path else name) if plain else f"{path}[{json.dumps(name)}]"


def default_run_path(directory: str | os.PathLike[str], run: dict[str, Any] | str | None = None) -> Path:
    """``<directory>/runs/<run_id>.json`` for ``run`` (a run dict or a run id; a fresh id if None)."""
    if isinstance(run, dict):
        run_id = run["run_id"]
    elif isinstance(run, str):
        run_id = run
    else:
        run_id = new_run_id()
    if not run_id or "/" in run_id or "\\" in run_id or run_id.startswith("."):
        raise ValueError(f"not a usable run id: {run_id!r}")
    return Path(directory) / "runs" / f"{run_id}.json"


def latest_run(directory: str | os.PathLike[str], exclude: str | os.PathLike[str] | None = None) -> Path | None:
    """The most recently written run JSON in ``<directory>/runs`` (or ``directory`` itself
    when it has no ``runs`` folder), other than ``exclude``; None if there is none."""
    directory = Path(directory)
    folder = directory / "runs" if (directory / "runs").is_dir() else directory
    if not folder.is_dir():
        return None
    excluded = Path(exclude).resolve() if exclude is not None else None
    candidates = []
    for path in folder.glob("*.json"):
        if path.name.startswith(".") or not path.is_file():
            continue
        if excluded is not None and path.resolve() == excluded:
            continue
        candidates.append((path.stat().st_mtime_ns, path.name, path))
    return max(candidates)[2] if candidates else None


# --------------------------------------------------------------------------- comparing


def _number(value: Any) -> float | None:
    if isinstance(value, bool) or not isinstance(value, (int, float)):
        return None
    return float(value) if math.isfinite(value) else None


def _shift(before: Any, after: Any) -> float | None:
    a, b = _number(before), _number(after)
    return None if a is None or b is None else b - a


def _headline(before: dict[str, Any], after: dict[str, Any]) -> tuple[dict | None, dict | None]:
    """The comparison a claim's one-line figures come from: the first (declaration order)
    of the current result whose label the baseline also has, else each side's first."""
    labels_before = {c.get("label"): c for c in before.get("comparisons", [])}
    for comparison in after.get("comparisons", []):
        if comparison.get("label") in labels_before:
            return labels_before[comparison["label"]], comparison
    first = lambda result: (result.get("comparisons") or [None])[0]  # noqa: E731
    return first(before), first(after)


def _compare_comparison(before: dict | None, after: dict | None) -> dict[str, Any]:
    before, after = before or {}, after or {}
    return {
        "label": after.get("label", before.get("label")),
        "verdict_before": before.get("verdict"),
        "verdict_after": after.get("verdict"),
        "verdict_changed": before.get("verdict") != after.get("verdict"),
        "measured_before": before.get("measured"),
        "measured_after": after.get("measured"),
        "measured_shift": _shift(before.get("measured"), after.get("measured")),
        "effect_before": before.get("effect"),
        "effect_after": after.get("effect"),
        "effect_shift": _shift(before.get("effect"), after.get("effect")),
        "effect_size_name": after.get("effect_size_name", before.get("effect_size_name")),
        "effect_size_before": before.get("effect_size"),
        "effect_size_after": after.get("effect_size"),
        "effect_size_shift": _shift(before.get("effect_size"), after.get("effect_size")),
        "p_before": before.get("p_corrected"),
        "p_after": after.get("p_corrected"),
    }


def _compare_results(before: dict[str, Any], after: dict[str, Any], match: str) -> dict[str, Any]:
    head_before, head_after = _headline(before, after)
    headline = _compare_comparison(head_before, head_after)
    comparisons_before = {c.get("label"): c for c in before.get("comparisons", [])}
    comparisons_after = {c.get("label"): c for c in after.get("comparisons", [])}
    per_label = [
        _compare_comparison(comparisons_before[label], comparison)
        for label, comparison in comparisons_after.items()
        if label in comparisons_before
    ]
    shifts = [abs(c["effect_shift"]) for c in per_label if c["effect_shift"] is not None]
    return {
        "claim_id": after["claim_id"],
        "title": after.get("title", before.get("title")),
        "match": match,
        "key_before": _key_text(before),
        "key_after": _key_text(after),
        "model_before": before["model"],
        "model_after": after["model"],
        "collection_before": before["collection"],
        "collection_after": after["collection"],
        "verdict_before": before["verdict"],
        "verdict_after": after["verdict"],
        "verdict_changed": before["verdict"] != after["verdict"],
        "headline": headline["label"],
        "measured_before": headline["measured_before"],
        "measured_after": headline["measured_after"],
        "measured_shift": headline["measured_shift"],
        "effect_before": headline["effect_before"],
        "effect_after": headline["effect_after"],
        "effect_shift": headline["effect_shift"],
        "p_before": headline["p_before"],
        "p_after": headline["p_after"],
        "max_abs_effect_shift": max(shifts) if shifts else None,
        "comparison_verdict_changes": sum(1 for c in per_label if c["verdict_changed"]),
        "comparisons": per_label,
        "comparisons_only_in_baseline": [label for label in comparisons_before if label not in comparisons_after],
        "comparisons_only_in_current": [label for label in comparisons_after if label not in comparisons_before],
        "claim_file_changed": _differ(before.get("claim_file_sha256"), after.get("claim_file_sha256")),
    }


def _differ(before: str | None, after: str | None) -> bool | None:
    """Whether two hashes differ; None where a run does not record one (written before runs did)."""
    return None if before is None or after is None else before != after


# Matching passes, strictest first: a result is paired with the first unpaired result of
# the other run that agrees on these fields. "model" (a new collection, same model) sits
# between the brief's collection and claim-id-only levels so that it is preferred to an
# arbitrary pairing when several targets share a claim id.
_MATCH_PASSES: tuple[tuple[str, tuple[str, ...]], ...] = (
    ("exact", ("claim_id", "model", "collection")),
    ("collection", ("claim_id", "collection")),
    ("model", ("claim_id", "model")),
    ("claim", ("claim_id",)),
)


def compare_runs(baseline: dict[str, Any], current: dict[str, Any]) -> dict[str, Any]:
    """Compare two runs claim by claim, as pytest-benchmark compares by test name.

    Results are paired by exact (claim_id, model, collection); failing that by
    (claim_id, collection), then (claim_id, model), then claim_id alone (a new model
    against an old one); each result is paired at most once. For each pair: verdicts
    before and after, whether the verdict changed, the shift of the measured value, the
    effect and the corrected p of the headline comparison (the first comparison the two
    share a label for) and of every comparison by label. Results without a partner are
    listed in ``only_in_baseline`` / ``only_in_current``. ``claim_file_changes`` names the claim files
    both runs used whose bytes differ (``{key: [sha256 before, sha256 after]}``), and each pair says
    whether its own claim file did (``claim_file_changed``): such verdicts were decided by different
    declarations.
    """
    before_claims = list(baseline.get("claims", []))
    after_claims = list(current.get("claims", []))
    paired_before: set[int] = set()
    pairs: dict[int, tuple[int, str]] = {}  # index in current -> (index in baseline, match)
    for match, fields in _MATCH_PASSES:
        for i, after in enumerate(after_claims):
            if i in pairs:
                continue
            for j, before in enumerate(before_claims):
                if j not in paired_before and all(before.get(f) == after.get(f) for f in fields):
                    pairs[i] = (j, match)
                    paired_before.add(j)
                    break
    files_before, files_after = baseline.get("claim_files") or {}, current.get("claim_files") or {}
    changes = [
        _compare_results(before_claims[j], after_claims[i], match)
        for i, (j, match) in sorted(pairs.items())
    ]
    option_changes = _dict_changes(baseline.get("options", {}), current.get("options", {}))
    package_changes = _dict_changes(
        (baseline.get("environment") or {}).get("packages", {}),
        (current.get("environment") or {}).get("packages", {}),
    )
    return {
        "baseline_run_id": baseline.get("run_id"),
        "baseline_started": baseline.get("started"),
        "current_run_id": current.get("run_id"),
        "matched": len(changes),
        "verdict_changes": sum(1 for change in changes if change["verdict_changed"]),
        "changes": changes,
        "only_in_baseline": [_identity(before_claims[j]) for j in range(len(before_claims)) if j not in paired_before],
        "only_in_current": [_identity(after_claims[i]) for i in range(len(after_claims)) if i not in pairs],
        "option_changes": option_changes,
        "package_changes": package_changes,
        "claim_file_changes": {key: [files_before[key], files_after[key]] for key in sorted(files_before)
                               if key in files_after and files_before[key] != files_after[key]},
    }


def _identity(result: dict[str, Any]) -> dict[str, Any]:
    return {
        "claim_id": result["claim_id"],
        "model": result["model"],
        "collection": result["collection"],
        "key": _key_text(result),
        "verdict": result.get("verdict"),
    }


def _dict_changes(before: dict[str, Any], after: dict[str, Any]) -> dict[str, list[Any]]:
    """``{name: [before, after]}`` for every key whose value differs (missing = None)."""
    return {
        name: [before.get(name), after.get(name)]
        for name in sorted(set(before) | set(after), key=str)
        if before.get(name) != after.get(name)
    }


# --------------------------------------------------------------------------- merging shards

#: What the shards of one session must share for their merge to be the run one machine would write.
_SHARED_BY_SHARDS = (("the options", lambda run: run.get("options")),
                     ("the verdict rules", lambda run: run.get("verdict_rules")),
                     ("the suite version", lambda run: (run.get("environment") or {}).get("suite")),
                     ("the label", lambda run: run.get("label")))
_SECTIONS = ("targets", "claims", "method_checks")


class MergeError(ValueError):
    """Runs that are not the shards of one session; the message names the first difference."""


def merge_shards(shards: list[dict[str, Any]]) -> dict[str, Any]:
    """One run from the runs of a session's shards (``--claims-shard K/N``), as one machine running the
    whole session would have written it: every section's entries in the session's run order (each
    shard records its entries' places), the claim files of all, the earliest start and the latest end.

    Raises :class:`MergeError` unless the runs are shards of one session (the same session id and
    shard count, each shard once) decided alike: the same options, verdict rules, suite version and
    commit, label, and claim files of the same bytes. Each shard's environment (a machine of its own)
    is kept under ``environment.shards``."""
    if not shards:
        raise MergeError("no runs to merge")
    for run in shards:
        if not isinstance(run.get("shard"), dict):
            raise MergeError(f"run {run.get('run_id')} is not a shard (it was not run with --claims-shard)")
    first = shards[0]
    session, count = first["shard"].get("session_id"), first["shard"].get("count")
    for run in shards[1:]:
        if run["shard"].get("session_id") != session:
            raise MergeError(f"run {run.get('run_id')} is a shard of session {run['shard'].get('session_id')}, "
                             f"run {first.get('run_id')} of session {session}")
        if run["shard"].get("count") != count:
            raise MergeError(f"run {run.get('run_id')} is a shard of {run['shard'].get('count')}, "
                             f"run {first.get('run_id')} of {count}")
        for what, read in _SHARED_BY_SHARDS:
            if read(run) != read(first):
                raise MergeError(f"runs {first.get('run_id')} and {run.get('run_id')} differ in {what}")
    indices = sorted(run["shard"].get("index") for run in shards)
    if indices != list(range(count)):
        missing = sorted(set(range(count)) - set(indices))
        twice = sorted({i for i in indices if indices.count(i) > 1})
        raise MergeError(f"session {session} has {count} shards: "
                         + "; ".join(filter(None, (f"missing {', '.join(f'{i}/{count}' for i in missing)}" if missing
                                                   else "", f"given twice {', '.join(f'{i}/{count}' for i in twice)}"
                                                   if twice else ""))))
    claim_files: dict[str, str] = {}
    for run in shards:
        for key, digest in (run.get("claim_files") or {}).items():
            if claim_files.setdefault(key, digest) != digest:
                raise MergeError(f"the shards were decided by different versions of the claim file {key}")
    ordered = sorted(shards, key=lambda run: run["shard"]["index"])
    merged: dict[str, Any] = {key: value for key, value in first.items()
                              if key not in (*_SECTIONS, "shard", "comparison", "gate", "claim_files")}
    merged["run_id"] = new_run_id()
    merged["started"] = min((run.get("started") or "" for run in shards), default=None) or None
    finished = [str(run["finished"]) for run in shards if run.get("finished")]
    merged["finished"] = max(finished) if len(finished) == len(shards) else None  # unfinished if any shard is
    merged["interrupted"] = any(run.get("interrupted") for run in shards)
    merged["environment"] = {**(ordered[0].get("environment") or {}), "shards": [
        {"index": run["shard"]["index"], "run_id": run.get("run_id"), "studies": run["shard"].get("studies"),
         **{k: v for k, v in (run.get("environment") or {}).items() if k not in ("packages", "suite")}}
        for run in ordered]}
    merged["environment"].pop("placement", None)
    merged["environment"].pop("placements", None)
    for section in _SECTIONS:
        placed = [(place, position, entry) for position, run in enumerate(ordered)
                  for place, entry in zip(run["shard"].get("order", {}).get(section, []), run.get(section, []))]
        if any(len(run["shard"].get("order", {}).get(section, [])) != len(run.get(section, [])) for run in ordered):
            raise MergeError(f"a shard's run does not record where its {section} go (written by another version?)")
        if placed or section != "method_checks":
            merged[section] = [entry for _, _, entry in sorted(placed, key=lambda item: (item[0], item[1]))]
    if claim_files:
        merged["claim_files"] = dict(sorted(claim_files.items()))
    merged["merged_from"] = [run.get("run_id") for run in ordered]
    return merged
