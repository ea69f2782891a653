"""Cached calls of the Adversarial page: the attack and the detection in the joint projection.
"""
from __future__ import annotations

from dataclasses import dataclass
from typing import Any
import streamlit as st
from ui.progress import StreamlitProgress
from ui.state import DatasetChoice
from ui.cached.common import _load_model, _projection_sample, dataset_stamp, model_stamp


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
