"""Attention maps of one text: one head, the layers × heads grid, cross-segment attention.
"""
from __future__ import annotations

from typing import Sequence, TYPE_CHECKING
import altair as alt
import numpy as np
import pandas as pd
from figures.heads import _head_matrix, head_cell_size
from figures.style import _BLUES, _blues_rgb, _color_legend, _theme, _vega_string

if TYPE_CHECKING:  # pragma: no cover
    from core.analyses.transformer.attention_maps import AttentionMaps


_SEGMENT_COLOR = "#D55E00"  # segment boundaries on attention maps (vermillion on blues)


ATTENTION_VMAX_FLOOR = 0.25  # a map's darkest blue is its largest weight, but at least this (diffuse heads stay pale)


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
