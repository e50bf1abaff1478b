"""Residual-stream analyses of a GenIR decoder step (Reusch & Belinkov, sections 5, 5.2-5.4).

Everything here works on a recorded ``DecoderPass`` (numpy) plus, where weights are needed,
numpy views of the model's own parameters; the only torch work is ``model.unembed`` (the
logit lens: final RMS norm, T5's output scaling, lm_head — exactly the model's forward).

Conventions:

* layer ``l``'s residual at its start is ``residual[:, l]``, at its end ``residual[:, l+1]``;
* a component's output is what it adds to the residual (``outputs[c][:, l]``);
* the logit lens of a lone component vector applies the final norm to that vector on its own
  (ranks only see the norm's per-dimension gain; its scalar rescaling is rank-invariant);
  ``normed=False`` skips the norm (the paper's text omits it; its code used TransformerLens);
* GR-9 attributions are EXACT decompositions: a pre-activation is
  ``W · (g * r / rms(r))`` with ``r = embedding + sum of earlier component outputs``, so
  each writer ``c`` contributes ``W · (g * c / rms(r))`` and the contributions sum to the
  pre-activation. The paper writes ``W · c``, leaving out the norm; including it only
  reweights dimensions by the norm's gain ``g`` and scales all writers of one read alike.
"""

from __future__ import annotations

import warnings
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass
from typing import TYPE_CHECKING, Literal

import numpy as np

from ranker_claims.generative.interventions import STAGE_NAMES, Component

if TYPE_CHECKING:
    from ranker_claims.generative.model import DecoderPass, EncodedQueries, GenerativeRetriever

EMBEDDING = "embedding"
ORDER = (Component.SELF_ATTENTION, Component.CROSS_ATTENTION, Component.MLP)  # order within a T5 block


def _need(pass_: DecoderPass, *what: str) -> None:
    missing = [w for w in what if getattr(pass_, w) is None]
    if missing:
        raise ValueError(f"this analysis needs a decode with record= including {missing}")


def _cos(a: np.ndarray, b: np.ndarray) -> np.ndarray:
    num = (a * b).sum(-1)
    den = np.linalg.norm(a, axis=-1) * np.linalg.norm(b, axis=-1)
    with np.errstate(invalid="ignore", divide="ignore"):
        return np.where(den > 0, num / np.where(den > 0, den, 1.0), np.nan)


# -- GR-2: contributions -------------------------------------------------------------


def contribution_ratios(pass_: DecoderPass) -> dict[Component, np.ndarray]:
    """``||c_out|| / ||r_end - r_begin||`` per query and layer, ``{component: [n, L]}`` (paper eq. in sec. 5)."""
    _need(pass_, "residual", "outputs")
    assert pass_.residual is not None and pass_.outputs is not None  # recorded by the caller
    delta = np.linalg.norm(pass_.residual[:, 1:] - pass_.residual[:, :-1], axis=-1)
    with np.errstate(invalid="ignore", divide="ignore"):
        return {c: np.linalg.norm(pass_.outputs[c], axis=-1) / np.where(delta > 0, delta, np.nan) for c in Component}


def residual_cosines(pass_: DecoderPass, *, against: Literal["begin", "end"] = "begin") -> dict[Component, np.ndarray]:
    """Cosine of each component output with the residual at the layer's start (paper text) or end (Fig. 3 caption)."""
    _need(pass_, "residual", "outputs")
    assert pass_.residual is not None and pass_.outputs is not None  # recorded by the caller
    residual = pass_.residual[:, :-1] if against == "begin" else pass_.residual[:, 1:]
    return {c: _cos(pass_.outputs[c], residual) for c in Component}


def stage_cosines(pass_: DecoderPass, stage_I: Sequence[int], stage_III: Sequence[int]) -> dict[Component, np.ndarray]:
    """Cosine of each stage-III component output with the summed stage-I MLP output, ``{c: [n, |III|]}``."""
    _need(pass_, "outputs")
    assert pass_.outputs is not None  # recorded by the caller
    primed = pass_.outputs[Component.MLP][:, list(stage_I)].sum(axis=1)  # [n, d]
    return {c: _cos(pass_.outputs[c][:, list(stage_III)], primed[:, None, :]) for c in Component}


