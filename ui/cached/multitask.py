"""Cached calls of the Multi-task page.
"""
from __future__ import annotations

import dataclasses

import streamlit as st

from core.analyses.synergy import SynergyParams, SynergyResult
from core.models.multitask import MultiTaskModel
from core.training.demo_workspace import demo_root, read_manifest
from ui.cached.common import model_stamp
from ui.progress import StreamlitProgress


def multitask_options() -> list[str]:
    """The multi-task demo models that are built (``demo:multitask-pretrained`` / ``-finetuned``)."""
    from core.models.loading import META_FILE
    from core.training.demo_workspace import MULTITASK_DEMO_MODELS

    return [f"demo:{m}" for m in MULTITASK_DEMO_MODELS if (demo_root() / m / META_FILE).is_file()]


@st.cache_resource(show_spinner="Loading the multi-task model…", max_entries=2)
def _load_multitask(ref: str, stamp: str) -> MultiTaskModel:  # noqa: ARG001 - stamp is part of the key
    from core.models.refs import load_multitask

    return load_multitask(ref)


def get_multitask(ref: str) -> MultiTaskModel:
    """The loaded ``core.models.multitask.MultiTaskModel`` for ``ref`` (shared between sessions; read-only)."""
    return _load_multitask(ref.strip(), model_stamp(ref))


def _profile() -> str:
    """The demo workspace's profile (full when not recorded)."""
    return read_manifest().get("profile") or "full"


def training_minutes(setting: str) -> str:
    """About how many minutes training ``demo:multitask-<setting>`` takes with the workspace's profile ("2–4")."""
    from core.training.multitask import train_minutes

    return train_minutes(setting, _profile())


def train_multitask(setting: str, tasks: tuple[str, ...] = ("bbc", "tweets")) -> MultiTaskModel:
    """Train ``demo:multitask-<setting>`` on bundled ``tasks`` with the demo workspace's profile (progress bar).
    Returns the ``MultiTaskModel``."""
    from core.training.multitask import train_multitask as train

    profile = _profile()
    stages = [f"head:{t}" for t in tasks] + (["finetune"] if setting == "finetuned" else []) + ["held-out"]
    bar = StreamlitProgress("Loading the encoder and the data…", stages=stages,
                            titles={s: s.replace("head:", "Head for ") for s in stages})
    try:
        return train(tasks, setting, profile=profile, progress=bar)
    finally:
        bar.close()


@st.cache_data(show_spinner=False, max_entries=16)
def _synergy(ref: str, stamp: str, params: SynergyParams) -> SynergyResult:
    from core.analyses.synergy import run_synergy

    mt = _load_multitask(ref, stamp)
    bar = StreamlitProgress("Preparing…", stages=("embeddings", "joint map", "projections", "synergy", "transfer"))
    try:
        return run_synergy(mt, None, params, progress=bar)
    finally:
        bar.close()


def synergy(ref: str, params: SynergyParams = SynergyParams()) -> SynergyResult:
    """``core.analyses.synergy.run_synergy`` of the multi-task model ``ref`` on ``params.n_per_task`` held-out
    texts per task; embeddings and projections are also cached on disk by ``core``. Shows a progress bar."""
    r = ref.strip()
    return _synergy(r, model_stamp(r), dataclasses.replace(params, lam=round(float(params.lam), 6)))


def multitask_task_refs() -> list[str]:
    """``REF#task`` for every task of the built multi-task demo models (each an ordinary classifier)."""
    from core.models.refs import read_metadata

    return [f"{r}#{t}" for r in multitask_options() for t in read_metadata(r).get("tasks", {})]
