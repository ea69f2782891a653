"""Corpus: the dataset-level questions over every text (or many), in cached batches on the local engine or Ray."""
import streamlit as st

from core.analyses.corpus.params import ENGINES, JOB_TITLES, JOBS, CorpusParams
from ui import cached, report_draft, widgets
from ui.errors import user_errors
from ui.views import corpus as views

N_RANGE, N_DEFAULT = (10, 10_000_000), 1000

st.title("Corpus")
st.caption("Audit many texts at once: embeddings, predictions, attribution entropy, class-representative tokens and "
           "a density map of the whole corpus, "
           "run in batches that land in the disk cache (a rerun computes only what is missing) on this process or "
           "on a Ray cluster. Everything below is read from the aggregates written beside the cache.")

widgets.keep_widgets("bl.w.cor.")
choice = widgets.workspace_dataset()
for key, value in (("n", N_DEFAULT), ("jobs", ["embed", "predict", "map"]), ("engine", "local"), ("batch", 64)):
    st.session_state.setdefault(f"bl.w.cor.{key}", value)
c1, c2, c3 = st.columns([3, 1, 1], gap="medium")
ref = widgets.page_model_picker("bl.w.cor.model", widgets.model_options(), container=c1,
                               help="A classifier for predictions, entropy and class tokens; any encoder for embed.")
widgets.selection_sidebar(ref, choice)
n = int(c2.number_input("Texts", min_value=N_RANGE[0], max_value=N_RANGE[1], step=1000, key="bl.w.cor.n",
                        help="From the held-out test split when the model was trained on this dataset; a number "
                             "above the texts available audits all of them."))
engine = c3.selectbox("Engine", ENGINES, key="bl.w.cor.engine",
                      help="local: this process; ray: Ray Data actors, one model copy each (a local Ray instance). "
                           "The numbers do not depend on it.")
d1, d2, d3 = st.columns([4, 1, 1], gap="medium")
jobs = d1.multiselect("Jobs", JOBS, key="bl.w.cor.jobs", format_func=lambda j: f"{j}: {JOB_TITLES[j]}")
batch = int(d2.number_input("Batch size", min_value=1, max_value=4096, step=16, key="bl.w.cor.batch",
                            help="Texts per batch: the unit of caching and resuming."))
all_layers = d3.checkbox("All layers", key="bl.w.cor.layers", help=CorpusParams.param("all_layers").help)
if not jobs:
    st.info("Choose at least one job.")
    st.stop()
params = CorpusParams(jobs=tuple(j for j in JOBS if j in jobs), batch_size=batch, all_layers=all_layers)
if not widgets.confirm_gate(("corpus", ref, choice, n, params, engine), f"Every one of the {n:,} texts goes through "
                            f"{', '.join(params.jobs)}; a finished batch is never computed again.", "Audit the corpus",
                            widget_key="bl.w.cor-go.run"):
    st.stop()
with user_errors():
    view = cached.corpus(ref, choice, n, params, engine)
report_draft.add_button("corpus", {"model": ref, "dataset": choice.ref, "n": n, "jobs": list(params.jobs),
                                   "batch_size": batch, "engine": engine, "all_layers": all_layers}, page="Corpus",
                        key="corpus.audit")
views.show_headline(view)
views.show_histograms(view)
views.show_explaining(view)
views.show_layers(view)
views.show_map(view, lambda x, y, outcome: cached.region_texts(ref, choice, n, view.run["aggregates"], x, y, outcome))
st.subheader("Per class")
views.show_classes(view)
views.show_failures(view)
