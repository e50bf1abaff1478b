"""Model builds under concurrency and failure: one build per model, never a half-written one.

Two processes wanting the same model (an embedded model's ``cached_build``, a planted model)
must build it once, the second waiting and then reusing the first's build, while a reader
polling the cache sees either nothing or a complete model. A build that dies leaves no model,
no lock held and, once the next build is done, no scratch behind. The planted DSI model is real
(a second to build); the rest are toy builds.
"""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import threading
import time
from collections.abc import Callable
from pathlib import Path

import pytest

from ranker_claims.core.caching import build_once
from ranker_claims.fixtures.building import cached_build

REPO = Path(__file__).resolve().parents[2]
TOY_FILES = ["build.json", "config.json", "model.safetensors"]
TOY_WEIGHTS = 2_000_000
DSI_FILES = ["config.json", "docids.json", "generation_config.json", "model.safetensors", "planted.json",
             "tokenizer.json", "tokenizer_config.json"]

# argv: cache dir, build counter, ready dir, go file. Each child says it is ready (imports done),
# waits for the go, then asks for the same build; the build is slow enough for the other to arrive.
TOY_CHILD = """
import os, sys, time
from pathlib import Path
from ranker_claims.fixtures.building import cached_build
cache, counter, ready, go = (Path(a) for a in sys.argv[1:5])

def build(scratch):
    with counter.open("a") as out:
        out.write("built\\n")
    (scratch / "model.safetensors").write_bytes(bytes(%d))
    time.sleep(float(os.environ.get("TOY_BUILD_SECONDS", "0.5")))
    (scratch / "config.json").write_text("{}")
    return {"steps": 1}

(ready / str(os.getpid())).touch()
while not go.exists():
    time.sleep(0.002)
print(cached_build("toy", "0123abcd", cache, build))
""" % TOY_WEIGHTS  # noqa: UP031 - the child's source has braces, which % leaves alone

# argv: planted directory, build counter. Builds the planted DSI model, slowly, and loads it.
DSI_CHILD = """
import sys, time
from pathlib import Path
from ranker_claims.generative import planted
from ranker_claims.generative.model import GenerativeRetriever
directory, counter = (Path(a) for a in sys.argv[1:3])
write = planted._write

def slow(scratch, seed):
    with counter.open("a") as out:
        out.write("built\\n")
    time.sleep(1.0)
    return write(scratch, seed)

planted._write = slow
built = planted.build_planted_generative(directory, seed=0)
print(built.path, len(GenerativeRetriever.load(built.path).docids))
"""


def _complete(entry: Path, files: list[str]) -> None:
    """What a loader may rely on: every file there, and whole."""
    assert sorted(p.name for p in entry.iterdir()) == files, f"{entry} is incomplete"
    for path in entry.glob("*.json"):
        json.loads(path.read_text())
    weights = (entry / "model.safetensors").read_bytes()
    if files is TOY_FILES:
        assert len(weights) == TOY_WEIGHTS
        return
    size = int.from_bytes(weights[:8], "little")
    header = json.loads(weights[8 : 8 + size])
    end = max(tensor["data_offsets"][1] for name, tensor in header.items() if name != "__metadata__")
    assert len(weights) == 8 + size + end, f"{entry / 'model.safetensors'} is cut short"


def _never(*args: object) -> dict:
    raise AssertionError("rebuilt a complete build")


class _Watcher(threading.Thread):
    """Polls ``directory`` as a loader would: every model it could pick up must be complete, and
    stay as it was first seen (a model rewritten in place is what a loader trips over).

    ``during`` counts the polls that fell while a build was in progress (a scratch directory
    present): the proof that it watched the build, not only its result.
    """

    def __init__(self, directory: Path, files: list[str]) -> None:
        super().__init__(daemon=True)
        self.directory, self.files = directory, files
        self.during, self.failure, self.stop = 0, None, threading.Event()

    def run(self) -> None:
        seen: dict[str, list[tuple[str, int, int]]] = {}
        try:
            while not self.stop.is_set():
                entries = list(self.directory.iterdir()) if self.directory.is_dir() else []
                self.during += any(e.name.startswith(".") and e.is_dir() for e in entries)
                for entry in entries:
                    if entry.name.startswith("."):
                        continue
                    state = sorted((p.name, p.stat().st_size, p.stat().st_mtime_ns) for p in entry.iterdir())
                    if entry.name not in seen:
                        _complete(entry, self.files)
                        seen[entry.name] = state
                    assert state == seen[entry.name], f"{entry} changed after it appeared"
                time.sleep(0.002)
        except Exception as error:  # reported by result(), in the test's thread
            self.failure = error

    def result(self) -> int:
        self.stop.set()
        self.join()
        if self.failure is not None:
            raise self.failure
        return self.during


def test_two_processes_wanting_one_cached_build_build_it_once(tmp_path):
    cache, counter, ready, go = tmp_path / "cache", tmp_path / "builds.txt", tmp_path / "ready", tmp_path / "go"
    ready.mkdir()
    args = [str(cache), str(counter), str(ready), str(go)]
    children = [subprocess.Popen([sys.executable, "-c", TOY_CHILD, *args], cwd=REPO, stdout=subprocess.PIPE,
                                 text=True) for _ in range(2)]
    watcher = _Watcher(cache / "models", TOY_FILES)
    try:
        deadline = time.monotonic() + 60
        while len(list(ready.iterdir())) < 2:
            assert all(child.poll() is None for child in children), "a child died before the race"
            assert time.monotonic() < deadline, "the children never got ready"
            time.sleep(0.01)
        watcher.start()
        go.touch()
        outputs = [child.communicate(timeout=60)[0].strip() for child in children]
    finally:
        for child in children:
            if child.poll() is None:
                child.kill()
    assert watcher.result() > 0
    assert [child.returncode for child in children] == [0, 0], outputs
    assert counter.read_text().splitlines() == ["built"], "the model was built more than once"
    assert outputs[0] == outputs[1] == str(cache / "models" / "toy-0123abcd")
    _complete(Path(outputs[0]), TOY_FILES)


