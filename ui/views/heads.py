"""The Heads & attention page's result panels: head importance with the pruning check, and one text's maps."""
from __future__ import annotations

from typing import Callable

import pandas as pd
import streamlit as st

from core.analyses.transformer.attention_maps import AttentionMaps
from core.analyses.transformer.head_importance import HEAD_METHODS, HeadImportance
from figures.attention import attention_grid_chart, attention_map_chart, cross_segment_chart
from figures.heads import head_cell_size, head_matrix_chart, pruning_curves_chart
from ui import widgets

TITLES = HEAD_METHODS.titles()


def show_head_importance(res: HeadImportance, *, selected: tuple[int, int] | None, steps: int,
                         inspect_key: str, on_inspect: Callable[[], None]) -> None:
    """Metrics, the importance matrices (the ``selected`` head framed), the pruning curves with their reading, and
    the table of the top heads with an "Inspect head" picker (key ``inspect_key``; ``on_inspect`` its callback)."""
    L, H = res.importance.shape
    ranking, p, other = res.ranking(), res.pruning, res.other_method
    m = st.columns(4)
    m[0].metric("Most important head", f"L{ranking[0][0]}·H{ranking[0][1]}", border=True,
                help=f"Layer {ranking[0][0]}, head {ranking[0][1]} (both counted from 0) by "
                     f"{TITLES[res.method].lower()}.")
    m[1].metric("Spearman ρ", "–" if res.spearman is None else f"{res.spearman:.2f}",
                border=True, help="Rank correlation of the two methods' importance over all heads: 1 = the same "
                                  "ranking, 0 = unrelated. '–' when the other method was not computed.")
    if p is not None:
        m[2].metric("Intact accuracy", f"{p.intact:.1%}", border=True,
                    help=f"No head masked; accuracy against {p.reference} on the {res.n:,} texts.")
        gap = p.gap("most")
        m[3].metric("Pruning gap", "–" if gap is None else f"{gap * 100:+.1f} pts", border=True,
                    help="Mean accuracy (in percentage points) with k random heads masked minus with the k most "
                         "important heads masked, over the k checked between none and all heads. Positive = the "
                         "ranking finds heads that matter more than random ones.")
    sel = selected if selected is not None and 0 <= selected[0] < L and 0 <= selected[1] < H else None
    left, right = st.columns(2, gap="medium")
    cell = head_cell_size(L, H, width=300)
    widgets.show_chart(head_matrix_chart(
        res.importance, title=f"{TITLES[res.method]} ({res.n:,} texts)", value_title="importance", cell=cell,
        subtitle="numbers: the five most important heads; frame: the head shown below", highlight=sel),
        container=left)
    if res.other is not None:
        widgets.show_chart(head_matrix_chart(
            res.other, title=f"{TITLES[other]} (the other method)", value_title="importance", cell=cell,
            subtitle=f"Spearman ρ = {'–' if res.spearman is None else f'{res.spearman:.2f}'} with the ranking on the "
                     "left", highlight=sel), container=right)
    if p is not None:
        left, right = st.columns([3, 2], gap="medium")
        widgets.show_chart(pruning_curves_chart(p, width=440, height=240), container=left)
        gm, gl = p.gap("most"), p.gap("least")
        right.markdown("**Is the ranking real?**")
        right.caption("Heads are switched off (their output zeroed) k at a time: the most important first "
                      "(vermillion), the least important first (blue), and in a random order (grey, dashed). If the "
                      "ranking is real, the vermillion curve falls below the grey one as soon as a few heads are "
                      "masked, and the blue one stays near the intact accuracy (dotted) the longest. "
                      + (f"Here, averaged over k, masking the k most important heads costs {abs(gm) * 100:.1f} "
                         f"accuracy points {'more' if gm >= 0 else 'less'} than masking k random heads, and masking "
                         f"the k least important costs {abs(gl) * 100:.1f} points {'less' if gl >= 0 else 'more'} "
                         "than random masking." if gm is not None and gl is not None else "")
                      + f" Accuracy is measured against {p.reference}; with {res.n:,} texts one text is "
                      f"{100 / res.n:.1f} points.")
    left, right = st.columns([3, 2], gap="medium", vertical_alignment="top")
    left.dataframe(pd.DataFrame([{**t, "head": f"L{t['layer']}·H{t['head']}"} for t in res.top_heads(10)]),
                   hide_index=True, column_order=["rank", "head", "importance",
                                                  *(["other_importance", "other_rank"] if res.other is not None else [])],
                   column_config={
        "rank": st.column_config.NumberColumn("Rank", width="small"),
        "head": st.column_config.TextColumn("Head", width="small", help="L = layer, H = head, counted from 0"),
        "importance": st.column_config.NumberColumn(TITLES[res.method], format="%.4g"),
        "other_importance": st.column_config.NumberColumn(TITLES[other], format="%.4g"),
        "other_rank": st.column_config.NumberColumn("Other rank", width="small",
                                                    help=f"The head's rank by {TITLES[other].lower()}")})
    if st.session_state.get(inspect_key) not in ranking:
        st.session_state[inspect_key] = None
    with right:
        st.selectbox("Inspect head", ranking, key=inspect_key, placeholder="Choose a head…", on_change=on_inspect,
                     format_func=lambda lh: f"L{lh[0]}·H{lh[1]} — rank {ranking.index(lh) + 1} of {L * H}",
                     help="Shows this head's attention in the maps below.")
        secs = " · ".join(f"{s} {v:.0f} s" for s, v in res.seconds.items())
        st.caption(f"**How it was computed:** {res.n:,} texts {res.sample.note} · "
                   + (f"{steps} integration steps · " if "attribution" in res.seconds else "")
                   + (f"read from the disk cache (first computed in {secs})." if res.cache_hit else f"{secs}.")
                   + (f" {res.label_note}" if res.label_note else ""))


