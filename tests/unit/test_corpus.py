"""Corpus audits without a real model: the job and engine switches, the aggregates from hand-made batches (literal
answers), Parquet round trips, the per-batch function's poisoned-row fallback and resuming on the local engine
(tiny BERT built in the test); the saliency, games and attack jobs against the functions they wrap, on the
one-token model whose answer is known."""
from __future__ import annotations

import numpy as np
import pytest

from core.analyses.corpus.aggregates import Aggregator, read_aggregates, write_aggregates
from core.analyses.corpus.params import CorpusError, CorpusParams, check_jobs, resolve_engine
from core.analyses.saliency.class_tokens import IDF


def test_jobs_come_back_in_engine_order_and_bad_ones_are_refused():
    assert check_jobs(["class-tokens", " embed", "predict"]) == ("embed", "predict", "class-tokens")
    with pytest.raises(CorpusError, match="does not run topics"):
        check_jobs(["embed", "topics"])
    assert check_jobs(["attack", "games", "saliency"]) == ("saliency", "games", "attack")
    with pytest.raises(CorpusError, match="did you mean 'entropy'"):
        check_jobs(["entropi"])
    with pytest.raises(CorpusError, match="No corpus job"):
        check_jobs([" "])


def test_engine_comes_from_the_flag_then_the_environment_then_local(monkeypatch):
    monkeypatch.delenv("BACKBONE_LENS_ENGINE", raising=False)
    assert resolve_engine(None) == "local"
    monkeypatch.setenv("BACKBONE_LENS_ENGINE", "Ray")
    assert resolve_engine(None) == "ray" and resolve_engine("local") == "local"
    monkeypatch.setenv("BACKBONE_LENS_ENGINE", "dask")
    with pytest.raises(CorpusError, match="BACKBONE_LENS_ENGINE: unknown engine 'dask'"):
        resolve_engine(None)


def _batch(rows, probs, failed=()):
    return {"row": np.asarray(rows, np.int64), "probs": np.asarray(probs, np.float32),
            "failed_row": np.asarray([r for r, _ in failed], np.int64),
            "failed_error": np.asarray([e for _, e in failed], dtype=np.str_)}


def _aggregates():
    """Five texts in two batches: labels 0 0 1 1 0, row 4 raised; predictions 0 1 1 1 (and none)."""
    params = CorpusParams(jobs=("predict", "class-tokens"), bins=2, top_k=2, min_docs=1)
    agg = Aggregator(("neg", "pos"), np.array([0, 0, 1, 1, 0]), params.jobs, params,
                     rows=np.arange(10, 15), texts=["a", "b", "c", "d", "bad \ud800"])
    agg.add(0, {"predict": _batch([0, 1, 2], [[0.9, 0.1], [0.4, 0.6], [0.2, 0.8]]),
                "class-tokens": {"row": np.array([0, 1, 2]), "predicted": np.array([0, 1, 1]),
                                 "word_row": np.array([0, 0, 1, 2, 2]), "word": np.array(["bad", "film", "good", "good",
                                                                                         "film"]),
                                 "share": np.array([0.75, 0.25, 1.0, 0.5, 0.5]), "failed_row": np.zeros(0, np.int64),
                                 "failed_error": np.zeros(0, np.str_)}})
    agg.add(3, {"predict": _batch([0], [[0.3, 0.7]], failed=[(1, "TypeError: no")])})
    idf = IDF({"film": 9, "good": 1, "bad": 1}, 9, "test")
    return agg.finish(idf=idf)


def test_aggregates_from_hand_made_batches():
    a = _aggregates()
    assert a.summary["texts"] == 5 and a.summary["failed"] == 1 and a.summary["labelled"] == 4
    assert a.summary["accuracy"] == pytest.approx(3 / 4)  # rows 0, 2, 3 right; row 1 wrong
    assert a.summary["mean_confidence"] == pytest.approx((0.9 + 0.6 + 0.8 + 0.7) / 4)
    assert a.confusion.tolist() == [[1, 1], [0, 2]]
    assert [(f.row, f.error, f.text) for f in a.failures] == [(14, "TypeError: no", "bad \\ud800")]
    edges, correct = a.histogram("confidence", "correct")
    assert edges.tolist() == [0.0, 0.5, 1.0] and correct.tolist() == [0, 3]
    assert a.histogram("confidence", "wrong")[1].tolist() == [0, 1]
    assert a.per_class[1][:4] == ("pos", 2, 3, 2)
    # pos: good 1.0 + 0.5, film 0.5 → idf(good) = ln(10/2) + 1, idf(film) = ln(10/10) + 1 = 1
    good = 1.5 * (np.log(10 / 2) + 1)
    assert a.words("pos") == [("good", pytest.approx(good)), ("film", pytest.approx(0.5))]
    assert [w for w, _ in a.words("neg")] == ["bad", "film"]


