"""Compare: two or more models on the same texts — shared neighbourhoods (Q_NN, LCMC), CKA, prediction
agreement, their DeepView maps side by side and the texts they disagree on most."""
from dataclasses import replace

import numpy as np
import pandas as pd
import streamlit as st

from core.analyses.compare import CompareParams, pair_matrices, trained_dataset
from figures.compare import comparison_metrics_chart, linked_projections_chart
from figures.synergy import matrix_chart
from ui import cached, report_draft, state, widgets
from ui.errors import user_errors

DEFAULT_MODELS = ["demo:bbc-pretrained", "demo:bbc-finetuned"]
N_RANGE, N_DEFAULT = (20, 2000), 300
TOP = 20  # rows of the disagreement table
Col = st.column_config

st.title("Compare")
st.caption("Do two models see the same texts the same way? Each model embeds the same texts; **Q_NN(k)** is the "
           "share of each text's k nearest neighbours the two embeddings (or the two DeepView maps) have in "
           "common, **LCMC** is that share above chance, **CKA** compares the embedding spaces as a whole, and "
           "**prediction agreement** counts identical predictions. High values mean the models organise the texts "
           "alike; the maps and the table below show where they do not.")

widgets.keep_widgets("bl.w.cmp.")
choice = widgets.dataset_selection()
options = widgets.model_options() + cached.multitask_task_refs()
for key, value in (("models", [m for m in DEFAULT_MODELS if m in options]), ("extra", ""), ("n", N_DEFAULT),
                   ("ks", ", ".join(map(str, CompareParams.k))), ("lam", CompareParams.lam)):
    st.session_state.setdefault(f"bl.w.cmp.{key}", value)
st.session_state["bl.w.cmp.models"] = [m for m in st.session_state["bl.w.cmp.models"] if m in options]

c1, c2 = st.columns([3, 2], gap="medium")
picked = c1.multiselect("Models", options, key="bl.w.cmp.models",
                        help="Two or more; every pair is compared. " + " ".join(
                            f"`{r}`: {widgets.MODEL_LABELS[r].split(' · ', 1)[1]}." for r in options
                            if r in widgets.MODEL_LABELS) + " A bare encoder is compared on its embeddings only (it "
                            "has no predictions and no DeepView map).")
extra = c2.text_input("More models (comma-separated)", key="bl.w.cmp.extra",
                      placeholder="/path/to/model, hub-id, demo:multitask-pretrained#bbc",
                      help="Local folders, Hugging Face hub ids or one task of a multi-task model (REF#task).")
c3, c4, c5 = st.columns([1, 1, 2], gap="medium")
n = int(c3.number_input("Texts", min_value=N_RANGE[0], max_value=N_RANGE[1], step=50, key="bl.w.cmp.n",
                        help="Drawn by the Workspace seed; from the held-out test split when one of the models "
                             "was trained on this dataset."))
ks_text = c4.text_input("Neighbourhood sizes k", key="bl.w.cmp.ks",
                        help="Comma-separated; Q_NN and LCMC are computed for each.")
lam = c5.slider("λ of the DeepView maps", 0.0, 1.0, step=0.05, key="bl.w.cmp.lam",
                help="0 = the embedding's own distances only; 1 = only the classifier's view (see the Projection "
                     "page). Both maps use the same λ.")

refs = list(dict.fromkeys([*picked, *(r.strip() for r in extra.split(",") if r.strip())]))
try:
    ks = sorted({int(k) for k in ks_text.replace(";", ",").split(",") if k.strip()})
except ValueError:
    ks = []
if len(refs) < 2 or not ks:
    st.error("Choose at least two models to compare." if len(refs) < 2 else "Give the neighbourhood sizes as whole "
             "numbers separated by commas, e.g. 5, 10, 20.", icon=":material/error:")
    st.stop()

with user_errors():
    models = [cached.get_model(r) for r in refs]
other = trained_dataset(models)
if other and other != choice.ref.strip() and other.startswith("bundled:"):
    i1, i2 = st.columns([4, 1], vertical_alignment="center")
    i1.info(f"These models were trained on `{other}`, but the Workspace dataset is `{choice.ref}`.",
            icon=":material/info:")
    if i2.button(f"Use {other}", key="bl.w.cmp-go.dataset"):
        state.set_dataset_choice(replace(state.DatasetChoice(), ref=other, n=choice.n, seed=choice.seed))
        st.rerun()

