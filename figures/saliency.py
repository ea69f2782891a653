"""Highlighted texts (HTML) of saliency results, the class-token tables, and their captions.
"""
from __future__ import annotations

from typing import Sequence, TYPE_CHECKING
import numpy as np
import pandas as pd

if TYPE_CHECKING:  # pragma: no cover
    from core.analyses.saliency.class_tokens import ClassTokens
    from core.analyses.saliency.result import SaliencyResult


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

    from core.analyses.saliency.words import merge_words

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


def class_tokens_frame(ct: "ClassTokens") -> pd.DataFrame:
    """One column per class: its top words with idf-weighted scores, for st.dataframe and report tables."""
    cols = {}
    for c, name in enumerate(ct.label_names):
        vals = [f"{w} ({s:.2f})" for w, s in zip(ct.words[c], ct.scores[c])]
        cols[f"{name} ({int(ct.docs[c])})"] = vals + [""] * (ct.top_k - len(vals))
    return pd.DataFrame(cols, index=pd.RangeIndex(1, ct.top_k + 1, name="rank"))


def overlap_frame(ct: "ClassTokens") -> pd.DataFrame:
    """(C, C) shared top-k words per pair of classes (diagonal: the list's length), classes as index and columns."""
    return pd.DataFrame(ct.overlap, index=list(ct.label_names), columns=list(ct.label_names))


def class_tokens_caption(ct: "ClassTokens") -> str:
    """"**How it was computed:** …": the texts and where they come from, the grouping, ``min_docs``, the IDF
    corpus and the seconds."""
    n, note = (len(ct.sample), f" {ct.sample.note}") if ct.sample is not None else (int(ct.docs.sum()), "")
    return (f"**How it was computed:** {n:,} texts{note}, grouped by predicted class (texts per class in the "
            f"column headers) · a word must occur in at least {ct.min_docs} texts of a class · idf from the "
            f"{ct.idf_source} · {ct.seconds:.1f} s.")


def completeness_caption(result: "SaliencyResult") -> str | None:
    """Integrated Gradients' completeness check in words (None for results without one)."""
    x = result.extras
    if "completeness_delta" not in x:
        return None
    verdict = ("the integral is accurate" if x["relative_delta"] < 0.05 else
               "the integral is coarse: raise the steps under “Method settings”")
    return (f"**Integrated Gradients completeness:** the attributions sum to the logit difference between the text "
            f"and the baseline ({x['logit_gap']:+.3f}) up to {x['completeness_delta']:+.2g} "
            f"({x['relative_delta']:.1%} of it): {verdict}.")
