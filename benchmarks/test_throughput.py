"""Pairs per second of the plain and the ablated cross-encoder on TREC DL 2019 pairs.

Run with ``python3 -m pytest benchmarks/ --benchmark-only`` (not part of the default
test run). Each benchmark scores the same 256 BM25 candidate pairs, batch 32; the
pairs-per-second figure is in each row's ``extra_info``.
"""

from __future__ import annotations

import time

import pytest

from ranker_claims.cross_encoder.interventions import DirectionAblation, expand
from ranker_claims.cross_encoder.model import CrossEncoder
from ranker_claims.fixtures.embedded import embedded_catalog

N_PAIRS = 256
BATCH = 32


@pytest.fixture(scope="module")
def model(tmp_path_factory):
    import os
    from pathlib import Path

    cache = Path(os.environ.get("CLAIMS_CACHE_DIR", Path.home() / ".cache" / "ranker-claims"))
    spec = "embedded:minilm-synthetic"
    return CrossEncoder.load(embedded_catalog().build(spec, cache).path, name=spec)


@pytest.fixture(scope="module")
def pairs():
    collection = embedded_catalog().resolve_collection("embedded:trec-dl-2019")
    out = []
    for qid in sorted(collection.run):
        for docid, _ in collection.run[qid]:
            out.append((collection.queries[qid], collection.documents[docid]))
    return out[:N_PAIRS]


def _rate(benchmark, run) -> None:
    benchmark.pedantic(run, rounds=3, iterations=1, warmup_rounds=1)
    benchmark.extra_info["pairs_per_second"] = round(N_PAIRS / benchmark.stats.stats.mean, 1)


def test_padded_to_512(benchmark, model, pairs):
    import torch

    tokens = model.tokenizer(
        [q for q, _ in pairs], [d for _, d in pairs], truncation="only_second", max_length=512,
        padding="max_length", return_tensors="pt",
    )

    def run():
        with torch.inference_mode():
            for start in range(0, N_PAIRS, BATCH):
                model.model(**{k: v[start : start + BATCH] for k, v in tokens.items()})

    _rate(benchmark, run)


def test_padded_to_longest_in_batch(benchmark, model, pairs):
    import torch

    batches = [
        model.tokenizer([q for q, _ in chunk], [d for _, d in chunk], truncation="only_second", max_length=512,
                        padding=True, return_tensors="pt")
        for chunk in (pairs[i : i + BATCH] for i in range(0, N_PAIRS, BATCH))
    ]

    def run():
        with torch.inference_mode():
            for batch in batches:
                model.model(**batch)

    _rate(benchmark, run)


@pytest.fixture(scope="module")
def encoded(model, pairs):
    return model.encode(pairs)


def test_sorted_by_length(benchmark, model, encoded):
    _rate(benchmark, lambda: model.score_encoded(encoded, batch_size=BATCH))


def test_sorted_by_length_ablated(benchmark, model, encoded):
    ablation = [DirectionAblation(expand("query->document"))]
    _rate(benchmark, lambda: model.score_encoded(encoded, ablation, batch_size=BATCH))


def test_ablation_keeps_nine_tenths_of_the_plain_rate(model, encoded):
    """Interleaved timing of plain and ablated runs, so machine load hits both alike."""
    ablation = [DirectionAblation(expand("query->document"))]
    plain = ablated = 0.0
    for _ in range(3):
        start = time.perf_counter()
        model.score_encoded(encoded, batch_size=BATCH)
        plain += time.perf_counter() - start
        start = time.perf_counter()
        model.score_encoded(encoded, ablation, batch_size=BATCH)
        ablated += time.perf_counter() - start
    assert plain / ablated >= 0.9, f"ablated runs at {plain / ablated:.2f}x the plain rate"
