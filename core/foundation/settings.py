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
        return torch.device(env)
    return torch.device("cuda" if torch.cuda.is_available() else "cpu")
