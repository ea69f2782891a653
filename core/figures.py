"""Altair charts built from result dataclasses; shared by dashboard pages and reports.

Charts never compute analysis results themselves: they take the frozen results of
``core`` and lay them out. ``to_svg`` renders any chart to a vector SVG (vl-convert)
for reports.
"""
from __future__ import annotations

import warnings
from typing import TYPE_CHECKING, Sequence

import altair as alt
import numpy as np
import pandas as pd

from core.data import DatasetStats
from core.evaluate import EvaluationResult

if TYPE_CHECKING:  # pragma: no cover
    from core.adversarial import DetectionResult
    from core.class_tokens import ClassTokens
    from core.compare import ModelComparison
    from core.faithfulness import FaithfulnessResult, GameCurve
    from core.instance import EntropyStudy, InstanceView
    from core.projection import DecisionBackground
    from core.saliency.base import SaliencyResult

# Colour-blind-safe categorical palette (Okabe–Ito), also distinguishable in grey scale by order.
PALETTE = ["#0072B2", "#E69F00", "#009E73", "#CC79A7", "#56B4E9", "#D55E00", "#F0E442", "#000000"]
FONT = "DejaVu Sans"


def _theme(chart: alt.Chart) -> alt.Chart:
    return chart.configure_axis(labelFont=FONT, titleFont=FONT, labelFontSize=11, titleFontSize=12) \
        .configure_legend(labelFont=FONT, titleFont=FONT) \
        .configure_title(font=FONT, subtitleFont=FONT, fontSize=13, anchor="start") \
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


def to_svg(chart: alt.Chart) -> str:
    """A standalone SVG string (fonts as text, no remote resources)."""
    import vl_convert as vlc

    return vlc.vegalite_to_svg(chart.to_dict())


def to_png(chart: alt.Chart, *, scale: float = 2.0) -> bytes:
    import vl_convert as vlc

    return vlc.vegalite_to_png(chart.to_dict(), scale=scale)


def categorical_colors(names: Sequence[str]) -> dict[str, str]:
    return {n: PALETTE[i % len(PALETTE)] for i, n in enumerate(names)}


# ----------------------------------------------------------------------------- projection (DeepView)

COLOR_MODES = ("prediction", "true label", "correct")
_CORRECT_COLORS = {"correct": "#8A8A8A", "wrong": "#D55E00", "unlabelled": "#BBBBBB"}


def _hex_rgb(h: str) -> np.ndarray:
    h = h.lstrip("#")
    return np.array([int(h[i:i + 2], 16) for i in (0, 2, 4)], dtype=np.float32)


def background_rgba(classes: np.ndarray, confidence: np.ndarray, n_classes: int) -> np.ndarray:
    """(g, g) class / confidence grids → (g, g, 4) uint8 image, row 0 = the grid's lowest y.

    Colour = the class colour; saturation grows with confidence from chance level 1/C (white-ish, uncertain)
    to 1 (full class tint). The tint stays light so that the points on top remain readable.
    """
    cols = np.stack([_hex_rgb(PALETTE[c % len(PALETTE)]) for c in range(n_classes)])
    s = np.clip((confidence - 1.0 / n_classes) / (1.0 - 1.0 / n_classes), 0.0, 1.0)[..., None]
    alpha = 0.08 + 0.52 * s
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


def _shorten(text: str, n: int = 160) -> str:
    text = " ".join(str(text).split())
    return text if len(text) <= n else text[: n - 1] + "…"


def projection_frame(points: np.ndarray, predictions: np.ndarray, confidence: np.ndarray, labels: np.ndarray,
                     label_names: Sequence[str], texts: Sequence[str]) -> pd.DataFrame:
    """One row per point: i, x, y, predicted, true, correct, confidence, text (shortened), wrong_first."""
    names = list(label_names)
    true = [names[l] if 0 <= l < len(names) else "—" for l in labels]
    pred = [names[p] for p in predictions]
    correct = np.where(labels < 0, "unlabelled", np.where(labels == predictions, "correct", "wrong"))
    return pd.DataFrame({"i": np.arange(len(points)), "x": points[:, 0].astype(float), "y": points[:, 1].astype(float),
                         "predicted": pred, "true": true, "correct": correct,
                         "confidence": confidence.astype(float), "text": [_shorten(t) for t in texts],
                         "wrong_first": (correct == "wrong").astype(int)})


def projection_chart(points: np.ndarray, predictions: np.ndarray, confidence: np.ndarray, labels: np.ndarray,
                     label_names: Sequence[str], texts: Sequence[str], *, bg_classes: np.ndarray,
                     bg_confidence: np.ndarray, extent: Sequence[float], color_by: str = "prediction",
                     title: str | None = None, width: int = 560, height: int = 480, max_points: int = 20000,
                     selectable: bool = False, seed: int = 0) -> alt.Chart:
    """Scatter of the 2-D projection over the decision background (colour = class, paleness = uncertainty).

    points (n, 2); predictions, labels (n,) ints (label −1 = unlabelled); confidence (n,); bg_* (g, g).
    Above ``max_points`` a uniform random subset is drawn (said in the title). With ``selectable`` the chart
    carries a box selection ``brush`` and a click selection ``pick`` over the field ``i`` (row index).
    """
    if color_by not in COLOR_MODES:
        raise ValueError(f"color_by must be one of {COLOR_MODES}")
    names = list(label_names)
    df = projection_frame(points, predictions, confidence, labels, names, texts)
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
    size = 28 if shown <= 2000 else (14 if shown <= 10000 else 6)
    pts = alt.Chart(df).mark_circle(size=size, opacity=0.9, stroke="white", strokeWidth=0.4).encode(
        x=alt.X("x:Q", scale=xs, axis=None), y=alt.Y("y:Q", scale=ys, axis=None),
        color=alt.Color(f"{field}:N", scale=scale, title=legend_title, legend=alt.Legend(orient="right")),
        tooltip=[alt.Tooltip("text:N", title="Text"), alt.Tooltip("true:N", title="True label"),
                 alt.Tooltip("predicted:N", title="Predicted"),
                 alt.Tooltip("confidence:Q", title="Confidence", format=".1%"), alt.Tooltip("i:Q", title="Row")],
    )
    if color_by == "correct":
        pts = pts.encode(order=alt.Order("wrong_first:Q", sort="ascending"))  # wrong ones drawn last, on top
    if selectable:
        brush = alt.selection_interval(name="brush", encodings=["x", "y"])
        pick = alt.selection_point(name="pick", fields=["i"], on="click")
        pts = pts.add_params(brush, pick).encode(
            opacity=alt.condition(brush, alt.value(0.95), alt.value(0.35)))
    subtitle = "Background: the head's class on the inverse map; pale = uncertain."
    if shown < len(points):
        subtitle += f" Showing {shown:,} of {len(points):,} points."
    chart = alt.layer(bg, pts).properties(
        width=width, height=height,
        title=alt.TitleParams(title or "Discriminative projection", subtitle=subtitle, subtitleFontSize=10))
    return _theme(chart)


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


