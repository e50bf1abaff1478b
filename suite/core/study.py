"""What every study offers the claims machinery, and the cache both kinds of study keep.

A study is a model measured on a collection. The machinery around claims (``Claim.result``,
the plugin, the study fixtures) needs only the contract in :class:`Study`; measurements type
against the concrete study of their wing.

Claims share conditions, so a study measures each one once: :class:`StudyCache` keeps the
values in memory and, given a cache root, under ``<root>/<kind>/<fingerprint>/`` where the
fingerprint hashes everything the values depend on. A rerun, a run cut short and started
again, or a second study of the same inputs reads what was measured instead of recomputing it.
"""

from __future__ import annotations

import hashlib
import json
from collections.abc import Callable, Iterable, Sequence
from pathlib import Path
from typing import Any, Protocol, TypeVar, runtime_checkable

import numpy as np

from suite.core.collections import Collection
from suite.core.runs import write_text_atomic

T = TypeVar("T")


class NamedModel(Protocol):
    """The part of a model a claim result records."""

    @property
    def name(self) -> str: ...


@runtime_checkable
class Study(Protocol):
    """A model on a collection, as ``Claim.result``, the plugin and the study fixtures use it."""

    @property
    def model(self) -> NamedModel: ...

    @property
    def collection(self) -> Collection: ...

    def recorded_options(self) -> dict[str, Any]:
        """Study-level options that change what a claim measures: recorded with every result."""

    def describe(self) -> dict[str, Any]:
        """The measured target (queries, exclusions, settings) as the run records it."""

    def derived(self, key: str, compute: Callable[[], T]) -> T:
        """A result several claims share, computed once per study."""


def fingerprint_of(parts: Iterable[str]) -> str:
    """First 16 hex digits of the SHA-256 of ``parts`` concatenated: names a study's cache folder."""
    digest = hashlib.sha256()
    for part in parts:
        digest.update(part.encode())
    return digest.hexdigest()[:16]


class StudyCache:
    """One study's measured values: in memory, and on disk when given a cache root.

    Each key is stored in its own file named by the first 20 hex digits of the key's SHA-256;
    a JSON file also carries the key and is only read back when key and length match, so a
    stale or foreign file is recomputed rather than trusted.
    """

    def __init__(self, root: Path | None, kind: str, fingerprint: str) -> None:
        self.fingerprint = fingerprint
        self.directory = Path(root) / kind / fingerprint if root is not None else None
        self._memory: dict[tuple[str, str], Any] = {}  # (key, file suffix): JSON and npz keys never collide
        self._derived: dict[str, Any] = {}

    def path(self, key: str, suffix: str = ".json") -> Path | None:
        """Where ``key`` is stored (None without a cache root)."""
        if self.directory is None:
            return None
        return self.directory / f"{hashlib.sha256(key.encode()).hexdigest()[:20]}{suffix}"

    def vector(
        self, key: str, field: str, length: int, compute: Callable[[], np.ndarray], *, nan_as_null: bool = False
    ) -> np.ndarray:
        """``compute()`` once per key, kept as ``{"key": key, field: [...]}`` (written atomically).

        Read back as float64. ``nan_as_null`` writes NaN as JSON ``null`` (read back as NaN);
        without it NaN is written as Python's ``json`` does.
        """
        if (key, ".json") in self._memory:
            return self._memory[key, ".json"]
        path = self.path(key)
        if path is not None and path.exists():
            stored = json.loads(path.read_text())
            if stored.get("key") == key and len(stored[field]) == length:
                self._memory[key, ".json"] = np.asarray(stored[field], dtype=np.float64)
                return self._memory[key, ".json"]
        values = compute()
        if path is not None:
            listed = values.tolist()
            if nan_as_null:
                listed = [None if np.isnan(v) else v for v in listed]
            write_text_atomic(json.dumps({"key": key, field: listed}), path)
        self._memory[key, ".json"] = values
        return values

    def arrays(
        self, key: str, names: Sequence[str], compute: Callable[[], dict[str, np.ndarray]]
    ) -> dict[str, np.ndarray]:
        """``compute()`` once per key, kept as a compressed ``.npz`` holding the arrays ``names``.

        Written to a scratch file and renamed, so a run killed mid-write leaves no partial file.
        """
        if (key, ".npz") in self._memory:
            return self._memory[key, ".npz"]
        path = self.path(key, suffix=".npz")
        if path is not None and path.exists():
            with np.load(path) as stored:
                self._memory[key, ".npz"] = {name: stored[name] for name in names}
            return self._memory[key, ".npz"]
        values = compute()
        if path is not None:
            path.parent.mkdir(parents=True, exist_ok=True)
            scratch = path.with_suffix(".tmp.npz")
            np.savez_compressed(scratch, **values)
            scratch.replace(path)
        self._memory[key, ".npz"] = values
        return values

    def derived(self, key: str, compute: Callable[[], T]) -> T:
        """``compute()`` once per key, in memory only: results claims share within a session."""
        if key not in self._derived:
            self._derived[key] = compute()
        return self._derived[key]
