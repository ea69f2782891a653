"""The Multi-task page's result panels: the offer to train a demo model, the model's tasks, the reading and the
task × task matrices, the joint map, each map's fidelity and the way to study one task on the other pages. Charts
come from ``figures.synergy``; nothing is computed here."""
from __future__ import annotations

import numpy as np
import pandas as pd
import streamlit as st

from core.analyses.synergy import SynergyResult
from core.models.multitask import MultiTaskModel
from core.training.multitask import MULTITASK_SETTINGS
from figures.synergy import joint_projection_chart, matrix_chart
from ui import cached, state, widgets
from ui.cached.multitask import training_minutes
from ui.errors import user_errors

Col = st.column_config


def train_offer(setting: str, *, primary: bool) -> None:
    """A button that trains ``demo:multitask-<setting>`` on BBC topics and tweet sentiment (with progress)."""
    label = (f"Train the {MULTITASK_SETTINGS.title(setting)}-setting model (~{training_minutes(setting)} min)")
    if st.button(label, type="primary" if primary else "secondary", icon=":material/model_training:",
                 key=f"bl.w.mt-go.train.{setting}"):
        with user_errors():
            mt = cached.train_multitask(setting)
        acc = ", ".join(f"{t} {mt.metadata['tasks'][t]['heldout']['accuracy']:.1%}" for t in mt.tasks)
        st.session_state["bl.mt.trained"] = f"`{mt.ref}` is ready (held-out accuracy: {acc})."
        st.session_state["bl.w.mt.model"] = mt.ref
        st.rerun()


def show_model(mt: MultiTaskModel) -> None:
    """The model's tasks and setting, and each task's held-out accuracy recorded at training."""
    tasks_meta = mt.metadata.get("tasks", {})
    setting = mt.metadata.get("setting")
    st.caption(f"`{mt.ref}` · {len(mt.tasks)} task{'s' if len(mt.tasks) != 1 else ''} ({', '.join(mt.tasks)}) · "
               f"{MULTITASK_SETTINGS.get(setting) if setting in MULTITASK_SETTINGS else 'setting not recorded'}.")
    for col, t in zip(st.columns(max(len(mt.tasks), 3)), mt.tasks):
        held = tasks_meta.get(t, {}).get("heldout") or {}
        col.metric(f"{t}: held-out accuracy", f"{held['accuracy']:.1%}" if "accuracy" in held else "–", border=True,
                   help=f"{mt.datasets[t]} · labels {', '.join(mt.label_names[t])} · "
                        + (f"{held['n']:,} test examples" if "n" in held else "no held-out evaluation recorded"))


