"""Attention-head importance matrices and the pruning curves.
"""
from __future__ import annotations

from typing import TYPE_CHECKING

import altair as alt
import numpy as np
import pandas as pd
from figures.style import _BLUES, _color_legend, _theme

if TYPE_CHECKING:  # pragma: no cover
    from core.analyses.transformer.head_importance import PruningCurves


PRUNING_ORDERS = {"most": ("most important first", "#D55E00"), "least": ("least important first", "#0072B2"),
                  "random": ("random order", "#888888")}


def head_cell_size(n_layers: int, n_heads: int, *, width: int = 420) -> int:
    """Side of one (layer, head) cell so that a layers × heads grid is about ``width`` wide (14–34 px)."""
    return int(max(14, min(34, width // max(n_heads, 1))))


def _head_matrix(matrix: np.ndarray, *, title: str, subtitle: str = "", value_title: str = "importance",
                 top: int = 5, labels: str = "rank", fmt: str = ".3g", domain: tuple[float, float] | None = None,
                 highlight: tuple[int, int] | None = None, cell: int | None = None,
                 legend: str = "gradient") -> alt.Chart:
    M = np.asarray(matrix, dtype=float)
    L, H = M.shape
    cell = cell or head_cell_size(L, H)
    order = np.argsort(-M.ravel(), kind="stable")
    rank = np.empty(L * H, dtype=int)
    rank[order] = np.arange(1, L * H + 1)
    df = pd.DataFrame({"layer": np.repeat(np.arange(L), H), "head": np.tile(np.arange(H), L),
                       "value": M.ravel(), "rank": rank})
    finite = M[np.isfinite(M)]
    lo, hi = (float(finite.min()), float(finite.max())) if finite.size else (0.0, 1.0)
    if domain is None and lo < 0 < hi:
        m = max(abs(lo), abs(hi))
        scale = alt.Scale(scheme="blueorange", domain=[-m, m], domainMid=0)
        dark = 0.55 * m
        dark_test = f"abs(datum.value) > {dark!r}"
    else:
        d = list(domain) if domain is not None else [min(0.0, lo), hi if hi > 0 else 1.0]
        scale = alt.Scale(range=_BLUES, domain=d)
        dark_test = f"datum.value > {d[0] + 0.55 * (d[1] - d[0])!r}"
    base = alt.Chart(df).encode(
        x=alt.X("head:O", title="head", axis=alt.Axis(labelAngle=0, orient="top", labelFontSize=10)),
        y=alt.Y("layer:O", title="layer", axis=alt.Axis(labelFontSize=10)))
    rect = base.mark_rect(stroke="white", strokeWidth=1).encode(
        color=alt.Color("value:Q", scale=scale, title=value_title,
                        legend=_color_legend(legend, max(60, min(160, cell * L)))),
        tooltip=[alt.Tooltip("layer:O", title="layer"), alt.Tooltip("head:O", title="head"),
                 alt.Tooltip("value:Q", title=value_title, format=fmt), alt.Tooltip("rank:Q", title="rank")])
    layers = [rect]
    if labels != "none":
        shown = df if labels == "value" else df[df["rank"] <= top]
        field = alt.Text("value:Q", format=fmt) if labels == "value" else alt.Text("rank:Q")
        layers.append(alt.Chart(shown).mark_text(fontSize=9 if labels == "value" else 10,
                                                 fontWeight="normal" if labels == "value" else "bold").encode(
            x="head:O", y="layer:O", text=field,
            color=alt.condition(dark_test, alt.value("white"), alt.value("black"))))
    if highlight is not None:
        hl = pd.DataFrame({"layer": [int(highlight[0])], "head": [int(highlight[1])]})
        layers.append(alt.Chart(hl).mark_rect(fillOpacity=0, stroke="black", strokeWidth=2.5).encode(
            x="head:O", y="layer:O"))
    return alt.layer(*layers).properties(
        width=cell * H, height=cell * L, title=alt.TitleParams(title, subtitle=subtitle, subtitleFontSize=10))


def head_matrix_chart(matrix: np.ndarray, *, title: str, subtitle: str = "", value_title: str = "importance",
                      top: int = 5, labels: str = "rank", fmt: str = ".3g", domain: tuple[float, float] | None = None,
                      highlight: tuple[int, int] | None = None, cell: int | None = None,
                      legend: str = "gradient") -> alt.Chart:
    """Layers (rows, first layer on top) × heads (columns) heatmap of one value per attention head (matrix (L, H)).

    ``labels="rank"`` prints the rank of the ``top`` heads by value in their cells, ``"value"`` every value with
    ``fmt`` (e.g. ``".0%"``), ``"none"`` nothing. Values of both signs get a diverging scale centred on 0 (orange =
    positive, blue = negative); otherwise blues over ``domain`` (default 0 … max). ``highlight`` (layer, head) gets a
    black frame. ``legend="swatches"``: five colour squares instead of a gradient bar (for print).
    """
    return _theme(_head_matrix(matrix, title=title, subtitle=subtitle, value_title=value_title, top=top,
                               labels=labels, fmt=fmt, domain=domain, highlight=highlight, cell=cell, legend=legend))


def pruning_curves_chart(pruning: "PruningCurves", *, width: int = 420, height: int = 240,
                         title: str = "Pruning check: accuracy with k heads masked") -> alt.Chart:
    """Accuracy against the number of masked heads, for the most-important-first, least-important-first and random
    orders; the dotted rule is the intact model (k = 0). A real ranking: the vermillion curve falls first."""
    recs = []
    for key, vals in (("most", pruning.most_first), ("least", pruning.least_first), ("random", pruning.random)):
        recs += [{"k": int(k), "order": PRUNING_ORDERS[key][0], "accuracy": float(v)} for k, v in zip(pruning.ks, vals)]
    df = pd.DataFrame(recs)
    names = [v[0] for v in PRUNING_ORDERS.values()]
    colors = [v[1] for v in PRUNING_ORDERS.values()]
    intact = float(pruning.least_first[0]) if len(pruning.ks) and pruning.ks[0] == 0 else None
    kmax = max(pruning.ks) if pruning.ks else 1
    ticks = [k for k in pruning.ks if k in (0, 1, 2, 4) or k >= 6]
    line = alt.Chart(df).mark_line(point=alt.OverlayMarkDef(size=22)).encode(
        x=alt.X("k:Q", title="heads masked (k)", scale=alt.Scale(type="symlog", domain=[0, kmax], nice=False),
                axis=alt.Axis(values=ticks, labelOverlap=True, grid=False)),
        y=alt.Y("accuracy:Q", scale=alt.Scale(domain=[0, 1]), axis=alt.Axis(format="%"),
                title=f"accuracy (against {pruning.reference})"),
        color=alt.Color("order:N", sort=names, scale=alt.Scale(domain=names, range=colors), title="heads masked in",
                        legend=alt.Legend(orient="bottom", direction="horizontal", labelLimit=220)),
        strokeDash=alt.StrokeDash("order:N", sort=names, scale=alt.Scale(domain=names, range=[[1, 0], [1, 0], [5, 3]]),
                                  legend=None),
        tooltip=[alt.Tooltip("order:N", title="order"), alt.Tooltip("k:Q", title="heads masked"),
                 alt.Tooltip("accuracy:Q", format=".1%")])
    layers = [line]
    if intact is not None:
        rule = pd.DataFrame({"accuracy": [intact], "label": [f"intact model {intact:.0%}"]})
        layers.insert(0, alt.Chart(rule).mark_rule(color="black", strokeDash=[2, 2], opacity=0.7).encode(
            y="accuracy:Q", tooltip=[alt.Tooltip("label:N", title="")]))
        layers.append(alt.Chart(rule).mark_text(align="right", dx=-2, dy=-6, fontSize=10, color="#333333").encode(
            y="accuracy:Q", x=alt.value(width), text="label:N"))
    return _theme(alt.layer(*layers).properties(width=width, height=height, title=alt.TitleParams(
        title, subtitle=["If the ranking is real, masking the most important heads hurts most",
                         "(vermillion below grey), the least important ones least (blue above grey)"],
        subtitleFontSize=10)))
