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

from core.analyses.saliency.class_tokens import ClassTokens, bundled_idf, class_representative_tokens
from core.data.datasets import DatasetStats, TextDataset, dataset_stats
from core.data.refs import load_dataset
from core.data.sampling import sample
from core.analyses.projection.run import ProjectionRun, ProjectionSettings, run_projection, run_sweep
from core.models.evaluate import EvaluationResult, evaluate_model
from core.models.heldout import select_evaluation_split, trained_on
from core.analyses.saliency.faithfulness import FaithfulnessResult, MethodSpec, dataset_games
from core.models.loading import LoadedModel
from core.models.refs import load_model
from core.training.demo_workspace import demo_root
from core.analyses.projection.layout import DEFAULT_LAMBDAS
from core.analyses.saliency import SaliencyResult, get_method
from core.foundation.settings import cache_root
from ui.progress import StreamlitProgress
from ui.state import DatasetChoice

# Relative cost per text of each head-importance stage (attribution per 10 integration steps), for one bar
HEAD_STAGE_COST = {"attribution": 1.0, "mask": 0.05, "pruning": 0.5}  # measured on 100 tweets: 235 s, 12 s, 111 s

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
    from core.models.refs import split_task_ref

    ref = split_task_ref(ref.strip())[0]  # a multi-task model's task view: the folder's files
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






