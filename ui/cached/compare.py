"""Cached calls of the Compare page.
"""
from __future__ import annotations

import dataclasses
from typing import Sequence

import streamlit as st

from core.analyses.compare import CompareParams, ModelComparison
from core.data.refs import load_dataset
from core.models.heldout import heldout_sample
from ui.cached.common import _load_model, dataset_stamp, model_stamp
from ui.progress import StreamlitProgress
from ui.state import DatasetChoice


@st.cache_data(show_spinner=False, max_entries=16)
def _comparison(model_refs: tuple[str, ...], stamps: tuple[str, ...], choice: DatasetChoice,  # noqa: ARG001
                stamp: str, n: int, params: CompareParams) -> ModelComparison:
    from core.analyses.compare import run_comparison

    models = [_load_model(r, s) for r, s in zip(model_refs, stamps)]
    full = load_dataset(choice.ref.strip(), **choice.load_kwargs())
    sample = heldout_sample(models, full, n, seed=choice.seed, classifiers_only=True)
    bar = StreamlitProgress("Preparing the comparison…", stages={"embeddings": 0.35, "projections": 0.6, "metrics": 0.05})
    try:
        return run_comparison(models, sample, params, progress=bar)
    finally:
        bar.close()


def comparison(model_refs: Sequence[str], choice: DatasetChoice, n: int, params: CompareParams = CompareParams()
               ) -> ModelComparison:
    """Two or more models on the same ``n`` texts of ``choice`` (``core.analyses.compare.run_comparison``): Q_NN
    and LCMC over ``params.k`` for embeddings and DeepView projections at ``params.lam``, CKA, prediction
    agreement. The texts come from the held-out test split when a model was trained on the dataset (the
    result's ``sample`` says so). Embeddings and projections are also cached on disk by ``core``. Shows a
    progress bar while computing."""
    refs = tuple(r.strip() for r in model_refs)
    params = dataclasses.replace(params, k=tuple(sorted({int(k) for k in params.k})), lam=round(float(params.lam), 6))
    return _comparison(refs, tuple(model_stamp(r) for r in refs), choice, dataset_stamp(choice.ref), int(n), params)
