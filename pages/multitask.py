"""Multi-task: one encoder shared by several tasks — do the tasks organise it alike (task synergy)?"""
import numpy as np
import pandas as pd
import streamlit as st

from core.analyses.synergy import SynergyParams
from core.training.multitask import MULTITASK_SETTINGS
from figures.synergy import joint_projection_chart, matrix_chart
from ui import cached, report_draft, state, widgets
from ui.cached.multitask import training_minutes
from ui.errors import user_errors

OTHER = "A multi-task model folder…"
Col = st.column_config

st.title("Multi-task")
st.caption("One encoder shared by several tasks, one classification head per task. Do the tasks organise the shared "
           "representation alike? The same held-out texts of every task are projected with DeepView under each "
           "task's head: **Q_NN@k** between two heads' maps (the share of each text's k nearest neighbours they "
           "have in common; 1 = the same map) is the main synergy number. Beside it: LCMC (that share above chance), "
           "transfer probes (how well one head's outputs predict another task's labels) and CKA of the heads' "
           "hidden activations.")

widgets.keep_widgets("bl.w.mt.")
built = cached.multitask_options()


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


done = st.session_state.pop("bl.mt.trained", None)
if done:
    st.success(done, icon=":material/check_circle:")

if not built:
    with st.container(border=True):
        st.markdown("#### No multi-task model yet")
        st.markdown("A multi-task demo model shares one all-MiniLM-L6-v2 encoder between two tasks of the bundled "
                    "data, BBC News topics and tweet sentiment. In the **pre-trained setting** the encoder stays "
                    "frozen and each task gets its own head (the quick one to build); in the **fine-tuned setting** "
                    "the encoder is trained with both heads at once. Training runs on this machine, needs no "
                    "network and keeps the demo's held-out test splits unseen. You can also enter the folder of a "
                    "multi-task model trained with `python -m core multitask train --out FOLDER`.")
        train_offer("pretrained", primary=True)

options = [*built, OTHER]
st.session_state.setdefault("bl.w.mt.model", options[0])
if st.session_state["bl.w.mt.model"] not in options:
    st.session_state["bl.w.mt.model"] = options[0]
c1, c2 = st.columns([2, 3], gap="medium")
ref = pick = c1.selectbox("Multi-task model", options, key="bl.w.mt.model")
if pick == OTHER:
    ref = c2.text_input("Folder", key="bl.w.mt.folder", placeholder="/path/to/multitask-model",
                        help="A folder written by `python -m core multitask train --out FOLDER`.").strip()
    if not ref:
        st.stop()
elif built and "demo:multitask-finetuned" not in built:
    with c2:
        st.caption("The fine-tuned-setting model (encoder trained with both heads) is not built yet.")
        train_offer("finetuned", primary=False)

with user_errors():
    mt = cached.get_multitask(ref)

# ------------------------------------------------------------------------------ the model
tasks_meta = mt.metadata.get("tasks", {})
setting = mt.metadata.get("setting")
st.caption(f"`{mt.ref}` · {len(mt.tasks)} task{'s' if len(mt.tasks) != 1 else ''} ({', '.join(mt.tasks)}) · "
           f"{MULTITASK_SETTINGS.get(setting) if setting in MULTITASK_SETTINGS else 'setting not recorded'}.")
for col, t in zip(st.columns(max(len(mt.tasks), 3)), mt.tasks):
    held = tasks_meta.get(t, {}).get("heldout") or {}
    col.metric(f"{t}: held-out accuracy", f"{held['accuracy']:.1%}" if "accuracy" in held else "–", border=True,
               help=f"{mt.datasets[t]} · labels {', '.join(mt.label_names[t])} · "
                    + (f"{held['n']:,} test examples" if "n" in held else "no held-out evaluation recorded"))

# ------------------------------------------------------------------------------ settings and run
for key, value in (("n", SynergyParams.n_per_task), ("k", SynergyParams.k), ("lam", SynergyParams.lam)):
    st.session_state.setdefault(f"bl.w.mt.{key}", value)
s1, s2, s3 = st.columns([1, 1, 2], gap="medium")
n = int(s1.number_input("Held-out texts per task", min_value=10, max_value=1000, step=50, key="bl.w.mt.n",
                        help="Drawn from each task's held-out test split (seed 0); all tasks' texts form one "
                             "shared sample set."))
k = int(s2.selectbox("k", SynergyParams.ks, key="bl.w.mt.k", help="Neighbourhood size of the main Q_NN number."))
lam = float(s3.slider("λ of the DeepView maps", 0.0, 1.0, step=0.05, key="bl.w.mt.lam",
                      help="0 = the shared embedding only; 1 = only each head's view (see the Projection page)."))
if not widgets.confirm_gate(("synergy", ref, n), f"Embeds {n:,} held-out texts of each task with the shared encoder "
                            f"and projects all of them under each of the {len(mt.tasks)} heads (plus one map per "
                            "task): about a minute on a 2-core CPU the first time; cached afterwards.",
                            "Measure the synergy", widget_key="bl.w.mt-go.run"):
    st.stop()

