"""Saliency: which tokens a decision rests on (several methods side by side), how faithful each method's
token order is (hiding and revealing games), and which words each method credits per class."""

import pandas as pd
import streamlit as st

from core.foundation.errors import BackboneLensError
from core.analyses.saliency.faithfulness import MethodSpec
from figures.saliency import class_tokens_frame, saliency_comparison_html
from figures.faithfulness import faithfulness_chart, faithfulness_frame, layer_sweep_chart
from core.analyses.saliency import default_layer, get_method, method_names
from ui import cached, report_draft, state, widgets
from ui.errors import user_errors, user_message

GRADCAM = ("decoded_gradcam", "layer_gradcam")
DEFAULT_METHODS = ["decoded_gradcam", "integrated_gradients", "occlusion", "attention_rollout"]
GAME_METHODS = ["decoded_gradcam", "layer_gradcam", "integrated_gradients", "occlusion"]
GAME_IG_STEPS = 20  # Integrated Gradients steps in the games and class tokens: enough for an order, 2.5× quicker
GAME_N, GAME_N_ASK = 100, 200  # default games sample; above GAME_N_ASK the message warns of minutes
PASSES_PER_TEXT = 18  # forward passes per text and token order in the two games (11 levels, shared ends)

st.title("Saliency")
st.caption("Which tokens does the classifier's decision rest on? Several attribution methods explain the same "
           "text side by side; the faithfulness games then test each method's token order on a sample: hiding "
           "the tokens a faithful method ranks first should hurt the model most, revealing them alone should "
           "help it most.")

widgets.keep_widgets("bl.w.sal.")
model_ref, choice, model = widgets.classifier_selection(
    "Saliency explains a classifier's decision for a class, so it needs one.")
with user_errors():
    examples = cached.example_texts(model_ref, choice)
    head_ok = cached.mlm_head_ready(model_ref)

L = model.num_layers
titles = {m: get_method(m).title for m in method_names()}


def offer_mlm_head(where: str) -> None:
    """The info (and fit button) shown when decoded Grad-CAM is asked for but the model has no MLM head."""
    st.info(f"Decoded Grad-CAM reads hidden states through a masked-LM head, and `{model.ref}` has none, so it is "
            f"left out {where}. A decoding head can be fitted for this encoder on the bundled BBC and tweet texts "
            f"(about {cached.MLM_FIT_SECONDS} s here); it is stored and reused next time. Plain layer Grad-CAM "
            "needs no head.", icon=":material/info:")
    if st.button("Fit a decoding head", key=f"bl.w.sal-go.mlm.{where}", icon=":material/model_training:"):
        with user_errors():
            report = cached.fit_mlm_head(model_ref)
        st.session_state["bl.saliency.mlm_report"] = report
        st.rerun()


report = st.session_state.pop("bl.saliency.mlm_report", None)
if report is not None:
    st.success(f"Decoding head fitted in {report.seconds:.0f} s ({report.steps:,} steps): held-out masked top-5 "
               f"accuracy {report.masked_top5:.0%}, unmasked top-1 {report.unmasked_top1:.0%}.")

# ------------------------------------------------------------------------------ one text, several methods
st.subheader("Explain one text")
focus = state.focus_text()
inp = widgets.saliency_text_input(model, examples, focus if focus is not None and focus.matches(model_ref, choice)
                                  else None)

st.session_state.setdefault("bl.w.sal.methods", DEFAULT_METHODS)
st.session_state["bl.w.sal.methods"] = [m for m in st.session_state["bl.w.sal.methods"] if m in titles]
if st.session_state.get("bl.saliency.layer_model") != model_ref:  # a new model starts at its own default layer
    st.session_state["bl.saliency.layer_model"] = model_ref
    st.session_state["bl.w.sal.layer"] = default_layer(model)
st.session_state["bl.w.sal.layer"] = min(max(int(st.session_state["bl.w.sal.layer"]), 0), L)
methods = st.multiselect("Methods", list(titles), key="bl.w.sal.methods", format_func=titles.get,
                         help="Each row below is one method; see “Method settings” for what each computes.")
c2, c3 = st.columns([3, 2], gap="large", vertical_alignment="bottom")
layer = c2.slider("Grad-CAM layer", 0, L, key="bl.w.sal.layer",
                  help=f"The hidden layer Grad-CAM reads: 0 = the embeddings … {L} = the last layer. The default, "
                       f"{default_layer(model)}, is two thirds of the depth, where decoded Grad-CAM was found most "
                       "faithful; the games below sweep every layer.")
