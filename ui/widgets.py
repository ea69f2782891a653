"""Pickers and panels shared by the pages. They read and write ``ui.state``.

Widget keys start with ``bl.w.``; each widget is initialised from the canonical state (not
from a ``value=`` argument), so a selection survives switching pages.
"""
from __future__ import annotations

import threading
import time
from pathlib import Path
from typing import Any

import streamlit as st

from core.data import BUNDLED
from core.demo import DEMO_MODELS, build_demo, demo_ready, demo_status
from ui import cached, state
from ui.errors import user_errors
from ui.state import DatasetChoice

AUTO_EVALUATE_MAX = 2000  # evaluate without a click when at most this many examples are asked for

MODEL_LABELS = {
    "demo:bbc-finetuned": "demo:bbc-finetuned · BBC topics, fine-tuned MiniLM",
    "demo:bbc-pretrained": "demo:bbc-pretrained · BBC topics, frozen MiniLM + head",
    "demo:tweets-finetuned": "demo:tweets-finetuned · tweet sentiment, fine-tuned MiniLM",
    "demo:tweets-pretrained": "demo:tweets-pretrained · tweet sentiment, frozen MiniLM + head",
    "bundled:minilm": "bundled:minilm · all-MiniLM-L6-v2, bare encoder (no classifier)",
}
DATASET_LABELS = {
    "bundled:bbc": "bundled:bbc · BBC News articles, 5 topics",
    "bundled:tweets": "bundled:tweets · tweets on self-driving cars, 3 sentiments",
    "bundled:snli": "bundled:snli · SNLI sentence pairs, 3 relations (downloads once)",
}
MODEL_SOURCES = ("Demo / bundled", "Hugging Face hub id", "Local folder")
DATA_SOURCES = ("Bundled", "Upload a file", "Path on this machine")
FILE_TYPES = ["csv", "tsv", "jsonl", "json", "parquet"]


def _init(key: str, value: Any) -> None:
    if key not in st.session_state:
        st.session_state[key] = value


# ----------------------------------------------------------------------------- model


def model_options() -> list[str]:
    """Built demo models, then the bundled bare encoder."""
    built = demo_status()
    return [f"demo:{m}" for m in DEMO_MODELS if built.get(m)] + ["bundled:minilm"]


def _model_source(ref: str, options: list[str]) -> str:
    if not ref or ref in options or ref.startswith(("demo:", "bundled:")):
        return MODEL_SOURCES[0]
    if ref.startswith((".", "/", "~")) or Path(ref).expanduser().exists():
        return MODEL_SOURCES[2]
    return MODEL_SOURCES[1]


def model_picker() -> str:
    """Model source + reference widgets; returns the selected ref ('' when none entered yet)."""
    keys = {k: f"bl.w.model.{k}" for k in ("source", "select", "hub", "folder")}
    if state.pop_widget_reset():
        for k in keys.values():
            st.session_state.pop(k, None)
    current = state.current_model_ref()
    options = model_options()
    source = _model_source(current, options)
    _init(keys["source"], source)
    _init(keys["select"], current if current in options else options[0])
    _init(keys["hub"], current if source == MODEL_SOURCES[1] else "")
    _init(keys["folder"], current if source == MODEL_SOURCES[2] else "")
    if st.session_state[keys["select"]] not in options:
        st.session_state[keys["select"]] = options[0]

    source = st.radio("Model source", MODEL_SOURCES, key=keys["source"], horizontal=True)
    if source == MODEL_SOURCES[0]:
        ref = st.selectbox("Model", options, key=keys["select"], format_func=lambda r: MODEL_LABELS.get(r, r))
        if not demo_ready():
            st.caption("The demo classifiers appear here once the demo workspace is built (see above).")
    elif source == MODEL_SOURCES[1]:
        ref = st.text_input("Hub id", key=keys["hub"], placeholder="e.g. distilbert-base-uncased-finetuned-sst-2-english",
                            help="Loaded from the local Hugging Face cache, or downloaded when the hub is reachable. "
                                 "Custom model code is never run.")
    else:
        ref = st.text_input("Model folder", key=keys["folder"], placeholder="/path/to/folder (config.json + weights)",
                            help="A folder written by save_pretrained, or by Backbone Lens training.")
    ref = (ref or "").strip()
    state.set_model_ref(ref)
    return ref


# ----------------------------------------------------------------------------- dataset


def _data_source(choice: DatasetChoice) -> str:
    # a previous upload comes back as its path: an uploader cannot be refilled after a page switch
    return DATA_SOURCES[0] if choice.is_bundled else DATA_SOURCES[2]


