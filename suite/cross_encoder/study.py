"""A model measured on a collection: every condition scored once, cached on disk.

Claims share conditions (CE-2, CE-3 and CE-5 all need Document->Query ablated), so a
study scores each condition once per session and stores the scores under a key made of
the weights' hash, the re-ranking set and the intervention. A rerun, or a run cut short
and started again, reads what was already measured instead of recomputing it.
"""

from __future__ import annotations

import hashlib
import json
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np

from suite.core import metrics
from suite.core.collections import Collection, Group, RerankingSet
from suite.core.runs import write_text_atomic
from suite.cross_encoder.analyses import head_statistics
from suite.cross_encoder.interventions import Convention, Intervention, Mode
from suite.cross_encoder.model import CrossEncoder


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
        self._encoded = None
        self._analysis: AnalysisPairs | None = None
        self._statistics: dict[str, np.ndarray] | None = None
        self._derived: dict[str, Any] = {}
        self._memory: dict[str, np.ndarray] = {}
        fingerprint = hashlib.sha256()
        fingerprint.update(model.weights_sha256.encode())
        fingerprint.update(str(model.max_length).encode())
        for query in rerank.queries:
            fingerprint.update(f"{query.qid}\t{query.text}\t{[c.docid for c in query.candidates]}".encode())
        self.fingerprint = fingerprint.hexdigest()[:16]
        self.cache_dir = Path(cache_dir) / "scores" / self.fingerprint if cache_dir is not None else None

    def recorded_options(self) -> dict[str, Any]:
        """How this study ablates and names directions: recorded with every claim measured on it."""
        return {"ablation_mode": self.ablation_mode.value, "direction_convention": self.convention.describe()}

    @property
    def encoded(self):
        if self._encoded is None:
            self._encoded = self.model.encode(self.pairs)
        return self._encoded

    @property
    def n_queries(self) -> int:
        return len(self.rerank.queries)

    def scores(self, interventions: Sequence[Intervention] = (), *, label: str | None = None) -> np.ndarray:
        """Scores of every pool pair under ``interventions`` (pool order), cached."""
        key = " + ".join(sorted(i.key for i in interventions)) or "baseline"
        if key in self._memory:
            return self._memory[key]
        path = self._cache_path(key)
        if path is not None and path.exists():
            stored = json.loads(path.read_text())
            if stored.get("key") == key and len(stored["scores"]) == len(self.pairs):
                self._memory[key] = np.asarray(stored["scores"], dtype=np.float64)
                return self._memory[key]
        values = self.model.score_encoded(
            self.encoded,
            interventions,
            batch_size=self.batch_size,
            backend=self.backend,
            progress=f"{self.model.name}: {label or key}",
        )
        if path is not None:
            write_text_atomic(json.dumps({"key": key, "scores": values.tolist()}), path)
        self._memory[key] = values
        return values

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
        if self._statistics is not None:
            return self._statistics
        pairs = self.analysis_pairs
        path = self._cache_path(f"head-statistics:{pairs.key}", suffix=".npz")
        if path is not None and path.exists():
            with np.load(path) as stored:
                self._statistics = {name: stored[name] for name in head_statistics.STATISTICS}
            return self._statistics
        encoded = self.model.encode(pairs.texts)
        self._statistics = head_statistics.collect(
            self.model, encoded, batch_size=self.batch_size, progress=f"{self.model.name}: attention statistics"
        )
        if path is not None:
            path.parent.mkdir(parents=True, exist_ok=True)
            scratch = path.with_suffix(".tmp.npz")
            np.savez_compressed(scratch, **self._statistics)
            scratch.replace(path)
        return self._statistics

    def derived(self, key: str, compute: Any) -> Any:
        """A result several claims share (e.g. the matching heads), computed once per study."""
        if key not in self._derived:
            self._derived[key] = compute()
        return self._derived[key]

    def describe(self) -> dict[str, Any]:
        rerank = self.rerank
        return {
            "id": self.collection.id,
            "description": self.collection.description,
            "queries": self.n_queries,
            "excluded": dict(rerank.excluded),
            "candidates": len(self.pairs),
            "extra_pairs": sum(len(q.extra) for q in rerank.queries),
            "relevant_grade": rerank.relevant_grade,
            "truncated_pairs": self.encoded.truncated,
            "measure": self.measure,
            "seed": rerank.seed,
        }

    def _cache_path(self, key: str, suffix: str = ".json") -> Path | None:
        if self.cache_dir is None:
            return None
        return self.cache_dir / f"{hashlib.sha256(key.encode()).hexdigest()[:20]}{suffix}"


@dataclass
class AnalysisPairs:
    """The pairs whose attention is analysed: per query, relevant / hard / easy documents."""

    qids: list[str]
    groups: list[str]
    texts: list[tuple[str, str]]
    key: str

    @classmethod
    def select(cls, rerank: RerankingSet, per_group: int, seed: int) -> AnalysisPairs:
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

