"""The Training page under Streamlit's AppTest, on a tiny mean-pooled random BERT and the user's CSV files: the plan
(which texts go where), a run with its live chart, the result, the model opened on every page, "Add to report"."""
from __future__ import annotations

from pathlib import Path

import pytest
from streamlit.testing.v1 import AppTest

from tests.unit.test_training_data import mean_pooled, news_rows, write_csv

ROOT = Path(__file__).resolve().parents[2]
APP = str(ROOT / "app.py")
PAGE = "pages/training.py"
K = "bl.w.train."

pytestmark = pytest.mark.app


@pytest.fixture
def user(tiny_model_dir, tmp_path, monkeypatch):
    monkeypatch.setenv("BACKBONE_LENS_CACHE", str(tmp_path / "cache"))
    return {"base": mean_pooled(tiny_model_dir("bert-mlm"), tmp_path / "tiny-mean"),
            "train": write_csv(tmp_path / "train.csv", news_rows(500, 0)),
            "test": write_csv(tmp_path / "test.csv", news_rows(120, 2))}


def _page(user, **state) -> AppTest:
    at = AppTest.from_file(APP, default_timeout=300)
    values = {"base": "Local folder", "folder": str(user["base"]), "train": str(user["train"]),
              "test": str(user["test"]), "names": "apple,train,piano,goal", "name": "news", "budget": 60, **state}
    for k, v in values.items():
        at.session_state[K + k] = v
    at.switch_page(PAGE)
    at.run()
    assert not at.exception, at.exception
    return at


def test_train_on_own_files_and_open_everywhere(user):
    at = _page(user, setting="both")
    assert not at.error, [e.value for e in at.error]
    plan = at.dataframe[0].value
    assert list(plan["Split"]) == ["train", "validation", "test"]
    assert plan["Texts"][2] == "120 texts of test.csv (the whole file)" and "90% of the file" in plan["Texts"][0]
    assert list(plan.columns[-4:]) == ["apple", "train", "piano", "goal"] and plan["goal"].sum() > 0
    assert any("1-based" in c.value for c in at.caption)
    next(b for b in at.button if b.label == "Train").click().run()
    assert not at.exception, at.exception
    assert not at.error, [e.value for e in at.error]
    result = next(d.value for d in at.dataframe if "Held-out accuracy" in d.value.columns)
    assert list(result["Model"]) == ["user:news-pretrained", "user:news-finetuned"]
    assert result["Held-out accuracy"].between(0.5, 1.0).all(), result  # the topic word is learnt
    assert (result["Optimiser steps"] > 0).all() and (result["Seconds"] <= 60 + 5).all()
    assert list(result["Held-out texts"]) == ["120 of 120 (the test file)"] * 2
    assert at.get("vega_lite_chart") or at.get("arrow_vega_lite_chart")  # the live chart
    assert any(c.value.startswith("Threads: ") and "thread" in c.value for c in at.caption)
    # the model is the selection of every page, its test file the Workspace dataset
    folder = at.session_state["bl.model_ref"]
    assert folder.endswith("models/news-finetuned") and Path(folder, "backbone_lens.json").exists()
    choice = at.session_state["bl.dataset_choice"]
    assert choice.ref == str(user["test"]) and choice.label_names == ("apple", "train", "piano", "goal")
    assert any("user:news-finetuned" in s.value for s in at.success)
    where = next(d.value for d in at.dataframe if "split" in d.value.columns)
    assert set(where["split"]) == {"train", "validation", "test"} and (where["split"] == "test").sum() == 120
    # "Add to report": an overview section of this model
    next(b for b in at.button if b.label == "Add").click().run()
    assert not at.exception, at.exception
    draft = at.session_state["bl.report.draft"]
    assert [f.kind for f in draft.findings] == ["overview"] and draft.model == folder


def test_bad_input_is_one_message(user):
    at = _page(user, map="1=a,2=b,3=c,4=d")
    assert [e.value for e in at.error] == ["Give either label names or a label map, not both (the map names every "
                                           "value)."]
    at = _page(user, train=str(user["train"]) + ".missing")
    errors = [e.value for e in at.error]
    assert len(errors) == 1 and "not found" in errors[0]
    at = _page(user, name="no spaces please")
    assert len(at.error) == 1 and "Model name" in at.error[0].value
