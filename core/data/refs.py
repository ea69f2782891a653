"""Dataset references: ``bundled:bbc|tweets|snli`` or a file path → :class:`~core.data.datasets.TextDataset`.
"""
from __future__ import annotations

from typing import Sequence
from core.foundation.errors import DatasetError
from core.data.bundled import load_bundled
from core.data.datasets import TextDataset
from core.data.files import load_file
from core.data.sampling import sample, take_split


def load_dataset(
    ref: str,
    *,
    text_column: str | None = None,
    text_pair_column: str | None = None,
    label_column: str | None = None,
    label_names: Sequence[str] | None = None,
    encoding: str = "utf-8",
    split: str | None = None,
    split_seed: int = 0,
    n: int | None = None,
    seed: int = 0,
) -> TextDataset:
    """Load ``ref``; optionally keep one split, then a deterministic sample of ``n``."""
    ref = str(ref).strip()
    if not ref:
        raise DatasetError("No dataset given; use bundled:bbc, bundled:tweets, bundled:snli or a file path.")
    if ref.startswith("bundled:"):
        ds = load_bundled(ref.split(":", 1)[1])
    else:
        ds = load_file(ref, text_column=text_column, text_pair_column=text_pair_column,
                       label_column=label_column, label_names=label_names, encoding=encoding)
    if split is not None:
        ds = take_split(ds, split, seed=split_seed)
    if n is not None:
        ds = sample(ds, n, seed=seed)
    if len(ds) == 0:
        raise DatasetError(f"Dataset {ref} is empty after selecting split={split!r}.")
    return ds
