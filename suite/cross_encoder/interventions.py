"""Attention interventions on encoder self-attention, by direction between input parts.

Convention ("flow", the cross-encoder paper's): the direction ``X->Y`` means information
flows from part X to part Y, i.e. tokens of Y attend to tokens of X. Ablating it removes
the attention weights A[i, j] with token i in Y (the attending row) and token j in X
(the attended column). ``Convention.ATTEND`` reads ``X->Y`` the other way round.

Two operators, because the paper does not publish its own:

* ``pre-softmax`` (default): the ablated logits are masked (``finfo.min``) before the
  softmax, so each row's remaining weights are renormalised to sum to one;
* ``post-softmax``: the weights are zeroed after the softmax and not renormalised.

In both, a row whose every key is ablated outputs zero: there is nothing left to read.

The interventions run inside a custom attention function registered with transformers'
``AttentionInterface`` (and a matching ``AttentionMaskInterface`` entry, without which
padding would be silently dropped). With no intervention active it delegates to the
stock ``sdpa`` (or ``eager``) function, so an unablated model is the plain model.
"""

from __future__ import annotations

import contextlib
import contextvars
from collections.abc import Iterable, Iterator
from dataclasses import dataclass, field
from enum import Enum
from typing import TYPE_CHECKING, Any

from ranker_claims.cross_encoder.parts import Part

if TYPE_CHECKING:
    import torch

ATTN_IMPLEMENTATION = "ranker_claims"


class Convention(str, Enum):
    FLOW = "flow"  # X->Y: information flows from X to Y (tokens of Y attend to tokens of X)
    ATTEND = "attend"  # X->Y: tokens of X attend to tokens of Y

    def describe(self) -> str:
        if self is Convention.FLOW:
            return "X->Y: information flows from X to Y (tokens of Y attend to tokens of X)"
        return "X->Y: tokens of X attend to tokens of Y (information flows from Y to X)"


class Mode(str, Enum):
    PRE_SOFTMAX = "pre-softmax"
    POST_SOFTMAX = "post-softmax"


@dataclass(frozen=True, order=True)
class Direction:
    """Information flow from ``source`` to ``target`` (flow convention, see module doc)."""

    source: Part
    target: Part

    @classmethod
    def parse(cls, text: str, convention: Convention = Convention.FLOW) -> Direction:
        left, sep, right = text.partition("->")
        if not sep:
            raise ValueError(f"direction {text!r} must look like 'query->document'")
        a, b = Part.parse(left), Part.parse(right)
        return cls(a, b) if convention is Convention.FLOW else cls(b, a)

    def __str__(self) -> str:
        return f"{self.source.label}->{self.target.label}"


def all_directions() -> list[Direction]:
    """The 25 directed part pairs, source-major."""
    return [Direction(s, t) for s in Part for t in Part]


def expand(spec: str, convention: Convention = Convention.FLOW) -> frozenset[Direction]:
    """Parse ``'query->document'``, ``'query<->document'`` or ``'[CLS]<->*'``."""
    if "<->" in spec:
        left, right = spec.split("<->")
        forward, backward = f"{left}->{right}", f"{right}->{left}"
        return expand(forward, convention) | expand(backward, convention)
    left, _, right = spec.partition("->")
    sources = list(Part) if left.strip() == "*" else [None]
    targets = list(Part) if right.strip() == "*" else [None]
    out = set()
    for s in sources:
        for t in targets:
            text = f"{s.name if s is not None else left}->{t.name if t is not None else right}"
            out.add(Direction.parse(text, convention))
    return frozenset(out)


@dataclass(frozen=True)
class DirectionAblation:
    """Remove attention along ``directions`` in the given heads (default: every head)."""

    directions: frozenset[Direction]
    heads: frozenset[tuple[int, int]] | None = None  # (layer, head); None = all
    mode: Mode = Mode.PRE_SOFTMAX

    @property
    def key(self) -> str:
        dirs = ",".join(str(d) for d in sorted(self.directions))
        return f"ablate[{dirs}]{_heads_key(self.heads)}:{self.mode.value}"


@dataclass(frozen=True)
class HeadAblation:
    """Zero the whole output of the given heads (before the output projection)."""

    heads: frozenset[tuple[int, int]]

    @property
    def key(self) -> str:
        return f"zero-heads{_heads_key(self.heads)}"


