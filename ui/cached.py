"""Cached access to models, datasets and analyses: the only door from pages to ``core``.

* models: ``st.cache_resource`` (one shared, unpickled instance per reference and version);
* datasets and results: ``st.cache_data`` keyed by references and plain parameters (never by
  loaded models or datasets; a ``DatasetChoice`` is a frozen value, hashed field by field),
  plus a *stamp* of the files behind a reference so that an edited file or a
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

import numpy as np
import streamlit as st

from core.data import DatasetStats, TextDataset, dataset_stats, load_dataset, sample
from core.deepview import ProjectionRun, ProjectionSettings, run_projection, run_sweep
from core.evaluate import EvaluationResult, evaluate_model, select_evaluation_split, trained_on
from core.models import LoadedModel, demo_root, load_model
from core.projection import DEFAULT_LAMBDAS
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

    def show(self, fraction: float, text: str, *, final: bool = False) -> None:
        now = time.monotonic()
        if now - self.last > 0.3 or final:
            self.last = now
            self.bar.progress(min(1.0, max(0.0, fraction)), text=text)

    def __call__(self, done: int, total: int) -> None:
        self.show(done / max(total, 1), f"{self.text} {done:,}/{total:,}", final=done >= total)

    def close(self) -> None:
        self.bar.empty()


class _StageBar(_ProgressBar):
    """A ``_ProgressBar`` for ``core.deepview`` callbacks ``(stage, fraction, message)``."""

    STAGES = {"embeddings": "Embedding the texts", "distances": "Computing discriminative distances",
              "projection": "Projecting", "sweep": "λ sweep"}

    def __call__(self, stage: str, fraction: float, message: str) -> None:  # type: ignore[override]
        self.show(fraction, f"{self.STAGES.get(stage, stage)} – {message}", final=fraction >= 1.0)


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


# ----------------------------------------------------------------------------- projection


@dataclass(frozen=True, eq=False)
class ProjectionView:
    """A ``core.deepview.ProjectionRun`` with what the page needs beside it.

    labels: (n,) true labels as the *model's* label ids, matched by name (−1 = unlabelled, or a
    label the model does not know); text_pairs: second texts or None; indices: (n,) positions in
    the full dataset; split: "test" (held-out split only) or "all"; note: where the sample comes from;
    label_note: why true labels are missing ('' when they are shown).
    """

    run: ProjectionRun
    labels: np.ndarray
    text_pairs: tuple[str, ...] | None
    indices: np.ndarray
    split: str
    note: str
    label_note: str = ""


def _projection_sample(model: LoadedModel, choice: DatasetChoice, n: int, heldout: bool
                       ) -> tuple[TextDataset, str, str]:
    """``n`` examples of ``choice`` (its seed), from the held-out test split when asked and the model
    was trained on this dataset. Returns (sample, split, note), the note saying where they come from."""
    full = load_dataset(choice.ref.strip(), **choice.load_kwargs())
    trained = trained_on(model, full)
    if heldout and trained:
        pool, split, _ = select_evaluation_split(model, full)
        note = f"sampled from the {len(pool):,} held-out test examples (the model was trained on this dataset)"
    else:
        pool, split = full, "all"
        why = ("the model was not trained on this dataset, so there is no held-out split" if heldout
               else "training examples included" if trained else "")
        note = f"sampled from all {len(full):,} examples" + (f" ({why})" if why else "")
    return sample(pool, n, seed=choice.seed), split, note


@st.cache_data(show_spinner="Projecting…", max_entries=64)
def _projection(model_ref: str, model_stamp_: str, choice: DatasetChoice, stamp: str,  # noqa: ARG001
                n: int, heldout: bool, lam: float, metric: str) -> ProjectionView:
    model = _load_model(model_ref, model_stamp_)
    ds, split, note = _projection_sample(model, choice, n, heldout)
    bar = _StageBar("Preparing the projection…")
    try:
        run = run_projection(model, ds, lam, ProjectionSettings(metric=metric), progress=bar)
    finally:
        bar.close()
    return ProjectionView(run, run.labels, run.text_pairs, run.indices, split, note, run.label_note)


def projection(model_ref: str, choice: DatasetChoice, n: int, lam: float, metric: str = "cosine", *,
               heldout: bool = False) -> ProjectionView:
    """The DeepView projection of ``n`` examples of ``choice`` under ``model_ref`` for ``lam``.

    The distance graph (the slow part) and each λ's projection are also cached on disk by
    ``core.deepview``, so a new λ costs only UMAP, background and metrics. Shows a progress bar
    while computing."""
    mref = model_ref.strip()
    return _projection(mref, model_stamp(mref), choice, dataset_stamp(choice.ref), int(n), bool(heldout),
                       round(float(lam), 6), metric)


@st.cache_data(show_spinner="Sweeping λ…", max_entries=16)
def _lambda_sweep(model_ref: str, model_stamp_: str, choice: DatasetChoice, stamp: str,  # noqa: ARG001
                  n: int, heldout: bool, metric: str, lams: tuple[float, ...]) -> list[dict]:
    model = _load_model(model_ref, model_stamp_)
    ds, _, _ = _projection_sample(model, choice, n, heldout)
    bar = _StageBar("Preparing the λ sweep…")
    try:
        return run_sweep(model, ds, lams, ProjectionSettings(metric=metric), progress=bar).to_list()
    finally:
        bar.close()


def lambda_sweep(model_ref: str, choice: DatasetChoice, n: int, metric: str = "cosine", *, heldout: bool = False,
                 lams: tuple[float, ...] = DEFAULT_LAMBDAS) -> list[dict]:
    """Fidelity rows (lam, q_knn_error, q_data, trustworthiness, continuity, seconds), one per λ in ``lams``,
    on the same sample and distance graph as ``projection``."""
    mref = model_ref.strip()
    return _lambda_sweep(mref, model_stamp(mref), choice, dataset_stamp(choice.ref), int(n), bool(heldout), metric,
                         tuple(float(x) for x in lams))


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