unit = c3.radio("Show", ["words", "word pieces"], key="bl.w.sal.unit", horizontal=True,
                help="Word scores are the sums of their word pieces' scores.")

settings: dict[str, dict] = {}
with st.expander("Method settings"):
    st.caption("Used here, in the games and for the class tokens. Grad-CAM's layer is the slider above.")
    for name in titles:
        spec = get_method(name)
        st.markdown(f"**{spec.title}** · `{name}` · {spec.cost}  \n"
                    f"<small>{spec.description}</small>", unsafe_allow_html=True)
        settings[name] = widgets.method_param_widgets(spec, key_prefix="bl.w.sal.p.")


def params_of(name: str, *, quick: bool = False) -> dict:
    """The method's parameters from the settings; ``quick`` caps Integrated Gradients' steps."""
    p = dict(settings.get(name, {}))
    if name in GRADCAM:
        p["layer"] = int(layer)
    if quick and name == "integrated_gradients":
        p["steps"] = min(int(p.get("steps", GAME_IG_STEPS)), GAME_IG_STEPS)
    return p


if "decoded_gradcam" in methods and not head_ok:
    offer_mlm_head("here")
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
                views[name] = cached.explain(model_ref, name, inp.text, inp.pair, target=inp.target,
                                              params=params_of(name))
            except BackboneLensError as e:
                if user_message(e) not in problems:
                    problems.append(user_message(e))
    for msg in problems:
        st.error(msg, icon=":material/error:")
    if views:
        rows = [f"{titles[m]} · layer {layer}" if m in GRADCAM else titles[m] for m in views]
        if next(iter(views.values())).result.truncated:
            st.info(f"The text is longer than the model's maximum of {model.max_length} tokens: only the part "
                    "shown, up to “[… truncated]”, was explained.", icon=":material/info:")
        st.html(saliency_comparison_html([v.result for v in views.values()], titles=rows,
                                         words=unit == "words"))
        report_draft.add_button("saliency_examples", {"texts": [inp.text], "methods": list(views),
                                                      "layer": int(layer)},
                                page="Saliency", key="saliency.one", texts=[inp.text],
                                help="Store this text, explained by these methods, as a saliency section of the "
                                     "report draft.")
        st.caption("**Colours:** vermillion = evidence *for* the explained class, blue = evidence *against* it "
                   "(signed methods only; unsigned ones say how much a token matters, not which way). Intensity is "
                   "relative to each method's largest score on this text, so compare orders across rows, not "
                   "shades. Hover a word for its score.")
        st.caption("**Time per method** (first computation; repeats come from the cache): " + " · ".join(
            f"{titles[m]} {v.seconds:.2f} s" for m, v in views.items()))
        ig = views.get("integrated_gradients")
        if ig is not None and "completeness_delta" in ig.result.extras:
            x = ig.result.extras
            verdict = ("the integral is accurate" if x["relative_delta"] < 0.05 else
                       "the integral is coarse: raise the steps under “Method settings”")
            st.caption(f"**Integrated Gradients completeness:** the attributions sum to the logit difference "
                       f"between the text and the baseline ({x['logit_gap']:+.3f}) up to "
                       f"{x['completeness_delta']:+.2g} "
                       f"({x['relative_delta']:.1%} of it): {verdict}.")

# ------------------------------------------------------------------------------ faithfulness games
st.divider()
st.subheader("Faithfulness games")
st.caption("For every text of a sample, each method orders the tokens from most to least salient. **Hiding:** the "
           "top 10 %, 20 %, … of the tokens are replaced, and the model's accuracy should fall fast. **Revealing:** "
           "only the top share is kept, and accuracy should rise fast. A random order is the baseline every "
           "method should beat.")
st.session_state.setdefault("bl.w.sal.g.n", GAME_N)
st.session_state.setdefault("bl.w.sal.g.methods", GAME_METHODS)
st.session_state["bl.w.sal.g.methods"] = [m for m in st.session_state["bl.w.sal.g.methods"] if m in titles]
st.session_state.setdefault("bl.w.sal.g.sweep", True)
st.session_state.setdefault("bl.w.sal.g.replacement", "mask")
g1, g2 = st.columns([1, 4], gap="medium", vertical_alignment="bottom")
g3, g4, _ = st.columns([1, 1, 2], gap="medium", vertical_alignment="bottom")
n = int(g1.number_input("Texts", min_value=8, max_value=2000, step=20, key="bl.w.sal.g.n",
                        help="Drawn by the Workspace seed, from the held-out test split when the model was "
                             "trained on this dataset."))
g_methods = g2.multiselect("Methods in the games", list(titles), key="bl.w.sal.g.methods", format_func=titles.get,
                           help=f"The random order is always included. Integrated Gradients uses at most "
                                f"{GAME_IG_STEPS} steps here to keep the games quick.")
