"""Charts of the Layers and Topics pages and sections: valid Vega-Lite with the fields, titles and legends they promise."""
from __future__ import annotations

import json

import numpy as np
import pytest

from figures.layers import LAYER_COLOR_MODES, layer_projection_chart, layer_projection_grid, layer_separability_chart
from figures.style import NOISE
from figures.topics import topic_error_chart, topic_label_chart, topic_map_chart, topic_names
from core.analyses.transformer.layers import LayerSeparability
from core.analyses.transformer.topics import Topic, TopicsParams, TopicsResult


def _sep(ref: str, acc, sil, chance=0.4) -> LayerSeparability:
    return LayerSeparability(ref, 100, 10, np.array(acc, float), np.array(sil, float), chance, ("a", "b", "c"), 0.1)


def _spec(chart) -> dict:
    return chart.to_dict()  # validates against the Vega-Lite schema


def _datasets(spec: dict) -> list[list[dict]]:
    return list(spec.get("datasets", {}).values())


def test_layer_separability_chart_two_panels_chance_and_separation():
    a = _sep("pre", [0.5, 0.5, 0.6, 0.7, 0.7], [0.0, 0.01, 0.02, 0.03, 0.03])
    b = _sep("fine", [0.5, 0.6, 0.8, 0.9, 0.95], [0.0, 0.05, 0.1, 0.2, 0.3])
    spec = _spec(layer_separability_chart([a, b]))
    assert len(spec["hconcat"]) == 2
    titles = [p["title"] for p in spec["hconcat"]]
    assert titles == ["k-NN accuracy of the true labels", "Silhouette of the true labels"]
    text = json.dumps(spec)
    assert "Layer (0 = embeddings)" in text and "k-NN accuracy (k = 10)" in text and "chance 0.40" in text
    rows = max(_datasets(spec), key=len)
    assert {r["model"] for r in rows} == {"pre", "fine"} and len(rows) == 10
    sep = {r["model"]: r["layer"] for r in rows if r["separation"]}
    assert sep == {"pre": a.separation_layer(), "fine": b.separation_layer()} == {"pre": 3, "fine": 3}
    assert '"datum.separation"' in text  # the ring layer


@pytest.mark.parametrize("color_by", LAYER_COLOR_MODES)
def test_layer_projection_chart_colour_modes(color_by):
    rng = np.random.default_rng(0)
    pts = rng.normal(size=(12, 2))
    true = ["a", "b", "—"] * 4
    spec = _spec(layer_projection_chart(pts, [f"text {i}" for i in range(12)], color_by=color_by, true=true,
                                        predicted=["a", "b", "b"] * 4, correct=["correct", "wrong", "unlabelled"] * 4,
                                        entropy=np.linspace(0, 1, 12), label_names=("a", "b"), title="Layer 2"))
    field = {"true label": "true", "prediction": "predicted", "correct": "correct",
             "attribution entropy": "entropy"}[color_by]
    assert spec["encoding"]["color"]["field"] == field
    assert spec["title"]["text"] == "Layer 2"
    if color_by == "attribution entropy":
        assert spec["encoding"]["color"]["type"] == "quantitative"
        assert spec["encoding"]["color"]["scale"]["domain"] == [0, 1]
    elif color_by == "true label":
        assert spec["encoding"]["color"]["scale"]["domain"] == ["a", "b", "—"]  # unlabelled last, in grey
    rows = _datasets(spec)[0]
    assert len(rows) == 12 and {"x", "y", "text", "true", "i"} <= set(rows[0])


def test_layer_projection_chart_needs_what_it_colours_by():
    pts = np.zeros((5, 2))
    with pytest.raises(ValueError, match="entropy"):
        layer_projection_chart(pts, ["t"] * 5, color_by="attribution entropy", true=["a"] * 5)
    with pytest.raises(ValueError, match="color_by"):
        layer_projection_chart(pts, ["t"] * 5, color_by="cluster")


def test_layer_projection_grid_one_panel_per_layer():
    rng = np.random.default_rng(1)
    maps = [(0, rng.normal(size=(9, 2))), (3, rng.normal(size=(9, 2)))]
    spec = _spec(layer_projection_grid(maps, ["x", "y", "z"] * 3, label_names=("x", "y", "z"), method="UMAP"))
    assert [p["title"]["text"] for p in spec["hconcat"]] == ["layer 0 (embeddings)", "layer 3"]
    assert spec["resolve"]["scale"] == {"x": "independent", "y": "independent"}
    assert spec["title"]["text"] == "UMAP maps of the same texts at several layers"


