"""Head importance on a BERT with one head wired to carry the decision; attribution completeness; the pruning check."""
from __future__ import annotations

import numpy as np
import pytest
import torch
from torch import nn

from core.analyses.transformer.head_importance import (HeadError, attention_attribution_importance, head_importance, head_mask, head_shape, mask_gradient_importance, pruning_ks)
from core.models.loading import LoadedModel
from core.models.refs import load_model
from tests.conftest import _minilm_dir
from tests.unit.test_saliency import KEY, plant_key

WIRED = (0, 1)  # (layer, head) that carries the decision


def _wired_model() -> LoadedModel:
    """A 2-layer, 2-head BERT (CLS pooling) whose prediction depends on KEY only through head (0, 1).

    Every layer's attention output and feed-forward output are zero except head (0, 1): it attends uniformly
    (zero queries and keys), reads the u = e0 − e1 component of each token (only KEY's embedding has one) and
    writes it, scaled, into the CLS state; the classifier reads u from CLS: logit₁ = 4·(u·cls) − 0.5.
    """
    from transformers import AutoTokenizer, BertConfig, BertModel

    torch.manual_seed(0)
    tok = AutoTokenizer.from_pretrained(_minilm_dir())
    d, H = 16, 2
    dh = d // H
    cfg = BertConfig(vocab_size=tok.vocab_size, hidden_size=d, num_hidden_layers=2, num_attention_heads=H,
                     intermediate_size=32, max_position_embeddings=64, hidden_dropout_prob=0.0,
                     attention_probs_dropout_prob=0.0)
    bert = BertModel(cfg, add_pooling_layer=False).eval()
    u = plant_key(bert, tok)
    with torch.no_grad():
        att = bert.encoder.layer[WIRED[0]].attention
        rows = slice(WIRED[1] * dh, (WIRED[1] + 1) * dh)
        for lin in (att.self.query, att.self.key, att.self.value):
            lin.weight[rows] = 0.0
            lin.bias[rows] = 0.0
        att.self.value.weight[WIRED[1] * dh] = u  # the head's first value dimension = u · x
        att.output.dense.weight[:, WIRED[1] * dh] = 10.0 * u  # … written back along u
    head = nn.Linear(d, 2)
    with torch.no_grad():
        head.weight.zero_()
        head.weight[1] = 4 * u
        head.bias.copy_(torch.tensor([0.0, -0.5]))
    return LoadedModel(ref="wired-head", path=None, tokenizer=tok, encoder=bert, head=head.eval(), mlm_head=None,
                       label_names=("other", "has-key"), pooling="cls", max_length=64, model_type="bert")


TEXTS = [f"the food was {KEY} today", f"an {KEY} long queue", "a calm evening at home", "the service was fine",
         f"what an {KEY} film", "nice weather for a walk"]
LABELS = np.array([1, 1, 0, 0, 1, 0])


@pytest.fixture(scope="module")
def wired():
    m = _wired_model()
    with torch.no_grad():
        preds = m.logits(m.encode(m.tokenize(TEXTS)).pooled).argmax(1).numpy()
    assert (preds == LABELS).all(), preds  # the wiring works as intended
    return m


def test_masking_the_wired_head_removes_the_decision(wired):
    L, H = head_shape(wired)
    assert (L, H) == (2, 2)
    mask = torch.ones(L, H)
    mask[WIRED] = 0.0
    with torch.no_grad(), head_mask(wired, mask):
        preds = wired.logits(wired.encode(wired.tokenize(TEXTS)).pooled).argmax(1).numpy()
    assert (preds == 0).all()
    for other in [(0, 0), (1, 0), (1, 1)]:
        m2 = torch.ones(L, H)
        m2[other] = 0.0
        with torch.no_grad(), head_mask(wired, m2):
            assert (wired.logits(wired.encode(wired.tokenize(TEXTS)).pooled).argmax(1).numpy() == LABELS).all()


@pytest.mark.parametrize("method", ["attribution", "mask"])
def test_importance_ranks_the_wired_head_first_and_the_pruning_check_shows_it(wired, method):
    res = head_importance(wired, TEXTS, labels=LABELS, method=method, steps=8)
    assert res.ranking()[0] == WIRED
    others = np.delete(np.abs(res.importance).ravel(), WIRED[0] * 2 + WIRED[1])
    assert np.abs(res.importance[WIRED]) > 0 and (others < 1e-6 * np.abs(res.importance[WIRED])).all()
    p = res.pruning
    assert p.ks == (0, 1, 2, 3, 4) and p.reference == "true labels"
    assert p.most_first[0] == 1.0 and p.most_first[1] == 0.5  # the wired head goes first: KEY texts flip
    assert (p.least_first[:4] == 1.0).all() and p.least_first[4] == 0.5  # it goes last
    assert res.spearman is not None and res.spearman > 0.5  # the two methods agree on the ranking


def test_attribution_is_complete_per_layer(tiny_model_dir):
    """Σ_h Attr_{l,h} = F(ξ_l = 1) − F(ξ_l = 0) for the explained logit (integrated-gradients completeness)."""
    m = load_model(str(tiny_model_dir("bert")), device="cpu")
    text = "completeness holds for any model"
    A = attention_attribution_importance(m, [text], steps=16)
    L, H = head_shape(m)
    batch = m.tokenize([text])
    with torch.no_grad():
        lg = m.logits(m.encode(batch).pooled)[0]
        c = int(lg.argmax())
        for layer in range(L):
            z = torch.ones(L, H)
            z[layer] = 0.0
            with head_mask(m, z):
                f0 = float(m.logits(m.encode(batch).pooled)[0, c])
            assert A[layer].sum() == pytest.approx(float(lg[c]) - f0, abs=1e-4)


