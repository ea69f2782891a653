"""Heads & attention: which attention heads a classifier's decision rests on (attention attribution or the
head-mask gradient, checked by masking heads in that order), and what each head attends to in one text."""
import pandas as pd
import streamlit as st

from core.analyses.transformer.attention_maps import DEFAULT_MAX_TOKENS, attention_shape
from core.analyses.transformer.head_importance import HEAD_METHODS, HeadImportanceParams, estimate_seconds, stage_seconds
from figures.attention import attention_grid_chart, attention_map_chart, cross_segment_chart
from figures.heads import head_cell_size, head_matrix_chart, pruning_curves_chart
from ui import cached, report_draft, state, widgets
from ui.errors import user_errors

N_RANGE, N_DEFAULT = (8, 2000), 100
TOKENS_RANGE = (8, 96)
MEAN = -1  # "head" choice: the layer's mean over heads
K = {n: f"bl.w.heads.{n}" for n in ("model", "n", "method", "steps", "compare", "inspect", "example", "text", "pair",
                                    "use_pair", "layer", "head", "tokens")}
TITLES = HEAD_METHODS.titles()

st.title("Heads & attention")
st.caption("Which attention heads does the classifier's decision rest on, and what do they look at? **Head "
           "importance** ranks every head of every layer on a sample of texts; the **pruning check** then masks heads "
           "in that order and measures accuracy, so you can see whether the ranking is real. **Attention maps** show, "
           "for one text, how much each token attends to every other token, head by head.")

widgets.keep_widgets("bl.w.heads.")
choice = widgets.dataset_selection()
current = state.current_model_ref()
options = list(dict.fromkeys([*([current] if current else []), *widgets.model_options(),
                              *cached.multitask_task_refs()]))
if st.session_state.get(K["model"]) not in options:
    st.session_state[K["model"]] = current if current in options else options[0]
model_ref = st.selectbox("Model", options, key=K["model"], format_func=lambda r: widgets.MODEL_LABELS.get(r, r),
                         help="Starts as the Workspace model. Head importance needs a classifier; the attention maps "
                              "work for any encoder.")
with user_errors():
    model = cached.get_model(model_ref)


def set_head(layer: int, head: int) -> None:
    """Show ``head`` of ``layer`` in the attention maps below (a widget callback or before those widgets)."""
    st.session_state[K["layer"]] = int(layer)
    st.session_state[K["head"]] = int(head)


# ------------------------------------------------------------------------------ head importance
st.subheader("Which heads matter")
res = None
if not model.has_head:
    st.error(f"`{model.ref}` is a bare encoder without a classification head: head importance measures what a "
             "classifier's decision rests on, so it needs one. Pick a classifier above; the attention maps below "
             "work for any encoder.", icon=":material/error:")
else:
    d = HeadImportanceParams()
    for key, value in (("n", N_DEFAULT), ("method", d.method), ("steps", d.steps), ("compare", d.compare)):
        st.session_state.setdefault(K[key], value)
    c1, c2, c3, c4 = st.columns([1, 2, 1, 1.4], gap="medium", vertical_alignment="bottom")
    n = int(c1.number_input("Texts", min_value=N_RANGE[0], max_value=N_RANGE[1], step=20, key=K["n"],
                            help="Drawn by the Workspace seed; from the held-out test split when the model was "
                                 "trained on this dataset."))
    method = c2.radio("Importance", list(TITLES), key=K["method"], format_func=TITLES.get, horizontal=True,
                      help=" ".join(f"**{TITLES[m]}**: {HEAD_METHODS[m].cite}: {HEAD_METHODS[m].help}" for m in TITLES))
    steps = int(c3.number_input("Integration steps", min_value=2, max_value=50, step=2, key=K["steps"],
                                help="Gauss–Legendre nodes of the attention attribution's integral; the cost grows "
                                     "in proportion. 10 is enough to rank heads."))
    compare = c4.toggle("Compare methods", key=K["compare"],
                        help="Also compute the other method and the Spearman rank correlation of the two rankings.")
    params = HeadImportanceParams(method=method, steps=steps, compare=compare)
    seconds, attr_s = estimate_seconds(n, params), stage_seconds(params).get("attribution")
    duration = f"{max(10, round(seconds, -1)):.0f} s" if seconds < 90 else f"{round(seconds / 60)} min"
    message = (f"Measures every head's importance on {n:,} texts with {TITLES[method].lower()}"
               + (" and the other method" if compare else "") + ", then masks heads in the ranked order (the pruning "
               f"check): about {duration} on a 2-core CPU for tweets"
               + (f" (attention attribution ≈ {attr_s:.2f} s per text at {steps} steps)" if attr_s else "")
               + "; the cost grows with the texts' length (a 128-token article costs roughly four tweets). Cached "
               "afterwards, also on disk.")
    if widgets.confirm_gate(("heads", model_ref, choice, n, method, steps, compare), message,
                            "Measure head importance", widget_key="bl.w.heads-go.run"):
        with user_errors(stop=False):
            res = cached.head_importance(model_ref, choice, n, params)