def test_parquet_round_trip_keeps_every_table(tmp_path):
    a = _aggregates()
    b = read_aggregates(write_aggregates(a, tmp_path / "run", {"n": 5}))
    assert b.summary == pytest.approx(dict(a.summary))
    assert b.histograms == a.histograms and b.per_class == a.per_class and b.failures == a.failures
    assert b.class_tokens == a.class_tokens and (b.confusion == a.confusion).all()
    assert b.label_names == ("neg", "pos")


@pytest.fixture(scope="module")
def tiny(tiny_model_dir):
    from core.models.refs import load_model

    return load_model(str(tiny_model_dir("bert")), device="cpu")


TEXTS = [f"text number {i} about {'cats' if i % 2 else 'dogs and birds'}" for i in range(40)]


def test_a_poisoned_text_is_reported_and_its_neighbours_keep_their_numbers(tiny):
    from core.analyses.corpus.jobs import compute_batch

    p = CorpusParams(jobs=("embed", "predict"), batch_size=8)
    clean = compute_batch(tiny, TEXTS[:8], None, p.jobs, p)
    bad = compute_batch(tiny, TEXTS[:3] + ["x \udfff y"] + TEXTS[4:8], None, p.jobs, p)
    for job in ("embed", "predict"):
        assert bad[job]["failed_row"].tolist() == [3] and "TypeError" in str(bad[job]["failed_error"][0])
        assert bad[job]["row"].tolist() == [0, 1, 2, 4, 5, 6, 7]
    keep = [0, 1, 2, 4, 5, 6, 7]
    np.testing.assert_allclose(bad["embed"]["pooled"], clean["embed"]["pooled"][keep], atol=1e-5)
    np.testing.assert_allclose(bad["predict"]["probs"], clean["predict"]["probs"][keep], atol=1e-5)
    assert clean["embed"]["failed_row"].size == 0


def test_local_engine_resumes_and_adds_a_job_without_recomputing(tiny, tmp_path):
    from core.analyses.corpus.engine import corpus_array, run_corpus
    from core.data.datasets import _make
    from core.foundation.cache import ArrayCache

    ds = _make("tiny corpus", TEXTS, np.arange(40) % 3, ("class0", "class1", "class2"))
    cache = ArrayCache(tmp_path / "arrays")
    p = CorpusParams(jobs=("embed",), batch_size=8)

    def stop_after_two(stage, fraction, message=""):
        if fraction >= 0.4:
            raise KeyboardInterrupt

    with pytest.raises(KeyboardInterrupt):
        run_corpus(tiny, ds, p, engine="local", cache=cache, progress=stop_after_two)
    res = run_corpus(tiny, ds, p, engine="local", cache=cache)
    assert (res.cached, res.computed) == (2, 3)
    written = {f: f.stat().st_mtime_ns for f in (cache.root / "corpus-embed").glob("*.npz")}
    more = run_corpus(tiny, ds, p.replace(jobs=("embed", "predict")), engine="local", cache=cache)
    assert (more.cached, more.computed) == (0, 5)  # every batch lacked its predict entry …
    assert len(written) == 5 and all(f.stat().st_mtime_ns == t for f, t in written.items())  # … no embed again
    assert more.aggregates.summary["accuracy"] == pytest.approx(
        float((corpus_array(more, "predict", "probs").argmax(1) == np.arange(40) % 3).mean()))
    assert read_aggregates(more.folder).summary == pytest.approx(dict(more.aggregates.summary))


def test_a_workers_user_error_is_found_behind_rays_wrapping():
    from core.analyses.corpus.engine import _user_error
    from core.foundation.errors import ModelError

    class Wrapped(RuntimeError):  # what a Ray task error looks like: the worker's exception as ``cause``
        def __init__(self, cause):
            super().__init__("task failed")
            self.cause = cause

    inner = ModelError("The worker loaded m with weights a, the driver b")
    try:
        raise RuntimeError("streaming executor") from Wrapped(inner)
    except RuntimeError as e:
        assert _user_error(e) is inner
    assert _user_error(RuntimeError("a crash")) is None


