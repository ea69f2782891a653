"""The Corpus page's result panels, all from the aggregates: headline numbers, the confidence and entropy
histograms, the per-class table with class tokens, and the texts that raised."""
from __future__ import annotations

from typing import Callable

import pandas as pd
import streamlit as st

from figures.corpus import (DENSITY_MODES, corpus_games_chart, density_chart, layer_separation_chart,
                            outcome_histogram_chart)
from ui.cached.corpus import CorpusView


def show_headline(view: CorpusView) -> None:
    """Texts, accuracy, confidence, entropy; then where the batches came from."""
    s, run = view.aggregates.summary, view.run
    m = st.columns(4)
    m[0].metric("Texts audited", f"{int(s['texts']):,}", border=True,
                help=f"{int(s['failed']):,} raised and were skipped. {view.texts_note}")
    m[1].metric("Accuracy", "–" if s.get("accuracy") is None else f"{s['accuracy']:.1%}", border=True,
                help="On the labelled texts (needs the predict job and labels the model knows).")
    m[2].metric("Mean confidence", "–" if s.get("mean_confidence") is None else f"{s['mean_confidence']:.1%}",
                border=True, help="Probability of the predicted class.")
    auroc = s.get("auroc_entropy_error")
    m[3].metric("Mean attribution entropy", "–" if s.get("mean_entropy") is None else f"{s['mean_entropy']:.2f}",
                border=True, help="Integrated-gradients entropy, 0 = one token … 1 = even"
                + ("" if auroc is None else f"; AUROC for errors {auroc:.2f}") + ".")
    for note in run.get("notes") or ():
        st.warning(note, icon=":material/info:")
    rate = run.get("texts_per_second")
    st.caption(f"{run['batches']:,} batches of {run['batch_size']} texts on the {run['engine']} engine: "
               f"{run['computed_batches']:,} computed now, {run['cached_batches']:,} read from the cache"
               + (f", {rate:,.1f} texts/s" if rate else "") + f". Aggregates: `{run['aggregates']}`")


def show_histograms(view: CorpusView) -> None:
    quantities = [q for q in ("confidence", "entropy", "saliency_entropy")
                  if any(r[0] == q for r in view.aggregates.histograms)]
    for col, q in zip(st.columns(max(len(quantities), 1)), quantities):
        col.altair_chart(outcome_histogram_chart(view.aggregates, q, width=380, height=200))


def show_explaining(view: CorpusView) -> None:
    """The saliency, games and attack jobs' aggregates: the mean games curves, the attack per class."""
    agg, s = view.aggregates, view.aggregates.summary
    if agg.games:
        st.subheader("Faithfulness games")
        st.altair_chart(corpus_games_chart(agg, width=260, height=190))
        st.caption("Mean accuracy as the most salient tokens are hidden (left) or revealed (right), against a random "
                   "order: a faithful method falls faster when hiding and rises faster when revealing.")
    if agg.attack_per_class:
        st.subheader("Attack")
        rate = s.get("attack_success_rate_correct")
        rate = s.get("attack_success_rate") if rate is None else rate
        if rate is not None:
            st.metric("Success rate", f"{rate:.1%}", border=True,
                      help="Share of the texts the model gets right whose prediction the attack flips.")
        st.dataframe(pd.DataFrame([{"class": lab, "texts": k, "flipped": f, "success": r, "words changed": e}
                                   for lab, k, f, r, e in agg.attack_per_class]), hide_index=True,
                     column_config={"success": st.column_config.NumberColumn(format="percent")})


def show_layers(view: CorpusView) -> None:
    """Per-layer class separation over the corpus (the embed job with every layer kept)."""
    rows = view.aggregates.layers
    if rows:
        st.subheader("Layers")
        st.altair_chart(layer_separation_chart(rows, width=520, height=220))
        st.caption("Each layer's texts are given the class whose mean (unit-normalised) pooled state is nearest; "
                   "the Fisher ratio (tooltip) is between-class over within-class scatter per degree of freedom.")


