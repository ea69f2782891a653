"""Cached calls of the Multi-task page.
"""
from __future__ import annotations

from typing import Any
import streamlit as st
from core.training.demo_workspace import demo_root
from ui.progress import StreamlitProgress
from ui.cached.common import model_stamp


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
