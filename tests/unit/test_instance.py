"""Instance view: integrated Hessians against closed forms, token interactions of models with known structure,
attribution entropy, and the dataset-level entropy study."""
from __future__ import annotations

import numpy as np
import pytest
import torch

from core.analyses.transformer.instance_view import (EntropyParams, InstanceError, InstanceParams, _panel_nodes,
                                                    attribution_entropy, instance_view, integrated_hessians_tensor,
                                                    panel_edges, run_entropy)
from core.data.sampling import draw
from tests.unit.test_saliency import KEY, _one_token_model


def _ih(f, x, rows=None, steps=16):
    x = torch.as_tensor(x, dtype=torch.float64)
    rows = list(range(x.shape[0])) if rows is None else rows
    return integrated_hessians_tensor(f, x, torch.zeros_like(x), rows, steps=steps).double().numpy()


def test_product_of_two_tokens_splits_evenly():
    """f = (a·x₀)(b·x₁), zero baseline: every Γ_ij = f(x)/4 (Janizek et al.'s multiplicative example)."""
    a, b = torch.tensor([1.0, -2.0], dtype=torch.float64), torch.tensor([0.5, 3.0], dtype=torch.float64)
    x = np.array([[1.5, 0.2], [2.0, -0.4]])
    fx = float((x[0] @ a.numpy()) * (x[1] @ b.numpy()))
    G = _ih(lambda E: (E[:, 0] @ a) * (E[:, 1] @ b), x)
    np.testing.assert_allclose(G, np.full((2, 2), fx / 4), rtol=1e-5)


def test_cubic_monomials_match_closed_forms():
    """f = x₀x₁x₂: all nine entries f/9. f = x₀²x₁: Γ = [[4, 2], [2, 1]]·f/9; rows add up to IG (2f/3, f/3)."""
    x = np.array([[1.5], [2.0], [-0.7]])
    G = _ih(lambda E: E[:, 0, 0] * E[:, 1, 0] * E[:, 2, 0], x)
    np.testing.assert_allclose(G, np.full((3, 3), x.prod() / 9), rtol=1e-5)
    y = np.array([[1.2], [-0.9]])
    fy = y[0, 0] ** 2 * y[1, 0]
    G = _ih(lambda E: E[:, 0, 0] ** 2 * E[:, 1, 0], y)
    np.testing.assert_allclose(G, np.array([[4, 2], [2, 1]]) * fy / 9, rtol=1e-5)
    np.testing.assert_allclose(G.sum(1), [2 * fy / 3, fy / 3], rtol=1e-5)


def test_rows_subset_and_sharp_path_keep_completeness():
    """A steep sigmoid along the path (most change within 0.1 of γ, like a transformer's logit): rows still add
    up to IG, and a subset of rows equals the same rows of the full matrix."""
    w = torch.tensor([[3.0, -1.0], [2.0, 4.0], [-1.5, 0.5]], dtype=torch.float64)

    def f(E):
        return torch.sigmoid(12 * ((E * w).sum((1, 2)) - 2.0)) * (1 + E[:, 0, 0] * E[:, 2, 1])

    x = np.array([[0.6, -0.1], [0.4, 0.3], [-0.2, 0.5]])
    G = _ih(f, x, steps=64)
    xt = torch.as_tensor(x)
    fx, f0 = float(f(xt[None])), float(f(torch.zeros_like(xt)[None]))
    assert G.sum() == pytest.approx(fx - f0, rel=1e-3)
    # IG by a fine midpoint rule
    al = (np.arange(4000) + 0.5) / 4000
    P = torch.as_tensor(al)[:, None, None] * xt[None]
    P.requires_grad_(True)
    (g,) = torch.autograd.grad(f(P).sum(), P)
    ig = (g.mean(0) * xt).sum(1).numpy()
    np.testing.assert_allclose(G.sum(1), ig, rtol=2e-3, atol=1e-6)
    # the panels follow the chosen rows' own variation, so a subset is integrated on slightly different nodes
    np.testing.assert_allclose(_ih(f, x, rows=[2], steps=64)[0], G[2], rtol=5e-3)


def test_panels_follow_the_variation():
    grid = np.linspace(0, 1, 129)
    u = np.tanh(50 * (grid - 0.4))[:, None]  # all change near γ = 0.4
    e = panel_edges(u, grid, 8)
    assert e[0] == 0 and e[-1] == 1 and np.all(np.diff(e) >= 0)
    assert ((e > 0.3) & (e < 0.5)).sum() >= 4  # most panels where u changes
    gam, wh, wg = _panel_nodes(e)
    assert wg.sum() == pytest.approx(1.0, rel=1e-3)  # ∫ −ln γ dγ = 1
    assert wh.sum() == pytest.approx(0.25, rel=1e-3)  # ∫ γ(−ln γ) dγ = 1/4


