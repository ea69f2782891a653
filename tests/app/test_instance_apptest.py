"""The Instance page under Streamlit's AppTest, on the tweet demo classifier."""
from __future__ import annotations

from pathlib import Path

import pytest
from streamlit.testing.v1 import AppTest

from ui.state import DatasetChoice

ROOT = Path(__file__).resolve().parents[2]
APP = str(ROOT / "app.py")
PAGE = "pages/instance.py"
TIMEOUT = 600
MODEL = "demo:tweets-finetuned"
TWEETS = DatasetChoice(ref="bundled:tweets", n=200)

pytestmark = pytest.mark.app


def _page(*, model: str = MODEL, state: dict | None = None) -> AppTest:
    at = AppTest.from_file(APP, default_timeout=TIMEOUT)
    at.session_state["bl.model_ref"] = model
    at.session_state["bl.dataset_choice"] = TWEETS
    for k, v in {"bl.w.inst.steps": 8, "bl.w.inst.tokens": 6, "bl.w.inst.ig_steps": 20, "bl.w.inst.n": 24,
                 "bl.w.inst.study_steps": 5, **(state or {})}.items():
        at.session_state[k] = v
    at.switch_page(PAGE)
    at.run()
    assert not at.exception, at.exception
    return at


def _click(at: AppTest, label: str) -> None:
    next(b for b in at.button if b.label == label).click().run()
    assert not at.exception, at.exception


def test_one_text_and_the_entropy_study(demo_workspace):
    at = _page()
    assert not at.error, [e.value for e in at.error]
    at.text_area(key="bl.w.sal.text").input("worst airline ever, lost my bag and nobody cared").run()
    _click(at, "Explain this text")
    assert not at.error, [e.value for e in at.error]
    metrics = {m.label: m.value for m in at.metric}
    assert 0.0 <= float(metrics["Attribution entropy"]) <= 1.0
    assert metrics["Prediction"] in ("negative", "neutral", "positive")
    html = "".join(h.proto.body for h in at.get("html"))
    assert "bag" in html
    tables = [d.value for d in at.dataframe]
    pairs = next(t for t in tables if list(t.columns) == ["token", "with", "interaction"])
    assert len(pairs) == 8 and pairs["interaction"].abs().is_monotonic_decreasing  # the 8 strongest of 15 pairs
    rows = next(t for t in tables if list(t.columns) == ["token", "ig", "own", "sum"])  # IG, own effect, row sum
    assert len(rows) == 6
    assert any("interactions for the 6 of" in i.value for i in at.info)
    charts = at.get("arrow_vega_lite_chart") + at.get("vega_lite_chart")
    assert charts, "the interaction heatmap is drawn"

    _click(at, "Run the entropy study")
    assert not at.error, [e.value for e in at.error]
    metrics = {m.label: m.value for m in at.metric}
    auroc = metrics["AUROC: errors"]
    assert auroc == "–" or 0.0 <= float(auroc) <= 1.0
    table = next(d.value for d in at.dataframe if "entropy" in d.value.columns and "text" in d.value.columns)
    assert len(table) == 24 and table["entropy"].is_monotonic_decreasing


def test_empty_text_is_one_message(demo_workspace):
    at = _page()
    at.text_area(key="bl.w.sal.text").input("   ").run()
    assert [e.value for e in at.error] == ["The text is empty."]  # at once, without a button to click
    assert not any(b.label == "Explain this text" for b in at.button)


def test_bare_encoder_is_refused(demo_workspace):
    at = _page(model="bundled:minilm")
    assert not at.error
    assert any("bare encoder" in i.value for i in at.info)