def test_a_planted_model_another_process_is_building_is_waited_for_then_loaded(tmp_path, monkeypatch):
    """The issue's case: a harness loads the planted model while another process builds it."""
    from ranker_claims.generative import planted
    from ranker_claims.generative.model import GenerativeRetriever

    directory, counter = tmp_path / "planted-generative", tmp_path / "builds.txt"
    child = subprocess.Popen([sys.executable, "-c", DSI_CHILD, str(directory), str(counter)], cwd=REPO,
                             stdout=subprocess.PIPE, text=True)
    watcher = _Watcher(directory, DSI_FILES)
    try:
        deadline = time.monotonic() + 120
        while not (counter.exists() and counter.read_text()):  # the child holds the lock and is building
            assert child.poll() is None, "the builder died"
            assert time.monotonic() < deadline, "the build never started"
            time.sleep(0.01)
        watcher.start()
        monkeypatch.setattr(planted, "_write", _never)
        built = planted.build_planted_generative(directory, seed=0)
        output = child.communicate(timeout=120)[0].split()
    finally:
        if child.poll() is None:
            child.kill()
    assert watcher.result() > 0
    assert child.returncode == 0 and output == [str(built.path), "16"]
    assert counter.read_text().splitlines() == ["built"]
    assert len(GenerativeRetriever.load(built.path).docids) == 16
    assert [p.name for p in directory.iterdir() if not p.name.startswith(".")] == [built.path.name]


# --------------------------------------------------------------------------- builds that die


class Killed(BaseException):
    """What a process sees of SIGKILL, as far as its files go: nothing after this point runs."""


def _toy(scratch: Path) -> dict:
    (scratch / "model.safetensors").write_bytes(bytes(TOY_WEIGHTS))
    (scratch / "config.json").write_text("{}")
    return {"steps": 1}


def test_a_build_dying_midway_leaves_no_model_and_the_next_one_builds(tmp_path):
    def dies(scratch: Path) -> dict:
        (scratch / "model.safetensors").write_bytes(bytes(100))
        raise Killed

    with pytest.raises(Killed):
        cached_build("toy", "0123abcd", tmp_path, dies)
    assert [p.name for p in (tmp_path / "models").iterdir() if not p.name.endswith(".lock")] == []
    _complete(cached_build("toy", "0123abcd", tmp_path, _toy), TOY_FILES)


def test_a_process_killed_while_building_leaves_no_model_and_no_lock(tmp_path):
    """SIGKILL mid-build: the OS drops the lock, so the next build neither hangs nor finds half a model."""
    counter, ready, go = tmp_path / "builds.txt", tmp_path / "ready", tmp_path / "go"
    ready.mkdir()
    go.touch()
    args = [str(tmp_path / "cache"), str(counter), str(ready), str(go)]
    child = subprocess.Popen([sys.executable, "-c", TOY_CHILD, *args], cwd=REPO, stdout=subprocess.DEVNULL,
                             env={**os.environ, "TOY_BUILD_SECONDS": "60"})
    try:
        deadline = time.monotonic() + 60
        while not (counter.exists() and counter.read_text()):
            assert child.poll() is None and time.monotonic() < deadline, "the build never started"
            time.sleep(0.01)
        os.kill(child.pid, signal.SIGKILL)
    finally:
        child.wait()
    models = tmp_path / "cache" / "models"
    assert [p.name for p in models.iterdir() if not p.name.startswith(".")] == []
    again = subprocess.run([sys.executable, "-c", TOY_CHILD, *args], cwd=REPO, capture_output=True, text=True,
                           env={**os.environ, "TOY_BUILD_SECONDS": "0"}, timeout=60)
    assert again.returncode == 0, again.stderr
    _complete(Path(again.stdout.strip()), TOY_FILES)
    assert sorted(p.name for p in models.iterdir()) == [".toy-0123abcd.lock", "toy-0123abcd"]  # the dead scratch too


def test_a_directory_without_its_marker_is_built_over(tmp_path):
    """An emptied or hand-made directory at the build's place is not a build: it is replaced, not trusted."""
    target = tmp_path / "models" / "toy-0123abcd"
    target.mkdir(parents=True)
    (target / "config.json").write_text("{}")
    _complete(build_once(target, _toy, marker="build.json"), TOY_FILES)


# --------------------------------------------------------------------------- the planted builds, reused


def _files(directory: Path) -> dict[str, int]:
    return {p.name: p.stat().st_mtime_ns for p in directory.iterdir()}


@pytest.mark.parametrize("wing", ["cross_encoder", "generative"])
def test_a_complete_planted_build_is_reused_untouched_and_another_seed_builds_anew(tmp_path, monkeypatch, wing):
    if wing == "cross_encoder":
        from ranker_claims.cross_encoder import planted

        build: Callable = planted.build_planted_cross_encoder
    else:
        from ranker_claims.generative import planted

        build = planted.build_planted_generative
    first = build(tmp_path, seed=0)
    assert json.loads((first.path / "planted.json").read_text())["seed"] == 0
    before = _files(first.path)
    monkeypatch.setattr(planted, "_write", _never)
    assert build(tmp_path, seed=0).path == first.path and _files(first.path) == before
    monkeypatch.undo()
    other = build(tmp_path, seed=1)
    assert other.path != first.path and json.loads((other.path / "planted.json").read_text())["seed"] == 1
