"""How the Saliency page shows its results in Streamlit: highlighted texts, game curves and tables, class tokens,
and the offer to fit a decoding head. Charts, tables and captions come from ``figures``; nothing is computed here.
"""
from __future__ import annotations

from typing import Any, Mapping

import streamlit as st

from core.analyses.saliency import get_method
from core.analyses.saliency.class_tokens import ClassTokens
from core.analyses.saliency.faithfulness import FaithfulnessResult, GamesCost
from core.models.throughput import Estimate
from core.analyses.saliency_params import GRADCAM, ClassTokensParams, FaithfulnessParams, as_assignments, capped
from core.models.loading import LoadedModel
from figures.faithfulness import (BEST_LAYER_TITLES, TABLE_COLUMNS, faithfulness_chart, faithfulness_table,
                                  games_caption, layer_sweep_chart)
from figures.saliency import (class_tokens_caption, class_tokens_frame, completeness_caption, overlap_frame,
                              saliency_comparison_html)
from ui import cached, widgets
from ui.cached.saliency import SaliencyView
from ui.errors import user_errors
from ui.state import DatasetChoice

MLM_REPORT = "bl.saliency.mlm_report"  # session key: the report of a decoding head fitted on the last run


def offer_mlm_head(model_ref: str, model: LoadedModel, where: str) -> None:
    """The info (and fit button) shown when decoded Grad-CAM is asked for but the model has no MLM head."""
    st.info(f"Decoded Grad-CAM reads hidden states through a masked-LM head, and `{model.ref}` has none, so it is "
            f"left out {where}. A decoding head can be fitted for this encoder on the bundled BBC and tweet texts "
            f"(about {cached.MLM_FIT_SECONDS} s here); it is stored and reused next time. Plain layer Grad-CAM "
            "needs no head.", icon=":material/info:")
    if st.button("Fit a decoding head", key=f"bl.w.sal-go.mlm.{where}", icon=":material/model_training:"):
        with user_errors():
            st.session_state[MLM_REPORT] = cached.fit_mlm_head(model_ref)
        st.rerun()


def show_fitted_head() -> None:
    """The success line after a decoding head was fitted (once)."""
    report = st.session_state.pop(MLM_REPORT, None)
    if report is not None:
        st.success(f"Decoding head fitted in {report.seconds:.0f} s ({report.steps:,} steps): held-out masked top-5 "
                   f"accuracy {report.masked_top5:.0%}, unmasked top-1 {report.unmasked_top1:.0%}.")


def method_settings(titles: Mapping[str, str], layer: int) -> dict[str, dict[str, Any]]:
    """The "Method settings" expander: every method's declared parameters as widgets; returns name → parameters
    (the Grad-CAM methods at ``layer``, the slider's)."""
    settings = {}
    with st.expander("Method settings"):
        st.caption("Used here, in the games and for the class tokens. Grad-CAM's layer is the slider above.")
        for name in titles:
            spec = get_method(name)
            st.markdown(f"**{spec.title}** · `{name}` · {spec.cost}  \n<small>{spec.description}</small>",
                        unsafe_allow_html=True)
            settings[name] = widgets.method_param_widgets(spec, key_prefix="bl.w.sal.p.")
    return {m: {**p, **({"layer": layer} if m in GRADCAM else {})} for m, p in settings.items()}


def cost_message(cost: GamesCost, est: Estimate) -> str:
    """What the games will cost, in words (the text beside "Play the games"): the perturbed texts and the time
    measured for this machine now."""
    return (f"The games score up to {cost.evaluations:,} perturbed texts ({cost.n:,} text{'s' if cost.n != 1 else ''} "
            f"× {cost.orders} token orders × ~{cost.per_text}) after each method's saliency: **{est.span()}** here "
            f"({est.basis}). Results are cached per method, so adding one later costs only that method.")


def show_explanations(views: Mapping[str, SaliencyView], model: LoadedModel, titles: Mapping[str, str], layer: int,
                      *, words: bool) -> None:
    """One text explained by several methods: a note when it was cut, then one highlighted row per method."""
    if next(iter(views.values())).result.truncated:
        st.info(f"The text is longer than the model's maximum of {model.max_length} tokens: only the part "
                "shown, up to “[… truncated]”, was explained.", icon=":material/info:")
    st.html(saliency_comparison_html([v.result for v in views.values()], words=words, titles=[
        f"{titles[m]} · layer {layer}" if m in GRADCAM else titles[m] for m in views]))


def explanation_captions(views: Mapping[str, SaliencyView], titles: Mapping[str, str]) -> None:
    """The colour key, the time per method and Integrated Gradients' completeness check, below the texts."""
    st.caption("**Colours:** vermillion = evidence *for* the explained class, blue = evidence *against* it "
               "(signed methods only; unsigned ones say how much a token matters, not which way). Intensity is "
               "relative to each method's largest score on this text, so compare orders across rows, not "
               "shades. Hover a word for its score.")
    st.caption("**Time per method** (first computation; repeats come from the cache): " + " · ".join(
        f"{titles[m]} {v.seconds:.2f} s" for m, v in views.items()))
    ig = views.get("integrated_gradients")
    if ig is not None and (line := completeness_caption(ig.result)):
        st.caption(line)


