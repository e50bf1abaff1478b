"""Model builds named by their content, made one thread each and side by side, checked against their hashes.

A build's bytes depend on what it reads (recipe, source, base weights, training data, package versions)
and, through the order of float sums, on how many threads multiply its matrices. So every build runs
on ONE thread, whatever the session's thread count, ``-n`` or load: the same inputs give the same bytes
on every machine of a kind. Builds that do not depend on each other run side by side in processes of
their own, which uses the cores better than two threads on matrices this small.

A build is named by :func:`content_key` over what decides its bytes, never a path: a second virtual
environment, a fresh clone or CI reuses the same cache entries. A build that depends on another (a DSI
model on its pre-trained T5) is keyed by the other's key, which decides the other's bytes, so a whole
plan is named before anything is built. After each build the weights' SHA-256 is compared with the hash
the repository expects for this platform; a difference is one warning naming both.
"""

from __future__ import annotations

import contextlib
import hashlib
import json
import os
import pickle
import platform
import subprocess
import sys
import tempfile
import time
import warnings
from collections.abc import Callable, Iterable, Iterator, Mapping, Sequence
from dataclasses import dataclass
from importlib import metadata
from pathlib import Path
from typing import Any

from ranker_claims.core.caching import build_once, refuse_symlinked_build

#: Packages whose versions decide the bytes a build writes (random streams, kernels, serialisation, defaults).
BUILD_PACKAGES = ("numpy", "torch", "transformers", "tokenizers", "safetensors")
POSITION_VARIABLE = "CLAIMS_BUILD_POSITION"  # read by the recipes' progress bars
MARKER = "build.json"  # written last: its presence means a complete build
WEIGHTS = "model.safetensors"


class BuildFailed(RuntimeError):
    """A build process did not finish its model."""


class BuildDiffers(UserWarning):
    """A build's weights are not the bytes the repository recorded for this platform."""


def sha256_file(path: str | os.PathLike[str]) -> str:
    digest = hashlib.sha256()
    with open(path, "rb") as handle:
        for block in iter(lambda: handle.read(1 << 20), b""):
            digest.update(block)
    return digest.hexdigest()


def directory_digest(directory: str | os.PathLike[str], patterns: Sequence[str]) -> str:
    """SHA-256 over the names and bytes of the files of ``directory`` matching ``patterns``: the content
    of a model or tokenizer directory, wherever it is installed."""
    digest = hashlib.sha256()
    for pattern in patterns:
        for path in sorted(Path(directory).glob(pattern)):
            digest.update(f"{path.name}\n{sha256_file(path)}\n".encode())
    return digest.hexdigest()


def content_key(kind: str, fields: Mapping[str, Any], *, sources: Iterable[str | os.PathLike[str]],
                inputs: Iterable[str]) -> str:
    """The 16-hex-digit name of a build: its kind and recipe ``fields``, the source files that build it,
    its ``inputs`` (digests of base weights, training data, the key of a build it starts from) and
    :data:`BUILD_PACKAGES`' versions. A field holding a path has no place here: pass its content among
    ``inputs``."""
    digest = hashlib.sha256(f"{kind}\n{json.dumps(dict(fields), sort_keys=True)}\n".encode())
    for source in sources:
        digest.update(f"{Path(source).name}\n{sha256_file(source)}\n".encode())
    for part in inputs:
        digest.update(f"{part}\n".encode())
    for name in BUILD_PACKAGES:
        digest.update(f"{name}=={metadata.version(name)}\n".encode())
    return digest.hexdigest()[:16]


def platform_key() -> str:
    """What besides a build's inputs decides its bytes at one thread: torch's version and the CPU kernels it picks."""
    import torch

    capability = torch.backends.cpu.get_cpu_capability()
    return f"torch {torch.__version__}, {platform.system()} {platform.machine()}, {capability}"


@dataclass(frozen=True)
class BuildJob:
    """One model to build into ``target`` by ``make(scratch) -> record``.

    ``make`` must be picklable (a module-level function or a ``functools.partial`` of one): it may run in a
    process of its own. ``requires`` are the targets it reads, built first; ``seconds`` is the estimate
    the plan announces; ``expected`` the weights' SHA-256 recorded for this platform, if any."""

    name: str
    target: Path
    make: Callable[[Path], dict[str, Any]]
    steps: int
    seconds: float
    requires: tuple[Path, ...] = ()
    expected: str | None = None

    @property
    def complete(self) -> bool:
        return (self.target / MARKER).is_file()


@contextlib.contextmanager
def one_thread() -> Iterator[None]:
    """Run torch on one thread inside, as every build does, and restore the count after."""
    import torch

    before = torch.get_num_threads()
    torch.set_num_threads(1)
    try:
        yield
    finally:
        torch.set_num_threads(before)


def _recorded(make: Callable[[Path], dict[str, Any]], scratch: Path) -> dict[str, Any]:
    record = make(scratch)
    weights = scratch / WEIGHTS
    return {**record, "threads": 1, "platform": platform_key(),
            **({"weights_sha256": sha256_file(weights)} if weights.is_file() else {})}


