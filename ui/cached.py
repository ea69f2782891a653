"""Cached access to models, datasets and analyses: the only door from pages to ``core``.

* models: ``st.cache_resource`` (one shared, unpickled instance per reference and version);
* datasets and results: ``st.cache_data`` keyed by references and plain parameters (never by
  objects), plus a *stamp* of the files behind a reference so that an edited file or a
  rebuilt demo model is not served from a stale entry. Results are frozen ``core``
  dataclasses (numpy arrays inside), which pickle fine.

``core`` errors (``BackboneLensError``) are raised unchanged; Streamlit does not cache
exceptions, so a fixed input is retried on the next run.
"""
from __future__ import annotations

import hashlib
import re
import time
from dataclasses import dataclass
from pathlib import Path
import streamlit as st

from core.data import DatasetStats, TextDataset, dataset_stats, load_dataset, sample
from core.evaluate import EvaluationResult, evaluate_model
from core.models import LoadedModel, demo_root, load_model
from core.settings import cache_root
from ui.state import DatasetChoice

# ----------------------------------------------------------------------------- stamps


def _path_stamp(p: Path) -> str:
    """Names, sizes and mtimes of a file, or of the top-level files of a folder."""
    try:
        files = [p] if p.is_file() else sorted(f for f in p.iterdir() if f.is_file())
        return ";".join(f"{f.name}:{f.stat().st_size}:{f.stat().st_mtime_ns}" for f in files)
    except OSError:
        return "missing"


def model_stamp(ref: str) -> str:
    """Changes when the files behind a demo model or local folder change ('' for hub ids)."""
    ref = ref.strip()
    if ref.startswith("demo:"):
        return _path_stamp(demo_root() / ref.split(":", 1)[1])
    p = Path(ref).expanduser()
    return _path_stamp(p) if p.exists() else ""


def dataset_stamp(ref: str) -> str:
    """Changes when the dataset file (or folder) behind ``ref`` changes ('' for bundled data)."""
    if ref.startswith("bundled:"):
        return ""
    p = Path(ref).expanduser()
    return _path_stamp(p) if p.exists() else ""


# ----------------------------------------------------------------------------- models


@st.cache_resource(show_spinner="Loading the model…", max_entries=4)
def _load_model(ref: str, stamp: str) -> LoadedModel:  # noqa: ARG001 - stamp is part of the key
    return load_model(ref)


def get_model(ref: str) -> LoadedModel:
    """The loaded model for ``ref`` (shared between sessions; treat it as read-only)."""
    return _load_model(ref.strip(), model_stamp(ref))


# ----------------------------------------------------------------------------- datasets


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


# ----------------------------------------------------------------------------- analyses


class _ProgressBar:
    """A throttled ``st.progress`` for ``(done, total)`` callbacks.

    Create it *inside* a cached function: Streamlit replays the elements a cached function
    drew, and an element created outside it cannot be replayed. ``close()`` empties it, so
    a replay draws nothing.
    """

    def __init__(self, text: str) -> None:
        self.text = text
        self.bar = st.progress(0.0, text=text)
        self.last = 0.0

    def __call__(self, done: int, total: int) -> None:
        now = time.monotonic()
        if now - self.last > 0.3 or done >= total:
            self.last = now
            self.bar.progress(min(1.0, done / max(total, 1)), text=f"{self.text} {done:,}/{total:,}")

    def close(self) -> None:
        self.bar.empty()


@st.cache_data(show_spinner="Evaluating…", max_entries=32)
def _evaluate(model_ref: str, model_stamp_: str, ref: str, stamp: str,  # noqa: ARG001
              text_column: str | None, text_pair_column: str | None, label_column: str | None,
              label_names: tuple[str, ...] | None, encoding: str, n: int | None, seed: int) -> EvaluationResult:
    model = _load_model(model_ref, model_stamp_)
    full = load_dataset(ref, text_column=text_column, text_pair_column=text_pair_column, label_column=label_column,
                        label_names=label_names, encoding=encoding)
    bar = _ProgressBar("Embedding the texts…")
    try:
        return evaluate_model(model, full, n=n, seed=seed, progress=bar)
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


# ----------------------------------------------------------------------------- uploads


def uploads_dir() -> Path:
    """Where uploaded dataset files are kept: ``<cache>/uploads`` (never inside the repository)."""
    return cache_root() / "uploads"


def save_upload(name: str, data: bytes) -> Path:
    """Store an uploaded file under ``uploads_dir()/<content hash>/<name>`` and return its path."""
    from core.cache import atomic_write_bytes

    digest = hashlib.sha256(data).hexdigest()[:16]
    safe = re.sub(r"[^A-Za-z0-9._-]+", "_", Path(name).name).lstrip(".") or "upload"
    path = uploads_dir() / digest / safe
    if not path.exists():
        atomic_write_bytes(path, data)
    return path
