"""The projection glue: label mapping by name, caching per graph and per λ, projection files."""
import numpy as np
import pytest

from core.foundation.cache import ArrayCache
from core.data.datasets import _make
from core.analyses.projection.params import ProjectionParams
from core.analyses.projection.run import load_projection_file, model_labels, run_projection, save_projection
from core.data.sampling import draw
from core.foundation.errors import BackboneLensError
from core.models.refs import load_model
from core.models.embeddings import predict_proba

TEXTS = [f"{w} number {i} is here" for i, w in enumerate(["red apples", "blue skies", "green trees", "tall towers",
                                                          "fast cars", "warm soup"] * 6)]


@pytest.fixture(scope="module")
def tiny(tiny_model_dir):
    """The tiny BERT encoder with a sharp random MLP head, so that its predictions cover all three classes."""
    import torch

    from core.models.embeddings import extract_embeddings
    from core.models.classifier_heads import MLPHead
    
    base = load_model(str(tiny_model_dir("bert")), device="cpu")
    X = extract_embeddings(base, _make("t", TEXTS, None, []), use_cache=False).pooled
    torch.manual_seed(0)
    head = MLPHead(base.hidden_size, 3)
    Xc = X - X.mean(0)
    _, sv, vt = np.linalg.svd(Xc, full_matrices=False)
    with torch.no_grad():  # the head reads the first two principal components of these texts' embeddings
        head.dense.weight.zero_()
        head.dense.bias.zero_()
        head.dense.weight[:2] = torch.from_numpy(2.0 * vt[:2] / (sv[:2, None] / np.sqrt(len(X))))
        head.dense.bias[:2] = -(head.dense.weight[:2] @ torch.from_numpy(X.mean(0)))
        head.out.weight.zero_()
        head.out.bias.zero_()
        head.out.weight[0, 0], head.out.weight[1, 0], head.out.weight[2, 1] = 6.0, -6.0, 6.0
    model = base.with_head(head, ["class0", "class1", "class2"])
    assert len(np.unique(predict_proba(model, TEXTS).argmax(1))) == 3
    return model


def test_true_labels_are_matched_to_the_model_by_name(tiny):
    # the dataset orders its names differently from the model (class0, class1, class2)
    ds = _make("t", TEXTS[:6], [0, 1, 2, 0, 1, -1], ["class2", "class0", "class1"])
    labels, note = model_labels(tiny, ds)
    np.testing.assert_array_equal(labels, [2, 0, 1, 2, 0, -1])
    assert note == ""
    foreign = _make("t", TEXTS[:3], [0, 1, 0], ["pos", "neg"])
    labels, note = model_labels(tiny, foreign)
    assert (labels == -1).all() and "not the model's" in note


def test_graph_and_projection_are_cached_and_saved(tiny, tmp_path):
    ds = draw(_make("t", TEXTS, np.arange(len(TEXTS)) % 3, ["class0", "class1", "class2"]), None)
    cache = ArrayCache(tmp_path / "cache")
    params = ProjectionParams(lam=0.8, neighbors=8, resolution=20)
    first = run_projection(tiny, ds, params, cache=cache)
    assert not first.graph_cache_hit and not first.projection_cache_hit
    again = run_projection(tiny, ds, params, cache=cache)
    assert again.graph_cache_hit and again.projection_cache_hit
    np.testing.assert_array_equal(first.projection.points, again.projection.points)
    other = run_projection(tiny, ds, params.replace(lam=0.3), cache=cache)
    assert other.graph_cache_hit and not other.projection_cache_hit
    path = save_projection(first, tmp_path / "p.npz")
    arrays, meta = load_projection_file(path)
    np.testing.assert_array_equal(arrays["points"], first.projection.points)
    assert meta["lam"] == 0.8 and meta["n"] == len(TEXTS) and list(arrays["texts"]) == TEXTS
    with pytest.raises(BackboneLensError, match="exists"):
        save_projection(first, path)
    (tmp_path / "bad.npz").write_bytes(b"not a zip")
    with pytest.raises(BackboneLensError, match="not a Backbone Lens projection file"):
        load_projection_file(tmp_path / "bad.npz")
