"""Query-key structure of attention heads, read from the weights (CE-9, CE-10).

A head's attention logit between tokens x and y is ``(W_Q x + b_Q) . (W_K y + b_K) / sqrt(d)``.
Its bilinear part ``x^T A y`` with ``A = W_Q^T W_K`` (here ``W`` maps d_model -> d_head)
is what matches tokens to tokens; the bias terms are linear in x or y alone, match
nothing, and are left out of the alignment (stated in the report).

Alignment of ``A = U S V^T``: ``sum_k s_k (u_k . v_k) / sum_k s_k``. It equals
``trace(A) / ||A||_*``, lies in [-1, 1], is 1 exactly when A is symmetric positive
semi-definite (the head attends from a token to tokens like it) and is unchanged by
scaling A or by a shared orthogonal change of basis. Since A has rank <= d_head, its
singular values are computed from d_head x d_head factors, not the d_model x d_model A.
"""

from __future__ import annotations

from typing import Any

import numpy as np


def qk_matrix(w_q: np.ndarray, w_k: np.ndarray) -> np.ndarray:
    """``A`` with ``x^T A y = (x W_q) . (y W_k)``; ``w_q``, ``w_k``: (d_model, d_head)."""
    return w_q @ w_k.T


def alignment_of(a: np.ndarray) -> float:
    """Singular-vector alignment of a query-key matrix (see module doc); 0 for A = 0."""
    u, s, vt = np.linalg.svd(a)
    total = s.sum()
    return float((s * np.einsum("ik,ki->k", u, vt)).sum() / total) if total > 0 else 0.0


def head_alignment(w_q: np.ndarray, w_k: np.ndarray) -> float:
    """Alignment of ``w_q w_k^T`` through thin QR factors: O(d_model d_head^2), not O(d_model^3)."""
    _q_q, r_q = np.linalg.qr(w_q)
    _q_k, r_k = np.linalg.qr(w_k)
    singular = np.linalg.svd(r_q @ r_k.T, compute_uv=False)
    total = singular.sum()
    return float(np.trace(w_k.T @ w_q) / total) if total > 0 else 0.0


def attention_weights(model: Any) -> list[tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray]]:
    """Per layer ``(W_Q, b_Q, W_K, b_K)`` as (d_model, heads*d_head) / (heads*d_head,) arrays.

    Works for BERT-family modules whose self-attention has ``query`` and ``key`` linears.
    """
    layers = []
    for module in model.modules():
        if type(module).__name__.endswith("SelfAttention") and hasattr(module, "query") and hasattr(module, "key"):
            q, k = module.query, module.key
            layers.append(
                (
                    q.weight.detach().double().cpu().numpy().T,
                    _bias(q, q.weight.shape[0]),
                    k.weight.detach().double().cpu().numpy().T,
                    _bias(k, k.weight.shape[0]),
                )
            )
    if not layers:
        raise TypeError(f"{type(model).__name__}: no self-attention with query/key projections found")
    return layers


def _bias(linear: Any, size: int) -> np.ndarray:
    return linear.bias.detach().double().cpu().numpy() if linear.bias is not None else np.zeros(size)


def alignments(model: Any, n_heads: int) -> np.ndarray:
    """[layers, heads] alignment of every head of ``model``."""
    out = []
    for w_q, _, w_k, _ in attention_weights(model):
        d_head = w_q.shape[1] // n_heads
        out.append([head_alignment(w_q[:, h * d_head : (h + 1) * d_head], w_k[:, h * d_head : (h + 1) * d_head]) for h in range(n_heads)])
    return np.array(out)


def decompose_logits(
    queries: np.ndarray,
    keys: np.ndarray,
    x: np.ndarray,
    y: np.ndarray,
    w_q: np.ndarray,
    b_q: np.ndarray,
    w_k: np.ndarray,
    b_k: np.ndarray,
    scale: float,
) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Split logits ``scale * queries @ keys^T`` into context-free part and remainder.

    ``queries``/``keys`` are the head's actual query and key vectors (n, d_head) of the
    attending and attended tokens; ``x``/``y`` the same tokens' context-free embeddings
    (the embedding layer's output), sent through the same head. Returns
    ``(logits, context_free, remainder)`` with ``logits == context_free + remainder``.
    """
    logits = scale * queries @ keys.T
    context_free = scale * (x @ w_q + b_q) @ (y @ w_k + b_k).T
    return logits, context_free, logits - context_free


def explained_share(logits: np.ndarray, context_free: np.ndarray) -> float:
    """Share of the logits' variance the context-free part explains (squared correlation)."""
    a, b = logits.ravel(), context_free.ravel()
    if a.size < 3 or a.std() == 0 or b.std() == 0:
        return 0.0
    return float(np.corrcoef(a, b)[0, 1] ** 2)
