"""Corpus audits for the dashboard: :func:`core.analyses.corpus.engine.run_corpus` on the local or the Ray engine,
drawn with the one progress adapter; the page receives the Parquet aggregates read back, never per-text arrays."""
from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import numpy as np
import pandas as pd
import streamlit as st

from core.analyses.corpus.aggregates import CorpusAggregates
from core.analyses.corpus.params import CorpusParams
from ui.cached.common import _load_model, dataset_stamp, model_stamp
from ui.progress import StreamlitProgress
from ui.state import DatasetChoice


@dataclass(frozen=True)
class CorpusView:
    """What the Corpus page shows: the aggregates and the run's facts (``CorpusResult.to_json`` without rows)."""

    aggregates: CorpusAggregates
    run: dict[str, Any]
    texts_note: str


@st.cache_resource(show_spinner="Loading the texts…", max_entries=2)
def _sample(model_ref: str, model_stamp_: str, choice: DatasetChoice, stamp: str, n: int):  # noqa: ARG001, ANN202
    """The audited texts (a :class:`core.data.sampling.Sample`), held once per model, dataset and n."""
    from core.data.refs import load_dataset
    from core.models.heldout import heldout_sample

    model = _load_model(model_ref, model_stamp_)
    full = load_dataset(choice.ref.strip(), **choice.load_kwargs())
    return heldout_sample([model], full, n, seed=choice.seed, classifiers_only=True)


@st.cache_data(show_spinner=False, max_entries=16)
def _corpus(model_ref: str, model_stamp_: str, choice: DatasetChoice, stamp: str, n: int,
            params: CorpusParams, engine: str) -> CorpusView:
    from core.analyses.corpus.aggregates import read_aggregates
    from core.analyses.corpus.engine import run_corpus

    model = _load_model(model_ref, model_stamp_)
    sample = _sample(model_ref, model_stamp_, choice, stamp, n)
    bar = StreamlitProgress("Auditing the corpus…", titles={"corpus": "Corpus batches", "map": "Landmark map",
                                                             "distances": "Landmark distances",
                                                             "placing": "Placing every text"})
    try:
        res = run_corpus(model, sample.dataset, params, engine=engine, progress=bar)
    finally:
        bar.close()
    run = {k: v for k, v in res.to_json().items() if k not in ("summary", "failures", "class_tokens")}
    return CorpusView(read_aggregates(res.folder), run, sample.reason)


@st.cache_data(show_spinner=False, max_entries=32)
def _region_texts(model_ref: str, model_stamp_: str, choice: DatasetChoice, stamp: str, n: int, folder: str,
                  x: tuple[float, float], y: tuple[float, float], outcome: str | None,
                  limit: int) -> tuple[pd.DataFrame, int]:
    from core.analyses.corpus.density import OUTCOMES, region
    from core.analyses.projection.run import model_labels

    sample = _sample(model_ref, model_stamp_, choice, stamp, n)
    model = _load_model(model_ref, model_stamp_)
    frame, total = region(folder, x, y, outcome=outcome, limit=limit)
    names = list(model.label_names)
    pos = frame["position"].to_numpy()
    labels = model_labels(model, sample.dataset.subset(pos))[0] if len(pos) else np.zeros(0, np.int64)
    out = pd.DataFrame({"row": frame["row"], "text": [sample.dataset.texts[i] for i in pos],
                        "true": [names[lab] if lab >= 0 else "—" for lab in labels],
                        "predicted": [names[int(c)] for c in frame["predicted"]],
                        "confidence": frame["confidence"].astype(float), "cluster": frame["cluster"],
                        "outcome": [OUTCOMES[int(o)] for o in frame["outcome"]]})
    return out, total


def region_texts(model_ref: str, choice: DatasetChoice, n: int, folder: str, x: tuple[float, float],
                 y: tuple[float, float], outcome: str | None = None, limit: int = 200) -> tuple[pd.DataFrame, int]:
    """The texts of the corpus map inside the box x × y (least confident first, at most ``limit``) and how many lie
    there: columns row, text, true, predicted, confidence, cluster, outcome (cached per box)."""
    mref = model_ref.strip()
    return _region_texts(mref, model_stamp(mref), choice, dataset_stamp(choice.ref), int(n), folder,
                         (float(x[0]), float(x[1])), (float(y[0]), float(y[1])), outcome, int(limit))


def corpus(model_ref: str, choice: DatasetChoice, n: int, params: CorpusParams, engine: str) -> CorpusView:
    """The aggregates of ``params.jobs`` over ``n`` texts of ``choice`` (held-out split when the model was trained
    on it), computed in cached batches on ``engine`` (local or ray); shows a progress bar with texts/s."""
    mref = model_ref.strip()
    return _corpus(mref, model_stamp(mref), choice, dataset_stamp(choice.ref), int(n), params, engine)
