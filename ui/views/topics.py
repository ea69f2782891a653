"""The Topics page's result panels: headline numbers, the clusters with their labels and errors, one cluster's texts."""
from __future__ import annotations

import pandas as pd
import streamlit as st

from core.analyses.transformer.topics import CLUSTERING, TopicsResult
from figures.topics import mix_text, topic_error_chart, topic_label_chart
from ui import state, widgets
from ui.state import DatasetChoice

TITLES = CLUSTERING.titles()


def show_headline(res: TopicsResult, method: str, own_k: bool) -> None:
    """Clusters, silhouette, error rate and the worst cluster (or the noise), then the result's notes."""
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


def show_clusters(res: TopicsResult) -> None:
    """The table of clusters (size, error rate, words, label and prediction mix) and the cluster × label and
    error-rate charts."""
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
        widgets.show_chart(topic_label_chart(res, cell=44), container=left, fit=True)
    else:
        left.info("The dataset has no labels, so there is no cluster × label table.", icon=":material/info:")
    if any(t.error_rate is not None for t in res.topics):
        widgets.show_chart(topic_error_chart(res), container=right, fit=True)
    else:
        right.info("No error rates: the model has no classification head or its labels are not the dataset's.",
                   icon=":material/info:")


def show_cluster_texts(res: TopicsResult, cid: int, names: list[str], *, model_ref: str, choice: DatasetChoice
                       ) -> None:
    """The texts of cluster ``cid`` (the most typical first) with their labels, and "Open in Saliency" for one."""
    texts, rows = res.sample.texts, res.rows
    ref = model_ref
    topic = res.topics[cid]
    near = list(topic.example_indices)
    order = near + [int(i) for i in topic.members if int(i) not in near]
    pairs, predicted = res.sample.text_pairs, rows.predicted
    index = res.sample.indices
    frame = pd.DataFrame({"row": [int(index[i]) for i in order], "text": [texts[i] for i in order],
                          **({"second text": [pairs[i] for i in order]} if pairs is not None else {}),
                          "true": [rows.true[i] for i in order],
                          **({"predicted": [predicted[i] for i in order], "correct": [rows.correct[i] for i in order],
                              "confidence": [float(rows.confidence[i]) for i in order]} if predicted is not None else {})})
    st.caption(f"{topic.size} texts; the first {len(near)} are the nearest to the cluster's centre (its most typical "
               "texts)." + ("" if topic.error_rate is None else f" Error rate {topic.error_rate:.0%} of "
                                                                    f"{topic.n_scored} labelled texts."))
    st.dataframe(frame, hide_index=True, column_config={
        **widgets.text_columns(true="true"), "correct": st.column_config.TextColumn("Correct?", width="small")})
    if predicted is not None:
        o1, o2 = st.columns([5, 1], vertical_alignment="bottom")
        wrong_first = sorted(order, key=lambda i: rows.correct[i] != "wrong")
        if st.session_state.get("bl.top.focus_row") not in wrong_first:
            st.session_state["bl.top.focus_row"] = wrong_first[0]
        row = o1.selectbox("Text to explain", wrong_first, key="bl.top.focus_row",
                           format_func=lambda i: f"dataset row {int(index[i])} · {rows.correct[i]} · "
                                                 f"{widgets.one_line(texts[i], 90)}",
                           help="Wrong predictions first.")
        if o2.button("Open in Saliency", icon=":material/highlight:", key="bl.top-go.saliency",
                     help="Makes this text the focus text and this model the selected model, then opens the Saliency "
                          "page."):
            widgets.open_in_saliency(state.FocusText(
                text=texts[row], model_ref=ref, dataset=choice, text_pair=pairs[row] if pairs is not None else None,
                index=int(res.sample.indices[row]), label=None if rows.true[row] == "—" else rows.true[row],
                prediction=predicted[row], confidence=float(rows.confidence[row]),
                source=f"Topics page (cluster {names[cid]})"))

