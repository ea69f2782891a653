"""Instance: one text's Integrated-Gradients attribution, the token interactions behind it (integrated Hessians) and
how spread out the evidence is (attribution entropy); and, over a sample, whether that entropy flags the errors."""
import numpy as np
import pandas as pd
import streamlit as st

from core.analyses.saliency import merge_words
from core.analyses.transformer.instance_view import EntropyParams, InstanceParams
from figures.instance import entropy_study_chart, interaction_chart
from figures.saliency import saliency_html
from ui import cached, report_draft, state, widgets
from ui.errors import user_errors

ENTROPY_N = (20, 2000)

st.title("Instance")
st.caption("Why did the classifier decide this for this one text? **Integrated Gradients** credit each token; "
           "**integrated Hessians** (Janizek et al., 2021) split that credit into pairs of tokens that act together; "
           "the **attribution entropy** says whether the evidence sits on a few tokens (0) or is spread thin (1). "
           "Below, a sample shows whether spread-out evidence goes with the model's mistakes.")

widgets.keep_widgets("bl.w.sal.")
widgets.keep_widgets("bl.w.inst.")
model_ref, choice, model = widgets.classifier_selection("The instance view explains a classifier's decision, so it "
                                                        "needs one.")
with user_errors():
    examples = cached.example_texts(model_ref, choice)

# ------------------------------------------------------------------------------ one text
st.subheader("One text")
focus = state.focus_text()
inp = widgets.saliency_text_input(model, examples, focus if focus is not None and focus.matches(model_ref, choice)
                                  else None)
d = InstanceParams()
for key, value in (("ig_steps", d.ig_steps), ("steps", d.steps), ("tokens", d.max_tokens)):
    st.session_state.setdefault(f"bl.w.inst.{key}", value)
c1, c2, c3 = st.columns(3, gap="medium")
params = InstanceParams(
    ig_steps=int(c1.number_input("IG steps", 5, 500, step=5, key="bl.w.inst.ig_steps",
                                 help="Gauss–Legendre points of Integrated Gradients (pad-token baseline).")),
    steps=int(c2.number_input("Interaction path points", 8, 256, step=8, key="bl.w.inst.steps",
                              help="Points along the path where integrated Hessians take second derivatives, placed "
                                   "where the attribution changes; each costs one batched double backward pass. The "
                                   "rows of the interaction matrix must add up to the IG attributions — the check "
                                   "below says how closely they do.")),
    max_tokens=int(c3.slider("Tokens with interactions", 2, 40, key="bl.w.inst.tokens",
                             help="The tokens with the largest |attribution| get a row; cost grows with this "
                                  "number.")))

if widgets.confirm_gate(("instance", model_ref, inp.text, inp.pair, inp.target, params.ig_steps, params.steps,
                         params.max_tokens),
                        f"Integrated Gradients take seconds; the interactions of {params.max_tokens} tokens take "
                        f"{params.steps} batched second-derivative passes (tens of seconds for a tweet on a 2-core "
                        "CPU, minutes for a long article).", "Explain this text", widget_key="bl.w.inst-go.one"):
    with user_errors():
        v = cached.instance(model_ref, inp.text, inp.pair, target=inp.target, params=params)
    a = v.attribution
    m = st.columns(4)
    m[0].metric("Prediction", a.predicted_label, f"{a.probability:.1%}", delta_color="off", border=True)
    m[1].metric("Attribution entropy", f"{v.entropy:.3f}", border=True,
                help="Normalised Shannon entropy of |attribution| over the tokens: 0 = all on one token, 1 = even.")
    m[2].metric("Interaction rows vs IG", f"{v.completeness_error:.1%}", border=True,
                help="Largest gap between a token's row sum of interactions and its IG attribution, as a share of "
                     "the largest attribution (theory: 0). More path points make it smaller.")
    m[3].metric("Time", f"{sum(v.seconds.values()):.1f} s", border=True)
    report_draft.add_button("instance", {"texts": [inp.text], "ig_steps": params.ig_steps, "steps": params.steps,
                                         "max_tokens": params.max_tokens, "study_n": 0}, page="Instance",
                            key="instance.one", texts=[inp.text])
    for note in v.notes:
        st.info(note, icon=":material/info:")
    st.html(saliency_html(a, words=True))
    st.caption(f"Integrated Gradients for '{a.target_label}' ({v.ig_steps} steps, pad baseline; completeness gap "
               f"{a.extras.get('relative_delta', float('nan')):.1%} of the logit change). Red supports the class, "
               "blue speaks against it.")
    left, right = st.columns([3, 2], gap="large")
    with left:
        widgets.show_chart(interaction_chart(v))
        st.caption("Off-diagonal cells only; each pair is (Γ_ij + Γ_ji)/2. The diagonal — a token's own effect — is in "
                   "the table on the right. Word pieces, numbered by position.")
    with right:
        st.dataframe(pd.DataFrame({"token": v.row_tokens, "IG attribution": a.scores[v.rows],
                                   "own effect (diagonal)": np.diag(v.interactions), "row sum": v.row_sums}),
                     hide_index=True, width="stretch",
                     column_config={c: st.column_config.NumberColumn(format="%+.4f")
                                    for c in ("IG attribution", "own effect (diagonal)", "row sum")})
        st.dataframe(pd.DataFrame(v.top_pairs(8), columns=["token", "with", "interaction"]), hide_index=True,
                     width="stretch", column_config={"interaction": st.column_config.NumberColumn(format="%+.4f")})
    words = merge_words(a)
    with st.expander("Attribution per word"):
        st.dataframe(pd.DataFrame({"word": words.words, "attribution": words.scores}), hide_index=True,
                     width="stretch")

