"""The shared study cache and the Study contract, on stand-in models (no torch).

The pinned fingerprints, file names and file texts were produced by the study classes as
they were before the cache moved into ``ranker_claims.core.study``: if one changes, caches users
already have stop hitting (or a run's numbers change), so these tests must not be updated
lightly. The two fingerprints were changed on purpose once, when they came to cover the
document texts, the tokenizer, the config and the attention backend (file names and texts
inside a study's folder stayed as they were).
"""

from __future__ import annotations

import hashlib
import inspect
import json
from pathlib import Path
from types import SimpleNamespace
from typing import Any, ClassVar

import numpy as np
import pytest

from ranker_claims.core.caching import fingerprint_of
from ranker_claims.core.collections import (
    Candidate,
    Collection,
    Group,
    RerankingSet,
    RerankQuery,
)
from ranker_claims.core.study import Study, StudyCache
from ranker_claims.cross_encoder import study as ce_study
from ranker_claims.cross_encoder.interventions import Direction, DirectionAblation
from ranker_claims.cross_encoder.study import CrossEncoderStudy
from ranker_claims.generative.interventions import Component, Patch
from ranker_claims.generative.study import GenerativeStudy


def _never(*args: Any, **kwargs: Any) -> Any:
    raise AssertionError("recomputed a value the cache holds")


# --------------------------------------------------------------------------- StudyCache


def test_layout_is_root_kind_fingerprint_and_key_hash(tmp_path):
    cache = StudyCache(tmp_path, "scores", "0123456789abcdef")
    assert cache.directory == tmp_path / "scores" / "0123456789abcdef"
    digest = hashlib.sha256(b"baseline").hexdigest()[:20]
    assert cache.path("baseline") == cache.directory / f"{digest}.json"
    assert cache.path("baseline", suffix=".npz") == cache.directory / f"{digest}.npz"
    assert fingerprint_of(["ab", "c"]) == hashlib.sha256(b"abc").hexdigest()[:16]


def test_vector_reads_back_identical_from_a_second_cache(tmp_path):
    values = np.array([0.1, -2.5, 1e-17, 3.0])
    first = StudyCache(tmp_path, "scores", "f" * 16)
    assert first.vector("k", "scores", 4, lambda: values) is values
    assert first.vector("k", "scores", 4, _never) is values  # memory
    path = first.path("k")
    assert path.read_text() == json.dumps({"key": "k", "scores": values.tolist()})
    assert not [p for p in path.parent.iterdir() if p != path]  # no temp file left behind
    again = StudyCache(tmp_path, "scores", "f" * 16).vector("k", "scores", 4, _never)
    assert again.dtype == np.float64 and np.array_equal(again, values)


def test_nan_as_null_writes_null_and_reads_nan(tmp_path):
    values = np.array([1.0, np.nan, 3.0])
    StudyCache(tmp_path, "generative", "e" * 16).vector("k", "ranks", 3, lambda: values, nan_as_null=True)
    cache = StudyCache(tmp_path, "generative", "e" * 16)
    assert cache.path("k").read_text() == '{"key": "k", "ranks": [1.0, null, 3.0]}'
    assert np.array_equal(cache.vector("k", "ranks", 3, _never, nan_as_null=True), values, equal_nan=True)


@pytest.mark.parametrize("stored", [{"key": "other", "scores": [1.0, 2.0]}, {"key": "k", "scores": [1.0]}])
def test_a_file_for_another_key_or_length_is_recomputed(tmp_path, stored):
    cache = StudyCache(tmp_path, "scores", "d" * 16)
    cache.path("k").parent.mkdir(parents=True)
    cache.path("k").write_text(json.dumps(stored))
    assert cache.vector("k", "scores", 2, lambda: np.array([5.0, 6.0])).tolist() == [5.0, 6.0]
    assert json.loads(cache.path("k").read_text()) == {"key": "k", "scores": [5.0, 6.0]}


def test_arrays_read_back_identical_from_a_second_cache(tmp_path):
    rng = np.random.default_rng(0)
    values = {"a": rng.normal(size=(3, 2, 2)).astype(np.float32), "b": rng.normal(size=(3, 2, 2))}
    first = StudyCache(tmp_path, "scores", "c" * 16)
    assert first.arrays("stats", ("a", "b"), lambda: values) is values
    assert [p.name for p in first.directory.iterdir()] == [first.path("stats", ".npz").name]
    again = StudyCache(tmp_path, "scores", "c" * 16).arrays("stats", ("a", "b"), _never)
    for name, array in values.items():
        assert again[name].dtype == array.dtype and np.array_equal(again[name], array)


def test_json_and_npz_values_of_one_key_are_kept_apart(tmp_path):
    cache = StudyCache(None, "scores", "b" * 16)
    vector = cache.vector("k", "scores", 1, lambda: np.array([1.0]))
    arrays = cache.arrays("k", ("a",), lambda: {"a": np.zeros(2)})
    assert cache.vector("k", "scores", 1, _never) is vector and cache.arrays("k", ("a",), _never) is arrays


