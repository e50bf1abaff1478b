"""Where models run and in what precision: ``--claims-device``, ``--claims-dtype``, ``--claims-max-tokens``.

A :class:`Placement` is resolved once per process. ``auto`` takes CUDA if present, then MPS, else
the CPU; under pytest-xdist each worker takes its own accelerator (``gw1`` -> ``cuda:1``, wrapping
round when there are more workers than devices) or, on a CPU machine, its share of the cores.

Batches are sized by a token budget (padded tokens per forward pass), because the cost and memory
of a pass follow its tokens, not its number of rows. Out of memory on an accelerator halves the
budget and retries the batch (:func:`halving_on_oom`): a multi-hour run never dies of it. Each batch
runs on a helper thread while the main thread waits in short steps (:func:`interruptible`), so Ctrl-C
lands at once, not when a pass of many seconds (a large model on a CPU) returns.
"""

from __future__ import annotations

import contextvars
import logging
import os
import platform
import threading
from collections.abc import Callable, Iterator, Sequence
from dataclasses import dataclass, field
from importlib import metadata
from typing import TYPE_CHECKING, Any, TypeVar

import numpy as np

if TYPE_CHECKING:
    import torch

LOG = logging.getLogger("ranker_claims")
T = TypeVar("T")

DTYPES = ("float32", "bfloat16", "float16")
#: Padded tokens per forward pass when --claims-max-tokens is not given. On the CPU it never binds
#: before 32 pairs of 512 tokens; an accelerator takes bigger batches and halves them on OOM.
DEFAULT_MAX_TOKENS = {"cpu": 32 * 512, "cuda": 256 * 512, "mps": 64 * 512}


class DeviceError(ValueError):
    """A device or dtype this machine cannot give (a usage error at configure time)."""


@dataclass
class Placement:
    """The device, dtype and token budget models of this process run under."""

    device: str = "cpu"  # "cpu", "cuda:0", "mps"
    dtype: str = "float32"
    max_tokens: int = DEFAULT_MAX_TOKENS["cpu"]
    threads: int | None = None  # CPU threads of this process (xdist workers share the cores)
    halvings: int = field(default=0, compare=False)  # out-of-memory retries so far

    @property
    def kind(self) -> str:
        return self.device.split(":")[0]

    @property
    def torch_device(self) -> torch.device:
        import torch

        return torch.device(self.device)

    @property
    def torch_dtype(self) -> torch.dtype:
        import torch

        return getattr(torch, self.dtype)

    @property
    def reduced_precision(self) -> bool:
        return self.dtype != "float32"

    def describe(self) -> dict[str, Any]:
        """Device name, dtype and the versions a number computed here depends on (for the run JSON)."""
        import torch

        name = platform.processor() or platform.machine()
        if self.kind == "cuda":
            name = torch.cuda.get_device_name(self.torch_device)
        elif self.kind == "mps":
            name = "Apple MPS"
        return {
            "device": self.device,
            "device_name": name,
            "dtype": self.dtype,
            "max_tokens": self.max_tokens,
            "threads": torch.get_num_threads() if self.kind == "cpu" else None,
            "torch": torch.__version__,
            "transformers": _version("transformers"),
            "cuda": torch.version.cuda,
        }


def _version(package: str) -> str | None:
    try:
        return metadata.version(package)
    except metadata.PackageNotFoundError:
        return None


def available_devices() -> list[str]:
    """The devices this machine has: ``cpu``, then each CUDA device, then ``mps`` where available."""
    import torch

    devices = ["cpu"]
    if torch.cuda.is_available():
        devices += [f"cuda:{i}" for i in range(torch.cuda.device_count())]
    if getattr(torch.backends, "mps", None) is not None and torch.backends.mps.is_available():
        devices.append("mps")
    return devices


def check_device(device: str) -> None:
    """:class:`DeviceError` unless this machine has ``device`` (``cuda``, ``cuda:N``, ``mps``, ``cpu``,
    ``auto``), naming the devices it does have."""
    if device in ("auto", "cpu"):
        return
    have = available_devices()
    kind, _, number = device.partition(":")
    present = any(d.startswith("cuda:") for d in have) if device == "cuda" else device in have
    if kind not in ("cuda", "mps") or (number and not number.isdigit()):
        raise DeviceError(f"{device}: not a device (auto, cpu, cuda, cuda:N or mps)")
    if not present:
        what = {"cuda": "no CUDA device", "mps": "no MPS device"}.get(device, f"no {device}")
        raise DeviceError(f"{device}: this machine has {what}; it has {', '.join(have)}")


