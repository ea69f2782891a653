"""Where Backbone Lens keeps its files, and which device it computes on."""
from __future__ import annotations

import os
from pathlib import Path

import torch

CACHE_ENV = "BACKBONE_LENS_CACHE"


def cache_root() -> Path:
    """The cache folder: ``$BACKBONE_LENS_CACHE`` or ``~/.cache/backbone-lens``."""
    env = os.environ.get(CACHE_ENV)
    root = Path(env).expanduser() if env else Path.home() / ".cache" / "backbone-lens"
    return root


def default_device() -> torch.device:
    """CUDA when available, else CPU (``BACKBONE_LENS_DEVICE`` overrides)."""
    env = os.environ.get("BACKBONE_LENS_DEVICE")
    if env:
        return resolve_device(env, source="BACKBONE_LENS_DEVICE")
    return torch.device("cuda" if torch.cuda.is_available() else "cpu")


def resolve_device(spec: str | torch.device | None, *, source: str = "--device") -> torch.device:
    """The device ``spec`` names (None: :func:`default_device`), checked against what this machine has: an
    unknown name, a CUDA device on a machine without one (or past its count) or an absent MPS is one sentence."""
    from core.foundation.errors import BackboneLensError

    if spec is None:
        return default_device()
    try:
        dev = torch.device(spec)
    except (RuntimeError, ValueError, TypeError):
        raise BackboneLensError(f"{source} {spec!r} is not a device name; use cpu, cuda, cuda:N or mps.") from None
    if dev.type == "cuda":
        n = torch.cuda.device_count() if torch.cuda.is_available() else 0
        if n == 0:
            raise BackboneLensError(f"{source} asks for {spec}, but this machine has no CUDA GPU that torch can use; "
                                    "use cpu.")
        if dev.index is not None and dev.index >= n:
            raise BackboneLensError(f"{source} asks for {spec}, but this machine has {n} CUDA device"
                                    f"{'s' if n != 1 else ''} (cuda:0{f' to cuda:{n - 1}' if n > 1 else ''}).")
    elif dev.type == "mps":
        if not (getattr(torch.backends, "mps", None) and torch.backends.mps.is_available()):
            raise BackboneLensError(f"{source} asks for mps, but this machine has no Apple GPU; use cpu.")
    elif dev.type != "cpu":
        raise BackboneLensError(f"{source} {spec!r}: Backbone Lens runs on cpu, cuda or mps, not {dev.type}.")
    return dev
