"""The Instance page's result panels: one text explained in depth (IG, integrated Hessians, entropy), and the
entropy study over a sample with its table of the most spread-out texts."""
from __future__ import annotations

import numpy as np
import pandas as pd
import streamlit as st

from core.analyses.saliency import merge_words
from core.analyses.transformer.instance_view import EntropyStudy, InstanceView
from figures.instance import entropy_study_chart, interaction_chart
from figures.saliency import saliency_html
from ui import state, widgets
from ui.state import DatasetChoice


def show_metrics(v: InstanceView) -> None:
    """Prediction, attribution entropy, how well the interaction rows add up, and the time it took."""
    a = v.attribution
    m = st.columns(4)
    m[0].metric("Prediction", a.predicted_label, f"{a.probability:.1%}", delta_color="off", border=True)
    m[1].metric("Attribution entropy", f"{v.entropy:.3f}", border=True,
                help="Normalised Shannon entropy of |attribution| over the tokens: 0 = all on one token, 1 = even.")
    m[2].metric("Interaction rows vs IG", f"{v.completeness_error:.1%}", border=True,
                help="Largest gap between a token's row sum of interactions and its IG attribution, as a share of "
                     "the largest attribution (theory: 0). More path points make it smaller.")
    m[3].metric("Time", f"{sum(v.seconds.values()):.1f} s", border=True)


def show_view(v: InstanceView) -> None:
    """The notes, the highlighted text, the interaction heatmap beside its tables, and the scores per word."""
    a = v.attribution
    for note in v.notes:
        st.info(note, icon=":material/info:")
    st.html(saliency_html(a, words=True))
    st.caption(f"Integrated Gradients for '{a.target_label}' ({v.ig_steps} steps, pad baseline; completeness gap "
               f"{a.extras.get('relative_delta', float('nan')):.1%} of the logit change). Red supports the class, "
               "blue speaks against it.")
    left, right = st.columns([1, 1], gap="large")
    with left:
        widgets.show_chart(interaction_chart(v, cell=max(10, min(24, 250 // max(len(v.rows), 1)))))
        st.caption("Off-diagonal cells only; each pair is (Γ_ij + Γ_ji)/2. The diagonal — a token's own effect — is in "
                   "the table on the right. Word pieces, numbered by position.")
    with right:
        num = lambda label, h: st.column_config.NumberColumn(label, format="%+.4f", help=h)  # noqa: E731
        st.dataframe(pd.DataFrame({"token": v.row_tokens, "ig": a.scores[v.rows], "own": np.diag(v.interactions),
                                   "sum": v.row_sums}), hide_index=True, width="stretch", column_config={
            "token": st.column_config.TextColumn("Token"), "ig": num("IG", "Integrated Gradients attribution"),
            "own": num("Own effect", "The diagonal Γ_ii: the token's effect on its own"),
            "sum": num("Row sum", "Σ_j Γ_ij over all tokens; equals IG in theory")})
        st.dataframe(pd.DataFrame(v.top_pairs(8), columns=["token", "with", "interaction"]), hide_index=True,
                     width="stretch", column_config={"token": st.column_config.TextColumn("Token"),
                                                     "with": st.column_config.TextColumn("With"),
                                                     "interaction": num("Interaction", "(Γ_ij + Γ_ji)/2")})
    words = merge_words(a)
    with st.expander("Attribution per word"):
        st.dataframe(pd.DataFrame({"word": words.words, "attribution": words.scores}), hide_index=True,
                     width="stretch")


def show_study(stdy: EntropyStudy) -> None:
    """The study's AUROCs beside the length-only controls, where its texts come from, its notes and its chart."""
    j = stdy.to_json()

    def fmt(x: float | None) -> str:
        return "–" if x is None else f"{x:.3f}"
    m = st.columns(4)
    m[0].metric("AUROC: errors", fmt(stdy.auroc_error), border=True,
                help=f"{j['errors']} misclassified of {stdy.n}; mean entropy {j['entropy_errors_mean']} on errors "
                     f"vs {j['entropy_correct_mean']} on correct texts.")
    m[1].metric("Length alone: errors", fmt(stdy.auroc_error_length), border=True)
    m[2].metric(f"AUROC: lowest {stdy.low_quantile:.0%} confidence", fmt(stdy.auroc_low_confidence), border=True)
    m[3].metric("Length alone: low confidence", fmt(stdy.auroc_low_confidence_length), border=True)
    note = stdy.sample.note
    st.caption(note[0].upper() + note[1:] + f" · {j['method']}" + (" · from the disk cache" if stdy.cached
                                                                   else f" · {stdy.seconds:.0f} s"))
    for note in stdy.notes:
        st.info(note, icon=":material/info:")
    widgets.show_chart(entropy_study_chart(stdy))


def study_table(stdy: EntropyStudy, model_ref: str, choice: DatasetChoice) -> None:
    """The texts by entropy, most spread out first; selecting one makes it the focus text (explained above)."""
    order = np.argsort(-stdy.entropy, kind="stable")
    pred, true, texts = [stdy.label_names[p] for p in stdy.predicted], stdy.true_names(), stdy.sample.texts
    index = stdy.sample.indices
    table = pd.DataFrame({"row": [int(index[i]) for i in order], "entropy": stdy.entropy[order],
                          "predicted": np.array(pred)[order], "true": np.array(true)[order],
                          "confidence": stdy.confidence[order],
                          "text": [widgets.one_line(texts[i], 140) for i in order]})
    st.markdown("**Texts with the most spread-out evidence** (select one to explain it above)")
    sel = st.dataframe(table, hide_index=True, width="stretch", height=260, on_select="rerun",
                       selection_mode="single-row", key="bl.w.inst-table",
                       column_config={"row": st.column_config.NumberColumn("Dataset row", format="%d", width="small"),
                                      "entropy": st.column_config.NumberColumn(format="%.3f"),
                                      "confidence": st.column_config.ProgressColumn(min_value=0.0, max_value=1.0,
                                                                                    format="%.2f")})
    rows = sel.selection.rows if sel is not None else []
    if rows:
        i = int(order[rows[0]])
        pairs = stdy.sample.text_pairs
        chosen = state.FocusText(texts[i], model_ref, choice, None if pairs is None else pairs[i],
                                 int(index[i]), true[i] or None, pred[i], float(stdy.confidence[i]),
                                 "Instance page (entropy study)")
        if state.focus_text() != chosen:  # the selection stays on reruns: act on a new one only
            state.set_focus_text(chosen)
            st.rerun()
