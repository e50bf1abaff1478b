"""A cross-encoder measured on a re-ranking set: every condition scored once, cached on disk.

Claims share conditions (CE-2, CE-3 and CE-5 all need Document->Query ablated), so a
study scores each condition once and stores the scores (:class:`ranker_claims.core.study.StudyCache`)
under ``<cache>/scores/<fingerprint>``; the file name hashes the intervention.

The fingerprint hashes everything a score or an attention statistic depends on besides the
intervention: the model (weights, config, tokenizer), how pairs are cut (maximum length, query
token limit), the attention kernel the user chose (``sdpa`` and ``eager`` differ by about 1e-6),
and every query and candidate with its text, so a collection whose texts change under the same
ids misses the cache. The batch size, token budget and device are left out: they are chosen for
speed and memory, and leave scores the same up to float rounding (about 4e-8 on MiniLM), as another
thread count would. The dtype is not: it is in the weights' hash.
"""

from __future__ import annotations

import hashlib
import json
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any, TypeVar

import numpy as np

from ranker_claims.core import metrics
from ranker_claims.core.caching import fingerprint_of
from ranker_claims.core.collections import Collection, Group, RerankingSet
from ranker_claims.core.reranking import no_query_reason
from ranker_claims.core.study import StudyCache, model_sha256
from ranker_claims.cross_encoder.analyses import head_statistics
from ranker_claims.cross_encoder.interventions import Convention, Intervention, Mode
from ranker_claims.cross_encoder.model import CrossEncoder, EncodedPairs

T = TypeVar("T")


class CrossEncoderStudy:
    """A cross-encoder on a re-ranking set, with cached per-condition scores."""

    def __init__(
        self,
        model: CrossEncoder,
        collection: Collection,
        rerank: RerankingSet,
        *,
        cache_dir: Path | None = None,
        measure: str = "nDCG@10",
        batch_size: int = 32,
        backend: str = "sdpa",
        random_samples: int = 100,
        pairs_per_group: int = 4,
        seed: int = 0,
        ablation_mode: Mode = Mode.PRE_SOFTMAX,
        convention: Convention = Convention.FLOW,
    ):
        self.model = model
        self.collection = collection
        self.rerank = rerank
        self.measure = measure
        self.batch_size = batch_size
        self.backend = backend
        self.random_samples = random_samples
        self.pairs_per_group = pairs_per_group
        self.seed = seed
        self.ablation_mode = ablation_mode
        self.convention = convention
        self.pairs = [(q.text, c.text) for q in rerank.queries for c in q.candidates]
        self.qrels = metrics.qrels_of(rerank, collection.qrels)
        self._encoded: EncodedPairs | None = None
        self._analysis: AnalysisPairs | None = None
        settings = {
            "model": model_sha256(model.weights_sha256, model.model.config, model.tokenizer),
            "max_length": model.max_length,
            "query_tokens": model.query_token_limit,
            "backend": backend,
        }
        fingerprint = fingerprint_of([
            json.dumps(settings, sort_keys=True),
            # The extra pairs too: the attention statistics read them.
            *(json.dumps([query.qid, query.text, [[c.docid, c.text] for c in query.candidates],
                          [[c.docid, c.text] for c in query.extra]]) for query in rerank.queries),
        ])
        self.cache = StudyCache(cache_dir, "scores", fingerprint)

    def not_measurable(self) -> str | None:
        """What the collection lacks for every claim (no query to re-rank), or None."""
        return no_query_reason(self.rerank)

    def recorded_options(self) -> dict[str, Any]:
        """How this study ablates and names directions: recorded with every claim measured on it."""
        return {"ablation_mode": self.ablation_mode.value, "direction_convention": self.convention.describe()}

    @property
    def encoded(self) -> EncodedPairs:
        """The tokenised pool pairs, encoded once."""
        if self._encoded is None:
            self._encoded = self.model.encode(self.pairs)
        return self._encoded

    @property
    def n_queries(self) -> int:
        return len(self.rerank.queries)

    def scores(self, interventions: Sequence[Intervention] = (), *, label: str | None = None) -> np.ndarray:
        """Scores of every pool pair under ``interventions`` (pool order), cached."""
        key = " + ".join(sorted(i.key for i in interventions)) or "baseline"
        return self.cache.vector(
            key,
            "scores",
            len(self.pairs),
            lambda: self.model.score_encoded(
                self.encoded,
                interventions,
                batch_size=self.batch_size,
                backend=self.backend,
                progress=f"{self.model.name}: {label or key}",
            ),
        )

    def quality(self, interventions: Sequence[Intervention] = (), *, label: str | None = None) -> dict[str, float]:
        """Per-query ``measure`` of the re-ranked pools under ``interventions``."""
        order = metrics.ranking_from_scores(self.rerank, self.scores(interventions, label=label))
        return metrics.per_query(self.measure, self.qrels, order)

    def random_quality(self, seed: int = 0) -> dict[str, float]:
        """Per-query ``measure`` of random orderings of the same pools (chance level)."""
        return metrics.random_orderings(self.rerank, self.measure, self.qrels, samples=self.random_samples, seed=seed)

    def first_stage_quality(self) -> dict[str, float]:
        """Per-query ``measure`` of the first-stage order the pools came in (e.g. BM25)."""
        return metrics.per_query(self.measure, self.qrels, metrics.first_stage(self.rerank))

    @property
    def analysis_pairs(self) -> AnalysisPairs:
        """Up to ``pairs_per_group`` relevant, hard and easy pairs per query (seeded)."""
        if self._analysis is None:
            self._analysis = AnalysisPairs.select(self.rerank, self.pairs_per_group, self.seed)
        return self._analysis

    def head_statistics(self) -> dict[str, np.ndarray]:
        """{statistic: [analysis pairs, layers, heads]}, one forward pass per pair, cached."""
        pairs = self.analysis_pairs
        return self.cache.arrays(
            f"head-statistics:{pairs.key}",
            head_statistics.STATISTICS,
            lambda: head_statistics.collect(
                self.model,
                self.model.encode(pairs.texts),
                batch_size=self.batch_size,
                progress=f"{self.model.name}: attention statistics",
            ),
        )

    def derived(self, key: str, compute: Callable[[], T]) -> T:
        """A result several claims share (e.g. the matching heads), computed once per study."""
        return self.cache.derived(key, compute)

    def describe(self) -> dict[str, Any]:
        """The re-ranking set as the run records it (size, exclusions, truncation, measure)."""
        rerank = self.rerank
        return {
            "id": self.collection.id,
            "description": self.collection.description,
            "queries": self.n_queries,
            "excluded": dict(rerank.excluded),
            "excluded_candidates": dict(rerank.excluded_candidates),
            "candidates": len(self.pairs),
            "extra_pairs": sum(len(q.extra) for q in rerank.queries),
            "relevant_grade": rerank.relevant_grade,
            "truncated_pairs": self.encoded.truncated if self.pairs else 0,
            "measure": self.measure,
            "seed": rerank.seed,
        }


