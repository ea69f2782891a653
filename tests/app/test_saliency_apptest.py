"""The Saliency page under Streamlit's AppTest (in-process, no browser), on the tweet demo classifier."""
from __future__ import annotations

import json
import re
from pathlib import Path

import pytest
from streamlit.testing.v1 import AppTest

from ui.state import DatasetChoice, FocusText

ROOT = Path(__file__).resolve().parents[2]
APP = str(ROOT / "app.py")
PAGE = "pages/saliency.py"
TIMEOUT = 600
MODEL = "demo:tweets-finetuned"
TWEETS = DatasetChoice(ref="bundled:tweets", n=200)
FAST = ["decoded_gradcam", "occlusion", "attention_rollout"]  # the default set without IG (50 steps), for speed

pytestmark = pytest.mark.app


def _page(demo_workspace, *, model: str = MODEL, choice: DatasetChoice = TWEETS, methods: list[str] | None = FAST,
          state: dict | None = None) -> AppTest:
    at = AppTest.from_file(APP, default_timeout=TIMEOUT)
    at.session_state["bl.model_ref"] = model
    at.session_state["bl.dataset_choice"] = choice
    if methods is not None:
        at.session_state["bl.w.sal.methods"] = methods
    for k, v in (state or {}).items():
        at.session_state[k] = v
    at.switch_page(PAGE)
    at.run()
    assert not at.exception, at.exception
    return at


def _html(at: AppTest) -> str:
    return "".join(h.proto.body for h in at.get("html"))


def _captions(at: AppTest) -> list[str]:
    return [c.value for c in at.caption]


def test_methods_side_by_side(demo_workspace):
    at = _page(demo_workspace)
    assert not at.error, [e.value for e in at.error]
    html = _html(at)
    assert "bl-sal-compare" in html and "Predicted <b>" in html
    for title in ("Decoded layer Grad-CAM · layer 4", "Occlusion", "Attention rollout"):
        assert title in html, title
    assert "background-color: rgba(" in html  # some tokens are highlighted
    assert any(c.startswith("**Colours:** vermillion") for c in _captions(at))
    assert any(c.startswith("**Time per method**") and "Occlusion" in c for c in _captions(at))
    slider = at.slider(key="bl.w.sal.layer")
    assert slider.value == 4 and slider.max == 6  # default layer: 2/3 of MiniLM's 6 layers
    assert at.text_area(key="bl.w.sal.text").value.strip()  # prefilled with an example
    assert any(re.match(r"Dataset row \d+ \(true label \w+\), sampled from", c) for c in _captions(at))
    assert any(b.label == "Play the games" for b in at.button)  # the games wait for a click


def test_default_methods_include_ig_with_completeness(demo_workspace):
    at = _page(demo_workspace, methods=None)
    assert not at.error, [e.value for e in at.error]
    assert at.multiselect(key="bl.w.sal.methods").value == ["decoded_gradcam", "integrated_gradients", "occlusion",
                                                             "attention_rollout"]
    assert "Integrated Gradients" in _html(at)
    assert any(c.startswith("**Integrated Gradients completeness:**") for c in _captions(at))


def test_layer_target_and_word_pieces(demo_workspace):
    at = _page(demo_workspace, methods=["decoded_gradcam"])
    at.slider(key="bl.w.sal.layer").set_value(2).run()
    assert "Decoded layer Grad-CAM · layer 2" in _html(at)
    at.selectbox(key="bl.w.sal.target").set_value("negative").run()
    assert not at.error, [e.value for e in at.error]
    assert "explaining <b>negative</b>" in _html(at) or "Predicted <b>negative</b>" in _html(at)
    at.text_area(key="bl.w.sal.text").input("Self-driving cars are unbelievably dangerous").run()
    at.radio(key="bl.w.sal.unit").set_value("word pieces").run()
    assert not at.exception and not at.error
    import re

    pieces = re.findall(r'<span class="bl-tok"[^>]*>([^<]*)</span>', _html(at))
    word = pieces[pieces.index("are") + 1:pieces.index("dangerous")]
    assert len(word) > 1 and "".join(word) == "unbelievably"  # one span per piece
    assert not any("##" in p for p in pieces)  # pieces show the text itself


def test_empty_text_is_one_error(demo_workspace):
    at = _page(demo_workspace)
    at.text_area(key="bl.w.sal.text").input("   ").run()
    assert not at.exception
    assert [e.value for e in at.error] == ["Enter a text to explain (or load an example from the dataset)."]
    assert "bl-sal-compare" not in _html(at)


def test_long_text_is_a_note_not_an_error(demo_workspace):
    at = _page(demo_workspace, methods=["attention_rollout"])
    at.text_area(key="bl.w.sal.text").input("the car drove itself very well " * 40).run()
    assert not at.exception and not at.error, [e.value for e in at.error]
    assert any("longer than the model's maximum" in i.value for i in at.info)
    html = _html(at)
    assert "[… truncated]" in html
    assert 3 < html.count("drove") < 20  # the text is cut where the explained part ends (48 tokens, not 240 words)


