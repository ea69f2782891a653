"""Topics: clusters of a model's embeddings, named by their most distinctive words (c-TF-IDF, as in BERTopic), with
the true labels and the classifier's errors per cluster."""
import numpy as np
import pandas as pd
import streamlit as st

from core.analyses.transformer.topics import CLUSTERING, TOPIC_MAPS, TopicsParams
from figures.topics import mix_text, topic_error_chart, topic_label_chart, topic_map_chart, topic_names
from ui import cached, report_draft, state, widgets
from ui.errors import user_errors

N_RANGE, N_DEFAULT = (10, 5000), 300
TITLES = CLUSTERING.titles()

st.title("Topics")
st.caption("What are the texts about, and where does the classifier go wrong? The model's pooled embeddings of the "
           "texts are clustered; each cluster is named by the words that set its texts apart from the other clusters "
           "(**c-TF-IDF**, as in BERTopic), and crossed with the true labels and the classifier's errors. A topic with "
           "a high error rate is a kind of text the model has not learnt.")

widgets.keep_widgets("bl.w.top.")
choice = widgets.dataset_selection()
options = widgets.model_options() + cached.multitask_task_refs()
current = state.current_model_ref()
st.session_state.setdefault("bl.w.top.model", current if current in options else options[0])
if st.session_state["bl.w.top.model"] not in options:
    st.session_state["bl.w.top.model"] = options[0]
d = TopicsParams()
for key, value in (("n", N_DEFAULT), ("method", d.method), ("auto", True), ("k", 6), ("top_n", d.top_n),
                   ("umap", d.reduce == "umap"), ("rerank", d.rerank), ("map", TOPIC_MAPS[0]), ("highlight", False)):
    st.session_state.setdefault(f"bl.w.top.{key}", value)

c1, c2, c3 = st.columns([3, 1, 2], gap="medium")
ref = c1.selectbox("Model", options, key="bl.w.top.model", format_func=lambda r: widgets.MODEL_LABELS.get(r, r),
                   help="Its pooled embeddings are clustered; with a classification head, its errors are counted "
                        "per cluster.")
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

# ------------------------------------------------------------------------------ headline numbers
m = st.columns(4)
m[0].metric("Clusters", f"{res.k}", border=True,
            help=(f"Chosen by the best silhouette over k = {min(res.k_scores)} … {max(res.k_scores)}."
                  if res.k_scores else "As asked." if not own_k else f"Found by {TITLES[method]}."))
m[1].metric("Silhouette", "–" if res.silhouette is None else f"{res.silhouette:.3f}", border=True,
            help="How compact and apart the clusters are (−1 … 1), in the space that was clustered.")
m[2].metric("Error rate, all texts", "–" if res.error_rate is None else f"{res.error_rate:.1%}", border=True,
            help="Share of the labelled texts the classifier predicts wrongly; compare each cluster with it.")
if res.has_noise:
    m[3].metric("Noise", f"{res.noise} of {res.n}", border=True, help=f"Texts {TITLES[method]} put in no cluster.")
else:
    worst = max((t for t in res.topics if t.error_rate is not None), key=lambda t: t.error_rate, default=None)
    m[3].metric("Worst cluster", "–" if worst is None else f"#{worst.id}: {worst.error_rate:.0%}", border=True,
                help="The cluster with the highest error rate." if worst is None else
                f"{', '.join(worst.words[:5])} ({worst.size} texts).")
for note in res.notes:
    st.info(note, icon=":material/info:")
if res.k == 0:
    st.stop()
map_box = st.container()

# ------------------------------------------------------------------------------ the clusters
st.subheader("The clusters")
st.dataframe(pd.DataFrame([{"cluster": f"#{t.id}", "size": t.size, "error": t.error_rate, "words": ", ".join(t.words),
                            "labels": mix_text(t.label_mix), "predicted": mix_text(t.prediction_mix),
                            "confidence": t.confidence} for t in res.topics]), hide_index=True, column_config={
    "cluster": st.column_config.TextColumn("Cluster", width="small"),
    "size": st.column_config.NumberColumn("Texts", width="small"),
    "words": st.column_config.TextColumn("Top words", width="large", help="By c-TF-IDF" + (
        ", re-ranked by similarity to the cluster's centre" if res.rerank else "") + "; best first."),
    "labels": st.column_config.TextColumn("True labels", width="medium", help="Share of the cluster's texts"),
    "predicted": st.column_config.TextColumn("Predicted", width="medium", help="Share of the cluster's texts"),
    "error": st.column_config.ProgressColumn("Error rate", format="percent", min_value=0.0, max_value=1.0,
                                             width="small", help="Of the cluster's labelled texts"),
    "confidence": st.column_config.NumberColumn("Mean confidence", format="percent", width="small")})
