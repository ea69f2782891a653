"""The Compare page under Streamlit's AppTest (in-process, no browser), on 40 held-out BBC articles."""
from __future__ import annotations

import json
from pathlib import Path

import pytest
from streamlit.testing.v1 import AppTest

from ui.state import DatasetChoice, FocusText

ROOT = Path(__file__).resolve().parents[2]
APP = str(ROOT / "app.py")
PAGE = "pages/compare.py"
TIMEOUT = 600  # the first run embeds the texts and projects them with both models
N = 40
MODELS = ["demo:bbc-pretrained", "demo:bbc-finetuned"]

pytestmark = pytest.mark.app


def _page(demo_workspace, *, models: list[str] | None = None, ks: str = "5, 10", extra: str = "",
          choice: DatasetChoice | None = None, run: bool = True) -> AppTest:
    at = AppTest.from_file(APP, default_timeout=TIMEOUT)
    at.session_state["bl.dataset_choice"] = choice or DatasetChoice(n=500)
    at.session_state["bl.w.cmp.models"] = MODELS if models is None else models
    at.session_state["bl.w.cmp.n"] = N
    at.session_state["bl.w.cmp.ks"] = ks
    at.session_state["bl.w.cmp.extra"] = extra
    at.switch_page(PAGE)
    at.run()
    assert not at.exception, at.exception
    if run and not at.error:
        next(b for b in at.button if b.label == "Compare the models").click().run()
        assert not at.exception, at.exception
    return at


@pytest.fixture(scope="module")
def expected(demo_workspace):
    """The same comparison straight from core (disk-cache reads once the page has computed it)."""
    from core.analyses.compare import CompareParams, run_comparison
    from core.data.refs import load_dataset
    from core.models.heldout import heldout_sample
    from core.models.refs import load_model

    models = [load_model(r) for r in MODELS]
    sample = heldout_sample(models, load_dataset("bundled:bbc"), N, seed=0, classifiers_only=True)
    return run_comparison(models, sample, CompareParams(k=(5, 10)))


def _chart_data(at: AppTest, i: int) -> list:
    """The datasets of chart ``i`` (Streamlit sends them as Arrow beside the spec)."""
    import pyarrow as pa

    return [pa.ipc.open_stream(d.data.data).read_all() for d in at.get("vega_lite_chart")[i].proto.datasets]


def _metrics(at: AppTest) -> dict[str, str]:
    return {m.label: m.value for m in at.metric}


def test_metrics_table_and_charts(demo_workspace, expected):
    at = _page(demo_workspace)
    assert not at.error, [e.value for e in at.error]
    p = expected.pairs[0]
    shown = _metrics(at)
    assert shown["CKA (embeddings)"] == f"{p.cka:.3f}" and 0.0 <= p.cka <= 1.0
    assert shown["Prediction agreement"] == f"{p.prediction_agreement:.1%}"
    assert shown["Q_NN@10 embeddings"] == f"{p.embeddings.q_nn[1]:.3f}"
    assert shown["Q_NN@10 DeepView maps"] == f"{p.projection.q_nn[1]:.3f}"
    for label in shown:
        if label != "Prediction agreement":
            assert 0.0 <= float(shown[label]) <= 1.0, (label, shown[label])
    per_k = at.dataframe[0].value
    assert list(per_k["k"]) == [5, 10]
    assert list(per_k["q_nn_emb"]) == pytest.approx(list(p.embeddings.q_nn))
    assert list(per_k["lcmc_proj"]) == pytest.approx(list(p.projection.lcmc))
    assert list(per_k["chance"]) == pytest.approx([5 / 39, 10 / 39])
    how = next(c.value for c in at.caption if c.value.startswith("**How it was computed:**"))
    assert f"{N} texts sampled from the" in how and "held-out test examples" in how, how
    # metrics chart and the linked maps (both views over the same 40 rows)
    charts = [json.loads(c.proto.spec) for c in at.get("vega_lite_chart")]
    assert len(charts) == 2
    assert "demo:bbc-pretrained vs demo:bbc-finetuned" in json.dumps(charts[0]["title"])
    assert len(charts[1]["hconcat"]) == 2 and any(prm.get("name") == "pick" for prm in charts[1].get("params", []))
    # the disagreement table: the top 20 of 40, the most disagreeing first
    table = at.dataframe[1].value
    rows = expected.top_disagreements(0, 20)
    assert len(table) == 20 and list(table["row"]) == [r["index"] for r in rows]
    assert list(table["score"]) == sorted(table["score"], reverse=True)
    assert table["pred_a"].tolist() == [f"{r['prediction_a']} ({r['confidence_a']:.0%})" for r in rows]
    assert any("truncated" in i.value for i in at.info)  # the small demo cuts articles at 64 tokens
    assert any(c.value.startswith("Click a point on either map") for c in at.caption)


