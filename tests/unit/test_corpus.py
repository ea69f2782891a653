"""Corpus audits without a real model: the job and engine switches, the aggregates from hand-made batches (literal
answers), Parquet round trips, the per-batch function's poisoned-row fallback and resuming on the local engine
(tiny BERT built in the test)."""
from __future__ import annotations

import numpy as np
import pytest

from core.analyses.corpus.aggregates import Aggregator, read_aggregates, write_aggregates
from core.analyses.corpus.params import CorpusError, CorpusParams, check_jobs, resolve_engine
from core.analyses.saliency.class_tokens import IDF


def test_jobs_come_back_in_engine_order_and_bad_ones_are_refused():
    assert check_jobs(["class-tokens", " embed", "predict"]) == ("embed", "predict", "class-tokens")
    with pytest.raises(CorpusError, match="does not run faithfulness games"):
        check_jobs(["embed", "games"])
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