def show_synergy(res: SynergyResult) -> None:
    """The reading, the headline numbers of a two-task model and the four task × task matrices."""
    T = len(res.tasks)
    st.subheader("What the numbers say")
    st.markdown("\n".join(f"- {line}" for line in res.reading))
    if T == 2:
        m = st.columns(4)
        m[0].metric(f"Q_NN@{res.k} (main)", f"{res.matrix[0, 1]:.3f}", border=True,
                    help=f"Share of each text's {res.k} nearest neighbours that the two heads' DeepView maps of the "
                         "same texts have in common. 1 = the same neighbourhoods.")
        m[1].metric("LCMC", f"{res.lcmc[0, 1]:+.3f}", border=True,
                    help=f"Q_NN minus chance ({res.k} / (N − 1)); 0 = no more overlap than random neighbourhoods.")
        m[2].metric("CKA of the heads", f"{res.cka[0, 1]:.3f}", border=True,
                    help="Linear CKA of the two heads' hidden activations on all texts; 1 = the same up to rotation.")
        m[3].metric("Tasks kept apart", f"{res.knn_task_accuracy:.0%}", border=True,
                    help=f"Share of texts whose {res.knn_k} nearest neighbours in the shared embedding mostly come "
                         f"from their own task (silhouette {res.silhouette:.2f}). High = the encoder separates the "
                         "tasks' texts, so synergy can only come from shared structure within the maps.")

    tabs = st.tabs([f"Q_NN@{res.k} (main)", "LCMC", "Transfer", "CKA"])
    cell = max(60, 300 // T)
    with tabs[0]:
        left, right = st.columns([3, 2], gap="medium")
        widgets.show_chart(matrix_chart(res.matrix, res.tasks, value_title="Q_NN", cell=cell,
                                        title=f"Q_NN@{res.k} between the heads' DeepView maps",
                                        subtitle=f"the same {res.n:,} texts under each head; diagonal = 1"),
                           container=left)
        by_k = pd.DataFrame(res.q_nn_rows())
        right.dataframe(by_k, hide_index=True, column_config={c: Col.NumberColumn(c, format="%.3f") for c in by_k
                                                              if c != "k"})
        right.caption(f"Q_NN for each neighbourhood size k; chance is k / (N − 1) with N = {res.n:,}.")
    with tabs[1]:
        lo = float(min(0.0, np.floor(res.lcmc.min() * 10) / 10))
        widgets.show_chart(matrix_chart(res.lcmc, res.tasks, title="LCMC: Q_NN above chance", value_title="LCMC",
                                        domain=(lo, 1.0), fmt="+.2f", subtitle=f"chance = {res.k} / (N − 1) = "
                                                                              f"{res.k / (res.n - 1):.3f}", cell=cell))
    with tabs[2]:
        left, right = st.columns([3, 2], gap="medium")
        widgets.show_chart(matrix_chart(np.nan_to_num(res.transfer), res.tasks, title="Transfer probes",
                                        value_title="accuracy", row_title="head (source)", col_title="task (target)",
                                        subtitle="5-fold accuracy of a logistic probe on the source head's logits",
                                        cell=cell), container=left)
        right.dataframe(pd.DataFrame({"task": res.tasks, "chance": res.chance, "full": res.full_probe}),
                        hide_index=True, column_config={
                            "task": "Target task", "chance": Col.NumberColumn("Chance (majority)", format="%.3f"),
                            "full": Col.NumberColumn("Probe on the full embedding", format="%.3f")})
        right.caption("A row is the head whose outputs are read; a column the task whose labels are predicted. "
                      "Compare each cell with the task's chance level (majority class) and with a probe on the whole "
                      "embedding.")
    with tabs[3]:
        widgets.show_chart(matrix_chart(res.cka, res.tasks, title="Linear CKA of the heads' hidden activations",
                                        value_title="CKA", cell=cell,
                                        subtitle=f"tanh(dense(x)) of each head on all {res.n:,} texts"))


def show_joint_map(res: SynergyResult) -> None:
    """All tasks' texts in one map, coloured by task or by task and label."""
    st.subheader("All tasks in one map")
    color_by = st.radio("Colour by", ["task", "label"], key="bl.w.mt.color", horizontal=True,
                        format_func={"task": "task", "label": "task and label"}.get)
    widgets.show_chart(joint_projection_chart(res.joint_points, [res.tasks[t] for t in res.task_ids],
                                              res.point_labels(), res.texts, color_by=color_by,
                                              title=f"{res.n:,} held-out texts of {len(res.tasks)} tasks",
                                              width=560, height=420))


def show_fidelity(res: SynergyResult) -> None:
    """How faithful each task's own map and the map of all texts under its head are."""
    st.subheader("How faithful each map is")
    pct = lambda label, h: Col.NumberColumn(label, format="percent", help=h)  # noqa: E731
    num = lambda label, h: Col.NumberColumn(label, format="%.3f", help=h)  # noqa: E731
    st.dataframe(pd.DataFrame(res.fidelity_rows()), hide_index=True, column_config={
        "task": "Task", "n": Col.NumberColumn("Texts", help="The task's own held-out texts"),
        "q_knn": pct("Q_kNN error", "Own map: map neighbours that disagree with the predicted class (lower is "
                     "better)"),
        "q_data": pct("Q_data", "Own map: points whose background class equals their prediction (higher is better)"),
        "trust": num("Trustworthiness", "Own map: no false neighbours = 1"),
        "cont": num("Continuity", "Own map: no torn neighbourhoods = 1"),
        "shared_q_knn": pct("Q_kNN error, all texts", "The map of every task's texts under this head"),
        "shared_trust": num("Trustworthiness, all texts", "The map of every task's texts under this head")})
    st.caption(f"“Own map”: the task's DeepView projection of its own held-out texts (“Texts”). “All texts”: the map "
               f"of all {res.n:,} texts under this task's head, the one the synergy matrix compares. λ = {res.lam:g}; "
               + " · ".join(f"{s.replace('_', ' ')} {v:.1f} s" for s, v in res.seconds.items()) + ".")


def open_task(res: SynergyResult, mt: MultiTaskModel, ref: str) -> None:
    """A task to choose and a button that makes it (its classifier and dataset) the selection of the other pages."""
    if st.session_state.get("bl.w.mt.task") not in res.tasks:
        st.session_state["bl.w.mt.task"] = res.tasks[0]
    c1, c2 = st.columns([3, 1], vertical_alignment="bottom")
    task = c1.selectbox("Study one task on the other pages", res.tasks, key="bl.w.mt.task",
                        help="Selects this task's classifier (the shared encoder with its head) and its dataset for "
                             "the other pages, and opens its DeepView projection.")
    if c2.button("Open in Projection", icon=":material/scatter_plot:", key="bl.w.mt-go.task"):
        state.set_model_ref(f"{ref}#{task}", reset_widgets=True)
        cur = state.current_dataset_choice()
        state.set_dataset_choice(state.DatasetChoice(ref=mt.datasets[task], n=cur.n, seed=cur.seed))
        st.switch_page("pages/projection.py")
