"""Shared style of every chart: the colour-blind-safe palette, the font, the theme, and SVG/PNG export.
"""
from __future__ import annotations

from typing import Sequence
import altair as alt
import numpy as np


# Colour-blind-safe categorical palette (Okabe–Ito), also distinguishable in grey scale by order.
PALETTE = ["#0072B2", "#E69F00", "#009E73", "#CC79A7", "#56B4E9", "#D55E00", "#F0E442", "#000000"]


FONT = "DejaVu Sans"


def _theme(chart: alt.Chart) -> alt.Chart:
    return chart.configure_axis(labelFont=FONT, titleFont=FONT, labelFontSize=11, titleFontSize=12) \
        .configure_legend(labelFont=FONT, titleFont=FONT) \
        .configure_title(font=FONT, subtitleFont=FONT, fontSize=13, anchor="start") \
        .configure_view(strokeWidth=0)


def to_svg(chart: alt.Chart) -> str:
    """A standalone SVG string (fonts as text, no remote resources)."""
    import vl_convert as vlc

    return vlc.vegalite_to_svg(chart.to_dict())


def to_png(chart: alt.Chart, *, scale: float = 2.0) -> bytes:
    import vl_convert as vlc

    return vlc.vegalite_to_png(chart.to_dict(), scale=scale)


def categorical_colors(names: Sequence[str]) -> dict[str, str]:
    return {n: PALETTE[i % len(PALETTE)] for i, n in enumerate(names)}


def _hex_rgb(h: str) -> np.ndarray:
    h = h.lstrip("#")
    return np.array([int(h[i:i + 2], 16) for i in (0, 2, 4)], dtype=np.float32)


def _shorten(text: str, n: int = 160) -> str:
    text = " ".join(str(text).split())
    return text if len(text) <= n else text[: n - 1] + "…"


# beyond the 8 Okabe–Ito colours (clusters can be more): lighter and darker tones of the same hues
_MORE_COLORS = ["#7FB7E0", "#F5CF80", "#80CFB9", "#E6BCD3", "#AAD9F4", "#EAAF80", "#004C7A", "#8A6100",
                "#006B4E", "#8C4F73"]


NOISE = "noise (no cluster)"


def _many_colors(n: int) -> list[str]:
    cols = PALETTE + _MORE_COLORS
    return [cols[i % len(cols)] for i in range(n)]


_BLUES = ["#f7fbff", "#c6dbef", "#6baed6", "#2171b5", "#08306b"]  # white → dark blue: 0 attention is white


def _color_legend(kind: str, length: int, fmt: str | None = None) -> alt.Legend:
    """A continuous colour legend: a gradient bar, or (``kind="swatches"``) five labelled squares — for print:
    WeasyPrint loses SVG gradients in some layouts, a row of squares always survives."""
    if kind == "swatches":
        return alt.Legend(orient="right", type="symbol", symbolType="square", symbolSize=120, tickCount=5,
                          symbolStrokeColor="#999999", symbolStrokeWidth=0.5, **({"format": fmt} if fmt else {}))
    return alt.Legend(orient="right", gradientLength=length, **({"format": fmt} if fmt else {}))


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


def _blues_rgb(v: np.ndarray) -> np.ndarray:
    """Values in [0, 1] → (…, 3) uint8 from white to dark blue (a sampled 'blues' ramp)."""
    stops = np.array([[int(c[i:i + 2], 16) for i in (1, 3, 5)] for c in _BLUES], float)
    x = np.clip(np.nan_to_num(v), 0, 1) * (len(stops) - 1)
    i = np.minimum(x.astype(int), len(stops) - 2)
    f = (x - i)[..., None]
    return np.clip(stops[i] * (1 - f) + stops[i + 1] * f, 0, 255).astype(np.uint8)