# ----------------------------------------------------------------------------- saliency, games and attack jobs


def _explain_batches():
    """Four texts in one batch (labels 1 1 0 0): saliency, games and attack arrays made by hand."""
    levels = 11
    hide = np.tile(np.linspace(1, 0, levels), (4, 1))  # the target's probability falls as tokens are hidden
    games = {"row": np.arange(4), "n_tokens": np.array([3, 4, 5, 6]), "target": np.array([1, 1, 0, 1]),
             "failed_row": np.zeros(0, np.int64), "failed_error": np.zeros(0, np.str_)}
    for prefix in ("", "random_"):
        games[f"{prefix}hide_probability"] = hide if not prefix else np.full((4, levels), 0.5)
        games[f"{prefix}reveal_probability"] = hide[:, ::-1] if not prefix else np.full((4, levels), 0.5)
        # the method's order: every text keeps its intact prediction until the last level of hiding
        pred = np.tile(np.array([1, 1, 0, 1])[:, None], (1, levels))
        games[f"{prefix}hide_predicted"] = np.where(np.arange(levels) == levels - 1, 1 - pred, pred)
        games[f"{prefix}reveal_predicted"] = pred
    saliency = {"row": np.arange(4), "n_tokens": np.array([2, 1, 3, 2]), "predicted": np.array([1, 1, 0, 1]),
                "top_share": np.array([0.5, 1.0, 0.4, 0.9]), "entropy": np.array([1.0, 0.0, 0.9, 0.2]),
                "scores": np.ones(8, np.float32), "token_id": np.arange(8),
                "failed_row": np.zeros(0, np.int64), "failed_error": np.zeros(0, np.str_)}
    attack = {"row": np.arange(4), "attacked": np.array([True, True, True, False]),
              "flipped": np.array([True, False, True, False]), "edits": np.array([1, 2, 3, 0]),
              "n_words": np.array([4, 4, 6, 2]), "queries": np.array([10, 20, 30, 5]),
              "similarity": np.array([0.9, 1.0, 0.7, 1.0]), "predicted": np.array([1, 1, 0, 1]),
              "adversarial_predicted": np.array([0, 1, 1, 1]),
              "entropy_original": np.array([0.1, 0.2, 0.3, 0.4]), "entropy_adversarial": np.array([0.9, 0.2, 0.8, 0.4]),
              "confidence_original": np.array([0.9, 0.8, 0.7, 0.6]),
              "confidence_adversarial": np.array([0.6, 0.8, 0.5, 0.6]),
              "failed_row": np.zeros(0, np.int64), "failed_error": np.zeros(0, np.str_)}
    return {"saliency": saliency, "games": games, "attack": attack}


def _explain_aggregates():
    params = CorpusParams(jobs=("saliency", "games", "attack"), bins=2)
    agg = Aggregator(("neg", "pos"), np.array([1, 1, 0, 0]), params.jobs, params, rows=np.arange(4),
                     texts=list("abcd"))
    agg.add(0, _explain_batches())
    return agg.finish()


