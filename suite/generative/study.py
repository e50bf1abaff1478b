"""A generative (DSI) retriever measured on a collection: one encoder pass per query, cached conditions.

The GR claims share most of their work: the recorded baseline decode (GR-2, GR-7, GR-8), the
patching grid (GR-3, GR-4, GR-5) and the per-head analysis pass (GR-9..GR-12). A study encodes
every query ONCE; each patching condition is then one decoder step over the queries it needs,
and its ranks are stored (:class:`ranker_claims.core.study.StudyCache`) under
``<cache>/generative/<fingerprint>``; the file name hashes the patch key (and the swapped-in
encoder's model), so a rerun or a resumed run recomputes nothing it already measured. The
fingerprint hashes everything a rank depends on besides the patch: the model (weights, config
with its attention implementation and start token, tokenizer), its document-id tokens, the
ranking settings (``rank_over``, ``mean_split``, ``seed``, ``max_length``) and every evaluated
query with its text and relevant documents. The batch size, the device and the stacking of grid
conditions (:meth:`prefetch`) are left out: they are chosen for speed and memory, and leave the
numbers the same up to float rounding. The dtype is in the model hash.

Queries: those with a relevant document the model indexes, minus the ones its build saw in
training (``train_qids``, counted). A seeded share (``mean_split``) is held apart: the mean
patches are the mean outputs over ITS correct queries, so no evaluated query contributes to
its own replacement. Everything else is the evaluation split; "correct" = relevant document
at rank 1 there.
"""

from __future__ import annotations

import hashlib
import json
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Literal, TypeVar, cast

import numpy as np

from ranker_claims.core.caching import fingerprint_of
from ranker_claims.core.collections import Collection
from ranker_claims.core.study import StudyCache, model_sha256
from ranker_claims.generative.analyses import contribution_ratios
from ranker_claims.generative.interventions import Component, Patch, data_driven_stages, stages
from ranker_claims.generative.model import DecoderPass, EncodedQueries, GenerativeRetriever

T = TypeVar("T")


class MissingCompanion(LookupError):
    """A claim needs a companion model (pre-trained T5, held-out model) the study lacks."""


@dataclass(frozen=True)
class HeldOut:
    """A DSI model trained without ``docids``: GR-6 runs the full model's decoder on its encoder."""

    model: GenerativeRetriever
    docids: tuple[str, ...]


