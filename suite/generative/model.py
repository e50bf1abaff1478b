"""A generative-retrieval (DSI-style) adapter for T5-family seq2seq checkpoints with atomic docids.

Retrieval is ONE decoder step from ``decoder_start_token_id``: the logit of each document-id
token scores its document (Tay et al.'s atomic-id DSI; Reusch & Belinkov's setting). The
encoder runs once per query (``encode``); every decoder intervention reuses that output
(``decode``), and ``a.decode(b.encode(q))`` is the paper's encoder swap.

Document-id tokens, in order of precedence:

1. ``docids.json`` in the model directory: ``{"<token string>": "<collection docid>"}``; every
   token must exist in the tokenizer.
2. otherwise every token ADDED to the tokenizer (``get_added_vocab``) that is not a special
   token nor a T5 sentinel (``<extra_id_N>``), filtered by ``docid_pattern`` (a full-match
   regex) when given; the docid is the token string with its non-alphanumeric wrappers
   stripped (``"<doc_17>"`` -> ``"doc_17"``, ``"@@42@@"`` -> ``"42"``), and with the
   ``DOC_ID_`` prefix of the published AnReu/DSI-large-* checkpoints (``"@DOC_ID_629@"`` ->
   ``"629"``).

``describe()["docid_rule"]`` says which rule applied. ``build.json`` (our own builds) may list
``train_qids``: queries seen in training, which studies exclude from evaluation.

Ranks: 1-based rank of the best-ranked relevant token among the docid tokens (default) or
the whole vocabulary; ties count against the target (a degenerate all-equal output never
ranks a document first).
"""

from __future__ import annotations

import json
import re
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Literal, TypeVar

import numpy as np

from ranker_claims.core.catalog import MODEL_TYPES, ModelKind, checkpoint_files, use_safetensors
from ranker_claims.core.devices import Placement, halving_on_oom, token_batches
from ranker_claims.core.models import ModelError, state_sha256
from ranker_claims.generative.interventions import (
    Component,
    Patch,
    Recording,
    decoder_modules,
    intervening,
)
from ranker_claims.generative.stacking import block_outputs, sharing_keys, starting_at

#: Architectures whose decoder blocks are [self-attention, cross-attention, MLP] as T5's are.
SUPPORTED_MODEL_TYPES = MODEL_TYPES[ModelKind.GENERATIVE]
SENTINEL = re.compile(r"<extra_id_\d+>")
PUBLISHED_PREFIX = "DOC_ID_"  # AnReu/DSI-large-*: one token "@DOC_ID_<docid>@" per document
RECORDABLE = frozenset({"residual", "outputs", "heads", "neurons"})
K = TypeVar("K")


@dataclass
class EncodedQueries:
    """Encoder outputs for n queries: ``hidden [n, T, d]`` (zero past each query's length), ``mask [n, T]``.

    ``source``/``source_sha256`` name the model whose encoder made them, so a decode on
    another model's encoder output (encoder swap) is explicit in every record.
    """

    hidden: np.ndarray
    mask: np.ndarray
    source: str
    source_sha256: str
    truncated: int = 0  # queries cut to max_length tokens

    def __len__(self) -> int:
        return len(self.hidden)

    def subset(self, index: Sequence[int] | np.ndarray) -> EncodedQueries:
        index = np.asarray(index, dtype=np.int64)
        return EncodedQueries(self.hidden[index], self.mask[index], self.source, self.source_sha256, self.truncated)


@dataclass
class DecoderPass:
    """One decoder step for n queries. Records (``None`` unless asked for):

    residual [n, L+1, d]: before layer 0 (the start-token embedding), after each layer (before the final norm);
    outputs {Component: [n, L, d]}: what each component ADDED to the residual (after patching);
    head_outputs [n, L, H, d]: each cross-attention head's contribution through the o-projection
        (computed heads: under a cross-attention patch they no longer sum to ``outputs``);
    neurons [n, L, d_ff]: MLP hidden activations (post-ReLU, or gate*linear for gated MLPs).
    """

    logits: np.ndarray
    patches: tuple[str, ...] = ()
    encoder: str = ""
    residual: np.ndarray | None = None
    outputs: dict[Component, np.ndarray] | None = None
    head_outputs: np.ndarray | None = None
    neurons: np.ndarray | None = None

    def __len__(self) -> int:
        return len(self.logits)