# ----------------------------------------------------------------------------- saliency

SALIENCY_POS = (213, 94, 0)    # Okabe–Ito vermillion: evidence for the explained class
SALIENCY_NEG = (0, 114, 178)   # Okabe–Ito blue: evidence against it (signed methods only)


def _cell_style(score: float, scale: float, signed: bool) -> str:
    if scale <= 0 or not np.isfinite(score):
        return ""
    a = min(1.0, abs(score) / scale)
    if a < 0.02:
        return ""
    r, g, b = SALIENCY_NEG if (signed and score < 0) else SALIENCY_POS
    dark = a > 0.6  # keep the word legible on strong colour
    return (f"background-color: rgba({r},{g},{b},{0.85 * a:.3f});" + ("color:#fff;" if dark else "")
            + "border-radius:2px;")


def _highlight_segment(text: str, words: Sequence[str], scores: np.ndarray, spans: np.ndarray, scale: float,
                       signed: bool) -> str:
    """One segment's text with each word in a span coloured by its score; text between words kept verbatim."""
    from html import escape

    parts, cur = [], 0
    use_spans = len(spans) and (spans[:, 0] >= 0).all()
    for w, s, (a, b) in zip(words, scores, spans if len(spans) else [(-1, -1)] * len(words)):
        if use_spans:  # show the text itself (original casing, no '##' or 'Ġ'); pieces sharing a span show once
            a = max(int(a), cur)
            parts.append(escape(text[cur:a]))
            w, cur = text[a:max(a, int(b))], max(cur, int(b))
            if not w:
                continue
        elif parts:
            parts.append(" ")
        style = _cell_style(float(s), scale, signed)
        parts.append(f'<span class="bl-tok" style="{style}" title="{float(s):+.4g}">{escape(w)}</span>'
                     if style else f'<span class="bl-tok" title="{float(s):+.4g}">{escape(w)}</span>')
    if use_spans:
        parts.append(escape(text[cur:]))
    return "".join(parts)


def saliency_html(result: "SaliencyResult", *, words: bool = True, header: bool = True, scale: float | None = None,
                  title: str | None = None) -> str:
    """Highlighted text (HTML, inline styles, escaped): background intensity ∝ |score| / max |score|.

    Unsigned methods use one colour; signed ones vermillion (for the explained class) and blue
    (against). Works in Streamlit (``st.html``) and in WeasyPrint (no scripts, no external CSS).
    """
    from html import escape

    from core.saliency.words import merge_words

    if words:
        w = merge_words(result)
        units, scores, segs, spans = list(w.words), w.scores, w.segments, w.spans
    else:
        units, scores, segs = list(result.tokens), result.scores, result.segments
        spans = result.offsets
    finite = np.abs(scores[np.isfinite(scores)])
    sc = float(scale if scale is not None else (finite.max() if finite.size else 0.0))
    blocks = []
    for seg, text in ((0, result.text), (1, result.text_pair)):
        if text is None:
            continue
        m = segs == seg
        sp = spans[m]
        cut = False
        if result.truncated and len(sp) and (sp[:, 0] >= 0).all():
            end = int(sp[:, 1].max())  # the model never read what follows: do not show it as "zero saliency"
            cut = bool(text[end:].strip())
            text = text[:end]
        body = _highlight_segment(text, [u for u, k in zip(units, m) if k], scores[m], sp, sc, result.signed)
        if cut or (result.truncated and not len(sp)):
            body += (' <span class="bl-trunc" style="color:#666;font-style:italic" title="the model reads only the part '
                     'shown">[… truncated]</span>')
        label = ("" if result.text_pair is None else
                 f'<span class="bl-seg" style="color:#666;font-size:85%">{"first text" if seg == 0 else "second text"}: </span>')
        blocks.append(f'<div class="bl-sal-text" style="line-height:1.9">{label}{body}</div>')
    head = ""
    if header:
        what = escape(title or result.method)
        explain = ("" if result.target == result.predicted else
                   f" · explaining <b>{escape(result.target_label)}</b> ({result.target_probability:.1%})")
        head = (f'<div class="bl-sal-head" style="font-size:85%;color:#444;margin-bottom:2px">{what} · predicted '
                f'<b>{escape(result.predicted_label)}</b> ({result.probability:.1%}){explain}</div>')
    return f'<div class="bl-saliency" style="margin:4px 0 10px 0">{head}{"".join(blocks)}</div>'


def saliency_comparison_html(results: Sequence["SaliencyResult"], *, titles: Sequence[str] | None = None,
                             words: bool = True) -> str:
    """Several methods on the same text, one row each (as in the paper's figures): method | highlighted text."""
    from html import escape

    if not results:
        return ""
    r0 = results[0]
    titles = list(titles) if titles is not None else [r.method for r in results]
    head = (f'<div style="font-size:90%;margin-bottom:4px">Predicted <b>{escape(r0.predicted_label)}</b> '
            f'({r0.probability:.1%})' + ("" if r0.target == r0.predicted else
                                          f'; explaining <b>{escape(r0.target_label)}</b>') + "</div>")
    rows = []
    for t, r in zip(titles, results):
        kind = "signed: vermillion for, blue against" if r.signed else "unsigned"
        cell = saliency_html(r, words=words, header=False)
        rows.append(f'<tr><td style="vertical-align:top;padding:4px 10px 4px 0;white-space:nowrap;font-size:85%">'
                    f'<b>{escape(t)}</b><br><span style="color:#666">{escape(kind)}</span></td>'
                    f'<td style="vertical-align:top;padding:4px 0">{cell}</td></tr>')
    return (f'<div class="bl-sal-compare">{head}<table style="border-collapse:collapse;width:100%">'
            f'{"".join(rows)}</table></div>')


