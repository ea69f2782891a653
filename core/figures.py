"""Altair charts built from result dataclasses; shared by dashboard pages and reports.

Charts never compute analysis results themselves: they take the frozen results of
``core`` and lay them out. ``to_svg`` renders any chart to a vector SVG (vl-convert)
for reports.
"""
from __future__ import annotations

from typing import Sequence

import altair as alt
import numpy as np
import pandas as pd

from core.data import DatasetStats
from core.evaluate import EvaluationResult

# Colour-blind-safe categorical palette (Okabe–Ito), also distinguishable in grey scale by order.
PALETTE = ["#0072B2", "#E69F00", "#009E73", "#CC79A7", "#56B4E9", "#D55E00", "#F0E442", "#000000"]
FONT = "DejaVu Sans"


def _theme(chart: alt.Chart) -> alt.Chart:
    return chart.configure_axis(labelFont=FONT, titleFont=FONT, labelFontSize=11, titleFontSize=12) \
        .configure_legend(labelFont=FONT, titleFont=FONT) \
        .configure_title(font=FONT, fontSize=13, anchor="start") \
        .configure_view(strokeWidth=0)


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
                        title="Share of row" if normalize else "Count"),
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
    bars = alt.Chart(df).mark_bar(color=PALETTE[0]).encode(
        x=alt.X("count:Q", title="Examples"),
        y=alt.Y("label:N", sort=list(stats.label_names), title=None),
        tooltip=["label", "count", alt.Tooltip("share:Q", format=".1%")],
    )
    text = bars.mark_text(align="left", dx=3, fontSize=11, color="black").encode(text=alt.Text("share:Q", format=".0%"))
    return _theme((bars + text).properties(width=width, height=max(60, 24 * len(df)), title="Label balance"))


def length_histogram_chart(stats: DatasetStats, *, width: int = 320, bins: int = 30) -> alt.Chart:
    lw = stats.length_words
    df = pd.DataFrame({"words": lw})
    chart = alt.Chart(df).mark_bar(color=PALETTE[2]).encode(
        x=alt.X("words:Q", bin=alt.Bin(maxbins=bins), title="Text length (words)"),
        y=alt.Y("count():Q", title="Texts"),
    )
    med = alt.Chart(pd.DataFrame({"median": [float(np.median(lw))]})).mark_rule(
        color="black", strokeDash=[4, 3]).encode(x="median:Q")
    return _theme((chart + med).properties(width=width, height=180,
                                           title=f"Text lengths (median {np.median(lw):.0f} words, dashed)"))


def per_class_table(ev: EvaluationResult) -> pd.DataFrame:
    return pd.DataFrame(list(ev.per_class)).set_index("label")


def to_svg(chart: alt.Chart) -> str:
    """A standalone SVG string (fonts as text, no remote resources)."""
    import vl_convert as vlc

    return vlc.vegalite_to_svg(chart.to_dict())


def to_png(chart: alt.Chart, *, scale: float = 2.0) -> bytes:
    import vl_convert as vlc

    return vlc.vegalite_to_png(chart.to_dict(), scale=scale)


def categorical_colors(names: Sequence[str]) -> dict[str, str]:
    return {n: PALETTE[i % len(PALETTE)] for i, n in enumerate(names)}
