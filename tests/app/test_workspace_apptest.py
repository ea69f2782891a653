"""The Workspace page under Streamlit's AppTest (in-process, no browser)."""
from __future__ import annotations

import re
from pathlib import Path

import pytest
from streamlit.testing.v1 import AppTest

ROOT = Path(__file__).resolve().parents[2]
APP = str(ROOT / "app.py")
TIMEOUT = 600  # seconds per run: the first evaluation embeds texts on a slow CPU

pytestmark = pytest.mark.app


def _pct(value: str) -> float:
    m = re.fullmatch(r"\s*([0-9.]+)\s*%\s*", value)
    assert m, f"not a percentage: {value!r}"
    return float(m.group(1)) / 100


@pytest.fixture
def app(demo_workspace) -> AppTest:
    at = AppTest.from_file(APP, default_timeout=TIMEOUT)
    at.session_state["bl.dataset_choice"] = __import__("ui.state", fromlist=["DatasetChoice"]).DatasetChoice(n=200)
    at.run()
    assert not at.exception, at.exception
    return at


def _metric(at: AppTest, label: str) -> str:
    found = [m.value for m in at.metric if m.label == label]
    assert found, f"no metric {label!r}; metrics: {[m.label for m in at.metric]}"
    return found[0]


def _use_path(at: AppTest, path: str, **columns: str) -> AppTest:
    at.radio(key="bl.w.data.source").set_value("Path on this machine").run()
    at.text_input(key="bl.w.data.path").input(path)
    for name, value in columns.items():
        at.text_input(key=f"bl.w.data.{name}").input(value)
    at.run()
    assert not at.exception, at.exception
    return at


def test_workspace_shows_demo_accuracy(app: AppTest):
    assert not app.error, [e.value for e in app.error]
    acc = _pct(_metric(app, "Accuracy"))
    assert 0.0 < acc <= 1.0
    assert 0.0 <= float(_metric(app, "Macro-F1")) <= 1.0
    assert _metric(app, "Split") == "held-out"
    assert 0 < int(_metric(app, "Examples evaluated").replace(",", "")) <= 200
    assert 0.0 < _pct(_metric(app, "Training held-out accuracy")) <= 1.0
    assert _metric(app, "Examples in sample") == "200"
    assert any("held-out test split" in c.value for c in app.caption)
    assert len(app.get("vega_lite_chart")) == 3  # confusion matrix, label balance, lengths


def test_missing_dataset_file_shows_one_error(app: AppTest, tmp_path):
    _use_path(app, str(tmp_path / "nope.csv"))
    assert [e.value for e in app.error] == [f"Dataset file not found: {tmp_path / 'nope.csv'}"]
    # the model part of the page still works
    assert _metric(app, "Setting") == "Fine-tuned"


def test_unknown_column_shows_one_error(app: AppTest, tmp_path):
    f = tmp_path / "d.csv"
    f.write_text("text,label\nhello world,sport\nshares fell,business\n", encoding="utf-8")
    _use_path(app, str(f), text="body")
    errors = [e.value for e in app.error]
    assert len(errors) == 1 and "Column 'body' is not in d.csv" in errors[0], errors


def test_non_utf8_csv_shows_one_error_then_reads_with_encoding(app: AppTest, tmp_path):
    f = tmp_path / "latin.csv"
    f.write_bytes("text,label\ncaf\xe9 prices rise,business\nd\xe9j\xe0 vu goal,sport\n".encode("latin-1"))
    _use_path(app, str(f))
    errors = [e.value for e in app.error]
    assert len(errors) == 1 and "not valid utf-8" in errors[0] and "Columns and encoding" in errors[0], errors
    app.text_input(key="bl.w.data.encoding").input("latin-1").run()
    assert not app.exception and not app.error, [e.value for e in app.error]
    assert _metric(app, "Examples in sample") == "2"
    assert _pct(_metric(app, "Accuracy")) in (0.0, 0.5, 1.0)


def test_model_folder_without_weights_shows_one_error(app: AppTest, tmp_path):
    (tmp_path / "config.json").write_text('{"model_type": "bert"}')
    app.radio(key="bl.w.model.source").set_value("Local folder").run()
    app.text_input(key="bl.w.model.folder").input(str(tmp_path)).run()
    assert not app.exception, app.exception
    errors = [e.value for e in app.error]
    assert len(errors) == 1 and "no weights" in errors[0], errors
    assert _metric(app, "Examples in sample") == "200"  # the dataset part still works


def test_label_mismatch_is_an_error_not_a_traceback(app: AppTest):
    app.selectbox(key="bl.w.data.bundled").set_value("bundled:tweets").run()
    assert not app.exception, app.exception
    errors = [e.value for e in app.error]
    assert len(errors) == 1 and "not one the model knows" in errors[0], errors


def test_bare_encoder_has_no_accuracy(app: AppTest):
    app.selectbox(key="bl.w.model.select").set_value("bundled:minilm").run()
    assert not app.exception and not app.error
    assert not [m for m in app.metric if m.label == "Accuracy"]
    assert any("bare encoder" in i.value for i in app.info)
    assert _metric(app, "Setting") == "Bare encoder"


def test_large_sample_waits_for_the_evaluate_button(app: AppTest):
    app.number_input(key="bl.w.data.n").set_value(0).run()  # 0 = all examples
    assert not app.exception
    assert not [m for m in app.metric if m.label == "Accuracy"]
    assert any(b.label == "Evaluate" for b in app.button)


def test_demo_not_built_offers_the_build(monkeypatch, tmp_path):
    monkeypatch.setenv("BACKBONE_LENS_CACHE", str(tmp_path))
    at = AppTest.from_file(APP, default_timeout=TIMEOUT)
    at.run()
    assert not at.exception, at.exception
    assert any(b.label == "Build the demo workspace" for b in at.button)
    assert any("not built yet" in m.value for m in at.markdown)
    assert at.selectbox(key="bl.w.model.select").value == "bundled:minilm"
    assert not at.error, [e.value for e in at.error]


@pytest.mark.parametrize("family,read_as", [
    ("qwen2", "Read as the **decoder** family · pooling **last** · **causal** attention · decoding head: logit lens"),
    ("modernbert", "Read as the **modernbert** family · pooling **mean** · **bidirectional** attention · decoding "
                   "head: none"),
])
def test_workspace_says_how_it_reads_a_family(demo_workspace, family, read_as):
    """A user's checkpoint of another family (a folder): accepted, evaluated, and the page says which pooling,
    attention and decoding head it uses."""
    from tests.integration.test_families_matrix import family as built

    f = built(family)
    at = AppTest.from_file(APP, default_timeout=TIMEOUT)
    at.session_state["bl.model_ref"] = str(f["classifier"])
    at.session_state["bl.dataset_choice"] = __import__("ui.state", fromlist=["DatasetChoice"]).DatasetChoice(
        ref=str(f["data"]), n=24)
    at.run()
    assert not at.exception and not at.error, [e.value for e in at.error]
    assert any(c.value.startswith(read_as) for c in at.caption), [c.value for c in at.caption]
    assert 0.0 <= _pct(_metric(at, "Accuracy")) <= 1.0
