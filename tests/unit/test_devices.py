"""Placement (device, dtype, token budget), token-budget batches and out-of-memory halving."""

from __future__ import annotations

import numpy as np
import pytest
import torch
from hypothesis import given
from hypothesis import strategies as st

from ranker_claims.core.devices import DeviceError, Placement, halving_on_oom, resolve_placement, token_batches


@given(st.lists(st.integers(1, 600), min_size=0, max_size=200), st.integers(1, 5000),
       st.one_of(st.none(), st.integers(1, 40)), st.booleans())
def test_token_batches_cover_every_row_once_within_the_budget(lengths, budget, max_rows, sort):
    batches = list(token_batches(lengths, budget, max_rows, sort=sort))
    flat = np.concatenate(batches) if batches else np.empty(0, dtype=np.int64)
    assert sorted(flat.tolist()) == list(range(len(lengths)))
    if sort:
        assert [lengths[i] for i in flat] == sorted(lengths)
    else:
        assert flat.tolist() == list(range(len(lengths)))
    for batch in batches:
        widest = max(lengths[i] for i in batch)
        assert len(batch) == 1 or len(batch) * widest <= budget
        assert max_rows is None or len(batch) <= max_rows


def test_the_cpu_default_budget_never_binds_before_32_pairs_of_512_tokens():
    """So the float32 CPU batches, and every number of a default run, are what they were."""
    lengths = np.full(100, 512)
    assert [len(b) for b in token_batches(lengths, Placement().max_tokens, 32)] == [32, 32, 32, 4]


def test_placements_this_machine_cannot_give_are_refused():
    if not torch.cuda.is_available():
        with pytest.raises(DeviceError, match="no CUDA device"):
            resolve_placement("cuda:0")
    with pytest.raises(DeviceError, match="dtype"):
        resolve_placement("cpu", "float64")
    with pytest.raises(DeviceError, match="positive"):
        resolve_placement("cpu", max_tokens=0)
    placement = resolve_placement("cpu", "bfloat16")
    assert (placement.device, placement.torch_dtype, placement.reduced_precision) == ("cpu", torch.bfloat16, True)
    described = placement.describe()
    assert described["dtype"] == "bfloat16" and described["torch"] == torch.__version__


def test_xdist_workers_share_the_cpu_cores(monkeypatch):
    monkeypatch.setattr("os.cpu_count", lambda: 8)
    assert resolve_placement("cpu", workers=4, worker="gw3").threads == 2
    assert resolve_placement("cpu").threads is None


def test_out_of_memory_splits_the_batch_until_it_fits_and_halves_the_budget(caplog):
    placement = Placement(max_tokens=1024)
    seen = []

    def run(rows: np.ndarray) -> np.ndarray:
        seen.append(len(rows))
        if len(rows) > 3:
            raise torch.OutOfMemoryError("CUDA out of memory (simulated)")
        return rows * 10

    with caplog.at_level("WARNING", logger="ranker_claims"):
        done = halving_on_oom(placement, run, np.arange(10))
    assert np.concatenate([rows for rows, _ in done]).tolist() == list(range(10))
    assert all(np.array_equal(values, rows * 10) for rows, values in done)
    assert seen[0] == 10 and max(len(rows) for rows, _ in done) <= 3
    assert placement.max_tokens < 1024 and placement.halvings == len(caplog.records) == 3


def test_other_errors_are_not_taken_for_out_of_memory():
    def run(rows: np.ndarray) -> np.ndarray:
        raise RuntimeError("shape mismatch")

    with pytest.raises(RuntimeError, match="shape mismatch"):
        halving_on_oom(Placement(), run, np.arange(4))
