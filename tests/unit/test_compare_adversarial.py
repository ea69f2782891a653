"""Model comparison metrics (hand-worked values) and the attacks on a model with a planted trigger word."""
from __future__ import annotations

import numpy as np
import pytest

from core.analyses.adversarial.attacks import AttackError, AttackParams, attack_minutes, attack_texts, word_diff
from core.analyses.adversarial.candidates import char_candidates, editable, stop_words
from core.analyses.adversarial.detection import (DetectionParams, flagged_rows, precision_at_k, run_detection,
                                                 suspicion_scores)
from core.analyses.compare import (CompareParams, ComparisonError, align_predictions, compare_spaces, knn_indices, lcmc,
                                   linear_cka, pair_matrices, q_nn, run_comparison, trained_dataset)
from core.data.datasets import _make
from core.data.sampling import draw
from core.models.refs import load_model
from tests.unit.test_saliency import KEY, _one_token_model

# ----------------------------------------------------------------------------- Q_NN and LCMC by hand

# points on a line; 1-NN in A: 0→1, 1→0, 2→1, 3→2, 4→3; in B: 0→1, 1→0 (tie with 2: lower index), 2→1, 3→4, 4→3
A_LINE = np.array([[0.0], [1.0], [3.0], [6.0], [10.0]])
B_LINE = np.array([[0.0], [1.0], [2.0], [10.0], [11.0]])


def test_knn_on_a_line_breaks_ties_by_index():
    np.testing.assert_array_equal(knn_indices(A_LINE, 1, metric="euclidean")[:, 0], [1, 0, 1, 2, 3])
    np.testing.assert_array_equal(knn_indices(B_LINE, 1, metric="euclidean")[:, 0], [1, 0, 1, 4, 3])
    np.testing.assert_array_equal(knn_indices(A_LINE, 2, metric="euclidean"),
                                  [[1, 2], [0, 2], [1, 0], [2, 4], [3, 2]])


def test_q_nn_and_lcmc_worked_by_hand():
    A = knn_indices(A_LINE, 2, metric="euclidean")
    B = knn_indices(B_LINE, 2, metric="euclidean")
    # k = 1: four of five nearest neighbours agree (point 3 differs) → 0.8; LCMC = 0.8 − 1/4
    assert q_nn(A, B, 1) == pytest.approx(0.8)
    assert lcmc(A, B, 1) == pytest.approx(0.55)
    # k = 2: B's sets are {1,2} {0,2} {0,1} {2,4} {2,3} — the same sets as A's → 1; LCMC = 1 − 2/4
    assert q_nn(A, B, 2) == pytest.approx(1.0)
    assert lcmc(A, B, 2) == pytest.approx(0.5)
    res = compare_spaces(A_LINE, B_LINE, (1, 2), metric="euclidean", k_points=1)
    assert res.q_nn == pytest.approx((0.8, 1.0))
    np.testing.assert_allclose(res.overlap, [1, 1, 1, 0, 1])


def test_identical_spaces_give_q_nn_one_and_random_ones_chance():
    rng = np.random.default_rng(0)
    X = rng.normal(size=(300, 12))
    same = compare_spaces(X, X.copy(), (5, 10, 20))
    assert same.q_nn == (1.0, 1.0, 1.0)
    other = compare_spaces(X, rng.normal(size=(300, 12)), (5, 10, 20))
    for k, lc in zip(other.ks, other.lcmc):
        assert abs(lc) < 0.05, (k, lc)  # independent neighbourhoods: LCMC ≈ 0


def test_linear_cka_invariances_and_known_value():
    rng = np.random.default_rng(1)
    X = rng.normal(size=(200, 8))
    Q = np.linalg.qr(rng.normal(size=(8, 8)))[0]
    assert linear_cka(X, 3.0 * X @ Q + 5.0) == pytest.approx(1.0)
    # Y keeps one of two independent equal-variance blocks: CKA = ‖X₁ᵀX₁‖² / (‖XᵀX‖ ‖X₁ᵀX₁‖) ≈ 1/√2
    X2 = np.c_[X[:, :4], rng.normal(size=(200, 4))]
    Xc, Yc = X2 - X2.mean(0), X2[:, :4] - X2[:, :4].mean(0)
    expect = np.linalg.norm(Yc.T @ Xc) ** 2 / (np.linalg.norm(Xc.T @ Xc) * np.linalg.norm(Yc.T @ Yc))
    assert linear_cka(X2, X2[:, :4]) == pytest.approx(expect)
    assert 0.6 < expect < 0.8


