"""Direction and head ablation, checked against attention computed by hand in numpy."""

from __future__ import annotations

import numpy as np
import pytest
import torch

from ranker_claims.cross_encoder import interventions as attention
from ranker_claims.cross_encoder.interventions import (
    Convention,
    Direction,
    DirectionAblation,
    HeadAblation,
    Mode,
    expand,
    intervening,
)
from ranker_claims.cross_encoder.parts import PADDING, Part

# Two pairs: [CLS] q q [SEP] d d d [SEP] and a shorter one padded at the end.
PARTS = torch.tensor([[0, 1, 1, 2, 3, 3, 3, 4], [0, 1, 2, 3, 3, 4, PADDING, PADDING]])


def hand_attention(q, k, v, parts, blocked_pairs, heads, mode, zero_heads=()):
    """Reference: per row, softmax over readable keys (pre) or zero after softmax (post)."""
    batch, n_heads, seq, _ = q.shape
    out = np.zeros_like(q)
    for b in range(batch):
        for h in range(n_heads):
            for i in range(seq):
                logits = q[b, h, i] @ k[b, h].T / np.sqrt(q.shape[-1])
                padded = parts[b] == PADDING
                blocked = np.array(
                    [h in heads and (int(parts[b, j]), int(parts[b, i])) in blocked_pairs for j in range(seq)]
                )
                if mode == "pre":
                    keep = ~padded & ~blocked
                    if not keep.any():
                        continue
                    w = np.exp(logits - logits[keep].max()) * keep
                    w /= w.sum()
                else:
                    keep = ~padded
                    w = np.exp(logits - logits[keep].max()) * keep
                    w /= w.sum()
                    w[blocked] = 0.0
                out[b, h, i] = w @ v[b, h]
            if h in zero_heads:
                out[b, h] = 0.0
    return out


class FakeSelfAttention(torch.nn.Module):
    """Stands in for a model's attention module: the engine only needs its identity."""


def run_engine(q, k, v, interventions, backend="sdpa"):
    module = FakeSelfAttention()
    model = type("M", (), {})()
    model.config = type("C", (), {"_attn_implementation": attention.ATTN_IMPLEMENTATION, "num_attention_heads": q.shape[1]})()
    padding = (PARTS == PADDING)[:, None, None, :]
    mask = torch.where(padding, torch.finfo(torch.float32).min, 0.0).expand(-1, 1, PARTS.shape[1], -1)
    with intervening(model, PARTS, interventions, backend=backend, layer_of={id(module): 0}):
        out, _ = attention._attention(module, q, k, v, mask, scaling=q.shape[-1] ** -0.5)
    return out.transpose(1, 2).numpy()  # back to [batch, heads, seq, dim]


@pytest.fixture
def qkv():
    g = torch.Generator().manual_seed(0)
    return [torch.randn(2, 3, 8, 4, generator=g) for _ in range(3)]


@pytest.mark.parametrize("backend", ["sdpa", "eager"])
@pytest.mark.parametrize("spec", ["query->document", "document->query", "query<->document", "cls<->*", "document->document"])
def test_pre_softmax_matches_hand_computation(qkv, spec, backend):
    directions = expand(spec)
    got = run_engine(*qkv, [DirectionAblation(directions)], backend)
    pairs = {(int(d.source), int(d.target)) for d in directions}
    want = hand_attention(*(t.numpy() for t in qkv), PARTS.numpy(), pairs, heads={0, 1, 2}, mode="pre")
    real = (PARTS != PADDING).numpy()[:, None, :, None]
    np.testing.assert_allclose(got * real, want * real, atol=1e-5)


def test_post_softmax_zeroes_without_renormalising(qkv):
    directions = expand("query->document")
    got = run_engine(*qkv, [DirectionAblation(directions, mode=Mode.POST_SOFTMAX)], "eager")
    pairs = {(int(d.source), int(d.target)) for d in directions}
    want = hand_attention(*(t.numpy() for t in qkv), PARTS.numpy(), pairs, heads={0, 1, 2}, mode="post")
    real = (PARTS != PADDING).numpy()[:, None, :, None]
    np.testing.assert_allclose(got * real, want * real, atol=1e-5)


def test_only_selected_heads_are_ablated(qkv):
    directions = expand("query->document")
    got = run_engine(*qkv, [DirectionAblation(directions, heads=frozenset({(0, 1)}))])
    pairs = {(int(d.source), int(d.target)) for d in directions}
    want = hand_attention(*(t.numpy() for t in qkv), PARTS.numpy(), pairs, heads={1}, mode="pre")
    real = (PARTS != PADDING).numpy()[:, None, :, None]
    np.testing.assert_allclose(got * real, want * real, atol=1e-5)


def test_head_ablation_zeroes_whole_head(qkv):
    got = run_engine(*qkv, [HeadAblation(frozenset({(0, 2)}))])
    want = hand_attention(*(t.numpy() for t in qkv), PARTS.numpy(), set(), heads=set(), mode="pre", zero_heads={2})
    real = (PARTS != PADDING).numpy()[:, None, :, None]
    np.testing.assert_allclose(got * real, want * real, atol=1e-5)
    assert np.all(got[:, 2] == 0)


def test_state_is_reset_after_an_exception(qkv):
    model = type("M", (), {})()
    model.config = type("C", (), {"_attn_implementation": attention.ATTN_IMPLEMENTATION, "num_attention_heads": 3})()
    with (
        pytest.raises(RuntimeError, match="boom"),
        intervening(model, PARTS, [HeadAblation(frozenset({(0, 0)}))], layer_of={0: 0}),
    ):
        raise RuntimeError("boom")
    assert attention._ACTIVE.get() is None


def test_direction_parsing_and_conventions():
    assert Direction.parse("query->document") == Direction(Part.QUERY, Part.DOCUMENT)
    assert Direction.parse("query->document", Convention.ATTEND) == Direction(Part.DOCUMENT, Part.QUERY)
    assert len(expand("cls<->*")) == 9  # 5 out of [CLS], 5 into it, [CLS]->[CLS] once
    assert len(attention.all_directions()) == 25
    with pytest.raises(ValueError, match="unknown input part"):
        Direction.parse("query->title")
    with pytest.raises(ValueError, match="must look like"):
        Direction.parse("query document")


def test_blocked_mask_marks_attending_rows_of_target():
    mask = attention.blocked_mask(PARTS, [Direction(Part.QUERY, Part.DOCUMENT)])[0, 0]
    # Row 4 is a document token: it may not read columns 1-2 (query tokens).
    assert mask[4, 1] and mask[4, 2] and not mask[1, 4] and not mask[4, 4]
