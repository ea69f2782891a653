"""Splits and samples: which texts of a dataset an analysis uses, and why.

Splits are assigned per example from a hash of its text (and the seed), so every sample of a dataset
agrees on which examples are held out, and duplicate texts never straddle train and test.
"""
from __future__ import annotations

import hashlib
from dataclasses import dataclass, field
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


def split_assignment(ds: TextDataset, *, seed: int = 0, fractions=(0.7, 0.1, 0.2)) -> np.ndarray:  # = SPLIT_FRACTIONS
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


# ----------------------------------------------------------------------------- training splits

SPLIT_FRACTIONS = (0.7, 0.1, 0.2)  # train, validation, test shares of the hash split
MIN_EVAL_TEXTS = 100  # --n never leaves validation or test with fewer texts than this (when the pool has them)


@dataclass(frozen=True, eq=False)
class TrainingSplits:
    """Which texts a training run uses for training, validation (early stopping) and the held-out test, and
    where each part comes from.

    ``train``/``validation``/``test``: the texts used (their ``indices`` are rows of their source); ``sources``:
    split → the dataset it was taken from; ``origin``: split → "file" (all of a file the user gave) or "hash"
    (the part of the training file the hash split assigns to it); ``pools``: split → texts available before
    ``n`` was applied; ``seed``: the hash split's seed; ``heldout_in_train_file``: whether the hash split's test
    part of the training file was kept out of training (then every analysis can judge the model on it).
    """

    train: TextDataset
    validation: TextDataset
    test: TextDataset
    sources: dict[str, TextDataset]
    origin: dict[str, str]
    pools: dict[str, int]
    seed: int
    heldout_in_train_file: bool
    shares: dict[str, float] = field(default_factory=dict)  # split → share of the training file (hash origin)

    def parts(self) -> dict[str, TextDataset]:
        return {"train": self.train, "validation": self.validation, "test": self.test}

    def describe(self, split: str) -> str:
        """"6,000 of 47,120 texts of train.tsv (its hash-split training part)"."""
        ds, src = self.parts()[split], self.sources[split]
        part = {"train": "training", "validation": "validation", "test": "test"}[split]
        if self.origin[split] == "hash":
            where = f" (the hash split's {part} part, {self.shares.get(split, 0):.0%} of the file)"
        else:
            where = " (the whole file)" if len(ds) == len(src) else ""
        of = f"{len(ds):,} of {self.pools[split]:,}" if len(ds) < self.pools[split] else f"{len(ds):,}"
        return f"{of} texts of {_short(src.name)}{where}"

    def to_json(self) -> dict[str, Any]:
        """For the model's metadata: per split the source, its fingerprint, where from, counts and the rows used."""
        return {"seed": self.seed, "fractions": list(SPLIT_FRACTIONS),
                "heldout_in_train_file": self.heldout_in_train_file,
                "parts": {s: {"source": self.sources[s].name, "source_fingerprint": self.sources[s].source_fingerprint,
                              "origin": self.origin[s], "n": len(d), "pool": self.pools[s],
                              "description": self.describe(s)}
                          for s, d in self.parts().items()}}

    def rows(self) -> dict[str, list[int]]:
        """split → the rows of its source that it uses (what the model folder's split file records)."""
        out = {}
        for s, d in self.parts().items():
            idx = d.indices if d.indices is not None else np.arange(len(d))
            out[s] = [int(i) for i in idx]
        return out


def _short(name: str) -> str:
    from pathlib import PurePath

    return name if name.startswith("bundled:") else PurePath(name).name


def default_eval_sizes(n: int | None) -> tuple[int | None, int | None]:
    """Validation and test sizes that go with ``n`` training texts: in the proportions of the hash split
    (70 : 10 : 20), at least :data:`MIN_EVAL_TEXTS`; (None, None) when ``n`` is None (all texts)."""
    if n is None:
        return None, None
    tr, va, te = (round(f * 100) for f in SPLIT_FRACTIONS)  # whole percents: no rounding error in n·20/70
    return max(MIN_EVAL_TEXTS, -(-n * va // tr)), max(MIN_EVAL_TEXTS, -(-n * te // tr))


def training_splits(train: TextDataset, validation: TextDataset | None = None, test: TextDataset | None = None, *,
                    seed: int = 0, n: int | None = None, n_validation: int | None = None,
                    n_test: int | None = None) -> TrainingSplits:
    """The texts of a training run. A validation or test file the user gives is used whole (up to its ``n_``);
    a missing one comes from the training file's hash split (seed ``seed``, shares 70/10/20): without both
    files the training part is the hash split's training part, with a validation file only it is the training
    and validation parts (the test part stays held out, as every analysis expects), with a test file only it is
    the training and test parts (the file is the held-out test). ``n`` samples the training texts;
    ``n_validation`` / ``n_test`` (default: in proportion to ``n``, see :func:`default_eval_sizes`) the others.
    """
    for name, k in (("n", n), ("n_validation", n_validation), ("n_test", n_test)):
        if k is not None and k <= 0:
            raise DatasetError(f"{name} must be a positive number of texts, got {k}.")
    dv, dt = default_eval_sizes(n)
    n_validation = n_validation if n_validation is not None else dv
    n_test = n_test if n_test is not None else dt
    a = split_assignment(train, seed=seed)
    own = {"train": [0], "validation": [], "test": []}
    if validation is None:
        own["validation"] = [1]
    else:
        own["train"].append(1)
    if test is None:
        own["test"] = [2]
    else:
        own["train"].append(2)
    given = {"validation": validation, "test": test}
    pools = {s: given[s] if not ids else train.subset(np.flatnonzero(np.isin(a, ids))) for s, ids in own.items()}
    sources = {"train": train, **{s: train if d is None else d for s, d in given.items()}}
    origin = {"train": "hash" if (validation is None or test is None) else "file",
              **{s: "hash" if d is None else "file" for s, d in given.items()}}
    chosen = {s: (p if k is None else sample(p, k, seed=seed)) for s, p, k in
              (("train", pools["train"], n), ("validation", pools["validation"], n_validation),
               ("test", pools["test"], n_test))}
    for s, d in chosen.items():
        if len(d) == 0:
            raise DatasetError(f"The {s} split of {_short(sources[s].name)} is empty; give more texts"
                               + (" or a separate file." if s != "train" else "."))
    shares = {s: round(sum(SPLIT_FRACTIONS[i] for i in ids), 4) for s, ids in own.items() if ids}
    return TrainingSplits(chosen["train"], chosen["validation"], chosen["test"], sources, origin,
                          {s: len(p) for s, p in pools.items()}, seed, heldout_in_train_file=test is None,
                          shares=shares)
