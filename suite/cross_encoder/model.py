"""A cross-encoder adapter for any Hugging Face sequence-classification checkpoint.

Score convention: a one-logit head scores with its logit; a two-logit head (monoBERT,
castorini/monobert-large-msmarco: index 1 = relevant) scores with ``logit[1] - logit[0]``,
the log-odds of relevance, which orders pairs as monoBERT's softmax probability does.

Pairs are encoded ``[CLS] query [SEP] document [SEP]``. When a pair is too long the
document is cut, never the query or the separators (queries longer than
``max_query_tokens``, or half the budget, are shortened first: only pathological
queries need it).
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any

import numpy as np

from ranker_claims.core.catalog import MODEL_TYPES, ModelKind, checkpoint_files, use_safetensors
from ranker_claims.core.devices import Placement, halving_on_oom, token_batches
from ranker_claims.core.models import ModelError, state_sha256
from ranker_claims.cross_encoder.interventions import (
    ATTN_IMPLEMENTATION,
    Intervention,
    attention_layers,
    intervening,
    register,
)
from ranker_claims.cross_encoder.parts import label_parts

if TYPE_CHECKING:
    import torch


@dataclass
class EncodedPairs:
    """Tokenised pairs, unpadded, with the part label of every token."""

    input_ids: list[list[int]]
    token_type_ids: list[list[int]] | None
    parts: list[list[int]]
    truncated: int  # pairs whose document was cut to fit

    def __len__(self) -> int:
        return len(self.input_ids)

    def lengths(self) -> np.ndarray:
        return np.fromiter((len(ids) for ids in self.input_ids), dtype=np.int64, count=len(self))


@dataclass
class Batch:
    """A padded batch ready for the model, with the indices of its pairs."""

    index: np.ndarray
    inputs: dict[str, torch.Tensor]
    parts: torch.Tensor


class CrossEncoder:
    """A loaded cross-encoder: scoring, part-aware encoding and interventions."""

    def __init__(self, model: Any, tokenizer: Any, *, name: str, max_length: int = 512, max_query_tokens: int = 64,
                 placement: Placement | None = None):
        num_labels = model.config.num_labels
        if num_labels not in (1, 2):
            raise ModelError(f"{name}: a cross-encoder needs a 1- or 2-logit head, this one has {num_labels}")
        self.placement = placement or Placement()
        self.model = model.eval().to(self.placement.torch_device, self.placement.torch_dtype)
        self.tokenizer = tokenizer
        self.name = name
        self.max_length = min(max_length, getattr(model.config, "max_position_embeddings", max_length))
        self.max_query_tokens = max_query_tokens
        self.layer_of = attention_layers(model)
        self._sha256: str | None = None

    @classmethod
    def load(
        cls,
        spec: str | Path,
        *,
        name: str | None = None,
        max_length: int = 512,
        trust_remote_code: bool = False,
        allow_pickle: bool = False,
        placement: Placement | None = None,
    ) -> CrossEncoder:
        """Load a Hugging Face id or local directory under the loading policy (safetensors; a pickle
        checkpoint only with ``allow_pickle``; no remote code unless trusted), refusing a model the
        interventions cannot reach. ``placement``: device, dtype and token budget (default: CPU, float32)."""
        from transformers import AutoConfig, AutoModelForSequenceClassification, AutoTokenizer

        register()
        spec = str(spec)
        try:
            config = AutoConfig.from_pretrained(spec, trust_remote_code=trust_remote_code)
        except (OSError, ValueError) as error:
            raise ModelError(f"cannot load model {spec!r}: {error}") from error
        supported = MODEL_TYPES[ModelKind.CROSS_ENCODER]
        if config.model_type not in supported and not trust_remote_code:
            raise ModelError(
                f"{spec!r} is a {config.model_type!r} model; a sequence-classification checkpoint of a family the "
                f"interventions reach is needed: {', '.join(sorted(supported))}"
            )
        safetensors = use_safetensors(spec, checkpoint_files(spec), allow_pickle=allow_pickle)
        try:
            model = AutoModelForSequenceClassification.from_pretrained(
                spec,
                attn_implementation=ATTN_IMPLEMENTATION,
                trust_remote_code=trust_remote_code,
                use_safetensors=safetensors,
                dtype=(placement or Placement()).torch_dtype,
            )
        except (OSError, ValueError) as error:
            raise ModelError(f"cannot load model {spec!r}: {error}") from error
        tokenizer = AutoTokenizer.from_pretrained(spec, trust_remote_code=trust_remote_code)
        try:
            encoder = cls(model, tokenizer, name=name or spec, max_length=max_length, placement=placement)
        except TypeError as error:  # attention_layers: no self-attention module to intervene on
            raise ModelError(f"{spec}: {error}") from None
        encoder._check_interventions_reach(spec)
        return encoder

    def _check_interventions_reach(self, spec: str) -> None:
        """Refuse a model whose attention bypasses the interventions' attention function (custom code, a
        kernel of its own): every ablation on it would silently change nothing."""
        import torch

        reached: set[int] = set()
        batch = next(iter(self.batches(self.encode([("query", "document")]))))
        with torch.inference_mode(), intervening(self.model, batch.parts, layer_of=self.layer_of,
                                                 recorder=lambda layer, _: reached.add(layer)):
            self.model(**batch.inputs)
        if len(reached) < self.n_layers:
            raise ModelError(
                f"{spec}: only {len(reached)} of its {self.n_layers} attention layers run through the "
                "interventions' attention function, so ablating them would change nothing"
            )

    @property
    def n_layers(self) -> int:
        return len(self.layer_of)

    @property
    def n_heads(self) -> int:
        return int(self.model.config.num_attention_heads)

    @property
    def weights_sha256(self) -> str:
        """Hash of every parameter and buffer, so a run names the exact weights it measured."""
        if self._sha256 is None:
            self._sha256 = state_sha256(self.model)
        return self._sha256

    def describe(self) -> dict[str, Any]:
        return {
            "id": self.name,
            "weights_sha256": self.weights_sha256,
            "architecture": type(self.model).__name__,
            "layers": self.n_layers,
            "heads": self.n_heads,
            "hidden": int(self.model.config.hidden_size),
            "logits": int(self.model.config.num_labels),
            "max_length": self.max_length,
            "device": self.placement.device,
            "dtype": self.placement.dtype,
        }

    # -- encoding -------------------------------------------------------------------

    def encode(self, pairs: Sequence[tuple[str, str]]) -> EncodedPairs:
        """Tokenise (query, document) pairs and label every token with its part."""
        queries = [self._shorten_query(q) for q, _ in pairs]
        documents = [d if d.strip() else "." for _, d in pairs]
        full = self.tokenizer(queries, documents, truncation=False, add_special_tokens=True)
        encoded = self.tokenizer(
            queries, documents, truncation="only_second", max_length=self.max_length, add_special_tokens=True
        )
        parts = [label_parts(encoded.sequence_ids(i), encoded["attention_mask"][i]) for i in range(len(pairs))]
        truncated = sum(len(a) > len(b) for a, b in zip(full["input_ids"], encoded["input_ids"]))
        return EncodedPairs(
            input_ids=encoded["input_ids"],
            token_type_ids=encoded.get("token_type_ids"),
            parts=parts,
            truncated=truncated,
        )

    @property
    def query_token_limit(self) -> int:
        """Query tokens kept: ``max_query_tokens``, and never more than half the pair budget."""
        return min(self.max_query_tokens, (self.max_length - 3) // 2)

    def _shorten_query(self, query: str) -> str:
        tokens = self.tokenizer(query, add_special_tokens=False, return_offsets_mapping=True)
        offsets = tokens["offset_mapping"]
        if len(offsets) <= self.query_token_limit:
            return query
        return query[: offsets[self.query_token_limit - 1][1]]

    def batches(self, encoded: EncodedPairs, batch_size: int = 32) -> Iterable[Batch]:
        """Length-sorted batches padded to their longest pair, at most ``batch_size`` pairs and the
        placement's token budget each: the cheap way to run many pairs."""
        for index in token_batches(encoded.lengths(), lambda: self.placement.max_tokens, batch_size):
            yield self.batch(encoded, index)

    def batch(self, encoded: EncodedPairs, index: np.ndarray) -> Batch:
        """The pairs ``index`` padded to their longest, on the model's device."""
        import torch

        width = max(len(encoded.input_ids[i]) for i in index)
        pad_id = self.tokenizer.pad_token_id or 0
        device = self.placement.torch_device

        def padded(rows: list[list[int]], fill: int) -> torch.Tensor:
            return torch.tensor([row + [fill] * (width - len(row)) for row in rows], dtype=torch.long, device=device)

        inputs = {
            "input_ids": padded([encoded.input_ids[i] for i in index], pad_id),
            "attention_mask": padded([[1] * len(encoded.input_ids[i]) for i in index], 0),
        }
        if encoded.token_type_ids is not None:
            inputs["token_type_ids"] = padded([encoded.token_type_ids[i] for i in index], 0)
        parts = padded([encoded.parts[i] for i in index], -1)
        return Batch(index=index, inputs=inputs, parts=parts)

    # -- scoring --------------------------------------------------------------------

    def logits_to_scores(self, logits: torch.Tensor) -> torch.Tensor:
        if logits.shape[-1] == 1:
            return logits[:, 0]
        return logits[:, 1] - logits[:, 0]

    def score_encoded(
        self,
        encoded: EncodedPairs,
        interventions: Sequence[Intervention] = (),
        *,
        batch_size: int = 32,
        backend: str = "sdpa",
        progress: str | None = None,
    ) -> np.ndarray:
        """Score every pair, optionally under interventions; returns scores in input order."""
        import torch
        from tqdm.auto import tqdm

        def forward(index: np.ndarray) -> np.ndarray:
            batch = self.batch(encoded, index)
            with intervening(self.model, batch.parts, interventions, backend=backend, layer_of=self.layer_of):
                logits = self.model(**batch.inputs).logits
            return self.logits_to_scores(logits.float()).double().cpu().numpy()

        scores = np.empty(len(encoded), dtype=np.float64)
        with torch.inference_mode(), tqdm(total=len(encoded), desc=progress, disable=progress is None,
                                          leave=False, unit="pair") as bar:
            for index in token_batches(encoded.lengths(), lambda: self.placement.max_tokens, batch_size):
                for rows, values in halving_on_oom(self.placement, forward, index, what="batch of pairs"):
                    scores[rows] = values
                bar.update(len(index))
        return scores

    def score(self, pairs: Sequence[tuple[str, str]], interventions: Sequence[Intervention] = (), **kwargs) -> np.ndarray:
        return self.score_encoded(self.encode(pairs), interventions, **kwargs)
