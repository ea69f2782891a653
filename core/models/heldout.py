"""Which texts to judge models on: the held-out test split of a dataset when a model was trained on it.

Every analysis that runs on a dataset takes a :class:`~core.data.sampling.Sample`; this module draws it
for a model (or several), so no model is judged on its own training texts and every page, report section
and verb says the same thing about where its texts come from.
"""
from __future__ import annotations

from typing import Sequence

from core.data.datasets import TextDataset
from core.data.sampling import Sample, draw
from core.models.loading import LoadedModel


def trained_on(model: LoadedModel, dataset: TextDataset) -> bool:
    """True when ``model``'s metadata records ``dataset`` (its source fingerprint) as its training data."""
    fp = model.metadata.get("data_fingerprint")
    return bool(fp) and fp == dataset.source_fingerprint


def split_seed(model: LoadedModel) -> int:
    """The seed of the hash split ``model`` was trained with (0 when not recorded)."""
    return int(model.metadata.get("split", {}).get("seed", 0))


def keeps_test_split(model: LoadedModel) -> bool:
    """Whether training kept the hash split's test part of its training data out (False when a separate test file
    was given and all of the training file was used; True for models that do not record it)."""
    return bool(model.metadata.get("split", {}).get("heldout_in_train_file", True))


def heldout_sample(models: LoadedModel | Sequence[LoadedModel], dataset: TextDataset, n: int | None = None, *,
                   seed: int = 0, heldout: bool = True, classifiers_only: bool = False) -> Sample:
    """``n`` texts of ``dataset`` (all when None) drawn with ``seed``: from its held-out test split when one of
    ``models`` was trained on it (the first such model's split) and ``heldout`` is asked, else from all of it.

    ``classifiers_only``: only models with a head count as trained on the dataset (a bare encoder's metadata
    may name a dataset it never classified).
    """
    ms = [models] if isinstance(models, LoadedModel) else list(models)
    by = next((m for m in ms if trained_on(m, dataset) and (m.has_head or not classifiers_only)), None)
    refs = tuple(m.ref for m in ms)
    if heldout and by is not None and not keeps_test_split(by):  # all of it was training data: say so
        return draw(dataset, n, seed=seed, trained_by=by.ref, models=refs, heldout=False)
    if heldout and by is not None:
        return draw(dataset, n, seed=seed, split="test", split_seed=split_seed(by), trained_by=by.ref, models=refs)
    return draw(dataset, n, seed=seed, trained_by="" if by is None else by.ref, models=refs, heldout=heldout)


__all__ = ["heldout_sample", "keeps_test_split", "split_seed", "trained_on"]
