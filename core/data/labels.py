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
   values that do not fit. When both readings fit (no 0 and no K among the values) the ids are read as 0-based
   and the notes say how to read them as 1-based (a label map).
6. **Text labels**: matched to the given names exactly (after trimming spaces), else the distinct texts sorted
   become the names; a text not among given names is an error listing up to five of them.
7. **A label map** (``--label-map 1=World,2=Sports``) names each value explicitly: the classes are the map's
   names in its order (two values may share a name), values are matched after rules 1–2, and a value the map
   does not name is an error listing up to five of them. It replaces label names (give one or the other).
"""
from __future__ import annotations

import math
import re
from typing import Any, Mapping, Sequence

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


def parse_label_map(text: str | Mapping[Any, Any] | None) -> dict[int | str, str]:
    """``"1=World, 2=Sports"`` (or a mapping) → {value: name}, values normalised as label cells are (rule 2)."""
    if text is None:
        return {}
    if isinstance(text, Mapping):
        items = [(k, v) for k, v in text.items()]
    else:
        items = []
        for part in (p.strip() for p in str(text).split(",")):
            if not part:
                continue
            if "=" not in part:
                raise DatasetError(f"The label map takes VALUE=NAME pairs separated by commas (e.g. 1=World,"
                                   f"2=Sports), got '{part}'.")
            k, v = part.split("=", 1)
            items.append((k, v))
    out: dict[int | str, str] = {}
    for k, v in items:
        key, name = normalise_label(k), str(v).strip()
        if key is None or not name:
            raise DatasetError(f"The label map pair '{k}={v}' needs both a value and a name.")
        if key in out:
            raise DatasetError(f"The label map names the value {key} twice.")
        out[key] = name
    return out


def _mapped(vals: list, label_map: dict, *, column: str, source: str) -> tuple[np.ndarray, list[str], list[str]]:
    names = list(dict.fromkeys(label_map.values()))
    unknown = sorted({str(v) for v in vals if v is not None and v not in label_map})
    if unknown:
        raise DatasetError(f"Label column '{column}' of {source} holds values the label map does not name: "
                           f"{', '.join(unknown[:5])}" + (" …" if len(unknown) > 5 else "") + ".")
    pos = {n: i for i, n in enumerate(names)}
    ids = np.array([-1 if v is None else pos[label_map[v]] for v in vals], dtype=np.int64)
    pairs = ", ".join(f"{k} → {n}" for k, n in label_map.items())
    return ids, names, [f"Labels of column '{column}' read with the label map ({pairs})."]


def encode_labels(raw: Sequence[Any], names: Sequence[str], *, column: str, source: str,
                  label_map: Mapping[Any, Any] | str | None = None) -> tuple[np.ndarray, list[str], list[str]]:
    """(ids (n,) int64 with −1 = unlabelled, label names, notes) for the cells ``raw`` of label column ``column``
    of ``source`` (a file name for messages); ``names``: label names the user gave (may be empty);
    ``label_map``: value → name (rule 7; replaces ``names``)."""
    vals = [normalise_label(v) for v in raw]
    present = [v for v in vals if v is not None]
    names = [str(n) for n in names]
    notes: list[str] = []
    lmap = parse_label_map(label_map)
    if lmap:
        if names:
            raise DatasetError("Give either label names or a label map, not both (the map names every value).")
        return _mapped(vals, lmap, column=column, source=source)
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
            if values[0] >= 1 and len(names) > 1:  # 1 … K−1 fits both readings: say which one was taken
                notes.append(f"Labels of column '{column}' run from {values[0]} to {values[-1]} without 0: read as "
                             f"0-based ids of the {len(names)} label names ({names[0]} = 0, no row has it). If "
                             f"the ids start at 1, give a label map (1={names[0]},2={names[1]},…).")
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


__all__ = ["NA_MARKERS", "encode_labels", "normalise_label", "parse_label_map"]