def test_pair_dataset_has_a_second_text(demo_workspace, tmp_path):
    f = tmp_path / "pairs.csv"
    f.write_text("premise,hypothesis,label\n"
                 "A self-driving car stopped at the light.,A car is waiting.,entailment\n"
                 "The robot taxi crashed into a wall.,The taxi drove safely.,contradiction\n", encoding="utf-8")
    choice = DatasetChoice(ref=str(f), text_column="premise", text_pair_column="hypothesis", label_column="label",
                           n=None)
    at = _page(demo_workspace, choice=choice, methods=["occlusion"])
    assert not at.error, [e.value for e in at.error]
    assert at.text_area(key="bl.w.sal.pair").value == "A car is waiting."
    assert "first text: " in _html(at) and "second text: " in _html(at)
    at.text_area(key="bl.w.sal.pair").input("").run()
    assert [e.value for e in at.error] == ["Enter the second text (this dataset holds text pairs)."]


def test_focus_text_from_projection_is_prefilled(demo_workspace):
    focus = FocusText(text="Google's driverless car just passed me on the highway, scary!", model_ref=MODEL,
                      dataset=TWEETS, index=7, label="negative", prediction="negative", confidence=0.8,
                      source="Projection, λ = 0.8")
    at = _page(demo_workspace, state={"bl.focus_text": focus})
    assert at.text_area(key="bl.w.sal.text").value == focus.text
    assert any("focus text chosen on the Projection, λ = 0.8" in c for c in _captions(at))
    assert "driverless" in _html(at)


def test_example_picker_loads_a_text(demo_workspace):
    at = _page(demo_workspace, methods=["attention_rollout"])
    before = at.text_area(key="bl.w.sal.text").value
    first = [c for c in _captions(at) if c.startswith("Dataset row ")]
    at.selectbox(key="bl.w.sal.example").set_value(3).run()
    after = at.text_area(key="bl.w.sal.text").value
    assert after and after != before
    fourth = [c for c in _captions(at) if c.startswith("Dataset row ")]
    assert first and fourth and first[0].split(" (")[0] != fourth[0].split(" (")[0]  # another text, its own row


def test_games_produce_the_auc_table(demo_workspace):
    at = _page(demo_workspace, methods=["attention_rollout"],
               state={"bl.w.sal.g.n": 10, "bl.w.sal.g.methods": ["decoded_gradcam", "occlusion"]})
    next(b for b in at.button if b.label == "Play the games").click().run()
    assert not at.exception and not at.error, [e.value for e in at.error]
    table = at.dataframe[0].value
    orders = set(zip(table["method"], table["layer"]))
    decoded = {("Decoded layer Grad-CAM", str(i)) for i in range(7)}
    assert orders == decoded | {("Occlusion", "–"), ("random order", "–")}
    assert table["best layer"].sum() == 1
    assert ((table["hiding AUC"] >= 0) & (table["revealing AUC"] <= 1)).all()
    charts = [json.loads(c.proto.spec) for c in at.get("vega_lite_chart")]
    assert len(charts) == 2  # game curves and the layer sweep
    assert any(c.startswith("**How to read it:**") for c in _captions(at))
    how = next(c for c in _captions(at) if c.startswith("**How it was computed:** 10 texts"))
    assert "held-out test examples" in how and "mask" in how
    # the probability view redraws from the cached result
    at.radio(key="bl.w.sal.g.metric").set_value("probability").run()
    assert not at.exception and not at.error
    assert "probability" in json.dumps(json.loads(at.get("vega_lite_chart")[0].proto.spec))


def test_class_tokens(demo_workspace):
    at = _page(demo_workspace, methods=["attention_rollout"],
               state={"bl.w.sal.ct.n": 30, "bl.w.sal.ct.k": 5, "bl.w.sal.ct.method": "layer_gradcam"})
    next(b for b in at.button if b.label == "Find class tokens").click().run()
    assert not at.exception and not at.error, [e.value for e in at.error]
    words = at.dataframe[0].value
    assert len(words) == 5 and all(any(n in c for n in ("negative", "neutral", "positive")) for c in words.columns)
    assert [m.label for m in at.metric] == ["Mean pairwise overlap"]
    assert at.dataframe[1].value.shape == (3, 3)


def test_bare_encoder_shows_info_not_error(demo_workspace):
    at = _page(demo_workspace, model="bundled:minilm")
    assert not at.error, [e.value for e in at.error]
    assert any("bare encoder" in i.value and "classification head" in i.value for i in at.info)
    assert not _html(at)


