"""Precision and memory: the weights' dtype, batch sizes from free accelerator memory, and a back-off that splits a
batch on out-of-memory instead of failing the run.

Every batched loop over texts (embeddings, saliency methods, perturbation games) goes through :func:`each_batch`,
so a batch that does not fit is retried in halves (down to one text) and the run says so once; one text that does
not fit is a :class:`~core.foundation.errors.ModelError` naming the device, its free memory and what to try.
"""
from __future__ import annotations

import gc
from typing import Callable

import numpy as np
import torch

from core.foundation.errors import BackboneLensError, ModelError

DTYPES: dict[str, torch.dtype] = {"float32": torch.float32, "bfloat16": torch.bfloat16, "float16": torch.float16}
_ALIASES = {"fp32": "float32", "bf16": "bfloat16", "fp16": "float16", "half": "float16", "float": "float32"}


def resolve_dtype(name: str | torch.dtype | None, device: torch.device) -> torch.dtype:
    """The weights' dtype ``name`` names (None: float32), checked against ``device``: float16 needs a CUDA or MPS
    device (CPU kernels for it are slow or missing); bfloat16 runs everywhere."""
    if name is None:
        return torch.float32
    if isinstance(name, torch.dtype):
        key = next((k for k, v in DTYPES.items() if v == name), None)
        if key is None:
            raise BackboneLensError(f"--dtype {name}: Backbone Lens runs models in {', '.join(DTYPES)}.")
    else:
        key = _ALIASES.get(str(name).lower(), str(name).lower())
        if key not in DTYPES:
            raise BackboneLensError(f"--dtype {name!r} is not one of {', '.join(DTYPES)}.")
    if key == "float16" and device.type == "cpu":
        raise BackboneLensError("--dtype float16 needs a GPU (cuda or mps); on cpu use bfloat16 or float32.")
    return DTYPES[key]


def dtype_name(dtype: torch.dtype) -> str:
    return next((k for k, v in DTYPES.items() if v == dtype), str(dtype).removeprefix("torch."))


def is_oom(e: BaseException) -> bool:
    """Whether ``e`` is an accelerator (or host allocator) out-of-memory error."""
    if isinstance(e, torch.cuda.OutOfMemoryError):
        return True
    msg = str(e)
    return isinstance(e, (RuntimeError, MemoryError)) and (
        "out of memory" in msg.lower() or "MPS backend out of memory" in msg or isinstance(e, MemoryError))


def free_memory(device: torch.device) -> None:
    """Drop garbage and the allocator's cached blocks on ``device``."""
    gc.collect()
    if device.type == "cuda":
        torch.cuda.empty_cache()
    elif device.type == "mps" and hasattr(torch, "mps"):
        torch.mps.empty_cache()


def free_bytes(device: torch.device) -> int | None:
    """Free memory on ``device`` in bytes (CUDA only; None elsewhere)."""
    if device.type != "cuda":
        return None
    free, _total = torch.cuda.mem_get_info(device)
    return int(free)


def activation_bytes(hidden_size: int, heads: int, layers: int, itemsize: int, tokens: int, *, grad: bool) -> int:
    """Rough bytes of activations per text of ``tokens`` tokens: one layer's states, MLP and attention scores at a
    time for inference, every layer's for a backward pass."""
    per_layer = tokens * (hidden_size * 10 + heads * tokens * 2) * itemsize
    return int(per_layer * (max(1, layers) if grad else 2))


def auto_batch_size(device: torch.device, *, requested: int, bytes_per_text: int, fraction: float = 0.5) -> int:
    """``requested`` on CPU and MPS; on CUDA at most ``requested`` and at most what fits ``fraction`` of the free
    memory at ``bytes_per_text`` per text (at least 1; :func:`each_batch` backs off from what the estimate
    misses)."""
    free = free_bytes(device)
    if free is None or bytes_per_text <= 0:
        return max(1, int(requested))
    return int(max(1, min(requested, int(free * fraction) // bytes_per_text)))


def each_batch(order: np.ndarray, batch_size: int, fn: Callable[[np.ndarray], None], *, device: torch.device,
               what: str, notes: list[str] | None = None) -> int:
    """Call ``fn(rows)`` for consecutive chunks of ``order`` (at most ``batch_size`` rows each). A chunk that runs
    out of memory is retried in halves after freeing cached memory, and later chunks keep the smaller size; one
    row that does not fit raises :class:`ModelError`. ``fn`` must have no effect when it raises. Returns the
    batch size that was finally used (``notes`` gets one sentence when it shrank)."""
    size = max(1, int(batch_size))
    s = 0
    while s < len(order):
        rows = order[s:s + size]
        try:
            fn(rows)
        except Exception as e:  # noqa: BLE001 - only out-of-memory is handled; everything else is re-raised
            if not is_oom(e):
                raise
            free_memory(device)
            if len(rows) == 1:
                free = free_bytes(device)
                where = f"{device}" + (f" ({free / 2**30:.1f} GiB free)" if free is not None else "")
                raise ModelError(
                    f"{what}: one text does not fit in the memory of {where}. Try --dtype bfloat16, shorter texts "
                    "(--max-length, where the verb has it), another device, or close other programs using it.") from None
            size = max(1, len(rows) // 2)
            continue
        s += len(rows)
    if size < batch_size and notes is not None:
        notes.append(f"{what}: batches of {batch_size} ran out of memory on {device}; used batches of {size}")
    return size
