"""What both model wings share: the error a checkpoint that cannot serve raises, and weight hashes."""

from __future__ import annotations

import hashlib
from typing import Any


class ModelError(ValueError):
    """A checkpoint that cannot serve as the adapter's kind of model; the message says why."""


def state_sha256(model: Any) -> str:
    """Hash of every parameter and buffer (names and bytes), so a run names the exact weights it measured."""
    digest = hashlib.sha256()
    for key, tensor in sorted(model.state_dict().items()):
        digest.update(key.encode())
        digest.update(tensor.detach().cpu().contiguous().numpy().tobytes())
    return digest.hexdigest()
