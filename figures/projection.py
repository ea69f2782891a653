"""The DeepView map: points over the decision background, and the λ sweep.
"""
from __future__ import annotations

from typing import TYPE_CHECKING, Sequence

import altair as alt
import numpy as np
import pandas as pd

from figures.style import PALETTE, _hex_rgb, _shorten, _theme

if TYPE_CHECKING:  # pragma: no cover
    from core.analyses.projection.background import DecisionBackground
    from core.analyses.projection.run import ProjectionRun

COLOR_MODES = ("prediction", "true label", "correct")
_CORRECT_COLORS = {"correct": "#8A8A8A", "wrong": "#D55E00", "unlabelled": "#BBBBBB"}


def background_rgba(classes: np.ndarray, confidence: np.ndarray, n_classes: int) -> np.ndarray:
    """(g, g) class / confidence grids → (g, g, 4) uint8 image, row 0 = the grid's lowest y.

    Colour = the class colour; saturation grows with confidence from chance level 1/C (white-ish, uncertain)
    to 1 (a light class tint). The tint stays pale (at most 30 %) so that the points on top, drawn in the full
    colours with a dark outline, stand out from the region they lie in.
    """
    cols = np.stack([_hex_rgb(PALETTE[c % len(PALETTE)]) for c in range(n_classes)])
    s = np.clip((confidence - 1.0 / n_classes) / (1.0 - 1.0 / n_classes), 0.0, 1.0)[..., None]
    alpha = 0.05 + 0.25 * s
    rgb = (1.0 - alpha) * 255.0 + alpha * cols[classes]
    img = np.concatenate([rgb, np.full(rgb.shape[:2] + (1,), 255.0)], -1)
    return np.clip(img, 0, 255).astype(np.uint8)


def background_data_uri(classes: np.ndarray, confidence: np.ndarray, n_classes: int) -> str:
    """The background as a PNG data: URI (north up: image row 0 is the grid's highest y)."""
    import base64
    import io

    from PIL import Image

    img = background_rgba(classes, confidence, n_classes)[::-1]
    buf = io.BytesIO()
    Image.fromarray(img, "RGBA").save(buf, format="PNG")
    return "data:image/png;base64," + base64.b64encode(buf.getvalue()).decode()


def _background_image(classes: np.ndarray, confidence: np.ndarray, extent: Sequence[float], n_classes: int,
                      xs: alt.Scale, ys: alt.Scale) -> alt.Chart:
    """The decision background as an image layer spanning ``extent`` (x0, x1, y0, y1)."""
    x0, x1, y0, y1 = (float(v) for v in extent)
    uri = background_data_uri(classes, confidence, n_classes)
    return alt.Chart(pd.DataFrame({"url": [uri], "x": [x0], "x2": [x1], "y": [y1], "y2": [y0]})).mark_image(
        aspect=False, align="left", baseline="top").encode(
        x=alt.X("x:Q", scale=xs, axis=None), x2="x2:Q", y=alt.Y("y:Q", scale=ys, axis=None), y2="y2:Q",
        url="url:N")


def projection_frame(points: np.ndarray, predictions: np.ndarray, confidence: np.ndarray, labels: np.ndarray,
                     label_names: Sequence[str], texts: Sequence[str], rows: Sequence[int] | None = None
                     ) -> pd.DataFrame:
    """One row per point: i, x, y, predicted, true, correct, confidence, text (shortened), wrong_first, row (the
    text's position in the whole dataset: ``rows``, default ``i``)."""
    names = list(label_names)
    true = [names[l] if 0 <= l < len(names) else "—" for l in labels]
    pred = [names[p] for p in predictions]
    correct = np.where(labels < 0, "unlabelled", np.where(labels == predictions, "correct", "wrong"))
    return pd.DataFrame({"i": np.arange(len(points)), "x": points[:, 0].astype(float), "y": points[:, 1].astype(float),
                         "predicted": pred, "true": true, "correct": correct,
                         "confidence": confidence.astype(float), "text": [_shorten(t) for t in texts],
                         "wrong_first": (correct == "wrong").astype(int),
                         "row": np.arange(len(points)) if rows is None else np.asarray(rows, dtype=np.int64)})


