"""Per-layer separability curves and layer maps.
"""
from __future__ import annotations

from typing import Sequence, TYPE_CHECKING
import altair as alt
import numpy as np
import pandas as pd
from figures.projection import _CORRECT_COLORS
from figures.style import PALETTE, _many_colors, _shorten, _theme

if TYPE_CHECKING:  # pragma: no cover
    from core.analyses.transformer.layers import LayerSeparability


LAYER_COLOR_MODES = ("true label", "prediction", "correct", "attribution entropy")
# what each colour mode is called beside a layer map
LAYER_COLOR_TITLES = dict(zip(LAYER_COLOR_MODES, ("True label", "Predicted class", "Correct or not",
                                                  "Attribution entropy (IG)")))
# a layer map's subtitle: how the 2-D map method treats the pooled states
MAP_SUBTITLES = {"pca": "First two principal components of the pooled states.",
                 "tsne": "t-SNE (cosine) of the pooled states: near texts stay near; distances between groups mean "
                         "little.",
                 "umap": "UMAP (cosine) of the pooled states: near texts stay near; distances between groups mean "
                         "little.",
                 "deepview": "The DeepView map (λ = 0.8), without its background."}


def layer_separability_chart(seps: Sequence["LayerSeparability"], *, width: int = 300, height: int = 210,
                             title: str | None = None) -> alt.Chart:
    """How well the true labels separate at every layer: k-NN accuracy (left) and silhouette (right) against the
    layer (0 = the embedding layer's output), one line per model (colour and dash). Grey dashes: chance (the majority
    label's share) and silhouette 0; a ring marks each model's separation layer
    (``LayerSeparability.separation_layer``)."""
    if not seps:
        raise ValueError("no layer separability results to draw")
    recs = []
    for s in seps:
        sep = s.separation_layer()
        for layer, a, si in zip(s.layers, s.knn_accuracy, s.silhouette):
            recs.append({"model": s.model_ref, "layer": int(layer), "accuracy": float(a), "silhouette": float(si),
                         "separation": int(layer) == sep, "chance": float(s.chance), "n": s.n, "k": s.k})
    df = pd.DataFrame(recs)
    models = list(dict.fromkeys(df["model"]))
    L = int(df["layer"].max())
    x = alt.X("layer:Q", title="Layer (0 = embeddings)", scale=alt.Scale(domain=[0, L], nice=False),
              axis=alt.Axis(values=list(range(L + 1)), format="d", grid=False))
    legend = alt.Legend(orient="bottom", direction="vertical", labelLimit=0, titleLimit=0, symbolType="stroke",
                        symbolStrokeWidth=2.5, symbolSize=400)
    color = alt.Color("model:N", scale=alt.Scale(domain=models, range=PALETTE[:len(models)]), title="Model",
                      legend=legend)
    dash = alt.StrokeDash("model:N", scale=alt.Scale(domain=models, range=[[1, 0], [6, 3], [2, 2], [8, 3, 2, 3]]
                                                     [:len(models)]), title="Model", legend=legend)
    tips = [alt.Tooltip("model:N", title="Model"), alt.Tooltip("layer:Q", title="Layer"),
            alt.Tooltip("accuracy:Q", title="k-NN accuracy", format=".3f"),
            alt.Tooltip("silhouette:Q", title="Silhouette", format="+.3f")]
    chances = sorted(set(round(float(s.chance), 4) for s in seps))
    lo_acc = float(min(df["accuracy"].min(), min(chances)))
    acc_dom = [max(0.0, np.floor(lo_acc * 10) / 10 - 0.05), 1.0]
    sil_lo, sil_hi = float(min(0.0, df["silhouette"].min())), float(max(0.0, df["silhouette"].max()))
    pad = max(0.02, 0.08 * (sil_hi - sil_lo))
    sil_dom = [sil_lo - pad, sil_hi + pad]

    def panel(field: str, ytitle: str, fmt: str, domain: list[float], rules: pd.DataFrame, ptitle: str
              ) -> alt.Chart:
        ys = alt.Scale(domain=domain, nice=False)
        y = alt.Y(f"{field}:Q", title=ytitle, scale=ys, axis=alt.Axis(format=fmt, tickCount=5))
        base = alt.Chart(df).encode(x=x, y=y, color=color)
        line = base.mark_line(strokeWidth=2).encode(strokeDash=dash, tooltip=tips)
        pts = base.mark_point(filled=True, size=36, opacity=1).encode(tooltip=tips)
        ring = base.transform_filter("datum.separation").mark_point(filled=False, size=260, strokeWidth=2.2,
                                                                     opacity=1).encode(tooltip=tips)
        rule = alt.Chart(rules).mark_rule(color="#777777", strokeDash=[4, 3]).encode(y=alt.Y("value:Q", scale=ys))
        label = alt.Chart(rules).mark_text(align="right", baseline="top", dx=-2, dy=3, fontSize=10,
                                           color="#555555").encode(
            y=alt.Y("value:Q", scale=ys), x=alt.value(width), text="label:N")
        return alt.layer(rule, label, line, pts, ring).properties(width=width, height=height, title=ptitle)

    acc_rules = pd.DataFrame({"value": chances, "label": [f"chance {c:.2f}" for c in chances]})
    sil_rules = pd.DataFrame({"value": [0.0], "label": ["0 = no separation"]})
    k = seps[0].k
    left = panel("accuracy", f"k-NN accuracy (k = {k})", ".0%", acc_dom, acc_rules,
                 "k-NN accuracy of the true labels")
    right = panel("silhouette", "Silhouette (cosine)", "+.2f", sil_dom, sil_rules,
                  "Silhouette of the true labels")
    n = seps[0].n
    sub = (f"{n:,} texts; pooled hidden state of each layer. Ring: the separation layer, the first layer that gains "
           "90% of the rise from chance to the best layer.")
    chart = alt.hconcat(left, right, spacing=40).properties(
        title=alt.TitleParams(title or "Where in depth do the classes separate?", subtitle=sub, subtitleFontSize=10))
    return _theme(chart)