def _strip_wrappers(token: str) -> str:
    stripped = re.sub(r"^[^0-9A-Za-z]+|[^0-9A-Za-z]+$", "", token) or token
    return stripped.removeprefix(PUBLISHED_PREFIX) or stripped


def docid_tokens_of(tokenizer: Any, directory: Path | None = None, pattern: str | None = None) -> tuple[dict[int, str], str]:
    """Map docid token ids to collection docids (rules in the module docstring); returns (map, rule)."""
    mapping_file = directory / "docids.json" if directory is not None else None
    if mapping_file is not None and mapping_file.is_file():
        table = json.loads(mapping_file.read_text())
        out: dict[int, str] = {}
        unk = tokenizer.unk_token_id
        for token, docid in table.items():
            token_id = tokenizer.convert_tokens_to_ids(token)
            if token_id is None or (token_id == unk and token != tokenizer.unk_token):
                raise ModelError(f"docids.json names token {token!r}, which the tokenizer does not have")
            out[int(token_id)] = str(docid)
        return dict(sorted(out.items())), f"docids.json ({len(out)} tokens)"
    specials = set(tokenizer.all_special_tokens)
    regex = re.compile(pattern) if pattern else None
    out = {}
    for token, token_id in tokenizer.get_added_vocab().items():
        if token in specials or SENTINEL.fullmatch(token) or (regex is not None and not regex.fullmatch(token)):
            continue
        out[int(token_id)] = _strip_wrappers(token)
    matching = f" matching {pattern!r}" if pattern else ""
    rule = f"added non-special tokens{matching}, docid = token without wrappers or {PUBLISHED_PREFIX}"
    return dict(sorted(out.items())), rule


class NoDocidTokens(ModelError):
    """A seq2seq checkpoint without document-id tokens: no retriever, though it may serve as a companion."""


