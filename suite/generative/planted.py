"""A planted DSI model: a T5 whose weights, set by hand, put the whole answer in one decoder stage.

The generative-retrieval detectors (stage patching, the logit lens, the contribution profile)
locate where a DSI model produces its document id. Here the place is known because it was
written into the weights of a ``T5ForConditionalGeneration`` (the class users' checkpoints load
as), saved with a word-level tokenizer whose document ids are added tokens and a
``docids.json``: :meth:`ranker_claims.generative.model.GenerativeRetriever.load` reads it like any
user checkpoint. Every query names one document by a "key" word among filler words.

12 decoder layers, so :func:`ranker_claims.generative.interventions.stages` gives I = 0-3, II = 4-8,
III = 9-11. The answer is planted in stage II and nowhere else:

* the encoder is inert (its blocks write zero): its final RMS norm passes each token's
  identity through, a key word as (its one-hot identity in ``K``, a key flag);
* cross-attention head 0 of every stage-II layer attends to the key word (query: the start
  token's flag; key: the key flag) and copies its identity into ``C``: five redundant copies,
  so patching only part of the stage leaves the answer in place;
* the stage-II MLPs map ``C_i`` to ``U_i``, document i's unembedding direction (ReLU neurons,
  one per document): five redundant writers, each reading the copies made so far;
* everything else is active but carries no answer: stage I and III MLPs, every self-attention
  and the other cross-attention heads write into a junk subspace ``J`` that no document id reads.
  The sizes make the MLPs dominate stages I and III and cross-attention stage II, so the
  contribution profile also has its boundaries at 4 and 9.

A massive-activation dimension (``DECOY``, as trained T5s have) carries a large constant that
the decoder's final RMS norm weights to zero; document-id embeddings have a seeded, evenly
spaced component along it. The model ignores it; a logit lens that skips the final norm reads
it and ranks documents by it, at every layer: far enough apart that the planted answer never
reorders them, so that lens finds no document first inside stage II. Embeddings are tied
(transformers 5 always ties T5's) and the config scales decoder outputs by d_model**-0.5, as
original T5 does.

Residual layout (64 dimensions): K 0-15, F 16-23 (filler identities), KEY 24, EOS 25,
START 26, DECOY 27, J 28-31, C 32-47, U 48-63.
"""

from __future__ import annotations

import json
import random
from dataclasses import asdict, dataclass
from pathlib import Path

import numpy as np

from ranker_claims.core.builds import content_key
from ranker_claims.core.caching import build_once
from ranker_claims.core.collections import Collection

D_MODEL, D_KV, HEADS, D_FF = 64, 16, 4, 64
DECODER_LAYERS, ENCODER_LAYERS = 12, 1
DOCUMENTS, FILLERS = 16, 24
K = slice(0, 16)
F = slice(16, 24)
KEY, EOS, START, DECOY = 24, 25, 26, 27
J = slice(28, 32)
C = slice(32, 48)
U = slice(48, 64)

PLANTED_STAGE = "II"
PLANTED_LAYERS = (4, 5, 6, 7, 8)  # stage II of stages(12)
PLANTED_COMPONENTS = ("cross_attention", "mlp")
PLANTED_HEAD = 0

START_SIZE = 10.0  # the start token's flag
DECOY_SIZE = 60.0  # the massive activation: dominates every RMS norm
DECOY_SPREAD = 2.0  # document ids' components along DECOY: a seeded order of evenly spaced values in +-this
ATTEND_LOGIT = 40.0  # key word vs other tokens, at the nominal start-flag size (T5 does not scale scores)
COPY = 0.8  # cross-attention o-projection: a copy of norm ~4.5 per layer
WRITE = 0.6  # stage-II MLP: reads C_i, writes U_i
JUNK_MLP = 9.0  # size of what the stage I and III MLPs write into J
JUNK_ATTENTION = 0.3  # self-attention and the other cross-attention heads

KEY_WORDS = (
    "amber", "birch", "cobalt", "dune", "ember", "fjord", "garnet", "harbor",
    "indigo", "juniper", "kelp", "lagoon", "maple", "nectar", "orchid", "prairie",
)
FILLER_WORDS = (
    "about", "what", "the", "is", "of", "find", "show", "me", "a", "on", "which", "where",
    "tell", "page", "some", "info", "for", "in", "and", "who", "how", "any", "to", "with",
)


@dataclass(frozen=True)
class PlantedGenerative:
    """Where a planted DSI model lies and what was planted in it."""

    path: Path
    stage: str = PLANTED_STAGE
    layers: tuple[int, ...] = PLANTED_LAYERS
    components: tuple[str, ...] = PLANTED_COMPONENTS
    head: int = PLANTED_HEAD
    decoder_layers: int = DECODER_LAYERS
    documents: int = DOCUMENTS