def layer_projection_chart(points: np.ndarray, texts: Sequence[str], *, color_by: str = "true label",
                           true: Sequence[str] | None = None, predicted: Sequence[str] | None = None,
                           correct: Sequence[str] | None = None, entropy: np.ndarray | None = None,
                           label_names: Sequence[str] = (), title: str = "", subtitle: str = "",
                           width: int = 460, height: int = 400, max_points: int = 5000, seed: int = 0,
                           legend: bool = True) -> alt.Chart:
    """A 2-D map (points (n, 2)) of one layer's pooled states, each text a dot coloured by ``color_by``: its true
    label, the predicted class, whether the prediction is correct (orange: wrong) or its normalised attribution
    entropy (0 = the attribution sits on one token, 1 = spread evenly; a sequential scale). ``true``/``predicted``:
    label names per point ("—" = unlabelled); ``correct``: "correct" / "wrong" / "unlabelled"."""
    if color_by not in LAYER_COLOR_MODES:
        raise ValueError(f"color_by must be one of {LAYER_COLOR_MODES}")
    n = len(points)
    df = pd.DataFrame({"i": np.arange(n), "x": points[:, 0].astype(float), "y": points[:, 1].astype(float),
                       "text": [_shorten(t) for t in texts],
                       "true": list(true) if true is not None else ["—"] * n})
    tips = [alt.Tooltip("text:N", title="Text"), alt.Tooltip("true:N", title="True label")]
    if predicted is not None:
        df["predicted"] = list(predicted)
        tips.append(alt.Tooltip("predicted:N", title="Predicted"))
    if correct is not None:
        df["correct"] = list(correct)
        df["wrong_first"] = (df["correct"] == "wrong").astype(int)
    if entropy is not None:
        df["entropy"] = np.asarray(entropy, dtype=float)
        tips.append(alt.Tooltip("entropy:Q", title="Attribution entropy", format=".2f"))
    tips.append(alt.Tooltip("i:Q", title="Row"))
    shown = len(df)
    if shown > max_points:
        df = df.sample(max_points, random_state=seed).sort_values("i")
    names = list(label_names)
    leg = alt.Legend(orient="right", labelLimit=220, titleLimit=220) if legend else None
    if color_by == "attribution entropy":
        if entropy is None:
            raise ValueError("colouring by attribution entropy needs `entropy`")
        color = alt.Color("entropy:Q", scale=alt.Scale(scheme="viridis", domain=[0, 1]),
                          title=["Attribution", "entropy"], legend=leg)
    elif color_by == "correct":
        if correct is None:
            raise ValueError("colouring by correctness needs `correct`")
        dom = ["correct", "wrong", "unlabelled"]
        color = alt.Color("correct:N", scale=alt.Scale(domain=dom, range=[_CORRECT_COLORS[d] for d in dom]),
                          title="Prediction", legend=leg)
    else:
        field = "true" if color_by == "true label" else "predicted"
        if field not in df:
            raise ValueError("colouring by prediction needs `predicted`")
        dom = names or sorted(set(df[field]) - {"—"})
        extra = ["—"] if (df[field] == "—").any() else []
        color = alt.Color(f"{field}:N", scale=alt.Scale(domain=dom + extra,
                                                        range=_many_colors(len(dom)) + ["#BBBBBB"] * len(extra)),
                          title="True label" if field == "true" else "Predicted class", legend=leg)
    size = 30 if shown <= 2000 else 12
    pts = alt.Chart(df).mark_circle(size=size, opacity=0.85, stroke="white", strokeWidth=0.4).encode(
        x=alt.X("x:Q", axis=None, scale=alt.Scale(zero=False)), y=alt.Y("y:Q", axis=None, scale=alt.Scale(zero=False)),
        color=color, tooltip=tips)
    if color_by == "correct":
        pts = pts.encode(order=alt.Order("wrong_first:Q", sort="ascending"))  # the wrong ones on top
    if shown > max_points:
        subtitle = (subtitle + " " if subtitle else "") + f"Showing {max_points:,} of {shown:,} texts."
    chart = pts.properties(width=width, height=height,
                           title=alt.TitleParams(title or "Layer map", subtitle=subtitle or alt.Undefined,
                                                 subtitleFontSize=10))
    return _theme(chart)