# -- GR-7/8/12: logit lens -----------------------------------------------------------


@dataclass
class LensRanks:
    """Logit-lens ranks per query and layer (``[n, L]``).

    relevant: rank of the best relevant docid in the residual after each layer (among ``over``);
    docid_mean / other_mean: mean vocabulary-wide rank of the docid / non-docid tokens there;
    components: rank of the relevant docid in the lens of each component's output alone.
    """

    over: str
    relevant: np.ndarray
    docid_mean: np.ndarray
    other_mean: np.ndarray
    components: dict[Component, np.ndarray]


def mean_ranks(logits: np.ndarray, is_docid: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Mean vocabulary rank (1-based) of docid and of non-docid tokens, per row."""
    order = np.argsort(-logits, axis=1, kind="stable")
    positions = np.arange(1, logits.shape[1] + 1, dtype=np.float64)
    doc = is_docid[order]
    n_doc = max(int(is_docid.sum()), 1)
    n_other = max(int((~is_docid).sum()), 1)
    return (doc * positions).sum(1) / n_doc, ((~doc) * positions).sum(1) / n_other


def logit_lens_ranks(
    model: GenerativeRetriever,
    pass_: DecoderPass,
    targets: Sequence[Iterable[int]],
    *,
    over: Literal["docids", "vocab"] = "docids",
    normed: bool = True,
) -> LensRanks:
    """Fig. 4: the lens of the residual after each layer and of each component output."""
    _need(pass_, "residual", "outputs")
    n, L = len(pass_), model.n_layers
    is_docid = model.is_docid
    relevant, docid_mean, other_mean = (np.empty((n, L)) for _ in range(3))
    components = {c: np.empty((n, L)) for c in Component}
    assert pass_.residual is not None and pass_.outputs is not None  # recorded by the caller
    for layer in range(L):
        logits = model.unembed(pass_.residual[:, layer + 1], normed=normed)
        relevant[:, layer] = model.ranks(logits, targets, over=over)
        docid_mean[:, layer], other_mean[:, layer] = mean_ranks(logits, is_docid)
        for c in Component:
            components[c][:, layer] = model.ranks(model.unembed(pass_.outputs[c][:, layer], normed=normed), targets, over=over)
    return LensRanks(over, relevant, docid_mean, other_mean, components)


def component_sum_ranks(
    model: GenerativeRetriever,
    pass_: DecoderPass,
    component: Component | str,
    targets: Sequence[Iterable[int]],
    *,
    layers: Sequence[int] | None = None,
    over: Literal["docids", "vocab"] = "docids",
    normed: bool = True,
) -> np.ndarray:
    """GR-8: rank of the relevant docid when the logits see only the sum of one component's outputs."""
    _need(pass_, "outputs")
    chosen = list(range(model.n_layers)) if layers is None else list(layers)
    assert pass_.outputs is not None  # recorded by the caller
    summed = pass_.outputs[Component(component)][:, chosen].sum(axis=1)
    return model.ranks(model.unembed(summed, normed=normed), targets, over=over)


def top_tokens(model: GenerativeRetriever, vectors: np.ndarray, k: int, *, normed: bool = True,
               exclude_docids: bool = False, chunk: int = 2048) -> np.ndarray:
    """Ids of the k highest lens tokens of each vector, best first: ``[..., k]``."""
    vectors = np.asarray(vectors, dtype=np.float32)
    flat = vectors.reshape(-1, vectors.shape[-1])
    k = min(k, model.vocab_size)
    out = np.empty((len(flat), k), dtype=np.int64)
    for start in range(0, len(flat), chunk):
        logits = model.unembed(flat[start : start + chunk], normed=normed)
        if exclude_docids:
            logits[:, model.docid_token_ids] = -np.inf
        part = np.argpartition(-logits, k - 1, axis=1)[:, :k]
        best = np.take_along_axis(logits, part, axis=1)
        out[start : start + chunk] = np.take_along_axis(part, np.argsort(-best, axis=1, kind="stable"), axis=1)
    return out.reshape(*vectors.shape[:-1], k)


def docid_share_in_top(model: GenerativeRetriever, vectors: np.ndarray, ks: Sequence[int] = (10, 100, 1000),
                       *, normed: bool = True) -> dict[int, np.ndarray]:
    """GR-10 (Table 5): share of docid tokens among each vector's top-k lens tokens, ``{k: [...]}``.

    With ``k = number of docids`` a share of 1 means every docid outranks every other token (GR-12).
    """
    ks = sorted({min(int(k), model.vocab_size) for k in ks})
    top = top_tokens(model, vectors, ks[-1], normed=normed)
    is_doc = model.is_docid[top]
    return {k: is_doc[..., :k].mean(axis=-1) for k in ks}


def promoted_tokens(model: GenerativeRetriever, head_outputs: np.ndarray, k: int = 5, *,
                    exclude_docids: bool = True) -> np.ndarray:
    """GR-11 (Table 6): the k tokens each cross-attention head output promotes most (lens), ``[..., k]`` ids."""
    return top_tokens(model, head_outputs, k, exclude_docids=exclude_docids)


# -- GR-9/12: communication ------------------------------------------------------------


def _rms(x: np.ndarray, eps: float) -> np.ndarray:
    return np.sqrt((x.astype(np.float64) ** 2).mean(-1, keepdims=True) + eps)


def _np(tensor) -> np.ndarray:
    return tensor.detach().float().cpu().numpy()


def writers(n_layers: int) -> list[tuple[str, int]]:
    """Every vector the residual is the sum of, in computation order: the start embedding, then each component."""
    return [(EMBEDDING, -1)] + [(c.value, layer) for layer in range(n_layers) for c in ORDER]


def _writer_vectors(pass_: DecoderPass) -> np.ndarray:
    """``[n, W, d]`` in ``writers`` order."""
    assert pass_.residual is not None and pass_.outputs is not None  # recorded by the caller
    n, L, d = pass_.outputs[Component.MLP].shape
    stacked = np.stack([pass_.outputs[c] for c in ORDER], axis=2).reshape(n, L * 3, d)
    return np.concatenate([pass_.residual[:, :1], stacked], axis=1)


@dataclass
class Attribution:
    """Mean contribution of each writer to a reader's activations: ``values [n, R, W]`` (NaN = not before the reader).

    ``readers``: the reader layers; ``writers``: ``(component or "embedding", layer)`` labels.
    """

    reader: str
    readers: tuple[int, ...]
    writers: list[tuple[str, int]]
    values: np.ndarray

    def by_stage(self, stage_of: Mapping[str, Sequence[int]]) -> dict[int, dict[str, float]]:
        """Per reader layer, ``{"mlp/I": share, ...}``: each (component, stage) group's share.

        Share = the group's positive mean contribution over the sum of positive group means (the
        groups that push the reader's activations up); the signed means are in ``signed_by_stage``.
        """
        signed = self.signed_by_stage(stage_of)
        out = {}
        for layer, groups in signed.items():
            positive = {g: max(v, 0.0) for g, v in groups.items()}
            total = sum(positive.values())
            out[layer] = {g: (v / total if total > 0 else float("nan")) for g, v in positive.items()}
        return out

    def signed_by_stage(self, stage_of: Mapping[str, Sequence[int]]) -> dict[int, dict[str, float]]:
        stage_by_layer = stage_of_layer(stage_of)
        labels = [EMBEDDING if c == EMBEDDING else f"{c}/{stage_by_layer[layer]}" for c, layer in self.writers]
        with warnings.catch_warnings():  # writers after a reader are all-NaN columns
            warnings.simplefilter("ignore", RuntimeWarning)
            mean = np.nanmean(self.values, axis=0)  # [R, W]
        out = {}
        for r, layer in enumerate(self.readers):
            groups: dict[str, float] = {}
            for w, label in enumerate(labels):
                if not np.isnan(mean[r, w]):
                    groups[label] = groups.get(label, 0.0) + float(mean[r, w])
            out[layer] = groups
        return out


def _reads_before(n_layers: int, reader_layer: int, reader: Component) -> np.ndarray:
    """Mask over writers: those computed before ``reader`` in ``reader_layer``."""
    position = {c: i for i, c in enumerate(ORDER)}
    labels = writers(n_layers)
    return np.array([
        c == EMBEDDING or layer < reader_layer or (layer == reader_layer and position[Component(c)] < position[reader])
        for c, layer in labels
    ])


def neuron_attributions(model: GenerativeRetriever, pass_: DecoderPass, layers: Sequence[int]) -> Attribution:
    """GR-9 (Fig. 5 right): contribution of each earlier writer to the active MLP neurons of ``layers``.

    Per query and reader layer: the active neurons are those with positive pre-activation
    (the gate's, for gated MLPs); each writer's contribution ``W_in,i · (g * c / rms(r))`` is
    averaged over them. The contributions of all writers sum to the mean pre-activation.
    """
    _need(pass_, "residual", "outputs")
    all_writers = writers(model.n_layers)
    vectors = _writer_vectors(pass_)  # [n, W, d]
    n = len(pass_)
    values = np.full((n, len(layers), len(all_writers)), np.nan)
    for r, layer in enumerate(layers):
        ff = model.model.decoder.block[layer].layer[2]
        dense = ff.DenseReluDense
        w_in = _np(dense.wi_0.weight if hasattr(dense, "wi_0") else dense.wi.weight)  # [d_ff, d]
        g = _np(ff.layer_norm.weight)
        eps = ff.layer_norm.variance_epsilon
        before = _reads_before(model.n_layers, layer, Component.MLP)
        r_in = vectors[:, before].sum(axis=1)  # == residual before the MLP
        scaled = vectors[:, before] * (g / _rms(r_in, eps))[:, None, :]  # [n, Wb, d]
        pre = (w_in @ (g * r_in / _rms(r_in, eps)).T).T  # [n, d_ff]
        active = pre > 0
        count = active.sum(axis=1, keepdims=True)
        mean_row = (active.astype(np.float64) @ w_in) / np.maximum(count, 1)  # [n, d]
        contrib = np.einsum("nd,nwd->nw", mean_row, scaled)
        contrib[count[:, 0] == 0] = np.nan
        values[:, r, before] = contrib
    return Attribution("mlp", tuple(layers), all_writers, values)


def _cross_attention_reads(model: GenerativeRetriever, pass_: DecoderPass, encoded: EncodedQueries, layer: int):
    """Per query: normalised writer vectors through W_Q per head ``[n, Wb, H, dkv]`` and the top key ``[n, H, dkv]``."""
    block = model.model.decoder.block[layer].layer[1]
    attention = block.EncDecAttention
    H, dkv = attention.n_heads, attention.key_value_proj_dim
    w_q = _np(attention.q.weight).reshape(H, dkv, -1)
    w_k = _np(attention.k.weight).reshape(H, dkv, -1)
    g = _np(block.layer_norm.weight)
    eps = block.layer_norm.variance_epsilon
    vectors = _writer_vectors(pass_)
    before = _reads_before(model.n_layers, layer, Component.CROSS_ATTENTION)
    r_in = vectors[:, before].sum(axis=1)
    normed = vectors[:, before] * (g / _rms(r_in, eps))[:, None, :]
    q_parts = np.einsum("hkd,nwd->nwhk", w_q, normed)  # [n, Wb, H, dkv]
    keys = np.einsum("hkd,ntd->nthk", w_k, encoded.hidden.astype(np.float64))  # [n, T, H, dkv]
    scores = np.einsum("nhk,nthk->nht", q_parts.sum(axis=1), keys)  # T5: unscaled, no bias in cross-attention
    scores = np.where(encoded.mask[:, None, :] > 0, scores, -np.inf)
    top = scores.argmax(axis=-1)  # [n, H]
    top_keys = np.take_along_axis(keys, top[:, None, :, None], axis=1)[:, 0]  # [n, H, dkv]
    return before, q_parts, top_keys


def cross_attention_attributions(model: GenerativeRetriever, pass_: DecoderPass, encoded: EncodedQueries,
                                 layers: Sequence[int]) -> Attribution:
    """GR-9 (Fig. 5 left): what triggers cross-attention in ``layers``.

    Per head, the encoder position with the highest score ``s_i = q · k_i`` is taken; each
    earlier writer contributes ``(W_Q (g * c / rms(r))) · k_top``; averaged over heads. The
    writers' contributions sum to the mean top score. ``encoded`` must be the encoder output
    this pass decoded.
    """
    _need(pass_, "residual", "outputs")
    if len(encoded) != len(pass_):
        raise ValueError(f"{len(encoded)} encoded queries for a pass of {len(pass_)}")
    all_writers = writers(model.n_layers)
    values = np.full((len(pass_), len(layers), len(all_writers)), np.nan)
    for r, layer in enumerate(layers):
        before, q_parts, top_keys = _cross_attention_reads(model, pass_, encoded, layer)
        values[:, r, before] = np.einsum("nwhk,nhk->nw", q_parts, top_keys) / q_parts.shape[2]
    return Attribution("cross_attention", tuple(layers), all_writers, values)


@dataclass
class HeadContributors:
    """GR-9 heads: per query, the cross-attention heads among the top-k contributors of some active stage-III neuron."""

    k: int
    heads: list[tuple[int, int]]  # (layer, head) of every candidate head
    appears: np.ndarray  # [n, heads] bool
    frequency: np.ndarray  # [n, heads] share of the query's active neurons whose top k hold the head

    @property
    def share_in_all(self) -> float:
        """Share of the candidate heads that are top contributors for every query (paper: 66%, NQ10k)."""
        return float(self.appears.all(axis=0).mean())

    @property
    def share_in_any(self) -> float:
        return float(self.appears.any(axis=0).mean())


def head_top_contributors(model: GenerativeRetriever, pass_: DecoderPass, layers: Sequence[int], k: int = 5
                          ) -> HeadContributors:
    """GR-9: for each active neuron of the MLPs in ``layers``, the k cross-attention heads (of layers up to the
    reader's) contributing most to its pre-activation (exact decomposition as in ``neuron_attributions``).

    The paper's phrase "the same heads (66%) are in every correct query's top 5" is read as: a
    head counts for a query when it is in the top 5 of at least one of the query's active
    neurons; the candidates are all heads of the layers up to the last reader.
    """
    _need(pass_, "residual", "outputs", "head_outputs")
    assert pass_.head_outputs is not None  # recorded by the caller
    n, L, H, d = pass_.head_outputs.shape
    last = max(layers)
    heads = [(layer, h) for layer in range(last + 1) for h in range(H)]
    counts = np.zeros((n, len(heads)))
    neurons = np.zeros(n)
    vectors = _writer_vectors(pass_)
    for layer in layers:
        ff = model.model.decoder.block[layer].layer[2]
        dense = ff.DenseReluDense
        w_in = _np(dense.wi_0.weight if hasattr(dense, "wi_0") else dense.wi.weight)
        g = _np(ff.layer_norm.weight)
        eps = ff.layer_norm.variance_epsilon
        before = _reads_before(L, layer, Component.MLP)
        r_in = vectors[:, before].sum(axis=1)
        scale = g / _rms(r_in, eps)  # [n, d]
        readable = (layer + 1) * H  # heads of layers <= reader
        kk = min(k, readable)
        for i in range(n):
            pre = w_in @ (r_in[i] * scale[i])
            rows = w_in[pre > 0]
            if not len(rows):
                continue
            head_vectors = pass_.head_outputs[i, : layer + 1].reshape(readable, d) * scale[i]
            contrib = rows @ head_vectors.T  # [active, readable]
            top = np.argpartition(-contrib, kk - 1, axis=1)[:, :kk]
            counts[i, :readable] += np.bincount(top.ravel(), minlength=readable)
            neurons[i] += len(rows)
    frequency = counts / np.maximum(neurons, 1)[:, None]
    return HeadContributors(k, heads, counts > 0, frequency)


def stage_of_layer(stage_of: Mapping[str, Sequence[int]]) -> dict[int, str]:
    """``{layer: "I" | "II" | "III"}`` from a stages dict."""
    out = {layer: name for name, layers in stage_of.items() for layer in layers}
    unknown = set(out.values()) - set(STAGE_NAMES)
    if unknown:
        raise ValueError(f"unknown stage names {sorted(unknown)}")
    return out