def docid_token(i: int) -> str:
    return f"<doc{i:02d}>"


def docid(i: int) -> str:
    return f"d{i:02d}"


def _tokenizer():
    """Word level: [<pad>, </s>, <unk>, key words, fillers], then the document ids as added tokens."""
    from tokenizers import Tokenizer, models, pre_tokenizers, processors
    from transformers import PreTrainedTokenizerFast

    words = ["<pad>", "</s>", "<unk>", *KEY_WORDS, *FILLER_WORDS]
    tok = Tokenizer(models.WordLevel({w: i for i, w in enumerate(words)}, unk_token="<unk>"))
    tok.pre_tokenizer = pre_tokenizers.WhitespaceSplit()
    tok.post_processor = processors.TemplateProcessing(single="$A </s>", special_tokens=[("</s>", 1)])
    fast = PreTrainedTokenizerFast(tokenizer_object=tok, pad_token="<pad>", eos_token="</s>", unk_token="<unk>")
    fast.add_tokens([docid_token(i) for i in range(DOCUMENTS)])
    return fast


def build_planted_generative(directory: str | Path, *, seed: int = 0) -> PlantedGenerative:
    """The planted DSI model (weights, config, tokenizer, docids.json), built under ``directory`` once.

    An ordinary Hugging Face directory; ``planted.json`` records what was planted. The build is
    deterministic (the same files, byte for byte, from the same inputs), so it lands in
    ``dsi-<fingerprint>``, the fingerprint hashing this recipe (the tokenizer's included), the seed
    and the library versions, and a complete build there is reused
    (:func:`ranker_claims.core.caching.build_once`: atomic, one process at a time). Takes well under a second.
    """
    fingerprint = content_key("planted-generative", {"seed": seed}, sources=[__file__], inputs=[])
    path = build_once(Path(directory) / f"dsi-{fingerprint}", lambda scratch: _write(scratch, seed),
                      marker="planted.json")
    return PlantedGenerative(path)


def _write(directory: Path, seed: int) -> dict:
    """Write the model, tokenizer and docids.json into ``directory``; returns the record of what was planted."""
    import torch
    from transformers import T5Config, T5ForConditionalGeneration

    tokenizer = _tokenizer()
    config = T5Config(  # type: ignore[call-arg]  # PretrainedConfig takes these as **kwargs; the stub's signature lacks them
        vocab_size=len(tokenizer), d_model=D_MODEL, d_kv=D_KV, num_heads=HEADS, d_ff=D_FF, num_layers=ENCODER_LAYERS,
        num_decoder_layers=DECODER_LAYERS, feed_forward_proj="relu", dropout_rate=0.0, decoder_start_token_id=0,
        pad_token_id=0, eos_token_id=1,
    )
    model = T5ForConditionalGeneration(config)
    weights = _planted_weights(tokenizer, np.random.default_rng(seed))
    with torch.no_grad():
        for key, tensor in model.named_parameters():
            default = np.ones if key.endswith("layer_norm.weight") else np.zeros
            tensor.copy_(torch.as_tensor(weights.get(key, default(tuple(tensor.shape))), dtype=tensor.dtype))
    model.save_pretrained(directory, safe_serialization=True)
    tokenizer.save_pretrained(directory)
    (directory / "docids.json").write_text(json.dumps({docid_token(i): docid(i) for i in range(DOCUMENTS)}, indent=1))
    return {k: v for k, v in asdict(PlantedGenerative(directory)).items() if k != "path"} | {"seed": seed}


