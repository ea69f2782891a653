"""The corpus map (``map`` job) on a tiny BERT built in the test: the forward placement against brute force, the
leave-one-out exclusion, the density counts, region reads, caching and poisoned texts."""
from __future__ import annotations

import numpy as np
import pytest

from core.analyses.corpus.params import CorpusError, CorpusParams, check_jobs

WORDS = ["cats", "dogs", "birds", "rain", "sun", "goal", "match", "vote", "bank", "film", "song", "bread"]
TEXTS = [f"{WORDS[i % 12]} and {WORDS[(i * 5) % 12]} then {WORDS[(i * 7 + 3) % 12]} number {i}" for i in range(96)]


@pytest.fixture(scope="module")
def family_bert():
    """The tiny BERT family checkpoint (trained to predict two classes or more; built once in the test cache) and
    the texts of its data file, on which it does."""
    import csv
    import hashlib
    from pathlib import Path

    from core.models.refs import load_model
    from tests.conftest import TEST_CACHE
    from tests.families import build_family

    source = Path(__file__).resolve().parents[1] / "families.py"
    paths = build_family("bert", TEST_CACHE / "families" / hashlib.blake2b(source.read_bytes(), digest_size=6).hexdigest())
    with open(paths["data"], encoding="utf-8") as f:
        rows = list(csv.DictReader(f))
    return load_model(str(paths["classifier"]), device="cpu"), [r["text"] for r in rows]


@pytest.fixture(scope="module")
def tiny(family_bert):
    return family_bert[0]


@pytest.fixture(scope="module")
def mapped(tiny, family_bert, tmp_path_factory):
    """The family's texts (one poisoned) through embed, predict and map, 32 landmarks."""
    from core.analyses.corpus.engine import run_corpus
    from core.data.datasets import _make
    from core.foundation.cache import ArrayCache

    texts = list(family_bert[1])
    assert len(texts) > 50
    texts[50] = "poisoned \udfff text"
    ds = _make("tiny corpus", texts, np.arange(len(texts)) % 3, ("negative", "neutral", "positive"))
    cache = ArrayCache(tmp_path_factory.mktemp("map") / "arrays")
    p = CorpusParams(jobs=("map",), batch_size=16, map_landmarks=32, map_k=5, map_candidates=8, map_grid=12,
                     clusters=4)
    return run_corpus(tiny, ds, p, engine="local", cache=cache), ds, cache, p


def test_map_implies_embed_and_predict():
    assert check_jobs(["map"]) == ("embed", "predict", "map")


def _brute_force(lm, X, P, head, lam):
    """d_λ from every text to every landmark, by discriminative_distances on all pairs."""
    import torch

    from core.analyses.projection.distances import discriminative_distances

    b, m = len(X), len(lm.X)
    rows, cols = np.repeat(np.arange(b), m), b + np.tile(np.arange(m), b)
    Xt = torch.from_numpy(np.concatenate([X, lm.X]).astype(np.float32))
    dd = discriminative_distances(Xt, head, rows, cols, n_interp=lm.n_interp).reshape(b, m)
    Xn = X / np.linalg.norm(X, axis=1, keepdims=True)
    Ln = lm.X / np.linalg.norm(lm.X, axis=1, keepdims=True)
    du = np.clip(1 - Xn @ Ln.T, 0, None)
    return lam * dd / lm.disc_scale + (1 - lam) * du / lm.unsup_scale