def curve_label(c: "GameCurve") -> str:
    """A reader's name for a curve: the method's title, with the layer for Grad-CAM ('random order' for random)."""
    if c.method == "random":
        return "random order"
    from core.saliency import method_names

    if c.method not in method_names():
        return c.name
    from core.saliency import get_method

    title = get_method(c.method).title
    return title if c.layer is None else f"{title}, layer {c.layer}"


def _game_frame(res: "FaithfulnessResult", curves: Sequence["GameCurve"], metric: str) -> pd.DataFrame:
    recs = []
    for c in curves:
        for game, acc, prob in (("hiding", c.hide_accuracy, c.hide_probability),
                                ("revealing", c.reveal_accuracy, c.reveal_probability)):
            vals = acc if metric == "accuracy" else prob
            for lv, v in zip(c.levels, vals):
                recs.append({"method": curve_label(c), "game": game, "share": float(lv), "value": float(v)})
    return pd.DataFrame(recs)


def game_curves(res: "FaithfulnessResult", *, max_methods: int = 8) -> list["GameCurve"]:
    """The curves worth drawing: every method once (swept Grad-CAM at its best layer and layer 0), random last."""
    out, seen = [], set()
    for c in res.curves:
        if c.method == "random" or c.method in seen:
            continue
        if res.layers(c.method):
            best = res.best_layer(c.method)
            out.append(res.curve(c.method, best))
            if best != 0 and any(x.layer == 0 for x in res.layers(c.method)):
                out.append(res.curve(c.method, 0))
        else:
            out.append(c)
        seen.add(c.method)
    return out[:max_methods] + [res.random]


def faithfulness_chart(res: "FaithfulnessResult", *, metric: str = "accuracy", curves: Sequence["GameCurve"] | None = None,
                       width: int = 300, height: int = 220) -> alt.Chart:
    """Hiding (left) and revealing (right) curves: x = share of tokens hidden/kept, y = accuracy or probability."""
    cs = list(curves) if curves is not None else game_curves(res)
    df = _game_frame(res, cs, metric)
    names = [curve_label(c) for c in cs]
    colors = [("#888888" if c.method == "random" else PALETTE[i % len(PALETTE)]) for i, c in enumerate(cs)]
    ytitle = f"accuracy (against {res.accuracy_against})" if metric == "accuracy" else "probability of the predicted class"
    base = alt.Chart(df).encode(
        x=alt.X("share:Q", axis=alt.Axis(format="%"), title="share of tokens (most salient first)"),
        y=alt.Y("value:Q", scale=alt.Scale(domain=[0, 1]), axis=alt.Axis(format="%"), title=ytitle),
        color=alt.Color("method:N", sort=names, scale=alt.Scale(domain=names, range=colors), title="order",
                        legend=alt.Legend(orient="bottom", columns=3, labelLimit=220)),
        strokeDash=alt.condition(alt.datum.method == "random order", alt.value([5, 3]), alt.value([1, 0])),
        tooltip=["method:N", "game:N", alt.Tooltip("share:Q", format=".0%"), alt.Tooltip("value:Q", format=".1%")],
    )
    lines = base.mark_line(point=alt.OverlayMarkDef(size=18))
    panels = []
    for game, sub in (("hiding", "top tokens replaced — lower is more faithful"),
                      ("revealing", "only top tokens kept — higher is more faithful")):
        panels.append(lines.transform_filter(alt.datum.game == game).properties(
            width=width, height=height, title=alt.TitleParams(f"{game.capitalize()} game", subtitle=sub,
                                                              subtitleFontSize=10)))
    return _theme(alt.hconcat(*panels).resolve_scale(color="shared"))


def layer_sweep_chart(res: "FaithfulnessResult", *, width: int = 420, height: int = 220) -> alt.Chart:
    """Reveal − hide accuracy AUC gap per layer for decoded and plain Grad-CAM, with the random order as a rule."""
    recs = []
    for m, label in (("decoded_gradcam", "decoded Grad-CAM"), ("layer_gradcam", "plain layer Grad-CAM")):
        for c in res.layers(m):
            recs.append({"layer": c.layer, "method": label, "gap": c.gap, "hide": c.hide_auc, "reveal": c.reveal_auc})
    df = pd.DataFrame(recs)
    if df.empty:
        df = pd.DataFrame({"layer": [], "method": [], "gap": [], "hide": [], "reveal": []})
    order = ["decoded Grad-CAM", "plain layer Grad-CAM"]
    line = alt.Chart(df).mark_line(point=True).encode(
        x=alt.X("layer:O", title="layer (0 = embeddings)", axis=alt.Axis(labelAngle=0)),
        y=alt.Y("gap:Q", title="revealing AUC − hiding AUC (higher is better)"),
        color=alt.Color("method:N", sort=order, scale=alt.Scale(domain=order, range=PALETTE[:2]), title=None,
                        legend=alt.Legend(orient="bottom")),
        strokeDash=alt.StrokeDash("method:N", sort=order, legend=None),
        tooltip=["method:N", "layer:O", alt.Tooltip("gap:Q", format=".3f"), alt.Tooltip("hide:Q", format=".3f"),
                 alt.Tooltip("reveal:Q", format=".3f")])
    rnd = alt.Chart(pd.DataFrame({"gap": [res.random.gap], "label": ["random order"]})).mark_rule(
        color="#888888", strokeDash=[5, 3]).encode(y="gap:Q", tooltip=["label:N", alt.Tooltip("gap:Q", format=".3f")])
    txt = alt.Chart(pd.DataFrame({"gap": [res.random.gap], "label": ["random"]})).mark_text(
        align="left", dx=4, dy=-6, color="#666666", fontSize=10).encode(y="gap:Q", text="label:N", x=alt.value(0))
    return _theme((line + rnd + txt).properties(width=width, height=height,
                                                title=alt.TitleParams("Which layer explains best?",
                                                                      subtitle="decoded vs plain Grad-CAM per layer",
                                                                      subtitleFontSize=10)))


