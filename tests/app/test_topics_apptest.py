"""The Topics page under Streamlit's AppTest (in-process, no browser), on 40 held-out tweets."""
from __future__ import annotations

import json
from pathlib import Path

import pytest
from streamlit.testing.v1 import AppTest

from ui.state import DatasetChoice, FocusText

ROOT = Path(__file__).resolve().parents[2]
APP = str(ROOT / "app.py")
PAGE = "pages/topics.py"
TIMEOUT = 600
N = 40
MODEL = "demo:tweets-finetuned"

pytestmark = pytest.mark.app


def _page(demo_workspace, *, choice: DatasetChoice | None = None, n: int = N, model: str = MODEL,
          run: bool = True, **widgets) -> AppTest:
    at = AppTest.from_file(APP, default_timeout=TIMEOUT)
    at.session_state["bl.dataset_choice"] = choice or DatasetChoice(ref="bundled:tweets")
    at.session_state["bl.w.top.model"] = model
    at.session_state["bl.w.top.n"] = n
    for key, value in widgets.items():
        at.session_state[f"bl.w.top.{key}"] = value
    at.switch_page(PAGE)
    at.run()
    assert not at.exception, at.exception
    if run and not at.error:
        next(b for b in at.button if b.label == "Find the topics").click().run()
        assert not at.exception, at.exception
    return at


@pytest.fixture(scope="module")
def expected(demo_workspace):
    """The same topics straight from core (embeddings read from the disk cache once the page has computed them)."""
    from core.data.refs import load_dataset
    from core.models.heldout import heldout_sample
    from core.models.refs import load_model
    from core.analyses.transformer.topics import run_topics

    model = load_model(MODEL)
    return run_topics(model, heldout_sample(model, load_dataset("bundled:tweets"), N, seed=0))


def _chart_data(at: AppTest, i: int) -> list:
    """The datasets of chart ``i`` (Streamlit sends them as Arrow beside the spec)."""
    import pyarrow as pa

    return [pa.ipc.open_stream(d.data.data).read_all() for d in at.get("vega_lite_chart")[i].proto.datasets]


def _specs(at: AppTest) -> list[dict]:
    return [json.loads(c.proto.spec) for c in at.get("vega_lite_chart")]


def test_clusters_table_and_charts(demo_workspace, expected):
    at = _page(demo_workspace)
    assert not at.error, [e.value for e in at.error]
    shown = {m.label: m.value for m in at.metric}
    assert shown["Clusters"] == str(expected.k) and shown["Silhouette"] == f"{expected.silhouette:.3f}"
    assert shown["Error rate, all texts"] == f"{expected.error_rate:.1%}"
    table = at.dataframe[0].value
    assert list(table["size"]) == [t.size for t in expected.topics]
    assert list(table["words"]) == [", ".join(t.words) for t in expected.topics]
    assert list(table["error"]) == pytest.approx([t.error_rate for t in expected.topics])
    titles = [s["title"]["text"] for s in _specs(at)]
    assert titles == [f"{expected.k} k-means clusters of {N} texts · {MODEL}", "Clusters × true labels",
                      "Error rate per cluster"]
    cluster_map = _specs(at)[0]
    assert cluster_map["layer"][0]["encoding"]["color"]["field"] == "cluster"
    labels = {name for t in _chart_data(at, 0) if "name" in t.column_names for name in t.column("name").to_pylist()}
    assert labels == {f"#{t.id} {t.words[0]}" for t in expected.topics}
    how = next(c.value for c in at.caption if c.value.startswith("**How it was computed:**"))
    assert f"{N} texts sampled from the" in how and "silhouette by k" in how


def test_texts_of_a_cluster_open_in_saliency(demo_workspace, expected):
    at = _page(demo_workspace)
    at.selectbox(key="bl.w.top.cluster").set_value(1).run()
    assert not at.exception and not at.error
    topic = expected.topics[1]
    texts = at.dataframe[1].value
    # rows are dataset rows (positions in the whole dataset), the number every page shows for a text
    index = expected.sample.indices
    assert len(texts) == topic.size and list(texts["row"][:3]) == [int(index[i]) for i in topic.example_indices]
    assert set(texts["row"]) == {int(index[i]) for i in topic.members}
    assert set(texts["correct"]) <= {"correct", "wrong", "unlabelled"}
    at.toggle(key="bl.w.top.highlight").set_value(True).run()
    assert "datum.cid == 1" in json.dumps(_specs(at)[0]["layer"][0]["encoding"]["opacity"])
    row = at.selectbox(key="bl.top.focus_row").value
    next(b for b in at.button if b.label == "Open in Saliency").click().run()
    assert not at.exception, at.exception
    focus = at.session_state["bl.focus_text"]
    assert isinstance(focus, FocusText) and focus.model_ref == MODEL and focus.source.startswith("Topics page")
    assert focus.text == expected.sample.texts[row] and focus.index == int(index[row])
    assert any(t.value == "Saliency" for t in at.title)


def test_other_methods_and_fixed_k(demo_workspace):
    at = _page(demo_workspace, auto=False, k=3, method="agglomerative", rerank=True, map="pca")
    assert not at.error, [e.value for e in at.error]
    assert {m.label: m.value for m in at.metric}["Clusters"] == "3" and len(at.dataframe[0].value) == 3
    at.selectbox(key="bl.w.top.method").set_value("hdbscan").run()
    assert not at.exception and not at.error, [e.value for e in at.error]
    assert "Noise" in {m.label for m in at.metric}
    at.selectbox(key="bl.w.top.method").set_value("kmeans").run()
    assert at.number_input(key="bl.w.top.k").value == 3  # kept while HDBSCAN hid its use
    assert {m.label: m.value for m in at.metric}["Clusters"] == "3"


def test_bad_inputs_are_one_error_each(demo_workspace, tmp_path):
    at = _page(demo_workspace, auto=False, k=50)
    assert [e.value for e in at.error] == ["Asked for 50 clusters of 40 texts; ask for fewer clusters than texts."]
    assert not at.get("vega_lite_chart")
    data = tmp_path / "few.csv"
    data.write_text("text,label\n" + "".join(f"a short text number {i},{'ab'[i % 2]}\n" for i in range(8)), "utf-8")
    at = _page(demo_workspace, choice=DatasetChoice(ref=str(data), n=None))
    assert [e.value for e in at.error] == ["Clustering needs at least 10 texts, got 8."]
    assert not at.get("vega_lite_chart") and not at.exception