def test_neighbours_with_every_landmark_as_candidate_are_the_brute_force_ones(tiny, mapped):
    from core.analyses.corpus.density import landmark_map, landmark_neighbours
    from core.analyses.corpus.engine import corpus_array

    res, ds, cache, p = mapped
    X = corpus_array(res, "embed", "pooled", cache=cache)[:16]
    P = corpus_array(res, "predict", "probs", cache=cache)[:16]
    lm_rows = np.array([r[0] for r in res.aggregates.density.landmarks])
    Xl = corpus_array(res, "embed", "pooled", cache=cache)[lm_rows]
    Pl = corpus_array(res, "predict", "probs", cache=cache)[lm_rows]
    lm = landmark_map(tiny, Xl, Pl, lm_rows, [ds.texts[i] for i in lm_rows], p, cache=cache)
    idx, dist = landmark_neighbours(X, P, lm, tiny.head, lam=p.map_lam, k=5, candidates=len(lm.X))
    full = _brute_force(lm, X, P, tiny.head, p.map_lam)
    np.testing.assert_allclose(dist, np.sort(full, 1)[:, :5], rtol=1e-4, atol=1e-5)
    np.testing.assert_allclose(np.take_along_axis(full, idx, 1), dist, rtol=1e-4, atol=1e-5)
    # leave-one-out: a landmark never picks itself, and otherwise finds the brute-force neighbours
    ex = np.arange(len(lm.X))
    idx2, dist2 = landmark_neighbours(lm.X, lm.probs, lm, tiny.head, lam=p.map_lam, k=5, candidates=len(lm.X),
                                      exclude=ex)
    assert not (idx2 == ex[:, None]).any()
    full2 = _brute_force(lm, lm.X, lm.probs, tiny.head, p.map_lam)
    full2[ex, ex] = np.inf
    np.testing.assert_allclose(dist2, np.sort(full2, 1)[:, :5], rtol=1e-4, atol=1e-5)


def test_placement_weights_are_umaps_transform_initialisation():
    """Given the same neighbours, :func:`membership_weights` averages positions exactly as umap-learn's transform
    starts: compute_membership_strengths (bipartite, local connectivity 0) then init_graph_transform."""
    import scipy.sparse
    from umap.umap_ import compute_membership_strengths, init_graph_transform, smooth_knn_dist

    from core.analyses.corpus.density import membership_weights

    rng = np.random.default_rng(0)
    emb = rng.normal(size=(9, 2)).astype(np.float32)  # the landmarks' map positions
    idx = np.array([[0, 3, 5, 7], [2, 1, 8, 4], [6, 6 - 1, 0, 1]], np.int64)
    d = np.sort(rng.uniform(0.05, 1.0, size=(3, 4)).astype(np.float32), 1)
    d[2, :2] = 0.3  # a tie
    sig, rho = smooth_knn_dist(d, 4.0, local_connectivity=0.0)
    rows, cols, vals, _ = compute_membership_strengths(idx, d, sig, rho, bipartite=True)
    graph = scipy.sparse.coo_matrix((vals, (rows, cols)), shape=(3, 9)).tocsr()
    want = init_graph_transform(graph, emb)
    w = membership_weights(d)
    assert w.sum(1) == pytest.approx([1.0, 1.0, 1.0]) and (np.diff(w, axis=1) <= 1e-12).all()
    np.testing.assert_allclose(np.einsum("bk,bkj->bj", w, emb[idx]), want, rtol=1e-5, atol=1e-6)


