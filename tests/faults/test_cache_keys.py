"""A cached value is only served for the inputs it was computed from.

Each test measures a study, changes one input (a document's text under the same id, a query's
text, the tokenizer, the weights, the config, an option that changes numbers) and measures again
on the same cache root: the value must be recomputed. Options that change no number (the batch
size) must still hit the cache. Stand-in models, no torch.
"""

from __future__ import annotations

import json
from pathlib import Path
from types import SimpleNamespace
from typing import Any

import numpy as np
import pytest
from tokenizers import Tokenizer, models, normalizers

from ranker_claims.core.collections import Candidate, Collection, Group, RerankingSet, RerankQuery
from ranker_claims.core.study import model_sha256, tokenizer_sha256
from ranker_claims.cross_encoder import study as ce_study
from ranker_claims.cross_encoder.study import CrossEncoderStudy
from ranker_claims.generative.interventions import Component, Patch
from ranker_claims.generative.study import GenerativeStudy

VOCAB = {"[UNK]": 0, "[PAD]": 1, "first": 2, "query": 3}


def _tokenizer(vocab: dict[str, int] = VOCAB, lowercase: bool = False) -> SimpleNamespace:
    """A fast tokenizer as tokenizer_sha256 sees one: its ``backend_tokenizer``."""
    backend = Tokenizer(models.WordLevel(vocab, unk_token="[UNK]"))
    if lowercase:
        backend.normalizer = normalizers.Lowercase()
    return SimpleNamespace(backend_tokenizer=backend)


class _Config:
    """A Hugging Face config as the fingerprint reads one."""

    def __init__(self, attn: str = "eager", **fields: Any) -> None:
        self._attn_implementation = attn
        self.fields = {"num_attention_heads": 2, "layer_norm_eps": 1e-12, "transformers_version": "5.0.0", **fields}

    def to_json_string(self, use_diff: bool = True) -> str:
        return json.dumps(self.fields)


# --------------------------------------------------------------------------- the identity hashes


def test_tokenizer_hash_follows_vocabulary_and_normalisation_not_call_state():
    plain = _tokenizer()
    before = tokenizer_sha256(plain)
    plain.backend_tokenizer.enable_truncation(16)  # every call of a transformers tokenizer sets these
    plain.backend_tokenizer.enable_padding(length=32)
    assert tokenizer_sha256(plain) == before == tokenizer_sha256(_tokenizer())
    assert tokenizer_sha256(_tokenizer(lowercase=True)) != before
    assert tokenizer_sha256(_tokenizer({**VOCAB, "second": 4})) != before
    assert tokenizer_sha256(_tokenizer({**VOCAB, "first": 3, "query": 2})) != before
    assert tokenizer_sha256(None) != before


class _SlowTokenizer:
    """A tokenizer without a fast backend: hashed by the files it saves."""

    def __init__(self, vocab: str) -> None:
        self.vocab = vocab

    def save_pretrained(self, directory: str) -> None:
        (Path(directory) / "vocab.txt").write_text(self.vocab)


def test_a_tokenizer_without_a_fast_backend_is_hashed_by_its_files():
    assert tokenizer_sha256(_SlowTokenizer("a\nb")) == tokenizer_sha256(_SlowTokenizer("a\nb"))
    assert tokenizer_sha256(_SlowTokenizer("a\nb")) != tokenizer_sha256(_SlowTokenizer("a\nc"))


def test_model_hash_follows_weights_config_and_tokenizer_not_where_it_was_saved():
    base = model_sha256("ab" * 32, _Config(), _tokenizer())
    assert model_sha256("ab" * 32, _Config(transformers_version="5.9.0", _name_or_path="/elsewhere"),
                        _tokenizer()) == base
    for changed in (model_sha256("ac" * 32, _Config(), _tokenizer()),
                    model_sha256("ab" * 32, _Config(num_attention_heads=4), _tokenizer()),
                    model_sha256("ab" * 32, _Config(attn="sdpa"), _tokenizer()),
                    model_sha256("ab" * 32, _Config(), _tokenizer(lowercase=True))):
        assert changed != base


# --------------------------------------------------------------------------- the cross-encoder study


class _Encoded:
    truncated = 0

    def __init__(self, pairs: list[tuple[str, str]]) -> None:
        self.pairs = pairs

    def __len__(self) -> int:
        return len(self.pairs)


class _CrossEncoder:
    """Scores a pair by its texts' lengths, so that new texts give new scores."""

    name = "stand-in:cross-encoder"

    def __init__(self, *, weights: str = "ab" * 32, config: _Config | None = None,
                 tokenizer: SimpleNamespace | None = None, max_length: int = 128, query_token_limit: int = 62) -> None:
        self.weights_sha256 = weights
        self.model = SimpleNamespace(config=config or _Config())
        self.tokenizer = tokenizer or _tokenizer()
        self.max_length = max_length
        self.query_token_limit = query_token_limit
        self.scored = 0

    def encode(self, pairs: list[tuple[str, str]]) -> _Encoded:
        return _Encoded(list(pairs))

    def score_encoded(self, encoded: _Encoded, interventions: Any, **kwargs: Any) -> np.ndarray:
        self.scored += 1
        return np.array([len(q) + 0.01 * len(d) for q, d in encoded.pairs])


