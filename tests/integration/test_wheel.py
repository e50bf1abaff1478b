"""The project as a user installs it: a wheel, in a fresh virtual environment outside the repository.

The wheel is built from a copy of this tree and installed with its dependencies from the package
registry (no network beyond it; torch's CPU build is named first, as the README's setup does). In that
environment the shipped claims run through ``pytest --pyargs`` on a tiny model and collection, the
command line works, and the PyPI ``fixtures`` distribution installs beside it with both importable.
"""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
import zipfile
from pathlib import Path

import pytest

from tests.faults.test_degenerate_collections import QIDS, _collection, _pool
from tests.faults.test_models import tiny_cross_encoder

pytestmark = pytest.mark.slow

REPO = Path(__file__).resolve().parents[2]
_NOT_SOURCE = shutil.ignore_patterns(".git", ".claims", "build", "dist", "*.egg-info", "__pycache__", ".ruff_cache",
                                     ".mypy_cache", ".hypothesis", "__editable__*")


def _run(*command: str | Path, cwd: Path, timeout: int = 900) -> subprocess.CompletedProcess:
    """A command with the environment a new user's shell has: nothing of this checkout on the path."""
    env = {key: value for key, value in os.environ.items() if key not in ("PYTHONPATH", "VIRTUAL_ENV")}
    done = subprocess.run([str(part) for part in command], cwd=cwd, env=env, capture_output=True, text=True,
                          timeout=timeout)
    assert done.returncode == 0, f"{command}\n{done.stdout[-6000:]}\n{done.stderr[-6000:]}"
    return done


@pytest.fixture(scope="module")
def wheel(tmp_path_factory: pytest.TempPathFactory) -> Path:
    source = tmp_path_factory.mktemp("source") / "ranker-claims"
    shutil.copytree(REPO, source, ignore=_NOT_SOURCE)
    dist = tmp_path_factory.mktemp("dist")
    _run(sys.executable, "-m", "pip", "wheel", "--quiet", "--no-deps", "--no-build-isolation", "-w", dist, source,
         cwd=dist)
    (built,) = dist.glob("ranker_claims-*.whl")
    return built


@pytest.fixture(scope="module")
def venv(wheel: Path, tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A fresh environment holding the wheel, its dependencies, and the PyPI ``fixtures`` beside it."""
    root = tmp_path_factory.mktemp("venv") / "env"
    _run(sys.executable, "-m", "venv", root, cwd=root.parent)
    _run(root / "bin" / "python", "-m", "pip", "install", "--quiet", "torch==2.13.0", wheel, "fixtures",
         cwd=root.parent)
    return root


def test_the_wheel_holds_one_namespace_with_its_claims(wheel: Path):
    names = zipfile.ZipFile(wheel).namelist()
    tops = {name.split("/")[0] for name in names if not name.split("/")[0].endswith(".dist-info")}
    assert tops == {"ranker_claims"}
    for shipped in ("ranker_claims/claims/cross_encoder.toml", "ranker_claims/claims/generative.toml",
                    "ranker_claims/claims/test_method_checks.py", "ranker_claims/py.typed",
                    "ranker_claims/fixtures/expected_weights.json", "ranker_claims/reports/static/report.js",
                    "ranker_claims/core/stats/__init__.py", "ranker_claims/cli.py"):
        assert shipped in names, shipped
    # Every package of the tree is in the wheel: pyproject lists them by hand.
    packages = {str(p.parent.relative_to(REPO)) for p in REPO.glob("**/__init__.py")
                if p.parts[len(REPO.parts)] in ("suite", "fixtures", "reports", "claims")}
    for package in packages:
        folder, _, rest = package.partition("/")
        inside = {"suite": "ranker_claims"}.get(folder, f"ranker_claims/{folder}") + (f"/{rest}" if rest else "")
        assert f"{inside}/__init__.py" in names, package


def test_the_installed_claims_run_through_pyargs(venv: Path, tmp_path: Path):
    pools = {qid: _pool(i) for i, qid in enumerate(QIDS)}
    collection = tmp_path / _collection(tmp_path, "six", {q: {pool[0]: 2, pool[1]: 0} for q, pool in pools.items()},
                                        pools)
    model = tiny_cross_encoder(tmp_path / "model")
    work = tmp_path / "work"
    work.mkdir()
    done = _run(venv / "bin" / "python", "-m", "pytest", "--pyargs", "ranker_claims.claims",
                "--claims-select", "CE-1,CE-2", "--claims-fail-on", "none", "--claims-model", model,
                "--claims-collection", collection, "--claims-cache-dir", tmp_path / "cache", "--claims-depth", "4",
                "--claims-pairs-per-group", "2", "--claims-max-length", "32", "--claims-bootstrap", "50",
                "--claims-json", "run.json", "-p", "no:cacheprovider", cwd=work)
    assert "claim verdicts" in done.stdout
    run = json.loads((work / "run.json").read_text())
    assert [result["claim_id"] for result in run["claims"]] == ["CE-1", "CE-2"]
    assert set(run["claim_files"]) == {"ranker_claims.claims/cross_encoder.toml"}
    suite = run["environment"]["suite"]
    assert suite["version"] and suite["commit"] is None and suite["dirty"] is None  # a wheel has no checkout
    assert (work / ".claims" / "report.html").is_file()  # next to where it ran, not inside the installed package
    assert not list((venv / "lib").glob("python*/site-packages/ranker_claims/claims/.claims"))


def test_the_command_line_lists_the_shipped_claims(venv: Path, tmp_path: Path):
    listed = json.loads(_run(venv / "bin" / "ranker-claims", "list", "--format", "json", cwd=tmp_path).stdout)
    assert {claim["id"] for claim in listed} == {f"{p}-{i}" for p in ("CE", "GR") for i in range(1, 13)}


def test_it_installs_beside_the_pypi_fixtures_distribution(venv: Path, tmp_path: Path):
    shown = _run(venv / "bin" / "python", "-c",
                 "import fixtures, ranker_claims.fixtures; print(fixtures.Fixture.__name__, "
                 "ranker_claims.fixtures.__name__)", cwd=tmp_path)
    assert shown.stdout.split() == ["Fixture", "ranker_claims.fixtures"]