def test_attribution_entropy_values():
    assert attribution_entropy(np.ones(7)) == pytest.approx(1.0)
    assert attribution_entropy(np.array([0.0, 3.0, 0.0])) == pytest.approx(0.0)
    assert attribution_entropy(np.array([1.0, -1.0, 2.0])) == pytest.approx(
        -(0.25 * np.log(0.25) * 2 + 0.5 * np.log(0.5)) / np.log(3))
    assert attribution_entropy(np.array([5.0])) == 0.0
    assert attribution_entropy(np.zeros(4)) == 0.0


@pytest.fixture(scope="module")
def one_token():
    return _one_token_model()


def test_tokens_that_never_meet_do_not_interact(one_token):
    """Attention and feed-forward outputs are zero, so every state is LayerNorm(own embedding): the logit is a
    sum over tokens and no two tokens interact; KEY carries all the attribution."""
    v = instance_view(one_token, f"the food was {KEY} today", params=InstanceParams(steps=16, max_tokens=8), target=1)
    toks = v.row_tokens
    assert KEY in toks
    k = toks.index(KEY)
    off = v.interactions - np.diag(np.diag(v.interactions))
    assert np.abs(off).max() < 1e-4 * abs(v.interactions[k, k])
    assert abs(v.interactions[k, k]) > 10 * np.abs(np.delete(np.diag(v.interactions), k)).max()
    assert v.completeness_error < 0.02
    assert 0.0 <= v.entropy < 0.3  # evidence on one token
    j = v.to_json()
    assert j["interaction_tokens"] == list(toks) and len(j["interactions"]) == len(toks)


def test_interactions_on_a_real_encoder(tiny_model_dir):
    from core.models.refs import load_model

    m = load_model(str(tiny_model_dir("bert")))
    v = instance_view(m, "the service was slow but the food was great", params=InstanceParams(steps=48, max_tokens=5))
    assert len(v.rows) == 5 and list(v.rows) == sorted(v.rows)
    ig = np.abs(v.attribution.scores)
    assert set(v.rows) == set(np.argsort(-ig)[:5])  # the five most attributed tokens
    assert v.completeness_error < 0.05
    S = v.interactions
    np.testing.assert_allclose(S, S.T, atol=0.05 * np.abs(S).max())  # a Hessian is symmetric
    assert any("interactions for the 5 of" in n for n in v.notes)


@pytest.mark.parametrize("kwargs, msg", [({"text": " "}, "empty"), ({"steps": 2}, "path points"),
                                         ({"max_tokens": 1}, "at least 2"), ({"baseline": "unk"}, "baseline")])
def test_bad_instance_input(one_token, kwargs, msg):
    args = {"text": "a text", **kwargs}
    with pytest.raises(InstanceError, match=msg):
        instance_view(one_token, args.pop("text"), params=InstanceParams(**args))


def test_entropy_study_aurocs_and_cache(tiny_model_dir, tmp_path):
    from sklearn.metrics import roc_auc_score

    from core.foundation.cache import ArrayCache
    from core.data.datasets import TextDataset
    from core.models.refs import load_model

    m = load_model(str(tiny_model_dir("bert")))
    texts = tuple(f"text number {i} says {'good' if i % 2 else 'bad'} things about {'x ' * (i % 5)}" for i in range(24))
    ds = TextDataset("toy", texts, np.arange(24) % 3, ("class0", "class1", "class2"), fingerprint="toy-24")
    cache = ArrayCache(tmp_path)
    st = run_entropy(m, draw(ds, None), EntropyParams(steps=8), cache=cache)
    assert st.n == 24 and not st.cached
    assert np.all((st.entropy >= 0) & (st.entropy <= 1))
    err = ~st.correct
    assert st.auroc_error == pytest.approx(roc_auc_score(err, st.entropy))
    low = st.confidence <= np.quantile(st.confidence, 0.25)
    assert st.auroc_low_confidence == pytest.approx(roc_auc_score(low, st.entropy))
    assert st.auroc_error_length == pytest.approx(roc_auc_score(err, st.n_tokens))
    again = run_entropy(m, draw(ds, None), EntropyParams(steps=8), cache=cache)
    assert again.cached and np.array_equal(again.entropy, st.entropy)
    j = st.to_json()
    assert j["errors"] == int(err.sum()) and j["n"] == 24
    with pytest.raises(InstanceError, match="at least 4"):
        run_entropy(m, draw(ds.subset([0, 1, 2]), None), cache=cache)


def test_interactions_are_cached_on_disk(tiny_model_dir, tmp_path):
    from core.foundation.cache import ArrayCache
    from core.models.refs import load_model

    m = load_model(str(tiny_model_dir("bert")))
    cache = ArrayCache(tmp_path)
    a = instance_view(m, "a quiet film with a loud ending", params=InstanceParams(steps=8, max_tokens=4), cache=cache)
    assert len(list((tmp_path / "interactions").glob("*.npz"))) == 1
    b = instance_view(m, "a quiet film with a loud ending", params=InstanceParams(steps=8, max_tokens=4), cache=cache)
    np.testing.assert_array_equal(a.interactions, b.interactions)
    instance_view(m, "a quiet film with a loud ending", params=InstanceParams(steps=12, max_tokens=4), cache=cache)
    assert len(list((tmp_path / "interactions").glob("*.npz"))) == 2  # other settings, other entry