def projection_chart(points: np.ndarray, predictions: np.ndarray, confidence: np.ndarray, labels: np.ndarray,
                     label_names: Sequence[str], texts: Sequence[str], *, bg_classes: np.ndarray,
                     bg_confidence: np.ndarray, extent: Sequence[float], color_by: str = "prediction",
                     title: str | None = None, width: int = 560, height: int = 480, max_points: int = 20000,
                     selectable: bool = False, seed: int = 0, rows: Sequence[int] | None = None) -> alt.Chart:
    """Scatter of the 2-D projection over the decision background (colour = class, paleness = uncertainty).

    points (n, 2); predictions, labels (n,) ints (label −1 = unlabelled); confidence (n,); bg_* (g, g).
    Above ``max_points`` a uniform random subset is drawn (said in the title). With ``selectable`` the chart
    carries a box selection ``brush`` and a click selection ``pick`` over the field ``i`` (row index).
    """
    if color_by not in COLOR_MODES:
        raise ValueError(f"color_by must be one of {COLOR_MODES}")
    names = list(label_names)
    df = projection_frame(points, predictions, confidence, labels, names, texts, rows)
    shown = len(df)
    if len(df) > max_points:
        df = df.sample(max_points, random_state=seed).sort_values("i")
        shown = max_points
    x0, x1, y0, y1 = (float(v) for v in extent)
    xs = alt.Scale(domain=[x0, x1], nice=False, zero=False)
    ys = alt.Scale(domain=[y0, y1], nice=False, zero=False)
    bg = _background_image(bg_classes, bg_confidence, extent, len(names), xs, ys)
    if color_by == "correct":
        domain = ["correct", "wrong", "unlabelled"]
        field, legend_title = "correct", "Prediction"
        scale = alt.Scale(domain=domain, range=[_CORRECT_COLORS[d] for d in domain])
    else:
        field = "predicted" if color_by == "prediction" else "true"
        legend_title = "Predicted class" if color_by == "prediction" else "True label"
        domain = names + (["—"] if field == "true" and (labels < 0).any() else [])
        scale = alt.Scale(domain=domain, range=[PALETTE[i % len(PALETTE)] for i in range(len(names))] + ["#BBBBBB"])
    size = 34 if shown <= 2000 else (16 if shown <= 10000 else 7)
    pts = alt.Chart(df).mark_circle(size=size, opacity=1.0, stroke="#1b1b1b", strokeWidth=0.7).encode(
        x=alt.X("x:Q", scale=xs, axis=None), y=alt.Y("y:Q", scale=ys, axis=None),
        color=alt.Color(f"{field}:N", scale=scale, title=legend_title, legend=alt.Legend(orient="right")),
        tooltip=[alt.Tooltip("text:N", title="Text"), alt.Tooltip("true:N", title="True label"),
                 alt.Tooltip("predicted:N", title="Predicted"),
                 alt.Tooltip("confidence:Q", title="Confidence", format=".1%"),
                 alt.Tooltip("row:Q", title="Dataset row")],
    )
    if color_by == "correct":
        pts = pts.encode(order=alt.Order("wrong_first:Q", sort="ascending"))  # wrong ones drawn last, on top
    if selectable:  # a box fades the points outside it; a clicked point is ringed and drawn larger
        brush = alt.selection_interval(name="brush", encodings=["x", "y"], mark=alt.BrushConfig(
            fill="#333333", fillOpacity=0.06, stroke="#333333", strokeDash=[4, 3]))
        pick = alt.selection_point(name="pick", fields=["i"], on="click", empty=False)
        pts = pts.add_params(brush, pick).encode(
            opacity=alt.condition(brush, alt.value(1.0), alt.value(0.45)),
            size=alt.condition(pick, alt.value(size * 5), alt.value(size)),
            strokeWidth=alt.condition(pick, alt.value(2.5), alt.value(0.7)))
    subtitle = "Background: the head's class on the inverse map; pale = uncertain."
    if shown < len(points):
        subtitle += f" Showing {shown:,} of {len(points):,} points."
    chart = alt.layer(bg, pts).properties(
        width=width, height=height,
        title=alt.TitleParams(title or "Discriminative projection", subtitle=subtitle, subtitleFontSize=10))
    # marks without a tooltip of their own show none (the dashboard's default would label the selection box "true")
    return _theme(chart).configure_mark(tooltip=False)


def run_chart(run: "ProjectionRun", *, color_by: str = "prediction", title: str | None = None, width: int = 560,
              height: int = 480, selectable: bool = False) -> alt.Chart:
    """:func:`projection_chart` of a :class:`~core.analyses.projection.run.ProjectionRun`: its points over its
    background, the true labels as the model's ids, the sample's texts (subset drawn with the run's seed)."""
    p = run.projection
    bg = p.background
    return projection_chart(p.points, p.predictions, p.confidence, run.labels, run.label_names, run.texts,
                            bg_classes=bg.classes, bg_confidence=bg.confidence, extent=bg.extent, color_by=color_by,
                            title=title, width=width, height=height, selectable=selectable, seed=run.params.seed,
                            rows=run.sample.indices)


def lambda_sweep_chart(rows: Sequence[dict], *, width: int = 420, height: int = 240,
                       title: str = "Fidelity across λ") -> alt.Chart:
    """Q_kNN error, Q_data and trustworthiness against λ; rows are dicts with lam, q_knn_error, q_data, ..."""
    recs = []
    for r in rows:
        recs += [{"λ": r["lam"], "metric": "Q_kNN error (lower is better)", "value": r["q_knn_error"]},
                 {"λ": r["lam"], "metric": "Q_data (higher is better)", "value": r["q_data"]},
                 {"λ": r["lam"], "metric": "Trustworthiness (higher is better)", "value": r["trustworthiness"]}]
    df = pd.DataFrame(recs)
    order = ["Q_kNN error (lower is better)", "Q_data (higher is better)", "Trustworthiness (higher is better)"]
    chart = alt.Chart(df).mark_line(point=True).encode(
        x=alt.X("λ:Q", scale=alt.Scale(domain=[0, 1]), title="λ (weight of the discriminative distance)"),
        y=alt.Y("value:Q", scale=alt.Scale(domain=[0, 1]), axis=alt.Axis(format="%"), title=None),
        color=alt.Color("metric:N", sort=order, scale=alt.Scale(domain=order, range=PALETTE[:3]), title=None,
                        legend=alt.Legend(orient="bottom", direction="vertical", labelLimit=0)),
        strokeDash=alt.StrokeDash("metric:N", sort=order, legend=None),
        tooltip=["λ:Q", "metric:N", alt.Tooltip("value:Q", format=".1%")],
    ).properties(width=width, height=height, title=title)
    return _theme(chart)


def background_layer(bg: "DecisionBackground", n_classes: int, xs: alt.Scale, ys: alt.Scale) -> alt.Chart:
    """A projection's decision background (classes and confidence (g, g)) as an image layer on scales ``xs``, ``ys``
    (for charts that draw their own points over it)."""
    return _background_image(bg.classes, bg.confidence, bg.extent, n_classes, xs, ys)