replacement = g3.selectbox("Hidden tokens become", ["mask", "pad", "delete"], key="bl.w.sal.g.replacement",
                           help="mask: the [MASK] token (keeps positions; what a masked-LM encoder knows as "
                                "“missing”); pad: the padding token; delete: removed (shifts positions).")
sweep = g4.toggle("Sweep Grad-CAM layers", key="bl.w.sal.g.sweep",
                  help=f"Play the games with Grad-CAM at every layer 0–{L} (one backward pass serves all layers) "
                       "instead of only the layer chosen above.")
if "decoded_gradcam" in g_methods and not head_ok:
    if "decoded_gradcam" not in st.session_state["bl.w.sal.methods"]:
        offer_mlm_head("from the games")
    g_methods = [m for m in g_methods if m != "decoded_gradcam"]

specs = [MethodSpec(m, layers=tuple(range(L + 1))) if m in GRADCAM and sweep
         else MethodSpec(m, params_of(m, quick=True)) for m in g_methods]
if not specs:
    st.info("Choose at least one method for the games.")
else:
    orders = sum(len(s.layers) if s.layers else 1 for s in specs) + 1
    passes = n * PASSES_PER_TEXT * orders
    plain = tuple((s.name, tuple(sorted(s.params.items())), s.layers) for s in specs)
    message = (f"The games evaluate about {passes:,} perturbed texts ({n:,} texts × {orders} token orders × "
               f"~{PASSES_PER_TEXT}), roughly {max(1, round(passes / 150 / 60))}–{max(1, round(passes / 40 / 60))} "
               "min on a 2-core CPU (short tweets at the low end, 128-token articles at the high end), plus the "
               "saliency itself. Results are cached per method, so adding one later costs only that method.")
    if n > GAME_N_ASK:
        message += f" Above {GAME_N_ASK} texts this can take a long while."
    if widgets.confirm_gate(("games", model_ref, choice, n, plain, replacement), message, "Play the games",
                            widget_key="bl.w.sal-go.games"):
        with user_errors(stop=False):
            gv = cached.faithfulness_games(model_ref, choice, n, specs, replacement=replacement)
            res = gv.result
            report_draft.add_button("faithfulness", {"n": n, "methods": [s.name for s in specs],
                                                     "layers": "all" if sweep else [int(layer)],
                                                     "replacement": replacement, "ig_steps": GAME_IG_STEPS},
                                    page="Saliency (games)", key="saliency.games")
            metric = st.radio("Curves show", ["accuracy", "probability"], horizontal=True, key="bl.w.sal.g.metric",
                              format_func={"accuracy": f"accuracy (against {res.accuracy_against})",
                                           "probability": "probability of the predicted class"}.get)
            widgets.show_chart(faithfulness_chart(res, metric=metric))
            best = {m: res.best_layer(m) for m in GRADCAM if res.layers(m)}
            table = faithfulness_frame(res)

            def highlight(row: pd.Series) -> list[str]:
                style = ("background-color: #fde7d9; font-weight: 600" if row["best layer"] else
                         "color: #777777" if row["method"] == "random order" else "")
                return [style] * len(row)

            aucs = ("hiding AUC", "revealing AUC", "gap", "hiding AUC (prob.)", "revealing AUC (prob.)")
            styled = table.style.apply(highlight, axis=1).format({k: "{:.3f}" for k in aucs} | {"saliency s": "{:.1f}"})
            auc_help = {"hiding AUC": "Area under the hiding game's accuracy curve: lower is better.",
                        "revealing AUC": "Area under the revealing game's accuracy curve: higher is better.",
                        "gap": "Revealing AUC − hiding AUC: higher is better.",
                        "hiding AUC (prob.)": "Hiding AUC of the predicted class's probability: lower is better.",
                        "revealing AUC (prob.)": "Revealing AUC of the predicted class's probability: higher is "
                                                 "better."}
            column_config = {k: st.column_config.NumberColumn(k.replace(" AUC", "").capitalize(), help=h)
                             for k, h in auc_help.items()} | {
                "method": st.column_config.TextColumn("Method", width="medium"),
                "layer": st.column_config.TextColumn("Layer", width="small"),
                "saliency s": st.column_config.NumberColumn(
                    "Saliency s", width="small", help="Seconds to compute the method's scores on the sample (a "
                                                      "layer sweep's time is shared by its layers)."),
                "best layer": st.column_config.CheckboxColumn("Best layer", width="small")}
            if best:
                left, right = st.columns([3, 2], gap="medium", vertical_alignment="center")
                widgets.show_chart(layer_sweep_chart(res), container=left)
                for m, li in best.items():
                    right.metric({"decoded_gradcam": "Best decoded Grad-CAM layer",
                                  "layer_gradcam": "Best plain Grad-CAM layer"}[m], li, border=True,
                                 help="The layer with the largest gap between revealing and hiding accuracy AUC "
                                      f"on these {res.n:,} texts (highlighted in the table below).")
            st.dataframe(styled, hide_index=True, height=min(40 + 35 * len(table), 740), column_config=column_config)
            st.caption("**How to read it:** hiding AUC is the area under the hiding curve – *lower* is better (the "
                       "top tokens carried the decision); revealing AUC – *higher* is better (the top tokens alone "
                       "suffice). Gap = revealing − hiding AUC, one number for both games. A method no better "
                       "than the random order (grey) tells nothing about the model. “(prob.)” columns use the "
                       "probability of the class predicted on the intact text instead of accuracy.")
            st.caption(f"**How it was computed:** {res.n:,} texts {gv.note} · {res.mean_tokens:.0f} tokens on "
                       f"average" + (f", {res.truncated:,} truncated to {res.max_length}" if res.truncated else "")
                       + f" · hidden tokens → {res.replacement} · accuracy against {res.accuracy_against} · "
                       + (f"{res.evaluations:,} perturbed texts evaluated, {res.seconds:.0f} s (methods played "
                          "before came from the disk cache)." if res.evaluations else
                          "every method's curves came from the disk cache."))

