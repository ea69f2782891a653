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
from typing import Any, Sequence

import numpy as np
import streamlit as st

from core.class_tokens import ClassTokens, bundled_idf, class_representative_tokens
from core.data import DatasetStats, TextDataset, dataset_stats, load_dataset, sample
from core.deepview import ProjectionRun, ProjectionSettings, run_projection, run_sweep
from core.evaluate import EvaluationResult, evaluate_model, select_evaluation_split, trained_on
from core.faithfulness import FaithfulnessResult, MethodSpec, dataset_games
from core.models import LoadedModel, demo_root, load_model
from core.projection import DEFAULT_LAMBDAS
from core.saliency import SaliencyResult, get_method
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


# ----------------------------------------------------------------------------- saliency


@dataclass(frozen=True, eq=False)
class ExampleTexts:
    """A few examples of a dataset to explain: texts, second texts (None for single texts), true label
    names ('' unlabelled), whether the dataset holds pairs, and where they come from (``note``)."""

    texts: tuple[str, ...]
    pairs: tuple[str, ...] | None
    labels: tuple[str, ...]
    is_pair: bool
    note: str


@st.cache_data(show_spinner="Reading the dataset…", max_entries=16)
def _example_texts(model_ref: str, model_stamp_: str, choice: DatasetChoice, stamp: str,  # noqa: ARG001
                   k: int) -> ExampleTexts:
    model = _load_model(model_ref, model_stamp_)
    ds, _, note = _projection_sample(model, choice, k, True)
    names = ds.label_names
    labels = tuple(names[int(y)] if ds.labels is not None and 0 <= int(y) < len(names) else ""
                   for y in (ds.labels if ds.labels is not None else [-1] * len(ds)))
    return ExampleTexts(tuple(ds.texts), ds.text_pairs, labels, ds.is_pair, note)


def example_texts(model_ref: str, choice: DatasetChoice, k: int = 12) -> ExampleTexts:
    """``k`` examples of ``choice`` (its seed), from the held-out test split when ``model_ref`` was trained on it."""
    mref = model_ref.strip()
    return _example_texts(mref, model_stamp(mref), choice, dataset_stamp(choice.ref), int(k))


def _plain_params(params: dict[str, Any] | None) -> tuple[tuple[str, Any], ...]:
    return tuple(sorted((str(k), v) for k, v in (params or {}).items()))


@dataclass(frozen=True, eq=False)
class SaliencyView:
    """One ``core.saliency.SaliencyResult`` and the seconds it took to compute."""

    result: SaliencyResult
    seconds: float


@st.cache_data(show_spinner=False, max_entries=256)
def _saliency(model_ref: str, model_stamp_: str, method: str, text: str, pair: str | None,  # noqa: ARG001
              target: str | None, params: tuple[tuple[str, Any], ...]) -> SaliencyView:
    model = _load_model(model_ref, model_stamp_)
    t0 = time.perf_counter()
    res = get_method(method)(model, [text], None if pair is None else [pair], target=target, **dict(params))
    return SaliencyView(res[0], time.perf_counter() - t0)


def saliency(model_ref: str, method: str, text: str, pair: str | None = None, *, target: str | None = None,
             params: dict[str, Any] | None = None) -> SaliencyView:
    """``method``'s token saliency of ``text`` (and ``pair``) under ``model_ref`` for the class ``target``
    (a label name; None = the predicted class), with the method's declared ``params``."""
    mref = model_ref.strip()
    return _saliency(mref, model_stamp(mref), method, text, pair, target, _plain_params(params))


def mlm_head_ready(model_ref: str) -> bool:
    """True when the model has a masked-LM decoding head, its own or one fitted earlier for its encoder."""
    from core.mlm import attach_fitted_mlm_head

    model = get_model(model_ref)
    return model.mlm_head is not None or attach_fitted_mlm_head(model)


MLM_FIT_SECONDS = 75


def fit_mlm_head(model_ref: str) -> Any:
    """Fit a masked-LM decoding head for the model's encoder on bundled BBC and tweet texts (about
    ``MLM_FIT_SECONDS`` s), store it and attach it; shows a progress bar. Returns the ``MLMHeadReport``."""
    from core.mlm import fit_and_store

    model = get_model(model_ref)
    bar = st.progress(0.0, text="Reading the encoder's hidden states on bundled texts…")
    try:
        bbc = sample(load_dataset("bundled:bbc"), 350, seed=0).texts
        tweets = sample(load_dataset("bundled:tweets"), 1250, seed=0).texts
        train, test = [*bbc[:300], *tweets[:1200]], [*bbc[300:], *tweets[1200:]]
        t0 = time.monotonic()

        def progress(step: int, total: int, info: dict) -> None:
            done = min(1.0, max(step / max(total, 1), (time.monotonic() - t0) / MLM_FIT_SECONDS))
            bar.progress(done, text=f"Fitting the decoding head – step {step:,}, loss {info.get('loss', 0):.2f}")

        _, report = fit_and_store(model, train, test, max_seconds=MLM_FIT_SECONDS, progress=progress)
    finally:
        bar.empty()
    for fn in (_saliency, _games, _class_tokens):  # results computed before (errors are not cached) stay valid,
        fn.clear()  # but a re-fitted head changes decoded scores
    return report


