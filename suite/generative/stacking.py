"""Several decoder conditions in one forward pass over one batch of queries.

A patching grid decodes the same queries under many conditions. Each condition's decoder step
reads every decoder weight; on few queries that read, not arithmetic, is its cost. Stacking C
conditions as C copies of the batch (row block k = condition k) reads the weights once for all C.
Two things stay shared rather than copied:

* the cross-attention keys and values, computed once per batch from the encoder states (no
  decoder patch changes them): :func:`sharing_keys` lets T5's cross-attention take queries for C
  copies of the batch against keys and values of one copy, by broadcasting;
* the blocks below a stack's first patched layer, which compute what an unpatched pass computed:
  :func:`starting_at` makes them return that pass's outputs (:func:`block_outputs`).

Everything set here is undone in a ``finally``.
"""

from __future__ import annotations

import contextlib
from collections.abc import Callable, Iterator
from typing import Any

SHARED_KEYS = "ranker_claims_t5_shared_keys"


def block_outputs(model: Any, forward: Callable[[], Any]) -> list[Any]:
    """Run ``forward`` and return what each decoder block returned in it."""
    outputs: list[Any] = []
    handles = [block.register_forward_hook(lambda module, args, output: outputs.append(output))
               for block in model.decoder.block]
    try:
        forward()
    finally:
        for handle in handles:
            handle.remove()
    return outputs


@contextlib.contextmanager
def starting_at(model: Any, outputs: list[Any], first: int, copies: int = 1) -> Iterator[None]:
    """Let decoder blocks below ``first`` return their recorded ``outputs`` (for one copy of the batch,
    repeated ``copies`` times) instead of computing them again."""
    blocks = list(model.decoder.block)[:first]
    rows = outputs[0][0].shape[0] if outputs else 0
    try:
        for block, output in zip(blocks, outputs):
            # The default binds this block's repeated output once, when the lambda is made (not per call).
            block.forward = lambda *args, _output=_repeat_rows(output, rows, copies), **kwargs: _output  # noqa: B008
        yield
    finally:
        for block in blocks:
            block.__dict__.pop("forward", None)


def _repeat_rows(output: Any, rows: int, copies: int) -> Any:
    """A block's output for a batch of ``rows``, repeated ``copies`` times along the batch; tensors of
    another first size (position biases, which broadcast) are left as they are."""
    if isinstance(output, tuple):
        return tuple(_repeat_rows(item, rows, copies) for item in output)
    if output is None or copies == 1 or output.shape[0] != rows:
        return output
    return output.repeat(copies, *[1] * (output.dim() - 1))


@contextlib.contextmanager
def sharing_keys(model: Any) -> Iterator[None]:
    """Run the model's attention through :func:`_shared_keys_attention` inside the block."""
    from transformers import AttentionInterface, AttentionMaskInterface
    from transformers.masking_utils import eager_mask

    AttentionInterface.register(SHARED_KEYS, _shared_keys_attention)
    AttentionMaskInterface.register(SHARED_KEYS, eager_mask)  # without it padding would be dropped
    # The decoder's modules hold their own copy of the config: switch every one of them.
    configs = {id(c): c for m in model.modules() if (c := getattr(m, "config", None)) is not None}
    before = {key: config._attn_implementation for key, config in configs.items()}
    try:
        for config in configs.values():
            config._attn_implementation = SHARED_KEYS
        yield
    finally:
        for key, config in configs.items():
            config._attn_implementation = before[key]


def _shared_keys_attention(module: Any, query: Any, key: Any, value: Any, attention_mask: Any, scaling: Any = None,
                           dropout: float = 0.0, position_bias: Any = None, **kwargs: Any) -> tuple[Any, Any]:
    """T5's eager attention (the same operations), where ``query`` may hold C stacked copies of the batch
    whose ``key`` and ``value`` are given once: the copies broadcast against them instead of copying them
    C times."""
    import torch
    from transformers.models.t5.modeling_t5 import eager_attention_forward

    rows = key.shape[0]
    if query.shape[0] == rows:
        return eager_attention_forward(module, query, key, value, attention_mask, scaling, dropout,
                                       position_bias=position_bias, **kwargs)
    copies = query.shape[0] // rows
    _, heads, length, width = query.shape

    def as_positions(tensor: torch.Tensor) -> torch.Tensor:
        """[C*b, h, L, x] -> [b, h, C*L, x]: the copies become more query positions of one batch row."""
        h, x = tensor.shape[1], tensor.shape[-1]
        return tensor.view(copies, rows, h, length, x).permute(1, 2, 0, 3, 4).reshape(rows, h, copies * length, x)

    def arranged(tensor: Any) -> Any:  # a bias or mask, laid out as the scores [b, H, C*L, keys] are
        if tensor is None:
            return None
        if tensor.shape[0] == query.shape[0]:
            return as_positions(tensor)
        return tensor if tensor.shape[2] == 1 else tensor.repeat(1, 1, copies, 1)

    if scaling is None:
        scaling = width**-0.5
    # Each batch row's copies attend as extra query positions, so one product per row reads its keys once.
    scores = torch.matmul(as_positions(query), key.transpose(2, 3)) * scaling
    for added in (arranged(position_bias), arranged(attention_mask)):
        if added is not None:
            scores = scores + added
    weights = torch.nn.functional.dropout(torch.softmax(scores, dim=-1), p=dropout, training=module.training)
    output = torch.matmul(weights, value)  # [b, H, C*L, d]

    def as_copies(tensor: torch.Tensor) -> torch.Tensor:  # the inverse of as_positions
        x = tensor.shape[-1]
        return tensor.view(rows, heads, copies, length, x).permute(2, 0, 1, 3, 4).reshape(copies * rows, heads, length, x)

    return as_copies(output).transpose(1, 2).contiguous(), as_copies(weights)
