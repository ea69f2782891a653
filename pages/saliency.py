"""Saliency: which tokens a decision rests on (several methods side by side), how faithful each method's
token order is (hiding and revealing games), and which words each method credits per class."""

import streamlit as st

from core.analyses.saliency import default_layer, get_method, method_names
from core.analyses.saliency.faithfulness import games_cost
from core.analyses.saliency_params import (EXPLAIN_METHODS, GAMES_N, GRADCAM, ClassTokensParams, FaithfulnessParams,
                                           as_assignments, capped)
from core.foundation.errors import BackboneLensError
from ui import cached, report_draft, state, widgets
from ui.errors import user_errors, user_message
from ui.views.saliency import (class_tokens_section, cost_message, explanation_captions, method_settings,
                               offer_mlm_head, show_explanations, show_fitted_head, show_games)

GAMES, TOKENS = FaithfulnessParams.defaults(), ClassTokensParams.defaults()
st.title("Saliency")
st.caption("Which tokens does the classifier's decision rest on? Several attribution methods explain the same "
           "text side by side; the faithfulness games then test each method's token order on a sample: hiding "
           "the tokens a faithful method ranks first should hurt the model most, revealing them alone should "
           "help it most.")
widgets.keep_widgets("bl.w.sal.")
model_ref, choice, model = widgets.classifier_selection(
    "Saliency explains a classifier's decision for a class, so it needs one.")
mlm = st.text_input(
    "Decoding head (optional)", key="bl.w.sal.mlm", placeholder="the base checkpoint: a folder or hub id",
    help="Decoded Grad-CAM reads hidden states through a masked-LM head (a decoder's LM head: the logit lens). A "
         "fine-tuned classifier's checkpoint usually lacks it: name the base checkpoint it was fine-tuned from (its "
         "*ForMaskedLM or *ForCausalLM folder or hub id), as --mlm does on the command line. Empty: the model's own "
         "head, or one fitted for its encoder.")
sal_ref = cached.with_decoding_head(model_ref, mlm)  # the model as this page's analyses read it
with user_errors():
    examples = cached.example_texts(model_ref, choice)
    head_ok = cached.mlm_head_ready(sal_ref)
    if head_ok:
        st.caption(f"Decoding head: {cached.get_model(sal_ref).decoding_head_kind()}"
                   + (f" of `{mlm.strip()}`." if mlm.strip() else "."))
L, titles = model.num_layers, {m: get_method(m).title for m in method_names()}
show_fitted_head()

# ------------------------------------------------------------------------------ one text, several methods
st.subheader("Explain one text")
focus = state.focus_text()
inp = widgets.saliency_text_input(model, examples, focus if focus is not None and focus.matches(model_ref, choice)
                                  else None)
st.session_state.setdefault("bl.w.sal.methods", list(EXPLAIN_METHODS))
st.session_state["bl.w.sal.methods"] = [m for m in st.session_state["bl.w.sal.methods"] if m in titles]
if st.session_state.get("bl.saliency.layer_model") != model_ref:  # a new model starts at its own default layer
    st.session_state["bl.saliency.layer_model"] = model_ref
    st.session_state["bl.w.sal.layer"] = default_layer(model)
st.session_state["bl.w.sal.layer"] = min(max(int(st.session_state["bl.w.sal.layer"]), 0), L)
methods = st.multiselect("Methods", list(titles), key="bl.w.sal.methods", format_func=titles.get,
                         help="Each row below is one method; see “Method settings” for what each computes.")
c2, c3 = st.columns([3, 2], gap="large", vertical_alignment="bottom")
layer = int(c2.slider("Grad-CAM layer", 0, L, key="bl.w.sal.layer",
                      help=f"The hidden layer Grad-CAM reads: 0 = the embeddings … {L} = the last layer. The "
                           f"default, {default_layer(model)}, is two thirds of the depth, where decoded Grad-CAM was "
                           "found most faithful; the games below sweep every layer."))
unit = c3.radio("Show", ["words", "word pieces"], key="bl.w.sal.unit", horizontal=True,
                help="Word scores are the sums of their word pieces' scores.")
settings = method_settings(titles, layer)
if "decoded_gradcam" in methods and not head_ok:
    offer_mlm_head(model_ref, model, "here")
    methods = [m for m in methods if m != "decoded_gradcam"]

if not inp.text.strip():
    st.error("Enter a text to explain (or load an example from the dataset).", icon=":material/error:")
elif inp.pair is not None and not inp.pair.strip():
    st.error("Enter the second text (this dataset holds text pairs)." if examples.is_pair else
             "Enter the second text, or switch “Add a second text” off.", icon=":material/error:")
elif not methods:
    st.info("Choose at least one method.")