def show_classes(view: CorpusView) -> None:
    agg = view.aggregates
    rows = [{"class": lab, "true": t, "predicted": pr, "recall": c / t if t else None,
             "mean confidence": mc, "words": ", ".join(w for w, _ in agg.words(lab))}
            for lab, t, pr, c, mc, _ in agg.per_class]
    if not rows and agg.class_tokens:
        rows = [{"class": lab, "words": ", ".join(w for w, _ in agg.words(lab))} for lab in agg.label_names]
    if rows:
        st.dataframe(pd.DataFrame(rows), hide_index=True,
                     column_config={"recall": st.column_config.NumberColumn(format="percent"),
                                    "mean confidence": st.column_config.NumberColumn(format="percent")})


def show_failures(view: CorpusView) -> None:
    fails = view.aggregates.failures
    if fails:
        st.warning(f"{len(fails):,} texts raised and were skipped (never counted):", icon=":material/warning:")
        st.dataframe(pd.DataFrame([{"row": f.row, "text": f.text, "error": f.error} for f in fails]),
                     hide_index=True)


def show_map(view: CorpusView, region: "Callable[[tuple[float, float], tuple[float, float], str | None], tuple[pd.DataFrame, int]]") -> None:
    """The corpus density map (colour mode, box selection → that region's texts) and the cluster × error table.
    ``region(x, y, outcome)``: the texts in a box of the map and their count."""
    from ui import widgets

    d = view.aggregates.density
    if d is None:
        return
    st.subheader("Corpus map")
    c = d.checks
    st.caption(f"{int(c['landmarks']):,} landmarks laid out by DeepView; each of the {int(c['placed']):,} texts is "
               f"placed on their map by the {d.method}. Fidelity: Q_data {c['map_q_data']:.1%} on the landmarks, "
               + ("" if c.get("placed_q_data") is None else f"{c['placed_q_data']:.1%} on the placed texts, ")
               + f"{c['loo_q_data']:.1%} for landmarks placed from the others (median shift "
               f"{c['loo_median_shift']:.2f} landmark spacings). Draw a box to read that region's texts.")
    left, right = st.columns([3, 1], gap="medium")
    mode = right.radio("Show", DENSITY_MODES, key="bl.w.cor.map_mode",
                       help="all texts: colour = most predicted class, opacity = number of texts (log); wrong "
                            "predictions: the same for errors only; error rate: wrong / labelled per cell.")
    only = right.selectbox("Texts listed", ("all", "wrong", "correct", "unlabelled"), key="bl.w.cor.map_only")
    sel = widgets.show_selectable_chart(density_chart(d, view.aggregates.label_names, mode=mode, selectable=True,
                                                      width=600, height=500),
                                        key="bl.cor-map.chart", selection_mode=["brush"], container=left)
    brush = sel.get("brush") or {}
    if isinstance(brush, dict) and len(brush.get("x") or ()) == 2 and len(brush.get("y") or ()) == 2:
        frame, total = region(tuple(brush["x"]), tuple(brush["y"]), None if only == "all" else only)
        st.markdown(f"**{total:,} texts in the box**" + (f" — the {len(frame):,} least confident:" if total > len(frame)
                                                          else ":"))
        st.dataframe(frame, hide_index=True, width="stretch", height=300,
                     column_config={"confidence": st.column_config.NumberColumn(format="percent"),
                                    "text": st.column_config.TextColumn(width="large")})
    else:
        right.caption("Draw a box on the map to list its texts.")
    st.markdown("**Clusters × errors** — k-means on the landmarks' embeddings, every text assigned to its nearest "
                "centroid; lift = the cluster's error rate over the corpus's.")
    rows = [{"cluster": r[0], "texts": r[1], "wrong": r[3], "accuracy": r[4], "share of errors": r[5], "lift": r[6],
             "mostly true": r[7], "mostly predicted": r[8], "words": r[12]}
            for r in sorted(d.clusters, key=lambda r: -(r[6] or 0))]
    st.dataframe(pd.DataFrame(rows), hide_index=True, width="stretch",
                 column_config={"accuracy": st.column_config.NumberColumn(format="percent"),
                                "share of errors": st.column_config.NumberColumn(format="percent"),
                                "lift": st.column_config.NumberColumn(format="%.2f×")})
