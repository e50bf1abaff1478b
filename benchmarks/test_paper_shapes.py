"""Throughput at the papers' shapes, with random weights (weights do not matter for time).

One command, not part of the default test run::

    pytest benchmarks/ --benchmark-only --benchmark-json=OUT.json [--claims-device cuda --claims-dtype bfloat16]

Each benchmark puts its figures in ``extra_info``, ratios measured in the same run so machine load
hits both sides alike:

* MonoBERT-large shape (24 x 16 heads, 1024 wide, 2 logits) on TREC DL 2019 pairs:
  ``pairs_per_second`` (plain) and ``ablated_over_plain`` (the Query->Document-ablated rate over the
  plain one; target >= 0.9);
* T5-large-shaped DSI (24 + 24 layers, 1024 wide, 10k docid tokens), the 27-condition GR-3 grid on
  8 queries: ``grid_ratio`` (re-running the whole model per condition over the grid engine; target
  >= 10) and ``condition_over_weight_read`` (one condition's decoder step over the time to stream the
  decoder's and unembedding's weights once; target <= 2).

Sizes are kept small enough for a 2-core CPU in a few minutes; on an accelerator raise them with
``BENCH_PAIRS`` / ``BENCH_QUERIES``.
"""

from __future__ import annotations

import os
import statistics
import time

import numpy as np
import pytest

from ranker_claims.core.devices import Placement, resolve_placement
from ranker_claims.cross_encoder.interventions import DirectionAblation, expand
from ranker_claims.cross_encoder.model import CrossEncoder
from ranker_claims.fixtures.embedded import embedded_catalog
from ranker_claims.fixtures.paper_shapes import dsi_checkpoint, monobert_checkpoint
from ranker_claims.generative.interventions import grid_patches
from ranker_claims.generative.model import GenerativeRetriever

N_PAIRS = int(os.environ.get("BENCH_PAIRS", 12))
N_QUERIES = int(os.environ.get("BENCH_QUERIES", 8))
N_DOCIDS = 10_000
WORDS = ("what who when where river city war film song team year born wrote founded largest first capital "
         "president novel album season population language company invented discovered played").split()


@pytest.fixture(scope="module")
def placement(pytestconfig: pytest.Config) -> Placement:
    options = {name: pytestconfig.getoption(f"claims_{name}") for name in ("device", "dtype")}
    return resolve_placement(options["device"] or "auto", options["dtype"] or "float32")


def _describe(benchmark, placement: Placement, **figures) -> None:
    benchmark.extra_info.update({"device": placement.device, "device_name": placement.describe()["device_name"],
                                 "dtype": placement.dtype, **figures})


# -- MonoBERT-large shape -----------------------------------------------------------------


@pytest.fixture(scope="module")
def monobert(tmp_path_factory, placement: Placement) -> CrossEncoder:
    path = monobert_checkpoint(tmp_path_factory.mktemp("monobert-large-shaped"))
    return CrossEncoder.load(path, name="monobert-large-shaped", placement=placement)


@pytest.fixture(scope="module")
def dl19_pairs() -> list[tuple[str, str]]:
    collection = embedded_catalog().resolve_collection("embedded:trec-dl-2019")
    pairs = [(collection.queries[qid], collection.documents[docid])
             for qid in sorted(collection.run) for docid, _ in collection.run[qid]]
    return pairs[:N_PAIRS]


