"""Pickers and panels shared by the pages. They read and write ``ui.state``.

Widget keys start with ``bl.w.``; each widget is initialised from the canonical state (not
from a ``value=`` argument), so a selection survives switching pages.
"""
from __future__ import annotations

import threading
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Callable, Sequence

import streamlit as st

from core.foundation.params import Param

from core.data.bundled import BUNDLED
from core.training.demo_workspace import DEMO_MODELS, build_demo, demo_ready, demo_status
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


def show_chart(chart: Any, *, container: Any = None, fit: bool = False) -> None:
    """Draw a ``core.figures`` chart as it looks in reports.

    ``theme=None``: Streamlit's theme squashes the layered charts with a discrete axis of
    ``core.figures`` (bars and heatmap cells collapse to lines), and reports use no theme.
    ``autosize=pad``: the chart's width is its plot area, as in ``figures.style.to_svg``;
    Streamlit's default ``fit`` squeezes axis labels and legend into that width instead.
    ``fit``: for a chart in a column: the whole chart — axis labels and legend included — takes the column's
    width, never more (a single or layered chart; its plot area gives way to its labels).
    """
    if fit:
        chart = chart.properties(width="container", autosize={"type": "fit-x", "contains": "padding"})
        (container or st).altair_chart(chart, theme=None, width="stretch")
        return
    if "autosize" not in chart.to_dict(validate=False):
        chart = chart.properties(autosize={"type": "pad", "contains": "padding"})
    (container or st).altair_chart(chart, theme=None, width="content")



def selection_sidebar(models: str | Sequence[str], choice: DatasetChoice | None, *, dataset_note: str = "") -> None:
    """The sidebar's statement of what this page analyses: its model(s) and dataset (with sample size and seed).
    When a page runs another model than the Workspace's (its own picker), the sidebar says so."""
    refs = [models] if isinstance(models, str) else list(models)
    workspace = state.current_model_ref()
    with st.sidebar:
        st.markdown("**This page uses**")
        what = "Model" if len(refs) <= 1 else "Models"
        lines = [f"**{what}** " + (", ".join(f"`{r}`" for r in refs) if refs else "`(none)`")]
        if choice is not None:
            lines.append(f"**Dataset** `{choice.label()}`")
        elif dataset_note:
            lines.append(f"**Data** {dataset_note}")
        st.markdown("  \n".join(lines))
        if refs and workspace and workspace not in refs:
            st.caption(f"The Workspace model is `{workspace}`; this page's own choice differs (it returns to the "
                       "Workspace model whenever that changes).")
        st.page_link("pages/workspace.py", label="Change on the Workspace page", icon=":material/tune:")


def selection_summary() -> tuple[str, DatasetChoice]:
    """For pages that analyse the Workspace selection itself: show it in the sidebar and return it."""
    ref, choice = state.current_model_ref(), state.current_dataset_choice()
    selection_sidebar(ref, choice)
    return ref, choice


def workspace_dataset() -> DatasetChoice:
    """The Workspace dataset, for pages that choose their own models; stops the page with one message when none is
    selected (the page shows its selection with :func:`selection_sidebar` once its models are chosen)."""
    choice = state.current_dataset_choice()
    if not choice.ref.strip():
        selection_sidebar([], choice)
        st.info("Choose a dataset on the Workspace page first.")
        st.stop()
    return choice


def _follow(key: str, basis: Any, default: Any, valid: Callable[[Any], bool]) -> None:
    """Reset the widget ``key`` to ``default`` whenever ``basis`` (the Workspace selection it follows) changed since
    the last run, or when its value is no longer valid; otherwise keep the user's own choice (also a valid choice
    made before the page first followed the Workspace, e.g. set by a link from another page)."""
    marker = f"bl.follow.{key}"
    has = key in st.session_state and valid(st.session_state[key])
    if marker not in st.session_state and has:
        st.session_state[marker] = basis
    elif st.session_state.get(marker) != basis or not has:
        st.session_state[key] = default
        st.session_state[marker] = basis


def page_model_picker(key: str, options: Sequence[str], *, label: str = "Model", help: str | None = None,
                      container: Any = None) -> str:
    """A page's own model picker whose default is the Workspace model: it starts there, and returns there whenever
    the Workspace model changes (a choice made on the page holds until then). The Workspace model is always
    offered, first."""
    current = state.current_model_ref()
    opts = list(dict.fromkeys([*([current] if current else []), *options]))
    _follow(key, current, current if current in opts else opts[0], lambda v: v in opts)
    return (container or st).selectbox(label, opts, key=key, format_func=lambda r: MODEL_LABELS.get(r, r),
                                       help=help)


