"""The instance view: token interactions and the attribution-entropy study.
"""
from __future__ import annotations

from typing import TYPE_CHECKING

import altair as alt
import numpy as np
import pandas as pd
from figures.style import PALETTE, _theme

if TYPE_CHECKING:  # pragma: no cover
    from core.analyses.transformer.instance_view import EntropyStudy, InstanceView


def interaction_chart(view: "InstanceView", *, cell: int | None = None, diagonal: bool = False) -> alt.Chart:
    """Integrated-Hessians interactions among the explained tokens (rows = columns = tokens in text order).

    Symmetrised (Γ + Γᵀ)/2; red = the pair together pushes the explained class more than the two tokens
    alone, blue = less. The diagonal (main effect plus self-interaction) is left blank unless ``diagonal``,
    because it is on another scale and would wash out the pairs."""
    toks = [f"{i + 1}·{t}" for i, t in zip(view.rows, view.row_tokens)]
    S = (view.interactions + view.interactions.T) / 2
    K = len(toks)
    cell = cell or max(12, min(26, 380 // max(K, 1)))  # fits beside a table in a 3:2 column layout
    ii, jj = np.meshgrid(np.arange(K), np.arange(K), indexing="ij")
    df = pd.DataFrame({"a": np.array(toks)[ii.ravel()], "b": np.array(toks)[jj.ravel()],
                       "value": S.ravel().astype(float), "diag": (ii == jj).ravel()})
    if not diagonal:
        df = df[~df["diag"]]
    m = float(np.abs(df["value"]).max()) if len(df) else 1.0
    m = m if m > 0 else 1.0
    return _theme(alt.Chart(df).mark_rect().encode(
        x=alt.X("b:N", sort=toks, title=None, axis=alt.Axis(labelAngle=-60, labelLimit=110)),
        y=alt.Y("a:N", sort=toks, title=None, axis=alt.Axis(labelLimit=110)),
        color=alt.Color("value:Q", title="interaction", scale=alt.Scale(scheme="redblue", reverse=True,
                                                                       domain=[-m, m])),
        tooltip=[alt.Tooltip("a:N", title="token"), alt.Tooltip("b:N", title="with"),
                 alt.Tooltip("value:Q", title="interaction", format="+.4f")],
    ).properties(width=cell * K, height=cell * K, title=alt.TitleParams(
        "Token interactions (integrated Hessians)",
        subtitle=f"{K} most attributed tokens · red: together they push '{view.attribution.target_label}' "
                 "more than apart · blue: less", subtitleFontSize=10)))


def entropy_study_chart(study: "EntropyStudy", *, width: int = 300, height: int = 170) -> alt.Chart:
    """Distribution of attribution entropy for correct vs misclassified texts (left) and entropy against the
    model's confidence (right)."""
    group = (np.where(study.correct, "correct", "misclassified") if study.correct is not None
             else np.full(study.n, "all"))
    group = np.where(study.labelled, group, "unlabelled")
    df = pd.DataFrame({"entropy": study.entropy, "confidence": study.confidence, "group": group,
                       "tokens": study.n_tokens})
    domain = [g for g in ("correct", "misclassified", "unlabelled", "all") if (group == g).any()]
    colors = alt.Scale(domain=domain, range=[{"correct": PALETTE[0], "misclassified": PALETTE[5],
                                              "unlabelled": "#999999", "all": PALETTE[0]}[g] for g in domain])
    hist = alt.Chart(df).transform_density("entropy", groupby=["group"], as_=["entropy", "density"],
                                           extent=[float(df.entropy.min()), float(df.entropy.max())]).mark_area(
        opacity=0.45, interpolate="monotone").encode(
        x=alt.X("entropy:Q", title="attribution entropy (0 = one token, 1 = even)"),
        y=alt.Y("density:Q", title="density", stack=None),
        color=alt.Color("group:N", scale=colors, title=None)).properties(
        width=width, height=height, title="Entropy of correct and misclassified texts")
    scatter = alt.Chart(df).mark_circle(size=22, opacity=0.6).encode(
        x=alt.X("confidence:Q", title="probability of the prediction", scale=alt.Scale(zero=False)),
        y=alt.Y("entropy:Q", title="attribution entropy", scale=alt.Scale(zero=False)),
        color=alt.Color("group:N", scale=colors, title=None),
        tooltip=[alt.Tooltip("confidence:Q", format=".2f"), alt.Tooltip("entropy:Q", format=".3f"),
                 alt.Tooltip("tokens:Q"), alt.Tooltip("group:N")]).properties(
        width=width, height=height, title="Entropy against confidence")
    return _theme(alt.hconcat(hist, scatter).resolve_scale(color="shared"))
