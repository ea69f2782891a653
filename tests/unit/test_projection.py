"""The DeepView projection maths on small hand-made cases with known answers."""
import math

import numpy as np
import pytest
import torch
from torch import nn

import core.analyses.projection as P
from core.analyses.projection.distances import _prepare
from core.models.classifier_heads import MLPHead


def _linear_head(d: int = 8, c: int = 3, scale: float = 4.0, seed: int = 0) -> MLPHead:
    """An MLPHead whose class c fires along axis c (confident far from the origin)."""
    torch.manual_seed(seed)
    head = MLPHead(d, c, hidden=d)
    with torch.no_grad():
        head.dense.weight.copy_(torch.eye(d))
        head.dense.bias.zero_()
        head.out.weight.zero_()
        for k in range(c):
            head.out.weight[k, k] = scale
        head.out.bias.zero_()
    return head.eval()


def _blobs(n_per: int = 40, d: int = 8, c: int = 3, spread: float = 0.15, seed: int = 0) -> tuple[np.ndarray, np.ndarray]:
    """c well-separated Gaussian blobs at 2·e_k (+ a common offset so cosine is defined)."""
    rng = np.random.default_rng(seed)
    X, y = [], []
    for k in range(c):
        centre = np.full(d, 0.2)
        centre[k] = 2.0
        X.append(centre + spread * rng.standard_normal((n_per, d)))
        y += [k] * n_per
    return np.concatenate(X).astype(np.float32), np.array(y)


def _probs(head: nn.Module, X: np.ndarray) -> np.ndarray:
    with torch.no_grad():
        return torch.softmax(head(torch.from_numpy(X)), -1).numpy()


# ----------------------------------------------------------------------------- distances


