"""Full and read-only disks, and cache paths that are symbolic links.

A cache entry the disk refuses costs only its caching: one warning naming the path, the value kept in
memory, the run going on. A run or report that cannot be written is named in one line, the verdicts
are still printed and the session exits non-zero (3); ``python -m ranker_claims.reports`` says so in one line. A
build target or lock that is a symbolic link is refused with one line naming it, never followed.

A full disk is a write that raises ``OSError(ENOSPC)`` (patched: tmpfs cannot be mounted here); a
read-only one ``EROFS``, or a folder without write permission where the tests do not run as root.
"""

from __future__ import annotations

import errno
import io
import os
import shutil
import subprocess
import sys
import warnings
from pathlib import Path

import numpy as np
import pytest

import ranker_claims.reports.__main__ as reports_main
from ranker_claims.core import caching
from ranker_claims.core.builds import BuildJob, run_builds
from ranker_claims.core.caching import CacheRefused, build_once
from ranker_claims.core.runs import new_run, save_run
from ranker_claims.core.study import StudyCache
from tests.faults.test_models import tiny_cross_encoder

REPO = Path(__file__).resolve().parents[2]
ONE_CLAIM = ("-k", "CE-1 and not CE-10 and not CE-11 and not CE-12")
SMALL = ("--claims-max-queries", "4", "--claims-depth", "6", "--claims-bootstrap", "100", "-p", "no:cacheprovider")
AS_ROOT = os.geteuid() == 0  # root writes through a folder's missing write permission


class _Refusing(io.RawIOBase):
    """A file whose every write fails as a full (or read-only) disk's does."""

    def __init__(self, code: int) -> None:
        self.code = code

    def writable(self) -> bool:
        return True

    def write(self, data) -> int:
        raise OSError(self.code, os.strerror(self.code))


def _refusing_disk(monkeypatch: pytest.MonkeyPatch, code: int = errno.ENOSPC) -> None:
    """Every atomic write's scratch file takes no byte (its descriptor closed, as the write fails)."""
    def fdopen(fd: int, mode: str = "r", *args, **kwargs):
        os.close(fd)
        return io.BufferedWriter(_Refusing(code))

    monkeypatch.setattr(caching.os, "fdopen", fdopen)


def _files(directory: Path) -> list[str]:
    return sorted(str(p.relative_to(directory)) for p in directory.rglob("*") if p.is_file())


@pytest.mark.parametrize("code", [errno.ENOSPC, errno.EROFS], ids=["full", "read-only"])
def test_a_refused_cache_write_warns_once_naming_the_path_and_keeps_the_value(tmp_path, monkeypatch, code):
    _refusing_disk(monkeypatch, code)
    cache = StudyCache(tmp_path, "scores", "f" * 16)
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        first = cache.vector("baseline", "scores", 3, lambda: np.array([1.0, 2.0, 3.0]))
        second = cache.vector("ablated", "scores", 3, lambda: np.array([0.5, 2.0, 3.0]))
        arrays = cache.arrays("head-statistics", ("a",), lambda: {"a": np.arange(4.0)})
    assert first.tolist() == [1.0, 2.0, 3.0] and second.tolist() == [0.5, 2.0, 3.0]
    assert arrays["a"].tolist() == [0.0, 1.0, 2.0, 3.0]
    messages = [str(w.message) for w in caught]
    assert len(messages) == 1, messages
    assert str(cache.path("baseline")) in messages[0] and os.strerror(code) in messages[0], messages
    # In memory for the session, nothing (not even a scratch file) on disk.
    assert cache.vector("baseline", "scores", 3, lambda: pytest.fail("recomputed")) is first
    assert _files(tmp_path) == []


