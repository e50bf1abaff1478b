"""Faults in a study cache's files: entries cut short or garbled are discarded with a warning
naming them and recomputed, and a write that dies midway leaves nothing under the entry's name.

Every case writes a good entry first, damages it as a killed process, a full disk or a foreign
file would, and reads it back through a fresh cache (a rerun).
"""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import threading
import time
import warnings
from pathlib import Path

import numpy as np
import pytest

from ranker_claims.core.study import StudyCache

REPO = Path(__file__).resolve().parents[2]
VALUES = np.array([0.25, -1.5, 3.0, 7.0])
ARRAYS = {"a": np.arange(24, dtype=np.float32).reshape(2, 3, 4), "b": np.linspace(0, 1, 6)}


def _never() -> np.ndarray:
    raise AssertionError("recomputed a value the cache holds")


def _truncate(path: Path) -> None:
    path.write_bytes(path.read_bytes()[: len(path.read_bytes()) // 2])


JSON_DAMAGE = {
    "truncated": _truncate,
    "empty": lambda path: path.write_bytes(b""),
    "not utf-8": lambda path: path.write_bytes(b"\xff\xfe{\x00"),
    "a list": lambda path: path.write_text("[1.0, 2.0, 3.0, 7.0]"),
    "field missing": lambda path: path.write_text('{"key": "baseline"}'),
    "text values": lambda path: path.write_text('{"key": "baseline", "scores": ["a", "b", "c", "d"]}'),
    "object values": lambda path: path.write_text('{"key": "baseline", "scores": {"a": 1}}'),
}

NPZ_DAMAGE = {
    "truncated": _truncate,
    "empty": lambda path: path.write_bytes(b""),
    "garbage": lambda path: path.write_bytes(os.urandom(300)),
    "an array missing": lambda path: _write(path, lambda handle: np.savez_compressed(handle, a=ARRAYS["a"])),
    "an .npy, not an .npz": lambda path: _write(path, lambda handle: np.save(handle, ARRAYS["a"])),
    "a flipped byte": lambda path: path.write_bytes(_flip(path.read_bytes(), 60)),
}


def _write(path: Path, write) -> None:
    with path.open("wb") as handle:
        write(handle)


def _flip(data: bytes, at: int) -> bytes:
    return data[:at] + bytes([data[at] ^ 0xFF]) + data[at + 1 :]


def _one_warning_naming(caught: list[warnings.WarningMessage], path: Path) -> None:
    assert len(caught) == 1, [str(w.message) for w in caught]
    assert str(path) in str(caught[0].message) and "discarded" in str(caught[0].message)


@pytest.mark.parametrize("damage", list(JSON_DAMAGE))
def test_an_unreadable_score_file_is_discarded_with_a_warning_and_recomputed(tmp_path, damage):
    StudyCache(tmp_path, "scores", "f" * 16).vector("baseline", "scores", 4, lambda: VALUES)
    path = StudyCache(tmp_path, "scores", "f" * 16).path("baseline")
    JSON_DAMAGE[damage](path)

    rerun = StudyCache(tmp_path, "scores", "f" * 16)
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        assert rerun.vector("baseline", "scores", 4, lambda: VALUES * 2).tolist() == (VALUES * 2).tolist()
    _one_warning_naming(caught, path)
    assert json.loads(path.read_text()) == {"key": "baseline", "scores": (VALUES * 2).tolist()}
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        assert np.array_equal(StudyCache(tmp_path, "scores", "f" * 16).vector("baseline", "scores", 4, _never),
                              VALUES * 2)


@pytest.mark.parametrize("damage", list(NPZ_DAMAGE))
def test_an_unreadable_statistics_file_is_discarded_with_a_warning_and_recomputed(tmp_path, damage):
    StudyCache(tmp_path, "scores", "e" * 16).arrays("head-statistics", ("a", "b"), lambda: ARRAYS)
    path = StudyCache(tmp_path, "scores", "e" * 16).path("head-statistics", ".npz")
    NPZ_DAMAGE[damage](path)

    rerun = StudyCache(tmp_path, "scores", "e" * 16)
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        assert rerun.arrays("head-statistics", ("a", "b"), lambda: ARRAYS) is ARRAYS
    _one_warning_naming(caught, path)
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        read = StudyCache(tmp_path, "scores", "e" * 16).arrays("head-statistics", ("a", "b"), _never)
    assert all(np.array_equal(read[name], ARRAYS[name]) for name in ARRAYS)


def test_a_failed_recomputation_leaves_no_entry_to_trip_over_again(tmp_path):
    cache = StudyCache(tmp_path, "scores", "d" * 16)
    cache.path("k").parent.mkdir(parents=True)
    cache.path("k").write_text('{"key": "k", "sco')
    with pytest.warns(UserWarning, match="unreadable cache entry"), pytest.raises(RuntimeError, match="no model"):
        cache.vector("k", "scores", 4, lambda: (_ for _ in ()).throw(RuntimeError("no model")))
    assert not cache.path("k").exists()


# --------------------------------------------------------------------------- writes that die


class Killed(BaseException):
    """What a process sees of SIGKILL, as far as its files go: nothing after this point runs."""


def _entries(directory: Path) -> list[str]:
    return sorted(p.name for p in directory.iterdir())


def test_a_score_write_dying_before_its_rename_leaves_no_entry(tmp_path, monkeypatch):
    cache = StudyCache(tmp_path, "scores", "c" * 16)
    path = cache.path("baseline")
    synced = []

    def die(fd: int) -> None:
        synced.append(os.fstat(fd).st_size)
        assert not path.exists(), "the entry appeared before its file was complete"
        raise Killed

    monkeypatch.setattr(os, "fsync", die)
    with pytest.raises(Killed):
        cache.vector("baseline", "scores", 4, lambda: VALUES)
    monkeypatch.undo()
    assert synced and synced[0] > 0 and _entries(cache.directory) == []
    assert StudyCache(tmp_path, "scores", "c" * 16).vector("baseline", "scores", 4, lambda: VALUES).tolist() == \
        VALUES.tolist()


def test_a_statistics_write_dying_halfway_leaves_no_entry(tmp_path, monkeypatch):
    cache = StudyCache(tmp_path, "scores", "b" * 16)
    save = np.savez_compressed

    def half_then_die(handle, **arrays) -> None:
        save(handle, **arrays)
        handle.truncate(handle.tell() // 2)
        raise Killed

    monkeypatch.setattr(np, "savez_compressed", half_then_die)
    with pytest.raises(Killed):
        cache.arrays("head-statistics", ("a", "b"), lambda: ARRAYS)
    monkeypatch.undo()
    assert _entries(cache.directory) == []
    assert StudyCache(tmp_path, "scores", "b" * 16).arrays("head-statistics", ("a", "b"), lambda: ARRAYS) is ARRAYS


KILLED_WRITER = """
import sys
from pathlib import Path
import numpy as np
from ranker_claims.core.study import StudyCache
big = {"a": np.random.default_rng(0).normal(size=8_000_000)}  # incompressible: seconds to write
StudyCache(Path(sys.argv[1]), "scores", "a" * 16).arrays("head-statistics", ("a",), lambda: big)
"""


def test_a_process_killed_while_writing_statistics_leaves_no_entry(tmp_path):
    directory = tmp_path / "scores" / ("a" * 16)
    child = subprocess.Popen([sys.executable, "-c", KILLED_WRITER, str(tmp_path)], cwd=REPO)
    try:
        deadline = time.monotonic() + 60
        while not (directory.is_dir() and any(p.stat().st_size > 0 for p in directory.glob(".*.tmp"))):
            assert child.poll() is None, "the writer finished before it could be killed"
            assert time.monotonic() < deadline, "the writer never started writing"
            time.sleep(0.005)
        os.kill(child.pid, signal.SIGKILL)
    finally:
        child.wait()
    assert child.returncode == -signal.SIGKILL
    rerun = StudyCache(tmp_path, "scores", "a" * 16)
    assert not rerun.path("head-statistics", ".npz").exists()
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        assert rerun.arrays("head-statistics", ("a", "b"), lambda: ARRAYS) is ARRAYS


def test_two_writers_of_one_entry_never_share_a_scratch_file(tmp_path, monkeypatch):
    """Both write at the same moment (a barrier inside the write): each has its own scratch file."""
    save, both = np.savez_compressed, threading.Barrier(2, timeout=10)

    def in_step(handle, **arrays) -> None:
        both.wait()
        save(handle, **arrays)
        both.wait()

    monkeypatch.setattr(np, "savez_compressed", in_step)
    errors = []

    def write() -> None:
        try:
            StudyCache(tmp_path, "scores", "9" * 16).arrays("head-statistics", ("a", "b"), lambda: ARRAYS)
        except BaseException as error:  # reported below
            errors.append(error)

    threads = [threading.Thread(target=write) for _ in range(2)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    monkeypatch.undo()
    assert not errors
    cache = StudyCache(tmp_path, "scores", "9" * 16)
    assert _entries(cache.directory) == [cache.path("head-statistics", ".npz").name]
    read = cache.arrays("head-statistics", ("a", "b"), _never)
    assert all(np.array_equal(read[name], ARRAYS[name]) for name in ARRAYS)