def faithfulness_frame(res: "FaithfulnessResult") -> pd.DataFrame:
    """One row per curve: method title, layer, hiding / revealing AUCs (accuracy and probability), gap,
    saliency seconds, and whether the row is the best layer of a Grad-CAM sweep."""
    from core.saliency import get_method

    best = {m: res.best_layer(m) for m in ("decoded_gradcam", "layer_gradcam") if res.layers(m)}
    rows = [{"method": "random order" if c.method == "random" else get_method(c.method).title,
             "layer": "–" if c.layer is None else str(c.layer), "hiding AUC": c.hide_auc,
             "revealing AUC": c.reveal_auc, "gap": c.gap, "hiding AUC (prob.)": c.hide_auc_prob,
             "revealing AUC (prob.)": c.reveal_auc_prob, "saliency s": c.saliency_seconds,
             "best layer": c.layer is not None and best.get(c.method) == c.layer} for c in res.curves]
    return pd.DataFrame(rows)


def class_tokens_frame(ct: "ClassTokens") -> pd.DataFrame:
    """One column per class: its top words with idf-weighted scores, for st.dataframe and report tables."""
    cols = {}
    for c, name in enumerate(ct.label_names):
        vals = [f"{w} ({s:.2f})" for w, s in zip(ct.words[c], ct.scores[c])]
        cols[f"{name} ({int(ct.docs[c])})"] = vals + [""] * (ct.top_k - len(vals))
    return pd.DataFrame(cols, index=pd.RangeIndex(1, ct.top_k + 1, name="rank"))


# ----------------------------------------------------------------------------- model comparison


def _bg_layer(bg: "DecisionBackground", n_classes: int, xs: alt.Scale, ys: alt.Scale) -> alt.Chart:
    return _background_image(bg.classes, bg.confidence, bg.extent, n_classes, xs, ys)


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
        from core.compare import align_predictions

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
        layers = [_bg_layer(bg, len(names), xs, ys), pts_chart]
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


# ----------------------------------------------------------------------------- adversarial samples


def adversarial_projection_chart(det: "DetectionResult", *, width: int = 560, height: int = 460,
                                 max_links: int = 400) -> alt.Chart:
    """Clean (circles) and adversarial (triangles) texts in one DeepView projection; a grey line joins each
    adversarial text to its clean original. Colour = predicted class; background pale = uncertain."""
    run = det.run
    proj = run.projection
    names = list(run.label_names)
    pts = proj.points
    df = pd.DataFrame({"i": np.arange(len(pts)), "x": pts[:, 0].astype(float), "y": pts[:, 1].astype(float),
                       "predicted": [names[c] for c in proj.predictions],
                       "confidence": proj.confidence.astype(float),
                       "kind": np.where(det.is_adversarial, "adversarial", "clean"),
                       "text": [_shorten(t) for t in run.texts],
                       **{s: v.astype(float) for s, v in det.scores.items()}})
    bg = proj.background
    x0, x1, y0, y1 = (float(v) for v in bg.extent)
    xs = alt.Scale(domain=[x0, x1], nice=False, zero=False)
    ys = alt.Scale(domain=[y0, y1], nice=False, zero=False)
    adv = np.flatnonzero(det.is_adversarial)[:max_links]
    links = pd.DataFrame({"x": pts[det.pair_of[adv], 0].astype(float), "y": pts[det.pair_of[adv], 1].astype(float),
                          "x2": pts[adv, 0].astype(float), "y2": pts[adv, 1].astype(float)})
    link = alt.Chart(links).mark_rule(color="#555555", strokeWidth=0.7, opacity=0.6).encode(
        x=alt.X("x:Q", scale=xs, axis=None), y=alt.Y("y:Q", scale=ys, axis=None), x2="x2:Q", y2="y2:Q")
    scale = alt.Scale(domain=names, range=[PALETTE[i % len(PALETTE)] for i in range(len(names))])
    points = alt.Chart(df).mark_point(filled=True, opacity=0.95).encode(
        x=alt.X("x:Q", scale=xs, axis=None), y=alt.Y("y:Q", scale=ys, axis=None),
        color=alt.Color("predicted:N", scale=scale, title="Predicted class"),
        shape=alt.Shape("kind:N", scale=alt.Scale(domain=["clean", "adversarial"], range=["circle", "triangle-up"]),
                        title="Text"),
        size=alt.Size("kind:N", scale=alt.Scale(domain=["clean", "adversarial"], range=[30, 90]), legend=None),
        stroke=alt.condition("datum.kind == 'adversarial'", alt.value("black"), alt.value("white")),
        strokeWidth=alt.value(0.6),
        tooltip=[alt.Tooltip("text:N", title="Text"), "kind:N", alt.Tooltip("predicted:N", title="Predicted"),
                 alt.Tooltip("confidence:Q", format=".1%"),
                 *[alt.Tooltip(f"{s}:Q", format=".2f") for s in det.scores], alt.Tooltip("i:Q", title="Row")])
    n_adv = int(det.is_adversarial.sum())
    chart = alt.layer(_bg_layer(bg, len(names), xs, ys), link, points).properties(
        width=width, height=height, title=alt.TitleParams(
            f"{int((~det.is_adversarial).sum()):,} clean and {n_adv:,} adversarial texts in one projection",
            subtitle="Triangles: adversarial; grey lines join each to its original. Pale background = the head is "
                     "uncertain there.", subtitleFontSize=10))
    return _theme(chart)


