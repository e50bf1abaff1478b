"""What both model wings share: the error a checkpoint that cannot serve raises, and weight hashes."""

from __future__ import annotations

import hashlib
from typing import Any


class ModelError(ValueError):
    """A checkpoint that cannot serve as the adapter's kind of model; the message says why."""


def state_sha256(model: Any) -> str:
    """Hash of every parameter and buffer (names and bytes), so a run names the exact weights it measured.

    The bytes are those of the dtype the model runs in, so a model cast to bfloat16 hashes apart
    from its float32 self and its cached scores are its own."""
    import torch

    digest = hashlib.sha256()
    for key, tensor in sorted(model.state_dict().items()):
        digest.update(key.encode())
        tensor = tensor.detach().cpu().contiguous()
        if tensor.dtype == torch.bfloat16:  # numpy has no bfloat16: hash the same bytes as int16
            tensor = tensor.view(torch.int16)
        digest.update(tensor.numpy().tobytes())
    return digest.hexdigest()