if res is not None:
    L, H = res.importance.shape
    report_draft.add_button("heads", {"model": model_ref, "dataset": choice.ref, "n": n, "method": method,
                                      "steps": steps, "compare": compare}, page="Heads & attention",
                            key="heads.importance")
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

    sel = (int(st.session_state.get(K["layer"], -1)), int(st.session_state.get(K["head"], -1)))
    sel = sel if 0 <= sel[0] < L and 0 <= sel[1] < H else None
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
    def inspect() -> None:
        if st.session_state.get(K["inspect"]) is not None:
            set_head(*st.session_state[K["inspect"]])

    if st.session_state.get(K["inspect"]) not in ranking:
        st.session_state[K["inspect"]] = None
    with right:
        st.selectbox("Inspect head", ranking, key=K["inspect"], placeholder="Choose a head…", on_change=inspect,
                     format_func=lambda lh: f"L{lh[0]}·H{lh[1]} — rank {ranking.index(lh) + 1} of {L * H}",
                     help="Shows this head's attention in the maps below.")
        secs = " · ".join(f"{s} {v:.0f} s" for s, v in res.seconds.items())
        st.caption(f"**How it was computed:** {res.n:,} texts {res.sample.note} · "
                   + (f"{steps} integration steps · " if "attribution" in res.seconds else "")
                   + (f"read from the disk cache (first computed in {secs})." if res.cache_hit else f"{secs}.")
                   + (f" {res.label_note}" if res.label_note else ""))

# ------------------------------------------------------------------------------ attention maps
st.divider()
st.subheader("What a head attends to")
with user_errors():
    examples = cached.example_texts(model_ref, choice)
focus = state.focus_text()
focus = focus if focus is not None and focus.matches(focus.model_ref, choice) else None  # any model, same dataset
source: tuple = (("focus", focus.text, focus.text_pair) if focus is not None else
                 ("example", examples.texts[0] if examples.texts else "",
                  examples.pairs[0] if examples.pairs else None))
if st.session_state.get("bl.heads.source") != source:
    st.session_state["bl.heads.source"] = source
    st.session_state[K["text"]] = source[1]
    st.session_state[K["pair"]] = source[2] or ""
    st.session_state[K["example"]] = None if focus is not None or not examples.texts else 0
st.session_state.setdefault(K["use_pair"], False)


def load_example() -> None:
    i = st.session_state.get(K["example"])
    if i is not None and 0 <= i < len(examples.texts):
        st.session_state[K["text"]] = examples.texts[i]
        st.session_state[K["pair"]] = examples.pairs[i] if examples.pairs else ""


st.selectbox("Load an example from the dataset", list(range(len(examples.texts))), key=K["example"],
             on_change=load_example, placeholder="Choose an example…",
             format_func=lambda i: f"{i + 1} · {examples.labels[i] or 'unlabelled'} · "
                                   f"{widgets.one_line(examples.texts[i], 100)}", help=f"Examples {examples.note}.")
text = st.text_area("First text" if examples.is_pair else "Text", key=K["text"], height=90)
if focus is not None and text == focus.text:
    st.caption(f"The focus text chosen on the {focus.source or 'Projection page'}"
               + (f" (true label {focus.label})." if focus.label else "."))
pair = None
if examples.is_pair:
    pair = st.text_area("Second text", key=K["pair"], height=70,
                        help="The dataset holds sentence pairs (e.g. premise and hypothesis).")
elif st.toggle("Add a second text", key=K["use_pair"], help="Feed a sentence pair instead of one text."):
    pair = st.text_area("Second text", key=K["pair"], height=70)

