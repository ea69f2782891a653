"""Topics: c-TF-IDF by hand, clustering of planted blobs, ``run_topics()`` and the CLI on a tiny model."""
import json
import math
import subprocess
import sys

import numpy as np
import pandas as pd
import pytest
from sklearn.metrics import adjusted_rand_score

from core.foundation.errors import BackboneLensError
from core.data.sampling import draw
from core.analyses.transformer.topics import (CLUSTERING, TopicsParams, class_tfidf, cluster, keybert_rerank,
                                              run_topics, top_words)
from tests.conftest import ROOT

# three hand-made "clusters"; stop words (the, of, and), digits and one-letter tokens must be dropped
CORPUS = [
    ["goal match goal", "match team"],  # goal 2, match 2, team 1        -> 5 words
    ["recipe oven recipe", "oven flour team"],  # recipe 2, oven 2, flour 1, team 1 -> 6 words
    ["stock market stock", "the bank of stock and x 2024"],  # stock 3, market 1, bank 1 -> 5 words
]


def test_class_tfidf_by_hand():
    words, scores = class_tfidf(CORPUS)
    assert sorted(words) == ["bank", "flour", "goal", "market", "match", "oven", "recipe", "stock", "team"]
    assert scores.shape == (3, 9)
    w = {str(x): i for i, x in enumerate(words)}
    A = 16 / 3  # average words per class
    # W = tf (L1 per class) · log(1 + A / f_t); f_t: goal 2, team 2, flour 1, stock 3, bank 1
    assert scores[0, w["goal"]] == pytest.approx(2 / 5 * math.log(1 + A / 2))
    assert scores[0, w["team"]] == pytest.approx(1 / 5 * math.log(1 + A / 2))
    assert scores[1, w["flour"]] == pytest.approx(1 / 6 * math.log(1 + A / 1))
    assert scores[2, w["stock"]] == pytest.approx(3 / 5 * math.log(1 + A / 3))
    assert scores[2, w["bank"]] == pytest.approx(1 / 5 * math.log(1 + A / 1))
    assert scores[2, w["team"]] == 0.0
    # ties (goal = match, oven = recipe, bank = market) are broken alphabetically; absent words are left out
    assert [t for t, _ in top_words(words, scores[0], 10)] == ["goal", "match", "team"]
    assert [t for t, _ in top_words(words, scores[1], 10)] == ["oven", "recipe", "flour", "team"]
    assert [t for t, _ in top_words(words, scores[2], 2)] == ["stock", "bank"]


def test_class_tfidf_rare_word_beats_shared_word():
    # "team" is in two clusters, "flour" in one; with equal counts the distinctive word scores higher
    words, scores = class_tfidf([["team flour"], ["team goal"]])
    w = {str(x): i for i, x in enumerate(words)}
    assert scores[0, w["flour"]] > scores[0, w["team"]] > 0


def test_class_tfidf_no_words():
    with pytest.raises(BackboneLensError, match="no words"):
        class_tfidf([["the of and"], ["1 2 3"]])


def test_keybert_rerank_orders_candidates_by_similarity():
    words = np.array(["alpha", "beta", "gamma", "delta"])
    scores = np.array([0.4, 0.3, 0.2, 0.0])  # delta is no candidate (score 0)
    vecs = {"alpha": [1.0, 0.0], "beta": [0.0, 1.0], "gamma": [1.0, 1.0], "delta": [0.0, 1.0]}
    seen = []

    def embed(ws):
        seen.append(list(ws))
        return np.array([vecs[x] for x in ws])

    out = keybert_rerank(words, scores, np.array([0.0, 2.0]), embed, top_n=2)
    assert seen == [["alpha", "beta", "gamma"]]
    assert [x for x, _ in out] == ["beta", "gamma"]
    assert out[0][1] == pytest.approx(1.0) and out[1][1] == pytest.approx(math.sqrt(0.5))


def _blobs(per=30, d=16, seed=0):
    rng = np.random.default_rng(seed)
    X = np.concatenate([np.eye(d)[j] * 10 + rng.normal(0, 0.5, (per, d)) for j in range(3)])
    return X, np.repeat(np.arange(3), per)


@pytest.mark.parametrize("method", ["kmeans", "agglomerative"])
def test_cluster_recovers_planted_blobs(method):
    X, y = _blobs()
    fixed = cluster(X, method, 3)
    assert adjusted_rand_score(y, fixed.labels) == 1.0 and fixed.k == 3 and fixed.k_scores == {}
    auto = cluster(X, method, "auto")
    assert auto.k == 3 and adjusted_rand_score(y, auto.labels) == 1.0
    assert sorted(auto.k_scores) == list(range(2, 10))  # 2..min(12, 90 // 10)
    assert max(auto.k_scores, key=auto.k_scores.get) == 3
    assert auto.silhouette == pytest.approx(auto.k_scores[3]) and auto.silhouette > 0.8