class _GamesBar(_ProgressBar):
    """A ``_ProgressBar`` for ``core.faithfulness`` callbacks ``(stage, fraction, message)``."""

    def __call__(self, stage: str, fraction: float, message: str) -> None:  # type: ignore[override]
        self.show(fraction, f"Faithfulness games – {message}", final=fraction >= 1.0)


@dataclass(frozen=True, eq=False)
class GamesView:
    """A ``core.faithfulness.FaithfulnessResult`` with where its texts come from (``split``, ``note``)."""

    result: FaithfulnessResult
    split: str
    note: str


GameSpec = tuple[str, tuple[tuple[str, Any], ...], "tuple[int, ...] | None"]


@st.cache_data(show_spinner=False, max_entries=32)
def _games(model_ref: str, model_stamp_: str, choice: DatasetChoice, stamp: str,  # noqa: ARG001
           n: int, specs: tuple[GameSpec, ...], replacement: str) -> GamesView:
    model = _load_model(model_ref, model_stamp_)
    ds, split, note = _projection_sample(model, choice, n, True)
    bar = _GamesBar("Preparing the games…")
    try:
        res = dataset_games(model, ds, [MethodSpec(name, dict(p), layers) for name, p, layers in specs],
                            replacement=replacement, seed=choice.seed, progress=bar)
    finally:
        bar.close()
    return GamesView(res, split, note)


def faithfulness_games(model_ref: str, choice: DatasetChoice, n: int, specs: Sequence[MethodSpec], *,
                       replacement: str = "mask") -> GamesView:
    """Hiding and revealing games (``core.faithfulness``) for ``specs`` plus the random order, on ``n``
    examples of ``choice`` (the held-out test split when the model was trained on it). Each method's
    curves are also cached on disk by ``core.faithfulness``. Shows a progress bar while playing."""
    mref = model_ref.strip()
    plain = tuple((s.name, _plain_params(s.params), None if s.layers is None else tuple(int(x) for x in s.layers))
                  for s in specs)
    return _games(mref, model_stamp(mref), choice, dataset_stamp(choice.ref), int(n), plain, replacement)


@dataclass(frozen=True, eq=False)
class ClassTokensView:
    """A ``core.class_tokens.ClassTokens`` with its sample (``n`` texts, ``note``) and the seconds it took."""

    tokens: ClassTokens
    n: int
    note: str
    seconds: float


@st.cache_data(show_spinner=False, max_entries=32)
def _class_tokens(model_ref: str, model_stamp_: str, choice: DatasetChoice, stamp: str,  # noqa: ARG001
                  n: int, method: str, params: tuple[tuple[str, Any], ...], top_k: int) -> ClassTokensView:
    model = _load_model(model_ref, model_stamp_)
    ds, _, note = _projection_sample(model, choice, n, True)
    t0 = time.perf_counter()
    bar = _ProgressBar("Explaining the texts…")
    try:
        results = get_method(method)(model, list(ds.texts), None if ds.text_pairs is None else list(ds.text_pairs),
                                     progress=bar, **dict(params))
        bar.show(1.0, "Weighting words by their document frequency in the bundled corpora…", final=True)
        ct = class_representative_tokens(results, model.tokenizer, idf=bundled_idf(model.tokenizer), top_k=top_k)
    finally:
        bar.close()
    return ClassTokensView(ct, len(ds), note, time.perf_counter() - t0)


def class_tokens(model_ref: str, choice: DatasetChoice, n: int, method: str, *, params: dict[str, Any] | None = None,
                 top_k: int = 10) -> ClassTokensView:
    """The top-``top_k`` words per predicted class that ``method`` credits over ``n`` examples of ``choice``
    (held-out split when the model was trained on it), idf-weighted by the bundled corpora."""
    mref = model_ref.strip()
    return _class_tokens(mref, model_stamp(mref), choice, dataset_stamp(choice.ref), int(n), method,
                         _plain_params(params), int(top_k))


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
