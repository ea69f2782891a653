"""The Projection page under Streamlit's AppTest (in-process, no browser), on 200 BBC articles."""
from __future__ import annotations

import json
from pathlib import Path
from typing import TYPE_CHECKING

import numpy as np
import pytest
from streamlit.testing.v1 import AppTest

from ui.state import DatasetChoice, FocusText, ProjectionControls

if TYPE_CHECKING:  # pragma: no cover
    import pyarrow as pa

ROOT = Path(__file__).resolve().parents[2]
APP = str(ROOT / "app.py")
PAGE = "pages/projection.py"
TIMEOUT = 600  # seconds per run: the first run embeds the texts and computes the distance graph
N = 200
MODEL = "demo:bbc-finetuned"

pytestmark = pytest.mark.app


def _page(demo_workspace, *, model: str = MODEL, choice: DatasetChoice | None = None,
          controls: ProjectionControls | None = None) -> AppTest:
    at = AppTest.from_file(APP, default_timeout=TIMEOUT)
    at.session_state["bl.model_ref"] = model
    at.session_state["bl.dataset_choice"] = choice or DatasetChoice(n=N)
    at.session_state["bl.projection"] = controls or ProjectionControls(n=N)
    at.switch_page(PAGE)
    at.run()
    assert not at.exception, at.exception
    return at


@pytest.fixture
def app(demo_workspace) -> AppTest:
    return _page(demo_workspace)


def _metrics(at: AppTest) -> dict[str, str]:
    return {m.label: m.value for m in at.metric}


def _caption(at: AppTest, start: str) -> str:
    found = [c.value for c in at.caption if c.value.startswith(start)]
    assert found, f"no caption starting {start!r}: {[c.value for c in at.caption]}"
    return found[0]


def _charts(at: AppTest) -> list[dict]:
    return [json.loads(c.proto.spec) for c in at.get("vega_lite_chart")]


def _chart_data(at: AppTest, i: int = 0) -> dict[str, "pa.Table"]:
    """The datasets of chart ``i`` (Streamlit sends them as Arrow beside the spec), by content-hash name."""
    import pyarrow as pa

    return {d.name: pa.ipc.open_stream(d.data.data).read_all() for d in at.get("vega_lite_chart")[i].proto.datasets}


def _expected(lam: float):
    """The same projection straight from core (a disk-cache read after the page computed it)."""
    from core.analyses.projection.params import ProjectionParams
    from core.analyses.projection.run import run_projection
    from core.data.refs import load_dataset
    from core.models.heldout import heldout_sample
    from core.models.refs import load_model

    model = load_model(MODEL)
    sample = heldout_sample(model, load_dataset("bundled:bbc"), N, seed=0, heldout=False)
    return run_projection(model, sample, ProjectionParams(lam=lam))


def _shown(run) -> dict[str, str]:
    f = run.fidelity
    return {"Q_kNN error": f"{f.q_knn_error:.1%}", "Q_data": f"{f.q_data:.1%}",
            "Trustworthiness": f"{f.trustworthiness:.3f}", "Continuity": f"{f.continuity:.3f}"}


def test_metrics_and_caption_come_from_the_projection(app: AppTest):
    assert not app.error, [e.value for e in app.error]
    run = _expected(0.8)
    assert _metrics(app) == _shown(run)
    assert all(m.help for m in app.metric)
    assert "predicted" in [m for m in app.metric if m.label == "Q_kNN error"][0].help
    how = _caption(app, "**How it was computed:**")
    assert f"{N} texts sampled from all 2,225 examples" in how and f"{run.n_edges:,} pairs" in how, how
    assert "λ = 0.8" in how and "cosine" in how
    assert "pale = uncertain" in _caption(app, "**Background:**")
    charts = _charts(app)
    assert len(charts) == 1 and "λ = 0.8" in json.dumps(charts[0]["title"], ensure_ascii=False)
    points = [t for t in _chart_data(app).values() if "i" in t.column_names]
    assert len(points) == 1 and points[0].num_rows == N
    assert sorted(points[0].column("i").to_pylist()) == list(range(N))
    assert any(b.label == "Run the λ sweep" for b in app.button)  # the sweep waits for a click


def test_moving_lambda_reprojects(app: AppTest):
    before = set(_chart_data(app))
    app.slider(key="bl.w.proj.lam").set_value(0.4).run()
    assert not app.exception and not app.error, [e.value for e in app.error]
    assert "λ = 0.4" in _caption(app, "**How it was computed:**")
    assert _metrics(app) == _shown(_expected(0.4))
    assert not set(_chart_data(app)) & before  # new points and a new background
    # the colouring changes the chart without recomputing anything
    app.selectbox(key="bl.w.proj.color").set_value("correct").run()
    assert not app.exception and not app.error
    assert '"Prediction"' in json.dumps(_charts(app)[0]["layer"][1]["encoding"]["color"])


