"""Interventions on a T5 decoder's single step: zero, mean and cross-model patching.

The generative-retrieval paper (Reusch & Belinkov) decodes ONE step from the start token, so
every decoder component writes one vector per query into a one-vector residual stream. A
``Patch`` replaces what a component (self-attention, cross-attention or MLP) adds to that
stream, in a set of layers, with:

* ``zero``  — nothing (the component is removed);
* ``mean``  — a fixed per-layer vector, ``values[L, d]`` (the paper: the mean output over the
  correct queries of a held-apart split);
* ``model`` — per-query vectors ``values[n, L, d]`` recorded from another model on the same
  queries (the paper's "T5 patching": the pre-trained T5's output for the same input).

Hooks are forward hooks on each decoder block's ``layer[0].SelfAttention``,
``layer[1].EncDecAttention`` and ``layer[2].DenseReluDense``; their outputs are exactly what
T5 adds to the residual (dropout is the identity in eval mode). Recording hooks read the
residual at each block boundary, the component outputs (after patching: what was added),
each cross-attention head's contribution (its slice of the concatenated head outputs through
its slice of the o-projection; the heads sum to the un-patched cross-attention output) and
the MLP hidden activations (the input of ``wo``). Every hook is removed in a ``finally``.

A grid of conditions runs through :meth:`GenerativeRetriever.decode_conditions`, which stacks
them in one forward pass per batch (``stacked=``, see :mod:`ranker_claims.generative.stacking`); its
cost is measured by ``benchmarks/test_paper_shapes.py``.
"""

from __future__ import annotations

import contextlib
import hashlib
from collections.abc import Iterator, Mapping, Sequence
from dataclasses import dataclass, field
from enum import Enum
from typing import TYPE_CHECKING, Any

import numpy as np

if TYPE_CHECKING:
    import torch

#: The paper's stage boundaries for its 24-layer decoder: I = 0-6, II = 7-17, III = 18-23.
PAPER_LAYERS = 24
PAPER_BOUNDARIES = (7, 18)
STAGE_NAMES = ("I", "II", "III")


class Component(str, Enum):
    SELF_ATTENTION = "self_attention"
    CROSS_ATTENTION = "cross_attention"
    MLP = "mlp"


class Method(str, Enum):
    ZERO = "zero"
    MEAN = "mean"
    MODEL = "model"  # another model's output for the same query


def layer_label(layers: Sequence[int]) -> str:
    """``(18, 19, 20)`` -> ``"18-20"``; non-contiguous sets are listed: ``"1,3,7"``."""
    layers = sorted(layers)
    if not layers:
        return "none"
    if layers == list(range(layers[0], layers[-1] + 1)) and len(layers) > 1:
        return f"{layers[0]}-{layers[-1]}"
    return ",".join(map(str, layers))