with user_errors():
    res = cached.synergy(ref, SynergyParams(n_per_task=n, k=k, lam=lam))
T = len(res.tasks)
report_draft.add_button("multitask", {"model": ref, "n_per_task": n, "k": k, "lam": lam}, page="Multi-task",
                        key="multitask.synergy")

# ------------------------------------------------------------------------------ reading and matrices
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
                help=f"Share of texts whose {res.knn_k} nearest neighbours in the shared embedding mostly come from "
                     f"their own task (silhouette {res.silhouette:.2f}). High = the encoder separates the tasks' "
                     "texts, so synergy can only come from shared structure within the maps.")

tabs = st.tabs([f"Q_NN@{res.k} (main)", "LCMC", "Transfer", "CKA"])
cell = max(60, 300 // T)
with tabs[0]:
    left, right = st.columns([3, 2], gap="medium")
    widgets.show_chart(matrix_chart(res.matrix, res.tasks, title=f"Q_NN@{res.k} between the heads' DeepView maps",
                                    value_title="Q_NN", subtitle=f"the same {res.n:,} texts under each head; "
                                                                 "diagonal = 1", cell=cell), container=left)
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
    right.dataframe(pd.DataFrame({"task": res.tasks, "chance": res.chance, "full": res.full_probe}), hide_index=True,
                    column_config={"task": "Target task",
                                   "chance": Col.NumberColumn("Chance (majority)", format="%.3f"),
                                   "full": Col.NumberColumn("Probe on the full embedding", format="%.3f")})
    right.caption("A row is the head whose outputs are read; a column the task whose labels are predicted. Compare "
                  "each cell with the task's chance level (majority class) and with a probe on the whole embedding.")
with tabs[3]:
    widgets.show_chart(matrix_chart(res.cka, res.tasks, title="Linear CKA of the heads' hidden activations",
                                    value_title="CKA", subtitle=f"tanh(dense(x)) of each head on all {res.n:,} texts",
                                    cell=cell))

# ------------------------------------------------------------------------------ joint map
st.subheader("All tasks in one map")
color_by = st.radio("Colour by", ["task", "label"], key="bl.w.mt.color", horizontal=True,
                    format_func={"task": "task", "label": "task and label"}.get)
widgets.show_chart(joint_projection_chart(res.joint_points, [res.tasks[t] for t in res.task_ids], res.point_labels(),
                                          res.texts,
                                          color_by=color_by, title=f"{res.n:,} held-out texts of {T} tasks",
                                          width=560, height=420))

# ------------------------------------------------------------------------------ per-task fidelity
st.subheader("How faithful each map is")
pct = lambda label, h: Col.NumberColumn(label, format="percent", help=h)  # noqa: E731
num = lambda label, h: Col.NumberColumn(label, format="%.3f", help=h)  # noqa: E731
st.dataframe(pd.DataFrame(res.fidelity_rows()), hide_index=True, column_config={
    "task": "Task", "n": Col.NumberColumn("Texts", help="The task's own held-out texts"),
    "q_knn": pct("Q_kNN error", "Own map: map neighbours that disagree with the predicted class (lower is better)"),
    "q_data": pct("Q_data", "Own map: points whose background class equals their prediction (higher is better)"),
    "trust": num("Trustworthiness", "Own map: no false neighbours = 1"),
    "cont": num("Continuity", "Own map: no torn neighbourhoods = 1"),
    "shared_q_knn": pct("Q_kNN error, all texts", "The map of every task's texts under this head"),
    "shared_trust": num("Trustworthiness, all texts", "The map of every task's texts under this head")})
st.caption(f"“Own map”: the task's DeepView projection of its own held-out texts (“Texts”). “All texts”: the map of "
           f"all {res.n:,} texts under this task's head, the one the synergy matrix compares. λ = {res.lam:g}; "
           + " · ".join(f"{s.replace('_', ' ')} {v:.1f} s" for s, v in res.seconds.items()) + ".")

if st.session_state.get("bl.w.mt.task") not in res.tasks:
    st.session_state["bl.w.mt.task"] = res.tasks[0]
c1, c2 = st.columns([3, 1], vertical_alignment="bottom")
task = c1.selectbox("Study one task on the other pages", res.tasks, key="bl.w.mt.task",
                    help="Selects this task's classifier (the shared encoder with its head) and its dataset for the "
                         "other pages, and opens its DeepView projection.")
if c2.button("Open in Projection", icon=":material/scatter_plot:", key="bl.w.mt-go.task"):
    state.set_model_ref(f"{ref}#{task}", reset_widgets=True)
    cur = state.current_dataset_choice()
    state.set_dataset_choice(state.DatasetChoice(ref=mt.datasets[task], n=cur.n, seed=cur.seed))
    st.switch_page("pages/projection.py")