def test_saliency_games_and_attack_aggregates_from_hand_made_batches(tmp_path):
    a = _explain_aggregates()
    s = a.summary
    # saliency: predictions 1 1 0 1 against labels 1 1 0 0 → rows 0 1 2 right, row 3 wrong
    assert s["saliency_mean_top_share"] == pytest.approx(0.7) and s["saliency_mean_entropy"] == pytest.approx(0.525)
    assert s["saliency_mean_tokens"] == pytest.approx(2.0)
    assert s["auroc_saliency_entropy_error"] == pytest.approx(1 / 3)  # the wrong text's 0.2 beats one of three
    assert a.histogram("saliency_entropy", "wrong")[1].tolist() == [1, 0]
    assert a.histogram("saliency_top_share", "correct")[1].tolist() == [1, 2]
    assert a.saliency_per_class == (("neg", 1, 0.4, 0.9, 3.0), ("pos", 3, pytest.approx(0.8), pytest.approx(0.4),
                                                                     pytest.approx(5 / 3)))
    # games: accuracy against the labels; the method keeps predictions 1 1 0 1 until everything is hidden
    fr, hide = a.game_curve("grad_x_input", "hide")
    assert fr.tolist() == pytest.approx(np.linspace(0, 1, 11).tolist())
    assert hide.tolist() == pytest.approx([0.75] * 10 + [0.25])
    assert a.game_curve("grad_x_input", "reveal", "probability")[1].tolist() == pytest.approx(np.linspace(0, 1, 11))
    assert a.game_curve("random", "hide", "probability")[1].tolist() == pytest.approx([0.5] * 11)
    assert s["games_hide_auc"] == pytest.approx(0.75 - 0.05 * 0.5)  # trapezoid: the last step falls 0.75 → 0.25
    assert s["games_reveal_auc_prob"] == pytest.approx(0.5) and s["games_random_hide_auc_prob"] == pytest.approx(0.5)
    assert s["games_gap"] == pytest.approx(s["games_reveal_auc"] - s["games_hide_auc"])
    assert {r[5] for r in a.games if r[2] == "accuracy"} == {4} and {r[5] for r in a.games} == {4}
    # attack: rows 0 and 2 flipped (1 and 3 edits); rows 0 1 2 are right (the verb's texts)
    assert s["attack_texts"] == 4 and s["attack_success_rate"] == pytest.approx(0.5)
    assert s["attack_success_rate_correct"] == pytest.approx(2 / 3)
    assert s["attack_mean_edits"] == pytest.approx(2.0) and s["attack_queries_per_success"] == pytest.approx(32.5)
    assert s["attack_mean_share_changed"] == pytest.approx((1 / 4 + 3 / 6) / 2)
    assert s["attack_auroc_entropy"] == pytest.approx(1.0)  # every adversarial text is less sure than its original
    assert a.attack_per_class == (("neg", 1, 1, 1.0, 3.0), ("pos", 2, 1, 0.5, 1.0))
    det = {(f, g): (m, k) for f, g, m, k in a.attack_detection}
    assert det["entropy", "original"] == (pytest.approx(0.2), 2)
    assert det["entropy", "adversarial"][0] == pytest.approx(0.85)
    assert det["confidence", "resisted"] == (pytest.approx(0.7), 2)
    b = read_aggregates(write_aggregates(a, tmp_path / "run", {"n": 4}))
    assert b.summary == pytest.approx(dict(a.summary))
    assert b.games == a.games and b.attack_detection == a.attack_detection
    assert b.saliency_per_class == a.saliency_per_class and b.attack_per_class == a.attack_per_class


def test_a_run_written_before_the_new_jobs_reads_back(tmp_path):
    folder = write_aggregates(_aggregates(), tmp_path / "old", {"n": 5})
    for name in ("saliency_per_class", "games", "attack_per_class", "attack_detection"):
        (folder / f"{name}.parquet").unlink()
    old = read_aggregates(folder)
    assert old.games == () and old.attack_detection == () and old.summary["texts"] == 5


@pytest.fixture(scope="module")
def key_model():
    from tests.unit.test_saliency import _one_token_model

    return _one_token_model()


def _key_texts():
    from tests.unit.test_faithfulness import WITH, WITHOUT

    return WITH[:3] + WITHOUT[:3]


def test_saliency_job_gives_explains_numbers(key_model):
    from core.analyses.corpus.explain_jobs import concentration
    from core.analyses.corpus.jobs import compute_batch
    from core.analyses.saliency.registry import explain

    texts = _key_texts()
    p = CorpusParams(jobs=("saliency",), saliency_method="integrated_gradients", saliency_params=("steps=8",))
    a = compute_batch(key_model, texts, None, p.jobs, p)["saliency"]
    ref = explain(key_model, texts, "integrated_gradients", steps=8)
    offsets = np.r_[0, np.cumsum(a["n_tokens"])]
    for j, r in enumerate(ref):
        np.testing.assert_allclose(a["scores"][offsets[j]:offsets[j + 1]], r.scores, atol=1e-6)
        assert a["token_id"][offsets[j]:offsets[j + 1]].tolist() == r.token_ids.tolist()
        assert (a["top_share"][j], a["entropy"][j]) == pytest.approx(concentration(r.scores), nan_ok=True)
    assert a["predicted"].tolist() == [1, 1, 1, 0, 0, 0]
    assert np.isnan(a["top_share"][3:]).all() and (a["entropy"][3:] == 0).all()  # no key: every score is zero
    # the key word carries the has-key texts' evidence: it is their largest score
    for j in range(3):
        toks = a["token_id"][offsets[j]:offsets[j + 1]]
        key_id = key_model.tokenizer.convert_tokens_to_ids("awful")
        assert toks[np.argmax(np.abs(a["scores"][offsets[j]:offsets[j + 1]]))] == key_id