def _planted_weights(tokenizer, rng: np.random.Generator) -> dict[str, np.ndarray]:
    """The state dict entries that are not zero (RMS norm weights default to one)."""
    w: dict[str, np.ndarray] = {}
    vocab = len(tokenizer)
    unit = np.sqrt(D_MODEL / 2)  # encoder output of a key word: identity and key flag, each of this size

    embedding = np.zeros((vocab, D_MODEL))
    embedding[tokenizer.pad_token_id, START] = START_SIZE  # the decoder's start token
    embedding[tokenizer.pad_token_id, DECOY] = DECOY_SIZE
    embedding[tokenizer.eos_token_id, EOS] = 1.0
    for i, word in enumerate(KEY_WORDS):
        row = tokenizer.convert_tokens_to_ids(word)
        embedding[row, K.start + i] = embedding[row, KEY] = 1.0
    fillers = rng.normal(size=(FILLERS, F.stop - F.start))
    for word, vector in zip(FILLER_WORDS, fillers):
        embedding[tokenizer.convert_tokens_to_ids(word), F] = vector / np.linalg.norm(vector)
    # Evenly spaced: neighbouring documents differ by DECOY_SIZE * 2 * DECOY_SPREAD / 15 = 16 in an unnormed lens,
    # three times all the stage-II writes to U together, so that lens never ranks by the answer.
    decoy = rng.permutation(np.linspace(-DECOY_SPREAD, DECOY_SPREAD, DOCUMENTS))
    for i in range(DOCUMENTS):
        row = tokenizer.convert_tokens_to_ids(docid_token(i))
        embedding[row, U.start + i] = 1.0
        embedding[row, DECOY] = decoy[i]
    w["shared.weight"] = embedding
    final = np.ones(D_MODEL)
    final[DECOY] = 0.0
    w["decoder.final_layer_norm.weight"] = final

    # Residual RMS in stage II is dominated by the decoy: the start flag reads about START_SIZE / rms there.
    rms = np.sqrt((DECOY_SIZE**2 + START_SIZE**2 + 4 * JUNK_MLP**2) / D_MODEL)
    junk = rng.normal(size=(2 * DECODER_LAYERS, J.stop - J.start))
    junk /= np.linalg.norm(junk, axis=1, keepdims=True)
    for layer in range(DECODER_LAYERS):
        prefix = f"decoder.block.{layer}.layer"
        # Self-attention (one token: its value is its output): a small constant into J.
        v, o = np.zeros((HEADS * D_KV, D_MODEL)), np.zeros((D_MODEL, HEADS * D_KV))
        v[0, START] = 1.0
        o[J, 0] = JUNK_ATTENTION * junk[2 * layer] * rms / START_SIZE
        w[f"{prefix}.0.SelfAttention.v.weight"], w[f"{prefix}.0.SelfAttention.o.weight"] = v, o

        # Cross-attention: heads 1-3 average the filler identities into J (uniform attention, small);
        # in stage II, head 0 copies the key word's identity into C.
        q, k, v = (np.zeros((HEADS * D_KV, D_MODEL)) for _ in range(3))
        o = np.zeros((D_MODEL, HEADS * D_KV))
        for head in range(1, HEADS):
            v[head * D_KV : head * D_KV + (F.stop - F.start), F] = np.eye(F.stop - F.start)
            o[J, head * D_KV : head * D_KV + (F.stop - F.start)] = JUNK_ATTENTION * rng.normal(
                size=(J.stop - J.start, F.stop - F.start)) / np.sqrt(F.stop - F.start)
        if layer in PLANTED_LAYERS:
            q[0, START] = 1.0
            k[0, KEY] = ATTEND_LOGIT * rms / (START_SIZE * unit)
            v[PLANTED_HEAD * D_KV : PLANTED_HEAD * D_KV + DOCUMENTS, K] = np.eye(DOCUMENTS)
            o[C, PLANTED_HEAD * D_KV : PLANTED_HEAD * D_KV + DOCUMENTS] = COPY * np.eye(DOCUMENTS)
        for name, value in zip("qkvo", (q, k, v, o)):
            w[f"{prefix}.1.EncDecAttention.{name}.weight"] = value

        # MLP: in stage II one ReLU neuron per document (C_i -> U_i); elsewhere junk into J.
        wi, wo = np.zeros((D_FF, D_MODEL)), np.zeros((D_MODEL, D_FF))
        if layer in PLANTED_LAYERS:
            wi[:DOCUMENTS, C] = np.eye(DOCUMENTS)
            wo[U, :DOCUMENTS] = WRITE * np.eye(DOCUMENTS)
        else:
            wi[0, START] = 1.0
            wo[J, 0] = JUNK_MLP * junk[2 * layer + 1] * rms / START_SIZE
        w[f"{prefix}.2.DenseReluDense.wi.weight"], w[f"{prefix}.2.DenseReluDense.wo.weight"] = wi, wo
    return w


def planted_generative_collection(*, per_document: int = 3, seed: int = 0) -> Collection:
    """Queries that each name one document by its key word among 2-5 filler words.

    Documents are one line each (the model never reads them); qrels grade the named document 1.
    """
    rng = random.Random(seed)
    queries: dict[str, str] = {}
    qrels: dict[str, dict[str, int]] = {}
    for i, key in enumerate(KEY_WORDS):
        for r in range(per_document):
            words = rng.sample(FILLER_WORDS, rng.randint(2, 5))
            words.insert(rng.randint(0, len(words)), key)
            qid = f"q{i:02d}-{r}"
            queries[qid] = " ".join(words)
            qrels[qid] = {docid(i): 1}
    documents = {docid(i): f"the document about {key}" for i, key in enumerate(KEY_WORDS)}
    return Collection(
        id=f"planted:dsi-key-word-{seed}",
        queries=queries,
        documents=documents,
        qrels=qrels,
        description=(f"generated for the planted DSI model (seed {seed}): {len(queries)} queries, each naming one of "
                     f"{DOCUMENTS} documents by a key word among 2-5 filler words"),
    )