def _blank_none(s: str) -> str | None:
    s = (s or "").strip()
    return s or None


def dataset_picker() -> DatasetChoice:
    """Dataset source, reading options and sample widgets; returns (and stores) the choice."""
    k = {n: f"bl.w.data.{n}" for n in ("source", "bundled", "upload", "path", "text", "pair", "label",
                                       "names", "encoding", "n", "seed")}
    cur = state.current_dataset_choice()
    _init(k["source"], _data_source(cur))
    _init(k["bundled"], cur.ref if cur.is_bundled else f"bundled:{BUNDLED[0]}")
    _init(k["path"], "" if cur.is_bundled else cur.ref)
    for key, val in (("text", cur.text_column), ("pair", cur.text_pair_column), ("label", cur.label_column)):
        _init(k[key], val or "")
    _init(k["names"], ", ".join(cur.label_names or ()))
    _init(k["encoding"], cur.encoding)
    _init(k["n"], cur.n or 0)
    _init(k["seed"], cur.seed)

    source = st.radio("Dataset source", DATA_SOURCES, key=k["source"], horizontal=True)
    if source == DATA_SOURCES[0]:
        ref = st.selectbox("Dataset", [f"bundled:{b}" for b in BUNDLED], key=k["bundled"],
                           format_func=lambda r: DATASET_LABELS.get(r, r))
    elif source == DATA_SOURCES[1]:
        up = st.file_uploader("Labelled table", type=FILE_TYPES, key=k["upload"],
                              help="Kept in the Backbone Lens cache folder, not in the repository.")
        ref = str(cached.save_upload(up.name, up.getvalue())) if up is not None else ""
    else:
        ref = st.text_input("File or folder path", key=k["path"],
                            placeholder="/path/data.csv (.csv .tsv .jsonl .json .parquet, or a save_to_disk folder)")
    if source != DATA_SOURCES[0]:
        with st.expander("Columns and encoding (blank = guess)"):
            c1, c2, c3 = st.columns(3)
            c1.text_input("Text column", key=k["text"])
            c2.text_input("Second text column", key=k["pair"], help="For sentence pairs (e.g. premise/hypothesis).")
            c3.text_input("Label column", key=k["label"])
            c4, c5 = st.columns([2, 1])
            c4.text_input("Label names", key=k["names"], help="Comma-separated names for integer labels 0, 1, …")
            c5.text_input("Encoding", key=k["encoding"], help="e.g. utf-8, latin-1, cp1252")
    c1, c2 = st.columns(2)
    n = c1.number_input("Sample size n", min_value=0, step=100, key=k["n"],
                        help="Examples drawn (deterministically, by the seed) for statistics and evaluation; 0 = all.")
    seed = c2.number_input("Seed", min_value=0, step=1, key=k["seed"])
    file_opts = source != DATA_SOURCES[0]
    names = [s.strip() for s in st.session_state[k["names"]].split(",") if s.strip()] if file_opts else []
    choice = DatasetChoice(
        ref=(ref or "").strip(),
        text_column=_blank_none(st.session_state[k["text"]]) if file_opts else None,
        text_pair_column=_blank_none(st.session_state[k["pair"]]) if file_opts else None,
        label_column=_blank_none(st.session_state[k["label"]]) if file_opts else None,
        encoding=(_blank_none(st.session_state[k["encoding"]]) or "utf-8") if file_opts else "utf-8",
        n=int(n) or None,
        seed=int(seed),
        label_names=tuple(names) or None,
    )
    state.set_dataset_choice(choice)
    return choice


# ----------------------------------------------------------------------------- evaluation


def evaluation_gate(model_ref: str, choice: DatasetChoice) -> bool:
    """True when the evaluation should run: automatically for n ≤ AUTO_EVALUATE_MAX, else after a click
    (remembered for this model and dataset choice)."""
    if choice.n is not None and choice.n <= AUTO_EVALUATE_MAX:
        return True
    done = st.session_state.setdefault("bl.evaluated", set())
    key = (model_ref, choice)
    if key in done:
        return True
    size = "all examples" if choice.n is None else f"{choice.n} examples"
    st.info(f"Evaluating {size} may take a while on this machine; samples of at most {AUTO_EVALUATE_MAX} "
            "are evaluated automatically.")
    if st.button("Evaluate", type="primary", key="bl.w.evaluate"):
        done.add(key)
        return True
    return False