# ------------------------------------------------------------------------------ class-representative tokens
st.divider()
st.subheader("Class-representative tokens")
st.caption("Which words a method credits for each *predicted* class over a sample: word scores (positive evidence, "
           "normalised per text) summed per class and weighted by how rare the word is in the bundled corpora. "
           "Lists that overlap little between classes mean class-specific evidence.")
ct_options = [m for m in titles if head_ok or m != "decoded_gradcam"]
st.session_state.setdefault("bl.w.sal.ct.method", "decoded_gradcam" if head_ok else "layer_gradcam")
if st.session_state["bl.w.sal.ct.method"] not in ct_options:
    st.session_state["bl.w.sal.ct.method"] = "layer_gradcam"
st.session_state.setdefault("bl.w.sal.ct.n", 200)
st.session_state.setdefault("bl.w.sal.ct.k", 10)
k1, k2, k3 = st.columns([2, 1, 1], gap="medium")
ct_method = k1.selectbox("Method", ct_options, key="bl.w.sal.ct.method", format_func=titles.get,
                         help="With the settings above (Grad-CAM at the slider's layer; Integrated Gradients with "
                              f"at most {GAME_IG_STEPS} steps).")
ct_n = int(k2.number_input("Texts", min_value=20, max_value=2000, step=50, key="bl.w.sal.ct.n"))
top_k = int(k3.number_input("Top k words", min_value=3, max_value=30, step=1, key="bl.w.sal.ct.k"))
ct_params = params_of(ct_method, quick=True)
if widgets.confirm_gate(("class tokens", model_ref, choice, ct_n, ct_method, tuple(sorted(ct_params.items())), top_k),
                        f"Explains {ct_n:,} texts with {titles[ct_method]} ({get_method(ct_method).cost} each), "
                        "then aggregates the words per predicted class.", "Find class tokens",
                        widget_key="bl.w.sal-go.ct"):
    with user_errors(stop=False):
        cv = cached.class_tokens(model_ref, choice, ct_n, ct_method, params=ct_params, top_k=top_k)
        ct = cv.tokens
        st.dataframe(class_tokens_frame(ct))
        left, right = st.columns([1, 3], gap="medium")
        # NaN when fewer than two classes have words
        overlap = "–" if ct.mean_overlap != ct.mean_overlap else f"{ct.mean_overlap:.1f} of {ct.top_k}"
        left.metric("Mean pairwise overlap", overlap, border=True,
                    help="Words shared by the top-k lists of two classes, averaged over class pairs. Lower = more "
                         "class-specific explanations.")
        right.dataframe(pd.DataFrame(ct.overlap, index=list(ct.label_names), columns=list(ct.label_names)))
        right.caption("Overlap matrix: shared top-k words per pair of classes (diagonal: the list's length).")
        st.caption(f"**How it was computed:** {cv.n:,} texts {cv.note}, grouped by predicted class (texts per class "
                   "in the column headers) · a word must occur in at least "
                   f"{ct.min_docs} texts of a class · idf from the {ct.idf_source} · {cv.seconds:.1f} s.")