def test_every_text_but_the_poisoned_one_is_placed_and_counted(mapped):
    import pandas as pd

    res, ds, cache, p = mapped
    d = res.aggregates.density
    assert [f.row for f in res.failures] == [50]
    n = len(ds)
    assert d.counts.shape == (3, 3, 12, 12) and int(d.counts.sum()) == n - 1
    placed = pd.read_parquet(res.folder / "placements.parquet")
    assert sorted(placed["position"]) == [i for i in range(n) if i != 50]
    assert (placed["cell"].diff().dropna() >= 0).all()  # sorted by cell: region reads skip row groups
    # outcome and prediction per text agree with the predict job
    from core.analyses.corpus.engine import corpus_array

    probs = corpus_array(res, "predict", "probs", cache=cache)
    pl = placed.set_index("position").sort_index()
    assert (pl["predicted"].to_numpy() == probs.argmax(1)[pl.index]).all()
    truth = (np.arange(n) % 3)[pl.index]
    assert (pl["outcome"].to_numpy() == np.where(truth == pl["predicted"].to_numpy(), 0, 1)).all()
    wrong = int((pl["outcome"] == 1).sum())
    assert int(d.counts[1].sum()) == wrong and sum(r[3] for r in d.clusters) == wrong
    assert sum(r[1] for r in d.clusters) == n - 1
    # landmarks keep their map positions; every placed text lies inside the map's extent
    lm = {r[0]: (r[2], r[3]) for r in d.landmarks}
    assert len(lm) == 32 and 50 not in lm
    for pos, (x, y) in lm.items():
        assert (pl.loc[pos, "x"], pl.loc[pos, "y"]) == pytest.approx((x, y), abs=1e-5)
    x0, x1, y0, y1 = d.extent
    assert pl["x"].between(x0, x1).all() and pl["y"].between(y0, y1).all()
    for key in ("map_q_data", "placed_q_data", "loo_q_data", "loo_median_shift"):
        assert d.checks[key] is not None and np.isfinite(d.checks[key])


def test_region_reads_exactly_the_texts_in_the_box(mapped):
    import pandas as pd

    from core.analyses.corpus.density import region

    res = mapped[0]
    placed = pd.read_parquet(res.folder / "placements.parquet")
    box = tuple(placed[c].quantile(q).tolist() for c in ("x", "y") for q in ((0.2, 0.7),))
    inside = placed[placed["x"].between(*box[0]) & placed["y"].between(*box[1])]
    frame, total = region(res.folder, box[0], box[1], limit=1000)
    assert total == len(inside) > 0 and sorted(frame["position"]) == sorted(inside["position"])
    assert frame["confidence"].is_monotonic_increasing
    wrong, n_wrong = region(res.folder, box[0], box[1], outcome="wrong", limit=3)
    assert n_wrong == int((inside["outcome"] == 1).sum()) and len(wrong) == min(3, n_wrong)
    with pytest.raises(CorpusError, match="Unknown outcome 'bad'"):
        region(res.folder, box[0], box[1], outcome="bad")


def test_the_map_is_read_back_and_a_rerun_places_nothing(mapped, tiny, monkeypatch):
    from core.analyses.corpus import density
    from core.analyses.corpus.aggregates import read_aggregates
    from core.analyses.corpus.engine import run_corpus

    res, ds, cache, p = mapped
    back = read_aggregates(res.folder).density
    d = res.aggregates.density
    assert (back.counts == d.counts).all() and back.extent == pytest.approx(d.extent)
    assert (back.bg_classes == d.bg_classes).all() and back.landmarks == d.landmarks
    assert len(back.clusters) == len(d.clusters)
    for a, b in zip(back.clusters, d.clusters):
        assert a[:4] == b[:4] and a[7:9] == b[7:9] and a[12] == b[12]

    def no(*a, **k):
        raise AssertionError("placed again")

    monkeypatch.setattr(density, "place", no, raising=True)
    monkeypatch.setattr(density, "_checks", lambda *a, **k: dict(d.checks), raising=True)
    again = run_corpus(tiny, ds, p, engine="local", cache=cache)
    assert again.computed == 0 and (again.aggregates.density.counts == d.counts).all()


def test_a_map_that_cannot_be_drawn_is_a_note_and_the_other_aggregates_stand(tiny, tmp_path):
    from core.analyses.corpus.engine import run_corpus
    from core.data.datasets import _make
    from core.foundation.cache import ArrayCache

    ds = _make("five", TEXTS[:5], np.arange(5) % 3, ("negative", "neutral", "positive"))
    res = run_corpus(tiny, ds, CorpusParams(jobs=("map",), batch_size=4), engine="local",
                     cache=ArrayCache(tmp_path / "a"))
    assert res.aggregates.density is None and res.aggregates.summary["texts"] == 5
    assert len(res.notes) == 1 and "The corpus map was not drawn" in res.notes[0] and "at least 7 texts" in res.notes[0]
    assert not (res.folder / "map.json").exists() and (res.folder / "summary.parquet").exists()