def _rerank(document: str = "text of d1", extra: str = "text of d9", query: str = "first query") -> RerankingSet:
    """Two queries; ``document`` is d1's text in both pools, ``extra`` an easy pair outside q1's pool."""
    queries = [
        RerankQuery("q1", query, [Candidate("d1", document, 2, Group.RELEVANT),
                                  Candidate("d2", "text of d2", 0, Group.HARD)],
                    extra=[Candidate("d9", extra, 0, Group.EASY)]),
        RerankQuery("q2", "second query", [Candidate("d3", "text of d3", 2, Group.RELEVANT),
                                           Candidate("d1", document, 0, Group.EASY)]),
    ]
    return RerankingSet("tiny", queries, excluded={}, relevant_grade=2, seed=0)


COLLECTION = Collection(id="tiny", queries={"q1": "first query", "q2": "second query"}, documents={},
                        qrels={"q1": {"d1": 2, "d2": 0}, "q2": {"d3": 2}})


@pytest.fixture
def collected(monkeypatch) -> list[int]:
    """Calls of the attention-statistics pass (stand-in: one row per analysis pair)."""
    calls: list[int] = []

    def collect(model: Any, encoded: _Encoded, **kwargs: Any) -> dict[str, np.ndarray]:
        calls.append(len(encoded))
        return {name: np.full((len(encoded), 1, 2), len(calls), dtype=np.float32)
                for name in ce_study.head_statistics.STATISTICS}

    monkeypatch.setattr(ce_study.head_statistics, "collect", collect)
    return calls


def _ce(root, model: _CrossEncoder | None = None, rerank: RerankingSet | None = None, **options: Any):
    model = model or _CrossEncoder()
    study = CrossEncoderStudy(model, COLLECTION, rerank or _rerank(), cache_dir=root, **options)
    return study, model


CE_CHANGES = {
    "document text, same ids": lambda root: _ce(root, rerank=_rerank(document="another text of d1")),
    "text of a document outside the pool": lambda root: _ce(root, rerank=_rerank(extra="another text of d9")),
    "query text, same id": lambda root: _ce(root, rerank=_rerank(query="first question")),
    "tokenizer vocabulary": lambda root: _ce(root, _CrossEncoder(tokenizer=_tokenizer({**VOCAB, "second": 4}))),
    "tokenizer normalisation": lambda root: _ce(root, _CrossEncoder(tokenizer=_tokenizer(lowercase=True))),
    "weights": lambda root: _ce(root, _CrossEncoder(weights="ac" * 32)),
    "config": lambda root: _ce(root, _CrossEncoder(config=_Config(layer_norm_eps=1e-5))),
    "max length": lambda root: _ce(root, _CrossEncoder(max_length=64)),
    "query token limit": lambda root: _ce(root, _CrossEncoder(query_token_limit=16)),
    "attention backend": lambda root: _ce(root, backend="eager"),
}


@pytest.mark.parametrize("change", list(CE_CHANGES))
def test_a_cross_encoder_input_changed_recomputes_scores_and_statistics(tmp_path, collected, change):
    first, model = _ce(tmp_path)
    first.scores()
    first.head_statistics()
    assert (model.scored, len(collected)) == (1, 1)

    second, model = CE_CHANGES[change](tmp_path)
    assert second.cache.directory != first.cache.directory
    scores = second.scores()
    second.head_statistics()
    assert (model.scored, len(collected)) == (1, 2)
    assert np.array_equal(scores, [len(q) + 0.01 * len(d) for q, d in second.pairs])


def test_the_issue_case_new_document_texts_under_old_ids_give_new_scores(tmp_path, collected):
    """Every document text replaced, ids kept: the rerun scores the new texts, not the cached ones."""
    old, _ = _ce(tmp_path)
    new, _ = _ce(tmp_path, rerank=_rerank(document="a much longer replacement text for the first document"))
    assert not np.array_equal(old.scores(), new.scores())


def test_a_cross_encoder_option_that_changes_no_number_still_hits_the_cache(tmp_path, collected):
    first, model = _ce(tmp_path)
    scores = first.scores()
    first.head_statistics()
    again, model = _ce(tmp_path, batch_size=1)
    assert np.array_equal(again.scores(), scores)
    again.head_statistics()
    assert (model.scored, len(collected)) == (0, 1)


# --------------------------------------------------------------------------- the generative study


class _Queries:
    truncated = 0

    def __init__(self, n: int) -> None:
        self.n = n

    def __len__(self) -> int:
        return self.n

    def subset(self, index: np.ndarray) -> _Queries:
        return _Queries(len(index))


