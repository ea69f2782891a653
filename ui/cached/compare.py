"""Cached calls of the Compare page.
"""
from __future__ import annotations

from dataclasses import dataclass
from typing import Any, Sequence
import numpy as np
import streamlit as st
from ui.progress import StreamlitProgress
from ui.state import DatasetChoice
from ui.cached.common import _comparison_sample, _load_model, dataset_stamp, model_stamp


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
