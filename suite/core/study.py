"""What every study offers the claims machinery, and the cache both kinds of study keep.

A study is a model measured on a collection. The machinery around claims (``Claim.result``,
the plugin, the study fixtures) needs only the contract in :class:`Study`; measurements type
against the concrete study of their wing.

Claims share conditions, so a study measures each one once: :class:`StudyCache` keeps the
values in memory and, given a cache root, under ``<root>/<kind>/<fingerprint>/`` where the
fingerprint hashes everything the values depend on (texts, weights, config, tokenizer, the
options that change numbers). A rerun, a run cut short and started again, or a second study of
the same inputs reads what was measured instead of recomputing it. Every entry is written to a
scratch file and renamed into place, so a killed process leaves no partial entry; an entry that
cannot be read anyway (a disk that lied) is discarded with a warning and recomputed.
"""

from __future__ import annotations

import contextlib
import hashlib
import json
import tempfile
import warnings
import zipfile
import zlib
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import Any, Protocol, TypeVar, runtime_checkable

import numpy as np

from ranker_claims.core.caching import describe_os_error, write_atomic
from ranker_claims.core.collections import Collection

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


def tokenizer_sha256(tokenizer: Any) -> str:
    """Hash of what turns text into token ids, so that a new vocabulary or normalisation misses the cache.

    A fast tokenizer's own serialisation holds its vocabulary, normaliser, pre-tokeniser, post-processor
    and added tokens; its truncation and padding are left out, since every call sets them anew. Any other
    tokenizer is hashed by the files ``save_pretrained`` writes. None (a model given without one) is a value.
    """
    if tokenizer is None:
        return "no tokenizer"
    digest = hashlib.sha256(type(tokenizer).__name__.encode())
    backend = getattr(tokenizer, "backend_tokenizer", None)
    if backend is not None:
        state = json.loads(backend.to_str())
        state.pop("truncation", None)
        state.pop("padding", None)
        digest.update(json.dumps(state).encode())  # to_str's own order (vocabularies by id) is stable
        return digest.hexdigest()
    with tempfile.TemporaryDirectory() as scratch:
        tokenizer.save_pretrained(scratch)
        for path in sorted(p for p in Path(scratch).rglob("*") if p.is_file()):
            digest.update(f"\n{path.relative_to(scratch)}\n".encode())
            digest.update(path.read_bytes())
    return digest.hexdigest()


def model_sha256(weights_sha256: str, config: Any, tokenizer: Any) -> str:
    """What a model computes from a text, as one hash: its weights, its tokenizer and its config.

    The config counts because the same weights compute other numbers under another head count,
    activation, norm epsilon, start token or attention implementation; the fields that only say
    where and with which version it was saved are left out.
    """
    state = json.loads(config.to_json_string(use_diff=False))
    state.pop("_name_or_path", None)
    state.pop("transformers_version", None)
    state["_attn_implementation"] = getattr(config, "_attn_implementation", None)
    parts = (weights_sha256, json.dumps(state, sort_keys=True), tokenizer_sha256(tokenizer))
    return hashlib.sha256("\n".join(parts).encode()).hexdigest()


class StudyCache:
    """One study's measured values: in memory, and on disk when given a cache root.

    Each key is stored in its own file named by the first 20 hex digits of the key's SHA-256;
    a JSON file also carries the key and is only read back when key and length match, so a
    stale or foreign file is recomputed rather than trusted. A file that cannot be read (cut
    short, garbled) is deleted with a warning naming it, then recomputed and written again. A write
    the disk refuses (full, read-only) warns once per cache root and the value is kept in memory only.
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

    def has(self, key: str, suffix: str = ".json") -> bool:
        """Whether ``key`` is held in memory or on disk (an unreadable file is found out when read)."""
        path = self.path(key, suffix)
        return (key, suffix) in self._memory or (path is not None and path.exists())

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
            try:
                stored = json.loads(path.read_bytes())
                values = np.asarray(stored[field], dtype=np.float64) if stored.get("key") == key else None
            except (OSError, ValueError, KeyError, TypeError, AttributeError) as error:
                _discard(path, error)
                values = None
            if values is not None and values.shape == (length,):
                self._memory[key, ".json"] = values
                return values
        values = compute()
        if path is not None:
            listed = values.tolist()
            if nan_as_null:
                listed = [None if np.isnan(v) else v for v in listed]
            text = json.dumps({"key": key, field: listed})
            _write_or_warn(path, lambda handle: handle.write(text.encode()))
        self._memory[key, ".json"] = values
        return values

    def arrays(
        self, key: str, names: Sequence[str], compute: Callable[[], dict[str, np.ndarray]]
    ) -> dict[str, np.ndarray]:
        """``compute()`` once per key, kept as a compressed ``.npz`` of the arrays ``names`` (written atomically)."""
        if (key, ".npz") in self._memory:
            return self._memory[key, ".npz"]
        path = self.path(key, suffix=".npz")
        if path is not None and path.exists():
            try:
                with open(path, "rb") as handle, np.load(handle) as stored:  # np.load leaks a file it fails on
                    self._memory[key, ".npz"] = {name: stored[name] for name in names}
                return self._memory[key, ".npz"]
            except (OSError, ValueError, KeyError, TypeError, EOFError, zipfile.BadZipFile, zlib.error) as error:
                _discard(path, error)
        values = compute()
        if path is not None:
            # numpy's stub lets **kwds meet allow_pickle: bool; every value here is an array.
            _write_or_warn(path, lambda handle: np.savez_compressed(handle, **values))  # type: ignore[arg-type]
        self._memory[key, ".npz"] = values
        return values

    def derived(self, key: str, compute: Callable[[], T]) -> T:
        """``compute()`` once per key, in memory only: results claims share within a session."""
        if key not in self._derived:
            self._derived[key] = compute()
        return self._derived[key]


#: Cache roots a write has failed under in this process: each is warned about once.
_UNWRITABLE: set[Path] = set()


def _write_or_warn(path: Path, write: Callable[[Any], object]) -> None:
    """Write an entry atomically; a disk that refuses it (full, read-only, no permission: any OSError) costs
    only the caching of that entry: one warning per cache root naming the path, and the run goes on."""
    try:
        write_atomic(path, write)
    except OSError as error:
        root = path.parents[2]
        if root not in _UNWRITABLE:
            _UNWRITABLE.add(root)
            warnings.warn(f"cannot write cache entry {path} ({describe_os_error(error)}): going on without caching "
                          f"it; later failed writes under {root} are not reported again", stacklevel=3)


def _discard(path: Path, error: Exception) -> None:
    """Warn that ``path`` is unreadable and delete it, so that it is recomputed instead of failing every rerun."""
    warnings.warn(f"unreadable cache entry {path} ({type(error).__name__}: {error}): discarded, recomputing",
                  stacklevel=3)
    with contextlib.suppress(OSError):
        path.unlink()