def layer_projection_grid(maps: Sequence[tuple[int, np.ndarray]], true: Sequence[str], *,
                          label_names: Sequence[str] = (), method: str = "PCA", width: int = 150, height: int = 140,
                          title: str | None = None) -> alt.Chart:
    """Small multiples: the same texts mapped to 2-D at a few layers, (layer, points (n, 2)) each, coloured by true
    label. Every panel has its own coordinates (compare how the colours group, not where)."""
    names = list(label_names) or sorted(set(true) - {"—"})
    extra = ["—"] if "—" in set(true) else []
    scale = alt.Scale(domain=names + extra, range=_many_colors(len(names)) + ["#BBBBBB"] * len(extra))
    panels = []
    for layer, pts in maps:
        df = pd.DataFrame({"x": pts[:, 0].astype(float), "y": pts[:, 1].astype(float), "true": list(true)})
        panels.append(alt.Chart(df).mark_circle(size=14, opacity=0.8).encode(
            x=alt.X("x:Q", axis=None, scale=alt.Scale(zero=False)),
            y=alt.Y("y:Q", axis=None, scale=alt.Scale(zero=False)),
            color=alt.Color("true:N", scale=scale, title="True label",
                            legend=alt.Legend(orient="bottom", direction="horizontal", labelLimit=200)),
        ).properties(width=width, height=height, title=alt.TitleParams(
            "layer 0 (embeddings)" if layer == 0 else f"layer {layer}", fontSize=11, anchor="middle")))
    chart = alt.hconcat(*panels, spacing=12).resolve_scale(x="independent", y="independent").properties(
        title=alt.TitleParams(title or f"{method} maps of the same texts at several layers",
                              subtitle="colour = true label; each panel has its own coordinates",
                              subtitleFontSize=10))
    return _theme(chart)