def _topics_result(noise: bool = False) -> TopicsResult:
    labels = np.array([0, 0, 0, 1, 1, 2, 2] + ([-1] if noise else []))
    topics = []
    for c, words, mix, err in ((0, ("goal", "match", "league", "striker"), {"sport": 3}, 0.0),
                               (1, ("oven", "flour"), {"food": 1, "sport": 1}, 0.5),
                               (2, ("bank",), {"money": 2}, None)):
        members = np.flatnonzero(labels == c)
        topics.append(Topic(id=c, size=len(members), words=words, word_scores=np.ones(len(words)), label_mix=mix,
                            prediction_mix=None, error_rate=err, n_scored=0 if err is None else len(members),
                            confidence=None, members=members))
    table = np.array([[3, 0, 0], [1, 1, 0], [0, 0, 2]])
    return TopicsResult(model_ref="m", dataset_name="d", method="hdbscan" if noise else "kmeans", reduce="none",
                        rerank=False, n=len(labels), k=3, labels=labels, topics=tuple(topics),
                        noise=int(noise), label_names=("sport", "food", "money"), label_cluster_table=table,
                        predictions=None, error_rate=0.2, silhouette=0.3, k_scores={}, notes=(), seconds=0.1,
                        params=TopicsParams())


def test_topic_names_and_map_with_noise_and_highlight():
    res = _topics_result(noise=True)
    assert topic_names(res) == ["#0 goal, match, league", "#1 oven, flour", "#2 bank"]
    pts = np.arange(16, dtype=float).reshape(8, 2)
    spec = _spec(topic_map_chart(pts, res, [f"t{i}" for i in range(8)], true=["sport"] * 8, highlight=1))
    color = spec["layer"][0]["encoding"]["color"]
    assert color["field"] == "cluster" and color["scale"]["domain"] == [*topic_names(res), NOISE]
    assert color["scale"]["range"][-1] == "#BBBBBB"
    assert "datum.cid == 1" in json.dumps(spec["layer"][0]["encoding"]["opacity"])
    names = [r["name"] for d in _datasets(spec) for r in d if "name" in r]
    assert sorted(set(names)) == ["#0 goal", "#1 oven", "#2 bank"]  # one mark per cluster (halo + text)
    assert spec["title"]["text"] == "3 clusters of 8 texts"


def test_topic_label_and_error_charts():
    res = _topics_result()
    spec = _spec(topic_label_chart(res))
    rows = _datasets(spec)[0]
    assert len(rows) == 9 and {r["count"] for r in rows if r["cluster"] == "#0 goal, match, league"} == {0, 3}
    assert next(r["share"] for r in rows if r["cluster"] == "#1 oven, flour" and r["label"] == "food") == 0.5
    spec = _spec(topic_error_chart(res))
    text = json.dumps(spec)
    assert "dashed: all texts (20.0%)" in text
    bars = next(d for d in _datasets(spec) if d and "cluster" in d[0])
    assert [r["label"] for r in bars] == ["0% of 3", "50% of 2"]  # the cluster without a rate is left out
    no_rates = _topics_result()
    object.__setattr__(no_rates, "topics", tuple(t for t in no_rates.topics if t.error_rate is None))
    with pytest.raises(ValueError, match="no cluster has an error rate"):
        topic_error_chart(no_rates)


def test_length_histogram_of_a_large_dataset_renders():
    """The overview's length histogram is binned before charting, so a full 38k-tweet dataset fits (Altair refuses
    charts with more than 5,000 rows)."""
    from core.data.datasets import TextDataset, dataset_stats
    from figures.dataset import length_histogram_chart
    from figures.style import to_svg

    rng = np.random.default_rng(0)
    texts = tuple(" ".join(["w"] * int(k)) for k in rng.integers(1, 60, 12_000))
    stats = dataset_stats(TextDataset("big", texts, np.zeros(len(texts), np.int64), ("a",)))
    chart = length_histogram_chart(stats)
    assert len(chart.layer[0].data) <= 30 and chart.layer[0].data["texts"].sum() == 12_000
    assert "<svg" in to_svg(chart)
