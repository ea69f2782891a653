"""Splits and samples: which texts of a dataset an analysis uses, and why.

Splits are assigned per example from a hash of its text (and the seed), so every sample of a dataset
agrees on which examples are held out, and duplicate texts never straddle train and test.
"""
from __future__ import annotations

import hashlib
from dataclasses import dataclass
from typing import Any, Sequence

import numpy as np

from core.data.datasets import TextDataset
from core.foundation.errors import DatasetError

SPLITS = ("train", "validation", "test")


@dataclass(frozen=True, eq=False)
class Sample:
    """The texts an analysis runs on, and why those: the one answer to "which texts of the dataset?".

    dataset: the chosen texts (texts (n,), text_pairs, labels (n,) in the dataset's label ids);
    indices: (n,) int64 positions in the full dataset; source: the full dataset's name; split: "test"
    (its held-out test split) or "all"; seed: the sampling seed; n_pool: texts it was drawn from; n_total:
    texts in the full dataset; trained_by: the model trained on this dataset whose held-out split was used
    ('' for none); models: the models the choice considered; heldout: whether the held-out split was asked for.
    :attr:`note` is a clause for captions, :attr:`reason` a sentence for reports and the CLI.
    """

    dataset: TextDataset
    source: str = ""
    split: str = "all"
    seed: int = 0
    n_pool: int = 0
    n_total: int = 0
    trained_by: str = ""
    models: tuple[str, ...] = ()
    heldout: bool = True

    # ------------------------------------------------------------------ the texts
    def __len__(self) -> int:
        return len(self.dataset)

    @property
    def texts(self) -> tuple[str, ...]:
        return self.dataset.texts

    @property
    def text_pairs(self) -> tuple[str, ...] | None:
        return self.dataset.text_pairs

    @property
    def labels(self) -> np.ndarray | None:
        return self.dataset.labels

    @property
    def label_names(self) -> tuple[str, ...]:
        return self.dataset.label_names

    @property
    def indices(self) -> np.ndarray:
        """(n,) positions of the texts in the full dataset."""
        idx = self.dataset.indices
        return np.arange(len(self.dataset), dtype=np.int64) if idx is None else np.asarray(idx, dtype=np.int64)

    @property
    def fingerprint(self) -> str:
        return self.dataset.fingerprint

    def subset(self, rows: Sequence[int] | np.ndarray) -> "Sample":
        """The rows ``rows`` of this sample, with the same provenance."""
        from dataclasses import replace

        return replace(self, dataset=self.dataset.subset(rows))

    # ------------------------------------------------------------------ why these texts
    def _who(self) -> str:
        return "the model" if len(self.models) <= 1 else self.trained_by

    @property
    def note(self) -> str:
        """"sampled from the 445 held-out test examples (the model was trained on this dataset)"."""
        if self.split == "test":
            return f"sampled from the {self.n_pool:,} held-out test examples ({self._who()} was trained on this dataset)"
        why = ""
        if self.heldout and self.models:
            why = ("the model was not trained on this dataset, so there is no held-out split" if len(self.models) == 1
                   else "no model was trained on this dataset, so there is no held-out split")
        elif not self.heldout and self.trained_by:
            why = "training examples included"
        return f"sampled from all {self.n_total:,} examples" + (f" ({why})" if why else "")

    @property
    def reason(self) -> str:
        """One sentence: where the texts come from and why."""
        name = self.source or "this dataset"
        if self.split == "test":
            who = "The model" if self._who() == "the model" else self._who()
            return f"{who} was trained on {name}, so the texts come from its held-out test split."
        if not self.heldout and self.trained_by:
            return f"The texts are sampled from all of {name}, training examples included."
        if len(self.models) == 1:
            return f"The model was not trained on {name}, so the texts are sampled from all of it."
        return f"No model was trained on {name}, so the texts are sampled from all of it."

    def to_json(self) -> dict[str, Any]:
        return {"source": self.source, "split": self.split, "n": len(self), "n_pool": self.n_pool,
                "n_total": self.n_total, "seed": self.seed, "trained_by": self.trained_by or None,
                "note": self.note, "reason": self.reason}


def draw(dataset: TextDataset, n: int | None, *, seed: int = 0, split: str = "all", split_seed: int = 0,
         source: TextDataset | None = None, trained_by: str = "", models: Sequence[str] = (),
         heldout: bool = True) -> Sample:
    """``n`` texts of ``dataset`` (all when ``n`` is None or larger), optionally of one split (``split`` =
    "test" …, assigned with ``split_seed``), as a :class:`Sample`. ``source``: the full dataset ``dataset`` was
    cut from, when it is a part of one (for the counts in the notes)."""
    full = source if source is not None else dataset
    pool = dataset if split == "all" else take_split(dataset, split, seed=split_seed)
    chosen = pool if n is None else sample(pool, n, seed=seed)
    return Sample(dataset=chosen, source=full.name, split=split, seed=seed, n_pool=len(pool), n_total=len(full),
                  trained_by=trained_by, models=tuple(models), heldout=heldout)


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
