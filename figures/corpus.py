"""Charts of a corpus audit's aggregates (:class:`core.analyses.corpus.aggregates.CorpusAggregates`): never rows."""
from __future__ import annotations

from typing import TYPE_CHECKING, Sequence

import altair as alt
import numpy as np
import pandas as pd

from figures.style import PALETTE, _theme

if TYPE_CHECKING:  # pragma: no cover
    from core.analyses.corpus.aggregates import CorpusAggregates
    from core.analyses.corpus.density import CorpusDensity

OUTCOME_COLORS = {"correct": "#0072B2", "wrong": "#D55E00", "unlabelled": "#999999"}
QUANTITY_TITLES = {"confidence": "confidence (probability of the predicted class)",
                   "entropy": "attribution entropy (normalised, 0 = one token, 1 = even)",
                   "saliency_entropy": "saliency entropy (normalised, 0 = one token, 1 = even)",
                   "saliency_top_share": "top token's share of the saliency"}


def outcome_histogram_chart(agg: "CorpusAggregates", quantity: str, *, width: int = 420, height: int = 170,
                            title: str = "", subtitle: str = "") -> alt.Chart:
    """Stacked bars: texts per bin of ``quantity`` ("confidence" or "entropy"), coloured by correct / wrong /
    unlabelled."""
    rows = [r for r in agg.histograms if r[0] == quantity]
    df = pd.DataFrame(rows, columns=["quantity", "outcome", "low", "high", "count"])
    outcomes = [o for o in OUTCOME_COLORS if o in set(df["outcome"])]
    chart = alt.Chart(df).mark_bar(stroke="white", strokeWidth=0.5).encode(
        x=alt.X("low:Q", bin="binned", title=QUANTITY_TITLES.get(quantity, quantity), scale=alt.Scale(domain=[0, 1])),
        x2="high:Q",
        y=alt.Y("sum(count):Q", title="texts", stack="zero"),
        color=alt.Color("outcome:N", title="prediction", sort=outcomes,
                        scale=alt.Scale(domain=outcomes, range=[OUTCOME_COLORS[o] for o in outcomes])),
        order=alt.Order("outcome:N"),
        tooltip=["outcome:N", alt.Tooltip("low:Q", format=".2f"), alt.Tooltip("high:Q", format=".2f"), "count:Q"],
    ).properties(width=width, height=height, title=alt.TitleParams(title, subtitle=subtitle) if title else "")
    return _theme(chart)


DENSITY_MODES = ("all texts", "wrong predictions", "error rate")


def density_frame(d: "CorpusDensity", label_names: Sequence[str], *, mode: str = "all texts",
                  min_texts: int = 5) -> pd.DataFrame:
    """One row per non-empty density cell: x, x2, y, y2 (map coordinates), texts, wrong, labelled, error_rate,
    top (the most frequent predicted class among the counted texts), share (of the counted texts in the busiest
    cell, 0…1, log scale) and counted (texts counted under ``mode``; cells under ``min_texts`` labelled texts are
    left out of "error rate")."""
    if mode not in DENSITY_MODES:
        raise ValueError(f"mode must be one of {DENSITY_MODES}")
    c = d.counts  # (3, C, g, g): correct, wrong, unlabelled
    per_class = c[1] if mode == "wrong predictions" else c.sum(0)  # (C, g, g)
    texts, wrong, labelled = c.sum((0, 1)), c[1].sum(0), c[:2].sum((0, 1))
    counted = per_class.sum(0)
    keep = (counted > 0) if mode != "error rate" else (labelled >= min_texts)
    gy, gx = np.nonzero(keep)
    g = d.grid
    x0, x1, y0, y1 = d.extent
    w, h = (x1 - x0) / g, (y1 - y0) / g
    names = list(label_names)
    top = per_class[:, gy, gx].argmax(0) if len(gy) else np.zeros(0, np.int64)
    cnt = counted[gy, gx].astype(float)
    share = np.log1p(cnt) / np.log1p(cnt.max()) if len(cnt) and cnt.max() > 0 else cnt
    rate = np.divide(wrong[gy, gx], labelled[gy, gx], out=np.full(len(gy), np.nan), where=labelled[gy, gx] > 0)
    return pd.DataFrame({"x": x0 + gx * w, "x2": x0 + (gx + 1) * w, "y": y0 + gy * h, "y2": y0 + (gy + 1) * h,
                         "texts": texts[gy, gx].astype(int), "wrong": wrong[gy, gx].astype(int),
                         "labelled": labelled[gy, gx].astype(int), "error_rate": rate,
                         "top": [names[t] for t in top], "share": share, "counted": cnt.astype(int)})