SCORE_TITLES = {"entropy": "classifier entropy", "background_uncertainty": "background uncertainty",
                "neighbour_disagreement": "2-D neighbour disagreement"}


def detection_chart(det: "DetectionResult", *, width: int = 260, height: int = 130) -> alt.Chart:
    """AUROC and precision at k of each suspicion score; dashed lines = chance (0.5 and the base rate)."""
    recs = []
    for s in det.scores:
        recs += [{"score": SCORE_TITLES.get(s, s), "metric": "AUROC", "value": det.auroc[s]},
                 {"score": SCORE_TITLES.get(s, s), "metric": f"precision at k = {det.k}",
                  "value": det.precision_at_k[s]}]
    df = pd.DataFrame(recs)

    def panel(metric: str, chance: float, title: str) -> alt.Chart:
        bars = alt.Chart(df[df.metric == metric]).mark_bar(color=PALETTE[0]).encode(
            x=alt.X("value:Q", scale=alt.Scale(domain=[0, 1]), title=metric),
            y=alt.Y("score:N", title=None, sort=None),
            tooltip=["score:N", alt.Tooltip("value:Q", format=".3f")])
        text = bars.mark_text(align="left", dx=3, fontSize=11, color="black").encode(
            text=alt.Text("value:Q", format=".2f"))
        rule = alt.Chart(pd.DataFrame({"value": [chance]})).mark_rule(color="#666666", strokeDash=[4, 3]).encode(
            x="value:Q")
        return alt.layer(bars, text, rule).properties(width=width, height=height, title=title)

    chart = alt.vconcat(panel("AUROC", 0.5, "AUROC (dashed: chance 0.5)"),
                        panel(f"precision at k = {det.k}", det.base_rate,
                              f"Precision among the {det.k} most suspicious (dashed: base rate {det.base_rate:.2f})"))
    return _theme(chart.properties(title=alt.TitleParams(
        "How well each score separates adversarial from clean texts", subtitle="1 = perfect; higher is better",
        subtitleFontSize=10)))


# ----------------------------------------------------------------------------- multi-task


def matrix_chart(matrix: np.ndarray, rows: Sequence[str], cols: Sequence[str] | None = None, *, title: str,
                 value_title: str, domain: tuple[float, float] = (0.0, 1.0), fmt: str = ".2f",
                 row_title: str = "", col_title: str = "", subtitle: str = "", cell: int = 70) -> alt.Chart:
    """A labelled heatmap with the value printed in each cell (readable in grey scale)."""
    cols = list(cols if cols is not None else rows)
    recs = [{"row": r, "col": c, "value": float(matrix[i, j])} for i, r in enumerate(rows)
            for j, c in enumerate(cols)]
    df = pd.DataFrame(recs)
    mid = (domain[0] + domain[1]) / 2
    base = alt.Chart(df).encode(x=alt.X("col:N", sort=cols, title=col_title or None, axis=alt.Axis(labelAngle=0)),
                                y=alt.Y("row:N", sort=list(rows), title=row_title or None))
    rect = base.mark_rect(stroke="white").encode(
        color=alt.Color("value:Q", scale=alt.Scale(scheme="blues", domain=list(domain)), title=value_title),
        tooltip=["row:N", "col:N", alt.Tooltip("value:Q", format=fmt)])
    text = base.mark_text(fontSize=12).encode(
        text=alt.Text("value:Q", format=fmt),
        color=alt.condition(alt.datum.value > mid, alt.value("white"), alt.value("black")))
    return _theme((rect + text).properties(width=cell * len(cols), height=cell * len(rows),
                                           title=alt.TitleParams(title, subtitle=subtitle, subtitleFontSize=10)))


def joint_projection_chart(points: np.ndarray, groups: Sequence[str], labels: Sequence[str], texts: Sequence[str], *,
                           color_by: str = "task", title: str = "All tasks in one map", width: int = 520,
                           height: int = 420) -> alt.Chart:
    """Scatter of a joint 2-D map. points (n, 2); groups: task per point; labels: 'task: label' per point."""
    if color_by not in ("task", "label"):
        raise ValueError("color_by is task or label")
    df = pd.DataFrame({"x": points[:, 0].astype(float), "y": points[:, 1].astype(float), "task": list(groups),
                       "label": list(labels), "text": [_shorten(t) for t in texts]})
    field = "task" if color_by == "task" else "label"
    domain = list(dict.fromkeys(df[field]))
    scale = alt.Scale(domain=domain, range=[PALETTE[i % len(PALETTE)] for i in range(len(domain))])
    tasks = list(dict.fromkeys(df["task"]))
    shapes = ["circle", "square", "triangle-up", "diamond", "cross"]
    chart = alt.Chart(df).mark_point(filled=True, size=28, opacity=0.85).encode(
        x=alt.X("x:Q", axis=None, scale=alt.Scale(zero=False)), y=alt.Y("y:Q", axis=None, scale=alt.Scale(zero=False)),
        color=alt.Color(f"{field}:N", scale=scale, title="Task" if field == "task" else "Task: label",
                        legend=alt.Legend(orient="right", labelLimit=260)),
        shape=alt.Shape("task:N", scale=alt.Scale(domain=tasks, range=shapes[:len(tasks)]), title="Task"),
        tooltip=[alt.Tooltip("text:N", title="Text"), "task:N", "label:N"],
    ).properties(width=width, height=height, title=alt.TitleParams(
        title, subtitle="UMAP of the shared encoder's pooled embeddings (cosine); shape = task", subtitleFontSize=10))
    return _theme(chart)


