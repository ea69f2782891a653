"""Adversarial texts: the joint map of clean and adversarial texts, detection scores, coloured diffs.
"""
from __future__ import annotations

from typing import Sequence, TYPE_CHECKING
import altair as alt
import numpy as np
import pandas as pd
from figures.projection import background_layer
from figures.style import PALETTE, _shorten, _theme

if TYPE_CHECKING:  # pragma: no cover
    from core.analyses.adversarial.detection import DetectionResult


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
    chart = alt.layer(background_layer(bg, len(names), xs, ys), link, points).properties(
        width=width, height=height, title=alt.TitleParams(
            f"{int((~det.is_adversarial).sum()):,} clean and {n_adv:,} adversarial texts in one projection",
            subtitle="Triangles: adversarial; grey lines join each to its original. Pale background = the head is "
                     "uncertain there.", subtitleFontSize=10))
    return _theme(chart)


def score_title(name: str) -> str:
    """A suspicion score's title inside a sentence or an axis ("classifier entropy")."""
    from core.analyses.adversarial.detection import SCORES

    title = SCORES.title(name) if name in SCORES else name
    return title[:1].lower() + title[1:]


def detection_chart(det: "DetectionResult", *, width: int = 260, height: int = 130) -> alt.Chart:
    """AUROC and precision at k of each suspicion score; dashed lines = chance (0.5 and the base rate)."""
    recs = []
    for s in det.scores:
        recs += [{"score": score_title(s), "metric": "AUROC", "value": det.auroc[s]},
                 {"score": score_title(s), "metric": f"precision at k = {det.k}",
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


def adversarial_diffs_html(rows: Sequence[dict], *, limit: int = 10) -> str:
    """Successful attacks as a small HTML table: row, prediction before → after and the word diff of the text
    (removed words struck through in vermillion, inserted words bold blue, look-alike letters from other scripts
    marked yellow with their Unicode name as a tooltip). ``rows``: ``core.analyses.adversarial.detection.flagged_rows``."""
    import unicodedata
    from html import escape

    from core.analyses.adversarial.attacks import word_diff

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