def show_games(res: FaithfulnessResult) -> None:
    """The game curves (accuracy or probability), the layer sweep with the best layers, and the AUC table."""
    metric = st.radio("Curves show", ["accuracy", "probability"], horizontal=True, key="bl.w.sal.g.metric",
                      format_func={"accuracy": f"accuracy (against {res.accuracy_against})",
                                   "probability": "probability of the predicted class"}.get)
    widgets.show_chart(faithfulness_chart(res, metric=metric))
    best = {m: res.best_layer(m) for m in GRADCAM if res.layers(m)}
    if best:
        left, right = st.columns([3, 2], gap="medium", vertical_alignment="center")
        widgets.show_chart(layer_sweep_chart(res), container=left)
        for m, li in best.items():
            right.metric(BEST_LAYER_TITLES[m], li, border=True,
                         help="The layer with the largest gap between revealing and hiding accuracy AUC "
                              f"on these {res.n:,} texts (highlighted in the table below).")
    column = {"method": st.column_config.TextColumn, "layer": st.column_config.TextColumn,
              "best layer": st.column_config.CheckboxColumn}
    st.dataframe(faithfulness_table(res), hide_index=True, height=min(40 + 35 * len(res.curves), 740),
                 column_config={k: column.get(k, st.column_config.NumberColumn)(title, help=h or None, width=w)
                                for k, (title, h, w) in TABLE_COLUMNS.items()})
    st.caption("**How to read it:** hiding AUC is the area under the hiding curve – *lower* is better (the "
               "top tokens carried the decision); revealing AUC – *higher* is better (the top tokens alone "
               "suffice). Gap = revealing − hiding AUC, one number for both games. A method no better "
               "than the random order (grey) tells nothing about the model. “(prob.)” columns use the "
               "probability of the class predicted on the intact text instead of accuracy.")
    st.caption(games_caption(res))


def show_class_tokens(ct: ClassTokens) -> None:
    """The top words per class, the mean pairwise overlap and the overlap matrix."""
    st.dataframe(class_tokens_frame(ct))
    left, right = st.columns([1, 3], gap="medium")
    overlap = "–" if ct.mean_overlap != ct.mean_overlap else f"{ct.mean_overlap:.1f} of {ct.top_k}"  # NaN: < 2 lists
    left.metric("Mean pairwise overlap", overlap, border=True,
                help="Words shared by the top-k lists of two classes, averaged over class pairs. Lower = more "
                     "class-specific explanations.")
    right.dataframe(overlap_frame(ct))
    right.caption("Overlap matrix: shared top-k words per pair of classes (diagonal: the list's length).")
    st.caption(class_tokens_caption(ct))


def class_tokens_section(model_ref: str, choice: DatasetChoice, titles: Mapping[str, str],
                         settings: Mapping[str, dict], head_ok: bool) -> None:
    """The class-representative tokens: method, sample size and k, the time it will take here, then the words."""
    tokens = ClassTokensParams.defaults()
    options = [m for m in titles if head_ok or m != "decoded_gradcam"]
    st.session_state.setdefault("bl.w.sal.ct.method", tokens["method"] if head_ok else "layer_gradcam")
    if st.session_state["bl.w.sal.ct.method"] not in options:
        st.session_state["bl.w.sal.ct.method"] = "layer_gradcam"
    for k, v in {"n": 200, "k": tokens["top_k"]}.items():
        st.session_state.setdefault(f"bl.w.sal.ct.{k}", v)
    k1, k2, k3 = st.columns([2, 1, 1], gap="medium")
    method = k1.selectbox("Method", options, key="bl.w.sal.ct.method", format_func=titles.get,
                          help="With the settings above (Grad-CAM at the slider's layer; Integrated Gradients with "
                               f"at most {FaithfulnessParams.defaults()['ig_steps']} steps).")
    n = int(k2.number_input("Texts", min_value=20, max_value=2000, step=50, key="bl.w.sal.ct.n"))
    top_k = int(k3.number_input("Top k words", min_value=3, max_value=30, step=1, key="bl.w.sal.ct.k"))
    own = capped(method, settings[method])
    cp = ClassTokensParams(method=method, top_k=top_k, method_params=as_assignments(own))
    with user_errors():
        est = cached.estimates.class_tokens(model_ref, choice, n, cp, own)
    if widgets.confirm_gate(("class tokens", model_ref, choice, n, cp),
                            f"Explains {n:,} texts with {titles[method]} ({get_method(method).cost} each), then "
                            f"aggregates the words per predicted class: **{est.span()}** here ({est.basis}).",
                            "Find class tokens", widget_key="bl.w.sal-go.ct"):
        with user_errors(stop=False):
            show_class_tokens(cached.class_tokens(model_ref, choice, n, cp, expected=est.seconds))