def test_a_batch_whose_every_text_failed_is_placed_empty(tiny, family_bert, tmp_path):
    """The last batch holds one text, and it raises: the map is drawn from the others."""
    from core.analyses.corpus.engine import run_corpus
    from core.data.datasets import _make
    from core.foundation.cache import ArrayCache

    texts = list(family_bert[1])[:32] + ["alone \udfff and poisoned"]
    ds = _make("tail", texts, np.arange(33) % 3, ("negative", "neutral", "positive"))
    res = run_corpus(tiny, ds, CorpusParams(jobs=("map",), batch_size=16, map_landmarks=20, map_grid=10, clusters=3),
                     engine="local", cache=ArrayCache(tmp_path / "a"))
    assert not res.notes and [f.row for f in res.failures] == [32]
    assert int(res.aggregates.density.counts.sum()) == 32


def test_a_rewritten_folder_keeps_no_map_or_layers_of_an_earlier_run(mapped, tmp_path):
    import shutil
    from dataclasses import replace

    from core.analyses.corpus.aggregates import read_aggregates, write_aggregates

    res = mapped[0]
    folder = tmp_path / "out"
    shutil.copytree(res.folder, folder)
    (folder / "layers.parquet").write_bytes((folder / "summary.parquet").read_bytes())
    write_aggregates(replace(res.aggregates, density=None, layers=()), folder, {"n": 1})
    back = read_aggregates(folder)
    assert back.density is None and back.layers == () and not (folder / "placements.parquet").exists()


def test_the_report_section_shows_the_map_from_the_aggregates(mapped):
    from core.analyses.corpus.aggregates import read_aggregates
    from reports.render import render_section
    from reports.sections.corpus import corpus_fragment
    from tests.reports.helpers import assert_no_markup

    res = mapped[0]
    agg = read_aggregates(res.folder)
    d = corpus_fragment(agg, context={"jobs": list(res.jobs), "engine": "local", "batches": len(res.plans),
                                      "batch_size": 16, "computed_batches": 0, "cached_batches": len(res.plans)})
    m = d["map"]
    assert m["figure_density"]["svg"].startswith("<svg") and m["figure_error_rate"]["svg"].startswith("<svg")
    assert d["metrics"]["map_q_data"] == agg.density.checks["map_q_data"]
    lifts = [c["lift"] for c in m["clusters"] if c["lift"] is not None]
    assert lifts == sorted(lifts, reverse=True)
    if m["worst"] is not None and m["worst"]["lift"] > 1:
        assert d["metrics"]["max_cluster_lift"] == m["worst"]["lift"]
        assert any(f"Errors concentrate in cluster {m['worst']['cluster']}" in f for f in d["findings"])
    html = render_section({"kind": "corpus", "title": "Corpus audit", "anchor": "s1-corpus", "data": d})
    assert_no_markup(html)
    assert "The corpus map" in html and "Clusters by error rate" in html and "landmark spacings" in html
    # a snapshot written before the map, the layers and the explaining jobs existed still renders
    old = {k: v for k, v in d.items() if k not in ("map", "figure_games", "figure_layers", "figure_saliency_entropy",
                                                   "attack", "saliency_method", "attack_kind", "notes")}
    old["metrics"] = {k: v for k, v in d["metrics"].items() if k in ("texts", "failed", "accuracy", "mean_confidence",
                                                                     "mean_entropy", "auroc_entropy_error")}
    html = render_section({"kind": "corpus", "title": "Corpus audit", "anchor": "s1-corpus", "data": old})
    assert "The corpus map" not in html and "Texts audited" in html