@dataclass(frozen=True)
class Patch:
    """Replace ``component``'s output in ``layers`` by ``method``'s vectors.

    ``values``: ``None`` for zero, ``[L, d]`` (indexed by absolute layer) for mean, ``[n, L, d]``
    (row i = query i of the EncodedQueries being decoded) for model. ``source`` names where the
    values came from (e.g. ``"mean of 120 correct queries"``, ``"t5-large"``); it enters ``key``.
    """

    component: Component
    layers: tuple[int, ...]
    method: Method
    values: np.ndarray | None = field(default=None, compare=False, repr=False)
    source: str = ""

    def __post_init__(self) -> None:
        object.__setattr__(self, "component", Component(self.component))
        object.__setattr__(self, "method", Method(self.method))
        object.__setattr__(self, "layers", tuple(sorted({int(layer) for layer in self.layers})))
        if not self.layers:
            raise ValueError("a patch needs at least one layer")
        if self.method is Method.ZERO:
            if self.values is not None:
                raise ValueError("a zero patch takes no values")
            return
        if self.values is None:
            raise ValueError(f"a {self.method.value} patch needs values")
        values = np.asarray(self.values, dtype=np.float32)
        want = 2 if self.method is Method.MEAN else 3
        if values.ndim != want:
            shape = "[L, d]" if want == 2 else "[n, L, d]"
            raise ValueError(f"{self.method.value} patch values must be {shape}, got shape {values.shape}")
        if max(self.layers) >= values.shape[-2]:
            raise ValueError(f"patch layers {self.layers} exceed the {values.shape[-2]} layers of its values")
        object.__setattr__(self, "values", values)

    @classmethod
    def zero(cls, component: Component | str, layers: Sequence[int]) -> Patch:
        return cls(Component(component), tuple(layers), Method.ZERO)

    @classmethod
    def mean(cls, component: Component | str, layers: Sequence[int], outputs: np.ndarray, source: str = "") -> Patch:
        """Mean patch from recorded outputs ``[n, L, d]`` (the queries to average over)."""
        outputs = np.asarray(outputs, dtype=np.float64)
        if outputs.ndim != 3 or len(outputs) == 0:
            raise ValueError(f"mean patch needs recorded outputs [n>0, L, d], got shape {outputs.shape}")
        return cls(Component(component), tuple(layers), Method.MEAN, outputs.mean(axis=0),
                   source or f"mean of {len(outputs)} queries")

    @classmethod
    def model(cls, component: Component | str, layers: Sequence[int], outputs: np.ndarray, source: str) -> Patch:
        """Cross-model patch from another model's recorded outputs ``[n, L, d]`` on the same queries."""
        return cls(Component(component), tuple(layers), Method.MODEL, outputs, source)

    @property
    def key(self) -> str:
        """Stable text for caching: ``"mlp@18-23:zero"``, plus source and a hash of the values."""
        text = f"{self.component.value}@{layer_label(self.layers)}:{self.method.value}"
        if self.values is not None:
            digest = hashlib.sha256(np.ascontiguousarray(self.values).tobytes()).hexdigest()[:12]
            text += f"[{self.source}#{digest}]" if self.source else f"[#{digest}]"
        return text


def stages(n_layers: int) -> dict[str, tuple[int, ...]]:
    """The paper's stages mapped to ``n_layers`` decoder layers.

    Exactly I = 0-6, II = 7-17, III = 18-23 for 24 layers; otherwise the boundaries are
    7/24 and 18/24 of the depth, rounded half up (12 layers: 0-3, 4-8, 9-11), each stage
    keeping at least one layer.
    """
    if n_layers < 3:
        raise ValueError(f"three stages need at least 3 decoder layers, got {n_layers}")
    b1, b2 = (int(np.floor(n_layers * b / PAPER_LAYERS + 0.5)) for b in PAPER_BOUNDARIES)
    b1 = min(max(b1, 1), n_layers - 2)
    b2 = min(max(b2, b1 + 1), n_layers - 1)
    return _split(n_layers, b1, b2)


def _split(n_layers: int, b1: int, b2: int) -> dict[str, tuple[int, ...]]:
    return {"I": tuple(range(b1)), "II": tuple(range(b1, b2)), "III": tuple(range(b2, n_layers))}


def data_driven_stages(ratios: Mapping[Component, np.ndarray] | Mapping[str, np.ndarray]) -> dict[str, tuple[int, ...]]:
    """Stage boundaries read off a contribution profile (GR-2 ratios, ``[L]`` or ``[n, L]``).

    The paper's definition: MLPs dominate stage I, cross-attention stage II, MLPs stage III.
    With ``d[l] = ratio_mlp[l] - ratio_cross[l]`` (means over queries), the boundaries
    ``0 < b1 < b2 < L`` maximise ``sum_{l<b1} d - sum_{b1<=l<b2} d + sum_{l>=b2} d`` —
    the split that best fits that MLP / cross-attention / MLP pattern; exhaustive search,
    the first optimum wins (earliest b1, then b2).
    """
    profile = {Component(k): np.asarray(v, dtype=np.float64) for k, v in ratios.items()}
    missing = {Component.MLP, Component.CROSS_ATTENTION} - profile.keys()
    if missing:
        raise ValueError(f"data-driven stages need the {sorted(c.value for c in missing)} ratios")

    def mean(v: np.ndarray) -> np.ndarray:
        return np.nanmean(v, axis=0) if v.ndim == 2 else v

    d = mean(profile[Component.MLP]) - mean(profile[Component.CROSS_ATTENTION])
    n = len(d)
    if n < 3:
        raise ValueError(f"three stages need at least 3 layers, got {n}")
    prefix = np.concatenate([[0.0], np.cumsum(d)])
    best, best_score = (1, 2), -np.inf
    for b1 in range(1, n - 1):
        for b2 in range(b1 + 1, n):
            score = prefix[b1] - (prefix[b2] - prefix[b1]) + (prefix[n] - prefix[b2])
            if score > best_score + 1e-12:
                best, best_score = (b1, b2), score
    return _split(n, *best)


