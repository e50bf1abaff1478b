"""A stand-in for an accelerator's out-of-memory error, on the CPU."""

from __future__ import annotations

import contextlib
from collections.abc import Iterator
from typing import Any


@contextlib.contextmanager
def out_of_memory_above(adapter: Any, max_rows: int, input_name: str) -> Iterator[None]:
    """Make ``adapter.model`` raise CUDA's out-of-memory error on forwards of more than ``max_rows`` rows
    (counted on the keyword input ``input_name``); afterwards the model and the adapter's token budget
    are as they were."""
    import torch

    model, budget = adapter.model, adapter.placement.max_tokens
    forward = model.forward

    def small_memory(*args: Any, **kwargs: Any) -> Any:
        if kwargs[input_name].shape[0] > max_rows:
            raise torch.OutOfMemoryError("CUDA out of memory (simulated)")
        return forward(*args, **kwargs)

    model.forward = small_memory
    try:
        yield
    finally:
        del model.forward
        adapter.placement.max_tokens = budget