@pytest.mark.skipif(AS_ROOT, reason="root writes into a read-only folder")
def test_a_read_only_cache_folder_warns_once_and_the_values_are_kept(tmp_path):
    (tmp_path / "scores").mkdir()
    (tmp_path / "scores").chmod(0o555)
    try:
        cache = StudyCache(tmp_path, "scores", "e" * 16)
        with warnings.catch_warnings(record=True) as caught:
            warnings.simplefilter("always")
            cache.vector("baseline", "scores", 2, lambda: np.array([1.0, 2.0]))
            cache.vector("ablated", "scores", 2, lambda: np.array([1.0, 3.0]))
        assert len(caught) == 1 and "cannot write cache entry" in str(caught[0].message) and str(cache.path("baseline")) in str(caught[0].message)
    finally:
        (tmp_path / "scores").chmod(0o755)


# --------------------------------------------------------------------------- the run and the report

FULL_DISK_PLUGIN = '''
import errno, os
import ranker_claims.reports.page
import ranker_claims.core.runs


def _full(path, *args, **kwargs):
    raise OSError(errno.ENOSPC, os.strerror(errno.ENOSPC))


ranker_claims.core.runs.write_atomic = _full        # every run save
ranker_claims.reports.page.write_text_atomic = _full      # the report
'''


