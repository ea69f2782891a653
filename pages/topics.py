"""Topics: clusters of a model's embeddings, named by their most distinctive words (c-TF-IDF, as in BERTopic), with
the true labels and the classifier's errors per cluster."""
import numpy as np
import streamlit as st

from core.analyses.transformer.topics import CLUSTERING, TOPIC_MAPS, TopicsParams
from figures.topics import topic_map_chart, topic_names
from ui import cached, report_draft, widgets
from ui.views import topics as views
from ui.errors import user_errors

N_RANGE, N_DEFAULT = (10, 5000), 300
TITLES = CLUSTERING.titles()

st.title("Topics")
st.caption("What are the texts about, and where does the classifier go wrong? The model's pooled embeddings of the "
           "texts are clustered; each cluster is named by the words that set its texts apart from the other clusters "
           "(**c-TF-IDF**, as in BERTopic), and crossed with the true labels and the classifier's errors. A topic with "
           "a high error rate is a kind of text the model has not learnt.")

widgets.keep_widgets("bl.w.top.")
choice = widgets.workspace_dataset()
d = TopicsParams()
for key, value in (("n", N_DEFAULT), ("method", d.method), ("auto", True), ("k", 6), ("top_n", d.top_n),
                   ("umap", d.reduce == "umap"), ("rerank", d.rerank), ("map", TOPIC_MAPS[0]), ("highlight", False)):
    st.session_state.setdefault(f"bl.w.top.{key}", value)

c1, c2, c3 = st.columns([3, 1, 2], gap="medium")
ref = widgets.page_model_picker("bl.w.top.model", [*widgets.model_options(), *cached.multitask_task_refs()],
                               container=c1, help="Starts as (and follows) the Workspace model. Its pooled embeddings "
                               "are clustered; with a classification head, its errors are counted per cluster.")
widgets.selection_sidebar(ref, choice)
n = int(c2.number_input("Texts", min_value=N_RANGE[0], max_value=N_RANGE[1], step=50, key="bl.w.top.n",
                        help="Drawn by the Workspace seed; from the held-out test split when the model was trained "
                             "on this dataset."))
method = c3.selectbox("Clustering", list(TITLES), key="bl.w.top.method", format_func=TITLES.get,
                      help="k-means and agglomerative (Ward) take a number of clusters; HDBSCAN finds its own and "
                           "leaves texts in no dense region as noise. All work on L2-normalised embeddings "
                           "(cosine geometry).")
own_k = not CLUSTERING[method].takes_k
d1, d2, d3, d4, d5 = st.columns([1.2, 1, 1.3, 1.3, 1.3], gap="medium", vertical_alignment="bottom")
auto = d1.toggle("Auto clusters", key="bl.w.top.auto", disabled=own_k,
                 help="Choose the number of clusters by the best silhouette over k = 2 … min(12, n / 10); "
                      "off: use the number beside it.")
k_fixed = int(d2.number_input("Clusters", min_value=2, max_value=100, step=1, key="bl.w.top.k", disabled=auto or own_k,
                              help="Used when the number is not chosen automatically (k-means, agglomerative)."))
top_n = int(d3.slider("Topic words", 3, 20, key="bl.w.top.top_n", help="Words listed per cluster."))
umap_first = d4.toggle("UMAP first", key="bl.w.top.umap", help="Reduce the embeddings to 5 dimensions with UMAP "
                       "(cosine) before clustering, as BERTopic does; slower, often tighter clusters.")
rerank = d5.toggle("KeyBERT re-rank", key="bl.w.top.rerank", help="Re-order each cluster's 30 best c-TF-IDF words by "
                   "how close their own embedding is to the cluster's centre (KeyBERTInspired); embeds the candidate "
                   "words, a few seconds more.")
params = TopicsParams(method=method, n_clusters=None if auto or own_k else k_fixed, top_n=top_n, rerank=rerank,
                      reduce="umap" if umap_first else "none")

if not widgets.confirm_gate(("topics", ref, choice, n), f"The model embeds the {n:,} texts (from seconds to a "
                            "minute on a 2-core CPU the first time, cached on disk afterwards); clustering and naming "
                            "take a few seconds, so other settings then answer quickly.", "Find the topics",
                            widget_key="bl.w.top-go.run"):
    st.stop()
with user_errors():
    res = cached.topics(ref, choice, n, params)
names, texts, rows = topic_names(res), res.sample.texts, res.rows
report_draft.add_button("topics", {"model": ref, "dataset": choice.ref, "n": n, "method": method,
                                   "clusters": params.n_clusters, "top_n": params.top_n, "rerank": params.rerank,
                                   "reduce": params.reduce, "map": st.session_state.get("bl.w.top.map")},
                        page="Topics", key="topics.clusters")

views.show_headline(res, method, own_k)
if res.k == 0:
    st.stop()
map_box = st.container()
st.subheader("The clusters")
views.show_clusters(res)
# ------------------------------------------------------------------------------ texts of one cluster
st.subheader("Texts of one cluster")
if st.session_state.get("bl.w.top.cluster") not in range(res.k):
    st.session_state["bl.w.top.cluster"] = 0
cid = int(st.selectbox("Cluster", list(range(res.k)), key="bl.w.top.cluster", format_func=lambda c: names[c],
                       help="Its texts are listed below and highlighted on the map."))
views.show_cluster_texts(res, cid, names, model_ref=ref, choice=choice)

# ------------------------------------------------------------------------------ the map (drawn above the table)
with map_box:
    c1, c2 = st.columns([4, 1], vertical_alignment="top")
    if st.session_state.get("bl.w.top.map") not in TOPIC_MAPS:
        st.session_state["bl.w.top.map"] = TOPIC_MAPS[0]
    how = c2.radio("Map", TOPIC_MAPS, key="bl.w.top.map", format_func=cached.METHOD_NAMES.get,
                   help="How the embeddings are drawn in 2-D (cosine for UMAP and t-SNE); the clusters were found "
                        "in the full embedding space, not on this map.")
    only = c2.toggle("Highlight", key="bl.w.top.highlight",
                     help="Draw the cluster chosen under “Texts of one cluster” in full and fade the others.")
    with user_errors():
        points = cached.topic_map(ref, choice, n, how)
    if len(points) == res.n:
        widgets.show_chart(topic_map_chart(
            np.asarray(points), res, texts, true=rows.true, predicted=rows.predicted, highlight=cid if only else None,
            rows=res.sample.indices,
            width=560, height=440, title=f"{res.k} {TITLES[method]} clusters of {res.n:,} texts · {ref}",
            subtitle=f"{cached.METHOD_NAMES[how]} of the pooled embeddings; colour = cluster, marked at its centre by "
                     "its number and best word. Hover a point for its text."), container=c1)
    k_scores = (" · silhouette by k: " + ", ".join(f"{kk}: {v:.3f}" for kk, v in res.k_scores.items())
                if res.k_scores else "")
    st.caption(f"**How it was computed:** {res.n:,} texts {res.sample.note} · {TITLES[method]} on the L2-normalised "
               f"pooled embeddings{' after UMAP to 5 dimensions' if params.reduce == 'umap' else ''}{k_scores} · "
               f"topic words by c-TF-IDF (English stop words removed)"
               f"{', re-ranked KeyBERT-style' if params.rerank else ''} · {res.seconds:.1f} s.")