def test_cluster_is_cosine_and_renumbers_by_size():
    X, y = _blobs(per=20)
    X = X[:50]  # sizes 20, 20, 10
    y = y[:50]
    scaled = X * np.random.default_rng(1).uniform(0.1, 10, (50, 1))  # lengths do not matter
    a = cluster(X, "kmeans", 3).labels
    b = cluster(scaled, "kmeans", 3).labels
    assert adjusted_rand_score(a, b) == 1.0
    assert np.bincount(a).tolist() == [20, 20, 10]
    assert (a[y == 2] == 2).all()


def test_hdbscan_labels_noise():
    X, y = _blobs()
    rng = np.random.default_rng(3)
    far = rng.normal(0, 1, (6, 16))
    far[:, :3] = -np.abs(far[:, :3]) * 5  # pointing away from every blob
    far[:, 3:] *= 5
    res = cluster(np.concatenate([X, far]), "hdbscan")
    assert res.k == 3 and res.k_scores == {}
    assert (res.labels[90:] == -1).all()
    assert (res.labels[:90] >= 0).all() and adjusted_rand_score(y, res.labels[:90]) == 1.0


def test_umap_reduction_still_finds_the_blobs():
    X, y = _blobs()
    res = cluster(X, "kmeans", 3, reduce="umap", seed=0)
    assert res.space.shape == (90, 5) and adjusted_rand_score(y, res.labels) == 1.0


@pytest.mark.parametrize("kwargs,message", [
    ({"X": np.ones((6, 4))}, "Clustering needs at least 10 texts, got 6."),
    ({"X": np.ones((12, 4)), "n_clusters": 12}, "Asked for 12 clusters of 12 texts"),
    ({"X": np.ones((12, 4)), "n_clusters": 1}, "at least 2 clusters"),
    ({"X": np.ones((12, 4)), "method": "dbscan"}, "kmeans, agglomerative, hdbscan"),
    ({"X": np.ones((12, 4)), "reduce": "pca"}, "none, umap"),
    ({"X": np.ones((12, 4)), "method": "hdbscan", "n_clusters": 3}, "finds its own number"),
    ({"X": np.ones((12, 4)), "n_clusters": "many"}, "whole number or 'auto'"),
    ({"X": np.ones((12, 4))}, "do not separate"),  # twelve identical points
])
def test_cluster_bad_input(kwargs, message):
    with pytest.raises(BackboneLensError, match=message.replace(".", r"\.")):
        cluster(**kwargs)


def test_clustering_registry_is_the_one_table():
    assert CLUSTERING.titles() == {"kmeans": "k-means", "agglomerative": "agglomerative (Ward)", "hdbscan": "HDBSCAN"}
    assert TopicsParams.param("method").choices == CLUSTERING.names()
    assert TopicsParams().k == "auto" and TopicsParams(n_clusters=4).k == 4


# ----------------------------------------------------------------------------- on a tiny model

WORDS = {0: "football goal striker match league", 1: "recipe oven flour baking dough",
         2: "stock market shares bank investor"}


def _texts(n=36):
    rng = np.random.default_rng(0)
    texts, labels = [], []
    for i in range(n):
        c = i % 3
        ws = WORDS[c].split()
        texts.append(" ".join(rng.choice(ws, 6)))
        labels.append(c)
    return texts, labels