def test_held_out_split_and_euclidean_distance(app: AppTest):
    app.toggle(key="bl.w.proj.heldout").set_value(True).run()
    assert not app.exception and not app.error, [e.value for e in app.error]
    how = _caption(app, "**How it was computed:**")
    assert "held-out test examples (the model was trained on this dataset)" in how, how
    app.selectbox(key="bl.w.proj.metric").set_value("euclidean").run()
    assert not app.exception and not app.error, [e.value for e in app.error]
    assert "euclidean distance" in _caption(app, "**How it was computed:**")
    assert set(_metrics(app)) == {"Q_kNN error", "Q_data", "Trustworthiness", "Continuity"}


def test_lambda_sweep_on_demand(app: AppTest):
    next(b for b in app.button if b.label == "Run the λ sweep").click().run()
    assert not app.exception and not app.error, [e.value for e in app.error]
    assert len(app.get("vega_lite_chart")) == 2
    assert not any(b.label == "Run the λ sweep" for b in app.button)  # the offer is gone once taken
    table = app.dataframe[-1].value
    assert list(table["lam"]) == [0.0, 0.2, 0.4, 0.6, 0.8, 1.0]
    row = table[table["lam"] == 0.8].iloc[0]
    assert f"{row['q_knn_error']:.1f}%" == _metrics(app)["Q_kNN error"]


def test_bare_encoder_shows_info_not_error(demo_workspace):
    at = _page(demo_workspace, model="bundled:minilm")
    assert not at.error, [e.value for e in at.error]
    assert any("bare encoder" in i.value and "classification head" in i.value for i in at.info)
    assert not at.metric and not at.get("vega_lite_chart")


def test_too_few_examples_is_one_error(demo_workspace, tmp_path):
    f = tmp_path / "tiny.csv"
    f.write_text("text,label\nshares fell sharply,business\nthe striker scored twice,sport\n"
                 "parliament passed the bill,politics\n", encoding="utf-8")
    at = _page(demo_workspace, choice=DatasetChoice(ref=str(f), n=None))
    errors = [e.value for e in at.error]
    assert errors == ["A projection needs at least k + 2 = 7 points, got 3."], errors
    assert not at.metric


def test_missing_dataset_file_is_one_error(demo_workspace, tmp_path):
    at = _page(demo_workspace, choice=DatasetChoice(ref=str(tmp_path / "nope.csv")))
    assert [e.value for e in at.error] == [f"Dataset file not found: {tmp_path / 'nope.csv'}"]


def test_large_sample_waits_for_a_click(demo_workspace):
    at = _page(demo_workspace, controls=ProjectionControls(n=3000))
    assert not at.error and not at.metric
    assert any(b.label == "Compute the projection" for b in at.button)


def test_selected_points_from_box_and_clicks():
    from ui.widgets import selected_points

    pts = np.array([[0.0, 0.0], [1.0, 1.0], [2.0, 2.0], [3.0, 0.5]])
    assert selected_points({"brush": {}, "pick": {}}, pts) == []
    assert selected_points({"brush": {"x": [2.5, 0.5], "y": [0.0, 2.5]}}, pts) == [1, 2]
    assert selected_points({"pick": [{"i": 3}, {"i": 0}, {"i": 99}]}, pts) == [0, 3]
    assert selected_points({"brush": {"x": [0.9, 1.1], "y": [0.9, 1.1]}, "pick": [{"i": 3}]}, pts) == [1, 3]


def _panel_script() -> None:
    import streamlit as st

    from ui import cached
    from ui.state import DatasetChoice as Choice
    from ui.views import projection as views

    choice = Choice(n=200)
    run = cached.project("demo:bbc-finetuned", choice, 200, 0.8)
    views.selected_texts_panel(run, [5, 7], model_ref="demo:bbc-finetuned", choice=choice,
                                 source="Projection, λ = 0.8")
    st.session_state["texts"] = run.texts


def test_open_in_later_pages_stores_the_focus_text(demo_workspace):
    at = AppTest.from_function(_panel_script, default_timeout=TIMEOUT)
    at.run()
    assert not at.exception, at.exception
    assert len(at.dataframe[0].value) == 2
    at.selectbox(key="bl.w.proj.focus_row").set_value(7)
    next(b for b in at.button if b.label == "Open in later pages").click().run()
    assert not at.exception, at.exception
    focus = at.session_state["bl.focus_text"]
    assert isinstance(focus, FocusText)
    assert focus.text == at.session_state["texts"][7] and focus.model_ref == MODEL
    assert focus.matches(MODEL, DatasetChoice(n=500, seed=3)) and not focus.matches("demo:other", DatasetChoice())
    assert focus.prediction in ("business", "entertainment", "politics", "sport", "tech")
    assert focus.index is not None and focus.source == "Projection, λ = 0.8"
    assert any(c.value.startswith("Focus text for later pages") for c in at.caption)
