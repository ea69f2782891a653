"""The Training page's panels: the base model and the user's files, the plan (which texts go where), the live
loss/accuracy chart with its ETA, and the result (the models, their held-out accuracy, the budget, the split
table, opening the model on every page)."""
from __future__ import annotations

import time
from typing import Any

import altair as alt
import pandas as pd
import streamlit as st

from core.training.user_models import DataFiles
from ui import cached, state
from ui.cached import training as training_cache
from ui.cached.training import Plan
from ui.widgets import FILE_TYPES

BASES = ("Bundled MiniLM", "Local folder", "Hugging Face hub id")
K = "bl.w.train."


def base_model_input() -> str:
    """The base model: the bundled MiniLM, a folder or a hub id ('' while none is entered)."""
    st.session_state.setdefault(K + "base", BASES[0])
    src = st.radio("Base model", BASES, key=K + "base", horizontal=True,
                   help="The encoder to train from. The bundled all-MiniLM-L6-v2 needs no download.")
    if src == BASES[0]:
        return "bundled:minilm"
    if src == BASES[1]:
        return st.text_input("Model folder", key=K + "folder", placeholder="/path/to/folder (config.json + weights)"
                             ).strip()
    return st.text_input("Hub id", key=K + "hub", placeholder="e.g. distilbert-base-uncased").strip()


def file_input(label: str, key: str, *, help: str) -> str | None:
    """A file given by upload or path (the path wins when both are given); None when neither is."""
    c1, c2 = st.columns(2)
    path = c1.text_input(f"{label}: path on this machine", key=K + key, help=help,
                         placeholder="/path/data.csv (.csv .tsv .jsonl .json .parquet)").strip()
    up = c2.file_uploader(f"… or upload the {label.lower()}", type=FILE_TYPES, key=f"bl.train-up.{key}")
    if path:
        return path
    return str(cached.save_upload(up.name, up.getvalue())) if up is not None else None


def data_files() -> DataFiles | None:
    """The training file, optional validation and test files and the reading options (None: no training file)."""
    train = file_input("Training file", "train", help="A labelled table; bundled:tweets or bundled:bbc work too.")
    with st.expander("Validation and test files (optional: else 10 % and 20 % of the training file by hash)"):
        val = file_input("Validation file", "val", help="Used for early stopping; same columns as the training file.")
        test = file_input("Test file", "test", help="Held out for the final accuracy; same columns.")
    with st.expander("Columns and labels (blank = guess)"):
        c1, c2, c3 = st.columns(3)
        text = c1.text_input("Text column", key=K + "text").strip() or None
        pair = c2.text_input("Second text column", key=K + "pair", help="For sentence pairs.").strip() or None
        label = c3.text_input("Label column", key=K + "label").strip() or None
        c4, c5, c6 = st.columns([2, 2, 1])
        names = c4.text_input("Label names", key=K + "names", help="Comma-separated names for integer labels "
                              "0, 1, … (or 1, 2, …: read as 1-based and said so).")
        lmap = c5.text_input("Label map", key=K + "map", placeholder="1=World,2=Sports,3=Business,4=Sci/Tech",
                             help="Names each label value explicitly (instead of label names).").strip() or None
        st.session_state.setdefault(K + "enc", "utf-8")
        enc = c6.text_input("Encoding", key=K + "enc").strip() or "utf-8"
    if not train:
        return None
    label_names = tuple(s.strip() for s in names.split(",") if s.strip()) or None
    if label_names and lmap:
        st.error("Give either label names or a label map, not both (the map names every value).",
                 icon=":material/error:")
        st.stop()
    return DataFiles(train=train, validation=val, test=test, text_column=text, text_pair_column=pair,
                     label_column=label, label_names=label_names, label_map=lmap, encoding=enc)


def plan_panel(plan: Plan) -> None:
    """Which texts go where: per split its source and size, and the examples per label."""
    st.markdown("**Which texts go where**")
    rows = [{"Split": s, "Texts": plan.parts[s], **{n: c for n, c in zip(plan.label_names, plan.counts[s])}}
            for s in ("train", "validation", "test")]
    st.dataframe(pd.DataFrame(rows), hide_index=True, width="stretch")
    for note in plan.notes:
        st.caption(note)
    if not plan.heldout_in_train_file:
        st.caption("All of the training file is used for training or validation: the test file is the held-out "
                   "set, and analyses on the training file say that training texts are included.")