def counterpart(ref: str, options: Sequence[str]) -> str | None:
    """The demo model of the same data in the other setting (pre-trained ↔ fine-tuned), when it is offered."""
    for a, b in (("-finetuned", "-pretrained"), ("-pretrained", "-finetuned")):
        if ref.startswith("demo:") and ref.endswith(a):
            other = ref[: -len(a)] + b
            return other if other in options else None
    return None


def page_models_picker(key: str, options: Sequence[str], *, label: str, max_selections: int | None = None,
                       help: str | None = None, container: Any = None) -> list[str]:
    """A multiselect of models that starts (and restarts whenever the Workspace model or dataset changes) at the
    Workspace model with its pre-trained / fine-tuned counterpart, pre-trained first."""
    current, choice = state.current_model_ref(), state.current_dataset_choice()
    opts = list(dict.fromkeys([*([current] if current else []), *options]))
    other = counterpart(current, opts)
    pair = [current] if not other else sorted([current, other], key=lambda r: not r.endswith("-pretrained"))
    default = [r for r in pair if r in opts][:max_selections] or opts[:1]
    _follow(key, (current, choice.ref), default,
            lambda v: isinstance(v, list) and all(r in opts for r in v) and len(v) <= (max_selections or len(opts)))
    return (container or st).multiselect(label, opts, key=key, max_selections=max_selections,
                                         format_func=lambda r: MODEL_LABELS.get(r, r), help=help)


def classifier_selection(why: str):
    """The selected model reference, dataset choice and loaded model, for pages that need a classifier.

    Stops the page with one message when nothing is selected or the model is a bare encoder (``why``
    says what the page needs the classification head for).
    """
    model_ref, choice = selection_summary()
    if not model_ref or not choice.ref.strip():
        st.info("Choose a model and a dataset on the Workspace page first.")
        st.stop()
    with user_errors():
        model = cached.get_model(model_ref)
    if not model.has_head:
        st.info(f"`{model.ref}` is a bare encoder without a classification head. {why} Pick a classifier "
                "(e.g. a demo model) on the Workspace page.")
        st.stop()
    return model_ref, choice, model


# ----------------------------------------------------------------------------- gates and selections


def confirm_gate(key: Any, message: str, button: str, *, widget_key: str) -> bool:
    """True once the user has clicked ``button`` for ``key`` in this session (remembered); until then
    shows ``message`` and the button."""
    done = st.session_state.setdefault("bl.confirmed", set())
    if key in done:
        return True
    ask = st.empty()
    with ask.container():
        st.info(message)
        clicked = st.button(button, type="primary", key=widget_key)
    if clicked:
        done.add(key)
        ask.empty()
    return clicked


def show_selectable_chart(chart: Any, *, key: str, selection_mode: list[str], container: Any = None) -> dict:
    """``show_chart`` for a chart with named selections: reruns the page when the user selects and
    returns the selection state, ``{param name: value}`` (``{}`` per parameter while nothing is selected)."""
    if "autosize" not in chart.to_dict(validate=False):
        chart = chart.properties(autosize={"type": "pad", "contains": "padding"})
    event = (container or st).altair_chart(chart, theme=None, width="content", key=key, on_select="rerun",
                                           selection_mode=selection_mode)
    return dict(event.get("selection", {})) if event is not None else {}


def selected_points(selection: dict, points: Any, *, box: str = "brush", pick: str = "pick") -> list[int]:
    """Row indices of ``points`` (n, 2) inside the box selection ``box`` (x/y ranges) or clicked in the
    point selection ``pick`` (over the field ``i``), as ``figures.projection.projection_chart`` names them."""
    import numpy as np

    pts = np.asarray(points)
    rows = {int(p["i"]) for p in (selection.get(pick) or []) if isinstance(p, dict) and "i" in p}
    brush = selection.get(box) or {}
    if isinstance(brush, dict) and len(brush.get("x") or ()) == 2 and len(brush.get("y") or ()) == 2:
        (x0, x1), (y0, y1) = sorted(brush["x"]), sorted(brush["y"])
        inside = (pts[:, 0] >= x0) & (pts[:, 0] <= x1) & (pts[:, 1] >= y0) & (pts[:, 1] <= y1)
        rows.update(int(i) for i in np.flatnonzero(inside))
    return sorted(r for r in rows if 0 <= r < len(pts))