def test_mismatched_sample_sets_are_refused():
    X = np.random.default_rng(2).normal(size=(20, 4))
    with pytest.raises(ComparisonError, match="differ in size"):
        compare_spaces(X, X[:19])
    texts = [f"text {i}" for i in range(20)]
    with pytest.raises(ComparisonError, match="first difference at row 3"):
        compare_spaces(X, X, (5,), texts_a=texts, texts_b=texts[:3] + ["other"] + texts[4:])
    with pytest.raises(ComparisonError, match="too large"):
        compare_spaces(X, X, (19,))


def test_align_predictions_by_name():
    np.testing.assert_array_equal(align_predictions(("a", "b", "c"), ("c", "a", "b"), np.array([0, 1, 2])),
                                  [2, 0, 1])
    assert align_predictions(("a", "b"), ("x", "y"), np.array([0, 1])) is None


def test_run_comparison_identical_models_and_different_label_sets(tiny_model_dir, tmp_path):
    m1 = load_model(str(tiny_model_dir("bert")), device="cpu")
    m2 = load_model(str(tiny_model_dir("bert")), device="cpu")
    texts = [f"sentence number {i} about {w}" for i, w in enumerate(["cats", "dogs", "rain", "sun"] * 10)]
    ds = _make("t", texts, None, ())
    res = run_comparison([m1, m2], draw(ds, None), CompareParams(k=(3, 5), projections=False))
    p = res.pairs[0]
    assert p.embeddings.q_nn == (1.0, 1.0)
    assert p.cka == pytest.approx(1.0)
    assert p.prediction_agreement == 1.0
    assert res.model_refs[0] != res.model_refs[1]  # the same ref twice is told apart
    out = res.to_json()
    assert [r["k"] for r in out["per_k"]] == [3, 5] and out["prediction_agreement"] == 1.0
    # a model with other label names: embeddings compared, predictions not, and it says so
    m3 = load_model(str(tiny_model_dir("bert")), device="cpu")
    m3.label_names = ("x", "y", "z")
    m3.forget_fingerprints()
    res3 = run_comparison([m1, m3], draw(ds, None), CompareParams(k=(3,), projections=False))
    assert res3.pairs[0].prediction_agreement is None
    assert "label sets differ" in res3.pairs[0].note
    assert res3.top_disagreements(0, 3)[0]["score"] <= 1.0  # no prediction term


# ----------------------------------------------------------------------------- attacks


@pytest.fixture(scope="module")
def trigger():
    return _one_token_model()


def test_word_attack_removes_the_planted_trigger(trigger):
    texts = [f"the food was {KEY} and the service was slow", f"{KEY} weather for a long walk today"]
    r = attack_texts(trigger, texts, labels=[1, 1], params=AttackParams(attack="word", min_similarity=0.0))
    assert [o.status for o in r.outcomes] == ["success", "success"]
    for o in r.outcomes:
        assert o.original_prediction == 1 and o.adversarial_prediction == 0
        assert o.words_changed == 1 and o.changes[0].original == KEY
        assert KEY not in o.adversarial.lower().split()
        assert editable(o.changes[0].replacement, stop_words())
        assert o.queries > 1
    assert r.success_rate == 1.0 and r.mean_words_changed == 1.0
    assert r.queries_per_success == pytest.approx(np.mean([o.queries for o in r.outcomes]))


def test_char_attack_removes_the_planted_trigger(trigger):
    (o,) = attack_texts(trigger, [f"what an {KEY} movie"], labels=[1],
                        params=AttackParams(attack="char", min_similarity=0.0)).outcomes
    assert o.status == "success" and o.words_changed == 1
    assert o.changes[0].original == KEY and o.changes[0].replacement in char_candidates(KEY)