@dataclass
class AnalysisPairs:
    """The pairs whose attention is analysed: per query, relevant / hard / easy documents."""

    qids: list[str]
    groups: list[str]
    texts: list[tuple[str, str]]
    key: str

    @classmethod
    def select(cls, rerank: RerankingSet, per_group: int, seed: int) -> AnalysisPairs:
        """A seeded draw per query and group; ``key`` hashes the chosen pairs and names their cache file."""
        rng = np.random.default_rng(seed)
        qids, groups, texts, keys = [], [], [], []
        for query in rerank.queries:
            for group in (Group.RELEVANT, Group.HARD, Group.EASY):
                members = [c for c in query.candidates + query.extra if c.group is group]
                chosen = sorted(rng.choice(len(members), size=min(per_group, len(members)), replace=False)) if members else []
                for i in chosen:
                    qids.append(query.qid)
                    groups.append(group.value)
                    texts.append((query.text, members[i].text))
                    keys.append(f"{query.qid}/{members[i].docid}")
        return cls(qids, groups, texts, hashlib.sha256("|".join(keys).encode()).hexdigest()[:16])

    def by_query(self, values: np.ndarray, group: str) -> dict[str, np.ndarray]:
        """Mean of ``values`` ([pairs, ...]) over each query's pairs of ``group``."""
        out: dict[str, list[np.ndarray]] = {}
        for qid, g, v in zip(self.qids, self.groups, values):
            if g == group:
                out.setdefault(qid, []).append(v)
        return {qid: np.mean(vs, axis=0) for qid, vs in out.items()}