def adversarial_diffs_html(rows: Sequence[dict], *, limit: int = 10) -> str:
    """Successful attacks as a small HTML table: row, prediction before → after and the word diff of the text
    (removed words struck through in vermillion, inserted words bold blue, look-alike letters from other scripts
    marked yellow with their Unicode name as a tooltip). ``rows``: ``core.adversarial.flagged_rows``."""
    import unicodedata
    from html import escape

    from core.adversarial import word_diff

    style = {"-": "color:#D55E00;text-decoration:line-through", "+": "color:#0072B2;font-weight:600"}

    def marked(t: str) -> str:  # look-alike letters from other scripts get a yellow mark and their name
        return "".join(escape(ch) if ord(ch) < 128 else
                       f'<span style="background:#FFE8A3" title="{escape(unicodedata.name(ch, "?"))} '
                       f'(U+{ord(ch):04X})">{escape(ch)}</span>' for ch in t)

    out = []
    for r in [r for r in rows if r.get("status") == "success"][:limit]:
        parts = [escape(t) if op == "=" else f'<span class="bl-diff-{"del" if op == "-" else "ins"}" '
                 f'style="{style[op]}">{escape(t) if op == "-" else marked(t)}</span>'
                 for op, t in word_diff(r["original"], r["adversarial"])]
        change = (f'{escape(str(r["prediction_before"]))} ({r["probability_before"]:.0%}) → '
                  f'<b>{escape(str(r["prediction_after"]))}</b> ({r["probability_after"]:.0%})')
        out.append(f'<tr><td style="vertical-align:top;padding:4px 10px 4px 0;color:#666;font-size:90%">'
                   f'{int(r["index"])}</td>'
                   f'<td style="vertical-align:top;padding:4px 10px 4px 0;white-space:nowrap;font-size:90%">'
                   f'{change}</td>'
                   f'<td style="vertical-align:top;padding:4px 0;line-height:1.5">{" ".join(parts)}</td></tr>')
    if not out:
        return ""
    head = ('<tr style="text-align:left;font-size:85%;color:#666"><th style="padding-right:10px">row</th>'
            '<th style="padding-right:10px">prediction before → after</th><th>text (struck: removed, bold: '
            'inserted)</th></tr>')
    return f'<table class="bl-adv-diffs" style="border-collapse:collapse;width:100%">{head}{"".join(out)}</table>'


# ----------------------------------------------------------------------------- inside the transformer: layers, topics

if TYPE_CHECKING:  # pragma: no cover
    from core.layers import LayerSeparability
    from core.topics import TopicsResult

LAYER_COLOR_MODES = ("true label", "prediction", "correct", "attribution entropy")
# beyond the 8 Okabe–Ito colours (clusters can be more): lighter and darker tones of the same hues
_MORE_COLORS = ["#7FB7E0", "#F5CF80", "#80CFB9", "#E6BCD3", "#AAD9F4", "#EAAF80", "#004C7A", "#8A6100",
                "#006B4E", "#8C4F73"]
NOISE = "noise (no cluster)"


def _many_colors(n: int) -> list[str]:
    cols = PALETTE + _MORE_COLORS
    return [cols[i % len(cols)] for i in range(n)]


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


def topic_names(res: "TopicsResult", *, words: int = 3) -> list[str]:
    """One short name per cluster: ``#id word, word, word`` (its best topic words)."""
    return [f"#{t.id} " + (", ".join(t.words[:words]) if t.words else "(no words)") for t in res.topics]


def topic_map_chart(points: np.ndarray, res: "TopicsResult", texts: Sequence[str], *,
                    true: Sequence[str] | None = None, predicted: Sequence[str] | None = None,
                    title: str | None = None, subtitle: str | None = None, width: int = 560, height: int = 440,
                    labels: bool = True, highlight: int | None = None) -> alt.Chart:
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
    tips.append(alt.Tooltip("i:Q", title="Row"))
    dom = names + ([NOISE] if (cl < 0).any() else [])
    rng = _many_colors(len(names)) + (["#BBBBBB"] if (cl < 0).any() else [])
    xs, ys = alt.Scale(zero=False, padding=36), alt.Scale(zero=False, padding=10)  # room for the labels
    enc = dict(x=alt.X("x:Q", axis=None, scale=xs), y=alt.Y("y:Q", axis=None, scale=ys))
    pts = alt.Chart(df).mark_circle(size=30, stroke="white", strokeWidth=0.4).encode(
        **enc, color=alt.Color("cluster:N", scale=alt.Scale(domain=dom, range=rng), sort=dom, title="Cluster",
                               legend=alt.Legend(orient="right", labelLimit=260, symbolLimit=40)),
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


def _unstack_labels(labels: pd.DataFrame, points: np.ndarray, width: int, height: int, *, line: float = 14.0,
                    char: float = 7.0) -> np.ndarray:
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
        for step in (0, -1, 1, -2, 2, -3, 3, -4, 4):
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
                        legend=alt.Legend(format=".0%")),
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
    sub = "share of each cluster's labelled texts the classifier gets wrong"
    if res.error_rate is not None:  # drawn first, so the bar labels stay on top
        layers.insert(0, alt.Chart(pd.DataFrame({"error": [float(res.error_rate)]})).mark_rule(
            color="#444444", strokeDash=[4, 3]).encode(x="error:Q"))
        sub += f"; dashed: all texts ({res.error_rate:.1%})"
    chart = alt.layer(*layers).properties(width=width, height=22 * len(df),
                                          title=alt.TitleParams(title or "Error rate per cluster", subtitle=sub,
                                                                subtitleFontSize=10))
    return _theme(chart)


# ----------------------------------------------------------------------------- attention heads and maps

if TYPE_CHECKING:  # pragma: no cover
    from core.attention_heads import PruningCurves
    from core.attention_maps import AttentionMaps

PRUNING_ORDERS = {"most": ("most important first", "#D55E00"), "least": ("least important first", "#0072B2"),
                  "random": ("random order", "#888888")}
_BLUES = ["#f7fbff", "#c6dbef", "#6baed6", "#2171b5", "#08306b"]  # white → dark blue: 0 attention is white
_SEGMENT_COLOR = "#D55E00"  # segment boundaries on attention maps (vermillion on blues)
ATTENTION_VMAX_FLOOR = 0.25  # a map's darkest blue is its largest weight, but at least this (diffuse heads stay pale)