def test_attack_respects_the_change_budget(trigger):
    # three copies of the trigger in five words: 40 % allows two edits, which cannot remove all three
    (o,) = attack_texts(trigger, [f"{KEY} {KEY} {KEY} movie night"], labels=[1],
                        params=AttackParams(attack="word", max_change=0.4, min_similarity=0.0)).outcomes
    assert o.status == "failed" and o.words_changed <= 2
    assert o.adversarial_prediction == 1


def test_stop_words_are_never_edited_and_no_candidates_is_reported(trigger):
    texts = ["it is what it was and will be", f"the {KEY} one"]
    r = attack_texts(trigger, texts, labels=[-1, 1], params=AttackParams(attack="word", min_similarity=0.0))
    first, second = r.outcomes
    assert first.status == "no_candidates" and "stop words" in first.message
    assert first.adversarial == texts[0]
    assert second.status == "success"  # the attack goes on after a text it cannot touch
    assert all(c.original.lower() not in stop_words() for o in r.outcomes for c in o.changes)


def test_mentions_hashtags_and_urls_are_never_edited(trigger):
    text = f"@{KEY} #{KEY} see https://{KEY}.example.com/{KEY} and www.{KEY}.org now"
    (o,) = attack_texts(trigger, [text], labels=[1], params=AttackParams(attack="char", min_similarity=0.0)).outcomes
    assert o.status == "no_candidates" and o.adversarial == text


def test_misclassified_texts_are_skipped(trigger):
    (o,) = attack_texts(trigger, ["a calm evening"], labels=[1],
                        params=AttackParams(attack="char", min_similarity=0.0)).outcomes
    assert o.status == "skipped"


def test_similarity_threshold_blocks_edits(trigger):
    from core.models.refs import load_model as lm

    sim = lm("bundled:minilm", device="cpu")
    (o,) = attack_texts(trigger, [f"the food was {KEY} and the service was slow"], labels=[1],
                        params=AttackParams(attack="char", min_similarity=0.999), similarity_model=sim).outcomes
    assert o.status == "failed" and o.words_changed == 0


def test_bad_attack_settings(trigger):
    with pytest.raises(AttackError, match="word or char"):
        attack_texts(trigger, ["x"], params=AttackParams(attack="glyph"))
    with pytest.raises(AttackError, match="share of the words"):
        attack_texts(trigger, ["x"], params=AttackParams(max_change=0))
    no_mlm = _one_token_model()
    no_mlm.mlm_head = None
    no_mlm.ref = "no-mlm-model"
    with pytest.raises(AttackError, match="char"):
        attack_texts(no_mlm, ["x"], params=AttackParams(attack="word", min_similarity=0.0))


def test_char_candidates_and_diff():
    c = char_candidates("service")
    assert "sevrice" in c and "servce" in c and "ѕervice" in c and "service" not in c
    assert len(set(c)) == len(c)
    assert word_diff("a b c", "a x c") == [("=", "a"), ("-", "b"), ("+", "x"), ("=", "c")]


def test_precision_at_k_and_suspicion_scores():
    assert precision_at_k(np.array([0.9, 0.8, 0.1, 0.7]), np.array([1, 0, 0, 1], bool), 2) == 0.5

    class BG:  # a 2×2 background: left half certain, right half uncertain
        confidence = np.array([[1.0, 0.4], [1.0, 0.4]])

        @staticmethod
        def cell_of(points):
            return np.zeros(len(points), int), (points[:, 0] > 0).astype(int)

    pts = np.array([[-1.0, 0], [-1.1, 0], [-0.9, 0], [1.0, 0], [1.1, 0]])
    probs = np.array([[0.9, 0.1], [0.9, 0.1], [0.8, 0.2], [0.5, 0.5], [0.1, 0.9]])
    s = suspicion_scores(pts, probs, BG, k=2)
    np.testing.assert_allclose(s["background_uncertainty"], [0, 0, 0, 0.6, 0.6])
    assert s["entropy"][3] == pytest.approx(1.0)
    np.testing.assert_allclose(s["neighbour_disagreement"], [0, 0, 0, 0.5, 1.0])


