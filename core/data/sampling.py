"""Splits and samples: which texts of a dataset an analysis uses, and why.

Splits are assigned per example from a hash of its text (and the seed), so every sample of a dataset
agrees on which examples are held out, and duplicate texts never straddle train and test.
"""
from __future__ import annotations

import hashlib
import numpy as np
from core.foundation.errors import DatasetError
from core.data.datasets import TextDataset


SPLITS = ("train", "validation", "test")


def sample(ds: TextDataset, n: int, *, seed: int = 0) -> TextDataset:
    """A deterministic random sample of ``n`` examples (all of them if ``n >= len``), in dataset order."""
    if n is None or n >= len(ds):
        return ds
    if n <= 0:
        raise DatasetError(f"Sample size must be positive, got {n}.")
    rng = np.random.default_rng(seed)
    idx = np.sort(rng.choice(len(ds), size=n, replace=False))
    return ds.subset(idx)


def split_assignment(ds: TextDataset, *, seed: int = 0, fractions=(0.7, 0.1, 0.2)) -> np.ndarray:
    """(n,) int8: 0 train, 1 validation, 2 test, from a hash of each example's text and the seed."""
    cuts = np.cumsum(fractions)[:-1] * 10_000
    out = np.empty(len(ds), dtype=np.int8)
    for i, t in enumerate(ds.texts):
        key = f"{seed}\x1f{t}\x1f{'' if ds.text_pairs is None else ds.text_pairs[i]}"
        u = int.from_bytes(hashlib.blake2b(key.encode("utf-8", "surrogatepass"), digest_size=8).digest(), "big")
        out[i] = int(np.searchsorted(cuts, u % 10_000, side="right"))
    return out


def take_split(ds: TextDataset, split: str, *, seed: int = 0) -> TextDataset:
    if split not in SPLITS:
        raise DatasetError(f"Unknown split '{split}'; choose one of: {', '.join(SPLITS)}.")
    a = split_assignment(ds, seed=seed)
    return ds.subset(np.flatnonzero(a == SPLITS.index(split)))
