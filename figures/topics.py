"""Topic clusters on a map, and cluster × label / error charts.
"""
from __future__ import annotations

from typing import Sequence, TYPE_CHECKING
import altair as alt
import numpy as np
import pandas as pd
from figures.style import NOISE, PALETTE, _many_colors, _shorten, _theme

if TYPE_CHECKING:  # pragma: no cover
    from core.analyses.transformer.topics import TopicsResult


def mix_text(counts: dict[str, int] | None) -> str:
    """"sport 60% · food 40%": a cluster's label (or prediction) counts as shares, largest first ('–' for none)."""
    if not counts:
        return "–"
    total = sum(counts.values())
    return " · ".join(f"{k} {v / total:.0%}" for k, v in sorted(counts.items(), key=lambda kv: -kv[1]))


def topic_names(res: "TopicsResult", *, words: int = 3) -> list[str]:
    """One short name per cluster: ``#id word, word, word`` (its best topic words)."""
    return [f"#{t.id} " + (", ".join(t.words[:words]) if t.words else "(no words)") for t in res.topics]


def topic_map_chart(points: np.ndarray, res: "TopicsResult", texts: Sequence[str], *,
                    true: Sequence[str] | None = None, predicted: Sequence[str] | None = None,
                    title: str | None = None, subtitle: str | None = None, width: int = 560, height: int = 440,
                    labels: bool = True, highlight: int | None = None, rows: Sequence[int] | None = None) -> alt.Chart:
    """The texts on a 2-D map (points (n, 2)), coloured by cluster (the legend names each by its top three words),
    each cluster marked at its centre by its number and best word; HDBSCAN's noise in grey. ``highlight``: a cluster
    id drawn in full, the others faded."""
    names = topic_names(res)
    cl = np.asarray(res.labels)
    cname = [names[c] if c >= 0 else NOISE for c in cl]
    n = len(points)
    df = pd.DataFrame({"i": np.arange(n), "x": points[:, 0].astype(float), "y": points[:, 1].astype(float),
                       "cluster": cname, "cid": cl.astype(int), "text": [_shorten(t) for t in texts]})
    tips = [alt.Tooltip("text:N", title="Text"), alt.Tooltip("cluster:N", title="Cluster")]
    if true is not None:
        df["true"] = list(true)
        tips.append(alt.Tooltip("true:N", title="True label"))
    if predicted is not None:
        df["predicted"] = list(predicted)
        tips.append(alt.Tooltip("predicted:N", title="Predicted"))
    df["row"] = np.arange(n) if rows is None else np.asarray(rows, dtype=np.int64)
    tips.append(alt.Tooltip("row:Q", title="Dataset row"))
    dom = names + ([NOISE] if (cl < 0).any() else [])
    rng = _many_colors(len(names)) + (["#BBBBBB"] if (cl < 0).any() else [])
    xs, ys = alt.Scale(zero=False, padding=36), alt.Scale(zero=False, padding=10)  # room for the labels
    enc = dict(x=alt.X("x:Q", axis=None, scale=xs), y=alt.Y("y:Q", axis=None, scale=ys))
    pts = alt.Chart(df).mark_circle(size=30, stroke="white", strokeWidth=0.4).encode(
        **enc, color=alt.Color("cluster:N", scale=alt.Scale(domain=dom, range=rng), sort=dom, title="Cluster",
                               legend=alt.Legend(orient="bottom", columns=2, labelLimit=max(120, width // 2 - 40),
                                                 symbolLimit=40, titleLimit=0)),
        opacity=(alt.condition(f"datum.cid == {int(highlight)}", alt.value(0.95), alt.value(0.15))
                 if highlight is not None else alt.value(0.85)),
        tooltip=tips)
    layers = [pts]
    if labels and len(res.topics):
        cen = pd.DataFrame([{"x": float(np.median(points[t.members, 0])), "y": float(np.median(points[t.members, 1])),
                             "name": f"#{t.id} {t.words[0]}" if t.words else f"#{t.id}"}
                            for t in res.topics if len(t.members)])
        cen["y"] = _unstack_labels(cen, points, width, height)
        halo = alt.Chart(cen).mark_text(fontSize=11, fontWeight="bold", stroke="white", strokeWidth=3.5,
                                        strokeOpacity=0.9).encode(**enc, text="name:N")
        txt = alt.Chart(cen).mark_text(fontSize=11, fontWeight="bold", color="#222222").encode(**enc, text="name:N")
        layers += [halo, txt]
    sub = subtitle if subtitle is not None else ("Colour = cluster (named by its top three words); each cluster is "
                                                 "marked at its centre by its number and best word.")
    chart = alt.layer(*layers).properties(
        width=width, height=height,
        title=alt.TitleParams(title or f"{res.k} clusters of {res.n:,} texts", subtitle=sub, subtitleFontSize=10))
    return _theme(chart)


def _unstack_labels(labels: pd.DataFrame, points: np.ndarray, width: int, height: int, *, line: float = 15.0,
                    char: float = 7.5) -> np.ndarray:
    """y of each label (rows x, y, name), moved up or down by whole lines until no two labels overlap on the
    (approximate) pixel grid of a width × height chart of ``points``."""
    lo, hi = points.min(0), points.max(0)
    sx = (width - 72) / max(float(hi[0] - lo[0]), 1e-9)
    sy = (height - 20) / max(float(hi[1] - lo[1]), 1e-9)
    px, py = labels["x"].to_numpy() * sx, labels["y"].to_numpy() * sy  # pixels, y up
    half = labels["name"].str.len().to_numpy() * char / 2
    out = py.copy()
    placed: list[int] = []
    for i in np.argsort(-py, kind="stable"):
        for step in (0, -1, 1, -2, 2, -3, 3, -4, 4, -5, 5, -6, 6):
            y = py[i] + step * line
            if all(abs(px[j] - px[i]) >= half[i] + half[j] or abs(out[j] - y) >= line for j in placed):
                break
        out[i] = y
        placed.append(int(i))
    return out / sy


def topic_label_chart(res: "TopicsResult", *, cell: int = 44, title: str | None = None) -> alt.Chart:
    """Cluster × true label: the count of texts in each cell, shaded by its share of the cluster (row)."""
    names = topic_names(res)
    labels = list(res.label_names)
    if not labels or not len(res.topics):
        raise ValueError("the clusters have no true labels to cross with")
    T = np.asarray(res.label_cluster_table, dtype=float)
    rows = T.sum(1, keepdims=True)
    share = np.divide(T, rows, out=np.zeros_like(T), where=rows > 0)
    df = pd.DataFrame([{"cluster": names[i], "label": lab, "count": int(T[i, j]), "share": float(share[i, j])}
                       for i in range(len(names)) for j, lab in enumerate(labels)])
    base = alt.Chart(df).encode(
        x=alt.X("label:N", sort=labels, title="True label", axis=alt.Axis(labelAngle=-30, labelLimit=140)),
        y=alt.Y("cluster:N", sort=names, title=None, axis=alt.Axis(labelLimit=260)))
    rect = base.mark_rect(stroke="white").encode(
        color=alt.Color("share:Q", scale=alt.Scale(scheme="blues", domain=[0, 1]), title="Share of cluster",
                        legend=alt.Legend(format=".0%", orient="bottom", direction="horizontal", gradientLength=140,
                                          titleLimit=0)),
        tooltip=[alt.Tooltip("cluster:N", title="Cluster"), alt.Tooltip("label:N", title="True label"),
                 alt.Tooltip("count:Q", title="Texts"), alt.Tooltip("share:Q", title="Share of cluster", format=".0%")])
    text = base.mark_text(fontSize=11).encode(
        text=alt.Text("count:Q"), color=alt.condition(alt.datum.share > 0.55, alt.value("white"), alt.value("black")))
    chart = (rect + text).properties(width=max(cell * len(labels), 160), height=max(22, min(cell, 28)) * len(names),
                                     title=alt.TitleParams(title or "Clusters × true labels",
                                                           subtitle="count of texts; shade = share of the cluster",
                                                           subtitleFontSize=10))
    return _theme(chart)


def topic_error_chart(res: "TopicsResult", *, width: int = 300, title: str | None = None) -> alt.Chart:
    """The classifier's error rate in each cluster (bars, labelled with the rate and the texts it is out of);
    dashed = the error rate over all texts. Needs predictions and labels (``Topic.error_rate`` not None)."""
    names = topic_names(res)
    recs = [{"cluster": names[t.id], "error": float(t.error_rate), "of": t.n_scored,
             "label": f"{t.error_rate:.0%} of {t.n_scored}"} for t in res.topics if t.error_rate is not None]
    if not recs:
        raise ValueError("no cluster has an error rate (no classifier head or no matching labels)")
    df = pd.DataFrame(recs)
    top = max(0.1, float(df["error"].max()), float(res.error_rate or 0.0))
    dom = [0, min(1.0, top * 1.3 + 0.02)]
    bars = alt.Chart(df).mark_bar(color=PALETTE[5]).encode(
        x=alt.X("error:Q", title="Error rate", scale=alt.Scale(domain=dom, nice=False), axis=alt.Axis(format=".0%")),
        y=alt.Y("cluster:N", sort=names, title=None, axis=alt.Axis(labelLimit=260)),
        tooltip=[alt.Tooltip("cluster:N", title="Cluster"), alt.Tooltip("error:Q", title="Error rate", format=".1%"),
                 alt.Tooltip("of:Q", title="Labelled texts")])
    text = bars.mark_text(align="left", dx=3, fontSize=10, color="black").encode(text="label:N")
    layers = [bars, text]
    sub: list[str] | str = "share of each cluster's labelled texts the classifier gets wrong"
    if res.error_rate is not None:  # drawn first, so the bar labels stay on top
        layers.insert(0, alt.Chart(pd.DataFrame({"error": [float(res.error_rate)]})).mark_rule(
            color="#444444", strokeDash=[4, 3]).encode(x="error:Q"))
        sub = [str(sub), f"dashed: all texts ({res.error_rate:.1%})"]  # two lines: a narrow column never cuts it
    chart = alt.layer(*layers).properties(width=width, height=22 * len(df),
                                          title=alt.TitleParams(title or "Error rate per cluster", subtitle=sub,
                                                                subtitleFontSize=10))
    return _theme(chart)
