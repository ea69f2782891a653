"""Model comparison: Q_NN / LCMC per k, and two maps side by side with linked selection.
"""
from __future__ import annotations

import warnings
from typing import Sequence, TYPE_CHECKING
import altair as alt
import numpy as np
import pandas as pd
from figures.projection import background_layer
from figures.style import PALETTE, _shorten, _theme

if TYPE_CHECKING:  # pragma: no cover
    from core.analyses.compare import ModelComparison


def comparison_metrics_chart(cmp: "ModelComparison", pair: int = 0, *, width: int = 300,
                             height: int = 200) -> alt.Chart:
    """Q_NN(k) and LCMC(k) of one model pair, for the embedding spaces and the DeepView projections.

    The dashed grey line on the Q_NN panel is chance (k / (n − 1)), which LCMC subtracts.
    """
    p = cmp.pairs[pair]
    recs = []
    for space, sc in (("embeddings", p.embeddings), ("DeepView projections", p.projection)):
        if sc is None:
            continue
        for k, q, lc in zip(sc.ks, sc.q_nn, sc.lcmc):
            recs += [{"k": k, "space": space, "metric": "Q_NN", "value": q},
                     {"k": k, "space": space, "metric": "LCMC", "value": lc}]
    df = pd.DataFrame(recs)
    spaces = ["embeddings", "DeepView projections"]
    enc = dict(x=alt.X("k:Q", title="Neighbourhood size k", scale=alt.Scale(zero=False)),
               color=alt.Color("space:N", scale=alt.Scale(domain=spaces, range=PALETTE[:2]), title=None,
                               legend=alt.Legend(orient="bottom")),
               strokeDash=alt.StrokeDash("space:N", scale=alt.Scale(domain=spaces, range=[[1, 0], [5, 3]]),
                                         legend=None),
               shape=alt.Shape("space:N", scale=alt.Scale(domain=spaces, range=["circle", "square"]), legend=None),
               tooltip=["space:N", "k:Q", alt.Tooltip("value:Q", format=".3f")])
    kmax = max(p.embeddings.ks)
    chance = pd.DataFrame({"k": [min(p.embeddings.ks), kmax]})
    chance["value"] = chance["k"] / (cmp.n - 1)

    def panel(metric: str, title: str) -> alt.Chart:
        line = alt.Chart(df[df.metric == metric]).mark_line(point=True).encode(
            y=alt.Y("value:Q", scale=alt.Scale(domain=[0, 1]), title=metric), **enc)
        layers = [line]
        if metric == "Q_NN":
            layers.insert(0, alt.Chart(chance).mark_line(color="#999999", strokeDash=[2, 2]).encode(
                x="k:Q", y="value:Q"))
        return alt.layer(*layers).properties(width=width, height=height, title=title)

    a, b = cmp.model_refs[p.a], cmp.model_refs[p.b]
    chart = alt.hconcat(panel("Q_NN", "Q_NN: shared share of the k nearest neighbours"),
                        panel("LCMC", "LCMC: Q_NN above chance")).properties(
        title=alt.TitleParams(f"{a} vs {b} on {cmp.n:,} texts",
                              subtitle="1 = identical neighbourhoods; grey dashes = chance level", subtitleFontSize=10))
    return _theme(chart)


def linked_projections_chart(cmp: "ModelComparison", pair: int = 0, *, width: int = 380, height: int = 340,
                             selectable: bool = True, highlight: Sequence[int] = ()) -> alt.Chart:
    """The two models' DeepView projections side by side, points coloured by each model's prediction.

    A click (shift-click for more) selects texts by row ``i`` in both views at once; texts the two models
    predict differently carry a black ring; ``highlight`` rows get a large black circle (e.g. a table selection).
    """
    p = cmp.pairs[pair]
    if p.projection is None:
        raise ValueError("this pair has no projections")
    pick = alt.selection_point(name="pick", fields=["i"], on="click", toggle="true", empty=False)
    views = []
    aligned = None
    if p.prediction_agreement is not None:
        from core.analyses.compare import align_predictions

        aligned = align_predictions(cmp.label_names[p.a], cmp.label_names[p.b], cmp.predictions[p.b])
    hl = set(int(i) for i in highlight)
    for m in (p.a, p.b):
        names = list(cmp.label_names[m])
        pts, pred, prob = cmp.points[m], cmp.predictions[m], cmp.probs[m]
        df = pd.DataFrame({"i": np.arange(cmp.n), "x": pts[:, 0].astype(float), "y": pts[:, 1].astype(float),
                           "predicted": [names[c] for c in pred], "confidence": prob.max(1).astype(float),
                           "text": [_shorten(t) for t in cmp.texts],
                           "disagree": (aligned != cmp.predictions[p.a]) if aligned is not None
                           else np.zeros(cmp.n, bool),
                           "highlight": [i in hl for i in range(cmp.n)]})
        bg = cmp.backgrounds[m]
        x0, x1, y0, y1 = (float(v) for v in bg.extent)
        xs = alt.Scale(domain=[x0, x1], nice=False, zero=False)
        ys = alt.Scale(domain=[y0, y1], nice=False, zero=False)
        scale = alt.Scale(domain=names, range=[PALETTE[i % len(PALETTE)] for i in range(len(names))])
        pts_chart = alt.Chart(df).mark_point(filled=True, opacity=0.9).encode(
            x=alt.X("x:Q", scale=xs, axis=None), y=alt.Y("y:Q", scale=ys, axis=None),
            color=alt.Color("predicted:N", scale=scale, title=f"Predicted ({cmp.model_refs[m]})",
                            legend=alt.Legend(orient="bottom", direction="vertical", titleLimit=width)),
            stroke=alt.condition("datum.disagree", alt.value("black"), alt.value("white")),
            strokeWidth=alt.condition("datum.disagree", alt.value(1.4), alt.value(0.4)),
            size=alt.condition("datum.highlight", alt.value(160), alt.value(30 if cmp.n <= 2000 else 10)),
            tooltip=[alt.Tooltip("text:N", title="Text"), alt.Tooltip("predicted:N", title="Predicted"),
                     alt.Tooltip("confidence:Q", format=".1%"), alt.Tooltip("i:Q", title="Row")])
        if selectable:
            pts_chart = pts_chart.add_params(pick).encode(
                opacity=alt.condition(pick, alt.value(1.0), alt.value(0.55)),
                size=alt.condition(pick, alt.value(180), alt.value(30 if cmp.n <= 2000 else 10)))
        layers = [background_layer(bg, len(names), xs, ys), pts_chart]
        if hl:  # a ring, so that highlighting survives the click selection's own size encoding
            layers.append(alt.Chart(df[df.highlight]).mark_point(filled=False, size=320, strokeWidth=2.2,
                                                                 color="black").encode(
                x=alt.X("x:Q", scale=xs, axis=None), y=alt.Y("y:Q", scale=ys, axis=None),
                tooltip=[alt.Tooltip("text:N", title="Text"), alt.Tooltip("i:Q", title="Row")]))
        views.append(alt.layer(*layers).properties(width=width, height=height, title=cmp.model_refs[m]))
    sub = "Background: each model's head on its inverse map (pale = uncertain). Black ring: the models disagree."
    if selectable:
        sub += " Click a point (shift-click for more) to find it in both maps."
    with warnings.catch_warnings():  # the one "pick" parameter shared by both views is deduplicated on purpose
        warnings.simplefilter("ignore", UserWarning)
        chart = alt.hconcat(*views).resolve_scale(color="independent").properties(
            title=alt.TitleParams("DeepView projections side by side", subtitle=sub, subtitleFontSize=10))
        return _theme(chart)