def test_games_job_gives_play_games_numbers_text_by_text(key_model):
    from core.analyses.corpus.jobs import compute_batch
    from core.analyses.saliency.faithfulness import MethodSpec, play_games

    texts = _key_texts()
    p = CorpusParams(jobs=("games",), saliency_method="occlusion", games_seed=3)
    a = compute_batch(key_model, texts, None, p.jobs, p)["games"]
    assert a["hide_probability"].shape == (6, 11)
    for j, t in enumerate(texts):
        res = play_games(key_model, [t], None, [MethodSpec("occlusion")], seed=3)
        for prefix, curve in (("", res.curve("occlusion")), ("random_", res.random)):
            for game in ("hide", "reveal"):
                np.testing.assert_allclose(a[f"{prefix}{game}_probability"][j], getattr(curve, f"{game}_probability"),
                                           atol=1e-5)
                agree = (a[f"{prefix}{game}_predicted"][j] == a["target"][j]).astype(float)  # no labels: agreement
                np.testing.assert_allclose(agree, getattr(curve, f"{game}_accuracy"))
    # hiding the key word first drops the has-key texts' prediction as soon as one token is hidden (level 0.2 hides
    # one of the shortest text's three tokens)
    assert (a["hide_predicted"][:3, 2:] == 0).all() and (a["hide_predicted"][:3, 0] == 1).all()


def test_attack_job_gives_attack_texts_outcomes(key_model):
    from core.analyses.adversarial.attacks import AttackParams, attack_texts
    from core.analyses.corpus.jobs import compute_batch

    texts = _key_texts()
    for kind in ("word", "char"):
        p = CorpusParams(jobs=("attack",), attack_kind=kind, attack_min_similarity=0.0, attack_seed=5)
        a = compute_batch(key_model, texts, None, p.jobs, p)["attack"]
        for j, t in enumerate(texts):  # each text attacked as a one-text list: its batch does not matter
            (o,) = attack_texts(key_model, [t], params=AttackParams(attack=kind, min_similarity=0.0, seed=5)).outcomes
            assert (a["flipped"][j], a["attacked"][j]) == (o.status == "success", o.status != "no_candidates")
            assert (a["edits"][j], a["queries"][j], a["n_words"][j]) == (o.words_changed, o.queries, o.n_words)
            assert (a["predicted"][j], a["adversarial_predicted"][j]) == (o.original_prediction,
                                                                          o.adversarial_prediction)
            assert a["similarity"][j] == pytest.approx(o.similarity)
        assert a["flipped"][:3].all() and (a["edits"][:3] == 1).all()  # the key word replaced: prediction flips
        assert (a["entropy_original"] >= 0).all() and (a["entropy_original"] <= 1).all()
        assert (a["confidence_adversarial"][:3] == pytest.approx(1 - 1 / (1 + np.exp(0.5)), abs=0.05))


def test_attack_job_checks_similarity_with_the_bundled_encoder(key_model):
    from core.analyses.adversarial.attacks import AttackParams, attack_texts
    from core.analyses.corpus.jobs import compute_batch
    from core.models.refs import load_model

    texts = [_key_texts()[0], _key_texts()[3]]
    p = CorpusParams(jobs=("attack",), attack_kind="char")
    a = compute_batch(key_model, texts, None, p.jobs, p)["attack"]
    minilm = load_model("bundled:minilm", device="cpu")
    for j, t in enumerate(texts):
        (o,) = attack_texts(key_model, [t], params=AttackParams(attack="char"), similarity_model=minilm).outcomes
        assert (a["flipped"][j], a["edits"][j], a["queries"][j]) == (o.status == "success", o.words_changed, o.queries)
        assert a["similarity"][j] == pytest.approx(o.similarity, abs=1e-6)
    assert a["flipped"].tolist() == [True, False] and 0.7 <= a["similarity"][0] < 1


