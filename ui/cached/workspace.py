"""Cached calls of the Workspace: the dataset sample and its statistics, the model's evaluation, uploads.
"""
from __future__ import annotations

import hashlib
import re
from dataclasses import dataclass
from pathlib import Path
import streamlit as st
from core.data.datasets import DatasetStats, TextDataset, dataset_stats
from core.data.refs import load_dataset
from core.data.sampling import sample
from core.models.evaluate import EvaluationResult
from core.models.evaluate import evaluate as evaluate_on
from core.models.heldout import heldout_sample
from core.foundation.settings import cache_root
from ui.progress import StreamlitProgress
from ui.state import DatasetChoice
from ui.cached.common import _load_model, dataset_stamp, model_stamp


@dataclass(frozen=True)
class DatasetView:
    """A dataset sample with its statistics; ``full_size`` counts the examples before sampling."""

    dataset: TextDataset
    stats: DatasetStats
    full_size: int


@st.cache_data(show_spinner="Reading the dataset…", max_entries=16)
def _dataset_view(ref: str, stamp: str, text_column: str | None, text_pair_column: str | None,  # noqa: ARG001
                  label_column: str | None, label_names: tuple[str, ...] | None, encoding: str,
                  n: int | None, seed: int) -> DatasetView:
    full = load_dataset(ref, text_column=text_column, text_pair_column=text_pair_column, label_column=label_column,
                        label_names=label_names, encoding=encoding)
    ds = sample(full, n, seed=seed) if n is not None else full
    return DatasetView(ds, dataset_stats(ds), len(full))


def dataset_view(choice: DatasetChoice) -> DatasetView:
    """The sample of ``choice`` (``n`` examples, ``seed``) with its statistics."""
    return _dataset_view(choice.ref.strip(), dataset_stamp(choice.ref), choice.text_column, choice.text_pair_column,
                         choice.label_column, choice.label_names, choice.encoding, choice.n, choice.seed)


@st.cache_data(show_spinner="Evaluating…", max_entries=32)
def _evaluate(model_ref: str, model_stamp_: str, ref: str, stamp: str,  # noqa: ARG001
              text_column: str | None, text_pair_column: str | None, label_column: str | None,
              label_names: tuple[str, ...] | None, encoding: str, n: int | None, seed: int) -> EvaluationResult:
    model = _load_model(model_ref, model_stamp_)
    full = load_dataset(ref, text_column=text_column, text_pair_column=text_pair_column, label_column=label_column,
                        label_names=label_names, encoding=encoding)
    bar = StreamlitProgress("Embedding the texts…")
    try:
        return evaluate_on(model, heldout_sample(model, full, n, seed=seed), progress=bar)
    finally:
        bar.close()


def evaluate(model_ref: str, choice: DatasetChoice) -> EvaluationResult:
    """Accuracy etc. of ``model_ref`` on ``choice``: ``n`` examples drawn from the held-out test split
    when the model was trained on this dataset, else from all of it (see ``EvaluationResult.note``).
    Shows a progress bar while embedding."""
    mref = model_ref.strip()
    return _evaluate(mref, model_stamp(mref), choice.ref.strip(), dataset_stamp(choice.ref), choice.text_column,
                     choice.text_pair_column, choice.label_column, choice.label_names, choice.encoding, choice.n,
                     choice.seed)


def uploads_dir() -> Path:
    """Where uploaded dataset files are kept: ``<cache>/uploads`` (never inside the repository)."""
    return cache_root() / "uploads"


def save_upload(name: str, data: bytes) -> Path:
    """Store an uploaded file under ``uploads_dir()/<content hash>/<name>`` and return its path."""
    from core.foundation.cache import atomic_write_bytes

    digest = hashlib.sha256(data).hexdigest()[:16]
    safe = re.sub(r"[^A-Za-z0-9._-]+", "_", Path(name).name).lstrip(".") or "upload"
    path = uploads_dir() / digest / safe
    if not path.exists():
        atomic_write_bytes(path, data)
    return path
