"""Cached calls of the Training page: the plan of a run (which texts go where), the run itself (with a live
chart), the user's models and the split table of a trained model."""
from __future__ import annotations

from dataclasses import dataclass
from typing import Any, Callable

import numpy as np
import streamlit as st

from core.training.user_models import DataFiles, TrainingRequest, TrainingRun
from ui.cached.common import dataset_stamp
from ui.progress import StreamlitProgress

STAGES = {"data": 0.5, "threads": 0.1, "embeddings": 3.0, "head": 1.0, "finetune": 6.0, "held-out": 1.0,
          "save": 0.4, "done": 0.1}
TITLES = {"data": "Reading the data", "threads": "Choosing CPU threads", "save": "Saving the model",
          "done": "Done"}


@dataclass(frozen=True)
class Plan:
    """Which texts a run would use: per split its description and label counts; the label names and notes."""

    parts: dict[str, str]
    counts: dict[str, list[int]]
    label_names: tuple[str, ...]
    notes: tuple[str, ...]
    is_pair: bool
    heldout_in_train_file: bool


@st.cache_data(show_spinner="Reading your files…", max_entries=8)
def _plan(data: DataFiles, stamps: tuple[str, ...], n: int | None, n_validation: int | None,  # noqa: ARG001
          n_test: int | None, seed: int) -> Plan:
    from core.data.sampling import training_splits
    from core.training.user_models import load_training_data

    train, val, test = load_training_data(data)
    sp = training_splits(train, val, test, seed=seed, n=n, n_validation=n_validation, n_test=n_test)
    k = len(train.label_names)
    counts = {s: np.bincount(d.labels[d.labels >= 0], minlength=k).tolist() for s, d in sp.parts().items()}
    return Plan({s: sp.describe(s) for s in sp.parts()}, counts, train.label_names, train.notes, train.is_pair,
                sp.heldout_in_train_file)


def plan(data: DataFiles, n: int | None, n_validation: int | None, n_test: int | None, seed: int) -> Plan:
    """The texts a run on ``data`` would use (``core.data.sampling.training_splits``); cached by the files' stamps."""
    stamps = tuple(dataset_stamp(p) for p in (data.train, data.validation or "", data.test or ""))
    return _plan(data, stamps, n, n_validation, n_test, seed)


def train(req: TrainingRequest, name: str, on_record: Callable[[dict], None] | None = None) -> TrainingRun:
    """Run ``core.training.user_models.train_models`` (saved as ``user:NAME``) with a progress bar; not cached: each
    click trains. ``on_record`` receives every validation row for the live chart."""
    from core.training.user_models import train_models

    bar = StreamlitProgress("Reading your files…", stages=STAGES, titles=TITLES)
    try:
        return train_models(req, name=name, progress=bar, on_record=on_record)
    finally:
        bar.close()


def user_models() -> list[dict[str, Any]]:
    """The ``user:NAME`` models, newest first (read fresh: a run may just have added one)."""
    from core.training.user_models import list_user_models

    return list_user_models()


@st.cache_data(show_spinner="Reading which texts went where…", max_entries=4)
def _split_rows(folder: str, stamp: str, limit: int) -> list[dict[str, Any]]:  # noqa: ARG001
    from core.training.user_models import split_table

    return split_table(folder, limit)


def split_rows(folder: str, limit: int = 2000) -> list[dict[str, Any]]:
    """Up to ``limit`` rows per split of a trained model: split, source file, row, text, label."""
    from ui.cached.common import _path_stamp
    from pathlib import Path

    return _split_rows(folder, _path_stamp(Path(folder)), limit)