# ----------------------------------------------------------------------------- demo build

_BUILD_LOCK = threading.Lock()
_STEPS = {
    "mlm-head": "Fitting the masked-LM decoding head",
    "bbc-pretrained": "BBC topics: training a head on frozen MiniLM",
    "bbc-finetuned": "BBC topics: fine-tuning MiniLM",
    "tweets-pretrained": "Tweet sentiment: training a head on frozen MiniLM",
    "tweets-finetuned": "Tweet sentiment: fine-tuning MiniLM",
}


def demo_build_panel(*, profile: str = "full") -> None:
    """When the demo workspace is missing: explain it and offer a button that builds it with progress."""
    if demo_ready():
        if st.session_state.pop("bl.demo_just_built", False):
            st.success("The demo workspace is ready: four classifiers are now in the model list.")
        return
    with st.container(border=True):
        st.markdown("#### The demo workspace is not built yet")
        st.markdown(
            "Backbone Lens ships four real demo classifiers, trained **on this machine** from the bundled "
            "all-MiniLM-L6-v2 encoder and the bundled BBC News and tweet datasets: for each dataset, a head "
            "trained on the frozen encoder and a fine-tuned encoder. Building them needs no network and takes "
            "about **12 minutes** on a laptop CPU. Keep this tab open while it runs; if it is interrupted, "
            "finished steps are kept and the next build continues from there.\n\n"
            "Until then you can still inspect `bundled:minilm`, a hub model or a local model folder."
        )
        done = [s for s, ok in demo_status().items() if ok]
        if done:
            st.caption("Already built: " + ", ".join(done))
        if st.button("Build the demo workspace", type="primary", icon=":material/build:", key="bl.w.build_demo"):
            _run_build(profile)


def _run_build(profile: str) -> None:
    if not _BUILD_LOCK.acquire(blocking=False):
        st.warning("A demo build is already running in another browser tab; wait for it, then reload.")
        return
    try:
        steps = list(_STEPS)
        bar = st.progress(0.0, text="Loading the base model and data…")
        seen: list[str] = []
        last = [0.0]
        with st.status("Building the demo workspace…", expanded=True) as status:
            def progress(step: str, frac: float, message: str) -> None:
                if step not in seen:
                    seen.append(step)
                    if step in _STEPS:
                        status.write(f"**{_STEPS[step]}**")
                        status.update(label=f"Building the demo workspace: {_STEPS[step].lower()}…")
                now = time.monotonic()
                if now - last[0] < 0.5 and frac < 1.0:
                    return
                last[0] = now
                i = steps.index(step) if step in steps else len(steps)
                overall = min(1.0, (i + max(0.0, min(frac, 1.0))) / len(steps))
                bar.progress(overall, text=f"{_STEPS.get(step, step)}: {message}")

            with user_errors():
                manifest = build_demo(profile=profile, progress=progress)
            status.update(label=f"Demo workspace built in {manifest.get('last_build_seconds', 0):.0f} s",
                          state="complete", expanded=False)
    finally:
        _BUILD_LOCK.release()
    st.session_state["bl.demo_just_built"] = True
    if state.current_model_ref() in ("", state.FALLBACK_MODEL):
        state.set_model_ref(state.DEFAULT_MODEL, reset_widgets=True)
    st.rerun()


# ----------------------------------------------------------------------------- charts and other pages


def show_chart(chart: Any, *, container: Any = None) -> None:
    """Draw a ``core.figures`` chart as it looks in reports.

    ``theme=None``: Streamlit's theme squashes the layered charts with a discrete axis of
    ``core.figures`` (bars and heatmap cells collapse to lines), and reports use no theme.
    ``autosize=pad``: the chart's width is its plot area, as in ``core.figures.to_svg``;
    Streamlit's default ``fit`` squeezes axis labels and legend into that width instead.
    """
    if "autosize" not in chart.to_dict(validate=False):
        chart = chart.properties(autosize={"type": "pad", "contains": "padding"})
    (container or st).altair_chart(chart, theme=None, width="content")



def selection_summary() -> tuple[str, DatasetChoice]:
    """For pages other than Workspace: show the current selection in the sidebar and return it."""
    ref, choice = state.current_model_ref(), state.current_dataset_choice()
    with st.sidebar:
        st.markdown(f"**Model** `{ref or '(none)'}`  \n**Dataset** `{choice.label()}`")
        st.page_link("pages/workspace.py", label="Change on the Workspace page", icon=":material/tune:")
    return ref, choice