@st.cache_data(show_spinner="Evaluating…", max_entries=32)
def _evaluate(model_ref: str, model_stamp_: str, ref: str, stamp: str,  # noqa: ARG001
              text_column: str | None, text_pair_column: str | None, label_column: str | None,
              label_names: tuple[str, ...] | None, encoding: str, n: int | None, seed: int) -> EvaluationResult:
    model = _load_model(model_ref, model_stamp_)
    full = load_dataset(ref, text_column=text_column, text_pair_column=text_pair_column, label_column=label_column,
                        label_names=label_names, encoding=encoding)
    bar = StreamlitProgress("Embedding the texts…")
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
    """A ``core.analyses.projection.run.ProjectionRun`` with what the page needs beside it.

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
    bar = StreamlitProgress("Preparing the projection…")
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
    bar = StreamlitProgress("Preparing the λ sweep…")
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
    """One ``core.analyses.saliency.SaliencyResult`` and the seconds it took to compute."""

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
    from core.models.storage import attach_fitted_mlm_head

    model = get_model(model_ref)
    return model.mlm_head is not None or attach_fitted_mlm_head(model)


MLM_FIT_SECONDS = 75


def fit_mlm_head(model_ref: str) -> Any:
    """Fit a masked-LM decoding head for the model's encoder on bundled BBC and tweet texts (about
    ``MLM_FIT_SECONDS`` s), store it and attach it; shows a progress bar. Returns the ``MLMHeadReport``."""
    from core.training.mlm_head import fit_and_store

    model = get_model(model_ref)
    bar = StreamlitProgress("Reading the encoder's hidden states on bundled texts…")
    try:
        bbc = sample(load_dataset("bundled:bbc"), 350, seed=0).texts
        tweets = sample(load_dataset("bundled:tweets"), 1250, seed=0).texts
        train, test = [*bbc[:300], *tweets[:1200]], [*bbc[300:], *tweets[1200:]]
        _, report = fit_and_store(model, train, test, max_seconds=MLM_FIT_SECONDS, progress=bar)
    finally:
        bar.close()
    for fn in (_saliency, _games, _class_tokens, _attack, _detection):  # results computed before (errors are
        fn.clear()  # not cached) stay valid, but a re-fitted head changes decoded scores and word substitutes
    return report




@dataclass(frozen=True, eq=False)
class GamesView:
    """A ``core.analyses.saliency.faithfulness.FaithfulnessResult`` with where its texts come from (``split``, ``note``)."""

    result: FaithfulnessResult
    split: str
    note: str


GameSpec = tuple[str, tuple[tuple[str, Any], ...], "tuple[int, ...] | None"]


@st.cache_data(show_spinner=False, max_entries=32)
def _games(model_ref: str, model_stamp_: str, choice: DatasetChoice, stamp: str,  # noqa: ARG001
           n: int, specs: tuple[GameSpec, ...], replacement: str) -> GamesView:
    model = _load_model(model_ref, model_stamp_)
    ds, split, note = _projection_sample(model, choice, n, True)
    bar = StreamlitProgress("Preparing the games…", prefix="Faithfulness games – ", titles={"prepare": "scoring the intact texts"})
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
    """A ``core.analyses.saliency.class_tokens.ClassTokens`` with its sample (``n`` texts, ``note``) and the seconds it took."""

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
    bar = StreamlitProgress("Explaining the texts…")
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
    from core.foundation.cache import atomic_write_bytes

    digest = hashlib.sha256(data).hexdigest()[:16]
    safe = re.sub(r"[^A-Za-z0-9._-]+", "_", Path(name).name).lstrip(".") or "upload"
    path = uploads_dir() / digest / safe
    if not path.exists():
        atomic_write_bytes(path, data)
    return path


# ----------------------------------------------------------------------------- model comparison


@dataclass(frozen=True, eq=False)
class ComparisonView:
    """A ``core.analyses.compare.ModelComparison`` with what the Compare page needs beside it.

    refs: the references as the user gave them (``comparison.model_refs`` holds the loaded models' own
    names); indices: (n,) positions of the texts in the full dataset; note: where the texts come from.
    """

    comparison: Any  # core.analyses.compare.ModelComparison
    refs: tuple[str, ...]
    indices: np.ndarray
    note: str




def _comparison_sample(models: Sequence[LoadedModel], choice: DatasetChoice, n: int) -> tuple[TextDataset, str]:
    """``n`` examples of ``choice`` (its seed): from the held-out test split when one of the models was
    trained on this dataset (the first such model's split), else from all of it; and a note saying which."""
    from core.models.heldout import heldout_pool

    full = load_dataset(choice.ref.strip(), **choice.load_kwargs())
    pool, _, by = heldout_pool(models, full)
    if by is not None:
        note = (f"sampled from the {len(pool):,} held-out test examples of {full.name} ({by.ref} was trained "
                "on this dataset)")
    else:
        note = f"sampled from all {len(full):,} examples of {full.name} (no model was trained on it)"
    return sample(pool, n, seed=choice.seed), note


@st.cache_data(show_spinner=False, max_entries=16)
def _comparison(model_refs: tuple[str, ...], stamps: tuple[str, ...], choice: DatasetChoice,  # noqa: ARG001
                stamp: str, n: int, ks: tuple[int, ...], lam: float) -> ComparisonView:
    from core.analyses.compare import compare_models

    models = [_load_model(r, s) for r, s in zip(model_refs, stamps)]
    ds, note = _comparison_sample(models, choice, n)
    bar = StreamlitProgress("Preparing the comparison…", stages={"embeddings": 0.35, "projections": 0.6, "metrics": 0.05})
    try:
        cmp = compare_models(models, ds, ks=ks, lam=lam, progress=bar)
    finally:
        bar.close()
    indices = ds.indices if ds.indices is not None else np.arange(len(ds))
    return ComparisonView(cmp, tuple(model_refs), np.asarray(indices), note)


def comparison(model_refs: Sequence[str], choice: DatasetChoice, n: int, ks: Sequence[int], lam: float = 0.8
               ) -> ComparisonView:
    """Two or more models on the same ``n`` texts of ``choice`` (``core.analyses.compare.compare_models``): Q_NN and
    LCMC over ``ks`` for embeddings and DeepView projections at ``lam``, CKA, prediction agreement. The texts
    come from the held-out test split when a model was trained on the dataset. Embeddings and projections
    are also cached on disk by ``core``. Shows a progress bar while computing."""
    refs = tuple(r.strip() for r in model_refs)
    return _comparison(refs, tuple(model_stamp(r) for r in refs), choice, dataset_stamp(choice.ref), int(n),
                       tuple(sorted({int(k) for k in ks})), round(float(lam), 6))


# ----------------------------------------------------------------------------- adversarial texts


@dataclass(frozen=True, eq=False)
class AttackView:
    """A ``core.analyses.adversarial.attacks.AttackResult`` with its sample: ``n`` texts, where they come from (``note``),
    why true labels are missing (``label_note``, '' when known) and whether it came from the disk cache."""

    result: Any  # core.analyses.adversarial.attacks.AttackResult
    n: int
    note: str
    label_note: str
    cache_hit: bool


@dataclass(frozen=True)
class AttackSettings:
    """The Adversarial page's attack settings (plain values: part of the cache keys)."""

    attack: str = "word"
    importance: str = "occlusion"
    max_change: float = 0.4
    min_similarity: float = 0.7


@st.cache_data(show_spinner=False, max_entries=16)
def _attack(model_ref: str, model_stamp_: str, choice: DatasetChoice, stamp: str,  # noqa: ARG001
            n: int, settings: AttackSettings) -> AttackView:
    from core.analyses.adversarial.attacks import attack_dataset
    from core.analyses.projection.run import model_labels

    model = _load_model(model_ref, model_stamp_)
    ds, _, note = _projection_sample(model, choice, n, True)
    _, label_note = model_labels(model, ds)
    bar = StreamlitProgress(f"{settings.attack.capitalize()} attack…", titles={"attack": f"{settings.attack.capitalize()} attack: texts done"})
    try:
        res, hit = attack_dataset(model, ds, attack=settings.attack, progress=bar, importance=settings.importance,
                                  max_change=settings.max_change, min_similarity=settings.min_similarity,
                                  seed=choice.seed)
    finally:
        bar.close()
    return AttackView(res, len(ds), note, label_note, hit)


def attack(model_ref: str, choice: DatasetChoice, n: int, settings: AttackSettings) -> AttackView:
    """``core.analyses.adversarial.attacks.attack_dataset`` on ``n`` examples of ``choice`` (the held-out test split when the
    model was trained on it; the Workspace seed). Cached here and on disk by ``core``; shows a progress bar."""
    mref = model_ref.strip()
    return _attack(mref, model_stamp(mref), choice, dataset_stamp(choice.ref), int(n), settings)


@st.cache_data(show_spinner=False, max_entries=16)
def _detection(model_ref: str, model_stamp_: str, choice: DatasetChoice, stamp: str,  # noqa: ARG001
               n: int, settings: AttackSettings, lam: float) -> Any:
    from core.analyses.adversarial.detection import detect

    view = _attack(model_ref, model_stamp_, choice, stamp, n, settings)
    model = _load_model(model_ref, model_stamp_)
    bar = StreamlitProgress("Projecting the clean and adversarial texts…")
    try:
        return detect(model, view.result, lam=lam, progress=bar)
    finally:
        bar.close()


def detection(model_ref: str, choice: DatasetChoice, n: int, settings: AttackSettings, lam: float = 0.8) -> Any:
    """``core.analyses.adversarial.detection.detect`` for the attack ``attack(model_ref, choice, n, settings)``: clean and
    adversarial texts in one DeepView projection at ``lam`` with suspicion scores (a ``DetectionResult``).
    Raises ``AttackError`` when the attack produced too few adversarial texts."""
    mref = model_ref.strip()
    return _detection(mref, model_stamp(mref), choice, dataset_stamp(choice.ref), int(n), settings,
                      round(float(lam), 6))


# ----------------------------------------------------------------------------- multi-task models


def multitask_options() -> list[str]:
    """The multi-task demo models that are built (``demo:multitask-pretrained`` / ``-finetuned``)."""
    from core.models.loading import META_FILE
    from core.training.demo_workspace import MULTITASK_DEMO_MODELS

    return [f"demo:{m}" for m in MULTITASK_DEMO_MODELS if (demo_root() / m / META_FILE).is_file()]


@st.cache_resource(show_spinner="Loading the multi-task model…", max_entries=2)
def _load_multitask(ref: str, stamp: str) -> Any:  # noqa: ARG001 - stamp is part of the key
    from core.models.refs import load_multitask

    return load_multitask(ref)


def get_multitask(ref: str) -> Any:
    """The loaded ``core.models.multitask.MultiTaskModel`` for ``ref`` (shared between sessions; read-only)."""
    return _load_multitask(ref.strip(), model_stamp(ref))




def train_multitask(setting: str, tasks: tuple[str, ...] = ("bbc", "tweets")) -> Any:
    """Train ``demo:multitask-<setting>`` on bundled ``tasks`` with the demo workspace's profile (progress bar).
    Returns the ``MultiTaskModel``."""
    from core.training.demo_workspace import read_manifest
    from core.training.multitask import train_multitask as train

    profile = read_manifest().get("profile") or "full"
    stages = [f"head:{t}" for t in tasks] + (["finetune"] if setting == "finetuned" else []) + ["held-out"]
    bar = StreamlitProgress("Loading the encoder and the data…", stages=stages,
                            titles={s: s.replace("head:", "Head for ") for s in stages})
    try:
        return train(tasks, setting, profile=profile, progress=bar)
    finally:
        bar.close()




@st.cache_data(show_spinner=False, max_entries=16)
def _synergy(ref: str, stamp: str, n: int, k: int, lam: float, seed: int) -> Any:
    from core.analyses.synergy import synergy

    mt = _load_multitask(ref, stamp)
    bar = StreamlitProgress("Preparing…", stages=("embeddings", "joint map", "projections", "synergy", "transfer"))
    try:
        return synergy(mt, n_per_task=n, k=k, ks=(5, 10, 20), lam=lam, seed=seed, progress=bar)
    finally:
        bar.close()


def synergy(ref: str, n: int, k: int = 10, lam: float = 0.8, seed: int = 0) -> Any:
    """``core.analyses.synergy.synergy`` of the multi-task model ``ref`` on ``n`` held-out texts per task (a
    ``SynergyResult``); embeddings and projections are also cached on disk by ``core``. Shows a progress bar."""
    r = ref.strip()
    return _synergy(r, model_stamp(r), int(n), int(k), round(float(lam), 6), int(seed))


def multitask_task_refs() -> list[str]:
    """``REF#task`` for every task of the built multi-task demo models (each an ordinary classifier)."""
    from core.models.refs import read_metadata

    return [f"{r}#{t}" for r in multitask_options() for t in read_metadata(r).get("tasks", {})]


# ----------------------------------------------------------------------------- inside the transformer: layers, topics


METHOD_NAMES = {"pca": "PCA", "tsne": "t-SNE", "umap": "UMAP", "deepview": "DeepView"}


@dataclass(frozen=True, eq=False)
class LayersView:
    """Per-layer separability (``core.analyses.transformer.layers.LayerSeparability``, one per model in ``refs`` order) of the same
    ``n`` texts; has_head: per model; texts / text_pairs: the sample; indices: (n,) positions in the full dataset;
    note: where the texts come from; seconds: wall time per model (embeddings of every layer + metrics)."""

    separability: tuple[Any, ...]
    refs: tuple[str, ...]
    has_head: tuple[bool, ...]
    texts: tuple[str, ...]
    text_pairs: tuple[str, ...] | None
    indices: np.ndarray
    note: str
    seconds: tuple[float, ...]




def _layers_sample(models: Sequence[LoadedModel], choice: DatasetChoice, n: int) -> tuple[TextDataset, str]:
    return _comparison_sample(models, choice, n)


@st.cache_data(show_spinner=False, max_entries=16)
def _layers(model_refs: tuple[str, ...], stamps: tuple[str, ...], choice: DatasetChoice, stamp: str,  # noqa: ARG001
            n: int, k: int) -> LayersView:
    from core.analyses.transformer.layers import layer_sweep

    models = [_load_model(r, s) for r, s in zip(model_refs, stamps)]
    ds, note = _layers_sample(models, choice, n)
    bar = StreamlitProgress("Preparing the layer sweep…", stages={"embeddings": 0.85, "layers": 0.15})
    seps, secs = [], []
    try:
        for i, m in enumerate(models):
            t0 = time.perf_counter()
            seps.append(layer_sweep(m, ds, k=k, seed=choice.seed,
                                    progress=bar.part(i, len(models), prefix=f"{model_refs[i]}: "))[0])
            secs.append(time.perf_counter() - t0)
    finally:
        bar.close()
    indices = ds.indices if ds.indices is not None else np.arange(len(ds))
    return LayersView(tuple(seps), tuple(model_refs), tuple(bool(m.has_head) for m in models), tuple(ds.texts),
                      None if ds.text_pairs is None else tuple(ds.text_pairs), np.asarray(indices), note, tuple(secs))


def layer_separability(model_refs: Sequence[str], choice: DatasetChoice, n: int, k: int = 10) -> LayersView:
    """``core.analyses.transformer.layers.layer_sweep`` of each model on the same ``n`` texts of ``choice`` (the held-out test split when
    one of the models was trained on the dataset; the Workspace seed): k-NN accuracy and silhouette of the true
    labels at every layer. Hidden states are cached on disk by ``core``; shows a progress bar."""
    refs = tuple(r.strip() for r in model_refs)
    return _layers(refs, tuple(model_stamp(r) for r in refs), choice, dataset_stamp(choice.ref), int(n), int(k))


@dataclass(frozen=True, eq=False)
class LayerMapView:
    """One layer of one model mapped to 2-D, for the sample of ``layer_separability``.

    points: (n, 2); true: (n,) the dataset's label names ('—' = unlabelled); predicted / correct: (n,) the
    model's predicted class names and 'correct' / 'wrong' / 'unlabelled' (None for a bare encoder); confidence:
    (n,) or None; run: the ``core.analyses.projection.run.ProjectionRun`` when ``method == 'deepview'`` (its decision background),
    else None; label_note: why correctness is unknown ('' when known); seconds: time to map."""

    ref: str
    layer: int
    method: str
    points: np.ndarray
    true: tuple[str, ...]
    true_names: tuple[str, ...]
    predicted: tuple[str, ...] | None
    correct: tuple[str, ...] | None
    confidence: np.ndarray | None
    label_names: tuple[str, ...]
    run: Any
    label_note: str
    seconds: float


def _row_labels(model: LoadedModel, ds: TextDataset, probs: np.ndarray | None
                ) -> tuple[tuple[str, ...], tuple[str, ...] | None, tuple[str, ...] | None, np.ndarray | None, str]:
    """(true names, predicted names, correctness, confidence, label note) of the texts of ``ds``."""
    from core.analyses.projection.run import model_labels

    names = tuple(ds.label_names)
    y = np.asarray(ds.labels) if ds.labels is not None else np.full(len(ds), -1)
    true = tuple(names[int(v)] if 0 <= int(v) < len(names) else "—" for v in y)
    if not model.has_head or probs is None:
        return true, None, None, None, ""
    pred = np.asarray(probs).argmax(1)
    predicted = tuple(model.label_names[int(c)] for c in pred)
    y_model, note = model_labels(model, ds)
    correct = tuple("unlabelled" if t < 0 else ("correct" if t == p else "wrong") for t, p in zip(y_model, pred))
    return true, predicted, correct, np.asarray(probs).max(1).astype(np.float32), note


@st.cache_data(show_spinner=False, max_entries=64)
def _layer_map(model_refs: tuple[str, ...], stamps: tuple[str, ...], choice: DatasetChoice, stamp: str,  # noqa: ARG001
               n: int, which: int, layer: int, method: str) -> LayerMapView:
    from core.models.embeddings import extract_embeddings
    from core.analyses.transformer.layers import project_layer

    models = [_load_model(r, s) for r, s in zip(model_refs, stamps)]
    model = models[which]
    ds, _ = _layers_sample(models, choice, n)
    t0 = time.perf_counter()
    run = None
    if method == "deepview":
        from core.analyses.projection.run import ProjectionSettings

        bar = StreamlitProgress("Preparing the DeepView map…")
        try:
            run = run_projection(model, ds, 0.8, ProjectionSettings(seed=choice.seed), progress=bar)
        finally:
            bar.close()
        points, probs = run.projection.points, extract_embeddings(model, ds).probs
    else:
        bar = StreamlitProgress("Reading the hidden states…")
        try:
            emb = extract_embeddings(model, ds, all_layers=True, progress=bar)
            assert emb.layer_pooled is not None
            bar.show(1.0, f"Mapping layer {layer} with {METHOD_NAMES.get(method, method)}…", final=True)
            points = project_layer(emb.layer_pooled[layer], method, seed=choice.seed)
        finally:
            bar.close()
        probs = emb.probs
    true, predicted, correct, conf, note = _row_labels(model, ds, probs)
    return LayerMapView(model_refs[which], int(layer), method, np.asarray(points), true, tuple(ds.label_names),
                        predicted, correct, conf, tuple(model.label_names) if model.has_head else (), run, note,
                        time.perf_counter() - t0)


def layer_map(model_refs: Sequence[str], choice: DatasetChoice, n: int, which: int, layer: int, method: str
              ) -> LayerMapView:
    """The 2-D map of layer ``layer`` of model ``model_refs[which]`` on the sample of ``layer_separability``
    (``method``: pca, tsne, umap — ``core.analyses.transformer.layers.project_layer`` — or deepview: the DeepView projection at
    λ = 0.8, last layer only). Cached per (models, dataset, layer, method)."""
    refs = tuple(r.strip() for r in model_refs)
    return _layer_map(refs, tuple(model_stamp(r) for r in refs), choice, dataset_stamp(choice.ref), int(n),
                      int(which), int(layer), method)




@st.cache_data(show_spinner=False, max_entries=16)
def _layer_entropy(model_refs: tuple[str, ...], stamps: tuple[str, ...], choice: DatasetChoice,  # noqa: ARG001
                   stamp: str, n: int, which: int) -> np.ndarray:
    # imported here: the study costs integrated gradients per text and is rarely asked for
    from core.analyses.transformer.instance_view import entropy_study

    models = [_load_model(r, s) for r, s in zip(model_refs, stamps)]
    ds, _ = _layers_sample(models, choice, n)
    bar = StreamlitProgress("Integrated gradients of each text…", titles={"attribution": "Integrated gradients of each text"})
    try:
        study = entropy_study(models[which], ds, progress=bar)
    finally:
        bar.close()
    return np.asarray(study.entropy, dtype=np.float32)


def layer_entropy(model_refs: Sequence[str], choice: DatasetChoice, n: int, which: int) -> np.ndarray:
    """(n,) normalised entropy of |integrated-gradients attribution| of each text of the ``layer_separability``
    sample under ``model_refs[which]`` (``core.analyses.transformer.instance_view.entropy_study``; 0 = on one token, 1 = spread evenly)."""
    refs = tuple(r.strip() for r in model_refs)
    return _layer_entropy(refs, tuple(model_stamp(r) for r in refs), choice, dataset_stamp(choice.ref), int(n),
                          int(which))


@dataclass(frozen=True, eq=False)
class TopicsView:
    """A ``core.analyses.transformer.topics.TopicsResult`` with its sample: texts, text_pairs, indices (positions in the full dataset),
    true / predicted / correct names per text (as ``LayerMapView``), confidence (n,) or None, note (where the
    texts come from)."""

    result: Any  # core.analyses.transformer.topics.TopicsResult
    texts: tuple[str, ...]
    text_pairs: tuple[str, ...] | None
    indices: np.ndarray
    true: tuple[str, ...]
    predicted: tuple[str, ...] | None
    correct: tuple[str, ...] | None
    confidence: np.ndarray | None
    note: str




@st.cache_data(show_spinner=False, max_entries=32)
def _topics(model_ref: str, model_stamp_: str, choice: DatasetChoice, stamp: str,  # noqa: ARG001
            n: int, method: str, n_clusters: int | str, top_n: int, rerank: bool, reduce: str) -> TopicsView:
    from core.models.embeddings import extract_embeddings
    from core.analyses.transformer.topics import check_n_clusters, topics

    check_n_clusters(n_clusters, n, method)  # before the model reads anything
    model = _load_model(model_ref, model_stamp_)
    ds, _, note = _projection_sample(model, choice, n, True)
    bar = StreamlitProgress("Preparing…", stages={"embeddings": 0.6, "clusters": 0.25, "topic words": 0.15})
    try:
        res = topics(model, ds, method=method, n_clusters=n_clusters, top_n=top_n, rerank=rerank, reduce=reduce,
                     seed=choice.seed, progress=bar)
    finally:
        bar.close()
    probs = extract_embeddings(model, ds).probs if model.has_head else None
    true, predicted, correct, conf, _ = _row_labels(model, ds, probs)
    indices = ds.indices if ds.indices is not None else np.arange(len(ds))
    return TopicsView(res, tuple(ds.texts), None if ds.text_pairs is None else tuple(ds.text_pairs),
                      np.asarray(indices), true, predicted, correct, conf, note)


def topics(model_ref: str, choice: DatasetChoice, n: int, *, method: str = "kmeans", n_clusters: int | str = "auto",
           top_n: int = 10, rerank: bool = False, reduce: str = "none") -> TopicsView:
    """``core.analyses.transformer.topics.topics`` of ``n`` texts of ``choice`` (the held-out test split when the model was trained on
    it; the Workspace seed): clusters of the pooled embeddings named by c-TF-IDF words, with label mix and error
    rate per cluster. Embeddings are cached on disk by ``core``; shows a progress bar."""
    mref = model_ref.strip()
    return _topics(mref, model_stamp(mref), choice, dataset_stamp(choice.ref), int(n), method,
                   n_clusters if isinstance(n_clusters, str) else int(n_clusters), int(top_n), bool(rerank), reduce)


@st.cache_data(show_spinner=False, max_entries=32)
def _topic_map(model_ref: str, model_stamp_: str, choice: DatasetChoice, stamp: str,  # noqa: ARG001
               n: int, method: str) -> np.ndarray:
    from core.models.embeddings import extract_embeddings
    from core.analyses.transformer.layers import project_layer

    model = _load_model(model_ref, model_stamp_)
    ds, _, _ = _projection_sample(model, choice, n, True)
    bar = StreamlitProgress("Embedding the texts…")
    try:
        emb = extract_embeddings(model, ds, progress=bar)
        bar.show(1.0, f"Drawing the map with {METHOD_NAMES.get(method, method)}…", final=True)
        return project_layer(emb.pooled, method, seed=choice.seed)
    finally:
        bar.close()


def topic_map(model_ref: str, choice: DatasetChoice, n: int, method: str = "umap") -> np.ndarray:
    """(n, 2) map of the pooled embeddings of the ``topics`` sample (``core.analyses.transformer.layers.project_layer``: pca, tsne,
    umap; cosine), to draw the clusters on."""
    mref = model_ref.strip()
    return _topic_map(mref, model_stamp(mref), choice, dataset_stamp(choice.ref), int(n), method)


# ----------------------------------------------------------------------------- heads and attention


@dataclass(frozen=True, eq=False)
class HeadsView:
    """A ``core.analyses.transformer.head_importance.HeadImportance`` with its sample: ``n`` texts, where they come from (``note``) and
    why accuracy is measured against the model's own predictions (``label_note``, '' when true labels are used) and
    whether it came from the disk cache."""

    result: Any  # core.analyses.transformer.head_importance.HeadImportance
    n: int
    note: str
    label_note: str
    cache_hit: bool = False






@st.cache_data(show_spinner=False, max_entries=16)
def _head_importance(model_ref: str, model_stamp_: str, choice: DatasetChoice, stamp: str,  # noqa: ARG001
                     n: int, method: str, steps: int, compare: bool, prune: bool) -> HeadsView:
    from core.analyses.transformer.head_importance import IMPORTANCE_METHODS, dataset_head_importance
    from core.analyses.projection.run import model_labels

    model = _load_model(model_ref, model_stamp_)
    model.require_head()
    ds, note = _comparison_sample([model], choice, n)
    _, label_note = model_labels(model, ds)
    stages = [method, *(m for m in IMPORTANCE_METHODS if m != method and compare)] + (["pruning"] if prune else [])
    bar = StreamlitProgress("Preparing…", stages={s: HEAD_STAGE_COST[s] * (steps / 10 if s == "attribution" else 1)
                                                 for s in stages})
    try:
        res, hit = dataset_head_importance(model, ds, method=method, compare=compare, prune=prune, steps=steps,
                                           seed=choice.seed, progress=bar)
    finally:
        bar.close()
    return HeadsView(res, len(ds), note, label_note, hit)


def head_importance(model_ref: str, choice: DatasetChoice, n: int, *, method: str = "attribution", steps: int = 10,
                    compare: bool = True, prune: bool = True) -> HeadsView:
    """``core.analyses.transformer.head_importance.head_importance`` of ``model_ref`` on ``n`` texts of ``choice`` (the held-out test
    split when the model was trained on it; the Workspace seed): the (layers, heads) importance by ``method``,
    the other method and their Spearman ρ (``compare``), and the pruning check (``prune``). Cached here and on disk
    by ``core``; shows a progress bar."""
    mref = model_ref.strip()
    return _head_importance(mref, model_stamp(mref), choice, dataset_stamp(choice.ref), int(n), method, int(steps),
                            bool(compare), bool(prune))


@st.cache_data(show_spinner="Reading the attention weights…", max_entries=64)
def _attention_maps(model_ref: str, model_stamp_: str, text: str, pair: str | None,  # noqa: ARG001
                    max_tokens: int) -> Any:
    from core.analyses.transformer.attention_maps import attention_maps as maps_of

    return maps_of(_load_model(model_ref, model_stamp_), text, pair, max_tokens=max_tokens)


def attention_maps(model_ref: str, text: str, pair: str | None = None, *, max_tokens: int = 48) -> Any:
    """``core.analyses.transformer.attention_maps.attention_maps``: every layer's and head's attention for ``text`` (and ``pair``), the
    first ``max_tokens`` tokens shown (an ``AttentionMaps``)."""
    mref = model_ref.strip()
    return _attention_maps(mref, model_stamp(mref), text, pair, int(max_tokens))


# ----------------------------------------------------------------------------- instance view


@dataclass(frozen=True, eq=False)
class InstanceResult:
    """One ``core.analyses.transformer.instance_view.InstanceView`` and the seconds it took."""

    view: Any
    seconds: float


@st.cache_data(show_spinner=False, max_entries=64)
def _instance(model_ref: str, model_stamp_: str, text: str, pair: str | None, target: str | None,  # noqa: ARG001
              ig_steps: int, steps: int, max_tokens: int) -> InstanceResult:
    from core.analyses.transformer.instance_view import instance_view

    model = _load_model(model_ref, model_stamp_)
    bar = StreamlitProgress("Explaining the text…", titles={"attribution": "Integrated gradients"})
    t0 = time.perf_counter()
    try:
        v = instance_view(model, text, pair, target=target, ig_steps=ig_steps, steps=steps, max_tokens=max_tokens,
                          progress=bar)
    finally:
        bar.close()
    return InstanceResult(v, time.perf_counter() - t0)


def instance(model_ref: str, text: str, pair: str | None = None, *, target: str | None = None, ig_steps: int = 50,
             steps: int = 32, max_tokens: int = 16) -> InstanceResult:
    """IG attribution, integrated-Hessians interactions of the ``max_tokens`` most attributed tokens and the
    attribution entropy of ``text`` (``core.analyses.transformer.instance_view.instance_view``)."""
    mref = model_ref.strip()
    return _instance(mref, model_stamp(mref), text, pair, target, int(ig_steps), int(steps), int(max_tokens))


@dataclass(frozen=True, eq=False)
class EntropyView:
    """``core.analyses.transformer.instance_view.EntropyStudy`` on a sample, with its texts (aligned rows) and where they came from."""

    study: Any
    texts: tuple[str, ...]
    pairs: tuple[str, ...] | None
    indices: np.ndarray
    labels: tuple[str, ...]
    note: str


@st.cache_data(show_spinner=False, max_entries=16)
def _entropy(model_ref: str, model_stamp_: str, choice: DatasetChoice, stamp: str, n: int,  # noqa: ARG001
             steps: int) -> EntropyView:
    from core.analyses.projection.run import model_labels
    from core.analyses.transformer.instance_view import entropy_study

    model = _load_model(model_ref, model_stamp_)
    ds, note = _comparison_sample([model], choice, n)
    bar = StreamlitProgress("Integrated gradients of each text…", titles={"attribution": "Integrated gradients of each text"})
    try:
        study = entropy_study(model, ds, steps=steps, progress=bar)
    finally:
        bar.close()
    lab = model_labels(model, ds)[0]
    names = tuple(model.label_names[i] if i >= 0 else "" for i in lab)
    indices = ds.indices if ds.indices is not None else np.arange(len(ds))
    return EntropyView(study, tuple(ds.texts), None if ds.text_pairs is None else tuple(ds.text_pairs),
                       np.asarray(indices), names, note)


def entropy(model_ref: str, choice: DatasetChoice, n: int, steps: int = 20) -> EntropyView:
    """Attribution entropy of ``n`` texts of ``choice`` (held-out split when the model was trained on it)."""
    mref = model_ref.strip()
    return _entropy(mref, model_stamp(mref), choice, dataset_stamp(choice.ref), int(n), int(steps))