L, H = attention_shape(model)
pending = st.session_state.pop("bl.heads.pending", None)
if pending is not None:
    set_head(*pending)
if not 0 <= int(st.session_state.setdefault(K["layer"], L - 1)) < L:
    st.session_state[K["layer"]] = L - 1
if not MEAN <= int(st.session_state.setdefault(K["head"], MEAN)) < H:
    st.session_state[K["head"]] = MEAN
st.session_state.setdefault(K["tokens"], DEFAULT_MAX_TOKENS)
c1, c2, c3 = st.columns([1, 1, 2], gap="medium")
layer = int(c1.selectbox("Layer", list(range(L)), key=K["layer"], help="Counted from 0 = the first transformer layer."))
head = int(c2.selectbox("Head", [MEAN, *range(H)], key=K["head"],
                        format_func=lambda h: "mean of all heads" if h == MEAN else str(h),
                        help="Counted from 0; or the layer's heads averaged. Click a map in the overview below to "
                             "pick one."))
max_tokens = int(c3.slider("Tokens shown", TOKENS_RANGE[0], TOKENS_RANGE[1], key=K["tokens"],
                           help="The model reads the whole text; the maps show its first tokens only, to stay "
                                "legible."))
if not text.strip():
    st.error("Enter a text to see its attention (or load an example from the dataset).", icon=":material/error:")
    st.stop()
if pair is not None and not pair.strip():
    st.error("Enter the second text (this dataset holds text pairs)." if examples.is_pair else
             "Enter the second text, or switch “Add a second text” off.", icon=":material/error:")
    st.stop()
with user_errors():
    maps = cached.attention_maps(model_ref, text, pair, max_tokens=max_tokens)
if maps.notes:
    st.info("\n".join(f"- {n_}" for n_ in maps.notes) if len(maps.notes) > 1 else maps.notes[0][:1].upper()
            + maps.notes[0][1:] + ".", icon=":material/info:")

shown_head = None if head == MEAN else head
widgets.show_chart(attention_map_chart(maps, layer, shown_head))  # full width: a map of 48 tokens needs it
report_draft.add_button("attention", {"model": model_ref, "texts": [text], **({"pairs": [pair]} if pair else {}),
                                      "heads": [f"{layer}.{'mean' if shown_head is None else shown_head}"],
                                      "max_tokens": min(max_tokens, 48)},
                        page="Heads & attention (map)", key="heads.map", texts=[text])
st.caption("**Reading the map:** each row is a token attending (the query); its cells say how much attention it "
           "pays to each token of the text (the keys), from white (none) to dark blue (the largest weight on this "
           "map, at least 0.25; see the legend). A row of the whole map sums to 1. Many heads park their attention "
           "on [CLS], [SEP] or punctuation when they have nothing to do; a bright diagonal, or one beside it, is a "
           "head that looks at the token itself or its neighbour.")
if maps.cross is not None:
    widgets.show_chart(cross_segment_chart(maps, cell=24))
    st.caption("**Cross-segment attention:** for every layer and head, the mean share of its attention that a token "
               "of one text pays to the tokens of the other (all tokens the model read, not only those shown). [CLS] "
               "and the first [SEP] count as the first text, so the second text's attention to [CLS] shows up as "
               "attention to the first text.")

st.markdown("**All heads**")
grid = attention_grid_chart(maps, highlight=None if shown_head is None else (layer, shown_head), selectable=True)
# keyed by the head shown, so that the grid's selection starts empty whenever another head is shown
picked = widgets.show_selectable_chart(grid, key=f"bl.heads-grid.{model_ref}.{layer}.{head}", selection_mode=["pick"])
hit = [(int(x["layer"]), int(x["head"])) for x in (picked.get("pick") or []) if isinstance(x, dict)
       and "layer" in x and "head" in x]
if hit and hit[0] != (layer, head):
    st.session_state["bl.heads.pending"] = hit[0]  # applied above, before the layer and head widgets exist
    st.rerun()
st.caption(f"Every head of the {maps.n_layers} layers at a glance, on the same scale from 0 (white) to 1 (dark blue): "
           "a pale map spreads its attention, a dark column is a token (often [CLS] or [SEP]) that the head attends "
           "to from everywhere. Click a map to show it large above.")