def build_job(job: BuildJob, position: int | None = None) -> dict[str, Any]:
    """Make ``job`` (one thread, under the cache's lock) unless it is complete; returns its build record.
    ``position``, in a build process, is the line its progress bar draws on."""
    if position is not None:
        os.environ[POSITION_VARIABLE] = str(position)
    with one_thread():
        build_once(job.target, lambda scratch: _recorded(job.make, scratch), marker=MARKER)
    return json.loads((job.target / MARKER).read_text())


def estimate_seconds(jobs: Sequence[BuildJob], workers: int) -> float:
    """Wall time of ``jobs`` on ``workers`` processes, each job started as early as its inputs allow."""
    free = [0.0] * max(1, workers)
    done: dict[Path, float] = {}
    for job in _ordered(jobs):
        slot = min(range(len(free)), key=free.__getitem__)
        start = max([free[slot], *(done.get(r, 0.0) for r in job.requires)])
        free[slot] = done[job.target] = start + job.seconds
    return max(done.values(), default=0.0)


def _ordered(jobs: Sequence[BuildJob]) -> list[BuildJob]:
    """Jobs with each after those it requires (stable otherwise); the same job listed twice counts once."""
    unique = list({job.target: job for job in jobs}.values())
    placed: list[BuildJob] = []
    while unique:
        ready = [j for j in unique if not set(j.requires) & {u.target for u in unique}]
        if not ready:
            raise ValueError(f"build jobs require each other: {', '.join(j.name for j in unique)}")
        placed += ready
        unique = [j for j in unique if j not in ready]
    return placed


def plan_line(jobs: Sequence[BuildJob], workers: int) -> str:
    """The one line a session prints before building: what, and about how long."""
    names = ", ".join(f"{job.name} ({job.steps} steps)" for job in _ordered(jobs))
    minutes = estimate_seconds(jobs, workers) / 60
    return (f"building {len(jobs)} model(s), one thread each, {workers} side by side: {names}; "
            f"about {minutes:.0f} min (cached for later runs)")


def run_builds(jobs: Sequence[BuildJob], *, workers: int | None = None,
               say: Callable[[str], None] = print) -> list[dict[str, Any]]:
    """Build every incomplete job, ``workers`` at a time (default: the cores this process may use), each
    after the jobs it requires; returns the records of the builds this call waited for. A build whose
    weights differ from the expected hash warns (:class:`BuildDiffers`)."""
    for job in jobs:  # before any build process starts: one line naming the link, not a child's traceback
        refuse_symlinked_build(job.target)
    pending = [job for job in _ordered(jobs) if not job.complete]
    if not pending:
        return []
    workers = max(1, min(workers or len(os.sched_getaffinity(0)), len(pending)))
    say(plan_line(pending, workers))
    records: list[dict[str, Any]] = []
    if workers == 1:
        for job in pending:
            records.append(_checked(job, build_job(job)))
        return records
    running: dict[Path, tuple[BuildJob, subprocess.Popen, int]] = {}
    waiting = list(pending)
    with tempfile.TemporaryDirectory(prefix="claims-builds-") as scratch:
        try:
            while waiting or running:
                blocked = {j.target for j in waiting} | set(running)
                for job in [j for j in waiting if not set(j.requires) & blocked][: workers - len(running)]:
                    position = min(set(range(workers)) - {p for _, _, p in running.values()})
                    running[job.target] = (job, _start(job, position, Path(scratch)), position)
                    waiting.remove(job)
                time.sleep(0.2)
                for target, (job, process, _) in list(running.items()):
                    if process.poll() is None:
                        continue
                    del running[target]
                    if process.returncode != 0:
                        raise BuildFailed(f"{job.name}: its build process exited with {process.returncode} "
                                          "(its traceback is above)")
                    records.append(_checked(job, json.loads((job.target / MARKER).read_text())))
        finally:
            for _, process, _ in running.values():
                process.terminate()
                process.wait()
    return records


def _start(job: BuildJob, position: int, scratch: Path) -> subprocess.Popen:
    """A process of its own for ``job`` (``python -m ranker_claims.core.builds``): nothing of the parent's threads,
    state or ``__main__`` is carried over. It draws its progress bar on line ``position`` of the terminal."""
    order = scratch / f"{job.target.name}.pickle"
    order.write_bytes(pickle.dumps(job))
    env = {**os.environ, "OMP_NUM_THREADS": "1", "MKL_NUM_THREADS": "1"}
    return subprocess.Popen([sys.executable, "-m", "ranker_claims.core.builds", str(order), str(position)], env=env)


def _checked(job: BuildJob, record: dict[str, Any]) -> dict[str, Any]:
    made = record.get("weights_sha256")
    if job.expected is not None and made is not None and made != job.expected:
        warnings.warn(BuildDiffers(f"{job.name}: weights {made[:16]} differ from the {job.expected[:16]} recorded "
                                   f"for {record.get('platform', platform_key())}; its verdicts may differ from the "
                                   "README's"), stacklevel=2)
    return {"name": job.name, "target": job.target.name, **{k: record.get(k) for k in
                                                             ("seconds", "weights_sha256", "platform")}}


if __name__ == "__main__":  # a build process started by run_builds: python -m ranker_claims.core.builds ORDER POSITION
    from transformers.utils import logging as transformers_logging

    transformers_logging.disable_progress_bar()  # loading and saving bars would break the build's own
    build_job(pickle.loads(Path(sys.argv[1]).read_bytes()), int(sys.argv[2]))