class GenerativeRetriever:
    """A loaded T5-family GenIR model: encode once, decode one step under patches, logit lens, ranks."""

    def __init__(
        self,
        model: Any,
        tokenizer: Any = None,
        *,
        name: str,
        docid_tokens: Mapping[int, str] | None = None,
        docid_rule: str = "given",
        train_qids: Iterable[str] = (),
        source: str | None = None,
        weights_format: str = "in memory",
        placement: Placement | None = None,
    ):
        config = model.config
        if getattr(config, "model_type", None) not in SUPPORTED_MODEL_TYPES or not getattr(config, "is_encoder_decoder", False):
            raise ModelError(
                f"{name}: a {getattr(config, 'model_type', type(model).__name__)!r} model; generative retrieval needs a "
                f"T5-family encoder-decoder ({', '.join(sorted(SUPPORTED_MODEL_TYPES))})"
            )
        try:
            self.modules = decoder_modules(model)
        except TypeError as error:
            raise ModelError(f"{name}: {error}") from error
        self.placement = placement or Placement()
        self.model = model.eval().to(self.placement.torch_device, self.placement.torch_dtype)
        self.tokenizer = tokenizer
        self.name = name
        self.source = source or name
        self.weights_format = weights_format
        if docid_tokens is None:
            if tokenizer is None:
                raise ModelError(f"{name}: without a tokenizer the docid tokens must be given")
            docid_tokens, docid_rule = docid_tokens_of(tokenizer)
        if not docid_tokens:
            raise NoDocidTokens(f"{name}: no document-id tokens found ({docid_rule})")
        ids = np.fromiter(docid_tokens, dtype=np.int64)
        if ids.min() < 0 or ids.max() >= self.vocab_size:
            raise ModelError(f"{name}: docid token ids outside the model's vocabulary of {self.vocab_size}")
        docids = list(docid_tokens.values())
        if len(set(docids)) != len(docids):
            raise ModelError(f"{name}: two tokens map to the same docid ({docid_rule})")
        order = np.argsort(ids, kind="stable")
        self.docid_token_ids = ids[order]
        self.docids = [docids[i] for i in order]
        self.token_of = {d: int(t) for d, t in zip(self.docids, self.docid_token_ids)}
        self.docid_rule = docid_rule
        self.train_qids = frozenset(train_qids)
        start = config.decoder_start_token_id if config.decoder_start_token_id is not None else config.pad_token_id
        if start is None:
            raise ModelError(f"{name}: the config has neither decoder_start_token_id nor pad_token_id")
        self.start_token_id = int(start)
        # What T5ForConditionalGeneration.forward does before lm_head (transformers 5: scale_decoder_outputs;
        # older configs: tie_word_embeddings).
        self.scale_decoder_outputs = bool(
            getattr(config, "scale_decoder_outputs", getattr(config, "tie_word_embeddings", True))
        )
        self._sha256: str | None = None

    @classmethod
    def load(
        cls,
        spec: str | Path,
        *,
        name: str | None = None,
        trust_remote_code: bool = False,
        allow_pickle: bool = False,
        docid_pattern: str | None = None,
        attn_implementation: str = "eager",
        placement: Placement | None = None,
    ) -> GenerativeRetriever:
        """Load a hub id or local directory under the loading policy: safetensors; a pickle checkpoint
        (``pytorch_model.bin``) only with ``allow_pickle``, read by transformers' weights-only loader.
        ``placement``: device, dtype and token budget (default: CPU, float32)."""
        from transformers import AutoConfig, AutoModelForSeq2SeqLM, AutoTokenizer

        text = str(spec)
        directory = Path(text) if Path(text).is_dir() else None
        try:
            config = AutoConfig.from_pretrained(text, trust_remote_code=trust_remote_code)
        except (OSError, ValueError) as error:
            raise ModelError(f"cannot load model {text!r}: {error}") from error
        if config.model_type not in SUPPORTED_MODEL_TYPES:
            raise ModelError(
                f"{text!r} is a {config.model_type!r} model; generative retrieval needs a T5-family encoder-decoder "
                f"({', '.join(sorted(SUPPORTED_MODEL_TYPES))}) whose decoder blocks are self-attention, "
                "cross-attention, MLP"
            )
        safetensors = use_safetensors(text, checkpoint_files(text), allow_pickle=allow_pickle)
        try:
            model = AutoModelForSeq2SeqLM.from_pretrained(text, use_safetensors=safetensors,
                                                          dtype=(placement or Placement()).torch_dtype,
                                                          attn_implementation=attn_implementation,
                                                          trust_remote_code=trust_remote_code)
        except (OSError, ValueError) as error:
            raise ModelError(f"cannot load model {text!r}: {error}") from error
        weights_format = "safetensors" if safetensors else "pytorch .bin (weights-only loader)"
        tokenizer = AutoTokenizer.from_pretrained(text, trust_remote_code=trust_remote_code)
        docid_tokens, rule = docid_tokens_of(tokenizer, directory, docid_pattern)
        train_qids: list[str] = []
        if directory is not None and (directory / "build.json").is_file():
            train_qids = [str(q) for q in json.loads((directory / "build.json").read_text()).get("train_qids", [])]
        return cls(model, tokenizer, name=name or text, docid_tokens=docid_tokens, docid_rule=rule,
                   train_qids=train_qids, source=text, weights_format=weights_format, placement=placement)

    # -- shape ------------------------------------------------------------------------

    @property
    def config(self) -> Any:
        return self.model.config

    @property
    def n_layers(self) -> int:
        return len(self.modules)

    @property
    def n_encoder_layers(self) -> int:
        return len(self.model.encoder.block)

    @property
    def d_model(self) -> int:
        return int(self.config.d_model)

    @property
    def n_heads(self) -> int:
        return int(self.config.num_heads)

    @property
    def d_ff(self) -> int:
        return int(self.config.d_ff)

    @property
    def vocab_size(self) -> int:
        return int(self.model.lm_head.weight.shape[0])

    @property
    def is_docid(self) -> np.ndarray:
        """Boolean mask over the vocabulary: True for document-id tokens."""
        mask = np.zeros(self.vocab_size, dtype=bool)
        mask[self.docid_token_ids] = True
        return mask

    @property
    def weights_sha256(self) -> str:
        if self._sha256 is None:
            self._sha256 = state_sha256(self.model)
        return self._sha256

    def describe(self) -> dict[str, Any]:
        return {
            "id": self.name,
            "source": self.source,
            "weights_sha256": self.weights_sha256,
            "weights_format": self.weights_format,
            "architecture": type(self.model).__name__,
            "attn_implementation": self.config._attn_implementation,
            "encoder_layers": self.n_encoder_layers,
            "decoder_layers": self.n_layers,
            "d_model": self.d_model,
            "heads": self.n_heads,
            "d_ff": self.d_ff,
            "feed_forward": self.config.feed_forward_proj,
            "vocab": self.vocab_size,
            "docids": len(self.docids),
            "docid_rule": self.docid_rule,
            "decoder_start_token_id": self.start_token_id,
            "scale_decoder_outputs": self.scale_decoder_outputs,
            "train_qids": len(self.train_qids),
            "device": self.placement.device,
            "dtype": self.placement.dtype,
        }

    # -- encoder ----------------------------------------------------------------------

    def encode(self, queries: Sequence[str], *, batch_size: int = 32, max_length: int = 64,
               progress: str | None = None) -> EncodedQueries:
        """Tokenise and run the encoder once per query."""
        if self.tokenizer is None:
            raise ModelError(f"{self.name}: no tokenizer; use encode_ids")
        tokens = self.tokenizer(list(queries), add_special_tokens=True, truncation=False)["input_ids"]
        truncated = sum(len(ids) > max_length for ids in tokens)
        eos = self.tokenizer.eos_token_id
        keep = max_length - 1 if eos is not None else max_length
        tokens = [ids if len(ids) <= max_length else ids[:keep] + ([eos] if eos is not None else []) for ids in tokens]
        encoded = self.encode_ids(tokens, batch_size=batch_size, progress=progress)
        encoded.truncated = truncated
        return encoded

    def encode_ids(self, input_ids: Sequence[Sequence[int]], *, batch_size: int = 32,
                   progress: str | None = None) -> EncodedQueries:
        """Run the encoder on token id lists (right-padded per batch, masked)."""
        import torch
        from tqdm.auto import tqdm

        if not len(input_ids) or any(len(ids) == 0 for ids in input_ids):
            raise ValueError("encode needs at least one query and no empty token list")
        width = max(len(ids) for ids in input_ids)
        n = len(input_ids)
        hidden = np.zeros((n, width, self.d_model), dtype=np.float32)
        pad = self.config.pad_token_id or 0
        device = self.placement.torch_device

        def run(rows: np.ndarray) -> np.ndarray:
            w = max(len(input_ids[i]) for i in rows)
            ids = torch.tensor([list(input_ids[i]) + [pad] * (w - len(input_ids[i])) for i in rows], device=device)
            m = torch.tensor([[1] * len(input_ids[i]) + [0] * (w - len(input_ids[i])) for i in rows], device=device)
            out = self.model.encoder(input_ids=ids, attention_mask=m).last_hidden_state
            return (out * m[..., None]).float().cpu().numpy()

        lengths = np.array([len(ids) for ids in input_ids])
        with torch.inference_mode(), tqdm(total=n, desc=progress, disable=progress is None, leave=False) as bar:
            for index in token_batches(lengths, lambda: self.placement.max_tokens, batch_size, sort=False):
                for rows, out in halving_on_oom(self.placement, run, index, what="batch of queries"):
                    hidden[rows, : out.shape[1]] = out
                bar.update(len(index))
        mask = (np.arange(width) < lengths[:, None]).astype(np.int64)
        return EncodedQueries(hidden, mask, source=self.name, source_sha256=self.weights_sha256)

    # -- decoder ----------------------------------------------------------------------

    def decode(
        self,
        encoded: EncodedQueries,
        patches: Sequence[Patch] = (),
        *,
        record: bool | Iterable[str] = False,
        batch_size: int = 64,
        progress: str | None = None,
    ) -> DecoderPass:
        """One decoder step from the start token for every query, under ``patches``.

        ``record``: True for everything, or a subset of {"residual", "outputs", "heads", "neurons"}.
        The logits are the model's own forward (``model(encoder_outputs=..., decoder_input_ids=[[start]])``).
        """
        return self.decode_conditions(encoded, {(): patches}, record=record, batch_size=batch_size,
                                      progress=progress)[()]

    def decode_conditions(
        self,
        encoded: EncodedQueries,
        conditions: Mapping[K, Sequence[Patch]],
        *,
        record: bool | Iterable[str] = False,
        batch_size: int = 64,
        progress: str | None = None,
    ) -> dict[K, DecoderPass]:
        """:meth:`decode` under each condition (a list of patches), as one pass over the queries.

        Batches are the outer loop: a batch's encoder states go to the device once, and the
        cross-attention keys and values computed from them in its first forward serve every
        condition (no decoder patch changes them). Without recording, the conditions of a batch run
        stacked, as many per forward as the token budget holds, from their first patched layer on
        (:mod:`ranker_claims.generative.stacking`): the decoder's weights are read once per stack, not once
        per condition. Stacked rows may differ from a lone decode by float rounding.
        """
        import torch
        from tqdm.auto import tqdm

        if encoded.hidden.shape[-1] != self.d_model:
            raise ValueError(
                f"{self.name}: encoder outputs of width {encoded.hidden.shape[-1]} (from {encoded.source}) "
                f"do not fit a decoder of width {self.d_model}"
            )
        wanted = set(RECORDABLE) if record is True else set(record or ())
        if wanted - RECORDABLE:
            raise ValueError(f"cannot record {sorted(wanted - RECORDABLE)}; choose from {sorted(RECORDABLE)}")
        n, L = len(encoded), self.n_layers
        stores = {key: self._empty_store(n, wanted) for key in conditions}
        logits = {key: np.empty((n, self.vocab_size), dtype=np.float32) for key in conditions}
        lengths = encoded.mask.sum(axis=1)
        device, dtype = self.placement.torch_device, self.placement.torch_dtype

        # Several conditions and nothing recorded: the batch is repeated once per condition (as many as
        # the token budget allows) so the conditions share one forward pass, and the blocks below the
        # first patched layer of a stack return what one unpatched pass computed.
        stacking = len(conditions) > 1 and not wanted
        first_layer = {key: min((min(p.layers) for p in patches), default=L) for key, patches in conditions.items()}

        def run(index: np.ndarray) -> dict[K, tuple[np.ndarray, Recording | None]]:
            from transformers import DynamicCache, EncoderDecoderCache

            b, width = len(index), int(lengths[index].max())
            hidden = torch.from_numpy(encoded.hidden[index, :width]).to(device, dtype)
            mask = torch.from_numpy(encoded.mask[index, :width]).to(device)
            decoder_ids = torch.full((b, 1), self.start_token_id, dtype=torch.long, device=device)
            cross_attention = DynamicCache()  # filled by the first forward, read by the others

            def forward(copies: int = 1) -> Any:
                return self.model(encoder_outputs=(hidden.repeat(copies, 1, 1),), attention_mask=mask.repeat(copies, 1),
                                  decoder_input_ids=decoder_ids.repeat(copies, 1),
                                  cache=EncoderDecoderCache(DynamicCache(), cross_attention), use_cache=True)

            out: dict[K, tuple[np.ndarray, Recording | None]] = {}
            if not stacking:
                for key, patches in conditions.items():
                    recording = Recording(L) if wanted else None
                    with intervening(self.model, patches, index, recording):
                        step = forward()
                    out[key] = (step.logits[:, -1].float().cpu().numpy(), recording)
                return out
            unpatched = block_outputs(self.model, forward)
            order = sorted(conditions, key=first_layer.__getitem__)
            per_stack = max(1, self.placement.max_tokens // (b * width))
            for start in range(0, len(order), per_stack):
                keys = order[start : start + per_stack]
                copies = len(keys)
                with (sharing_keys(self.model),
                      starting_at(self.model, unpatched, min(first_layer[key] for key in keys), copies),
                      intervening(self.model, (), index, stacked=[conditions[key] for key in keys])):
                    step = forward(copies)
                logits = step.logits[:, -1].float().cpu().numpy()
                for k, key in enumerate(keys):
                    out[key] = (logits[k * b : (k + 1) * b], None)
            return out

        with torch.inference_mode(), tqdm(total=n, desc=progress, disable=progress is None, leave=False) as bar:
            for index in token_batches(np.maximum(lengths, 1), lambda: self.placement.max_tokens, batch_size,
                                       sort=False):
                for rows, out in halving_on_oom(self.placement, run, index, what="batch of queries"):
                    for key, (values, recording) in out.items():
                        logits[key][rows] = values
                        if recording is not None:
                            self._store(recording, stores[key], rows)
                bar.update(len(index))
        return {
            key: DecoderPass(
                logits=logits[key],
                patches=tuple(p.key for p in patches),
                encoder=encoded.source,
                residual=stores[key].get("residual"),
                outputs=stores[key].get("outputs"),
                head_outputs=stores[key].get("heads"),
                neurons=stores[key].get("neurons"),
            )
            for key, patches in conditions.items()
        }

    def _empty_store(self, n: int, wanted: set[str]) -> dict[str, Any]:
        L, store = self.n_layers, dict[str, Any]()
        if "residual" in wanted:
            store["residual"] = np.empty((n, L + 1, self.d_model), dtype=np.float32)
        if "outputs" in wanted:
            store["outputs"] = {c: np.empty((n, L, self.d_model), dtype=np.float32) for c in Component}
        if "heads" in wanted:
            store["heads"] = np.empty((n, L, self.n_heads, self.d_model), dtype=np.float32)
        if "neurons" in wanted:
            store["neurons"] = np.empty((n, L, self.d_ff), dtype=np.float32)
        return store

    @staticmethod
    def _store(recording: Recording, store: dict[str, Any], index: np.ndarray) -> None:
        """A batch's recorded tensors, stacked over layers on the device and brought to the host once."""
        import torch

        def host(tensors: list[torch.Tensor]) -> np.ndarray:
            return torch.stack(tensors, dim=1).float().cpu().numpy()

        if "residual" in store:
            store["residual"][index] = host(recording.residual)
        if "outputs" in store:
            for component, tensors in recording.outputs.items():
                store["outputs"][component][index] = host(tensors)
        if "heads" in store:
            store["heads"][index] = host(recording.heads)
        if "neurons" in store:
            store["neurons"][index] = host(recording.neurons)

    # -- logit lens and ranks ---------------------------------------------------------

    def unembed(self, vectors: np.ndarray, *, normed: bool = True, chunk: int = 4096) -> np.ndarray:
        """Logit lens: the decoder's final RMS norm (if ``normed``), T5's output scaling, ``lm_head``.

        Exactly the operations ``T5ForConditionalGeneration.forward`` applies to the last
        residual (dropout is the identity in eval), so ``unembed(residual[:, L]) == logits``.
        """
        import torch

        vectors = np.asarray(vectors, dtype=np.float32)
        if vectors.shape[-1] != self.d_model:
            raise ValueError(f"unembed needs vectors of width {self.d_model}, got {vectors.shape}")
        flat = vectors.reshape(-1, self.d_model)
        out = np.empty((len(flat), self.vocab_size), dtype=np.float32)
        with torch.inference_mode():
            for start in range(0, len(flat), chunk):
                v = torch.from_numpy(flat[start : start + chunk]).to(self.placement.torch_device,
                                                                    self.placement.torch_dtype)
                if normed:
                    v = self.model.decoder.final_layer_norm(v)
                if self.scale_decoder_outputs:
                    v = v * (self.d_model**-0.5)
                out[start : start + chunk] = self.model.lm_head(v).float().cpu().numpy()
        return out.reshape(*vectors.shape[:-1], self.vocab_size)

    def ranks(
        self,
        logits: np.ndarray,
        targets: Sequence[Iterable[int]],
        *,
        over: Literal["docids", "vocab"] = "docids",
    ) -> np.ndarray:
        """1-based rank of each row's best-ranked target token among the docid tokens (or the vocabulary).

        Ties count against the target. A row with no target among the candidates gets NaN.
        """
        logits = np.asarray(logits)
        if logits.ndim != 2 or logits.shape[1] != self.vocab_size:
            raise ValueError(f"ranks needs logits [n, {self.vocab_size}], got {logits.shape}")
        if len(targets) != len(logits):
            raise ValueError(f"{len(targets)} target sets for {len(logits)} rows")
        if over == "docids":
            candidates = self.docid_token_ids
        elif over == "vocab":
            candidates = np.arange(self.vocab_size)
        else:
            raise ValueError(f"over must be 'docids' or 'vocab', not {over!r}")
        position = np.full(self.vocab_size, -1, dtype=np.int64)
        position[candidates] = np.arange(len(candidates))
        scores = logits[:, candidates]
        out = np.full(len(logits), np.nan)
        for i, target in enumerate(targets):
            cols = position[[t for t in set(target) if 0 <= t < self.vocab_size]]
            cols = cols[cols >= 0]
            if not len(cols):
                continue
            row = scores[i]
            best = row[cols].max()
            above = row >= best
            above[cols] = False
            out[i] = 1 + int(above.sum())
        return out

    def targets_of(self, relevant: Iterable[Iterable[str]]) -> list[set[int]]:
        """Docid token sets for each query's relevant docids (docids the model does not index are dropped)."""
        return [{self.token_of[d] for d in docs if d in self.token_of} for docs in relevant]
