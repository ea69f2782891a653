"""Corpus audits for the dashboard: :func:`core.analyses.corpus.engine.run_corpus` on the local or the Ray engine,
drawn with the one progress adapter; the page receives the Parquet aggregates read back, never per-text arrays."""
from __future__ import annotations

from dataclasses import dataclass
from typing import Any

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


@st.cache_data(show_spinner=False, max_entries=16)
def _corpus(model_ref: str, model_stamp_: str, choice: DatasetChoice, stamp: str, n: int,  # noqa: ARG001
            params: CorpusParams, engine: str) -> CorpusView:
    from core.analyses.corpus.aggregates import read_aggregates
    from core.analyses.corpus.engine import run_corpus
    from core.data.refs import load_dataset
    from core.models.heldout import heldout_sample

    model = _load_model(model_ref, model_stamp_)
    full = load_dataset(choice.ref.strip(), **choice.load_kwargs())
    sample = heldout_sample([model], full, n, seed=choice.seed, classifiers_only=True)
    bar = StreamlitProgress("Auditing the corpus…", titles={"corpus": "Corpus batches"})
    try:
        res = run_corpus(model, sample.dataset, params, engine=engine, progress=bar)
    finally:
        bar.close()
    run = {k: v for k, v in res.to_json().items() if k not in ("summary", "failures", "class_tokens")}
    return CorpusView(read_aggregates(res.folder), run, sample.reason)


def corpus(model_ref: str, choice: DatasetChoice, n: int, params: CorpusParams, engine: str) -> CorpusView:
    """The aggregates of ``params.jobs`` over ``n`` texts of ``choice`` (held-out split when the model was trained
    on it), computed in cached batches on ``engine`` (local or ray); shows a progress bar with texts/s."""
    mref = model_ref.strip()
    return _corpus(mref, model_stamp(mref), choice, dataset_stamp(choice.ref), int(n), params, engine)
