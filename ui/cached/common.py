"""What the cached calls of every domain share: the loaded model (``st.cache_resource``), file stamps that
keep a cached result from outliving the files behind it, and the samples of the Workspace dataset.

Datasets and results are cached with ``st.cache_data`` keyed by references and plain parameters (never by
loaded models or datasets; a ``DatasetChoice`` is a frozen value, hashed field by field), plus a *stamp* of
the files behind a reference so that an edited file or a rebuilt demo model is not served from a stale entry.
Results are frozen ``core`` dataclasses (numpy arrays inside), which pickle fine. ``core`` errors
(``BackboneLensError``) are raised unchanged; Streamlit does not cache exceptions, so a fixed input is
retried on the next run.
"""
from __future__ import annotations

from pathlib import Path
import streamlit as st
from core.models.loading import LoadedModel
from core.models.refs import load_model
from core.training.demo_workspace import demo_root


def _path_stamp(p: Path) -> str:
    """Names, sizes and mtimes of a file, or of the top-level files of a folder."""
    try:
        files = [p] if p.is_file() else sorted(f for f in p.iterdir() if f.is_file())
        return ";".join(f"{f.name}:{f.stat().st_size}:{f.stat().st_mtime_ns}" for f in files)
    except OSError:
        return "missing"


DECODED_BY = " ⟶ decoded by "  # a page's model with another checkpoint's decoding head: "REF ⟶ decoded by BASE"


def with_decoding_head(ref: str, mlm: str | None) -> str:
    """The page-level reference of model ``ref`` whose decoded saliency reads through the (masked-)LM head of the
    base checkpoint ``mlm`` (as ``--mlm`` on the command line); ``ref`` itself when ``mlm`` is empty."""
    mlm = (mlm or "").strip()
    return f"{ref.strip()}{DECODED_BY}{mlm}" if mlm else ref.strip()


def split_decoding_head(ref: str) -> tuple[str, str | None]:
    """(model reference, decoding-head checkpoint or None) of a reference made by :func:`with_decoding_head`."""
    base, sep, mlm = ref.partition(DECODED_BY)
    return base.strip(), (mlm.strip() or None) if sep else None


def model_stamp(ref: str) -> str:
    """Changes when the files behind a demo model or local folder change ('' for hub ids)."""
    from core.models.refs import split_task_ref

    ref, mlm = split_decoding_head(ref)
    if mlm:
        return f"{model_stamp(ref)}|{model_stamp(mlm)}"
    ref = split_task_ref(ref.strip())[0]  # a multi-task model's task view: the folder's files
    if ref.startswith("demo:"):
        return _path_stamp(demo_root() / ref.split(":", 1)[1])
    p = Path(ref).expanduser()
    return _path_stamp(p) if p.exists() else ""


def dataset_stamp(ref: str) -> str:
    """Changes when the dataset file (or folder) behind ``ref`` changes ('' for bundled data)."""
    if ref.startswith("bundled:"):
        return ""
    p = Path(ref).expanduser()
    return _path_stamp(p) if p.exists() else ""


@st.cache_resource(show_spinner="Loading the model…", max_entries=4)
def _load_model(ref: str, stamp: str) -> LoadedModel:  # noqa: ARG001 - stamp is part of the key
    base, mlm = split_decoding_head(ref)
    model = load_model(base)
    if mlm:
        from core.models.refs import attach_lm_head

        attach_lm_head(model, mlm)
    return model


def get_model(ref: str) -> LoadedModel:
    """The loaded model for ``ref`` (shared between sessions; treat it as read-only)."""
    return _load_model(ref.strip(), model_stamp(ref))