# -- the hook engine ------------------------------------------------------------------


@dataclass
class Recording:
    """Tensors captured during one batch, filled by ``intervening``'s hooks (layer-indexed lists)."""

    n_layers: int
    residual: list[Any] = field(default_factory=list)  # L+1 tensors [b, d]
    outputs: dict[Component, list[Any]] = field(default_factory=dict)
    heads: list[Any] = field(default_factory=list)  # L tensors [b, H, d]
    neurons: list[Any] = field(default_factory=list)  # L tensors [b, d_ff]

    def __post_init__(self) -> None:
        L = self.n_layers
        self.residual = [None] * (L + 1)
        self.outputs = {c: [None] * L for c in Component}
        self.heads = [None] * L
        self.neurons = [None] * L


def decoder_modules(model: Any) -> list[dict[Component, Any]]:
    """Per decoder block, the three modules whose outputs are added to the residual."""
    blocks = getattr(getattr(model, "decoder", None), "block", None)
    if blocks is None:
        raise TypeError(f"{type(model).__name__} has no T5-style decoder.block")
    out = []
    for i, block in enumerate(blocks):
        try:
            out.append({
                Component.SELF_ATTENTION: block.layer[0].SelfAttention,
                Component.CROSS_ATTENTION: block.layer[1].EncDecAttention,
                Component.MLP: block.layer[2].DenseReluDense,
            })
        except (AttributeError, IndexError) as error:
            raise TypeError(f"decoder block {i} is not a T5 block (self-attn, cross-attn, MLP): {error}") from error
    return out


@contextlib.contextmanager
def intervening(
    model: Any,
    patches: Sequence[Patch],
    batch_index: np.ndarray,
    recording: Recording | None = None,
    *,
    stacked: Sequence[Sequence[Patch]] | None = None,
) -> Iterator[None]:
    """Install patch (and recording) hooks for one batch of queries; always removes them.

    ``batch_index``: the rows of the EncodedQueries in this batch, to pick model-patch values.
    ``stacked``: instead of ``patches``, one list of patches per block of ``len(batch_index)`` rows:
    the batch repeated once per condition, so several conditions share one forward pass.
    """
    import torch

    modules = decoder_modules(model)
    n_layers = len(modules)
    index = torch.as_tensor(np.asarray(batch_index, dtype=np.int64))
    b = len(batch_index)
    if stacked is not None and recording is not None:
        raise ValueError("stacked conditions are not recorded: record one condition at a time")
    conditions = [patches] if stacked is None else list(stacked)
    # (component, layer) -> the rows each patch replaces (all rows when one condition runs)
    plan: dict[tuple[Component, int], list[tuple[slice, Patch]]] = {}
    for k, condition in enumerate(conditions):
        rows = slice(None) if stacked is None else slice(k * b, (k + 1) * b)
        seen: set[tuple[Component, int]] = set()
        for patch in condition:
            for layer in patch.layers:
                if not 0 <= layer < n_layers:
                    raise ValueError(f"patch {patch.key}: layer {layer} outside the decoder's 0-{n_layers - 1}")
                if (patch.component, layer) in seen:
                    raise ValueError(f"two patches replace {patch.component.value} in layer {layer}")
                seen.add((patch.component, layer))
                plan.setdefault((patch.component, layer), []).append((rows, patch))

    def replacement(patch: Patch, layer: int, like: torch.Tensor) -> torch.Tensor:
        if patch.method is Method.ZERO:
            return torch.zeros_like(like)
        assert patch.values is not None  # every method but ZERO carries values
        values = torch.from_numpy(patch.values)
        if patch.values.shape[-1] != like.shape[-1]:
            raise ValueError(f"patch {patch.key}: values have width {patch.values.shape[-1]}, model {like.shape[-1]}")
        if patch.method is Method.MEAN:
            vector = values[layer].to(like.device, like.dtype)
            return vector.expand_as(like).clone()
        if int(index.max()) >= values.shape[0]:
            raise ValueError(f"patch {patch.key}: values for {values.shape[0]} queries, batch needs row {int(index.max())}")
        rows = values[index, layer].to(like.device, like.dtype)  # [b, d]
        return rows[:, None, :].expand_as(like).clone()

    def patched(tensor: torch.Tensor, layer: int, replaced: list[tuple[slice, Patch]]) -> torch.Tensor:
        if stacked is None:
            (_, patch), = replaced
            return replacement(patch, layer, tensor)
        out = tensor.clone()
        for rows, patch in replaced:
            out[rows] = replacement(patch, layer, tensor[rows])
        return out

    def component_hook(component: Component, layer: int):
        replaced = plan.get((component, layer))

        def hook(module, args, output):
            tensor = output[0] if isinstance(output, tuple) else output
            if replaced is not None:
                tensor = patched(tensor, layer, replaced)
            if recording is not None:
                recording.outputs[component][layer] = tensor[:, -1].detach().clone()
            if replaced is None:
                return None
            return (tensor, *output[1:]) if isinstance(output, tuple) else tensor

        return hook

    handles = []
    try:
        for layer, mods in enumerate(modules):
            for component, module in mods.items():
                if recording is not None or (component, layer) in plan:
                    handles.append(module.register_forward_hook(component_hook(component, layer)))
        if recording is not None:
            blocks = model.decoder.block

            def block_input(module, args, kwargs):
                hidden = args[0] if args else kwargs["hidden_states"]
                recording.residual[0] = hidden[:, -1].detach().clone()

            def block_output(layer: int):
                def hook(module, args, output):
                    hidden = output[0] if isinstance(output, tuple) else output
                    recording.residual[layer + 1] = hidden[:, -1].detach().clone()

                return hook

            handles.append(blocks[0].register_forward_pre_hook(block_input, with_kwargs=True))
            for layer, block in enumerate(blocks):
                handles.append(block.register_forward_hook(block_output(layer)))
                attention = modules[layer][Component.CROSS_ATTENTION]
                handles.append(attention.o.register_forward_pre_hook(_head_recorder(recording, layer, attention)))
                mlp = modules[layer][Component.MLP]
                handles.append(mlp.wo.register_forward_pre_hook(_neuron_recorder(recording, layer)))
        yield
    finally:
        for handle in handles:
            handle.remove()


