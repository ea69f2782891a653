"""Label normalisation: the rules that turn a label column into class ids.

1. **Missing labels**: empty cells, ``None``, NaN and the markers ``nan``, ``na``, ``n/a``, ``null``, ``none``,
   ``<na>``, ``?`` (any case, surrounding spaces ignored) mean *unlabelled* (id −1), never a class.
2. **Numbers are numbers**: ``1``, ``1.0``, ``" 1 "`` and the float ``1.0`` are the same value; a float that is
   not whole (``0.5``) is kept as its text. So a column mixing ``1`` and ``"1"`` has one class, not two.
3. **-1 is unlabelled** among whole-number labels (the convention of GLUE and Hugging Face datasets); the dataset's
   notes count such rows.
4. **Whole-number labels without names**: the classes are the distinct values in ascending order, named by
   their digits (``3, 1, 3`` → classes ``1, 3``); no class is created for a value that never occurs.
5. **Whole-number labels with K names** (``--label-names a,b,c``): values 0 … K−1 are ids of the names; values
   1 … K (no 0) are read as 1-based ids, and the dataset's notes say so; anything else is an error naming the
   values that do not fit.
6. **Text labels**: matched to the given names exactly (after trimming spaces), else the distinct texts sorted
   become the names; a text not among given names is an error listing up to five of them.
"""
from __future__ import annotations

import math
import re
from typing import Any, Sequence

import numpy as np

from core.foundation.errors import DatasetError

NA_MARKERS = frozenset({"", "nan", "na", "n/a", "null", "none", "<na>", "?"})
_WHOLE = re.compile(r"[+-]?\d+(\.0*)?\Z")  # "3", "-1", "3.0": a whole number written as text


def normalise_label(value: Any) -> int | str | None:
    """One cell of a label column: None (unlabelled), an int (a whole number) or a trimmed text."""
    if value is None:
        return None
    if isinstance(value, (bool, np.bool_)):
        return str(bool(value))
    if isinstance(value, (int, np.integer)):
        return int(value)
    if isinstance(value, (float, np.floating)):
        f = float(value)
        if math.isnan(f):
            return None
        return int(f) if math.isfinite(f) and f == int(f) else repr(f)
    try:
        import pandas as pd

        if value is pd.NA or value is pd.NaT:
            return None
    except ImportError:  # pragma: no cover
        pass
    text = str(value).strip()
    if text.lower() in NA_MARKERS:
        return None
    return int(float(text)) if _WHOLE.match(text) else text


def encode_labels(raw: Sequence[Any], names: Sequence[str], *, column: str, source: str
                  ) -> tuple[np.ndarray, list[str], list[str]]:
    """(ids (n,) int64 with −1 = unlabelled, label names, notes) for the cells ``raw`` of label column ``column``
    of ``source`` (a file name for messages); ``names``: label names the user gave (may be empty)."""
    vals = [normalise_label(v) for v in raw]
    present = [v for v in vals if v is not None]
    names = [str(n) for n in names]
    notes: list[str] = []
    if not present:
        return np.full(len(vals), -1, dtype=np.int64), names, [f"Label column '{column}' holds no labels."]
    ints = all(isinstance(v, int) for v in present) and not any(str(v) in names for v in present)
    if ints and -1 in present:
        k = sum(v == -1 for v in present)
        notes.append(f"{k:,} row{'s' if k != 1 else ''} labelled -1 in column '{column}' taken as unlabelled.")
        vals = [None if v == -1 else v for v in vals]
        present = [v for v in present if v != -1]
    if ints and not present:
        return np.full(len(vals), -1, dtype=np.int64), names, notes
    if ints:
        values = sorted(set(present))  # type: ignore[arg-type]
        if not names:
            names = [str(v) for v in values]
            index = {v: i for i, v in enumerate(values)}
        elif all(0 <= v < len(names) for v in values):
            index = {v: v for v in values}
        elif all(1 <= v <= len(names) for v in values):
            index = {v: v - 1 for v in values}
            notes.append(f"Labels of column '{column}' run from 1 to {max(values)}: read as 1-based ids of the "
                         f"{len(names)} label names ({names[0]} = 1).")
        else:
            bad = [v for v in values if not 0 <= v <= len(names)]
            raise DatasetError(
                f"Label column '{column}' of {source} holds ids {', '.join(map(str, (bad or values)[:5]))}, which do "
                f"not fit the {len(names)} label names given (0-based: 0 to {len(names) - 1}, or 1-based: 1 to "
                f"{len(names)}).")
        return np.array([-1 if v is None else index[v] for v in vals], dtype=np.int64), names, notes
    texts = [None if v is None else str(v) for v in vals]
    if not names:
        names = sorted({t for t in texts if t is not None})
    unknown = sorted({t for t in texts if t is not None and t not in names})
    if unknown:
        raise DatasetError(
            f"Label column '{column}' of {source} holds labels not among the label names "
            f"({', '.join(names)}): {', '.join(unknown[:5])}.")
    pos = {n: i for i, n in enumerate(names)}
    return np.array([-1 if t is None else pos[t] for t in texts], dtype=np.int64), names, notes


__all__ = ["NA_MARKERS", "encode_labels", "normalise_label"]