class _Generative:
    name = "stand-in:dsi"
    n_layers = 4
    docids = ("d1", "d2", "d3")
    train_qids = frozenset()

    def __init__(self, *, weights: str = "cd" * 32, config: _Config | None = None,
                 tokenizer: SimpleNamespace | None = None, token_of: dict[str, int] | None = None,
                 name: str = "stand-in:dsi") -> None:
        self.name = name
        self.weights_sha256 = weights
        self.config = config or _Config()
        self.tokenizer = tokenizer or _tokenizer()
        self.token_of = token_of or {"d1": 11, "d2": 12, "d3": 13}
        self.decoded = 0

    def targets_of(self, relevant: list[set[str]]) -> list[set[int]]:
        return [{self.token_of[d] for d in docs if d in self.token_of} for docs in relevant]

    def encode(self, texts: list[str], **kwargs: Any) -> _Queries:
        return _Queries(len(texts))

    def decode(self, encoded: _Queries, patches: Any = (), **kwargs: Any) -> SimpleNamespace:
        self.decoded += 1
        return SimpleNamespace(logits=np.zeros((len(encoded), 1)))

    def ranks(self, logits: np.ndarray, targets: list[set[int]], over: str) -> np.ndarray:
        return np.arange(1.0, len(targets) + 1)


QUERIES = {"q1": "alpha", "q2": "beta", "q3": "gamma", "q4": "delta"}
QRELS = {"q1": {"d1": 1}, "q2": {"d2": 1}, "q3": {"d3": 1}, "q4": {"d1": 1}}
PATCH = Patch.zero(Component.MLP, (0, 1))


def _gr(root, model: _Generative | None = None, queries: dict[str, str] = QUERIES,
        qrels: dict[str, dict[str, int]] = QRELS, **options: Any):
    model = model or _Generative()
    collection = Collection(id="tiny-dsi", queries=queries, documents={}, qrels=qrels)
    return GenerativeStudy(model, collection, cache_dir=root, **options), model


GR_CHANGES = {
    "query text, same id": lambda root: _gr(root, queries={**QUERIES, "q2": "bravo"}),
    "relevant documents": lambda root: _gr(root, qrels={**QRELS, "q2": {"d3": 1}}),
    "document-id tokens": lambda root: _gr(root, _Generative(token_of={"d1": 12, "d2": 11, "d3": 13})),
    "tokenizer": lambda root: _gr(root, _Generative(tokenizer=_tokenizer(lowercase=True))),
    "weights": lambda root: _gr(root, _Generative(weights="ce" * 32)),
    "config": lambda root: _gr(root, _Generative(config=_Config(decoder_start_token_id=1))),
    "attention implementation": lambda root: _gr(root, _Generative(config=_Config(attn="sdpa"))),
    "rank over": lambda root: _gr(root, rank_over="vocab"),
    "mean split": lambda root: _gr(root, mean_split=0.5),
    "seed": lambda root: _gr(root, seed=1),
    "max length": lambda root: _gr(root, max_length=32),
}


@pytest.mark.parametrize("change", list(GR_CHANGES))
def test_a_generative_input_changed_recomputes_ranks(tmp_path, change):
    first, model = _gr(tmp_path)
    first.ranks([PATCH], rows="all")
    assert model.decoded == 1
    second, model = GR_CHANGES[change](tmp_path)
    assert second.cache.directory != first.cache.directory
    second.ranks([PATCH], rows="all")
    assert model.decoded == 1


def test_a_generative_option_that_changes_no_number_still_hits_the_cache(tmp_path):
    first, _ = _gr(tmp_path)
    ranks = first.ranks([PATCH], rows="all")
    again, model = _gr(tmp_path, batch_size=1, analysis_queries=1)
    assert np.array_equal(again.ranks([PATCH], rows="all"), ranks) and model.decoded == 0


COMPANIONS = {
    "tokenizer": lambda: _Generative(name="t5", tokenizer=_tokenizer(lowercase=True)),
    "config": lambda: _Generative(name="t5", config=_Config(num_attention_heads=4)),
    "weights": lambda: _Generative(name="t5", weights="ef" * 32),
}


@pytest.mark.parametrize("change", list(COMPANIONS))
def test_a_swapped_in_encoder_is_keyed_by_its_whole_model(tmp_path, change):
    """The encoder swap tokenises the queries with the companion's own tokenizer: all of it enters the key."""
    first, _ = _gr(tmp_path)
    first.ranks(rows="all", encoder=_Generative(name="t5"))
    again, model = _gr(tmp_path)
    again.ranks(rows="all", encoder=_Generative(name="t5"))
    assert model.decoded == 0
    again.ranks(rows="all", encoder=COMPANIONS[change]())  # the same name, other contents
    assert model.decoded == 1
