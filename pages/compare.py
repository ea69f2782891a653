"""Compare: two or more models on the same texts — shared neighbourhoods (Q_NN, LCMC), CKA, prediction
agreement, their DeepView maps side by side and the texts they disagree on most."""
import numpy as np
import pandas as pd
import streamlit as st

from figures.compare import comparison_metrics_chart, linked_projections_chart
from figures.synergy import matrix_chart
from ui import cached, report_draft, state, widgets
from ui.errors import user_errors

DEFAULT_MODELS = ["demo:bbc-pretrained", "demo:bbc-finetuned"]
N_RANGE, N_DEFAULT = (20, 2000), 300
TOP = 20  # rows of the disagreement table

st.title("Compare")
st.caption("Do two models see the same texts the same way? Each model embeds the same texts; **Q_NN(k)** is the "
           "share of each text's k nearest neighbours the two embeddings (or the two DeepView maps) have in "
           "common, **LCMC** is that share above chance, **CKA** compares the embedding spaces as a whole, and "
           "**prediction agreement** counts identical predictions. High values mean the models organise the texts "
           "alike; the maps and the table below show where they do not.")

widgets.keep_widgets("bl.w.cmp.")
choice = widgets.dataset_selection()
options = widgets.model_options() + cached.multitask_task_refs()
st.session_state.setdefault("bl.w.cmp.models", [m for m in DEFAULT_MODELS if m in options])
st.session_state.setdefault("bl.w.cmp.extra", "")
st.session_state.setdefault("bl.w.cmp.n", N_DEFAULT)
st.session_state.setdefault("bl.w.cmp.ks", "5, 10, 20")
st.session_state.setdefault("bl.w.cmp.lam", 0.8)
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
if len(refs) < 2:
    st.error("Choose at least two models to compare.", icon=":material/error:")
    st.stop()
if not ks:
    st.error("Give the neighbourhood sizes as whole numbers separated by commas, e.g. 5, 10, 20.",
             icon=":material/error:")
    st.stop()

with user_errors():
    models = [cached.get_model(r) for r in refs]
trained = {m.metadata.get("dataset") for m in models if m.has_head} - {None}
if len(trained) == 1 and choice.ref.strip() not in trained and next(iter(trained)).startswith("bundled:"):
    other = next(iter(trained))
    i1, i2 = st.columns([4, 1], vertical_alignment="center")
    i1.info(f"These models were trained on `{other}`, but the Workspace dataset is `{choice.ref}`.",
            icon=":material/info:")
    if i2.button(f"Use {other}", key="bl.w.cmp-go.dataset"):
        from dataclasses import replace

        state.set_dataset_choice(replace(state.DatasetChoice(), ref=other, n=choice.n, seed=choice.seed))
        st.rerun()

if not widgets.confirm_gate(("compare", tuple(refs), choice, n), f"Each model embeds the {n:,} texts and gets a "
                            "DeepView map (distance graph, UMAP, background): from half a minute to a few minutes "
                            "on a 2-core CPU the first time; embeddings and maps are cached, so new k or λ values "
                            "take seconds.", "Compare the models", widget_key="bl.w.cmp-go.run"):
    st.stop()

with user_errors():
    view = cached.comparison(refs, choice, n, ks, lam)
cmp = view.comparison
report_draft.add_button("comparison", {"models": list(refs), "dataset": choice.ref, "n": n, "k": list(ks), "lam": lam},
                        page="Compare", key="compare.models")
short = {i: r for i, r in enumerate(view.refs)}