class LiveChart:
    """Validation accuracy and loss against time, redrawn as each validation pass arrives, with an ETA."""

    def __init__(self) -> None:
        self.rows: list[dict[str, Any]] = []
        self.box = st.empty()
        self.caption = st.empty()
        self.last = 0.0

    def __call__(self, row: dict) -> None:
        self.rows.append({"setting": row.get("setting", ""), "seconds": float(row["seconds"]),
                          "validation accuracy": float(row["val_accuracy"]), "validation loss": float(row["val_loss"])})
        eta = row.get("eta_seconds")
        self.caption.caption(f"{row.get('setting', '')}: validation accuracy {row['val_accuracy']:.1%} after "
                             f"{row['seconds']:.0f} s" + (f" · about {eta:.0f} s left" if eta is not None else ""))
        if time.monotonic() - self.last > 0.5:
            self.last = time.monotonic()
            self.draw()

    def draw(self) -> None:
        if not self.rows:
            return
        df = pd.DataFrame(self.rows).melt(id_vars=["setting", "seconds"], var_name="metric")
        chart = alt.Chart(df).mark_line(point=True).encode(
            x=alt.X("seconds:Q", title="seconds since training started"), y=alt.Y("value:Q", title=None),
            color=alt.Color("setting:N", title="setting"),
            tooltip=["setting", "metric", alt.Tooltip("seconds:Q", format=".0f"), alt.Tooltip("value:Q", format=".3f")],
        ).properties(width=300, height=180).facet(column=alt.Column("metric:N", title=None)).resolve_scale(y="independent")
        self.box.altair_chart(chart, theme=None)


def result_panel(summary: dict[str, Any]) -> None:
    """The models of the last run: reference, held-out accuracy, budget use, threads, and which texts went where."""
    st.subheader("Result")
    rows = []
    for m in summary["models"]:
        b = m.get("budget") or {}
        h = m["heldout"]
        rows.append({"Model": m["ref"], "Setting": m["setting"], "Held-out accuracy": h["accuracy"],
                     "Held-out texts": f"{h['n']:,} of {h['n_test_texts']:,} ({h['from']})",
                     "Validation accuracy": m["val_accuracy"], "Optimiser steps": m["steps"],
                     "Seconds": m["seconds"], "Budget (s)": b.get("seconds"), "Stopped by": m["stopped_by"],
                     "Evaluation (s)": h["seconds"]})
    st.dataframe(pd.DataFrame(rows), hide_index=True, width="stretch", column_config={
        "Held-out accuracy": st.column_config.NumberColumn(format="percent"),
        "Validation accuracy": st.column_config.NumberColumn(format="percent")})
    st.caption(f"Threads: {summary['threads']['line']}. The budget covers "
               + "; ".join(sorted({(m.get('budget') or {}).get('covers', 'no budget was set')
                                   for m in summary['models']})) + ". " + " ".join(summary.get("notes", [])))
    for m in summary["models"]:
        if m.get("mlm_head"):
            st.caption(f"{m['ref']} reuses {m['mlm_head'].split(';')[0]}.")


def splits_table(folder: str) -> None:
    """The texts of each split of a trained model (the first 2,000 of each), downloadable as CSV."""
    rows = training_cache.split_rows(folder)
    if not rows:
        return
    df = pd.DataFrame(rows)
    with st.expander(f"Which texts went where ({len(df):,} rows)"):
        st.dataframe(df, hide_index=True, width="stretch", height=300)
        st.download_button("Download as CSV", df.to_csv(index=False).encode("utf-8"), file_name="training_splits.csv",
                           mime="text/csv", key=f"bl.train-dl.{folder}")


def open_everywhere(summary: dict[str, Any], data: DataFiles) -> None:
    """Make the last trained model the selected one (every page opens it) and its test data the Workspace dataset."""
    m = summary["models"][-1]
    state.set_model_ref(m["folder"], reset_widgets=True)
    ref = data.test or data.train
    names = data.label_names
    if data.label_map and names is None:
        from core.data.labels import parse_label_map

        lm = parse_label_map(data.label_map)
        keys = list(lm)
        if keys in (list(range(len(keys))), list(range(1, len(keys) + 1))):
            names = tuple(lm.values())
        else:  # a map the Workspace cannot express: keep its dataset
            return
    state.set_dataset_choice(state.DatasetChoice(ref=ref, text_column=data.text_column,
                                                 text_pair_column=data.text_pair_column, label_column=data.label_column,
                                                 encoding=data.encoding, n=500, seed=0, label_names=names))
