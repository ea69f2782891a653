"""The Corpus page's result panels, all from the aggregates: headline numbers, the confidence and entropy
histograms, the per-class table with class tokens, and the texts that raised."""
from __future__ import annotations

import pandas as pd
import streamlit as st

from figures.corpus import outcome_histogram_chart
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
    rate = run.get("texts_per_second")
    st.caption(f"{run['batches']:,} batches of {run['batch_size']} texts on the {run['engine']} engine: "
               f"{run['computed_batches']:,} computed now, {run['cached_batches']:,} read from the cache"
               + (f", {rate:,.1f} texts/s" if rate else "") + f". Aggregates: `{run['aggregates']}`")


def show_histograms(view: CorpusView) -> None:
    quantities = [q for q in ("confidence", "entropy") if any(r[0] == q for r in view.aggregates.histograms)]
    for col, q in zip(st.columns(max(len(quantities), 1)), quantities):
        col.altair_chart(outcome_histogram_chart(view.aggregates, q, width=380, height=200))


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