def test_monobert_large_scoring(benchmark, monobert: CrossEncoder, dl19_pairs, placement: Placement):
    """Plain and Query->Document-ablated scoring, interleaved round by round."""
    encoded = monobert.encode(dl19_pairs)
    ablation = [DirectionAblation(expand("query->document"))]
    seconds: dict[str, list[float]] = {"plain": [], "ablated": []}

    def one_round() -> None:
        for name, interventions in (("plain", ()), ("ablated", ablation)):
            start = time.perf_counter()
            monobert.score_encoded(encoded, interventions)
            seconds[name].append(time.perf_counter() - start)

    monobert.score(dl19_pairs[:2])  # warm-up
    benchmark.pedantic(one_round, rounds=2, iterations=1)
    plain, ablated = statistics.median(seconds["plain"]), statistics.median(seconds["ablated"])
    _describe(benchmark, placement, pairs=len(dl19_pairs), mean_tokens=float(encoded.lengths().mean()),
              pairs_per_second=round(len(dl19_pairs) / plain, 3),
              ablated_pairs_per_second=round(len(dl19_pairs) / ablated, 3),
              ablated_over_plain=round(plain / ablated, 3))
    assert plain / ablated >= 0.9, f"the ablated condition runs at {plain / ablated:.2f}x the plain rate"


# -- T5-large-shaped DSI ------------------------------------------------------------------


@pytest.fixture(scope="module")
def dsi_large(tmp_path_factory, placement: Placement) -> GenerativeRetriever:
    collection = embedded_catalog().resolve_collection("embedded:trec-dl-2019")
    text = [*collection.queries.values(), *list(collection.documents.values())[:2000]]
    path = dsi_checkpoint(tmp_path_factory.mktemp("dsi-large-shaped"), [f"d{i}" for i in range(N_DOCIDS)], text=text)
    return GenerativeRetriever.load(path, name="dsi-t5-large-shaped", placement=placement)


def _weight_read_seconds(model: GenerativeRetriever, rounds: int = 3) -> float:
    """Seconds to stream every weight a decoder step reads (decoder blocks, final norm, unembedding) once."""
    import torch

    weights = [*model.model.decoder.parameters(), model.model.lm_head.weight]
    best = float("inf")
    with torch.inference_mode():
        for _ in range(rounds):
            start = time.perf_counter()
            total = sum(float(w.sum()) for w in weights)
            best = min(best, time.perf_counter() - start)
    assert np.isfinite(total)
    return best


def test_t5_large_patching_grid(benchmark, dsi_large: GenerativeRetriever, placement: Placement):
    """The 27-condition grid through the engine (one encoder pass, cross-attention keys and values
    reused) against re-running the whole model per condition."""
    rng = np.random.default_rng(0)
    queries = [" ".join(rng.choice(WORDS, size=rng.integers(6, 14))) for _ in range(N_QUERIES)]
    encoded = dsi_large.encode(queries)
    base = dsi_large.decode(encoded, record={"outputs"})
    grid = grid_patches(dsi_large.n_layers, base.outputs, base.outputs, model_source="self")
    conditions = {key: [patch] for key, patch in grid.items()}
    seconds: dict[str, float] = {}

    def engine() -> None:
        start = time.perf_counter()
        dsi_large.decode_conditions(dsi_large.encode(queries), conditions)
        seconds["engine"] = time.perf_counter() - start
        start = time.perf_counter()
        dsi_large.decode_conditions(encoded, conditions)
        seconds["decoder"] = time.perf_counter() - start

    benchmark.pedantic(engine, rounds=1, iterations=1, warmup_rounds=1)
    start = time.perf_counter()
    for patches in conditions.values():
        dsi_large.decode(dsi_large.encode(queries), patches)
    rerun = time.perf_counter() - start
    weight_read = _weight_read_seconds(dsi_large)
    per_condition = seconds["decoder"] / len(conditions)
    _describe(benchmark, placement, conditions=len(conditions), queries=N_QUERIES, docids=N_DOCIDS,
              vocab=dsi_large.vocab_size, engine_s=round(seconds["engine"], 3), rerun_whole_model_s=round(rerun, 3),
              grid_ratio=round(rerun / seconds["engine"], 2), condition_s=round(per_condition, 4),
              weight_read_s=round(weight_read, 4), condition_over_weight_read=round(per_condition / weight_read, 2))
    assert len(conditions) == 27
    assert rerun / seconds["engine"] >= 10, benchmark.extra_info
    assert per_condition / weight_read <= 2, benchmark.extra_info
