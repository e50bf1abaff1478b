"""Per-head attention statistics against hand computation on small attention maps."""

from __future__ import annotations

import numpy as np
import pytest
import torch
from hypothesis import given, settings

from ranker_claims.cross_encoder.analyses.head_statistics import STATISTICS, reduce_attention
from ranker_claims.cross_encoder.parts import PADDING
from tests.strategies import attention_maps

PARTS = torch.tensor([[0, 1, 1, 2, 3, 3, 4, PADDING]])  # [CLS] q q [SEP] d d [SEP] pad


def hand(probs: np.ndarray, parts: np.ndarray) -> dict[str, np.ndarray]:
    q, d = np.flatnonzero(parts == 1), np.flatnonzero(parts == 3)
    cls, sep = np.flatnonzero(parts == 0), np.flatnonzero((parts == 2) | (parts == 4))
    text = np.concatenate([q, d])
    row = probs[:, cls[0]]
    return {
        "max_query_to_document": probs[:, d][:, :, q].max(axis=(1, 2)),
        "max_document_to_query": probs[:, q][:, :, d].max(axis=(1, 2)),
        "cls_mass": probs[:, text][:, :, cls].sum(-1).mean(-1),
        "sep_mass": probs[:, text][:, :, sep].sum(-1).mean(-1),
        "cls_entropy": -(row * np.log(np.clip(row, 1e-12, None))).sum(-1),
        "cls_to_sep": row[:, sep].sum(-1),
    }


@settings(max_examples=40, deadline=None)
@given(attention_maps(min_heads=1, max_heads=3, min_seq=8, max_seq=8))
def test_statistics_match_hand_computation(maps):
    got = reduce_attention(torch.tensor(maps)[None], PARTS)
    want = hand(maps, PARTS[0].numpy())
    assert set(got) == set(STATISTICS)
    for name in STATISTICS:
        np.testing.assert_allclose(got[name][0].numpy(), want[name], atol=1e-9, err_msg=name)


def test_a_planted_matching_head_is_maximal_on_its_block():
    probs = torch.full((1, 2, 8, 8), 1 / 7, dtype=torch.float64)
    probs[0, 0, 4, :] = 0.0
    probs[0, 0, 4, 1] = 1.0  # document token 4 reads query token 1 only
    stats = reduce_attention(probs, PARTS)
    assert stats["max_query_to_document"][0, 0] == 1.0
    assert stats["max_query_to_document"][0, 1] == pytest.approx(1 / 7)