def test_without_a_root_values_live_in_memory_only(tmp_path):
    cache = StudyCache(None, "scores", "a" * 16)
    assert cache.directory is None and cache.path("k") is None
    values = cache.vector("k", "scores", 2, lambda: np.array([1.0, 2.0]))
    assert cache.vector("k", "scores", 2, _never) is values
    assert StudyCache(None, "scores", "a" * 16).vector("k", "scores", 2, lambda: np.zeros(2)).tolist() == [0.0, 0.0]


def test_derived_computes_once_and_not_on_failure():
    cache = StudyCache(None, "scores", "a" * 16)
    calls = []
    assert cache.derived("x", lambda: calls.append(1) or 42) == 42
    assert cache.derived("x", _never) == 42 and calls == [1]
    with pytest.raises(LookupError):
        cache.derived("y", lambda: (_ for _ in ()).throw(LookupError("missing companion")))
    assert cache.derived("y", lambda: 7) == 7


# --------------------------------------------------------------------------- the two studies


class _Encoded:
    truncated = 0

    def subset(self, index: np.ndarray) -> _Encoded:
        return self


class _Config:
    """What the cache fingerprint reads of a Hugging Face config."""

    _attn_implementation = "eager"

    def to_json_string(self, use_diff: bool = True) -> str:
        return '{"hidden_size": 8, "transformers_version": "5.0.0"}'


class _Tokenizer:
    """What the cache fingerprint reads of a fast tokenizer: its serialisation."""

    @property
    def backend_tokenizer(self) -> _Tokenizer:
        return self

    def to_str(self) -> str:
        return '{"model": {"vocab": {"a": 0, "b": 1}}, "truncation": null, "padding": null}'


class _CrossEncoder:
    """Just what CrossEncoderStudy touches: identity, encode and score."""

    name = "stand-in:cross-encoder"
    weights_sha256 = "ab" * 32
    max_length = 128
    query_token_limit = 62
    model = SimpleNamespace(config=_Config())
    tokenizer = _Tokenizer()

    def __init__(self) -> None:
        self.scored = 0

    def encode(self, pairs: list[tuple[str, str]]) -> _Encoded:
        return _Encoded()

    def score_encoded(self, encoded: _Encoded, interventions: Any, **kwargs: Any) -> np.ndarray:
        self.scored += 1
        return np.array([0.5, -1.25, 2.0, 1 / 3]) + len(interventions)


class _Decoded:
    def __init__(self, n: int) -> None:
        self.logits = np.zeros((n, 1))


class _Generative:
    """Just what GenerativeStudy touches: identity, shape, encode, decode, rank."""

    name = "stand-in:dsi"
    weights_sha256 = "cd" * 32
    config = _Config()
    tokenizer = _Tokenizer()
    n_layers = 4
    docids = ("d1", "d2", "d3")
    token_of: ClassVar[dict[str, int]] = {"d1": 11, "d2": 12, "d3": 13}
    train_qids = frozenset({"q4"})

    def __init__(self) -> None:
        self.decoded = 0

    def targets_of(self, relevant: list[set[str]]) -> list[set[int]]:
        return [{self.token_of[d] for d in docs if d in self.token_of} for docs in relevant]

    def encode(self, texts: list[str], **kwargs: Any) -> _Encoded:
        return _Encoded()

    def decode(self, encoded: _Encoded, patches: Any = (), **kwargs: Any) -> _Decoded:
        self.decoded += 1
        return _Decoded(3)

    def ranks(self, logits: np.ndarray, targets: list[set[int]], over: str) -> np.ndarray:
        return np.array([1.0, np.nan, 7.0])[: len(targets)]


def _candidate(docid: str, grade: int, group: Group) -> Candidate:
    return Candidate(docid, f"text of {docid}", grade, group)


def _rerank() -> tuple[Collection, RerankingSet]:
    collection = Collection(
        id="tiny", queries={"q1": "first query", "q2": "second query"}, documents={},
        qrels={"q1": {"d1": 2, "d2": 0}, "q2": {"d3": 2}},
    )
    queries = [
        RerankQuery("q1", "first query", [_candidate("d1", 2, Group.RELEVANT), _candidate("d2", 0, Group.HARD)]),
        RerankQuery("q2", "second query", [_candidate("d3", 2, Group.RELEVANT), _candidate("d1", 0, Group.EASY)]),
    ]
    return collection, RerankingSet("tiny", queries, excluded={}, relevant_grade=2, seed=0)


def _ce_study(cache_dir: Path | None, model: _CrossEncoder) -> CrossEncoderStudy:
    collection, rerank = _rerank()
    return CrossEncoderStudy(model, collection, rerank, cache_dir=cache_dir)


