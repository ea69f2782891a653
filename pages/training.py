"""Training: train a classifier on your own files (train, optional validation and test) from a base model, in
the pre-trained setting (frozen encoder + head), the fine-tuned one or both, within a time budget; watch the
validation curve; the model is kept as user:NAME and opened on every page."""
import re
from dataclasses import asdict
from pathlib import Path

import streamlit as st

from core.training.user_models import TrainingRequest, check_name
from ui import report_draft, state, widgets
from ui.cached import training as cached
from ui.errors import user_errors
from ui.views import training as views

SETTINGS = {"pretrained": "Pre-trained (frozen encoder + head)", "finetuned": "Fine-tuned (encoder and head)",
            "both": "Both (fine-tuning starts from the pre-trained head)"}
K = views.K

st.title("Training")
st.caption("Train a classifier on **your** data and audit it on every page. The **pre-trained setting** keeps the "
           "encoder frozen and trains a head on its embeddings (fast); the **fine-tuned setting** trains the encoder "
           "with the head (slower, usually better). The time budget covers embedding or optimising and every "
           "validation pass; the held-out evaluation afterwards gets at most a fifth of it.")
widgets.keep_widgets(K)

base = views.base_model_input()
data = views.data_files()
c1, c2, c3 = st.columns([3, 1, 1])
setting = c1.radio("Setting", list(SETTINGS), key=K + "setting", format_func=SETTINGS.get, horizontal=True)
n = int(c2.number_input("Training texts (0 = all)", min_value=0, step=500, key=K + "n",
                        help="Sampled by the seed; validation and test get n/7 and 2n/7 (at least 100)."))
seed = int(c3.number_input("Seed", min_value=0, step=1, key=K + "seed"))
c4, c5, c6 = st.columns([2, 1, 2])
st.session_state.setdefault(K + "budget", 300)
budget = int(c4.slider("Time budget (seconds)", 30, 3600, step=30, key=K + "budget",
                       help="With both settings a third goes to the pre-trained head."))
threads = int(c5.number_input("CPU threads (0 = auto)", min_value=0, max_value=256, step=1, key=K + "threads",
                              help="Auto: the physical cores not busy with other work."))
if not data or not base:
    st.info("Give a base model and a training file (a path, an upload, or bundled:tweets).")
    st.stop()
default_name = re.sub(r"[^A-Za-z0-9._-]+", "-", Path(data.train).stem.replace("bundled:", ""))[:40] + f"-{setting}"
st.session_state.setdefault(K + "name", default_name)
name = c6.text_input("Model name", key=K + "name", help="Kept as user:NAME (both settings: NAME-pretrained and "
                     "NAME-finetuned); every page, verb and report can open it.").strip()

with user_errors():
    check_name(name)
    plan = cached.plan(data, n or None, None, None, seed)
views.plan_panel(plan)

req = TrainingRequest(base=base, data=data, setting=setting, n=n or None, seed=seed, max_seconds=float(budget),
                      threads=threads or None)
if st.button("Train", type="primary", icon=":material/model_training:", key="bl.train-go"):
    chart = views.LiveChart()
    with user_errors():
        run = cached.train(req, name, on_record=chart)
    chart.draw()
    st.session_state["bl.train.last"] = {**run.to_json(), "data": asdict(data)}
    views.open_everywhere(run.to_json(), data)

last = st.session_state.get("bl.train.last")
if last:
    views.result_panel(last)
    ref = last["models"][-1]["folder"]
    st.success(f"`{last['models'][-1]['ref']}` is now the selected model: every page opens it, on its "
               + ("test file." if last["data"].get("test") else "training file's held-out test part."),
               icon=":material/check_circle:")
    views.splits_table(ref)
    draft = report_draft.draft()
    if draft.findings and draft.model and draft.model != state.current_model_ref():
        st.caption(f"The report draft is about `{draft.model}`; start a new draft on the Report page to report on "
                   "this model.")
    report_draft.add_button("overview", {}, page="Training", key="training.overview",
                            help="Add an overview section of this model: its training record (which texts went "
                                 "where, steps, budget, threads), held-out accuracy and confusion matrix.")
