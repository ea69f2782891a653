"""The Layers page under Streamlit's AppTest (in-process, no browser), on 40 held-out tweets."""
from __future__ import annotations

import json
from pathlib import Path

import pytest
from streamlit.testing.v1 import AppTest

from ui.state import DatasetChoice

ROOT = Path(__file__).resolve().parents[2]
APP = str(ROOT / "app.py")
PAGE = "pages/layers.py"
TIMEOUT = 600  # the first run embeds the texts at every layer with both models
N = 40
MODELS = ["demo:tweets-pretrained", "demo:tweets-finetuned"]

pytestmark = pytest.mark.app


def _page(demo_workspace, *, models: list[str] | None = None, choice: DatasetChoice | None = None,
          n: int = N, run: bool = True) -> AppTest:
    at = AppTest.from_file(APP, default_timeout=TIMEOUT)
    at.session_state["bl.dataset_choice"] = choice or DatasetChoice(ref="bundled:tweets")
    at.session_state["bl.w.lay.models"] = MODELS if models is None else models
    at.session_state["bl.w.lay.n"] = n
    at.switch_page(PAGE)
    at.run()
    assert not at.exception, at.exception
    if run and not at.error:
        next(b for b in at.button if b.label == "Compute the layer curves").click().run()
        assert not at.exception, at.exception
    return at


@pytest.fixture(scope="module")
def expected(demo_workspace):
    """The same sweep straight from core (disk-cache reads once the page has computed it)."""
    from core.data.refs import load_dataset
    from core.models.heldout import heldout_sample
    from core.analyses.transformer.layers import LayersParams, run_layers
    from core.models.refs import load_model

    models = [load_model(r) for r in MODELS]
    sample = heldout_sample(models, load_dataset("bundled:tweets"), N, seed=0, classifiers_only=True)
    return list(run_layers(models, sample, LayersParams(k=10)).separability)


def _specs(at: AppTest) -> list[dict]:
    return [json.loads(c.proto.spec) for c in at.get("vega_lite_chart")]


def _metrics(at: AppTest) -> dict[str, str]:
    return {m.label: m.value for m in at.metric}


def test_curves_numbers_and_the_last_layer_map(demo_workspace, expected):
    at = _page(demo_workspace)
    assert not at.error, [e.value for e in at.error]
    shown = _metrics(at)
    per_model = [(m.label, m.value) for m in at.metric][:4]  # two per model, in the order of the models
    assert [md.value for md in at.markdown if md.value in (f"**{r}**" for r in MODELS)] == [f"**{r}**" for r in MODELS]
    for i, sep in enumerate(expected):
        L = len(sep.knn_accuracy) - 1
        assert per_model[2 * i] == ("Classes separate at", f"layer {sep.separation_layer()}")
        assert per_model[2 * i + 1] == (f"k-NN accuracy, layer {L}", f"{sep.knn_accuracy[L]:.1%}")
    curves, layer_map = _specs(at)
    assert curves["title"]["text"] == "Where in depth do the classes separate?"
    assert [p["title"] for p in curves["hconcat"]] == ["k-NN accuracy of the true labels",
                                                      "Silhouette of the true labels"]
    assert layer_map["title"]["text"] == "demo:tweets-pretrained · layer 6 of 6 · PCA"
    assert layer_map["encoding"]["color"]["field"] == "true"
    table = at.dataframe[0].value
    assert list(table["model"]) == [MODELS[0]] * 7 + [MODELS[1]] * 7
    assert list(table["knn"]) == pytest.approx([*expected[0].knn_accuracy, *expected[1].knn_accuracy])
    how = next(c.value for c in at.caption if c.value.startswith("**How it was computed:**"))
    assert f"{N} labelled texts sampled from the" in how and "held-out test examples" in how, how
    assert shown["Layer 6: k-NN accuracy"] == f"{expected[0].knn_accuracy[6]:.1%}"
    assert shown["Wrong final predictions"].endswith(f"of {N}")


def test_layer_slider_projection_and_colours(demo_workspace, expected):
    at = _page(demo_workspace)
    method = at.selectbox(key="bl.w.lay.method")
    assert method.options[-1].startswith("DeepView")  # offered at the last layer of a classifier
    at.slider(key="bl.w.lay.layer").set_value(0).run()
    assert not at.exception and not at.error
    assert len(at.selectbox(key="bl.w.lay.method").options) == 3  # no DeepView below the last layer
    at.selectbox(key="bl.w.lay.method").set_value("umap").run()
    at.selectbox(key="bl.w.lay.which").set_value(1).run()
    at.selectbox(key="bl.w.lay.color").set_value("correct").run()
    assert not at.exception and not at.error, [e.value for e in at.error]
    spec = _specs(at)[1]
    assert spec["title"]["text"] == "demo:tweets-finetuned · embeddings (layer 0) · UMAP"
    assert spec["encoding"]["color"]["field"] == "correct"
    assert _metrics(at)["Layer 0: k-NN accuracy"] == f"{expected[1].knn_accuracy[0]:.1%}"


def test_deepview_of_the_last_layer_has_the_background(demo_workspace):
    at = _page(demo_workspace, models=MODELS[1:])
    at.selectbox(key="bl.w.lay.method").set_value("deepview").run()
    at.selectbox(key="bl.w.lay.color").set_value("prediction").run()
    assert not at.exception and not at.error, [e.value for e in at.error]
    spec = _specs(at)[1]
    assert spec["title"]["text"] == "demo:tweets-finetuned · layer 6 of 6 · DeepView"
    assert any(layer.get("mark", {}).get("type") == "image" for layer in spec["layer"])
    # moving off the last layer falls back to PCA
    at.slider(key="bl.w.lay.layer").set_value(3).run()
    assert at.selectbox(key="bl.w.lay.method").value == "pca" and not at.error


def test_bare_encoder_is_coloured_by_label_only(demo_workspace):
    at = _page(demo_workspace, models=["bundled:minilm"])
    assert not at.error, [e.value for e in at.error]
    assert at.selectbox(key="bl.w.lay.color").options == ["True label"]
    assert not any(o.startswith("DeepView") for o in at.selectbox(key="bl.w.lay.method").options)
    assert "Wrong final predictions" not in _metrics(at)


def test_attribution_entropy_after_a_click(demo_workspace):
    at = _page(demo_workspace, models=MODELS[1:], n=20)
    at.selectbox(key="bl.w.lay.color").set_value("attribution entropy").run()
    assert any("integrated gradients" in i.value for i in at.info)
    assert _specs(at)[1]["encoding"]["color"]["field"] == "true"  # until computed
    next(b for b in at.button if b.label == "Compute attribution entropy").click().run()
    assert not at.exception and not at.error, [e.value for e in at.error]
    color = _specs(at)[1]["encoding"]["color"]
    assert color["field"] == "entropy" and color["type"] == "quantitative"
    assert 0.0 <= float(_metrics(at)["Mean attribution entropy"]) <= 1.0


def test_no_model_and_unlabelled_data_are_one_error_each(demo_workspace, tmp_path):
    at = _page(demo_workspace, models=[])
    assert [e.value for e in at.error] == ["Choose one or two models."]
    assert not at.get("vega_lite_chart")
    data = tmp_path / "texts.csv"
    data.write_text("text\n" + "".join(f"a short text number {i}\n" for i in range(30)), "utf-8")
    at = _page(demo_workspace, models=MODELS[1:], choice=DatasetChoice(ref=str(data), n=None))
    assert len(at.error) == 1 and "has no labels" in at.error[0].value, [e.value for e in at.error]
    assert not at.get("vega_lite_chart") and not at.exception