Intervention = DirectionAblation | HeadAblation


def _heads_key(heads: frozenset[tuple[int, int]] | None) -> str:
    if heads is None:
        return ""
    return "@" + ",".join(f"{layer}/{head}" for layer, head in sorted(heads))


@dataclass
class _LayerPlan:
    blocked: list[tuple[frozenset[Direction], Any, Mode]] = field(default_factory=list)  # (dirs, head mask)
    zero_heads: set[int] = field(default_factory=set)


@dataclass
class _Active:
    plans: dict[int, _LayerPlan]
    parts: torch.Tensor  # [batch, seq] Part values, -1 for padding
    n_heads: int
    backend: str
    layer_of: dict[int, int]  # id(attention module) -> layer index
    recorder: Any = None  # callable(layer, probs) for attention statistics
    cache: dict[Any, Any] = field(default_factory=dict)


_ACTIVE: contextvars.ContextVar[_Active | None] = contextvars.ContextVar("ranker_claims_active", default=None)


def register() -> None:
    """Make ``attn_implementation="ranker_claims"`` available to transformers (idempotent)."""
    from transformers import AttentionInterface, AttentionMaskInterface
    from transformers.masking_utils import eager_mask

    AttentionInterface.register(ATTN_IMPLEMENTATION, _attention)
    # Our function takes the eager (additive, finfo.min) mask in both backends; without
    # this entry transformers would build no padding mask for the custom name.
    AttentionMaskInterface.register(ATTN_IMPLEMENTATION, eager_mask)


def attention_layers(model: Any) -> dict[int, int]:
    """Map each self-attention module (by id) to its layer index, in forward order."""
    modules = [m for m in model.modules() if type(m).__name__.endswith("SelfAttention")]
    if not modules:
        raise TypeError(f"{type(model).__name__} has no *SelfAttention modules to intervene on")
    return {id(m): i for i, m in enumerate(modules)}


@contextlib.contextmanager
def intervening(
    model: Any,
    parts: torch.Tensor,
    interventions: Iterable[Intervention] = (),
    *,
    backend: str = "sdpa",
    recorder: Any = None,
    layer_of: dict[int, int] | None = None,
) -> Iterator[None]:
    """Apply ``interventions`` to every forward of ``model`` inside the block.

    ``parts`` labels the tokens of the batch about to run ([batch, seq]). ``recorder``,
    if given, is called as ``recorder(layer, probs)`` with each layer's attention weights
    ([batch, heads, seq, seq]), which forces the eager computation for that call.
    """
    if getattr(model.config, "_attn_implementation", None) != ATTN_IMPLEMENTATION:
        raise RuntimeError(
            f"model was not loaded with attn_implementation={ATTN_IMPLEMENTATION!r}; "
            "load it through ranker_claims.cross_encoder.model.CrossEncoder"
        )
    layers = layer_of if layer_of is not None else attention_layers(model)
    n_layers = len(layers)
    n_heads = model.config.num_attention_heads
    plans: dict[int, _LayerPlan] = {}
    for intervention in interventions:
        heads = intervention.heads
        for layer in range(n_layers):
            selected = sorted(h for (l, h) in heads if l == layer) if heads is not None else list(range(n_heads))
            if not selected:
                continue
            plan = plans.setdefault(layer, _LayerPlan())
            if isinstance(intervention, HeadAblation):
                plan.zero_heads.update(selected)
            else:
                plan.blocked.append((intervention.directions, tuple(selected), intervention.mode))
    token = _ACTIVE.set(_Active(plans, parts, n_heads, backend, layers, recorder))
    try:
        yield
    finally:
        _ACTIVE.reset(token)


def blocked_mask(parts: torch.Tensor, directions: Iterable[Direction]) -> torch.Tensor:
    """[batch, 1, seq, seq] bool: True where attending row i may not read key column j."""
    import torch

    rows = parts.unsqueeze(2)  # target (attending) part of row i
    cols = parts.unsqueeze(1)  # source (attended) part of column j
    mask = torch.zeros(rows.shape[0], rows.shape[1], cols.shape[2], dtype=torch.bool, device=parts.device)
    for d in directions:
        mask |= (rows == int(d.target)) & (cols == int(d.source))
    return mask.unsqueeze(1)


