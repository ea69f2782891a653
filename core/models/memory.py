"""Precision and memory: the weights' dtype, the autocast precision of forward passes, batch sizes and token budgets
from free accelerator memory, pinned host-to-device copies, and a back-off that splits a batch on out-of-memory
instead of failing the run.

Every batched loop over texts (embeddings, saliency methods, perturbation games) goes through :func:`each_batch`,
so a batch that does not fit is retried in halves (down to one text) and the run says so once; one text that does
not fit is a :class:`~core.foundation.errors.ModelError` naming the device, its free memory and what to try.
With ``lengths`` and ``max_tokens`` (the embeddings on CUDA) the batches are length buckets: consecutive texts of
the length-sorted order, as many as keep rows × longest length under the token budget.
"""
from __future__ import annotations

import gc
from typing import Callable, Mapping

import numpy as np
import torch

from core.foundation.errors import BackboneLensError, ModelError

DTYPES: dict[str, torch.dtype] = {"float32": torch.float32, "bfloat16": torch.bfloat16, "float16": torch.float16}
# the --precision names, in the order of DTYPES
PRECISIONS = ("fp32", "bf16", "fp16")
_ALIASES = {"fp32": "float32", "bf16": "bfloat16", "fp16": "float16", "half": "float16", "float": "float32"}


def _dtype_key(name: str | torch.dtype, flag: str, names: tuple[str, ...]) -> str:
    """The :data:`DTYPES` key of a dtype, its name or an alias (fp32, bf16, fp16, half); ``flag`` and ``names``
    (the option's own spelling of the choices) make the error sentence."""
    if isinstance(name, torch.dtype):
        key = next((k for k, v in DTYPES.items() if v == name), None)
        if key is None:
            raise BackboneLensError(f"{flag} {name}: Backbone Lens runs models in {', '.join(names)}.")
        return key
    key = _ALIASES.get(str(name).lower(), str(name).lower())
    if key not in DTYPES:
        raise BackboneLensError(f"{flag} {name!r} is not one of {', '.join(names)}.")
    return key


def resolve_dtype(name: str | torch.dtype | None, device: torch.device) -> torch.dtype:
    """The weights' dtype ``name`` names (None: float32), checked against ``device``: float16 needs a CUDA or MPS
    device (CPU kernels for it are slow or missing); bfloat16 runs everywhere."""
    if name is None:
        return torch.float32
    key = _dtype_key(name, "--dtype", tuple(DTYPES))
    if key == "float16" and device.type == "cpu":
        raise BackboneLensError("--dtype float16 needs a GPU (cuda or mps); on cpu use bfloat16 or float32.")
    return DTYPES[key]


def resolve_precision(name: str | torch.dtype | None, device: torch.device) -> torch.dtype:
    """The dtype forward passes autocast to (``fp32``/None: no autocast, float32), checked against ``device``:
    bf16 autocasts on every device, fp16 only on a GPU (CUDA or MPS)."""
    if name is None:
        return torch.float32
    key = _dtype_key(name, "--precision", PRECISIONS)
    if key == "float32":
        return torch.float32
    if key == "float16" and device.type == "cpu":
        raise BackboneLensError("--precision fp16 autocasts to float16, which needs a GPU (cuda or mps); on cpu use "
                                "--precision bf16 or fp32.")
    if not torch.amp.is_autocast_available(device.type):
        raise BackboneLensError(f"--precision {precision_name(DTYPES[key])}: torch cannot autocast on {device.type}; use --precision fp32.")
    return DTYPES[key]


def precision_name(dtype: torch.dtype) -> str:
    """fp32, bf16 or fp16: the ``--precision`` name of an autocast dtype."""
    return PRECISIONS[list(DTYPES.values()).index(dtype)]


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


