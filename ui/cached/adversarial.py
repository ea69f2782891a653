"""Cached calls of the Adversarial page: the attack and the detection in the joint projection.
"""
from __future__ import annotations

import streamlit as st

from core.analyses.adversarial.attacks import AttackParams, AttackResult
from core.analyses.adversarial.detection import DetectionParams, DetectionResult
from core.data.refs import load_dataset
from core.models.heldout import heldout_sample
from ui.cached.common import _load_model, dataset_stamp, model_stamp
from ui.progress import StreamlitProgress
from ui.state import DatasetChoice


@st.cache_data(show_spinner=False, max_entries=16)
def _attack(model_ref: str, model_stamp_: str, choice: DatasetChoice, stamp: str,  # noqa: ARG001
            n: int, params: AttackParams, _expected: float | None = None) -> AttackResult:
    from core.analyses.adversarial.attacks import run_attack

    model = _load_model(model_ref, model_stamp_)
    sample = heldout_sample(model, load_dataset(choice.ref.strip(), **choice.load_kwargs()), n, seed=choice.seed)
    title = f"{params.attack.capitalize()} attack"
    bar = StreamlitProgress(f"{title}…", titles={"attack": f"{title}: texts done"}, expected=_expected)
    try:
        return run_attack(model, sample, params, progress=bar)
    finally:
        bar.close()


def attack(model_ref: str, choice: DatasetChoice, n: int, params: AttackParams, *,
           expected: float | None = None) -> AttackResult:
    """``core.analyses.adversarial.attacks.run_attack`` on ``n`` examples of ``choice`` (the held-out test split
    when the model was trained on it; the Workspace seed). The result carries its sample, the label note and
    whether it came from the disk cache. Cached here and on disk by ``core``; shows a progress bar (its time left
    starts from ``expected`` seconds)."""
    mref = model_ref.strip()
    return _attack(mref, model_stamp(mref), choice, dataset_stamp(choice.ref), int(n), params, expected)


@st.cache_data(show_spinner=False, max_entries=16)
def _detection(model_ref: str, model_stamp_: str, choice: DatasetChoice, stamp: str,  # noqa: ARG001
               n: int, params: AttackParams, detection: DetectionParams) -> DetectionResult:
    from core.analyses.adversarial.detection import run_detection

    res = _attack(model_ref, model_stamp_, choice, stamp, n, params)
    model = _load_model(model_ref, model_stamp_)
    bar = StreamlitProgress("Projecting the clean and adversarial texts…")
    try:
        return run_detection(model, res, detection, progress=bar)
    finally:
        bar.close()


def detection(model_ref: str, choice: DatasetChoice, n: int, params: AttackParams,
              detection_params: DetectionParams = DetectionParams()) -> DetectionResult:
    """``core.analyses.adversarial.detection.run_detection`` for the attack ``attack(model_ref, choice, n,
    params)``: clean and adversarial texts in one DeepView projection with suspicion scores. Raises
    ``AttackError`` when the attack produced too few adversarial texts."""
    mref = model_ref.strip()
    return _detection(mref, model_stamp(mref), choice, dataset_stamp(choice.ref), int(n), params, detection_params)
