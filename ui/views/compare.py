"""The Compare page's result panels: the matrices of every pair, one pair's metrics, the texts the pair disagrees
on and the texts selected on its maps (with the way to the Saliency page). Charts come from ``figures.compare``;
nothing is computed here."""
from __future__ import annotations

from typing import Sequence

import numpy as np
import pandas as pd
import streamlit as st

from core.analyses.compare import ModelComparison, PairComparison, pair_matrices
from figures.compare import comparison_metrics_chart, linked_projections_chart
from figures.synergy import matrix_chart
from ui import state, widgets
from ui.state import DatasetChoice

TOP = 20  # rows of the disagreement table
Col = st.column_config


def tag(ref: str) -> str:
    """A model's name short enough for a column header."""
    return ref.split(":", 1)[1] if ref.startswith("demo:") else ref.rstrip("/").rsplit("/", 1)[-1]


def shown(pred: tuple[str, float] | None) -> str:
    """"label (confidence)" of a prediction, "–" for none."""
    return "–" if pred is None else f"{pred[0]} ({pred[1]:.0%})"


def choose_pair(cmp: ModelComparison, refs: Sequence[str]) -> int:
    """With three models or more: CKA and agreement of every pair, and the pair to show below (its index)."""
    if len(refs) <= 2:
        return 0
    st.subheader("All pairs")
    cka, agree = pair_matrices(cmp)
    left, right = st.columns(2, gap="medium")
    cell = max(50, 260 // len(refs))
    widgets.show_chart(matrix_chart(cka, list(refs), title="Linear CKA of the embeddings", value_title="CKA",
                                    cell=cell), container=left)
    if not np.isnan(agree).all():
        widgets.show_chart(matrix_chart(np.nan_to_num(agree, nan=0.0), list(refs), title="Prediction agreement",
                                        value_title="agreement", fmt=".0%", cell=cell,
                                        subtitle="0 where the label sets differ"), container=right)
    if st.session_state.get("bl.w.cmp.pair", 0) not in range(len(cmp.pairs)):
        st.session_state["bl.w.cmp.pair"] = 0
    return int(st.selectbox("Pair shown below", list(range(len(cmp.pairs))), key="bl.w.cmp.pair",
                            format_func=lambda i: f"{refs[cmp.pairs[i].a]} vs {refs[cmp.pairs[i].b]}"))


def show_pair(cmp: ModelComparison, pair_i: int, refs: Sequence[str]) -> None:
    """One pair: notes, the four headline metrics, Q_NN and LCMC over k (chart and table), how it was computed."""
    pair = cmp.pairs[pair_i]
    st.subheader(f"{refs[pair.a]} vs {refs[pair.b]}")
    notes = [note for note in (*cmp.notes, pair.note) if note]
    if notes:
        st.info("\n".join(f"- {note}" for note in notes) if len(notes) > 1 else notes[0], icon=":material/info:")
    k_mid = cmp.ks[len(cmp.ks) // 2]
    i_mid = cmp.ks.index(k_mid)
    agreement, proj = pair.prediction_agreement, pair.projection
    for col, label, value, why in zip(st.columns(4), (
            "CKA (embeddings)", "Prediction agreement", f"Q_NN@{k_mid} embeddings", f"Q_NN@{k_mid} DeepView maps"), (
            f"{pair.cka:.3f}", "–" if agreement is None else f"{agreement:.1%}", f"{pair.embeddings.q_nn[i_mid]:.3f}",
            "–" if proj is None else f"{proj.q_nn[i_mid]:.3f}"), (
            "Linear centred kernel alignment of the two pooled embeddings: 1 = the same space up to rotation and "
            "scale, 0 = unrelated.",
            "Share of the texts both models put in the same class (labels matched by name). '–' when a model has no "
            "head or the label sets differ.",
            f"Mean share of each text's {k_mid} nearest neighbours (cosine) that both embeddings have in common. "
            f"Chance: {k_mid / (cmp.n - 1):.3f}; LCMC = Q_NN − chance = {pair.embeddings.lcmc[i_mid]:.3f}.",
            "At least one model has no classifier head, so it has no DeepView map." if proj is None else
            f"The same on the two 2-D DeepView maps (λ = {cmp.lam:g}). LCMC = {proj.lcmc[i_mid]:.3f}.")):
        col.metric(label, value, border=True, help=why)
    widgets.show_chart(comparison_metrics_chart(cmp, pair_i, width=300, height=180))
    left, right = st.columns([3, 2], gap="medium")
    num = lambda label, h: Col.NumberColumn(label, format="%.3f", help=h)  # noqa: E731
    left.dataframe(pd.DataFrame(cmp.per_k_rows(pair_i)), hide_index=True, column_config={
        "k": Col.NumberColumn("k", width="small"),
        "q_nn_emb": num("Q_NN emb.", "Shared share of the k nearest neighbours in the two embeddings"),
        "lcmc_emb": num("LCMC emb.", "Q_NN minus chance, embeddings"),
        "q_nn_proj": num("Q_NN maps", "Shared share of the k nearest neighbours on the two DeepView maps"),
        "lcmc_proj": num("LCMC maps", "Q_NN minus chance, DeepView maps"),
        "chance": num("Chance", "k / (n − 1): what two random neighbourhoods share")})
    right.caption(f"**How it was computed:** {cmp.n:,} texts {cmp.sample.note} · embeddings "
                  f"{cmp.seconds['embeddings']:.1f} s, DeepView maps {cmp.seconds['projections']:.1f} s "
                  f"(λ = {cmp.lam:g}), metrics {cmp.seconds['metrics']:.1f} s (0 s when cached).")


def disagreements(cmp: ModelComparison, pair_i: int, refs: Sequence[str]) -> list[int]:
    """The table of the texts the pair disagrees on most; returns the rows selected in it."""
    pair = cmp.pairs[pair_i]
    a, b = refs[pair.a], refs[pair.b]
    st.subheader("Texts the two models disagree on most")
    st.caption("Ranked by disagreement: 1 when the predictions differ, plus the share of the text's "
               f"{pair.embeddings.k_points} nearest neighbours the two embeddings do not share. Select rows to "
               "highlight them on the maps above.")
    frame = pd.DataFrame([{"row": r["index"], "dataset row": int(cmp.sample.indices[r["index"]]), "text": r["text"],
                           "label": r.get("label", ""),
                           **{f"pred_{s}": shown((r[f"prediction_{s}"], r[f"confidence_{s}"])
                                                 if f"prediction_{s}" in r else None) for s in "ab"},
                           "overlap": r["neighbour_overlap"], "score": r["score"]}
                          for r in cmp.top_disagreements(pair_i, TOP)])
    event = st.dataframe(frame, hide_index=True, on_select="rerun", selection_mode="multi-row",
                         key=f"bl.cmp-table.{pair.a}.{pair.b}", column_config={
                             "row": None, "dataset row": Col.NumberColumn(
                                 "Dataset row", width="small", format="%d", help="Position of the text in the whole "
                                 "dataset (the number other pages show for it)"),
                             "text": Col.TextColumn("Text", width="large"),
                             "label": Col.TextColumn("True label", width="small"),
                             "pred_a": Col.TextColumn(tag(a), width="medium", help=f"Predicted by {a} (confidence)"),
                             "pred_b": Col.TextColumn(tag(b), width="medium", help=f"Predicted by {b} (confidence)"),
                             "overlap": Col.NumberColumn("Shared nbrs", format="%.1f", width="small",
                                                         help=f"Share of the {pair.embeddings.k_points} nearest "
                                                              "neighbours both embeddings share"),
                             "score": Col.NumberColumn("Disagreement", format="%.2f", width="small")})
    return [int(frame["row"].iloc[i]) for i in (event.selection.rows if event is not None else [])]


def linked_maps(cmp: ModelComparison, pair: PairComparison, pair_i: int, highlight: list[int]) -> list[int]:
    """The pair's DeepView maps side by side (``highlight`` rows ringed); returns the rows clicked on them."""
    if pair.projection is None:
        st.info("No DeepView maps for this pair: a model without a classifier head has none. The embeddings are "
                "compared above.", icon=":material/info:")
        return []
    chart = linked_projections_chart(cmp, pair_i, width=400, height=340, highlight=highlight)
    sel = widgets.show_selectable_chart(chart, key=f"bl.cmp-chart.{pair.a}.{pair.b}", selection_mode=["pick"])
    return widgets.selected_points(sel, cmp.points[pair.a])


def selected_texts(cmp: ModelComparison, chosen: list[int], refs: Sequence[str], choice: DatasetChoice,
                   source: str) -> None:
    """The chosen texts with every model's prediction, and a button that opens one of them in Saliency."""
    st.markdown("**Selected texts**")
    if not chosen:
        st.caption("Click a point on either map (shift-click for more) or select rows in the table below to see "
                   "the texts and every model's prediction here.")
        return
    st.dataframe(pd.DataFrame({
        "row": [int(cmp.sample.indices[i]) for i in chosen], "text": [cmp.texts[i] for i in chosen],
        **({"second text": [cmp.text_pairs[i] for i in chosen]} if cmp.text_pairs is not None else {}),
        "true label": [cmp.true_label(i) or "–" for i in chosen],
        **{refs[m]: [shown(cmp.prediction(m, i)) for i in chosen] for m in range(len(refs))}}),
        hide_index=True, column_config={
            "row": Col.NumberColumn("Dataset row", width="small", format="%d"),
            "text": Col.TextColumn("Text", width="large"),
            **{r: Col.TextColumn(tag(r), width="medium", help=f"Predicted by {r} (confidence)") for r in refs}})
    heads = [m for m in range(len(refs)) if cmp.predictions[m] is not None]
    if not heads:
        return
    o1, o2, o3 = st.columns([5, 3, 2], vertical_alignment="bottom")
    if st.session_state.get("bl.cmp.focus_row") not in chosen:
        st.session_state["bl.cmp.focus_row"] = chosen[0]
    row = o1.selectbox("Text to explain", chosen, key="bl.cmp.focus_row",
                       format_func=lambda i: f"dataset row {int(cmp.sample.indices[i])} · "
                                             f"{widgets.one_line(cmp.texts[i], 90)}")
    m = o2.selectbox("With the model", heads, key="bl.cmp.focus_model", format_func=refs.__getitem__)
    if o3.button("Open in Saliency", icon=":material/highlight:", key="bl.cmp-go.saliency",
                 help="Makes this text the focus text and this model the selected model, then opens the Saliency "
                      "page."):
        label, confidence = cmp.prediction(m, row)
        widgets.open_in_saliency(state.FocusText(
            text=cmp.texts[row], model_ref=refs[m], dataset=choice,
            text_pair=cmp.text_pairs[row] if cmp.text_pairs is not None else None,
            index=int(cmp.sample.indices[row]), label=cmp.true_label(row), prediction=label, confidence=confidence,
            source=source))