def test_one_model_is_an_error(demo_workspace):
    at = _page(demo_workspace, models=["demo:bbc-finetuned"])
    assert [e.value for e in at.error] == ["Choose at least two models to compare."]
    assert not at.metric and not at.get("vega_lite_chart")


def test_bad_and_too_large_k_are_one_error_each(demo_workspace):
    at = _page(demo_workspace, ks="5, ten")
    assert [e.value for e in at.error] == [
        "Give the neighbourhood sizes as whole numbers separated by commas, e.g. 5, 10, 20."]
    at = _page(demo_workspace, ks="5, 50")
    assert [e.value for e in at.error] == ["k = 50 is too large for 40 texts; the largest usable k is 38."]
    assert not at.metric


def test_unknown_extra_model_is_one_error(demo_workspace, tmp_path):
    missing = tmp_path / "no-model"
    at = _page(demo_workspace, models=["demo:bbc-finetuned"], extra=str(missing))
    assert len(at.error) == 1 and str(missing) in at.error[0].value, [e.value for e in at.error]


def test_three_models_show_the_pair_matrices(demo_workspace):
    at = _page(demo_workspace, models=[*MODELS, "bundled:minilm"])
    assert not at.error, [e.value for e in at.error]
    titles = [json.dumps(json.loads(c.proto.spec).get("title")) for c in at.get("vega_lite_chart")]
    assert any("Linear CKA" in t for t in titles) and any("Prediction agreement" in t for t in titles)
    pair = at.selectbox(key="bl.w.cmp.pair")
    assert len(pair.options) == 3
    # the bare encoder's pair: embeddings only, said in plain words
    pair.set_value(1).run()
    assert not at.exception and not at.error
    assert _metrics(at)["Prediction agreement"] == "–"
    assert any("no classifier head" in i.value for i in at.info)


def test_selected_rows_open_in_saliency(demo_workspace, expected):
    at = _page(demo_workspace)
    # a table selection (what a click on rows sends) lists the texts and highlights the points
    rows = expected.top_disagreements(0, 20)
    at.session_state["bl.cmp-table.0.1"] = {"selection": {"rows": [0, 2], "columns": []}}
    at.run()
    assert not at.exception, at.exception
    picked = sorted({rows[0]["index"], rows[2]["index"]})
    sel = at.dataframe[1].value
    assert list(sel["row"]) == [int(expected.sample.indices[i]) for i in picked]  # dataset rows
    assert list(sel["text"]) == [expected.texts[i] for i in picked]
    assert set(sel.columns) >= {"demo:bbc-pretrained", "demo:bbc-finetuned", "true label"}
    # the maps ring exactly these points (one small dataset per view beside the full ones)
    rings = [t for t in _chart_data(at, 1) if t.num_rows < N and "i" in t.column_names]
    assert rings and all(sorted(t.column("i").to_pylist()) == picked for t in rings)
    at.selectbox(key="bl.cmp.focus_row").set_value(picked[1])
    at.selectbox(key="bl.cmp.focus_model").set_value(1)
    next(b for b in at.button if b.label == "Open in Saliency").click().run()
    assert not at.exception, at.exception
    focus = at.session_state["bl.focus_text"]
    assert isinstance(focus, FocusText) and focus.text == expected.texts[picked[1]]
    assert focus.model_ref == "demo:bbc-finetuned" and at.session_state["bl.model_ref"] == "demo:bbc-finetuned"
    assert focus.source.startswith("Compare page") and focus.index is not None
    assert any(t.value == "Saliency" for t in at.title)