def test_topics_end_to_end(tiny_model_dir, tmp_path):
    from core.foundation.cache import ArrayCache
    from core.data.datasets import _make
    from core.models.refs import load_model

    model = load_model(str(tiny_model_dir("bert")), device="cpu")
    texts, labels = _texts()
    ds = _make("tiny-topics", texts, labels, ("class0", "class1", "class2"))
    cache = ArrayCache(tmp_path / "c")
    stages = []
    res = run_topics(model, draw(ds, None), TopicsParams(n_clusters=3, top_n=4), cache=cache,
                     progress=lambda s, f, m: stages.append(s))
    assert {"embeddings", "clusters", "topic words"} <= set(stages)
    assert res.k == 3 and len(res.topics) == 3 and res.n == 36 and res.noise == 0
    assert sum(t.size for t in res.topics) == 36 and [t.size for t in res.topics] == sorted(
        [t.size for t in res.topics], reverse=True)
    assert res.label_cluster_table.shape == (3, 3) and res.label_cluster_table.sum() == 36
    assert (res.label_cluster_table.sum(1) == [t.size for t in res.topics]).all()
    errs = 0
    for t in res.topics:
        assert 0.0 <= t.error_rate <= 1.0 and 0.0 < t.confidence <= 1.0
        assert sum(t.label_mix.values()) == t.size == sum(t.prediction_mix.values())
        assert 1 <= len(t.words) <= 4 and len(t.examples) == min(3, t.size)
        assert all(t.examples[j] == texts[i] for j, i in enumerate(t.example_indices))
        assert set(t.example_indices) <= set(t.members.tolist())
        assert set(t.words) <= set(" ".join(texts[i] for i in t.members).split())
        errs += round(t.error_rate * t.size)
    y = np.array(labels)
    assert res.error_rate == pytest.approx(np.mean(res.predictions != y)) and errs == (res.predictions != y).sum()
    j = res.to_json()
    assert {"method", "n", "n_clusters", "clusters", "silhouette", "k_scores", "error_rate", "seconds"} <= set(j)
    assert "noise" not in j and json.loads(json.dumps(j)) == j
    assert {"id", "size", "top_words", "label_mix", "prediction_mix", "error_rate", "confidence", "examples"} <= set(
        j["clusters"][0])

    rr = run_topics(model, draw(ds, None), TopicsParams(n_clusters=3, top_n=3, rerank=True), cache=cache)
    for t, t0 in zip(rr.topics, res.topics):
        assert len(t.words) == 3 and (np.abs(t.word_scores) <= 1 + 1e-6).all()
        assert list(t.word_scores) == sorted(t.word_scores, reverse=True)
    assert rr.to_json()["word_score"].startswith("cosine")


def test_topics_bare_encoder_has_no_error_rates(tiny_model_dir, tmp_path):
    from core.foundation.cache import ArrayCache
    from core.data.datasets import _make
    from core.models.refs import load_model

    model = load_model(str(tiny_model_dir("bert-mlm")), device="cpu")
    texts, labels = _texts(20)
    ds = _make("tiny-topics", texts, labels, ("class0", "class1", "class2"))
    res = run_topics(model, draw(ds, None), TopicsParams(method="agglomerative"), cache=ArrayCache(tmp_path / "c"))
    assert res.k == 2 and res.error_rate is None and res.predictions is None
    assert all(t.error_rate is None and t.prediction_mix is None for t in res.topics)
    assert any("bare encoder" in n for n in res.notes)
    assert res.label_cluster_table.sum() == 20


# ----------------------------------------------------------------------------- CLI


def _run(*args):
    return subprocess.run([sys.executable, "-m", "core", "topics", *args], cwd=ROOT, capture_output=True, text=True,
                          timeout=300)


@pytest.fixture
def csv_dataset(tmp_path):
    texts, labels = _texts(40)
    p = tmp_path / "topics.csv"
    pd.DataFrame({"text": texts, "label": [f"class{c}" for c in labels]}).to_csv(p, index=False)
    return p


def test_cli_topics_json_and_bad_input(tiny_model_dir, csv_dataset):
    model = str(tiny_model_dir("bert"))
    r = _run("--model", model, "--dataset", str(csv_dataset), "--clusters", "3", "--top-n", "3", "--json", "--quiet")
    assert r.returncode == 0, r.stderr
    out = json.loads(r.stdout)
    assert out["n"] == 40 and out["n_clusters"] == 3 and out["method"] == "kmeans"
    assert sum(c["size"] for c in out["clusters"]) == 40
    assert all(0 <= c["error_rate"] <= 1 and len(c["top_words"]) <= 3 for c in out["clusters"])
    assert "sampled from all of it" in out["split"]

    bad = _run("--model", model, "--dataset", str(csv_dataset), "--n", "6", "--quiet")
    assert bad.returncode == 2 and "Clustering needs at least 10 texts, got 6." in bad.stderr
    assert "Traceback" not in bad.stderr
    bad = _run("--model", model, "--dataset", str(csv_dataset), "--clusters", "few", "--quiet")
    assert bad.returncode == 2 and "whole number or auto" in bad.stderr


def test_cli_topics_human_output_hdbscan(tiny_model_dir, csv_dataset):
    r = _run("--model", str(tiny_model_dir("bert")), "--dataset", str(csv_dataset), "--method", "hdbscan", "--quiet")
    assert r.returncode == 0, r.stderr
    assert "hdbscan clusters of 40 texts" in r.stdout and "noise" in r.stdout