def _headless_model(tiny_model_dir, folder: Path, seed: int) -> tuple[Path, Path]:
    """A tiny BERT classifier like ``tiny_model_dir("bert")`` but with its own random weights (a fitted decoding
    head is keyed by the encoder's weights, and one fitted for another copy would be reused) and 160 positions
    (``core.mlm`` fits on up to 128 tokens), and the path where a head fitted for it would be stored (emptied)."""
    import shutil

    import torch
    from transformers import BertConfig, BertForSequenceClassification

    from core.models.storage import fitted_head_path
    from core.models.refs import load_model

    shutil.copytree(tiny_model_dir("bert"), folder)
    cfg = BertConfig.from_pretrained(folder)
    cfg.max_position_embeddings = 160
    torch.manual_seed(seed)
    BertForSequenceClassification(cfg).save_pretrained(folder)
    head = fitted_head_path(load_model(str(folder)))
    head.unlink(missing_ok=True)
    return folder, head


def test_decoded_without_mlm_head_offers_to_fit_one(demo_workspace, tiny_model_dir, tmp_path):
    folder, _ = _headless_model(tiny_model_dir, tmp_path / "model", 1)
    at = _page(demo_workspace, model=str(folder), methods=["decoded_gradcam", "attention_rollout"],
               state={"bl.w.sal.g.methods": ["decoded_gradcam", "occlusion"]})
    assert not at.error, [e.value for e in at.error]
    infos = [i.value for i in at.info if "masked-LM head" in i.value and "has none" in i.value]
    assert len(infos) == 1, infos  # once, though the games ask for decoded Grad-CAM too
    assert [b.label for b in at.button].count("Fit a decoding head") == 1
    html = _html(at)
    assert "Attention rollout" in html and "Decoded layer Grad-CAM" not in html
    assert at.selectbox(key="bl.w.sal.ct.method").value == "layer_gradcam"
    assert "decoded_gradcam" not in at.selectbox(key="bl.w.sal.ct.method").options


def test_fitting_a_decoding_head_enables_decoded_gradcam(demo_workspace, tiny_model_dir, tmp_path, monkeypatch):
    folder, head = _headless_model(tiny_model_dir, tmp_path / "model", 2)
    monkeypatch.setattr("ui.cached.saliency.MLM_FIT_SECONDS", 2)
    try:
        at = _page(demo_workspace, model=str(folder), methods=["decoded_gradcam"])
        assert "bl-sal-compare" not in _html(at)
        next(b for b in at.button if b.label == "Fit a decoding head").click().run()
        assert not at.exception and not at.error, [e.value for e in at.error]
        assert any(s.value.startswith("Decoding head fitted in") for s in at.success)
        assert "Decoded layer Grad-CAM · layer 1" in _html(at)
        assert not any(b.label == "Fit a decoding head" for b in at.button)
    finally:
        head.unlink(missing_ok=True)
        head.with_suffix(".json").unlink(missing_ok=True)


def test_settings_survive_a_page_switch(demo_workspace):
    at = _page(demo_workspace, methods=["attention_rollout"])
    at.slider(key="bl.w.sal.layer").set_value(2)
    at.text_area(key="bl.w.sal.text").input("My own text about robot taxis").run()
    at.switch_page("pages/workspace.py").run()
    assert not at.exception
    at.switch_page(PAGE).run()
    assert not at.exception and not at.error
    assert at.slider(key="bl.w.sal.layer").value == 2
    assert at.text_area(key="bl.w.sal.text").value == "My own text about robot taxis"
    assert at.multiselect(key="bl.w.sal.methods").value == ["attention_rollout"]


def test_a_base_checkpoints_head_decodes_grad_cam(demo_workspace, tiny_model_dir, tmp_path):
    """The "Decoding head" field: the base checkpoint's masked-LM head replaces the missing one (no fit offered), and
    a checkpoint that is not a base of the model is one error naming it."""
    folder, _ = _headless_model(tiny_model_dir, tmp_path / "model", 3)
    base = str(tiny_model_dir("bert-mlm"))
    at = _page(demo_workspace, model=str(folder), methods=["decoded_gradcam"], state={"bl.w.sal.mlm": base})
    assert not at.error, [e.value for e in at.error]
    assert "Decoded layer Grad-CAM · layer 1" in _html(at)
    assert not any(b.label == "Fit a decoding head" for b in at.button)
    assert any(c.startswith("Decoding head: the checkpoint's masked-LM head of") and base in c for c in _captions(at))
    # the finding carries the head into the draft: the report's `mlm:`
    from ui import report_draft as rd

    at.button(key="bl.report-add.saliency.one").click().run()
    assert not at.exception, at.exception
    d = at.session_state[rd.DRAFT_KEY]
    assert d.mlm == base and rd.spec_dict(d)["mlm"] == base
    at.text_input(key="bl.w.sal.mlm").input(str(tiny_model_dir("roberta"))).run()
    errors = [e.value for e in at.error]
    assert len(errors) == 1 and "holds no trained masked-LM head" in errors[0], errors
    assert str(tiny_model_dir("roberta")) in errors[0]
