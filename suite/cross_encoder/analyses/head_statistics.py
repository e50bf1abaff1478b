"""Per-head attention statistics of every pair, gathered in one forward pass per pair.

CE-6, CE-7, CE-11 and CE-12 all read these numbers, so they are computed once (while
the attention weights exist, inside the attention function) and reduced right away:
a [pairs, layers, heads] array per statistic, never the full attention maps.

Directions follow the flow convention: "max Query->Document" is the largest weight a
document token puts on a query token (information flowing from query to document).
"""

from __future__ import annotations

from typing import TYPE_CHECKING

import numpy as np

from ranker_claims.core.devices import interruptible
from ranker_claims.cross_encoder.interventions import intervening
from ranker_claims.cross_encoder.parts import Part

if TYPE_CHECKING:
    import torch

    from ranker_claims.cross_encoder.model import CrossEncoder, EncodedPairs

STATISTICS = (
    "max_query_to_document",  # max A[i in document, j in query]
    "max_document_to_query",  # max A[i in query, j in document]
    "cls_mass",  # mean over query and document rows of the weight on [CLS]
    "sep_mass",  # the same, on [SEP1] and [SEP2]
    "cls_entropy",  # entropy (nats) of the [CLS] row
    "cls_to_sep",  # weight of the [CLS] row on [SEP1] and [SEP2]
)


def reduce_attention(probs: torch.Tensor, parts: torch.Tensor) -> dict[str, torch.Tensor]:
    """The statistics of one layer: ``probs`` [batch, heads, seq, seq] -> {name: [batch, heads]}."""
    import torch

    is_query = parts == Part.QUERY
    is_document = parts == Part.DOCUMENT
    is_cls = parts == Part.CLS
    is_sep = (parts == Part.SEP1) | (parts == Part.SEP2)
    is_text = is_query | is_document

    def block_max(rows: torch.Tensor, cols: torch.Tensor) -> torch.Tensor:
        mask = rows[:, None, :, None] & cols[:, None, None, :]
        return torch.where(mask, probs, torch.zeros((), dtype=probs.dtype, device=probs.device)).amax(dim=(-1, -2))

    def text_row_mass(cols: torch.Tensor) -> torch.Tensor:
        row_mass = (probs * cols[:, None, None, :]).sum(-1)  # [batch, heads, seq]
        return (row_mass * is_text[:, None, :]).sum(-1) / is_text.sum(-1).clamp(min=1)[:, None]

    cls_row = probs[torch.arange(probs.shape[0]), :, is_cls.int().argmax(dim=1), :]  # [batch, heads, seq]
    entropy = -(cls_row * torch.log(cls_row.clamp(min=1e-12))).sum(-1)
    return {
        "max_query_to_document": block_max(is_document, is_query),
        "max_document_to_query": block_max(is_query, is_document),
        "cls_mass": text_row_mass(is_cls),
        "sep_mass": text_row_mass(is_sep),
        "cls_entropy": entropy,
        "cls_to_sep": (cls_row * is_sep[:, None, :]).sum(-1),
    }


def collect(model: CrossEncoder, encoded: EncodedPairs, *, batch_size: int = 16, progress: str | None = None) -> dict[str, np.ndarray]:
    """{statistic: [pairs, layers, heads]} for every pair of ``encoded``."""
    import torch
    from tqdm.auto import tqdm

    n = len(encoded)
    out = {name: np.zeros((n, model.n_layers, model.n_heads), dtype=np.float32) for name in STATISTICS}
    total = -(-n // batch_size)
    with torch.inference_mode():
        for batch in tqdm(model.batches(encoded, batch_size), total=total, desc=progress, disable=progress is None, leave=False):
            layers: dict[int, dict[str, torch.Tensor]] = {}

            def record(layer: int, probs: torch.Tensor, batch=batch) -> None:
                layers[layer] = reduce_attention(probs, batch.parts)  # noqa: B023 - called in this iteration

            def forward(batch=batch, record=record) -> None:
                with intervening(model.model, batch.parts, recorder=record, layer_of=model.layer_of):
                    model.model(**batch.inputs)

            interruptible(forward)  # Ctrl-C lands between batches' waits, not after a long pass
            for name in STATISTICS:  # to the host once per batch: [batch, layers, heads]
                stacked = torch.stack([layers[layer][name] for layer in range(model.n_layers)], dim=1)
                out[name][batch.index] = stacked.float().cpu().numpy()
    return out