# ------------------------------------------------------------------------------ all pairs (3+ models)
if len(refs) > 2:
    st.subheader("All pairs")
    m = len(refs)
    cka = np.eye(m)
    agree = np.full((m, m), np.nan)
    for p in cmp.pairs:
        cka[p.a, p.b] = cka[p.b, p.a] = p.cka
        if p.prediction_agreement is not None:
            agree[p.a, p.b] = agree[p.b, p.a] = p.prediction_agreement
    np.fill_diagonal(agree, 1.0)
    left, right = st.columns(2, gap="medium")
    widgets.show_chart(matrix_chart(cka, list(view.refs), title="Linear CKA of the embeddings", value_title="CKA",
                                    cell=max(50, 260 // m)), container=left)
    if not np.isnan(agree).all():
        widgets.show_chart(matrix_chart(np.nan_to_num(agree, nan=0.0), list(view.refs), title="Prediction agreement",
                                        value_title="agreement", fmt=".0%", cell=max(50, 260 // m),
                                        subtitle="0 where the label sets differ"), container=right)
    if st.session_state.get("bl.w.cmp.pair", 0) not in range(len(cmp.pairs)):
        st.session_state["bl.w.cmp.pair"] = 0
    pair_i = st.selectbox("Pair shown below", list(range(len(cmp.pairs))), key="bl.w.cmp.pair",
                          format_func=lambda i: f"{short[cmp.pairs[i].a]} vs {short[cmp.pairs[i].b]}")
else:
    pair_i = 0
pair = cmp.pairs[min(int(pair_i), len(cmp.pairs) - 1)]
a, b = short[pair.a], short[pair.b]


def tag(ref: str) -> str:
    """A model's name short enough for a column header."""
    return ref.split(":", 1)[1] if ref.startswith("demo:") else ref.rstrip("/").rsplit("/", 1)[-1]

# ------------------------------------------------------------------------------ metrics
st.subheader(f"{a} vs {b}")
notes = [note for note in (*cmp.notes, pair.note) if note]
if notes:
    st.info("\n".join(f"- {note}" for note in notes) if len(notes) > 1 else notes[0], icon=":material/info:")
k_mid = cmp.ks[len(cmp.ks) // 2]
i_mid = cmp.ks.index(k_mid)
cols = st.columns(4)
cols[0].metric("CKA (embeddings)", f"{pair.cka:.3f}", border=True,
               help="Linear centred kernel alignment of the two pooled embeddings: 1 = the same space up to rotation "
                    "and scale, 0 = unrelated.")
agreement = pair.prediction_agreement
cols[1].metric("Prediction agreement", "–" if agreement is None else f"{agreement:.1%}", border=True,
               help="Share of the texts both models put in the same class (labels matched by name). '–' when a model "
                    "has no head or the label sets differ.")
cols[2].metric(f"Q_NN@{k_mid} embeddings", f"{pair.embeddings.q_nn[i_mid]:.3f}", border=True,
               help=f"Mean share of each text's {k_mid} nearest neighbours (cosine) that both embeddings have in "
                    f"common. Chance: {k_mid / (cmp.n - 1):.3f}; LCMC = Q_NN − chance = "
                    f"{pair.embeddings.lcmc[i_mid]:.3f}.")
if pair.projection is not None:
    cols[3].metric(f"Q_NN@{k_mid} DeepView maps", f"{pair.projection.q_nn[i_mid]:.3f}", border=True,
                   help=f"The same on the two 2-D DeepView maps (λ = {cmp.lam:g}). LCMC = "
                        f"{pair.projection.lcmc[i_mid]:.3f}.")
else:
    cols[3].metric(f"Q_NN@{k_mid} DeepView maps", "–", border=True,
                   help="At least one model has no classifier head, so it has no DeepView map.")

widgets.show_chart(comparison_metrics_chart(cmp, int(pair_i), width=300, height=180))
left, right = st.columns([3, 2], gap="medium")
table = {"k": list(cmp.ks), "q_nn_emb": list(pair.embeddings.q_nn), "lcmc_emb": list(pair.embeddings.lcmc)}
if pair.projection is not None:
    table |= {"q_nn_proj": list(pair.projection.q_nn), "lcmc_proj": list(pair.projection.lcmc)}
table["chance"] = [k / (cmp.n - 1) for k in cmp.ks]
num = lambda label, h: st.column_config.NumberColumn(label, format="%.3f", help=h)  # noqa: E731
left.dataframe(pd.DataFrame(table), hide_index=True, column_config={
    "k": st.column_config.NumberColumn("k", width="small"),
    "q_nn_emb": num("Q_NN emb.", "Shared share of the k nearest neighbours in the two embeddings"),
    "lcmc_emb": num("LCMC emb.", "Q_NN minus chance, embeddings"),
    "q_nn_proj": num("Q_NN maps", "Shared share of the k nearest neighbours on the two DeepView maps"),
    "lcmc_proj": num("LCMC maps", "Q_NN minus chance, DeepView maps"),
    "chance": num("Chance", "k / (n − 1): what two random neighbourhoods share")})
right.caption(f"**How it was computed:** {cmp.n:,} texts {view.note} · embeddings "
              f"{cmp.seconds['embeddings']:.1f} s, DeepView maps {cmp.seconds['projections']:.1f} s "
              f"(λ = {cmp.lam:g}), "
              f"metrics {cmp.seconds['metrics']:.1f} s (0 s when cached).")

# ------------------------------------------------------------------------------ maps, selection, disagreements
chart_box, picked_box = st.container(), st.container()
st.subheader("Texts the two models disagree on most")
st.caption("Ranked by disagreement: 1 when the predictions differ, plus the share of the text's "
           f"{pair.embeddings.k_points} nearest neighbours the two embeddings do not share. Select rows to "
           "highlight them on the maps above.")
rows = cmp.top_disagreements(int(pair_i), TOP)


def shown(r: dict, side: str) -> str:
    p = r.get(f"prediction_{side}")
    return "–" if p is None else f"{p} ({r[f'confidence_{side}']:.0%})"


frame = pd.DataFrame([{"row": r["index"], "text": r["text"], "label": r.get("label", ""),
                       "pred_a": shown(r, "a"), "pred_b": shown(r, "b"), "overlap": r["neighbour_overlap"],
                       "score": r["score"]} for r in rows])
event = st.dataframe(frame, hide_index=True, on_select="rerun", selection_mode="multi-row",
                     key=f"bl.cmp-table.{pair.a}.{pair.b}", column_config={
                         "row": st.column_config.NumberColumn("Row", width="small",
                                                              help="Position in the compared sample"),
                         "text": st.column_config.TextColumn("Text", width="large"),
                         "label": st.column_config.TextColumn("True label", width="small"),
                         "pred_a": st.column_config.TextColumn(tag(a), width="medium",
                                                               help=f"Predicted by {a} (confidence)"),
                         "pred_b": st.column_config.TextColumn(tag(b), width="medium",
                                                               help=f"Predicted by {b} (confidence)"),
                         "overlap": st.column_config.NumberColumn(
                             "Shared nbrs", format="%.1f", width="small",
                             help=f"Share of the {pair.embeddings.k_points} nearest neighbours both embeddings share"),
                         "score": st.column_config.NumberColumn("Disagreement", format="%.2f", width="small")})
table_rows = [int(frame["row"].iloc[i]) for i in (event.selection.rows if event is not None else [])]

with chart_box:
    if pair.projection is None:
        st.info("No DeepView maps for this pair: a model without a classifier head has none. The embeddings are "
                "compared above.", icon=":material/info:")
        chart_rows: list[int] = []
    else:
        chart = linked_projections_chart(cmp, int(pair_i), width=400, height=340, highlight=table_rows)
        sel = widgets.show_selectable_chart(chart, key=f"bl.cmp-chart.{pair.a}.{pair.b}", selection_mode=["pick"])
        chart_rows = widgets.selected_points(sel, cmp.points[pair.a])

with picked_box:
    chosen = sorted(set(chart_rows) | set(table_rows))
    st.markdown("**Selected texts**")
    if not chosen:
        st.caption("Click a point on either map (shift-click for more) or select rows in the table below to see "
                   "the texts and every model's prediction here.")
    else:
        def pred(m: int, i: int) -> str:
            p = cmp.predictions[m]
            if p is None:
                return "–"
            c = int(p[i])
            return f"{cmp.label_names[m][c]} ({cmp.probs[m][i, c]:.0%})"

        names0 = cmp.label_names[0]
        sel_frame = pd.DataFrame({
            "row": chosen, "text": [cmp.texts[i] for i in chosen],
            **({"second text": [cmp.text_pairs[i] for i in chosen]} if cmp.text_pairs is not None else {}),
            "true label": [names0[cmp.labels[i]] if cmp.labels[i] >= 0 and names0 else "–" for i in chosen],
            **{short[m]: [pred(m, i) for i in chosen] for m in range(len(view.refs))}})
        st.dataframe(sel_frame, hide_index=True, column_config={
            "row": st.column_config.NumberColumn("Row", width="small"),
            "text": st.column_config.TextColumn("Text", width="large"),
            **{short[m]: st.column_config.TextColumn(tag(short[m]), width="medium",
                                                     help=f"Predicted by {short[m]} (confidence)")
               for m in range(len(view.refs))}})
        heads = [m for m in range(len(view.refs)) if cmp.predictions[m] is not None]
        if heads:
            o1, o2, o3 = st.columns([5, 3, 2], vertical_alignment="bottom")
            if st.session_state.get("bl.cmp.focus_row") not in chosen:
                st.session_state["bl.cmp.focus_row"] = chosen[0]
            row = o1.selectbox("Text to explain", chosen, key="bl.cmp.focus_row",
                               format_func=lambda i: f"row {i} · {widgets.one_line(cmp.texts[i], 90)}")
            m = o2.selectbox("With the model", heads, key="bl.cmp.focus_model", format_func=short.get)
            if o3.button("Open in Saliency", icon=":material/highlight:", key="bl.cmp-go.saliency",
                         help="Makes this text the focus text and this model the selected model, then opens the "
                              "Saliency page."):
                c = int(cmp.predictions[m][row])
                widgets.open_in_saliency(state.FocusText(
                    text=cmp.texts[row], model_ref=view.refs[m], dataset=choice,
                    text_pair=cmp.text_pairs[row] if cmp.text_pairs is not None else None,
                    index=int(view.indices[row]),
                    label=names0[cmp.labels[row]] if cmp.labels[row] >= 0 and names0 else None,
                    prediction=cmp.label_names[m][c], confidence=float(cmp.probs[m][row, c]),
                    source=f"Compare page ({a} vs {b})"))