def test_discriminative_distance_is_symmetric_and_positive_across_the_boundary():
    head = _linear_head()
    X, _ = _blobs(10)
    Xt = torch.from_numpy(X)
    rows, cols = np.triu_indices(len(X), 1)
    d_ij = P.discriminative_distances(Xt, head, rows, cols)
    d_ji = P.discriminative_distances(Xt, head, cols, rows)
    np.testing.assert_allclose(d_ij, d_ji, rtol=1e-5, atol=1e-6)
    same = (rows // 10) == (cols // 10)
    assert d_ij[~same].min() > 4 * d_ij[same].max()  # crossing the boundary costs far more


def test_zero_discriminative_distance_when_the_head_is_identical_and_confident_along_the_path():
    d = 6
    head = MLPHead(d, 3)
    with torch.no_grad():
        head.dense.weight.zero_()  # the head ignores its input: same prediction everywhere
        head.out.bias.copy_(torch.tensor([8.0, 0.0, 0.0]))
    X = np.random.default_rng(1).standard_normal((5, d)).astype(np.float32)
    rows, cols = np.triu_indices(5, 1)
    dist = P.discriminative_distances(torch.from_numpy(X), head.eval(), rows, cols)
    assert np.abs(dist).max() < 1e-6
    assert _probs(head, X).max(1).min() > 0.99


def test_discriminative_distance_matches_a_direct_path_computation():
    head = _linear_head(d=4, c=2, scale=3.0)
    x, y = np.array([1.5, -0.5, 0.1, 0.3], np.float32), np.array([-1.0, 1.2, 0.0, -0.2], np.float32)
    m = 10
    ts = np.linspace(0, 1, m + 2)
    ps = _probs(head, np.stack([x + t * (y - x) for t in ts]).astype(np.float32)).astype(np.float64)

    def js(p, q):
        mm = (p + q) / 2
        return 0.5 * np.sum(p * np.log(p / mm)) + 0.5 * np.sum(q * np.log(q / mm))
    expected = sum(math.sqrt(max(js(ps[k], ps[k + 1]), 0)) for k in range(m + 1))
    got = P.discriminative_distances(torch.from_numpy(np.stack([x, y])), head, np.array([0]), np.array([1]),
                                     n_interp=m)
    assert got[0] == pytest.approx(expected, rel=1e-4)


class _Opaque(nn.Module):
    """Wraps a head so that :func:`split_head` cannot see its first linear layer."""

    def __init__(self, head: nn.Module) -> None:
        super().__init__()
        self.inner = head

    def forward(self, x):
        return self.inner(x)


@pytest.mark.parametrize("kind", ["mlp", "bert", "roberta", "distilbert"])
def test_split_head_path_equals_the_full_head(kind, tiny_model_dir):
    if kind == "mlp":
        torch.manual_seed(0)
        head, d = MLPHead(32, 3).eval(), 32
    else:
        from core.models.refs import load_model

        model = load_model(str(tiny_model_dir(kind)), device="cpu")
        head, d = model.head.eval(), model.hidden_size
    assert P.split_head(head).weight is not None
    X = torch.randn(12, d)
    rows, cols = np.triu_indices(12, 1)
    fast = P.discriminative_distances(X, head, rows, cols, n_interp=5)
    slow = P.discriminative_distances(X, _Opaque(head), rows, cols, n_interp=5)
    assert P.split_head(_Opaque(head)).weight is None
    np.testing.assert_allclose(fast, slow, rtol=1e-4, atol=1e-5)


def test_lambda_zero_reduces_to_the_unsupervised_metric():
    head = _linear_head()
    X, _ = _blobs(15)
    g = P.compute_distance_graph(X, head, exact=True)
    np.testing.assert_allclose(g.mixed(0.0), g.d_unsup / g.unsup_scale, rtol=1e-6)
    Xn = X / np.linalg.norm(X, axis=1, keepdims=True)
    cos = 1 - Xn @ Xn.T
    np.testing.assert_allclose(g.d_unsup, cos[g.rows, g.cols], atol=1e-5)
    idx, _ = P.knn_graph(g, 0.0, 6)
    np.fill_diagonal(cos, np.inf)
    brute = np.argsort(cos, 1)[:, :5]
    assert np.mean([len(set(a) & set(b)) / 5 for a, b in zip(idx[:, 1:], brute)]) > 0.99
    assert (idx[:, 0] == np.arange(len(X))).all()
    np.testing.assert_allclose(g.mixed(1.0), g.d_disc / g.disc_scale, rtol=1e-6)


def test_euclidean_metric_and_mixing_scale():
    head = _linear_head()
    X, _ = _blobs(10)
    g = P.compute_distance_graph(X, head, exact=True, metric="euclidean")
    np.testing.assert_allclose(g.d_unsup, np.linalg.norm(X[g.rows] - X[g.cols], axis=1), rtol=1e-4, atol=1e-5)
    # each part is divided by its maximum over a seeded sample of pairs: the global maximum or just below
    assert 0.8 * g.params["global_unsup_max"] <= g.unsup_scale <= g.params["global_unsup_max"]
    assert 0.8 * g.params["global_disc_max"] <= g.disc_scale <= g.params["global_disc_max"]
    assert g.mixed(0.5).max() == pytest.approx(0.5 * g.params["global_disc_max"] / g.disc_scale
                                               + 0.5 * g.params["global_unsup_max"] / g.unsup_scale, rel=0.25)


# ----------------------------------------------------------------------------- sparse vs exact


def test_sparse_candidate_graph_agrees_with_exact_mode():
    head = _linear_head()
    X, _ = _blobs(60, spread=0.3)
    exact = P.compute_distance_graph(X, head, exact=True)
    sparse = P.compute_distance_graph(X, head, n_neighbors=10)
    assert sparse.n_edges < exact.n_edges
    # distances on the shared edges are the same numbers
    key_e = exact.rows * exact.n + exact.cols
    pos = np.searchsorted(key_e, sparse.rows * sparse.n + sparse.cols)
    np.testing.assert_allclose(sparse.d_disc, exact.d_disc[pos], rtol=1e-5, atol=1e-6)
    np.testing.assert_allclose(sparse.d_unsup, exact.d_unsup[pos], rtol=1e-5, atol=1e-6)
    for lam in (0.0, 0.5, 0.8):
        ie, _ = P.knn_graph(exact, lam, 10)
        is_, _ = P.knn_graph(sparse, lam, 10)
        recall = np.mean([len(set(a[1:]) & set(b[1:])) / 9 for a, b in zip(ie, is_)])
        assert recall > 0.9, (lam, recall)
    pe = P.project(exact, X, head, 0.8, n_neighbors=10, resolution=30)
    ps = P.project(sparse, X, head, 0.8, n_neighbors=10, resolution=30)
    assert abs(pe.fidelity.q_knn_error - ps.fidelity.q_knn_error) <= 0.02


def test_candidate_pairs_hold_each_points_nearest_of_every_class():
    rng = np.random.default_rng(0)
    X = rng.standard_normal((50, 5)).astype(np.float32)
    pred = np.arange(50) % 3
    Xp = _prepare(X, "euclidean", torch.device("cpu"))
    rows, cols = P.candidate_pairs(Xp, pred, "euclidean", n_neighbors=4, k_own=6, k_other=2)  # no probs
    assert (rows < cols).all() and len(np.unique(rows * 50 + cols)) == len(rows)
    edges = set(zip(rows.tolist(), cols.tolist()))
    D = np.linalg.norm(X[:, None] - X[None], axis=-1)
    np.fill_diagonal(D, np.inf)
    for i in range(50):
        for c in range(3):
            members = np.flatnonzero(pred == c)
            k = 6 if c == pred[i] else 2
            for j in members[np.argsort(D[i, members])][:k]:
                if j != i:
                    assert (min(i, j), max(i, j)) in edges


# ----------------------------------------------------------------------------- fidelity metrics


def test_q_knn_error_on_a_hand_built_layout():
    a = np.column_stack([np.arange(10.0), np.zeros(10)])
    b = np.column_stack([np.arange(10.0) + 100, np.zeros(10)])
    pts = np.concatenate([a, b])
    labels = np.array([0] * 10 + [1] * 10)
    assert P.q_knn_error(pts, labels, k=5) == 0.0
    labels[3] = 1  # an island: its 5 neighbours all say 0; its neighbours still see ≥ 4 zeros
    assert P.q_knn_error(pts, labels, k=5) == pytest.approx(1 / 20)


def test_q_data_on_a_hand_built_background():
    g = 10
    classes = np.zeros((g, g), np.int64)
    classes[:, 5:] = 1  # right half is class 1
    bg = P.DecisionBackground(extent=(0.0, 1.0, 0.0, 1.0), resolution=g, classes=classes,
                              confidence=np.ones((g, g), np.float32), probs=np.zeros((g, g, 2), np.float32))
    pts = np.array([[0.1, 0.5], [0.2, 0.9], [0.8, 0.1], [0.9, 0.9]])
    assert P.q_data(pts, np.array([0, 0, 1, 1]), bg) == 1.0
    assert P.q_data(pts, np.array([0, 1, 1, 0]), bg) == 0.5
    np.testing.assert_array_equal(bg.class_at(pts), [0, 0, 1, 1])


def test_trustworthiness_matches_sklearn():
    from sklearn.manifold import trustworthiness

    rng = np.random.default_rng(0)
    X = rng.standard_normal((120, 6)).astype(np.float32)
    Y = X[:, :2] + 0.3 * rng.standard_normal((120, 2))
    t, c, m, k = P.trustworthiness_continuity(X, Y, k=7, metric="euclidean")
    assert m == 120 and k == 7
    assert t == pytest.approx(trustworthiness(X, Y, n_neighbors=7), abs=1e-6)
    # continuity is trustworthiness with the roles swapped
    assert c == pytest.approx(trustworthiness(Y, X, n_neighbors=7), abs=1e-6)
    t_id, c_id, _, _ = P.trustworthiness_continuity(Y, Y, k=7, metric="euclidean")
    assert t_id == pytest.approx(1.0) and c_id == pytest.approx(1.0)  # a layout that is the data itself
    assert t < 0.99


def test_inverse_map_returns_the_embedding_at_a_data_point():
    rng = np.random.default_rng(0)
    Y = rng.standard_normal((30, 2))
    X = rng.standard_normal((30, 5)).astype(np.float32)
    np.testing.assert_allclose(P.InverseMap(k=1).fit(Y, X).transform(Y[:4]), X[:4], rtol=1e-6)
    mid = P.InverseMap(k=30).fit(Y, X).transform(np.array([[0.0, 0.0]]))
    assert mid.shape == (1, 5)


def test_fidelity_on_separable_data():
    head = _linear_head()
    X, y = _blobs(60)
    g = P.compute_distance_graph(X, head, n_neighbors=15)
    p = P.project(g, X, head, 0.8, n_neighbors=15, resolution=40)
    assert (p.predictions == y).all()
    assert p.fidelity.q_knn_error <= 0.02
    assert p.fidelity.q_data >= 0.95
    assert p.fidelity.trustworthiness >= 0.85
    assert p.points.shape == (len(X), 2) and np.isfinite(p.points).all()
    bg = p.background
    assert bg.classes.shape == (40, 40) and set(np.unique(bg.classes)) == {0, 1, 2}
    assert 1 / 3 <= bg.confidence.min() and bg.confidence.max() <= 1.0


# ----------------------------------------------------------------------------- bad input


def test_bad_inputs_get_one_clear_message():
    head = _linear_head()
    X, _ = _blobs(10)
    with pytest.raises(P.ProjectionError, match="at least k \\+ 2 = 7 points"):
        P.compute_distance_graph(X[:6], head)
    bad = X.copy()
    bad[4, 2] = np.nan
    with pytest.raises(P.ProjectionError, match="NaN or infinite.*row 4"):
        P.compute_distance_graph(bad, head)
    with pytest.raises(P.ProjectionError, match="expects 8"):
        P.compute_distance_graph(np.ones((20, 5), np.float32), head)
    for lam in (-0.1, 1.5, float("nan")):
        with pytest.raises(P.ProjectionError, match="λ must lie in \\[0, 1\\]"):
            P.check_lambda(lam)
    with pytest.raises(P.ProjectionError, match="single class"):
        P.check_inputs(X, np.tile([0.9, 0.05, 0.05], (len(X), 1)))
    with pytest.raises(P.ProjectionError, match="Unknown metric"):
        P.compute_distance_graph(X, head, metric="manhattan")
    with pytest.raises(P.ProjectionError, match="n ≤ 20"):
        P.compute_distance_graph(X, head, exact=True, max_exact=20)
    with pytest.raises(P.ProjectionError, match="numbers separated by commas"):
        P.parse_lambdas("0,a")
    assert P.parse_lambdas("0, 0.5,1") == (0.0, 0.5, 1.0)