def test_new_jobs_skip_a_poisoned_text_and_keep_its_neighbours(key_model):
    from core.analyses.corpus.jobs import compute_batch

    texts = _key_texts()
    p = CorpusParams(jobs=("saliency", "games", "attack"), attack_kind="char", attack_min_similarity=0.0)
    clean = compute_batch(key_model, texts, None, p.jobs, p)
    bad = compute_batch(key_model, texts[:2] + ["x \udfff y"] + texts[3:], None, p.jobs, p)
    keep = [0, 1, 3, 4, 5]
    for job in p.jobs:
        assert bad[job]["failed_row"].tolist() == [2] and bad[job]["row"].tolist() == keep
        assert "Error" in str(bad[job]["failed_error"][0])
    np.testing.assert_allclose(bad["games"]["hide_probability"], clean["games"]["hide_probability"][keep], atol=1e-6)
    assert bad["attack"]["edits"].tolist() == clean["attack"]["edits"][keep].tolist()
    offsets = np.r_[0, np.cumsum(clean["saliency"]["n_tokens"])]
    kept = np.concatenate([clean["saliency"]["scores"][offsets[j]:offsets[j + 1]] for j in keep])
    np.testing.assert_allclose(bad["saliency"]["scores"], kept, atol=1e-6)


def test_new_jobs_run_cached_and_resume_on_the_local_engine(key_model, tmp_path):
    from core.analyses.corpus.engine import run_corpus
    from core.data.datasets import _make
    from core.foundation.cache import ArrayCache
    from tests.unit.test_faithfulness import WITH, WITHOUT

    texts = WITH + WITHOUT
    ds = _make("key corpus", texts, [1] * len(WITH) + [0] * len(WITHOUT), ("other", "has-key"))
    cache = ArrayCache(tmp_path / "arrays")
    p = CorpusParams(jobs=("predict", "saliency", "games", "attack"), batch_size=4, attack_kind="char",
                     attack_min_similarity=0.0)
    first = run_corpus(key_model, ds, p, engine="local", cache=cache)
    assert (first.computed, first.cached) == (3, 0) and not first.failures
    again = run_corpus(key_model, ds, p, engine="local", cache=cache)
    assert (again.computed, again.cached) == (0, 3)
    assert again.aggregates.games == first.aggregates.games
    s = first.aggregates.summary
    assert s["accuracy"] == 1.0 and s["attack_success_rate_correct"] == pytest.approx(0.5)  # the has-key half flips
    assert s["games_hide_auc"] < s["games_random_hide_auc"]  # grad × input finds the key word first
    attack = {f: f.stat().st_mtime_ns for f in (cache.root / "corpus-attack").glob("*.npz")}
    other = run_corpus(key_model, ds, p.replace(games_seed=1), engine="local", cache=cache)
    assert other.computed == 3 and len(list((cache.root / "corpus-games").glob("*.npz"))) == 6  # the seed: new keys
    assert len(attack) == 3 and all(f.stat().st_mtime_ns == t for f, t in attack.items())  # … the attack's kept
    b = read_aggregates(first.folder)
    assert b.attack_per_class == first.aggregates.attack_per_class


def test_a_method_that_needs_a_decoding_head_is_refused_before_any_batch(tiny, tmp_path):
    from core.analyses.corpus.engine import run_corpus
    from core.data.datasets import _make
    from core.foundation.cache import ArrayCache
    from core.foundation.errors import BackboneLensError

    ds = _make("tiny corpus", TEXTS[:8], np.arange(8) % 3, ("class0", "class1", "class2"))
    cache = ArrayCache(tmp_path / "arrays")
    for change, words in (({"jobs": ("saliency",), "saliency_method": "decoded_gradcam"},
                           "decoded_gradcam decodes hidden states through a masked-LM head"),
                          ({"jobs": ("attack",)}, "Or use the character attack"),
                          ({"jobs": ("games",), "saliency_params": ("steps",)}, "saliency_params: write NAME=VALUE"),
                          ({"jobs": ("saliency",), "saliency_method": "occlusion", "saliency_params": ("window=0",)},
                           "occlusion: parameter 'window'")):
        with pytest.raises(BackboneLensError, match=words) as e:
            run_corpus(tiny, ds, CorpusParams(**change), engine="local", cache=cache)
        assert "\n" not in str(e.value)
    assert not cache.root.exists() or not any(cache.root.iterdir())