# ------------------------------------------------------------------------------ dataset level
st.divider()
st.subheader("Is the evidence more spread out when the model errs?")
st.caption("Attribution entropy of every text in a sample, then the AUROC of entropy for picking out the "
           "misclassified and the low-confidence texts (0.5 = no signal). Normalised entropy still grows with text "
           "length, so the AUROC of length alone is shown as the control.")
st.session_state.setdefault("bl.w.inst.n", 200)
st.session_state.setdefault("bl.w.inst.study_steps", EntropyParams().steps)
d1, d2 = st.columns(2, gap="medium")
n = int(d1.number_input("Texts", ENTROPY_N[0], ENTROPY_N[1], step=50, key="bl.w.inst.n",
                        help="Drawn by the Workspace seed; from the held-out test split when the model was trained "
                             "on this dataset."))
study_params = EntropyParams(steps=int(d2.number_input("IG steps per text", 5, 200, step=5,
                                                       key="bl.w.inst.study_steps")))
if widgets.confirm_gate(("entropy", model_ref, choice, n, study_params.steps),
                        f"Integrated Gradients for {n:,} texts (about 0.5–1 s per tweet on a 2-core CPU; cached on "
                        "disk afterwards).", "Run the entropy study", widget_key="bl.w.inst-go.study"):
    with user_errors():
        stdy = cached.entropy(model_ref, choice, n, study_params)
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
    report_draft.add_button("instance", {"study_n": n, "study_steps": study_params.steps, "examples": 2},
                            page="Instance (entropy study)", key="instance.study",
                            help="Store the entropy study (and the two texts with the most spread-out evidence, "
                                 "explained in depth) as an instance section of the report draft.")
    order = np.argsort(-stdy.entropy, kind="stable")
    pred, true, texts = [stdy.label_names[p] for p in stdy.predicted], stdy.true_names(), stdy.sample.texts
    table = pd.DataFrame({"entropy": stdy.entropy[order], "predicted": np.array(pred)[order],
                          "true": np.array(true)[order], "confidence": stdy.confidence[order],
                          "text": [widgets.one_line(texts[i], 140) for i in order]})
    st.markdown("**Texts with the most spread-out evidence** (select one to explain it above)")
    sel = st.dataframe(table, hide_index=True, width="stretch", height=260, on_select="rerun",
                       selection_mode="single-row", key="bl.w.inst-table",
                       column_config={"entropy": st.column_config.NumberColumn(format="%.3f"),
                                      "confidence": st.column_config.ProgressColumn(min_value=0.0, max_value=1.0,
                                                                                    format="%.2f")})
    rows = sel.selection.rows if sel is not None else []
    if rows:
        i = int(order[rows[0]])
        pairs = stdy.sample.text_pairs
        chosen = state.FocusText(texts[i], model_ref, choice, None if pairs is None else pairs[i],
                                 int(stdy.sample.indices[i]), true[i] or None, pred[i], float(stdy.confidence[i]),
                                 "Instance page (entropy study)")
        if state.focus_text() != chosen:  # the selection stays on reruns: act on a new one only
            state.set_focus_text(chosen)
            st.rerun()