def test_layer_scores_from_hand_made_batches():
    """Two classes along two axes: layer 0 mixes them, layer 1 separates them; the Fisher ratio and the
    nearest-centroid accuracy follow from the formulas (checked against numpy on all rows at once)."""
    from core.analyses.corpus.layers import layer_table

    rng = np.random.default_rng(0)
    n, d = 40, 3
    labels = np.repeat([0, 1], n // 2)
    L = np.zeros((n, 2, d))
    L[:, 0] = rng.normal(size=(n, d)) + 5.0  # no class signal
    L[:, 1] = np.where(labels[:, None] == 0, [3.0, 0.0, 0.0], [0.0, 3.0, 0.0]) + rng.normal(0, 0.3, size=(n, d))
    entries = {f"k{s}": {"row": np.arange(10), "layer_pooled": L[s:s + 10].astype(np.float16)} for s in range(0, n, 10)}
    rows = layer_table([(s, f"k{s}") for s in range(0, n, 10)], entries.get, labels, np.full(n, -1))
    assert [r[0] for r in rows] == [0, 1] and rows[0][1] == "true label" and rows[0][2] == n
    assert rows[1][3] == 1.0 and rows[0][3] < 0.9 and rows[0][5] == 0.5
    for layer in (0, 1):
        U = L[:, layer].astype(np.float16).astype(np.float64)
        U /= np.linalg.norm(U, axis=1, keepdims=True)
        mu = np.stack([U[labels == c].mean(0) for c in (0, 1)])
        W = sum(((U[labels == c] - mu[c]) ** 2).sum() for c in (0, 1))
        B = sum((labels == c).sum() * ((mu[c] - U.mean(0)) ** 2).sum() for c in (0, 1))
        assert rows[layer][4] == pytest.approx((B / 1) / (W / (n - 2)), rel=1e-6)
    assert rows[1][4] > 10 * rows[0][4]
    # no labels: grouped by the predicted classes
    assert layer_table([(s, f"k{s}") for s in range(0, n, 10)], entries.get, np.full(n, -1), labels)[0][1] == \
        "predicted class"
    assert layer_table([(0, "k0"), (10, "k10")], entries.get, labels, labels) == ()  # one class only: no scores


def test_all_layers_run_keeps_every_layer_and_scores_it(tiny, family_bert, tmp_path):
    from core.analyses.corpus.aggregates import read_aggregates
    from core.analyses.corpus.engine import corpus_array, run_corpus
    from core.data.datasets import _make
    from core.foundation.cache import ArrayCache

    texts = list(family_bert[1])[:24]
    ds = _make("tiny corpus", texts, np.arange(24) % 3, ("negative", "neutral", "positive"))
    res = run_corpus(tiny, ds, CorpusParams(jobs=("embed", "predict"), batch_size=8, all_layers=True),
                     engine="local", cache=ArrayCache(tmp_path / "a"))
    lp = corpus_array(res, "embed", "layer_pooled", cache=ArrayCache(tmp_path / "a"))
    assert lp.shape == (24, tiny.num_layers + 1, tiny.hidden_size) and lp.dtype == np.float16
    np.testing.assert_allclose(lp[:, -1].astype(np.float32), corpus_array(res, "embed", "pooled",
                                                                          cache=ArrayCache(tmp_path / "a")),
                               rtol=2e-2, atol=2e-2)  # the last layer's pooled state is the embedding
    rows = res.aggregates.layers
    assert len(rows) == tiny.num_layers + 1 and all(0 <= r[3] <= 1 and r[4] >= 0 for r in rows)
    assert \
        [r[:3] for r in read_aggregates(res.folder).layers] == [r[:3] for r in rows]
    from reports.sections.corpus import corpus_fragment

    frag = corpus_fragment(read_aggregates(res.folder), context={"jobs": list(res.jobs)})
    assert frag["figure_layers"]["svg"].startswith("<svg") and frag["map"] is None
