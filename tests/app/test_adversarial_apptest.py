"""The Adversarial page under Streamlit's AppTest: a character attack on 8 held-out tweets (about a minute)."""
from __future__ import annotations

import json
from pathlib import Path

import pytest
from streamlit.testing.v1 import AppTest

from ui.state import DatasetChoice, FocusText

ROOT = Path(__file__).resolve().parents[2]
APP = str(ROOT / "app.py")
PAGE = "pages/adversarial.py"
TIMEOUT = 600  # the first run attacks the texts (every candidate edit is a forward pass)
N = 10
MODEL = "demo:tweets-finetuned"
TWEETS = DatasetChoice(ref="bundled:tweets", n=500)

pytestmark = pytest.mark.app


def _errors(at: AppTest) -> list[str]:
    """The page's errors, less the Add-to-report popover's refusal of a finding of fewer than the report section's
    minimum of texts (the page attacks 10 for speed; tests/app/test_findings_apptest.py checks that refusal)."""
    return [e.value for e in at.error if "the report's adversarial texts section needs" not in e.value]


def _page(demo_workspace, *, model: str = MODEL, n: int = N, attack: str = "char", run: bool = True) -> AppTest:
    at = AppTest.from_file(APP, default_timeout=TIMEOUT)
    at.session_state["bl.model_ref"] = model
    at.session_state["bl.dataset_choice"] = TWEETS
    at.session_state["bl.w.adv.n"] = n
    at.session_state["bl.w.adv.attack"] = attack
    at.switch_page(PAGE)
    at.run()
    assert not at.exception, at.exception
    if run and not _errors(at):
        next(b for b in at.button if b.label == "Run the attack").click().run()
        assert not at.exception, at.exception
    return at


def _expected(n: int = N):
    """The same attack straight from core (a disk-cache read once the page has computed it)."""
    from core.analyses.adversarial.attacks import AttackParams, run_attack
    from core.data.refs import load_dataset
    from core.models.heldout import heldout_sample
    from core.models.refs import load_model

    model = load_model(MODEL)
    res = run_attack(model, heldout_sample(model, load_dataset("bundled:tweets"), n, seed=0),
                     AttackParams(attack="char", importance="occlusion", max_change=0.4, min_similarity=0.7, seed=0))
    assert res.cache_hit  # the page stored it
    return res


def test_char_attack_summary_detection_and_table(demo_workspace):
    at = _page(demo_workspace)
    assert not _errors(at), _errors(at)
    res = _expected()
    assert res.successes, f"the character attack flipped none of the {N} tweets"
    metrics = {m.label: m.value for m in at.metric}
    assert metrics["Success rate"] == f"{res.success_rate:.0%}"
    assert metrics["Words changed per success"] == f"{res.mean_words_changed:.1f}"
    assert 1 <= float(metrics["Words changed per success"]) <= 0.4 * max(o.n_words for o in res.outcomes)
    assert metrics["Queries per success"] == f"{res.queries_per_success:,.0f}"
    assert float(metrics["Texts per minute"]) > 0
    how = next(c.value for c in at.caption if c.value.startswith("**How it was computed:**"))
    assert f"char attack on {N} texts sampled from the" in how and "held-out test examples" in how, how
    # detection: the joint map and the detector scores
    charts = [json.loads(c.proto.spec) for c in at.get("vega_lite_chart")]
    assert len(charts) == 2
    assert f"{N} clean and {len(res.successes)} adversarial texts" in json.dumps(charts[0]["title"])
    assert "AUROC" in json.dumps(charts[1])
    assert any(m.value.startswith("**Reading:** the best detector here is") for m in at.markdown)
    scores = at.dataframe[0].value
    assert len(scores) == 3 and scores["auroc"].between(0, 1).all() and scores["p_at_k"].between(0, 1).all()
    # the diffs, readable: removed and inserted words marked
    html = "".join(h.proto.body for h in at.get("html"))
    assert "bl-adv-diffs" in html and "bl-diff-ins" in html and "bl-diff-del" in html
    # one table row per attacked text, edits marked in the diff column
    table = at.dataframe[1].value
    attacked = [o for o in res.outcomes if o.status != "skipped"]
    assert len(table) == len(attacked)
    ok = table[table["status"] == "success"]
    assert len(ok) == len(res.successes) and all("{+" in d and "[-" in d for d in ok["diff"])
    assert (ok["prediction_before"] != ok["prediction_after"]).all()
    assert ok["entropy_adversarial"].between(0, 1).all()
    assert any(d.label == "Download all rows (CSV)" for d in at.get("download_button"))

    # the first flipped text goes to the Saliency page as the focus text
    first = at.selectbox(key="bl.adv.focus_row").value
    next(b for b in at.button if b.label == "Explain in Saliency").click().run()
    assert not at.exception, at.exception
    focus = at.session_state["bl.focus_text"]
    outcome = next(o for o in res.outcomes if o.index == first)
    assert isinstance(focus, FocusText) and focus.text == outcome.adversarial != outcome.text
    assert focus.model_ref == MODEL and focus.prediction == res.label_names[outcome.adversarial_prediction]
    assert any(t.value == "Saliency" for t in at.title)
    assert at.text_area(key="bl.w.sal.text").value == outcome.adversarial


def test_word_attack_on_too_few_texts_for_detection_is_info_not_error(demo_workspace):
    at = _page(demo_workspace, n=4, attack="word")  # the demo classifiers carry a masked-LM head
    assert not _errors(at), _errors(at)
    how = next(c.value for c in at.caption if c.value.startswith("**How it was computed:**"))
    assert how.startswith("**How it was computed:** word attack on 4 texts"), how
    assert any("Detection needs at least 12" in i.value for i in at.info), [i.value for i in at.info]
    assert "Success rate" in {m.label for m in at.metric}
    assert len(at.get("vega_lite_chart")) == 0


def test_word_attack_needs_a_masked_lm_head(demo_workspace, tiny_model_dir, tmp_path):
    import shutil

    import torch
    from transformers import BertConfig, BertForSequenceClassification

    from core.models.storage import fitted_head_path
    from core.models.refs import load_model

    folder = tmp_path / "headless"
    shutil.copytree(tiny_model_dir("bert"), folder)
    torch.manual_seed(11)  # own weights: no decoding head was fitted for this encoder
    BertForSequenceClassification(BertConfig.from_pretrained(folder)).save_pretrained(folder)
    fitted_head_path(load_model(str(folder))).unlink(missing_ok=True)
    at = _page(demo_workspace, model=str(folder), attack="word")
    errors = _errors(at)
    assert len(errors) == 1 and "has none" in errors[0] and "character attack" in errors[0], errors
    assert not any(b.label == "Run the attack" for b in at.button) and not at.metric
    # the character attack needs no head: the offer to run it appears
    at.radio(key="bl.w.adv.attack").set_value("char").run()
    assert not at.exception and not _errors(at), _errors(at)
    assert any(b.label == "Run the attack" for b in at.button)


def test_bare_encoder_shows_info_not_error(demo_workspace):
    at = _page(demo_workspace, model="bundled:minilm", run=False)
    assert not _errors(at), _errors(at)
    assert any("bare encoder" in i.value for i in at.info)
    assert not any(b.label == "Run the attack" for b in at.button)
