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
