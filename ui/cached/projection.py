"""Cached calls of the Projection page: the DeepView projection and the λ sweep.
"""
from __future__ import annotations

from dataclasses import dataclass
import numpy as np
import streamlit as st
from core.analyses.projection.run import ProjectionRun, ProjectionSettings, run_projection, run_sweep
from core.analyses.projection.layout import DEFAULT_LAMBDAS
from ui.progress import StreamlitProgress
from ui.state import DatasetChoice
from ui.cached.common import _load_model, _projection_sample, dataset_stamp, model_stamp


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


def project(model_ref: str, choice: DatasetChoice, n: int, lam: float, metric: str = "cosine", *,
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
