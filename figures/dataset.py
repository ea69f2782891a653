"""Charts of a dataset and of a classifier's evaluation (Workspace page, overview section).
"""
from __future__ import annotations

import altair as alt
import numpy as np
import pandas as pd
from core.data.datasets import DatasetStats
from core.models.evaluate import EvaluationResult
from figures.style import PALETTE, _theme


def confusion_matrix_chart(ev: EvaluationResult, *, normalize: bool = True, width: int = 320) -> alt.Chart:
    """Heatmap of the confusion matrix: rows true labels, columns predictions; cells show counts."""
    cm = ev.confusion_matrix.astype(float)
    rows = cm.sum(1, keepdims=True)
    share = np.divide(cm, rows, out=np.zeros_like(cm), where=rows > 0)
    recs = [{"true": ev.labels[i], "predicted": ev.labels[j], "count": int(cm[i, j]),
             "share": float(share[i, j])} for i in range(len(ev.labels)) for j in range(len(ev.labels))]
    df = pd.DataFrame(recs)
    order = list(ev.labels)
    base = alt.Chart(df).encode(
        x=alt.X("predicted:N", sort=order, title="Predicted label", axis=alt.Axis(labelAngle=-35)),
        y=alt.Y("true:N", sort=order, title="True label"),
    )
    value = "share" if normalize else "count"
    rect = base.mark_rect(stroke="white").encode(
        color=alt.Color(f"{value}:Q", scale=alt.Scale(scheme="blues", domain=[0, 1] if normalize else None),
                        title="Share of row" if normalize else "Count",
                        legend=alt.Legend(orient="bottom", direction="horizontal", gradientLength=160, titleLimit=0,
                                          format=".0%" if normalize else "d")),
        tooltip=["true", "predicted", "count", alt.Tooltip("share:Q", format=".1%")],
    )
    text = base.mark_text(fontSize=11).encode(
        text=alt.Text("count:Q"),
        color=alt.condition(alt.datum.share > 0.5, alt.value("white"), alt.value("black")),
    )
    title = f"Confusion matrix ({ev.split} split, n = {ev.n}, accuracy {ev.accuracy:.1%})"
    return _theme((rect + text).properties(width=width, height=width, title=title))


def label_balance_chart(stats: DatasetStats, *, width: int = 320) -> alt.Chart:
    df = pd.DataFrame({"label": list(stats.label_names), "count": list(stats.label_counts)})
    df["share"] = df["count"] / max(1, df["count"].sum())
    top = max(1, int(df["count"].max()))
    bars = alt.Chart(df).mark_bar(color=PALETTE[0]).encode(  # headroom past the longest bar for its share label
        x=alt.X("count:Q", title="Examples", scale=alt.Scale(domain=[0, top * 1.22], nice=False),
                axis=alt.Axis(tickCount=4, labelOverlap=True, format="~s")),
        y=alt.Y("label:N", sort=list(stats.label_names), title=None),
        tooltip=["label", "count", alt.Tooltip("share:Q", format=".1%")],
    )
    text = bars.mark_text(align="left", dx=3, fontSize=11, color="black").encode(text=alt.Text("share:Q", format=".0%"))
    return _theme((bars + text).properties(width=width, height=max(60, 24 * len(df)), title="Label balance"))


def length_histogram_chart(stats: DatasetStats, *, width: int = 320, bins: int = 30) -> alt.Chart:
    """Histogram of text lengths in words, binned here (not in Vega), so a dataset of any size embeds as at most
    ``bins`` rows."""
    lw = np.asarray(stats.length_words, dtype=float)
    counts, edges = np.histogram(lw, bins=min(bins, max(1, len(np.unique(lw)))) if len(lw) else 1)
    df = pd.DataFrame({"start": edges[:-1], "end": edges[1:], "texts": counts})
    chart = alt.Chart(df).mark_bar(color=PALETTE[2], binSpacing=1).encode(
        x=alt.X("start:Q", bin="binned", title="Text length (words)"), x2="end:Q",
        y=alt.Y("texts:Q", title="Texts"),
        tooltip=[alt.Tooltip("start:Q", title="from", format=".0f"), alt.Tooltip("end:Q", title="to", format=".0f"),
                 alt.Tooltip("texts:Q")],
    )
    med = alt.Chart(pd.DataFrame({"median": [float(np.median(lw))]})).mark_rule(
        color="black", strokeDash=[4, 3]).encode(x="median:Q")
    return _theme((chart + med).properties(width=width, height=180,
                                           title=f"Text lengths (median {np.median(lw):.0f} words, dashed)"))


def per_class_table(ev: EvaluationResult) -> pd.DataFrame:
    return pd.DataFrame(list(ev.per_class)).set_index("label")
