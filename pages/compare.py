"""Compare: two or more models on the same texts — shared neighbourhoods (Q_NN, LCMC), CKA, prediction
agreement, their DeepView maps side by side and the texts they disagree on most."""
from dataclasses import replace

import streamlit as st

from core.analyses.compare import CompareParams, trained_dataset
from ui import cached, report_draft, state, widgets
from ui.errors import user_errors
from ui.views import compare as views

N_RANGE, N_DEFAULT = (20, 2000), 300

st.title("Compare")
st.caption("Do two models see the same texts the same way? Each model embeds the same texts; **Q_NN(k)** is the "
           "share of each text's k nearest neighbours the two embeddings (or the two DeepView maps) have in "
           "common, **LCMC** is that share above chance, **CKA** compares the embedding spaces as a whole, and "
           "**prediction agreement** counts identical predictions. High values mean the models organise the texts "
           "alike; the maps and the table below show where they do not.")

widgets.keep_widgets("bl.w.cmp.")
choice = widgets.workspace_dataset()
options = widgets.model_options() + cached.multitask_task_refs()
for key, value in (("extra", ""), ("n", N_DEFAULT), ("ks", ", ".join(map(str, CompareParams.k))),
                   ("lam", CompareParams.lam)):
    st.session_state.setdefault(f"bl.w.cmp.{key}", value)

c1, c2 = st.columns([3, 2], gap="medium")
picked = widgets.page_models_picker("bl.w.cmp.models", options, label="Models", container=c1,
                                    help="Two or more; every pair is compared. They start as the Workspace model and "
                                    "its pre-trained / fine-tuned counterpart. " + " ".join(
                            f"`{r}`: {widgets.MODEL_LABELS[r].split(' · ', 1)[1]}." for r in options
                            if r in widgets.MODEL_LABELS) + " A bare encoder is compared on its embeddings only (it "
                            "has no predictions and no DeepView map).")
extra = c2.text_input("More models (comma-separated)", key="bl.w.cmp.extra",
                      placeholder="/path/to/model, hub-id, demo:multitask-pretrained#bbc",
                      help="Local folders, Hugging Face hub ids or one task of a multi-task model (REF#task).")
c3, c4, c5 = st.columns([1, 1, 2], gap="medium")
n = int(c3.number_input("Texts", min_value=N_RANGE[0], max_value=N_RANGE[1], step=50, key="bl.w.cmp.n",
                        help="Drawn by the Workspace seed; from the held-out test split when one of the models "
                             "was trained on this dataset."))
ks_text = c4.text_input("Neighbourhood sizes k", key="bl.w.cmp.ks",
                        help="Comma-separated; Q_NN and LCMC are computed for each.")
lam = c5.slider("λ of the DeepView maps", 0.0, 1.0, step=0.05, key="bl.w.cmp.lam",
                help="0 = the embedding's own distances only; 1 = only the classifier's view (see the Projection "
                     "page). Both maps use the same λ.")

refs = list(dict.fromkeys([*picked, *(r.strip() for r in extra.split(",") if r.strip())]))
widgets.selection_sidebar(refs, choice)
try:
    ks = sorted({int(k) for k in ks_text.replace(";", ",").split(",") if k.strip()})
except ValueError:
    ks = []
if len(refs) < 2 or not ks:
    st.error("Choose at least two models to compare." if len(refs) < 2 else "Give the neighbourhood sizes as whole "
             "numbers separated by commas, e.g. 5, 10, 20.", icon=":material/error:")
    st.stop()

with user_errors():
    models = [cached.get_model(r) for r in refs]
other = trained_dataset(models)
if other and other != choice.ref.strip() and other.startswith("bundled:"):
    i1, i2 = st.columns([4, 1], vertical_alignment="center")
    i1.info(f"These models were trained on `{other}`, but the Workspace dataset is `{choice.ref}`.",
            icon=":material/info:")
    if i2.button(f"Use {other}", key="bl.w.cmp-go.dataset"):
        state.set_dataset_choice(replace(state.DatasetChoice(), ref=other, n=choice.n, seed=choice.seed))
        st.rerun()

if not widgets.confirm_gate(("compare", tuple(refs), choice, n), f"Each model embeds the {n:,} texts and gets a "
                            "DeepView map (distance graph, UMAP, background): from half a minute to a few minutes "
                            "on a 2-core CPU the first time; embeddings and maps are cached, so new k or λ values "
                            "take seconds.", "Compare the models", widget_key="bl.w.cmp-go.run"):
    st.stop()

with user_errors():
    cmp = cached.comparison(refs, choice, n, CompareParams(k=tuple(ks), lam=lam))
report_draft.add_button("comparison", {"models": list(refs), "dataset": choice.ref, "n": n, "k": list(ks), "lam": lam},
                        page="Compare", key="compare.models")

pair_i = views.choose_pair(cmp, refs)
pair = cmp.pairs[pair_i]
views.show_pair(cmp, pair_i, refs)
chart_box, picked_box = st.container(), st.container()
table_rows = views.disagreements(cmp, pair_i, refs)
with chart_box:
    chart_rows = views.linked_maps(cmp, pair, pair_i, table_rows)
with picked_box:
    views.selected_texts(cmp, sorted(set(chart_rows) | set(table_rows)), refs, choice,
                         source=f"Compare page ({refs[pair.a]} vs {refs[pair.b]})")