def test_mask_gradient_matches_finite_differences(tiny_model_dir):
    m = load_model(str(tiny_model_dir("bert")), device="cpu")
    m.encoder.double()
    m.head.double()  # finite differences in double precision; the gradient itself is read from float32 logits
    text, label = "a finite difference check", 1
    G = mask_gradient_importance(m, [text], labels=[label])
    L, H = head_shape(m)
    batch = m.tokenize([text])
    eps = 1e-4

    def loss(mask: torch.Tensor) -> float:
        with torch.no_grad(), head_mask(m, mask.double()):
            return float(nn.functional.cross_entropy(m.logits(m.encode(batch).pooled), torch.tensor([label])))
    for layer, h in [(0, 0), (0, 1), (1, 0), (1, 1)]:
        up, down = torch.ones(L, H), torch.ones(L, H)
        up[layer, h] += eps
        down[layer, h] -= eps
        assert G[layer, h] == pytest.approx(abs(loss(up) - loss(down)) / (2 * eps), abs=3e-6)
    assert G.max() > 1e-5  # not all zero


def test_bad_input(wired):
    with pytest.raises(HeadError, match="attribution or mask"):
        head_importance(wired, TEXTS, method="gradcam")
    with pytest.raises(HeadError, match="No texts"):
        head_importance(wired, [])
    with pytest.raises(HeadError, match="shape"):
        with head_mask(wired, torch.ones(3, 2)):
            pass
    odd = _wired_model()  # every family is supported now (issue 15): a model without transformer layers is not
    odd.encoder = torch.nn.Sequential(torch.nn.Linear(4, 4))
    odd.encoder.config = wired.encoder.config
    with pytest.raises(HeadError, match="not supported"):
        head_shape(odd)


def test_pruning_ks():
    assert pruning_ks(4) == (0, 1, 2, 3, 4)
    ks = pruning_ks(72)
    assert ks[:5] == (0, 1, 2, 3, 4) and ks[-1] == 72 and list(ks) == sorted(set(ks))


def test_pruning_gaps_by_hand():
    from core.analyses.transformer.head_importance import PruningCurves

    p = PruningCurves((0, 1, 2, 4), np.array([0.9, 0.9, 0.8, 0.5]), np.array([0.9, 0.6, 0.5, 0.5]),
                      np.array([0.9, 0.8, 0.7, 0.5]), "true labels")
    assert p.intact == 0.9
    assert p.gap("most") == pytest.approx(((0.8 - 0.6) + (0.7 - 0.5)) / 2)  # k = 1, 2: the ends are left out
    assert p.gap("least") == pytest.approx(((0.9 - 0.8) + (0.8 - 0.7)) / 2)
    assert PruningCurves((0, 4), np.ones(2), np.ones(2), np.ones(2), "x").gap("most") is None
    with pytest.raises(HeadError, match="most or least"):
        p.gap("random")


def test_run_head_importance_is_cached_on_disk(wired, tmp_path):
    from core.analyses.transformer.head_importance import HeadImportanceParams, run_head_importance
    from core.foundation.cache import ArrayCache
    from core.data.datasets import _make
    from core.data.sampling import draw

    sample = draw(_make("keyed", TEXTS, LABELS.tolist(), ("other", "has-key")), None)
    cache = ArrayCache(tmp_path)
    params = HeadImportanceParams(method="mask", steps=4)
    first = run_head_importance(wired, sample, params, cache=cache)
    hit = first.cache_hit
    assert not hit and first.ranking()[0] == WIRED and first.pruning.reference == "true labels"
    assert first.sample is sample and first.params == params and first.label_note == ""
    again = run_head_importance(wired, sample, params, cache=cache)
    hit = again.cache_hit
    assert hit and np.array_equal(again.importance, first.importance) and np.array_equal(again.other, first.other)
    assert again.spearman == pytest.approx(first.spearman) and again.pruning.ks == first.pruning.ks
    assert np.array_equal(again.pruning.most_first, first.pruning.most_first) and again.seconds == first.seconds
    hit = run_head_importance(wired, sample, params.replace(prune=False), cache=cache).cache_hit
    assert not hit  # other settings, another entry


def test_methods_registry_params_and_cost():
    from core.analyses.transformer.head_importance import (HEAD_METHODS, HeadImportanceParams, estimate_seconds,
                                                           other_method, stage_seconds)

    assert HEAD_METHODS.titles() == {"attribution": "Attention attribution", "mask": "Head-mask gradient"}
    assert HeadImportanceParams.param("method").choices == HEAD_METHODS.names()
    assert other_method("attribution") == "mask" and other_method("mask") == "attribution"
    p = HeadImportanceParams(steps=4)
    assert list(stage_seconds(p)) == ["attribution", "mask", "pruning"]
    assert estimate_seconds(12, p) == pytest.approx(12 * (0.78 * 0.4 + 0.4))
    assert list(stage_seconds(p.replace(method="mask", compare=False, prune=False))) == ["mask"]