def test_detection_on_the_trigger_model(trigger):
    texts = [f"sample {i} {KEY} text" if i % 2 else f"sample {i} calm text" for i in range(16)]
    r = attack_texts(trigger, texts, labels=[i % 2 for i in range(16)],
                     params=AttackParams(attack="char", min_similarity=0.0))
    # only the trigger can be removed; no edit of a calm text adds it
    assert [o.status == "success" for o in r.outcomes] == [bool(i % 2) for i in range(16)]
    det = run_detection(trigger, r, DetectionParams(k_neighbours=3))
    assert det.is_adversarial.sum() == 8 and len(det.is_adversarial) == 24
    assert set(det.auroc) == {"entropy", "background_uncertainty", "neighbour_disagreement"}
    assert all(0.0 <= v <= 1.0 for v in det.auroc.values())
    rows = flagged_rows(r, det)
    assert rows[0]["status"] == "success" and "[-" in rows[0]["diff"] and rows[0]["entropy_adversarial"] != ""


# ----------------------------------------------------------------------------- helpers for the pages


def test_pair_matrices_of_three_models():
    from types import SimpleNamespace as NS

    pairs = (NS(a=0, b=1, cka=0.9, prediction_agreement=0.8), NS(a=0, b=2, cka=0.5, prediction_agreement=None),
             NS(a=1, b=2, cka=0.4, prediction_agreement=None))
    cka, agree = pair_matrices(NS(model_refs=("x", "y", "z"), pairs=pairs))
    np.testing.assert_allclose(cka, [[1, 0.9, 0.5], [0.9, 1, 0.4], [0.5, 0.4, 1]])
    assert agree[0, 1] == agree[1, 0] == 0.8 and np.isnan(agree[0, 2]) and np.isnan(agree[2, 1])
    np.testing.assert_array_equal(np.diag(agree), [1, 1, 1])


def test_trained_dataset_of_the_classifiers():
    from types import SimpleNamespace as NS

    bbc = NS(has_head=True, metadata={"dataset": "bundled:bbc"})
    bare = NS(has_head=False, metadata={"dataset": "bundled:tweets"})
    assert trained_dataset([bbc, bbc, bare]) == "bundled:bbc"
    assert trained_dataset([bbc, NS(has_head=True, metadata={"dataset": "bundled:tweets"})]) is None
    assert trained_dataset([bare, NS(has_head=True, metadata={})]) is None


def test_comparison_rows_and_sample(tiny_model_dir):
    m1 = load_model(str(tiny_model_dir("bert")), device="cpu")
    m2 = load_model(str(tiny_model_dir("bert")), device="cpu")
    ds = _make("t", [f"text {i} about {w}" for i, w in enumerate(["cats", "dogs", "rain"] * 4)], [0, 1, 2] * 4,
               ("class0", "class1", "class2"))
    sample = draw(ds, 10, seed=1)
    res = run_comparison([m1, m2], sample, CompareParams(k=(2, 3), projections=False, k_points=2))
    assert res.sample is sample and res.n == 10 and res.texts == sample.texts and res.ks == (2, 3)
    rows = res.per_k_rows(0)
    assert [r["k"] for r in rows] == [2, 3] and rows[1]["chance"] == pytest.approx(3 / 9)
    assert rows[0]["q_nn_emb"] == 1.0 and "q_nn_proj" not in rows[0]
    label, p = res.prediction(1, 4)
    assert label in m2.label_names and 0 < p <= 1 and res.true_label(4) == ds.label_names[sample.labels[4]]


def test_attack_params_and_cost():
    assert AttackParams.build({"max_change": 0.5}).max_change == 0.5
    with pytest.raises(ValueError, match="max_change: expected a number from 0.01 to 1"):
        AttackParams.build({"max_change": 0})
    tokens, low, high = attack_minutes(["one two three four five"] * 4, 64, 100)
    assert tokens == pytest.approx(6.5) and 1 <= low <= high
    assert attack_minutes(["word " * 400], 128, 10)[0] == 128  # at most the model's token limit
