import numpy as np
import pytest
import torch

from core.foundation.cache import ArrayCache
from core.data.datasets import _make
from core.models.embeddings import extract_embeddings
from core.foundation.errors import BackboneLensError
from core.models.evaluate import evaluate
from core.models.heldout import heldout_sample
from core.models.refs import load_model
from core.models.storage import save_model
from core.training.finetune import TrainConfig, finetune, train_pretrained_head, training_metadata
from core.models.embeddings import predict_proba


def _toy(n=60, seed=0):
    """A separable toy task: label 1 iff the text mentions 'apple'."""
    rng = np.random.default_rng(seed)
    words = ["stone", "river", "cloud", "table", "music", "paper"]
    texts, labels = [], []
    for i in range(n):
        w = list(rng.choice(words, size=int(rng.integers(2, 9))))
        y = i % 2
        if y:
            w.insert(int(rng.integers(0, len(w))), "apple")
        texts.append(" ".join(w))
        labels.append(y)
    return _make("toy", texts, labels, ("other", "apple"))


def test_dynamic_padding_matches_unbatched(tiny_model_dir, tmp_path):
    m = load_model(str(tiny_model_dir("bert")), device="cpu")
    ds = _toy(20)
    e = extract_embeddings(m, ds, batch_size=7, cache=ArrayCache(tmp_path))
    with torch.inference_mode():
        single = np.stack([m.encode(m.tokenize([t])).pooled[0].numpy() for t in ds.texts])
    np.testing.assert_allclose(e.pooled, single, atol=1e-5)
    assert e.probs.shape == (20, 3)
    e2 = extract_embeddings(m, ds, batch_size=7, cache=ArrayCache(tmp_path))
    assert e2.cache_hit and np.array_equal(e.pooled, e2.pooled)


def test_all_layers_and_truncation(tiny_model_dir, tmp_path):
    m = load_model(str(tiny_model_dir("bert")), device="cpu")
    ds = _make("t", ["word " * 100, "short"], None, ())
    e = extract_embeddings(m, ds, all_layers=True, max_length=16, cache=ArrayCache(tmp_path))
    assert e.layer_pooled.shape == (3, 2, 32)
    np.testing.assert_allclose(e.layer_pooled[-1], e.pooled, atol=1e-5)
    assert list(e.truncated) == [True, False] and e.n_tokens[0] == 16


def test_empty_dataset_message(tiny_model_dir):
    m = load_model(str(tiny_model_dir("bert")), device="cpu")
    with pytest.raises(BackboneLensError, match="empty"):
        extract_embeddings(m, _make("e", [], None, ()), use_cache=False)


def test_pretrained_head_learns_separable_task(tiny_model_dir, tmp_path):
    m = load_model(str(tiny_model_dir("bert")), device="cpu")
    m.pooling = "mean"  # a random encoder's mean state carries the trigger word's embedding
    train, val = _toy(120, 0), _toy(40, 1)
    head, res = train_pretrained_head(m, train, val, TrainConfig(epochs=300, lr=5e-3, patience=40),
                                      cache=ArrayCache(tmp_path))
    assert res.val_accuracy >= 0.9, res
    clf = m.with_head(head, train.label_names)
    ev = evaluate(clf, heldout_sample(clf, val), cache=ArrayCache(tmp_path))
    assert ev.accuracy >= 0.9 and ev.confusion_matrix.sum() == 40 and ev.split == "all"


def test_finetune_improves_and_saves_roundtrip(tiny_model_dir, tmp_path):
    m = load_model(str(tiny_model_dir("bert")), device="cpu")
    m.pooling = "mean"
    train, val = _toy(96, 0), _toy(32, 1)
    cfg = TrainConfig(setting="finetuned", epochs=6, batch_size=16, lr=3e-3, encoder_lr=1e-3, patience=20)
    head, res = finetune(m, train, val, cfg)
    assert res.val_accuracy >= 0.8, res.history
    clf = m.with_head(head, train.label_names)
    meta = training_metadata(res, cfg, base_ref="tiny", dataset=train, split_seed=0, n_train=96, n_val=32)
    out = save_model(clf, tmp_path / "saved", meta)
    back = load_model(str(out), device="cpu")
    assert back.label_names == ("other", "apple") and back.metadata["setting"] == "finetuned"
    np.testing.assert_allclose(predict_proba(back, val.texts), predict_proba(clf, val.texts), atol=1e-5)
    assert back.fingerprint == clf.fingerprint


def test_evaluate_uses_heldout_split_when_trained_on_dataset(tiny_model_dir, tmp_path):
    m = load_model(str(tiny_model_dir("bert")), device="cpu")
    data = _toy(200, 0)
    head = torch.nn.Linear(32, 2)
    from core.models.classifier_heads import MLPHead

    clf = m.with_head(MLPHead(32, 2), data.label_names)
    clf.metadata = {"data_fingerprint": data.source_fingerprint, "split": {"seed": 0}}
    ev = evaluate(clf, heldout_sample(clf, data), cache=ArrayCache(tmp_path))
    assert ev.split == "test" and 20 < ev.n < 70 and "held-out" in ev.note


def test_label_the_model_does_not_know(tiny_model_dir):
    m = load_model(str(tiny_model_dir("bert")), device="cpu")
    with pytest.raises(BackboneLensError, match="not one the model knows"):
        evaluate(m, heldout_sample(m, _toy(10)))