def resolve_placement(
    device: str = "auto",
    dtype: str = "float32",
    max_tokens: int | None = None,
    *,
    worker: str | None = None,
    workers: int = 1,
) -> Placement:
    """Check ``device`` and ``dtype`` against this machine; ``worker`` is an xdist worker id (``gw3``)."""
    import torch

    if dtype not in DTYPES:
        raise DeviceError(f"dtype {dtype!r} is not one of {', '.join(DTYPES)}")
    index = int(worker[2:]) if worker and worker.startswith("gw") and worker[2:].isdigit() else 0
    if device == "auto":
        if torch.cuda.is_available():
            device = f"cuda:{index % torch.cuda.device_count()}"
        elif getattr(torch.backends, "mps", None) is not None and torch.backends.mps.is_available():
            device = "mps"
        else:
            device = "cpu"
    try:
        parsed = torch.device(device)
    except RuntimeError as error:
        raise DeviceError(f"device {device!r}: {error}") from None
    if parsed.type == "cuda":
        if not torch.cuda.is_available():
            raise DeviceError(f"device {device!r}: this machine has no CUDA device (torch {torch.__version__})")
        number = parsed.index if parsed.index is not None else index % torch.cuda.device_count()
        if number >= torch.cuda.device_count():
            raise DeviceError(f"device {device!r}: this machine has {torch.cuda.device_count()} CUDA device(s)")
        device = f"cuda:{number}"
    elif parsed.type == "mps" and not torch.backends.mps.is_available():
        raise DeviceError(f"device {device!r}: MPS is not available here")
    elif parsed.type not in ("cpu", "cuda", "mps"):
        raise DeviceError(f"device {device!r}: only cpu, cuda[:N] and mps are supported")
    kind = parsed.type
    threads = None
    if kind == "cpu" and workers > 1:
        threads = max(1, (os.cpu_count() or 1) // workers)
    if max_tokens is not None and max_tokens < 1:
        raise DeviceError(f"max tokens must be positive, got {max_tokens}")
    return Placement(device=device if kind != "cpu" else "cpu", dtype=dtype,
                     max_tokens=max_tokens or DEFAULT_MAX_TOKENS[kind], threads=threads)


def token_batches(lengths: Sequence[int] | np.ndarray, max_tokens: int | Callable[[], int],
                  max_rows: int | None = None, *, sort: bool = True) -> Iterator[np.ndarray]:
    """Row indices (in ascending length when ``sort``), cut so that rows x longest row stays within
    ``max_tokens`` and at most ``max_rows`` rows; a row longer than the budget goes alone. A callable
    budget is read before each batch, so a budget halved on out-of-memory applies to the rest."""
    lengths = np.asarray(lengths, dtype=np.int64)
    order = np.argsort(lengths, kind="stable") if sort else np.arange(len(lengths))
    budget = max_tokens if callable(max_tokens) else (lambda: max_tokens)
    start = 0
    while start < len(order):
        stop, limit, width = start + 1, budget(), lengths[order[start]]
        while stop < len(order) and (max_rows is None or stop - start < max_rows):
            width = max(width, lengths[order[stop]])
            if (stop - start + 1) * width > limit:
                break
            stop += 1
        yield order[start:stop]
        start = stop


def is_out_of_memory(error: BaseException) -> bool:
    import torch

    if isinstance(error, torch.OutOfMemoryError):
        return True
    return isinstance(error, RuntimeError) and "out of memory" in str(error).lower()


#: How often the main thread wakes while a batch runs: the longest an interrupt waits to be raised.
_WAKE_SECONDS = 0.05


def interruptible(call: Callable[[], T]) -> T:
    """``call()`` on a helper thread, the main thread waiting for it in short steps, so that a SIGINT
    (Ctrl-C) raises KeyboardInterrupt here within :data:`_WAKE_SECONDS` however long one torch call takes;
    the abandoned batch finishes on its daemon thread and is dropped. The helper runs in a copy of this
    thread's context (interventions are context variables) with its grad and inference modes; torch keeps
    the thread count set for the process, so the numbers are the ones a direct call computes. Off the
    main thread (which alone receives signals) it is a direct call."""
    if threading.current_thread() is not threading.main_thread():
        return call()
    import torch

    context, grad, inference = contextvars.copy_context(), torch.is_grad_enabled(), torch.is_inference_mode_enabled()
    outcome: dict[str, Any] = {}

    def target() -> None:
        try:
            with torch.set_grad_enabled(grad), torch.inference_mode(inference):
                outcome["value"] = context.run(call)
        except BaseException as error:  # raised again on the main thread
            outcome["error"] = error

    helper = threading.Thread(target=target, name="claims-batch", daemon=True)
    helper.start()
    while helper.is_alive():
        helper.join(_WAKE_SECONDS)  # a signal handler runs (and KeyboardInterrupt rises) between these waits
    if "error" in outcome:
        raise outcome["error"]
    return outcome["value"]


def halving_on_oom(placement: Placement, run: Callable[[np.ndarray], T], rows: np.ndarray, *,
                   what: str = "batch") -> list[tuple[np.ndarray, T]]:
    """``run(rows)`` (:func:`interruptible`); out of memory splits ``rows`` in halves and retries each (down
    to one row), and halves ``placement.max_tokens`` so the batches after it start smaller. One log line
    per halving."""
    try:
        return [(rows, interruptible(lambda: run(rows)))]
    except Exception as error:
        if not is_out_of_memory(error) or len(rows) == 1:
            raise
    _empty_cache(placement)
    placement.max_tokens = max(1, placement.max_tokens // 2)
    placement.halvings += 1
    LOG.warning("out of memory on %s for a %s of %d rows: halving it (token budget now %d)",
                placement.device, what, len(rows), placement.max_tokens)
    half = len(rows) // 2
    return (halving_on_oom(placement, run, rows[:half], what=what)
            + halving_on_oom(placement, run, rows[half:], what=what))


def _empty_cache(placement: Placement) -> None:
    import torch

    if placement.kind == "cuda":
        torch.cuda.empty_cache()
    elif placement.kind == "mps":
        torch.mps.empty_cache()