def text_columns(*, true: str = "true label") -> dict[str, Any]:
    """The column settings of a table of texts: its dataset row (the number every page shows for a text), the text
    and its second text, the true label (column ``true``), the prediction and its confidence."""
    return {
        "row": st.column_config.NumberColumn("Dataset row", width="small", format="%d",
                                             help="Position of the text in the whole dataset (the number other pages "
                                                  "show for it)"),
        "text": st.column_config.TextColumn("Text", width="large"),
        "second text": st.column_config.TextColumn("Second text", width="medium"),
        true: st.column_config.TextColumn("True label", width="small"),
        "predicted": st.column_config.TextColumn("Predicted", width="small"),
        "confidence": st.column_config.ProgressColumn("Confidence", format="percent", min_value=0.0, max_value=1.0,
                                                      width="small")}


def _one_line(text: str, n: int) -> str:
    text = " ".join(str(text).split())
    return text if len(text) <= n else text[: n - 1] + "…"


# ----------------------------------------------------------------------------- saliency page


def keep_widgets(prefix: str) -> None:
    """Keep the values of the widgets whose keys start with ``prefix`` across page switches.

    Streamlit forgets a widget's value once a page without it has run; call this at the top of a
    page: it restores the remembered values of widgets not in the session state and remembers the
    current ones. Buttons and charts with selections should not use ``prefix`` (their state cannot be set: such a
    key is forgotten rather than restored).
    """
    from streamlit.errors import StreamlitAPIException

    store = st.session_state.setdefault(f"bl.kept.{prefix}", {})
    for key, value in list(store.items()):
        if key not in st.session_state:
            try:
                st.session_state[key] = value
            except StreamlitAPIException:  # a read-only widget state (button, chart selection)
                store.pop(key, None)
    for key in list(st.session_state.keys()):
        if str(key).startswith(prefix):
            store[key] = st.session_state[key]


@dataclass(frozen=True)
class SaliencyInput:
    """The text to explain: ``pair`` is the second text (None = a single text); ``target`` a label name
    (None = the predicted class)."""

    text: str
    pair: str | None
    target: str | None


def text_input(examples: cached.ExampleTexts, focus: state.FocusText | None, *, prefix: str, label: str = "Text",
               height: int = 90, targets: Sequence[str] | None = None) -> SaliencyInput:
    """Text area(s) with an example picker (and, given ``targets``, the class to explain), for pages that take one
    text. Widget keys are ``{prefix}text``, ``{prefix}pair``, ``{prefix}use_pair``, ``{prefix}example``,
    ``{prefix}target``.

    The text starts as ``focus`` (the text chosen on another page, when it belongs to this dataset) or the first
    example; it is refilled when that source changes.
    """
    k = {n: f"{prefix}{n}" for n in ("text", "pair", "use_pair", "example", "target")}
    for key in k.values():  # a text box of another page that shares these keys: carry its value over (Streamlit
        if key in st.session_state:  # binds a value to the page's own widget only when it is set in this run)
            st.session_state[key] = st.session_state[key]
    source: tuple = (("focus", focus.text, focus.text_pair) if focus is not None else
                     ("example", examples.texts[0] if examples.texts else "",
                      examples.pairs[0] if examples.pairs else None))
    if st.session_state.get(f"bl.source.{prefix}") != source:  # a new focus text or dataset: start from it
        st.session_state[f"bl.source.{prefix}"] = source
        st.session_state[k["text"]] = source[1]
        st.session_state[k["pair"]] = source[2] or ""
        st.session_state[k["example"]] = None if focus is not None or not examples.texts else 0
    _init(k["use_pair"], False)

    def load_example() -> None:
        i = st.session_state.get(k["example"])
        if i is not None and 0 <= i < len(examples.texts):
            st.session_state[k["text"]] = examples.texts[i]
            st.session_state[k["pair"]] = examples.pairs[i] if examples.pairs else ""

    st.selectbox("Load an example from the dataset", list(range(len(examples.texts))), key=k["example"],
                 on_change=load_example, placeholder="Choose an example…",
                 format_func=lambda i: f"dataset row {examples.rows[i]} · {examples.labels[i] or 'unlabelled'} · "
                                       f"{_one_line(examples.texts[i], 100)}",
                 help=f"Examples {examples.note}.")
    text = st.text_area("First text" if examples.is_pair and targets is None else label, key=k["text"], height=height)
    cur_text, cur_pair = st.session_state[k["text"]], st.session_state[k["pair"]]
    if focus is not None and cur_text == focus.text and (focus.text_pair or "") == cur_pair:
        conf = f" ({focus.confidence:.0%})" if focus.confidence is not None else ""
        st.caption(f"The focus text chosen on the {focus.source or 'Projection page'}: predicted "
                   f"{focus.prediction or '–'}{conf}, true label {focus.label or '–'}"
                   + (f", dataset row {focus.index}." if focus.index is not None else "."))
    else:
        i = st.session_state.get(k["example"])
        if i is not None and 0 <= i < len(examples.texts) and cur_text == examples.texts[i]:
            st.caption(f"Dataset row {examples.rows[i]} (true label {examples.labels[i] or '–'}), {examples.note}.")
    pair: str | None = None
    if examples.is_pair:
        pair = st.text_area("Second text", key=k["pair"], height=70,
                            help="The dataset holds sentence pairs (e.g. premise and hypothesis).")
    target = None
    c1, c2 = st.columns([2, 3], gap="large", vertical_alignment="bottom")
    if targets is not None:
        options = [None, *targets]
        if st.session_state.get(k["target"], None) not in options:
            st.session_state[k["target"]] = None
        target = c1.selectbox("Explain the class", options, key=k["target"],
                              format_func=lambda t: "the predicted class" if t is None else t,
                              help="Gradient and perturbation methods explain one class: by default the one the "
                                   "model predicts. Attention does not depend on the class.")
    if not examples.is_pair and c2.toggle("Add a second text", key=k["use_pair"],
                                          help="Feed a sentence pair (e.g. premise / hypothesis) instead of one text."):
        pair = st.text_area("Second text", key=k["pair"], height=70)
    return SaliencyInput(text, pair, target)


