"""Workspace: choose a model and a dataset; see the dataset, the model's facts and its accuracy."""
import streamlit as st

from figures.dataset import confusion_matrix_chart, label_balance_chart, length_histogram_chart, per_class_table
from ui import cached, report_draft, tables, widgets
from ui.errors import user_errors

st.title("Workspace")
st.caption("Pick a text classifier and a labelled dataset. The other pages analyse this selection.")

widgets.demo_build_panel()

pick_model, pick_data = st.columns(2, gap="large")
model = view = None
with pick_model:
    st.subheader("Model")
    model_ref = widgets.model_picker()
    if model_ref:
        with user_errors(stop=False):
            model = cached.get_model(model_ref)
with pick_data:
    st.subheader("Dataset")
    choice = widgets.dataset_picker()
    if choice.ref:
        with user_errors(stop=False):
            view = cached.dataset_view(choice)

# ------------------------------------------------------------------------------ evaluation
st.divider()
st.header("Accuracy")
if model is None or view is None:
    missing = " and ".join(w for w, ok in (("model", model), ("dataset", view)) if ok is None)
    st.info(f"Choose a usable {missing} above to see the accuracy.")
elif not model.has_head:
    st.info(f"`{model.ref}` is a bare encoder without a classification head, so it has no accuracy. "
            "Pick a classifier (e.g. a demo model) to evaluate one.")
elif widgets.evaluation_gate(model_ref, choice):
    with user_errors(stop=False):
        ev = cached.evaluate(model_ref, choice)
        m = st.columns(4)
        m[0].metric("Accuracy", tables.fmt_pct(ev.accuracy), border=True)
        m[1].metric("Macro-F1", f"{ev.macro_f1:.3f}", border=True)
        m[2].metric("Examples evaluated", f"{ev.n:,}", border=True)
        m[3].metric("Split", "held-out" if ev.split == "test" else "all", border=True,
                    help="held-out: the model's own test split of this dataset (it was trained on it); all: every "
                         "selected example (the model was not trained on this dataset).")
        st.caption(ev.note)
        report_draft.add_button("overview", {"normalize": True}, page="Workspace", key="workspace.overview",
                                help="Store the overview (accuracy, confusion matrix, per-class table, dataset) of this "
                                     "model and dataset as a section of the report draft.")
        left, right = st.columns([1, 1], gap="large")
        widgets.show_chart(confusion_matrix_chart(ev, width=340), container=left, fit=True)
        right.markdown("**Per class**")
        right.dataframe(per_class_table(ev), column_config={
            "precision": st.column_config.NumberColumn("Precision", format="%.3f"),
            "recall": st.column_config.NumberColumn("Recall", format="%.3f"),
            "f1": st.column_config.NumberColumn("F1", format="%.3f"),
            "support": st.column_config.NumberColumn("Support")})

# ------------------------------------------------------------------------------ model facts
if model is not None:
    st.divider()
    st.header("Model")
    held_value, held_help = tables.training_heldout(model)
    d = model.describe()
    m = st.columns(4)
    setting, setting_help = tables.model_setting(model)
    m[0].metric("Setting", setting, help=setting_help, border=True)
    m[1].metric("Training held-out accuracy", held_value, help=held_help, border=True)
    m[2].metric("Architecture", f"{d['model_type']} · {d['layers']} × {d['hidden_size']}", border=True,
                help="Model type · layers × hidden size")
    m[3].metric("Encoder parameters", tables.fmt_count(d["parameters"]), border=True)
    st.caption(tables.architecture_line(model))
    with st.expander("All facts"):
        st.dataframe(tables.model_facts_frame(model), hide_index=True)

# ------------------------------------------------------------------------------ dataset
if view is not None:
    st.divider()
    st.header("Dataset")
    s = view.stats
    lengths = s.length_summary
    st.caption(view.dataset.description or view.dataset.name)
    m = st.columns(4)
    m[0].metric("Examples in sample", f"{s.n:,}", help=f"{view.full_size:,} in the whole dataset", border=True)
    m[1].metric("Labels", len(s.label_names), border=True)
    m[2].metric("Median length", f"{lengths['median']:.0f} words", help=f"95th percentile {lengths['p95']:.0f}",
                border=True)
    m[3].metric("Unlabelled", f"{s.n_unlabelled:,}", border=True)
    for note in view.dataset.notes:
        st.caption(note)
    left, right = st.columns(2, gap="large")
    widgets.show_chart(label_balance_chart(s), container=left, fit=True)
    widgets.show_chart(length_histogram_chart(s), container=right, fit=True)
    st.markdown("**Sample of texts**")
    st.dataframe(tables.text_sample_frame(view.dataset), hide_index=True,
                 column_config={"text": st.column_config.TextColumn("Text", width="large"),
                                "second text": st.column_config.TextColumn("Second text", width="large"),
                                "label": st.column_config.TextColumn("Label", width="small")})
