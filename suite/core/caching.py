"""What a shared cache needs: names for its entries, writes a killed process cannot tear, builds made once.

Every entry is written to a scratch file of a unique name and renamed into place, so readers (and
a process killed mid-write) see the old entry or the new one, never part of one. A built model is
made in a scratch directory and renamed into place under a lock, so two sessions sharing a cache
build it once and no reader sees half of it.
"""

from __future__ import annotations

import contextlib
import hashlib
import json
import os
import shutil
import tempfile
from collections.abc import Callable, Iterable
from pathlib import Path
from typing import IO, Any

from filelock import FileLock


class CacheRefused(OSError):
    """A cache path this suite will not write through: a build target or its lock that is a symbolic link
    (following it would write, or delete, wherever it points). The message is one line naming the path."""


def describe_os_error(error: OSError) -> str:
    """``error`` as a short phrase without its path ("No space left on device"), for a line naming the path."""
    return error.strerror or str(error) or type(error).__name__


def refuse_symlinked_build(target: Path) -> None:
    """Raise :class:`CacheRefused` if ``target`` or its build lock is a symbolic link."""
    _refuse_symlink(Path(target), "the build target")
    _refuse_symlink(Path(target).parent / f".{Path(target).name}.lock", "the build lock")


def _refuse_symlink(path: Path, what: str) -> None:
    if path.is_symlink():
        raise CacheRefused(f"refusing {what} {path}: it is a symbolic link (to {os.readlink(path)}); "
                           "remove it and run again")


def default_cache_dir() -> Path:
    """Where models and scores are cached when no option names a folder: ``$CLAIMS_CACHE_DIR``, else
    ``ranker-claims`` under ``$XDG_CACHE_HOME`` (``~/.cache``)."""
    return Path(os.environ.get("CLAIMS_CACHE_DIR")
                or Path(os.environ.get("XDG_CACHE_HOME", "~/.cache")) / "ranker-claims").expanduser()


def fingerprint_of(parts: Iterable[str]) -> str:
    """First 16 hex digits of the SHA-256 of ``parts`` concatenated: names a study's cache folder."""
    digest = hashlib.sha256()
    for part in parts:
        digest.update(part.encode())
    return digest.hexdigest()[:16]


def write_atomic(path: str | os.PathLike[str], write: Callable[[IO[bytes]], object]) -> Path:
    """``write`` into a scratch file of a unique name beside ``path``, then rename it over ``path``.

    Readers (and a process killed mid-write) see the old file or the new one, never part of one;
    two processes writing the same file never share a scratch file. The scratch name starts with a
    dot and ends in ``.tmp``, so no glob for entries or runs picks one up.
    """
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    try:
        mode = path.stat().st_mode & 0o777
    except FileNotFoundError:
        mode = 0o644  # not mkstemp's 0o600, which would hide a shared cache from its other users
    fd, scratch = tempfile.mkstemp(dir=path.parent, prefix=f".{path.name}.", suffix=".tmp")
    try:
        with os.fdopen(fd, "wb") as handle:
            write(handle)
            handle.flush()
            os.fsync(handle.fileno())
        os.chmod(scratch, mode)
        os.replace(scratch, path)
    except BaseException:
        with contextlib.suppress(OSError):
            os.unlink(scratch)
        raise
    _fsync_directory(path.parent)
    return path


def write_text_atomic(text: str, path: str | os.PathLike[str]) -> Path:
    """Write ``text`` (UTF-8) to ``path`` in one step, as :func:`write_atomic`."""
    return write_atomic(path, lambda handle: handle.write(text.encode("utf-8")))


def _fsync_directory(directory: Path) -> None:
    """Make the rename itself durable (where the platform allows opening a directory)."""
    try:
        fd = os.open(directory, os.O_RDONLY)
    except OSError:
        return
    try:
        os.fsync(fd)
    except OSError:
        pass
    finally:
        os.close(fd)


def build_once(target: Path, build: Callable[[Path], dict[str, Any]], *, marker: str) -> Path:
    """``target``, made by ``build(scratch) -> record`` unless a complete build is there.

    ``build`` writes the model into a scratch directory beside ``target``; its record is written
    there as ``marker`` last, and the directory renamed into place, so ``marker`` in ``target``
    means a complete build and no reader ever sees half of one. Builds hold a lock beside
    ``target``: a second process wanting the same build waits, then reuses the first's. A target or
    lock that is a symbolic link is refused (:class:`CacheRefused`), never followed.
    """
    target = Path(target)
    lock = target.parent / f".{target.name}.lock"
    _refuse_symlink(target, "the build target")
    if (target / marker).is_file():
        return target
    target.parent.mkdir(parents=True, exist_ok=True)
    _refuse_symlink(lock, "the build lock")
    with FileLock(lock):
        _refuse_symlink(target, "the build target")
        if (target / marker).is_file():
            return target
        for stale in target.parent.glob(f".{target.name}-*"):  # scratch of a killed build: only lock holders write one
            shutil.rmtree(stale, ignore_errors=True)
        scratch = Path(tempfile.mkdtemp(prefix=f".{target.name}-", dir=target.parent))
        try:
            record = build(scratch)
            (scratch / marker).write_text(json.dumps(record, indent=2))
            for path in scratch.rglob("*"):  # durable before the rename makes the build visible
                if path.is_file():
                    with open(path, "rb") as handle:
                        os.fsync(handle.fileno())
            os.chmod(scratch, 0o755)  # mkdtemp's 0o700 would hide a shared cache from its other users
            if target.exists():  # not a complete build (no marker): nothing can be reading it
                shutil.rmtree(target)
            os.replace(scratch, target)
        finally:
            shutil.rmtree(scratch, ignore_errors=True)
    return target