def _gr_study(cache_dir: Path | None, model: _Generative) -> GenerativeStudy:
    collection = Collection(
        id="tiny-dsi",
        queries={"q1": "alpha", "q2": "beta", "q3": "gamma", "q4": "seen", "q5": "unjudged", "q6": "not indexed"},
        documents={},
        qrels={"q1": {"d1": 1}, "q2": {"d2": 1, "d1": 0}, "q3": {"d3": 1}, "q4": {"d1": 1}, "q6": {"d9": 1}},
    )
    return GenerativeStudy(model, collection, cache_dir=cache_dir)


ABLATION = DirectionAblation(frozenset({Direction.parse("Document->Query")}))
PATCH = Patch.zero(Component.MLP, (0, 1))


def test_cross_encoder_cache_layout_is_unchanged(tmp_path):
    study = _ce_study(tmp_path, _CrossEncoder())
    assert study.cache.fingerprint == "1253f27f7cac8a3c"
    assert study.cache.directory == tmp_path / "scores" / "1253f27f7cac8a3c"
    study.scores()
    study.scores([ABLATION])
    files = {p.name: p.read_text() for p in study.cache.directory.iterdir()}
    assert files == {
        "8ba8496a2525ae171ffd.json": '{"key": "baseline", "scores": [0.5, -1.25, 2.0, 0.3333333333333333]}',
        "a709d7cfdc336936f6f7.json": '{"key": "ablate[document->query]:pre-softmax", '
                                     '"scores": [1.5, -0.25, 3.0, 1.3333333333333333]}',
    }


def test_a_second_cross_encoder_study_reads_scores_and_statistics_from_disk(tmp_path, monkeypatch):
    model = _CrossEncoder()
    statistics = {name: np.full((4, 1, 2), i, dtype=np.float32) for i, name in enumerate(ce_study.head_statistics.STATISTICS)}
    monkeypatch.setattr(ce_study.head_statistics, "collect", lambda *a, **k: statistics)
    first = _ce_study(tmp_path, model)
    scores = first.scores([ABLATION])
    assert first.head_statistics() is statistics
    assert first.scores([ABLATION]) is scores and model.scored == 1

    monkeypatch.setattr(ce_study.head_statistics, "collect", _never)
    model.score_encoded = _never
    second = _ce_study(tmp_path, model)
    assert second.cache.fingerprint == first.cache.fingerprint
    assert np.array_equal(second.scores([ABLATION]), scores)
    assert second.quality([ABLATION]) == first.quality([ABLATION])
    read = second.head_statistics()
    assert all(read[name].dtype == array.dtype and np.array_equal(read[name], array)
               for name, array in statistics.items())


def test_generative_cache_layout_is_unchanged(tmp_path):
    study = _gr_study(tmp_path, _Generative())
    assert study.qids == ["q1", "q2", "q3"] and study.seen_in_training == 1
    assert study.cache.fingerprint == "f53d0616bb8ae950"
    assert study.cache.directory == tmp_path / "generative" / "f53d0616bb8ae950"
    study.ranks([PATCH], rows="all")
    files = {p.name: p.read_text() for p in study.cache.directory.iterdir()}
    assert files == {
        "4042f858bdaf2179b84e.json": '{"key": "mlp@0-1:zero | rows ab25350e3e65", "ranks": [1.0, null, 7.0]}',
    }


def test_a_second_generative_study_reads_ranks_from_disk(tmp_path):
    model = _Generative()
    first = _gr_study(tmp_path, model).ranks([PATCH], rows="all")
    assert model.decoded == 1
    model.decode = _never
    second = _gr_study(tmp_path, model)
    assert np.array_equal(second.ranks([PATCH], rows="all"), first, equal_nan=True)
    assert np.array_equal(second.ranks([PATCH], rows=np.array([0, 1, 2])), first, equal_nan=True)


# --------------------------------------------------------------------------- the contract


def _identity(study: Study) -> tuple[str, str, dict[str, Any]]:
    """What Claim.result reads: a static type checker checks both studies against Study here."""
    return study.model.name, study.collection.id, study.recorded_options()


def test_both_studies_satisfy_the_study_protocol():
    ce = _ce_study(None, _CrossEncoder())
    gr = _gr_study(None, _Generative())
    assert _identity(ce) == ("stand-in:cross-encoder", "tiny",
                             {"ablation_mode": "pre-softmax", "direction_convention": ce.convention.describe()})
    assert _identity(gr) == ("stand-in:dsi", "tiny-dsi", {})
    for study in (ce, gr):
        assert isinstance(study, Study)
        assert study.derived("shared", lambda: [1]) is study.derived("shared", _never)
        assert study.describe()["id"] == study.collection.id


@pytest.mark.parametrize("cls", [CrossEncoderStudy, GenerativeStudy])
@pytest.mark.parametrize("method", ["recorded_options", "describe", "derived"])
def test_study_methods_take_the_protocols_parameters(cls, method):
    expected = inspect.signature(getattr(Study, method)).parameters
    assert list(inspect.signature(getattr(cls, method)).parameters) == list(expected)
