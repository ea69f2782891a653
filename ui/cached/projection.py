"""Cached calls of the Projection page: the DeepView projection and the λ sweep.

Both draw their texts with :func:`core.models.heldout.heldout_sample` (the held-out test split when asked and
the model was trained on the dataset); the result carries that :class:`~core.data.sampling.Sample`, so the page
reads texts, indices and the note saying where they come from off the result itself.
"""
from __future__ import annotations

import streamlit as st

from core.analyses.projection.layout import DEFAULT_LAMBDAS
from core.analyses.projection.params import ProjectionParams
from core.analyses.projection.run import ProjectionRun, run_projection, run_sweep
from core.data.refs import load_dataset
from core.data.sampling import Sample
from core.models.heldout import heldout_sample
from core.models.loading import LoadedModel
from ui.cached.common import _load_model, dataset_stamp, model_stamp
from ui.progress import StreamlitProgress
from ui.state import DatasetChoice


def _sample(model: LoadedModel, choice: DatasetChoice, n: int, heldout: bool) -> Sample:
    """``n`` texts of ``choice`` drawn with its seed, from the held-out test split when ``heldout`` and the
    model was trained on this dataset."""
    full = load_dataset(choice.ref.strip(), **choice.load_kwargs())
    return heldout_sample(model, full, n, seed=choice.seed, heldout=heldout)


@st.cache_data(show_spinner="Projecting…", max_entries=64)
def _projection(model_ref: str, model_stamp_: str, choice: DatasetChoice, stamp: str,  # noqa: ARG001
                n: int, heldout: bool, lam: float, metric: str) -> ProjectionRun:
    model = _load_model(model_ref, model_stamp_)
    bar = StreamlitProgress("Preparing the projection…")
    try:
        run = run_projection(model, _sample(model, choice, n, heldout), ProjectionParams(lam=lam, metric=metric),
                             progress=bar)
    finally:
        bar.close()
    return run


def project(model_ref: str, choice: DatasetChoice, n: int, lam: float, metric: str = "cosine", *,
            heldout: bool = False) -> ProjectionRun:
    """The DeepView projection (a :class:`ProjectionRun`) of ``n`` examples of ``choice`` under ``model_ref``
    for ``lam``.

    The distance graph (the slow part) and each λ's projection are also cached on disk by
    ``core.analyses.projection.run``, so a new λ costs only UMAP, background and metrics. Shows a progress bar
    while computing."""
    mref = model_ref.strip()
    return _projection(mref, model_stamp(mref), choice, dataset_stamp(choice.ref), int(n), bool(heldout),
                       round(float(lam), 6), metric)


@st.cache_data(show_spinner="Sweeping λ…", max_entries=16)
def _lambda_sweep(model_ref: str, model_stamp_: str, choice: DatasetChoice, stamp: str,  # noqa: ARG001
                  n: int, heldout: bool, metric: str, lams: tuple[float, ...]) -> list[dict]:
    model = _load_model(model_ref, model_stamp_)
    bar = StreamlitProgress("Preparing the λ sweep…")
    try:
        return run_sweep(model, _sample(model, choice, n, heldout), lams, ProjectionParams(metric=metric),
                         progress=bar).to_list()
    finally:
        bar.close()


def lambda_sweep(model_ref: str, choice: DatasetChoice, n: int, metric: str = "cosine", *, heldout: bool = False,
                 lams: tuple[float, ...] = DEFAULT_LAMBDAS) -> list[dict]:
    """Fidelity rows (lam, q_knn_error, q_data, trustworthiness, continuity, seconds), one per λ in ``lams``,
    on the same sample and distance graph as :func:`project`."""
    mref = model_ref.strip()
    return _lambda_sweep(mref, model_stamp(mref), choice, dataset_stamp(choice.ref), int(n), bool(heldout), metric,
                         tuple(float(x) for x in lams))
