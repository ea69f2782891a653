"""Instance: one text's Integrated-Gradients attribution, the token interactions behind it (integrated Hessians) and
how spread out the evidence is (attribution entropy); and, over a sample, whether that entropy flags the errors."""
import streamlit as st

from core.analyses.transformer.instance_view import EntropyParams, InstanceParams
from ui import cached, report_draft, state, widgets
from ui.errors import user_errors
from ui.views import instance as views

ENTROPY_N = (20, 2000)
LABELS = {"ig_steps": "IG steps", "steps": "Interaction path points", "max_tokens": "Tokens with interactions",
          "study_n": "Texts", "study_steps": "IG steps per text"}

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

est = None
if not inp.text.strip():
    st.error("The text is empty.", icon=":material/error:")
else:
    with user_errors():
        est = cached.estimates.instance(model_ref, inp.text, inp.pair, params)
if est is not None and widgets.confirm_gate(
        ("instance", model_ref, inp.text, inp.pair, inp.target, params.ig_steps, params.steps, params.max_tokens),
        f"Integrated Gradients ({params.ig_steps} steps), then the interactions of up to {params.max_tokens} tokens "
        f"at {params.steps} path points (second derivatives): **{est.span()}** here ({est.basis}).",
        "Explain this text", widget_key="bl.w.inst-go.one"):
    with user_errors():
        v = cached.instance(model_ref, inp.text, inp.pair, target=inp.target, params=params, weights=dict(est.parts))
    views.show_metrics(v)
    report_draft.add_button("instance", {"model": model_ref, "texts": [inp.text], "ig_steps": params.ig_steps,
                                         "steps": params.steps, "max_tokens": params.max_tokens, "study_n": 0},
                            page="Instance", view="one text", labels=LABELS,
                            key="instance.one", texts=[inp.text])
    views.show_view(v)

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
with user_errors():
    st_est = cached.estimates.entropy(model_ref, choice, n, study_params)
if widgets.confirm_gate(("entropy", model_ref, choice, n, study_params.steps),
                        f"Integrated Gradients ({study_params.steps} steps) for {n:,} texts: **{st_est.span()}** here "
                        f"({st_est.basis}); cached on disk afterwards.", "Run the entropy study",
                        widget_key="bl.w.inst-go.study"):
    with user_errors():
        stdy = cached.entropy(model_ref, choice, n, study_params, expected=st_est.seconds)
    views.show_study(stdy)
    report_draft.add_button("instance", {"model": model_ref, "dataset": choice.ref, "study_n": n,
                                         "study_steps": study_params.steps, "examples": 2},
                            page="Instance", view="entropy study", key="instance.study", labels=LABELS,
                            help="Store the entropy study (and the two texts with the most spread-out evidence, "
                                 "explained in depth) as an instance section of the report draft.")
    views.study_table(stdy, model_ref, choice)
