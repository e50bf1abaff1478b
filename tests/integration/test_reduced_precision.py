"""How far bfloat16 moves scores and ranks from float32, on the embedded models, plain and intervened.

Reduced precision is measured, not assumed: the same weights run in both dtypes on the same
inputs, and what the claims read (per-query nDCG@10 and its change under an ablation for the
cross-encoder; whether the relevant document stays at rank 1, plain and patched, for the DSI)
is compared. The bounds asserted are the ones the README states; the figures print with ``-s``.
"""

from __future__ import annotations

import os
from pathlib import Path

import numpy as np
import pytest
from scipy import stats

from ranker_claims.core.devices import Placement
from ranker_claims.core.metrics import per_query, qrels_of, ranking_from_scores
from ranker_claims.core.reranking import build_reranking_set
from ranker_claims.cross_encoder.interventions import DirectionAblation, expand
from ranker_claims.cross_encoder.model import CrossEncoder
from ranker_claims.fixtures.embedded import embedded_catalog
from ranker_claims.generative.interventions import Component, Patch, stages
from ranker_claims.generative.model import GenerativeRetriever

pytestmark = pytest.mark.slow

DTYPES = ("float32", "bfloat16")


def _cache() -> Path:
    return Path(os.environ.get("CLAIMS_CACHE_DIR") or Path(os.environ.get("XDG_CACHE_HOME", "~/.cache"))
                / "ranker-claims").expanduser()


def test_bfloat16_keeps_the_cross_encoder_rankings_and_ablation_effects():
    catalog = embedded_catalog()
    path = catalog.build("embedded:minilm-synthetic", _cache()).path
    collection = catalog.resolve_collection("embedded:trec-dl-2019")
    rerank = build_reranking_set(collection, depth=20, max_queries=20)
    pairs = [(q.text, c.text) for q in rerank.queries for c in q.candidates]
    qrels = qrels_of(rerank, collection.qrels)
    ablation = [DirectionAblation(expand("query->document"))]
    scores, ndcg = {}, {}
    for dtype in DTYPES:
        model = CrossEncoder.load(path, placement=Placement(dtype=dtype))
        encoded = model.encode(pairs)
        for condition, interventions in (("plain", ()), ("ablated", ablation)):
            scores[dtype, condition] = model.score_encoded(encoded, interventions)
            ranking = ranking_from_scores(rerank, scores[dtype, condition])
            ndcg[dtype, condition] = np.array(list(per_query("nDCG@10", qrels, ranking).values()))
    print()
    for condition in ("plain", "ablated"):
        exact, reduced = scores["float32", condition], scores["bfloat16", condition]
        start, taus = 0, []
        for query in rerank.queries:
            n = len(query.candidates)
            taus.append(stats.kendalltau(exact[start : start + n], reduced[start : start + n]).statistic)
            start += n
        shift = np.abs(ndcg["bfloat16", condition] - ndcg["float32", condition])
        print(f"cross-encoder {condition}: max |score shift| {np.abs(exact - reduced).max():.4f} "
              f"(score sd {exact.std():.3f}), Kendall tau per query mean {np.mean(taus):.3f} min {np.min(taus):.3f}, "
              f"nDCG@10 shift per query mean {shift.mean():.4f} max {shift.max():.4f}")
        assert np.mean(taus) >= 0.9 and shift.mean() <= 0.02
    effect = {dtype: ndcg[dtype, "ablated"] - ndcg[dtype, "plain"] for dtype in DTYPES}
    moved = np.abs(effect["bfloat16"] - effect["float32"])
    print(f"ablation effect on nDCG@10: float32 {effect['float32'].mean():+.4f}, bfloat16 "
          f"{effect['bfloat16'].mean():+.4f}; per-query shift mean {moved.mean():.4f}")
    assert abs(effect["bfloat16"].mean() - effect["float32"].mean()) <= 0.01


def test_bfloat16_keeps_the_dsi_rank_one_answers_plain_and_patched():
    catalog = embedded_catalog()
    built = catalog.build("embedded:dsi-synthetic", _cache())
    collection = catalog.resolve_collection(built.collection)
    correct = {}
    for dtype in DTYPES:
        model = GenerativeRetriever.load(built.path, placement=Placement(dtype=dtype))
        qids = sorted(q for q in collection.queries if q not in model.train_qids)[:200]  # never trained on
        targets = model.targets_of([[d for d, g in collection.qrels.get(q, {}).items() if g > 0] for q in qids])
        encoded = model.encode([collection.queries[q] for q in qids])
        last = stages(model.n_layers)["III"]
        for condition, patches in (("plain", ()), ("MLP stage III zeroed", [Patch.zero(Component.MLP, last)])):
            ranks = model.ranks(model.decode(encoded, patches).logits, targets)
            correct[dtype, condition] = ranks == 1
    print()
    for condition in ("plain", "MLP stage III zeroed"):
        exact, reduced = correct["float32", condition], correct["bfloat16", condition]
        flipped = float(np.mean(exact != reduced))
        print(f"DSI {condition}: rank-1 share float32 {exact.mean():.3f}, bfloat16 {reduced.mean():.3f}; "
              f"{flipped:.1%} of {len(exact)} queries change")
        assert flipped <= 0.05
