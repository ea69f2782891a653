"""Adversarial: small edits that flip the classifier, and whether the DeepView map gives the edited texts away."""
import streamlit as st

from core.analyses.adversarial.attacks import ATTACK_KINDS, AttackError, AttackParams
from core.analyses.saliency import METHODS
from ui import cached, report_draft, widgets
from ui.errors import user_errors, user_message
from ui.views import adversarial as views

N_DEFAULT = 40

st.title("Adversarial")
st.caption("How easily do small edits flip the classifier, and does the DeepView map give the edited texts away? "
           "The attack edits the words the decision rests on most — replacing them with words the masked-LM head "
           "proposes, or swapping, deleting or disguising letters — until the prediction flips, within a budget of "
           "changed words and while the text keeps its meaning (sentence-embedding similarity). The flipped texts "
           "are then projected together with the clean ones: suspicion scores that rank them first would detect "
           "them.")

widgets.keep_widgets("bl.w.adv.")
model_ref, choice, model = widgets.classifier_selection(
    "An attack tries to flip a classifier's prediction, so it needs one.")
titles = METHODS.titles()
DEFAULTS = AttackParams()
for key in ("attack", "importance", "max_change", "min_similarity"):
    st.session_state.setdefault(f"bl.w.adv.{key}", getattr(DEFAULTS, key))
st.session_state.setdefault("bl.w.adv.n", N_DEFAULT)
if st.session_state["bl.w.adv.importance"] not in titles:
    st.session_state["bl.w.adv.importance"] = DEFAULTS.importance

c1, c2, c3 = st.columns([1, 2, 2], gap="medium")
n = int(c1.number_input("Texts", min_value=4, max_value=1000, step=10, key="bl.w.adv.n",
                        help="Drawn by the Workspace seed, from the held-out test split when the model was trained "
                             "on this dataset. Texts the model already gets wrong are not attacked."))
kind = c2.radio("Attack", ATTACK_KINDS.names(), key="bl.w.adv.attack", format_func=ATTACK_KINDS.title,
                horizontal=True, help="word: the masked-LM head reads the sentence once and proposes 30 substitutes "
                "per word. char: swap two inner letters, delete one, or replace a letter by a look-alike from another "
                "script (Latin a → Cyrillic а).")
importance = c3.selectbox("Word order from", list(titles), key="bl.w.adv.importance", format_func=titles.get,
                          help="The saliency method that decides which words are attacked first (occlusion, as in "
                               "BERT-Attack: the drop in the class's probability when a word is masked).")
c4, c5 = st.columns(2, gap="large")
max_change = c4.slider("Largest share of words changed", 0.05, 1.0, step=0.05, key="bl.w.adv.max_change",
                       help="The attack gives up on a text once this share of its words has been edited.")
min_sim = c5.slider("Least similarity to the original", 0.0, 0.95, step=0.05, key="bl.w.adv.min_similarity",
                    help="Cosine similarity of the all-MiniLM-L6-v2 sentence embeddings of the original and the "
                         "edited text; edits below it are refused. 0 turns the check off.")
params = AttackParams(attack=kind, importance=importance, max_change=round(float(max_change), 2),
                      min_similarity=round(float(min_sim), 2), seed=choice.seed)

with user_errors():
    head_ok = kind != "word" or cached.mlm_head_ready(model_ref)
if not head_ok:
    st.error(f"The word attack asks a masked-LM head for substitute words, and `{model.ref}` has none: choose the "
             "character attack, or fit a decoding head for this encoder on the Saliency page (about "
             f"{cached.MLM_FIT_SECONDS} s, kept for next time).", icon=":material/error:")
    st.page_link("pages/saliency.py", label="Fit a decoding head on the Saliency page", icon=":material/highlight:")
    st.stop()

with user_errors():
    quick, slow = cached.estimates.attack(model_ref, choice, n, params)
message = (f"Attacks {n:,} text{'s' if n != 1 else ''}: every candidate edit is one pass through the model, and a text "
           f"costs more the longer it resists. Here: **{quick.span()}** if the first edited word flips every text, "
           f"**{slow.span()}** if no text flips before the limit of changed words ({slow.basis}). Then the clean and "
           "adversarial texts are projected together (seconds). Results are cached, so a repeat is instant.")
if not widgets.confirm_gate(("attack", model_ref, choice, n, params), message, "Run the attack",
                            widget_key="bl.w.adv-go.run"):
    st.stop()

with user_errors():
    res = cached.attack(model_ref, choice, n, params, expected=slow.seconds)
report_draft.add_button("adversarial", {"model": model_ref, "dataset": choice.ref, "n": n, "attack": params.attack,
                                        "importance": params.importance, "max_change": params.max_change,
                                        "min_similarity": params.min_similarity},
                        page="Adversarial", key="adversarial.attack")

views.show_summary(res)
st.subheader("Can the map spot them?")
det = None
with user_errors(stop=False):
    try:
        det = cached.detection(model_ref, choice, n, params)
    except AttackError as e:  # too few adversarial texts: a result, not a mistake
        st.info(f"{user_message(e)} Try more texts, a larger share of changed words or a lower similarity floor.",
                icon=":material/info:")
if det is not None:
    views.show_detection(det)
rows = views.show_texts(res, det, model)
views.explain_in_saliency(res, rows, model_ref, choice)