class GenerativeStudy:
    """A DSI model on a collection's queries, with its companions and cached per-condition ranks."""

    def __init__(
        self,
        model: GenerativeRetriever,
        collection: Collection,
        *,
        pretrained: GenerativeRetriever | None = None,
        held_out: Sequence[HeldOut] = (),
        missing: dict[str, str] | None = None,
        cache_dir: Path | None = None,
        relevant_grade: int = 1,
        rank_over: str = "docids",
        mean_split: float = 0.3,
        analysis_queries: int = 200,
        max_queries: int | None = None,
        batch_size: int = 64,
        max_length: int = 64,
        seed: int = 0,
    ):
        if rank_over not in ("docids", "vocab"):
            raise ValueError(f"rank_over must be 'docids' or 'vocab', got {rank_over!r}")
        if not 0 <= mean_split < 1:
            raise ValueError(f"mean_split must be in [0, 1), got {mean_split}")
        self.model = model
        self.collection = collection
        self.pretrained = pretrained
        self.held_out = tuple(held_out)
        self.missing = dict(missing or {})
        self.relevant_grade = relevant_grade
        self.rank_over = cast(Literal["docids", "vocab"], rank_over)  # checked above
        self.mean_split = mean_split
        self.analysis_queries = analysis_queries
        self.batch_size = batch_size
        self.max_length = max_length
        self.seed = seed
        self.excluded: dict[str, str] = {}
        self.seen_in_training = 0
        qids, relevant = [], []
        for qid in sorted(collection.queries):
            judged = {d for d, g in collection.qrels.get(qid, {}).items() if g >= relevant_grade}
            indexed = {d for d in judged if d in model.token_of}
            if qid in model.train_qids:
                self.seen_in_training += 1
            elif not judged:
                self.excluded[qid] = f"no document judged relevant (grade >= {relevant_grade})"
            elif not indexed:
                self.excluded[qid] = "no relevant document is indexed by the model"
            else:
                qids.append(qid)
                relevant.append(indexed)
        if max_queries is not None:
            qids, relevant = qids[:max_queries], relevant[:max_queries]
        # Fewer than 2: every claim is INCONCLUSIVE, saying so (missing()), rather than an error per test.
        self.shortfall = None if len(qids) >= 2 else (
            f"{collection.id}: {len(qids)} evaluable queries for {model.name}; need at least 2 "
            f"(left out: {_counted(self.excluded.values()) or 'none'}; {self.seen_in_training} seen in training)")
        self.qids = qids
        self.relevant = relevant
        self.texts = [collection.queries[q] for q in qids]
        self.targets = model.targets_of(relevant)
        order = np.random.default_rng(seed).permutation(len(qids))
        n_mean = int(round(mean_split * len(qids)))
        self.mean_index = np.sort(order[:n_mean])
        self.eval_index = np.sort(order[n_mean:])
        settings = {
            "model": model_sha256(model.weights_sha256, model.config, model.tokenizer),
            "docid_tokens": sorted(model.token_of.items()),
            "rank_over": rank_over,
            "mean_split": mean_split,
            "seed": seed,
            "max_length": max_length,
        }
        fingerprint = fingerprint_of([
            json.dumps(settings, sort_keys=True),
            *(json.dumps([qid, text, sorted(docs)]) for qid, text, docs in zip(qids, self.texts, relevant)),
        ])
        self.cache = StudyCache(cache_dir, "generative", fingerprint)
        self._encoded: EncodedQueries | None = None
        self._baseline: DecoderPass | None = None
        self._baseline_ranks: np.ndarray | None = None
        self._analysis: tuple[DecoderPass, EncodedQueries, np.ndarray] | None = None

    # -- shape and splits ----------------------------------------------------------------

    @property
    def n_layers(self) -> int:
        return self.model.n_layers

    @property
    def stages(self) -> dict[str, tuple[int, ...]]:
        """The paper's stages mapped to this decoder's depth (exact for 24 layers)."""
        return stages(self.n_layers)

    @property
    def encoded(self) -> EncodedQueries:
        """Encoder outputs of every query, computed once."""
        if self._encoded is None:
            self._encoded = self.model.encode(self.texts, batch_size=self.batch_size, max_length=self.max_length,
                                              progress=f"{self.model.name}: encoder")
        return self._encoded

    @property
    def baseline(self) -> DecoderPass:
        """The unpatched decode of every query, recording the residual and component outputs."""
        if self._baseline is None:
            self._baseline = self.model.decode(self.encoded, record={"residual", "outputs"}, batch_size=self.batch_size,
                                               progress=f"{self.model.name}: baseline decode")
            self._baseline_ranks = self.model.ranks(self._baseline.logits, self.targets, over=self.rank_over)
            self._baseline.logits = None  # type: ignore[assignment]  # [n, vocab] is large; the ranks are what is kept
        return self._baseline

    @property
    def baseline_ranks(self) -> np.ndarray:
        """Rank of each query's relevant document without intervention (all queries)."""
        self.baseline  # noqa: B018 - computes the ranks
        assert self._baseline_ranks is not None
        return self._baseline_ranks

    @property
    def correct(self) -> np.ndarray:
        """Indices (into all queries) of the evaluation split's correct queries."""
        return self.eval_index[self.baseline_ranks[self.eval_index] == 1]

    @property
    def mean_correct(self) -> np.ndarray:
        """Indices of the mean split's correct queries (whose outputs the mean patches average)."""
        return self.mean_index[self.baseline_ranks[self.mean_index] == 1]

    def rows(self, which: str) -> np.ndarray:
        """Query indices of a named set: "correct", "eval", "mean" or "all"."""
        return {"correct": lambda: self.correct, "eval": lambda: self.eval_index, "mean": lambda: self.mean_index,
                "all": lambda: np.arange(len(self.qids))}[which]()

    # -- patches --------------------------------------------------------------------------

    def mean_outputs(self) -> dict[Component, np.ndarray]:
        """Recorded outputs ``{component: [m, L, d]}`` of the mean split's correct queries."""
        rows = self.mean_correct
        if not len(rows):
            source = "the mean split" if len(self.mean_index) else "a mean split (--claims-mean-split is 0)"
            raise MissingCompanion(f"no correct query in {source} to take mean outputs from")
        outputs = self.baseline.outputs
        assert outputs is not None  # the baseline records them
        return {c: outputs[c][rows] for c in Component}

    def patch(self, component: Component | str, layers: Sequence[int], method: str, rows: np.ndarray) -> Patch:
        """A patch for decoding ``rows``: zero, mean (mean split), or model (the pre-trained T5's outputs)."""
        component = Component(component)
        if method == "zero":
            return Patch.zero(component, layers)
        if method == "mean":
            return Patch.mean(component, layers, self.mean_outputs()[component],
                              source=f"mean of {len(self.mean_correct)} mean-split correct queries")
        if method == "model":
            outputs = self.companion_outputs()[component][rows]
            assert self.pretrained is not None  # the companion outputs exist only with it
            return Patch.model(component, layers, outputs, source=self.pretrained.name)
        raise ValueError(f"unknown patch method {method!r}")

    def companion_outputs(self) -> dict[Component, np.ndarray]:
        """The pre-trained T5's component outputs ``{c: [n, L, d]}`` on every query (its own encoder)."""
        def compute() -> dict[Component, np.ndarray]:
            t5 = self.require("pretrained")
            if (t5.n_layers, t5.d_model) != (self.model.n_layers, self.model.d_model):
                raise MissingCompanion(
                    f"the pre-trained companion {t5.name} has {t5.n_layers} decoder layers of width {t5.d_model}; "
                    f"{self.model.name} has {self.model.n_layers} of width {self.model.d_model}"
                )
            encoded = self.encode_with(t5)
            passed = t5.decode(encoded, record={"outputs"}, batch_size=self.batch_size, progress=f"{t5.name}: decode")
            assert passed.outputs is not None  # recorded
            return passed.outputs

        return self.cache.derived("pretrained_outputs", compute)

    def require(self, companion: str) -> GenerativeRetriever:
        """The named companion ("pretrained"), or MissingCompanion saying why it is absent."""
        model = getattr(self, companion)
        if model is None:
            why = self.missing.get(companion, "none given (--claims-pretrained)")
            raise MissingCompanion(f"no {companion} companion model: {why}")
        return model

    def require_held_out(self) -> tuple[HeldOut, ...]:
        """The held-out models (each with the documents it was trained without), or MissingCompanion."""
        if not self.held_out:
            why = self.missing.get("held_out", "none given (--claims-held-out)")
            raise MissingCompanion(f"no held-out companion model: {why}")
        return self.held_out

    def encode_with(self, other: GenerativeRetriever, rows: np.ndarray | None = None) -> EncodedQueries:
        """Another model's encoder outputs for (some of) the queries, cached per model."""
        encoded = self.cache.derived(
            f"encoded:{other.name}:{other.weights_sha256}",
            lambda: other.encode(self.texts, batch_size=self.batch_size, max_length=self.max_length,
                                 progress=f"{other.name}: encoder"),
        )
        return encoded if rows is None else encoded.subset(rows)

    # -- ranks under conditions ------------------------------------------------------------

    def ranks(self, patches: Sequence[Patch] = (), *, rows: str | np.ndarray = "correct",
              encoder: GenerativeRetriever | None = None, label: str | None = None,
              documents: Sequence[Iterable[str]] | None = None) -> np.ndarray:
        """Ranks of the relevant documents of ``rows`` under ``patches`` (and another model's
        encoder, for the encoder swap), cached on disk. Model patches must be built for these rows.

        ``documents``: per row, the docids to rank instead of all of the row's relevant documents (the
        best of them counts; the row's other documents then compete like any other). GR-6 ranks the
        documents a held-out model was trained without, not the query's documents it was trained on.
        Where they are every row's relevant documents, this is the plain call, and reads its cache."""
        index = self.rows(rows) if isinstance(rows, str) else np.asarray(rows, dtype=np.int64)
        if not len(index):
            return np.empty(0)
        targets = [self.targets[i] for i in index]
        chosen = ""
        if documents is not None:
            documents = [sorted(set(docs)) for docs in documents]
            if len(documents) != len(index):
                raise ValueError(f"{len(documents)} document sets for {len(index)} rows")
            if any(not set(docs) <= self.relevant[i] for i, docs in zip(index, documents)):
                raise ValueError("documents to rank must be relevant documents of their rows")
            own = self.model.targets_of(documents)
            if own != targets:
                targets = own
                chosen = f" | documents {hashlib.sha256(json.dumps(documents).encode()).hexdigest()[:12]}"
        if not patches and encoder is None and not chosen:
            return self.baseline_ranks[index]
        key = self._condition_key(patches, index, encoder) + chosen

        def compute() -> np.ndarray:
            encoded = self.encoded.subset(index) if encoder is None else self.encode_with(encoder, index)
            passed = self.model.decode(encoded, patches, batch_size=self.batch_size,
                                       progress=f"{self.model.name}: {label or key}")
            return self.model.ranks(passed.logits, targets, over=self.rank_over)

        return self.cache.vector(key, "ranks", len(index), compute, nan_as_null=True)

    def prefetch(self, conditions: Sequence[Sequence[Patch]], *, rows: str | np.ndarray = "correct",
                 label: str = "grid") -> None:
        """Measure every condition not cached yet in one pass over the queries (see
        :meth:`GenerativeRetriever.decode_conditions`: the encoder states and the cross-attention keys
        and values of a batch serve all of them); :meth:`ranks` then reads them from the cache.

        Conditions go in groups whose logits fit in about 1 GiB of host memory."""
        index = self.rows(rows) if isinstance(rows, str) else np.asarray(rows, dtype=np.int64)
        todo: dict[str, Sequence[Patch]] = {}
        for patches in conditions:
            key = self._condition_key(patches, index)
            if patches and len(index) and not self.cache.has(key):
                todo[key] = patches
        group = max(1, 2**30 // (4 * len(index) * self.model.vocab_size)) if todo else 1
        keys = list(todo)
        targets = [self.targets[i] for i in index]
        for start in range(0, len(keys), group):
            chosen = {key: todo[key] for key in keys[start : start + group]}
            passes = self.model.decode_conditions(
                self.encoded.subset(index), chosen, batch_size=self.batch_size,
                progress=f"{self.model.name}: {label} ({start + len(chosen)}/{len(keys)} conditions)")
            for key, passed in passes.items():
                ranks = self.model.ranks(passed.logits, targets, over=self.rank_over)

                def computed(ranks: np.ndarray = ranks) -> np.ndarray:
                    return ranks

                self.cache.vector(key, "ranks", len(index), computed, nan_as_null=True)

    @staticmethod
    def _condition_key(patches: Sequence[Patch], index: np.ndarray, encoder: GenerativeRetriever | None = None) -> str:
        """What a condition's ranks are cached under: its patches, the swapped-in encoder and the rows."""
        key = " + ".join(sorted(p.key for p in patches)) or "no patch"
        if encoder is not None:
            # The whole model, not its weights alone: it tokenises the queries with its own tokenizer.
            identity = model_sha256(encoder.weights_sha256, encoder.config, encoder.tokenizer)
            key += f" | encoder {encoder.name}#{identity[:12]}"
        return key + f" | rows {hashlib.sha256(index.tobytes()).hexdigest()[:12]}"

    # -- the analysis pass -------------------------------------------------------------------

    @property
    def analysis(self) -> tuple[DecoderPass, EncodedQueries, np.ndarray]:
        """(recorded pass with head outputs, its EncodedQueries, query indices) over at most
        ``analysis_queries`` correct queries (a seeded choice when there are more)."""
        if self._analysis is None:
            rows = self.correct
            if len(rows) > self.analysis_queries:
                rng = np.random.default_rng(self.seed + 1)
                rows = np.sort(rng.choice(rows, size=self.analysis_queries, replace=False))
            encoded = self.encoded.subset(rows)
            passed = self.model.decode(encoded, record={"residual", "outputs", "heads"}, batch_size=self.batch_size,
                                       progress=f"{self.model.name}: analysis decode")
            self._analysis = (passed, encoded, rows)
        return self._analysis

    def correct_pass(self) -> DecoderPass:
        """The baseline records restricted to the correct queries."""
        rows = self.correct
        base = self.baseline
        assert base.residual is not None and base.outputs is not None  # the baseline records them
        return DecoderPass(
            logits=np.empty((len(rows), 0), dtype=np.float32),
            encoder=base.encoder,
            residual=base.residual[rows],
            outputs={c: v[rows] for c, v in base.outputs.items()},
        )

    def data_driven_stages(self) -> dict[str, tuple[int, ...]]:
        """Stage boundaries read off this model's contribution profile (GR-2), reported beside the mapped ones."""
        return self.derived("data_stages", lambda: data_driven_stages(contribution_ratios(self.correct_pass())))

    def derived(self, key: str, compute: Callable[[], T]) -> T:
        """A result several claims share, computed once per study."""
        return self.cache.derived(key, compute)

    def not_measurable(self) -> str | None:
        """What the collection lacks for every claim (fewer than 2 evaluable queries), or None."""
        return self.shortfall

    def recorded_options(self) -> dict[str, Any]:
        """No study-level option changes what a GR claim measures beyond the recorded settings."""
        return {}

    def describe(self) -> dict[str, Any]:
        """The evaluated queries, splits, stages and companions as the run records them."""
        empty = self.shortfall is not None and not self.qids  # nothing to encode or rank
        correct = () if self.shortfall is not None else self.correct
        return {
            "id": self.collection.id,
            "description": self.collection.description,
            "queries": len(self.qids),
            "candidates": len(self.model.docids),
            "excluded": dict(self.excluded),
            "seen_in_training": self.seen_in_training,
            "evaluation_queries": len(self.eval_index),
            "mean_split_queries": len(self.mean_index),
            "correct_queries": len(correct),
            "mean_split_correct": 0 if self.shortfall is not None else len(self.mean_correct),
            "relevant_grade": self.relevant_grade,
            "rank_over": self.rank_over,
            "truncated_queries": 0 if empty else self.encoded.truncated,
            "seed": self.seed,
            "stages": {k: list(v) for k, v in self.stages.items()},
            "companions": {
                "pretrained": self.pretrained.name if self.pretrained is not None else self.missing.get("pretrained"),
                "held_out": ("; ".join(h.model.name for h in self.held_out) if self.held_out
                             else self.missing.get("held_out")),
                "held_out_docids": sum(len(h.docids) for h in self.held_out),
            },
        }


def _counted(reasons: Any) -> str:
    """Reasons with their counts, most common first."""
    from collections import Counter

    return ", ".join(f"{reason}: {n}" for reason, n in Counter(reasons).most_common())