left, right = st.columns(2, gap="large")
if res.label_names:
    widgets.show_chart(topic_label_chart(res, cell=56), container=left)
else:
    left.info("The dataset has no labels, so there is no cluster × label table.", icon=":material/info:")
if any(t.error_rate is not None for t in res.topics):
    widgets.show_chart(topic_error_chart(res, width=260), container=right)
else:
    right.info("No error rates: the model has no classification head or its labels are not the dataset's.",
               icon=":material/info:")

# ------------------------------------------------------------------------------ texts of one cluster
st.subheader("Texts of one cluster")
if st.session_state.get("bl.w.top.cluster") not in range(res.k):
    st.session_state["bl.w.top.cluster"] = 0
cid = int(st.selectbox("Cluster", list(range(res.k)), key="bl.w.top.cluster", format_func=lambda c: names[c],
                       help="Its texts are listed below and highlighted on the map."))
topic = res.topics[cid]
near = list(topic.example_indices)
order = near + [int(i) for i in topic.members if int(i) not in near]
pairs, predicted = res.sample.text_pairs, rows.predicted
frame = pd.DataFrame({"row": order, "text": [texts[i] for i in order],
                      **({"second text": [pairs[i] for i in order]} if pairs is not None else {}),
                      "true": [rows.true[i] for i in order],
                      **({"predicted": [predicted[i] for i in order], "correct": [rows.correct[i] for i in order],
                          "confidence": [float(rows.confidence[i]) for i in order]} if predicted is not None else {})})
st.caption(f"{topic.size} texts; the first {len(near)} are the nearest to the cluster's centre (its most typical "
           "texts)." + ("" if topic.error_rate is None else f" Error rate {topic.error_rate:.0%} of "
                                                                f"{topic.n_scored} labelled texts."))
st.dataframe(frame, hide_index=True, column_config={
    "row": st.column_config.NumberColumn("Row", width="small", help="Position in the sample"),
    "text": st.column_config.TextColumn("Text", width="large"),
    "true": st.column_config.TextColumn("True label", width="small"),
    "predicted": st.column_config.TextColumn("Predicted", width="small"),
    "correct": st.column_config.TextColumn("Correct?", width="small"),
    "confidence": st.column_config.ProgressColumn("Confidence", format="percent", min_value=0.0, max_value=1.0,
                                                  width="small")})
if predicted is not None:
    o1, o2 = st.columns([5, 1], vertical_alignment="bottom")
    wrong_first = sorted(order, key=lambda i: rows.correct[i] != "wrong")
    if st.session_state.get("bl.top.focus_row") not in wrong_first:
        st.session_state["bl.top.focus_row"] = wrong_first[0]
    row = o1.selectbox("Text to explain", wrong_first, key="bl.top.focus_row",
                       format_func=lambda i: f"row {i} · {rows.correct[i]} · {widgets.one_line(texts[i], 90)}",
                       help="Wrong predictions first.")
    if o2.button("Open in Saliency", icon=":material/highlight:", key="bl.top-go.saliency",
                 help="Makes this text the focus text and this model the selected model, then opens the Saliency "
                      "page."):
        widgets.open_in_saliency(state.FocusText(
            text=texts[row], model_ref=ref, dataset=choice, text_pair=pairs[row] if pairs is not None else None,
            index=int(res.sample.indices[row]), label=None if rows.true[row] == "—" else rows.true[row],
            prediction=predicted[row], confidence=float(rows.confidence[row]),
            source=f"Topics page (cluster {names[cid]})"))

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
            np.asarray(points), res, texts, true=rows.true, predicted=predicted, highlight=cid if only else None,
            width=560, height=440, title=f"{res.k} {TITLES[method]} clusters of {res.n:,} texts · {ref}",
            subtitle=f"{cached.METHOD_NAMES[how]} of the pooled embeddings; colour = cluster, marked at its centre by "
                     "its number and best word. Hover a point for its text."), container=c1)
    k_scores = (" · silhouette by k: " + ", ".join(f"{kk}: {v:.3f}" for kk, v in res.k_scores.items())
                if res.k_scores else "")
    st.caption(f"**How it was computed:** {res.n:,} texts {res.sample.note} · {TITLES[method]} on the L2-normalised "
               f"pooled embeddings{' after UMAP to 5 dimensions' if params.reduce == 'umap' else ''}{k_scores} · "
               f"topic words by c-TF-IDF (English stop words removed)"
               f"{', re-ranked KeyBERT-style' if params.rerank else ''} · {res.seconds:.1f} s.")