@pytest.fixture(scope="module")
def cross_encoder(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return tiny_cross_encoder(tmp_path_factory.mktemp("models") / "tiny-bert")


def test_a_run_and_report_on_a_full_disk_are_named_and_the_verdicts_still_shown(pytester, cross_encoder):
    shutil.copytree(REPO / "claims", pytester.path / "claims", ignore=shutil.ignore_patterns("__pycache__"))
    (pytester.path / "full_disk.py").write_text(FULL_DISK_PLUGIN)
    out = pytester.path / "out"
    result = pytester.runpytest_subprocess(
        "claims/", "-p", "full_disk", "--claims-output-dir", str(out), "--claims-cache-dir",
        str(pytester.path / "cache"), "--claims-model", str(cross_encoder), *ONE_CLAIM, *SMALL)
    text = "\n".join(result.outlines + result.errlines)
    assert result.ret == 3, text
    assert "Traceback" not in text and "INTERNALERROR" not in text, text
    run_lines = [line for line in result.outlines if "cannot write the run to" in line]
    assert len(run_lines) == 2, text  # said once as it happened, once more in the summary
    assert str(out / "runs") in run_lines[0] and "No space left on device" in run_lines[0]
    assert any(f"cannot write the report to {out / 'report.html'} (No space left on device)" in line
               for line in result.outlines), text
    summary = text[text.index("claim verdicts"):]
    assert " CE-1 " in summary and "tiny-bert" in summary


def test_a_session_whose_output_folder_is_a_file_names_it_and_exits_non_zero(pytester, cross_encoder):
    shutil.copytree(REPO / "claims", pytester.path / "claims", ignore=shutil.ignore_patterns("__pycache__"))
    (pytester.path / "out").write_text("not a folder")
    result = pytester.runpytest_subprocess(
        "claims/", "--claims-output-dir", "out", "--claims-cache-dir", str(pytester.path / "cache"),
        "--claims-model", str(cross_encoder), *ONE_CLAIM, *SMALL)
    text = "\n".join(result.outlines + result.errlines)
    assert result.ret == 3 and "Traceback" not in text, text
    assert "cannot write the run to" in text and "(Not a directory)" in text, text
    assert "claim verdicts" in text


@pytest.fixture
def saved_run(tmp_path) -> Path:
    run = new_run({"models": ["m"]}, {"python": "3.11", "packages": {}})
    run["finished"] = run["started"]
    return save_run(run, tmp_path / "run.json")


def test_the_report_command_names_an_unwritable_output_in_one_line(saved_run, tmp_path, capsys, monkeypatch):
    (tmp_path / "afile").write_text("")
    assert reports_main.main([str(saved_run), "-o", str(tmp_path / "afile" / "r.html")]) == 1
    captured = capsys.readouterr()
    assert captured.out == ""
    assert captured.err == f"error: cannot write the report to {tmp_path / 'afile' / 'r.html'}: File exists\n"

    _refusing_disk(monkeypatch, errno.EROFS)
    assert reports_main.main([str(saved_run), "-o", str(tmp_path / "r.html")]) == 1
    assert capsys.readouterr().err == \
        f"error: cannot write the report to {tmp_path / 'r.html'}: Read-only file system\n"
    assert not (tmp_path / "r.html").exists()


@pytest.mark.skipif(AS_ROOT, reason="root writes into a read-only folder")
def test_the_report_command_into_a_read_only_folder_is_one_line(saved_run, tmp_path):
    (tmp_path / "ro").mkdir()
    (tmp_path / "ro").chmod(0o555)
    try:
        done = subprocess.run([sys.executable, "-m", "ranker_claims.reports", str(saved_run), "-o", str(tmp_path / "ro" / "r.html")],
                              cwd=REPO, capture_output=True, text=True, check=False)
    finally:
        (tmp_path / "ro").chmod(0o755)
    assert done.returncode == 1 and done.stderr.count("\n") == 1, done.stderr
    assert done.stderr.startswith(f"error: cannot write the report to {tmp_path / 'ro' / 'r.html'}: ")


# --------------------------------------------------------------------------- symbolic links


def _build(scratch: Path) -> dict:
    (scratch / "weights").write_text("built")
    return {"made": True}


def test_a_symlinked_build_target_is_refused_naming_it(tmp_path):
    elsewhere = tmp_path / "elsewhere"
    elsewhere.mkdir()
    (elsewhere / "keep").write_text("not the cache's")
    target = tmp_path / "models" / "model-0123"
    target.parent.mkdir()
    target.symlink_to(elsewhere)
    with pytest.raises(CacheRefused) as refused:
        build_once(target, _build, marker="build.json")
    assert str(refused.value) == (f"refusing the build target {target}: it is a symbolic link (to {elsewhere}); "
                                  "remove it and run again")
    assert (elsewhere / "keep").read_text() == "not the cache's" and _files(elsewhere) == ["keep"]


def test_a_symlinked_build_lock_is_refused_and_its_target_untouched(tmp_path):
    victim = tmp_path / "victim.txt"
    victim.write_text("precious")
    target = tmp_path / "models" / "model-0123"
    target.parent.mkdir()
    (target.parent / ".model-0123.lock").symlink_to(victim)
    with pytest.raises(CacheRefused, match=r"refusing the build lock .*\.model-0123\.lock: it is a symbolic link"):
        build_once(target, _build, marker="build.json")
    assert victim.read_text() == "precious" and not target.exists()


def test_builds_in_processes_refuse_a_symlink_before_starting_any(tmp_path):
    target = tmp_path / "models" / "b-1"
    target.parent.mkdir()
    target.symlink_to(tmp_path)
    jobs = [BuildJob("a", tmp_path / "models" / "a-1", _build, 1, 1.0), BuildJob("b", target, _build, 1, 1.0)]
    said = []
    with pytest.raises(CacheRefused, match=r"refusing the build target .*b-1: it is a symbolic link"):
        run_builds(jobs, workers=2, say=said.append)
    assert said == [] and not (tmp_path / "models" / "a-1").exists()


def test_a_session_refuses_a_symlinked_build_in_one_line(pytester):
    """The planted cross-encoder built, then moved and linked back: the session stops (exit 4) with one line."""
    from ranker_claims.cross_encoder.planted import build_planted_cross_encoder

    shutil.copytree(REPO / "claims", pytester.path / "claims", ignore=shutil.ignore_patterns("__pycache__"))
    directory = pytester.path / "cache" / "planted" / "seed-0"
    built = Path(build_planted_cross_encoder(directory).path)
    moved = shutil.move(built, pytester.path / "moved")
    built.symlink_to(moved)
    result = pytester.runpytest_subprocess("claims/", "-k", "test_planted_mechanism", "--claims-cache-dir",
                                           str(pytester.path / "cache"), "--claims-output-dir", "out",
                                           "-p", "no:cacheprovider")
    text = "\n".join(result.outlines + result.errlines)
    assert result.ret == pytest.ExitCode.USAGE_ERROR, text
    assert "Traceback" not in text and "INTERNALERROR" not in text, text
    refusals = [line for line in result.outlines if "refusing the build target" in line]
    assert len(refusals) == 1 and f"{built}: it is a symbolic link (to {moved})" in refusals[0], text