if not widgets.confirm_gate(("compare", tuple(refs), choice, n), f"Each model embeds the {n:,} texts and gets a "
                            "DeepView map (distance graph, UMAP, background): from half a minute to a few minutes "
                            "on a 2-core CPU the first time; embeddings and maps are cached, so new k or λ values "
                            "take seconds.", "Compare the models", widget_key="bl.w.cmp-go.run"):
    st.stop()

with user_errors():
    cmp = cached.comparison(refs, choice, n, CompareParams(k=tuple(ks), lam=lam))
report_draft.add_button("comparison", {"models": list(refs), "dataset": choice.ref, "n": n, "k": list(ks), "lam": lam},
                        page="Compare", key="compare.models")


def tag(ref: str) -> str:
    """A model's name short enough for a column header."""
    return ref.split(":", 1)[1] if ref.startswith("demo:") else ref.rstrip("/").rsplit("/", 1)[-1]


def shown(pred: tuple[str, float] | None) -> str:
    return "–" if pred is None else f"{pred[0]} ({pred[1]:.0%})"


# ------------------------------------------------------------------------------ all pairs (3+ models)
pair_i = 0
if len(refs) > 2:
    st.subheader("All pairs")
    cka, agree = pair_matrices(cmp)
    left, right = st.columns(2, gap="medium")
    cell = max(50, 260 // len(refs))
    widgets.show_chart(matrix_chart(cka, refs, title="Linear CKA of the embeddings", value_title="CKA", cell=cell),
                       container=left)
    if not np.isnan(agree).all():
        widgets.show_chart(matrix_chart(np.nan_to_num(agree, nan=0.0), refs, title="Prediction agreement",
                                        value_title="agreement", fmt=".0%", cell=cell,
                                        subtitle="0 where the label sets differ"), container=right)
    if st.session_state.get("bl.w.cmp.pair", 0) not in range(len(cmp.pairs)):
        st.session_state["bl.w.cmp.pair"] = 0
    pair_i = int(st.selectbox("Pair shown below", list(range(len(cmp.pairs))), key="bl.w.cmp.pair",
                              format_func=lambda i: f"{refs[cmp.pairs[i].a]} vs {refs[cmp.pairs[i].b]}"))
pair = cmp.pairs[min(pair_i, len(cmp.pairs) - 1)]
a, b = refs[pair.a], refs[pair.b]

# ------------------------------------------------------------------------------ metrics
st.subheader(f"{a} vs {b}")
notes = [note for note in (*cmp.notes, pair.note) if note]
if notes:
    st.info("\n".join(f"- {note}" for note in notes) if len(notes) > 1 else notes[0], icon=":material/info:")
k_mid = cmp.ks[len(cmp.ks) // 2]
i_mid = cmp.ks.index(k_mid)
cols = st.columns(4)
agreement = pair.prediction_agreement
proj = pair.projection
for col, label, value, why in (
        (cols[0], "CKA (embeddings)", f"{pair.cka:.3f}", "Linear centred kernel alignment of the two pooled "
         "embeddings: 1 = the same space up to rotation and scale, 0 = unrelated."),
        (cols[1], "Prediction agreement", "–" if agreement is None else f"{agreement:.1%}", "Share of the texts both "
         "models put in the same class (labels matched by name). '–' when a model has no head or the label sets "
         "differ."),
        (cols[2], f"Q_NN@{k_mid} embeddings", f"{pair.embeddings.q_nn[i_mid]:.3f}", f"Mean share of each text's "
         f"{k_mid} nearest neighbours (cosine) that both embeddings have in common. Chance: {k_mid / (cmp.n - 1):.3f}; "
         f"LCMC = Q_NN − chance = {pair.embeddings.lcmc[i_mid]:.3f}."),
        (cols[3], f"Q_NN@{k_mid} DeepView maps", "–" if proj is None else f"{proj.q_nn[i_mid]:.3f}",
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

# ------------------------------------------------------------------------------ maps, selection, disagreements
chart_box, picked_box = st.container(), st.container()
st.subheader("Texts the two models disagree on most")
st.caption("Ranked by disagreement: 1 when the predictions differ, plus the share of the text's "
           f"{pair.embeddings.k_points} nearest neighbours the two embeddings do not share. Select rows to "
           "highlight them on the maps above.")
frame = pd.DataFrame([{"row": r["index"], "text": r["text"], "label": r.get("label", ""),
                       **{f"pred_{s}": shown((r[f"prediction_{s}"], r[f"confidence_{s}"])
                                             if f"prediction_{s}" in r else None) for s in "ab"},
                       "overlap": r["neighbour_overlap"], "score": r["score"]}
                      for r in cmp.top_disagreements(pair_i, TOP)])
event = st.dataframe(frame, hide_index=True, on_select="rerun", selection_mode="multi-row",
                     key=f"bl.cmp-table.{pair.a}.{pair.b}", column_config={
                         "row": Col.NumberColumn("Row", width="small", help="Position in the compared sample"),
                         "text": Col.TextColumn("Text", width="large"),
                         "label": Col.TextColumn("True label", width="small"),
                         "pred_a": Col.TextColumn(tag(a), width="medium", help=f"Predicted by {a} (confidence)"),
                         "pred_b": Col.TextColumn(tag(b), width="medium", help=f"Predicted by {b} (confidence)"),
                         "overlap": Col.NumberColumn("Shared nbrs", format="%.1f", width="small", help="Share of the "
                                                     f"{pair.embeddings.k_points} nearest neighbours both embeddings "
                                                     "share"),
                         "score": Col.NumberColumn("Disagreement", format="%.2f", width="small")})
table_rows = [int(frame["row"].iloc[i]) for i in (event.selection.rows if event is not None else [])]

with chart_box:
    chart_rows: list[int] = []
    if proj is None:
        st.info("No DeepView maps for this pair: a model without a classifier head has none. The embeddings are "
                "compared above.", icon=":material/info:")
    else:
        chart = linked_projections_chart(cmp, pair_i, width=400, height=340, highlight=table_rows)
        sel = widgets.show_selectable_chart(chart, key=f"bl.cmp-chart.{pair.a}.{pair.b}", selection_mode=["pick"])
        chart_rows = widgets.selected_points(sel, cmp.points[pair.a])

with picked_box:
    chosen = sorted(set(chart_rows) | set(table_rows))
    st.markdown("**Selected texts**")
    if not chosen:
        st.caption("Click a point on either map (shift-click for more) or select rows in the table below to see "
                   "the texts and every model's prediction here.")
    else:
        st.dataframe(pd.DataFrame({
            "row": chosen, "text": [cmp.texts[i] for i in chosen],
            **({"second text": [cmp.text_pairs[i] for i in chosen]} if cmp.text_pairs is not None else {}),
            "true label": [cmp.true_label(i) or "–" for i in chosen],
            **{refs[m]: [shown(cmp.prediction(m, i)) for i in chosen] for m in range(len(refs))}}),
            hide_index=True, column_config={
                "row": Col.NumberColumn("Row", width="small"), "text": Col.TextColumn("Text", width="large"),
                **{r: Col.TextColumn(tag(r), width="medium", help=f"Predicted by {r} (confidence)") for r in refs}})
        heads = [m for m in range(len(refs)) if cmp.predictions[m] is not None]
        if heads:
            o1, o2, o3 = st.columns([5, 3, 2], vertical_alignment="bottom")
            if st.session_state.get("bl.cmp.focus_row") not in chosen:
                st.session_state["bl.cmp.focus_row"] = chosen[0]
            row = o1.selectbox("Text to explain", chosen, key="bl.cmp.focus_row",
                               format_func=lambda i: f"row {i} · {widgets.one_line(cmp.texts[i], 90)}")
            m = o2.selectbox("With the model", heads, key="bl.cmp.focus_model", format_func=refs.__getitem__)
            if o3.button("Open in Saliency", icon=":material/highlight:", key="bl.cmp-go.saliency",
                         help="Makes this text the focus text and this model the selected model, then opens the "
                              "Saliency page."):
                label, confidence = cmp.prediction(m, row)
                widgets.open_in_saliency(state.FocusText(
                    text=cmp.texts[row], model_ref=refs[m], dataset=choice,
                    text_pair=cmp.text_pairs[row] if cmp.text_pairs is not None else None,
                    index=int(cmp.sample.indices[row]), label=cmp.true_label(row), prediction=label,
                    confidence=confidence, source=f"Compare page ({a} vs {b})"))
