"""Heads & attention: which attention heads a classifier's decision rests on (attention attribution or the
head-mask gradient, checked by masking heads in that order), and what each head attends to in one text."""
import streamlit as st

from core.analyses.transformer.attention_maps import DEFAULT_MAX_TOKENS, attention_shape
from core.analyses.transformer.head_importance import HEAD_METHODS, HeadImportanceParams
from ui import cached, report_draft, state, widgets
from ui.views import heads as views
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
choice = widgets.workspace_dataset()
model_ref = widgets.page_model_picker(K["model"], [*widgets.model_options(), *cached.multitask_task_refs()],
                                      help="Starts as (and follows) the Workspace model. Head importance needs a "
                                           "classifier; the attention maps work for any encoder.")
widgets.selection_sidebar(model_ref, choice)
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
    est = None
    with user_errors(stop=False):  # a model whose heads cannot be masked: said here, the maps below still work
        est = cached.estimates.heads(model_ref, choice, n, params)
    if est is not None and widgets.confirm_gate(
            ("heads", model_ref, choice, n, method, steps, compare),
            f"Measures every head's importance on {n:,} texts with {TITLES[method].lower()}"
            + (" and the other method" if compare else "") + ", then masks heads in the ranked order (the pruning "
            f"check): **{est.span()}** here ({est.basis}). Cached afterwards, also on disk.",
            "Measure head importance", widget_key="bl.w.heads-go.run"):
        with user_errors(stop=False):
            res = cached.head_importance(model_ref, choice, n, params, weights=dict(est.parts))

if res is not None:
    report_draft.add_button("heads", {"model": model_ref, "dataset": choice.ref, "n": n, "method": method,
                                      "steps": steps, "compare": compare}, page="Heads & attention",
                            key="heads.importance")

    def inspect() -> None:
        if st.session_state.get(K["inspect"]) is not None:
            set_head(*st.session_state[K["inspect"]])

    views.show_head_importance(res, selected=(int(st.session_state.get(K["layer"], -1)),
                                              int(st.session_state.get(K["head"], -1))),
                               steps=steps, inspect_key=K["inspect"], on_inspect=inspect)

# ------------------------------------------------------------------------------ attention maps
st.divider()
st.subheader("What a head attends to")
with user_errors():
    examples = cached.example_texts(model_ref, choice)
focus = state.focus_text()
focus = focus if focus is not None and focus.matches(focus.model_ref, choice) else None  # any model, same dataset
inp = widgets.text_input(examples, focus, prefix="bl.w.heads.")
text, pair = inp.text, inp.pair

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
report_draft.add_button("attention", {"model": model_ref, "texts": [text], **({"pairs": [pair]} if pair else {}),
                                      "heads": [f"{layer}.{'mean' if shown_head is None else shown_head}"],
                                      "max_tokens": min(max_tokens, 48)},
                        page="Heads & attention", key="heads.map", texts=[text], view="attention map",
                        labels={"max_tokens": "tokens shown", "heads": "head"})
# keyed by the head shown, so that the grid's selection starts empty whenever another head is shown
hit = views.show_attention(maps, layer, shown_head, grid_key=f"bl.heads-grid.{model_ref}.{layer}.{head}")
if hit is not None and hit != (layer, head):
    st.session_state["bl.heads.pending"] = hit  # applied above, before the layer and head widgets exist
    st.rerun()