def _attention(module, query, key, value, attention_mask, scaling=None, dropout=0.0, **kwargs):
    """Attention with the active interventions; the stock function when none applies."""
    import torch
    from transformers.integrations.sdpa_attention import sdpa_attention_forward
    from transformers.models.bert.modeling_bert import eager_attention_forward

    active = _ACTIVE.get()
    plan = None
    if active is not None:
        plan = active.plans.get(active.layer_of.get(id(module), -1))
    if plan is None and (active is None or active.recorder is None):
        base = sdpa_attention_forward if (active is None or active.backend == "sdpa") else eager_attention_forward
        return base(module, query, key, value, attention_mask, scaling=scaling, dropout=dropout, **kwargs)

    layer = active.layer_of[id(module)]
    plan = plan or _LayerPlan()
    if scaling is None:
        scaling = query.size(-1) ** -0.5
    n_heads = query.shape[1]
    min_value = torch.finfo(query.dtype).min
    if attention_mask is not None:
        additive = attention_mask
    else:
        additive = query.new_zeros(query.shape[0], 1, query.shape[2], key.shape[2])

    pre_blocked, post_blocked = _blocked(active, plan, n_heads)
    use_sdpa = active.backend == "sdpa" and active.recorder is None and post_blocked is None
    alive = None
    if pre_blocked is not None:
        # Every layer of one forward pass shares the mask: build it (and the rows it leaves
        # alive) once per batch, not once per layer.
        key_ = ("masked", tuple(plan.blocked), n_heads, query.dtype)
        if key_ not in active.cache:
            # where(), not addition: finfo.min + finfo.min overflows to -inf and NaNs the softmax.
            masked = torch.where(pre_blocked, min_value, additive.expand(pre_blocked.shape[0], n_heads, -1, -1))
            active.cache[key_] = (masked.to(query.dtype), _row_alive(pre_blocked, attention_mask, query.dtype))
        additive, alive = active.cache[key_]
    if use_sdpa:
        output = torch.nn.functional.scaled_dot_product_attention(
            query, key, value, attn_mask=additive.to(query.dtype), scale=scaling
        )
        probs = None
    else:
        scores = torch.matmul(query, key.transpose(2, 3)) * scaling + additive
        probs = torch.softmax(scores, dim=-1)
        if post_blocked is not None:
            probs = probs.masked_fill(post_blocked, 0.0)
        if alive is not None:
            probs = probs * alive
        output = torch.matmul(probs, value)
    if alive is not None and use_sdpa:
        output = output * alive
    if plan.zero_heads:
        keep = torch.ones(1, n_heads, 1, 1, dtype=output.dtype, device=output.device)
        keep[0, sorted(plan.zero_heads)] = 0.0
        output = output * keep
    if active.recorder is not None:
        active.recorder(layer, probs)
    return output.transpose(1, 2).contiguous(), probs


def _blocked(active: _Active, plan: _LayerPlan, n_heads: int) -> tuple[Any, Any]:
    """(pre-softmax, post-softmax) boolean masks [batch, heads, query, key] of a layer's plan,
    each None when empty; cached per batch, since layers with the same plan share them."""
    import torch

    cache_key = ("plan", tuple(plan.blocked), n_heads)
    if cache_key not in active.cache:
        pre = post = None
        for directions, heads, mode in plan.blocked:
            if ("blocked", directions) not in active.cache:
                active.cache[("blocked", directions)] = blocked_mask(active.parts, directions)
            head_sel = torch.zeros(1, n_heads, 1, 1, dtype=torch.bool, device=active.parts.device)
            head_sel[0, list(heads)] = True
            block = active.cache[("blocked", directions)] & head_sel
            if mode is Mode.PRE_SOFTMAX:
                pre = block if pre is None else pre | block
            else:
                post = block if post is None else post | block
        active.cache[cache_key] = (pre, post)
    return active.cache[cache_key]


def _row_alive(blocked: torch.Tensor, attention_mask: torch.Tensor | None, dtype: torch.dtype) -> torch.Tensor:
    """1.0 for rows that keep at least one readable (unblocked, unpadded) key, else 0.0."""
    readable = ~blocked
    if attention_mask is not None:
        readable = readable & (attention_mask == 0)
    return readable.any(dim=-1, keepdim=True).to(dtype)