def _head_recorder(recording: Recording, layer: int, attention: Any):
    """Per-head contribution: head h's slice of the concatenated outputs through its o-projection slice."""

    import torch

    def hook(module, args):
        concat = args[0][:, -1]  # [b, H*dkv]
        n_heads, d_kv = attention.n_heads, attention.key_value_proj_dim
        weight = module.weight  # [d, H*dkv]
        per_head = concat.reshape(concat.shape[0], n_heads, d_kv)
        per_head_weight = weight.reshape(weight.shape[0], n_heads, d_kv)  # [d, H, dkv]
        recording.heads[layer] = torch.einsum("bhk,dhk->bhd", per_head, per_head_weight).detach()  # [b, H, d]

    return hook


def _neuron_recorder(recording: Recording, layer: int):
    def hook(module, args):
        recording.neurons[layer] = args[0][:, -1].detach().clone()

    return hook


def grid_patches(
    n_layers: int,
    mean_outputs: Mapping[Component, np.ndarray] | None = None,
    model_outputs: Mapping[Component, np.ndarray] | None = None,
    *,
    stage_of: Mapping[str, tuple[int, ...]] | None = None,
    mean_source: str = "",
    model_source: str = "other model",
) -> dict[tuple[Component, str, Method], Patch]:
    """The paper's Table 3 grid: component x stage x method (27 conditions when every method has values).

    ``mean_outputs``/``model_outputs``: recorded ``{component: [n, L, d]}`` (the mean split's
    correct queries / the other model on the decoded queries); a method without values is left out.
    """
    stage_of = stage_of or stages(n_layers)
    grid: dict[tuple[Component, str, Method], Patch] = {}
    for component in Component:
        for name, layers in stage_of.items():
            grid[(component, name, Method.ZERO)] = Patch.zero(component, layers)
            if mean_outputs is not None:
                grid[(component, name, Method.MEAN)] = Patch.mean(component, layers, mean_outputs[component], mean_source)
            if model_outputs is not None:
                grid[(component, name, Method.MODEL)] = Patch.model(component, layers, model_outputs[component],
                                                                    model_source)
    return grid