def saliency_text_input(model: Any, examples: cached.ExampleTexts, focus: state.FocusText | None) -> SaliencyInput:
    """The Saliency and Instance pages' text and the class to explain (see :func:`text_input`)."""
    return text_input(examples, focus, prefix="bl.w.sal.", label="Text to explain", height=110,
                      targets=model.label_names)


def param_widget(p: Param, key: str, *, container: Any = st) -> Any:
    """One widget for the declared parameter ``p`` (``core.foundation.params.Param``); returns its value."""
    label = p.name.replace("_", " ").capitalize()
    if p.type == "choice":
        _init(key, p.default)
        if st.session_state[key] not in p.choices:
            st.session_state[key] = p.default
        return container.selectbox(label, list(p.choices), key=key, help=p.help)
    if p.type == "bool":
        _init(key, bool(p.default))
        return container.checkbox(label, key=key, help=p.help)
    if p.type == "int":
        _init(key, int(p.default))
        return int(container.number_input(label, key=key, step=1, help=p.help,
                                          min_value=None if p.minimum is None else int(p.minimum),
                                          max_value=None if p.maximum is None else int(p.maximum)))
    if p.type == "float":
        _init(key, float(p.default))
        return float(container.number_input(label, key=key, step=0.05, format="%.2f", help=p.help,
                                            min_value=None if p.minimum is None else float(p.minimum),
                                            max_value=None if p.maximum is None else float(p.maximum)))
    if p.type == "str_list" and p.valid_items():
        _init(key, list(p.default or ()))
        return tuple(container.multiselect(label, list(p.valid_items()), key=key, help=p.help))
    _init(key, "" if p.default is None else str(p.default))
    return container.text_input(label, key=key, help=p.help)


def method_param_widgets(method: Any, *, key_prefix: str, skip: tuple[str, ...] = ("layer",)) -> dict[str, Any]:
    """One widget per declared parameter (:class:`core.foundation.params.Param`) of ``method``; returns their values.

    Widget keys are ``{key_prefix}{method}.{param}``; parameters in ``skip`` are left to the caller.
    """
    shown = [p for p in method.params if p.name not in skip]
    if not shown:
        return {}
    cols = st.columns(max(len(shown), 3))
    return {p.name: param_widget(p, f"{key_prefix}{method.name}.{p.name}", container=col)
            for col, p in zip(cols, shown)}


# ----------------------------------------------------------------------------- compare, adversarial, multi-task


def one_line(text: str, n: int) -> str:
    """``text`` on one line, cut to ``n`` characters with an ellipsis."""
    return _one_line(text, n)


def open_in_saliency(focus: state.FocusText) -> None:
    """Make ``focus`` the focus text, select its model (so the Saliency page accepts it) and go there."""
    state.set_focus_text(focus)
    if state.current_model_ref() != focus.model_ref:
        state.set_model_ref(focus.model_ref, reset_widgets=True)
    st.switch_page("pages/saliency.py")
