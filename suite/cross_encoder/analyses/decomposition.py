"""CE-10: how much of a head's query/document logits the tokens alone explain.

The logit between tokens i and j of head h splits into a context-free part, the same
head applied to the two tokens' embeddings (the embedding layer's output: word,
position and segment), and the contextual remainder that the earlier layers add. The
share is computed over the query-row/document-column and document-row/query-column
blocks of each pair.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import TYPE_CHECKING, Any

import numpy as np

from ranker_claims.core.devices import interruptible
from ranker_claims.cross_encoder.analyses.query_key import (
    attention_weights,
    decompose_logits,
    explained_share,
)
from ranker_claims.cross_encoder.parts import Part

if TYPE_CHECKING:
    from ranker_claims.cross_encoder.model import CrossEncoder


def explained_shares(
    model: CrossEncoder, pairs: Sequence[tuple[str, str]], heads: Sequence[tuple[int, int]], *, batch_size: int = 16
) -> np.ndarray:
    """[pairs, heads] share of logit variance explained by the context-free part."""
    import torch

    weights = attention_weights(model.model)
    modules = [m for m in model.model.modules() if type(m).__name__.endswith("SelfAttention")]
    d_head = weights[0][0].shape[1] // model.n_heads
    encoded = model.encode(list(pairs))
    out = np.zeros((len(encoded), len(heads)))
    captured: dict = {}
    handles = [model.model.base_model.embeddings.register_forward_hook(lambda m, i, o: captured.__setitem__("x", o))]
    try:
        for layer in sorted({l for l, _ in heads}):
            handles.append(modules[layer].query.register_forward_hook(lambda m, i, o, l=layer: captured.__setitem__(("q", l), o)))
            handles.append(modules[layer].key.register_forward_hook(lambda m, i, o, l=layer: captured.__setitem__(("k", l), o)))
        with torch.inference_mode():
            for batch in model.batches(encoded, batch_size):
                def forward(batch: Any = batch) -> Any:
                    return model.model(**batch.inputs)

                interruptible(forward)  # Ctrl-C answered during the pass
                host = {key: value.double().cpu().numpy() for key, value in captured.items()}  # once per batch
                x_all = host["x"]
                for row, pair in enumerate(batch.index):
                    parts = batch.parts[row].cpu().numpy()
                    query, document = np.flatnonzero(parts == Part.QUERY), np.flatnonzero(parts == Part.DOCUMENT)
                    for k, (layer, head) in enumerate(heads):
                        w_q, b_q, w_k, b_k = weights[layer]
                        cols = slice(head * d_head, (head + 1) * d_head)
                        q = host[("q", layer)][row][:, cols]
                        key = host[("k", layer)][row][:, cols]
                        logits, free = [], []
                        for rows_, cols_ in ((query, document), (document, query)):
                            lg, cf, _ = decompose_logits(
                                q[rows_], key[cols_], x_all[row, rows_], x_all[row, cols_],
                                w_q[:, cols], b_q[cols], w_k[:, cols], b_k[cols], d_head**-0.5,
                            )
                            logits.append(lg.ravel())
                            free.append(cf.ravel())
                        out[pair, k] = explained_share(np.concatenate(logits), np.concatenate(free))
    finally:
        for handle in handles:
            handle.remove()
    return out