def density_chart(d: "CorpusDensity", label_names: Sequence[str], *, mode: str = "all texts", width: int = 560,
                  height: int = 480, selectable: bool = False, title: str = "", show_clusters: bool = True) -> alt.Chart:
    """The corpus map: the landmark map's decision background, and over it one square per density cell —
    colour = the most frequent predicted class of the texts counted (``mode`` "all texts" or "wrong predictions"),
    opacity = their number (log scale); or colour = the cell's error rate ("error rate"). Cluster numbers sit at
    their texts' mean position. With ``selectable`` the chart carries a box selection ``brush`` (x, y)."""
    from figures.projection import _background_image

    names = list(label_names)
    df = density_frame(d, names, mode=mode)
    x0, x1, y0, y1 = d.extent
    xs = alt.Scale(domain=[x0, x1], nice=False, zero=False)
    ys = alt.Scale(domain=[y0, y1], nice=False, zero=False)
    bg = _background_image(d.bg_classes, d.bg_confidence, d.extent, len(names), xs, ys)
    tooltip = [alt.Tooltip("texts:Q", title="Texts"), alt.Tooltip("wrong:Q", title="Wrong"),
               alt.Tooltip("error_rate:Q", title="Error rate", format=".1%"),
               alt.Tooltip("top:N", title="Most predicted" + (" (errors)" if mode == "wrong predictions" else ""))]
    base = alt.Chart(df).mark_rect(stroke=None).encode(
        x=alt.X("x:Q", scale=xs, axis=None), x2="x2:Q", y=alt.Y("y:Q", scale=ys, axis=None), y2="y2:Q",
        tooltip=tooltip)
    if mode == "error rate":
        cells = base.encode(color=alt.Color("error_rate:Q", title="Error rate", scale=alt.Scale(
            scheme="orangered", domain=[0, 1]), legend=alt.Legend(format="%", orient="right")), opacity=alt.value(0.9))
    else:
        cells = base.encode(
            color=alt.Color("top:N", title="Predicted class", scale=alt.Scale(
                domain=names, range=[PALETTE[i % len(PALETTE)] for i in range(len(names))]),
                legend=alt.Legend(orient="right")),
            opacity=alt.Opacity("share:Q", scale=alt.Scale(domain=[0, 1], range=[0.2, 1.0]), legend=None))
    layers: list[alt.Chart] = [bg, cells]
    if show_clusters and d.clusters:
        cl = pd.DataFrame([{"x": r[10], "y": r[11], "label": str(r[0]), "texts": r[1], "words": r[12],
                            "error_rate": (None if r[4] is None else 1 - r[4])} for r in d.clusters])
        layers.append(alt.Chart(cl).mark_text(fontSize=11, fontWeight="bold", color="#1b1b1b", stroke="white",
                                              strokeWidth=3, strokeOpacity=0.9).encode(
            x=alt.X("x:Q", scale=xs, axis=None), y=alt.Y("y:Q", scale=ys, axis=None), text="label:N"))
        layers.append(alt.Chart(cl).mark_text(fontSize=11, fontWeight="bold", color="#1b1b1b").encode(
            x=alt.X("x:Q", scale=xs, axis=None), y=alt.Y("y:Q", scale=ys, axis=None), text="label:N",
            tooltip=[alt.Tooltip("label:N", title="Cluster"), alt.Tooltip("texts:Q", title="Texts"),
                     alt.Tooltip("error_rate:Q", title="Error rate", format=".1%"),
                     alt.Tooltip("words:N", title="Words")]))
    if selectable:
        brush = alt.selection_interval(name="brush", encodings=["x", "y"], mark=alt.BrushConfig(
            fill="#333333", fillOpacity=0.08, stroke="#333333", strokeDash=[4, 3]))
        layers[1] = layers[1].add_params(brush)
    n = int(d.counts.sum())
    subtitle = (f"{n:,} texts placed on a DeepView map of {len(d.landmarks):,} landmarks; background: the head's class "
                "on the inverse map, pale = uncertain.")
    chart = alt.layer(*layers).properties(width=width, height=height, title=alt.TitleParams(
        title or {"all texts": "Where the corpus lies", "wrong predictions": "Where the errors lie",
                  "error rate": "Error rate across the map"}[mode], subtitle=subtitle, subtitleFontSize=10))
    return _theme(chart)


def layer_separation_chart(rows: Sequence[tuple], *, width: int = 420, height: int = 200, title: str = "") -> alt.Chart:
    """Nearest-centroid accuracy per layer over the corpus (rows of :func:`core.analyses.corpus.layers.layer_table`:
    layer, grouping, texts, centroid_accuracy, fisher_ratio, chance), with chance as a dashed rule."""
    df = pd.DataFrame(list(rows), columns=["layer", "grouping", "texts", "accuracy", "fisher", "chance"])
    grouping = df["grouping"].iloc[0] if len(df) else "true label"
    line = alt.Chart(df).mark_line(point=True, color=PALETTE[0]).encode(
        x=alt.X("layer:O", title="layer (0 = embedding output)", axis=alt.Axis(labelAngle=0)),
        y=alt.Y("accuracy:Q", title=f"nearest-centroid accuracy ({grouping})", scale=alt.Scale(domain=[0, 1]),
                axis=alt.Axis(format="%")),
        tooltip=["layer:O", alt.Tooltip("accuracy:Q", format=".1%", title="Accuracy"),
                 alt.Tooltip("fisher:Q", format=".3f", title="Fisher ratio"), alt.Tooltip("texts:Q", title="Texts")])
    chance = alt.Chart(df.head(1)).mark_rule(strokeDash=[4, 3], color="#777777").encode(y="chance:Q")
    return _theme(alt.layer(line, chance).properties(
        width=width, height=height, title=alt.TitleParams(title or "Where in depth the classes separate",
                                                          subtitle="dashed: chance (the largest class's share)")))


def corpus_games_chart(agg: "CorpusAggregates", *, metric: str = "accuracy", width: int = 300,
                       height: int = 200) -> alt.Chart:
    """The corpus's mean hiding and revealing curves (the saliency method's order and the random order), drawn as
    the faithfulness games are (:func:`figures.faithfulness.curves_chart`)."""
    from figures.faithfulness import curves_chart

    against = "true labels" if agg.summary.get("games_against_labels") else "intact predictions"
    return curves_chart(agg.game_curves(), accuracy_against=against, metric=metric, width=width, height=height)


__all__ = ["DENSITY_MODES", "OUTCOME_COLORS", "corpus_games_chart", "density_chart", "density_frame",
           "layer_separation_chart", "outcome_histogram_chart"]