def head_cell_size(n_layers: int, n_heads: int, *, width: int = 420) -> int:
    """Side of one (layer, head) cell so that a layers × heads grid is about ``width`` wide (14–34 px)."""
    return int(max(14, min(34, width // max(n_heads, 1))))


def _color_legend(kind: str, length: int, fmt: str | None = None) -> alt.Legend:
    """A continuous colour legend: a gradient bar, or (``kind="swatches"``) five labelled squares — for print:
    WeasyPrint loses SVG gradients in some layouts, a row of squares always survives."""
    if kind == "swatches":
        return alt.Legend(orient="right", type="symbol", symbolType="square", symbolSize=120, tickCount=5,
                          symbolStrokeColor="#999999", symbolStrokeWidth=0.5, **({"format": fmt} if fmt else {}))
    return alt.Legend(orient="right", gradientLength=length, **({"format": fmt} if fmt else {}))


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


def _vega_string(text: str) -> str:
    """``text`` as a double-quoted Vega expression string with every character written as a \\uXXXX escape
    (UTF-16 surrogates above the BMP), so no token can end the string or inject an expression. Vega takes a
    string whose value is exactly "if" for its if() function ("Unrecognized signal name"; the only such word in
    the BERT vocabulary), so that one gets a zero-width space."""
    text = str(text)
    if text == "if":
        text = "if\u200b"
    out = []
    for ch in text:
        code = ord(ch)
        if code > 0xFFFF:
            code -= 0x10000
            out.append(f"\\u{0xD800 + (code >> 10):04x}\\u{0xDC00 + (code & 0x3FF):04x}")
        else:
            out.append(f"\\u{code:04x}")
    return '"' + "".join(out) + '"'


def _token_labels(tokens: Sequence[str]) -> str:
    """A Vega expression mapping an axis value (cell centre i + 0.5) to its token."""
    return "[" + ",".join(_vega_string(t) for t in tokens) + "][floor(datum.value)]"


def attention_map_chart(maps: "AttentionMaps", layer: int, head: int | None = None, *, cell: int | None = None,
                        title: str | None = None, legend: str = "gradient") -> alt.Chart:
    """Token-to-token attention of one head (``head`` None: the layer's mean over heads): row = the query token
    (the one attending), column = the key token (attended to); each row of the full map sums to 1. Pairs: the
    vermillion lines mark where the second text starts; special tokens are grey, second-text tokens vermillion.
    The darkest blue is the map's largest weight, at least ``ATTENTION_VMAX_FLOOR``; ``legend="swatches"`` for
    print."""
    A = maps.mean_heads(layer) if head is None else maps.head(layer, head)
    T = A.shape[0]
    cell = cell or int(max(9, min(22, 560 // max(T, 1))))
    tokens = list(maps.tokens)
    q, k = np.meshgrid(np.arange(T), np.arange(T), indexing="ij")
    df = pd.DataFrame({"q": q.ravel(), "k": k.ravel(), "weight": A.ravel().astype(float),
                       "query": [tokens[i] for i in q.ravel()], "key": [tokens[j] for j in k.ravel()]})
    df["q2"], df["k2"] = df["q"] + 1, df["k"] + 1
    vmax = max(ATTENTION_VMAX_FLOOR, float(A.max()) if A.size else 0.0)
    seg = np.asarray(maps.segments)
    starts = [int(i) for i in range(1, T) if seg[i] != seg[i - 1]]
    special = [int(i) for i in np.flatnonzero(np.asarray(maps.special))]
    color_test = (f"indexof({special}, floor(datum.value)) >= 0", "#777777")
    second = (f"floor(datum.value) >= {starts[0]}", _SEGMENT_COLOR) if starts else None
    label_color: dict = {"condition": [{"test": color_test[0], "value": color_test[1]}]
                         + ([{"test": second[0], "value": second[1]}] if second else []), "value": "black"}
    font = float(min(11, max(7, cell - 2)))
    centres = [i + 0.5 for i in range(T)]
    xs = alt.Scale(domain=[0, T], nice=False, zero=False)
    ys = alt.Scale(domain=[0, T], nice=False, zero=False, reverse=True)
    axis = dict(values=centres, labelExpr=_token_labels(tokens), grid=False, ticks=False, labelFontSize=font,
                labelColor=label_color, labelOverlap=False, labelLimit=110, domain=False)
    x_axis = alt.Axis(orient="top", labelAngle=-60, labelAlign="left", **axis)
    y_axis = alt.Axis(**axis)
    rect = alt.Chart(df).mark_rect(stroke="white", strokeWidth=0.3 if cell >= 12 else 0).encode(
        x=alt.X("k:Q", scale=xs, title="attended token (key)", axis=x_axis), x2="k2:Q",
        y=alt.Y("q:Q", scale=ys, title="attending token (query)", axis=y_axis), y2="q2:Q",
        color=alt.Color("weight:Q", scale=alt.Scale(range=_BLUES, domain=[0, vmax]), title="attention",
                        legend=_color_legend(legend, min(200, cell * T), ".2f")),
        tooltip=[alt.Tooltip("query:N", title="query"), alt.Tooltip("key:N", title="key"),
                 alt.Tooltip("weight:Q", title="attention", format=".3f"), alt.Tooltip("q:Q", title="query #"),
                 alt.Tooltip("k:Q", title="key #")])
    layers = [rect]
    if starts:
        b = pd.DataFrame({"pos": starts})
        layers.append(alt.Chart(b).mark_rule(color=_SEGMENT_COLOR, strokeWidth=1.5).encode(
            x=alt.X("pos:Q", scale=xs, title="attended token (key)", axis=x_axis)))
        layers.append(alt.Chart(b).mark_rule(color=_SEGMENT_COLOR, strokeWidth=1.5).encode(
            y=alt.Y("pos:Q", scale=ys, title="attending token (query)", axis=y_axis)))
    what = f"layer {layer}, mean of {maps.n_heads} heads" if head is None else f"layer {layer}, head {head}"
    sub = ["row = the token attending, column = the token it attends to"
           + (f"; first {T} of {maps.n_tokens} tokens" if maps.cropped else "")]
    if starts:
        sub.append("vermillion lines: the second text starts")
    return _theme(alt.layer(*layers).properties(
        width=cell * T, height=cell * T,
        title=alt.TitleParams(title or f"Attention of {what}", subtitle=sub, subtitleFontSize=10)))


def _blues_rgb(v: np.ndarray) -> np.ndarray:
    """Values in [0, 1] → (…, 3) uint8 from white to dark blue (a sampled 'blues' ramp)."""
    stops = np.array([[int(c[i:i + 2], 16) for i in (1, 3, 5)] for c in _BLUES], float)
    x = np.clip(np.nan_to_num(v), 0, 1) * (len(stops) - 1)
    i = np.minimum(x.astype(int), len(stops) - 2)
    f = (x - i)[..., None]
    return np.clip(stops[i] * (1 - f) + stops[i + 1] * f, 0, 255).astype(np.uint8)


def attention_thumbnail_uri(A: np.ndarray, *, boundary: int | None = None, vmax: float = 1.0,
                            pixels: int = 96) -> str:
    """One (T, T) attention map as a PNG data: URI, about ``pixels`` wide with crisp square cells; an optional
    vermillion line where the second text starts."""
    import base64
    import io

    from PIL import Image

    T = A.shape[0]
    rep = max(1, int(np.ceil(pixels / max(T, 1))))
    img = _blues_rgb(np.asarray(A, float) / (vmax or 1.0))
    img = np.repeat(np.repeat(img, rep, 0), rep, 1)
    if boundary is not None and 0 < boundary < T:
        c = np.array([213, 94, 0], np.uint8)
        img[boundary * rep, :] = c
        img[:, boundary * rep] = c
    buf = io.BytesIO()
    Image.fromarray(img, "RGB").save(buf, format="PNG", optimize=True)
    return "data:image/png;base64," + base64.b64encode(buf.getvalue()).decode()


def attention_grid_chart(maps: "AttentionMaps", *, cell: int | None = None, highlight: tuple[int, int] | None = None,
                         selectable: bool = False, title: str | None = None) -> alt.Chart:
    """Every head at a glance: the T × T attention map of each (layer, head) as a small image, layers as rows,
    heads as columns (BertViz's model view). All thumbnails share one scale, 0 (white) … 1 (dark blue), so a pale
    map is a head that spreads its attention. ``selectable`` adds a click selection ``pick`` over layer and head."""
    L, H = maps.n_layers, maps.n_heads
    cell = cell or int(max(28, min(56, 640 // max(H, 1))))
    seg = np.asarray(maps.segments)
    starts = [i for i in range(1, len(seg)) if seg[i] != seg[i - 1]]
    b = starts[0] if starts else None
    recs = [{"layer": l, "head": h, "url": attention_thumbnail_uri(maps.attentions[l, h], boundary=b,
                                                                    pixels=2 * cell),
             "max": float(maps.attentions[l, h].max())} for l in range(L) for h in range(H)]
    df = pd.DataFrame(recs)
    gap = 6
    xs = alt.Scale(paddingInner=gap / (cell + gap), paddingOuter=0.1)
    x = alt.X("head:O", title="head", scale=xs, axis=alt.Axis(orient="top", labelAngle=0, ticks=False, domain=False,
                                                             labelFontSize=10))
    y = alt.Y("layer:O", title="layer", scale=xs, axis=alt.Axis(ticks=False, domain=False, labelFontSize=10))
    frame = alt.Chart(df).mark_rect(fill="white", stroke="#BBBBBB", strokeWidth=0.6).encode(x=x, y=y)
    img = alt.Chart(df).mark_image(width=cell, height=cell).encode(
        x=x, y=y, url="url:N", tooltip=[alt.Tooltip("layer:O"), alt.Tooltip("head:O"),
                                        alt.Tooltip("max:Q", title="largest weight", format=".2f")])
    layers = [frame, img]
    if selectable:
        pick = alt.selection_point(name="pick", fields=["layer", "head"], on="click", toggle="false")
        hit = alt.Chart(df).mark_rect(opacity=0.001).encode(x=x, y=y, tooltip=[alt.Tooltip("layer:O"),
                                                                              alt.Tooltip("head:O")])
        layers.append(hit.add_params(pick))
    if highlight is not None:
        hl = pd.DataFrame({"layer": [int(highlight[0])], "head": [int(highlight[1])]})
        layers.append(alt.Chart(hl).mark_rect(fillOpacity=0, stroke="black", strokeWidth=2.5).encode(x=x, y=y))
    size = cell + gap
    sub = [f"{L} layers × {H} heads; each map: rows = attending tokens, columns = attended tokens",
           f"(the first {maps.shown} tokens); white = 0, dark blue = 1"
           + ("; vermillion lines: the second text starts" if b is not None else "")]
    return _theme(alt.layer(*layers).properties(
        width=size * H, height=size * L,
        title=alt.TitleParams(title or "Every head's attention", subtitle=sub, subtitleFontSize=10)))


def cross_segment_chart(maps: "AttentionMaps", *, cell: int | None = None, vertical: bool = False,
                        legend: str = "gradient") -> alt.Chart:
    """For a text pair: per layer and head, the mean share of attention the first text's tokens pay to the second
    text, and the reverse (two layers × heads heatmaps, values printed; side by side, or one above the other)."""
    if maps.cross is None:
        raise ValueError("cross-segment attention needs a text pair")
    L, H = maps.n_layers, maps.n_heads
    cell = cell or head_cell_size(L, H, width=380)
    panels = [_head_matrix(maps.cross[..., 0], title="first text → second text", labels="value", fmt=".0%",
                           domain=(0.0, 1.0), value_title="share", cell=cell, legend=legend),
              _head_matrix(maps.cross[..., 1], title="second text → first text", labels="value", fmt=".0%",
                           domain=(0.0, 1.0), value_title="share", cell=cell, legend=legend)]
    both = alt.vconcat(*panels) if vertical else alt.hconcat(*panels)
    return _theme(both.resolve_scale(color="shared").properties(title=alt.TitleParams(
        "Cross-segment attention", subtitle=["mean share of a token's attention that goes to the other text",
                                             "(special tokens belong to the text they close)"],
        subtitleFontSize=10)))


# ----------------------------------------------------------------------------- instance view


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