def token_budget(free: int | None, *, longest: int, bytes_per_text: int, fraction: float = 0.5) -> int | None:
    """Padded tokens (rows × longest length) one batch may hold: ``fraction`` of ``free`` bytes at the bytes per
    token of a text of ``longest`` tokens (``bytes_per_text`` at that length; attention makes shorter texts
    cheaper per token, so shorter buckets stay inside the memory too), at least one text of ``longest`` tokens.
    None when ``free`` is None (no free-memory figure: CPU and MPS), where batches are ``requested`` rows."""
    if free is None or bytes_per_text <= 0:
        return None
    longest = max(1, int(longest))
    return max(longest, int(free * fraction) * longest // int(bytes_per_text))


def _take(lengths: np.ndarray | None, start: int, max_rows: int, max_tokens: int | None) -> int:
    """How many rows from ``start`` the next batch holds: at most ``max_rows``, and while rows × the longest
    length among them stays within ``max_tokens`` (always at least one)."""
    rows = min(max_rows, len(lengths) - start) if lengths is not None else max_rows
    if lengths is None or max_tokens is None:
        return max(1, rows)
    longest = np.maximum.accumulate(np.maximum(lengths[start:start + rows], 1))
    fits = longest * np.arange(1, rows + 1) <= max_tokens
    return max(1, int(np.argmin(fits)) if not fits.all() else rows)


def bucket_sizes(lengths: np.ndarray, *, max_rows: int, max_tokens: int | None) -> list[int]:
    """Row counts of the consecutive batches :func:`each_batch` cuts from texts of ``lengths`` (n,) in the order
    they run (longest first, usually) when nothing runs out of memory; sum = n."""
    sizes, s = [], 0
    while s < len(lengths):
        sizes.append(_take(lengths, s, max(1, int(max_rows)), max_tokens))
        s += sizes[-1]
    return sizes


def each_batch(order: np.ndarray, batch_size: int, fn: Callable[[np.ndarray], None], *, device: torch.device,
               what: str, notes: list[str] | None = None, lengths: np.ndarray | None = None,
               max_tokens: int | None = None) -> int:
    """Call ``fn(rows)`` for consecutive chunks of ``order`` (at most ``batch_size`` rows each). A chunk that runs
    out of memory is retried in halves after freeing cached memory, and later chunks keep the smaller size; one
    row that does not fit raises :class:`ModelError`. ``fn`` must have no effect when it raises. Returns the
    batch size that was finally used (``notes`` gets one sentence when it shrank).

    With ``lengths`` ((n,) tokens per row, indexed like ``order``'s values) and ``max_tokens``, a chunk also keeps
    rows × its longest length within ``max_tokens`` (length buckets); out of memory then halves the token budget
    (to half the failed chunk's rows at its longest length), so later, shorter buckets still hold more rows."""
    size = max(1, int(batch_size))
    ordered = None if lengths is None else np.asarray(lengths)[order]
    budget = max_tokens
    s = 0
    while s < len(order):
        rows = order[s:s + _take(ordered, s, size, budget)]
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
            if budget is not None and ordered is not None:
                budget = len(rows) // 2 * int(max(1, ordered[s:s + len(rows)].max()))
            else:
                size = max(1, len(rows) // 2)
            continue
        s += len(rows)
    if size < batch_size and notes is not None:
        notes.append(f"{what}: batches of {batch_size} ran out of memory on {device}; used batches of {size}")
    if budget is not None and max_tokens is not None and budget < max_tokens and notes is not None:
        notes.append(f"{what}: batches of {max_tokens:,} padded tokens ran out of memory on {device}; used "
                     f"{budget:,}")
    return size


def pins(device: torch.device) -> bool:
    """Whether host tensors bound for ``device`` are pinned first: only for CUDA, where a pinned (page-locked)
    buffer lets the copy run asynchronously (``non_blocking``); elsewhere a copy is a copy."""
    return device.type == "cuda"


def to_device(batch: Mapping[str, torch.Tensor], device: torch.device) -> dict[str, torch.Tensor]:
    """A tokenised batch (name → (b, T) tensors on the host) on ``device``: pinned and copied with
    ``non_blocking=True`` on CUDA (kernels queued after the copy on the same stream wait for it), a plain ``.to``
    elsewhere."""
    if pins(device):
        return {k: v.pin_memory().to(device, non_blocking=True) for k, v in batch.items()}
    return {k: v.to(device) for k, v in batch.items()}