else:
    views, problems = {}, []
    with st.spinner("Computing saliency…"):
        for name in methods:
            try:
                views[name] = cached.explain(sal_ref, name, inp.text, inp.pair, target=inp.target,
                                             params=settings[name])
            except BackboneLensError as e:
                problems += [user_message(e)] if user_message(e) not in problems else []
    for msg in problems:
        st.error(msg, icon=":material/error:")
    if views:
        show_explanations(views, model, titles, layer, words=unit == "words")
        report_draft.add_button("saliency_examples", {"texts": [inp.text], "methods": list(views), "layer": layer},
                                page="Saliency", view="one text", key="saliency.one", texts=[inp.text],
                                help="Store this text, explained by these methods, as a saliency section of the "
                                     "report draft.", mlm=mlm.strip() or None)
        explanation_captions(views, titles)

# ------------------------------------------------------------------------------ faithfulness games
st.divider()
st.subheader("Faithfulness games")
st.caption("For every text of a sample, each method orders the tokens from most to least salient. **Hiding:** the "
           "top 10 %, 20 %, … of the tokens are replaced, and the model's accuracy should fall fast. **Revealing:** "
           "only the top share is kept, and accuracy should rise fast. A random order is the baseline every "
           "method should beat.")
for k, v in {"n": GAMES_N, "methods": list(GAMES["methods"]), "sweep": True,
             "replacement": GAMES["replacement"]}.items():
    st.session_state.setdefault(f"bl.w.sal.g.{k}", v)
st.session_state["bl.w.sal.g.methods"] = [m for m in st.session_state["bl.w.sal.g.methods"] if m in titles]
g1, g2 = st.columns([1, 4], gap="medium", vertical_alignment="bottom")
g3, g4, _ = st.columns([1, 1, 2], gap="medium", vertical_alignment="bottom")
n = int(g1.number_input("Texts", min_value=10, max_value=2000, step=20, key="bl.w.sal.g.n",
                        help="Drawn by the Workspace seed, from the held-out test split when the model was "
                             "trained on this dataset."))
g_methods = g2.multiselect("Methods in the games", list(titles), key="bl.w.sal.g.methods", format_func=titles.get,
                           help=f"The random order is always included. Integrated Gradients uses at most "
                                f"{GAMES['ig_steps']} steps here to keep the games quick.")
replacement = g3.selectbox("Hidden tokens become", FaithfulnessParams.param("replacement").choices,
                           key="bl.w.sal.g.replacement", help="mask: the [MASK] token (keeps positions; what a "
                           "masked-LM encoder knows as “missing”); pad: the padding token; delete: removed (shifts "
                           "positions).")
sweep = g4.toggle("Sweep Grad-CAM layers", key="bl.w.sal.g.sweep",
                  help=f"Play the games with Grad-CAM at every layer 0–{L} (one backward pass serves all layers) "
                       "instead of only the layer chosen above.")
if "decoded_gradcam" in g_methods and not head_ok:
    if "decoded_gradcam" not in st.session_state["bl.w.sal.methods"]:
        offer_mlm_head(model_ref, model, "from the games")
    g_methods = [m for m in g_methods if m != "decoded_gradcam"]

if not g_methods:
    st.info("Choose at least one method for the games.")
else:
    gp = FaithfulnessParams(methods=tuple(g_methods), layers="all" if sweep else "default", replacement=replacement,
                            method_params=tuple(a for m in g_methods if not (sweep and m in GRADCAM)
                                                for a in as_assignments(capped(m, settings[m]), prefix=f"{m}.")))
    with user_errors():
        est = cached.estimates.games(sal_ref, choice, n, gp, {m: settings[m] for m in g_methods})
    if widgets.confirm_gate(("games", sal_ref, choice, n, gp), cost_message(games_cost(n, gp, L), est),
                            "Play the games", widget_key="bl.w.sal-go.games"):
        with user_errors(stop=False):
            res = cached.faithfulness_games(sal_ref, choice, n, gp, weights=dict(est.parts))
            report_draft.add_button("faithfulness", {"n": n, "methods": list(g_methods), "layers": "all" if sweep
                                                     else [layer], "replacement": replacement,
                                                     "ig_steps": gp.ig_steps},
                                    page="Saliency", view="faithfulness games", key="saliency.games",
                                    labels={"n": "Texts", "replacement": "Hidden tokens become"},
                                    mlm=mlm.strip() or None)
            show_games(res)

# ------------------------------------------------------------------------------ class-representative tokens
st.divider()
st.subheader("Class-representative tokens")
st.caption("Which words a method credits for each *predicted* class over a sample: word scores (positive evidence, "
           "normalised per text) summed per class and weighted by how rare the word is in the bundled corpora. "
           "Lists that overlap little between classes mean class-specific evidence.")
class_tokens_section(sal_ref, choice, titles, settings, head_ok)
