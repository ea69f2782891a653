"""Per-layer separability: synthetic layers that separate only from a given depth, a hand-made k-NN vote, and
the layer sweep on a tiny model."""
from __future__ import annotations

import json
import subprocess
import sys

import numpy as np
import pytest

from core.data.datasets import _make
from core.data.sampling import draw
from core.analyses.transformer.layers import (LayerError, LayersParams, knn_accuracy, project_layer, run_layers,
                                              separability_by_layer)
from core.models.refs import load_model
from tests.conftest import ROOT


def _layers_separating_from(depth: int, L: int = 5, n: int = 120, d: int = 16, seed: int = 0):
    """(L+1, n, d) states: isotropic noise up to ``depth − 1``, two well-apart class blobs from ``depth`` on."""
    rng = np.random.default_rng(seed)
    y = np.arange(n) % 2
    out = rng.normal(size=(L + 1, n, d)).astype(np.float32)
    centre = np.zeros((2, d), np.float32)
    centre[0, 0], centre[1, 1] = 8.0, 8.0
    for layer in range(depth, L + 1):
        out[layer] += centre[y]
    return out, y


def test_separation_shows_up_exactly_at_the_planted_layer():
    states, y = _layers_separating_from(3)
    sep = separability_by_layer(states, y, k=5)
    assert sep.chance == 0.5 and sep.n == 120
    assert (sep.knn_accuracy[:3] < 0.7).all()  # noise: near chance
    assert (sep.knn_accuracy[3:] == 1.0).all()
    assert (sep.silhouette[:3] < 0.05).all() and (sep.silhouette[3:] > 0.5).all()
    assert sep.separation_layer() == 3
    j = sep.to_json()
    assert j["separation_layer"] == 3 and [r["layer"] for r in j["layers"]] == list(range(6))


def test_no_separation_layer_when_no_layer_beats_chance():
    """Pure noise with unbalanced labels: the vote never beats the majority share, so no layer is named (before, an
    IndexError) and the JSON, the CLI line and the report's headline say so."""
    from core.analyses.transformer.layers import LayerSeparability
    from reports.sections.layers import _headline, _model_numbers

    s = LayerSeparability("m", 20, 5, np.array([0.55, 0.6, 0.5]), np.zeros(3), 0.6, ("a", "b"), 0.0)
    assert s.separation_layer() is None and s.to_json()["separation_layer"] is None
    nums = _model_numbers(s)
    assert nums["separation_layer"] is None
    assert "at no layer above chance" in _headline({"n": 20, "chance": 0.6, "results": [nums]})
    s2 = LayerSeparability("m", 20, 5, np.array([0.55, 0.7, 0.65]), np.zeros(3), 0.6, ("a", "b"), 0.0)
    assert s2.separation_layer() == 1


def test_knn_vote_by_hand():
    # angles 0°, 2.9°, 90°, 87.1°, 12.5°: each point's nearest (cosine) is its pair partner, except point 4
    X = np.array([[1.0, 0.0], [1.0, 0.05], [0.0, 1.0], [0.05, 1.0], [0.9, 0.2]])
    y = np.array([0, 0, 1, 1, 1])
    # point 4 (label 1) is nearest to point 1 (label 0): the one wrong vote
    acc = knn_accuracy(X, y, k=1)
    assert acc == pytest.approx(4 / 5)


def test_unlabelled_are_left_out_and_bad_inputs_say_why():
    states, y = _layers_separating_from(1, n=40)
    y = y.copy()
    y[:5] = -1
    sep = separability_by_layer(states, y, k=3)
    assert sep.n == 35 and "5 unlabelled" in sep.note
    with pytest.raises(LayerError, match="at least 10 labelled"):
        separability_by_layer(states[:, :8], np.zeros(8, int))
    with pytest.raises(LayerError, match="two labels"):
        separability_by_layer(states, np.zeros(40, int))
    with pytest.raises(LayerError, match="does not fit"):
        separability_by_layer(states, np.arange(40) % 2, k=39)
    with pytest.raises(LayerError, match="Unknown projection"):
        project_layer(states[0], "deepview")


@pytest.mark.parametrize("method", ["pca", "tsne", "umap"])
def test_project_layer_shapes(method):
    states, _ = _layers_separating_from(0, n=30)
    P = project_layer(states[2], method)
    assert P.shape == (30, 2) and np.isfinite(P).all()


def test_layer_sweep_on_a_tiny_model(tiny_model_dir, tmp_path):
    from core.foundation.cache import ArrayCache

    m = load_model(str(tiny_model_dir("bert")), device="cpu")
    texts = [f"{w} text number {i}" for i, w in enumerate(["sports", "cooking", "money"] * 8)]
    ds = _make("t", texts, [i % 3 for i in range(24)], ("class0", "class1", "class2"))
    from core.models.embeddings import extract_embeddings

    res = run_layers(m, draw(ds, None), LayersParams(k=3), cache=ArrayCache(tmp_path))
    sep, emb = res.separability[0], extract_embeddings(m, ds, all_layers=True, cache=ArrayCache(tmp_path))
    assert emb.cache_hit and res.refs == (m.ref,) and res.sample.texts == ds.texts
    assert len(sep.knn_accuracy) == m.num_layers + 1 == emb.layer_pooled.shape[0]
    assert ((0 <= sep.knn_accuracy) & (sep.knn_accuracy <= 1)).all()
    assert sep.label_names == ("class0", "class1", "class2")
    with pytest.raises(LayerError, match="no labels"):
        run_layers(m, draw(_make("u", texts, None, ()), None), cache=ArrayCache(tmp_path))


def test_layers_cli(tiny_model_dir, tmp_path):
    data = tmp_path / "d.csv"
    data.write_text("text,label\n" + "".join(f"sample {w} number {i},class{i % 3}\n"
                                             for i, w in enumerate(["a", "b", "c"] * 6)), "utf-8")

    def run(*args):
        return subprocess.run([sys.executable, "-m", "core", "layers", "--model", str(tiny_model_dir("bert")),
                               "--dataset", str(data), "--label-column", "label", "--quiet", *args], cwd=ROOT,
                              capture_output=True, text=True, timeout=300)
    r = run("--k", "3", "--json")
    assert r.returncode == 0, r.stderr
    out = json.loads(r.stdout)
    assert out["n"] == 18 and len(out["layers"]) == 3 and "separation_layer" in out
    bad = run("--k", "0")
    assert bad.returncode == 2 and "--k must be at least 1" in bad.stderr and "Traceback" not in bad.stderr
