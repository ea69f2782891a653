"""Multi-task: one encoder shared by several tasks — do the tasks organise it alike (task synergy)?"""
import streamlit as st

from core.analyses.synergy import SynergyParams
from ui import cached, report_draft, widgets
from ui.errors import user_errors
from ui.views import multitask as views

OTHER = "A multi-task model folder…"

st.title("Multi-task")
st.caption("One encoder shared by several tasks, one classification head per task. Do the tasks organise the shared "
           "representation alike? The same held-out texts of every task are projected with DeepView under each "
           "task's head: **Q_NN@k** between two heads' maps (the share of each text's k nearest neighbours they "
           "have in common; 1 = the same map) is the main synergy number. Beside it: LCMC (that share above chance), "
           "transfer probes (how well one head's outputs predict another task's labels) and CKA of the heads' "
           "hidden activations.")

widgets.keep_widgets("bl.w.mt.")
built = cached.multitask_options()
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
        views.train_offer("pretrained", primary=True)

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
        views.train_offer("finetuned", primary=False)

widgets.selection_sidebar(ref, None, dataset_note="each task's own bundled dataset (held-out test split)")
with user_errors():
    mt = cached.get_multitask(ref)
views.show_model(mt)

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
report_draft.add_button("multitask", {"model": ref, "n_per_task": n, "k": k, "lam": lam}, page="Multi-task",
                        key="multitask.synergy")
views.show_synergy(res)
views.show_joint_map(res)
views.show_fidelity(res)
views.open_task(res, mt, ref)