def show_attention(maps: AttentionMaps, layer: int, head: int | None, *, grid_key: str) -> tuple[int, int] | None:
    """One head's map (``head`` None: the layer's mean), the cross-segment attention of a pair and the grid of all
    heads; returns the (layer, head) clicked on the grid, if any."""
    widgets.show_chart(attention_map_chart(maps, layer, head))  # full width: a map of 48 tokens needs it
    st.caption("**Reading the map:** each row is a token attending (the query); its cells say how much attention it "
               "pays to each token of the text (the keys), from white (none) to dark blue (the largest weight on this "
               "map, at least 0.25; see the legend). A row of the whole map sums to 1. Many heads park their "
               "attention on [CLS], [SEP] or punctuation when they have nothing to do; a bright diagonal, or one "
               "beside it, is a head that looks at the token itself or its neighbour.")
    if maps.cross is not None:
        widgets.show_chart(cross_segment_chart(maps, cell=24))
        st.caption("**Cross-segment attention:** for every layer and head, the mean share of its attention that a "
                   "token of one text pays to the tokens of the other (all tokens the model read, not only those "
                   "shown). [CLS] and the first [SEP] count as the first text, so the second text's attention to [CLS] "
                   "shows up as attention to the first text.")
    st.markdown("**All heads**")
    grid = attention_grid_chart(maps, highlight=None if head is None else (layer, head), selectable=True)
    picked = widgets.show_selectable_chart(grid, key=grid_key, selection_mode=["pick"])
    st.caption(f"Every head of the {maps.n_layers} layers at a glance, on the same scale from 0 (white) to 1 (dark "
               "blue): a pale map spreads its attention, a dark column is a token (often [CLS] or [SEP]) that the head "
               "attends to from everywhere. Click a map to show it large above.")
    hit = [(int(x["layer"]), int(x["head"])) for x in (picked.get("pick") or []) if isinstance(x, dict)
           and "layer" in x and "head" in x]
    return hit[0] if hit else None
