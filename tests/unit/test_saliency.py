"""Saliency methods on tiny models with known answers, the registry contract, and bad input."""
from __future__ import annotations

import numpy as np
import pytest
import torch
from torch import nn

from core.models.loading import LoadedModel
from core.models.refs import load_model
from core.analyses.saliency import SaliencyError, get_method, merge_words, method_names
from core.analyses.saliency.inputs import prepare_inputs
from tests.conftest import _minilm_dir

KEY = "awful"
# methods that attribute (rather than measure sensitivity or attention) must find the one token that matters
SOUND = ["grad_x_input", "integrated_gradients", "occlusion", "shapley", "decoded_gradcam", "layer_gradcam"]


def plant_key(bert, tok) -> torch.Tensor:
    """Give ``bert`` embeddings orthogonal to the all-ones vector and to u = e0 − e1, except KEY's word embedding
    (+3u), and zero every attention and feed-forward output (so each state is LayerNorm(embedding)). Returns u."""
    d = bert.config.hidden_size
    u = torch.zeros(d)
    u[0], u[1] = 1.0, -1.0
    basis = torch.linalg.qr(torch.stack([torch.ones(d), u, *torch.randn(d - 2, d)]).T).Q[:, 2:]  # ⟂ 1 and u

    def sub(n: int) -> torch.Tensor:
        return torch.randn(n, d - 2) @ basis.T * 0.5

    with torch.no_grad():
        emb = bert.embeddings
        emb.word_embeddings.weight.copy_(sub(bert.config.vocab_size))
        emb.word_embeddings.weight[tok.convert_tokens_to_ids(KEY)] += 3 * u
        emb.position_embeddings.weight.copy_(sub(bert.config.max_position_embeddings))
        emb.token_type_embeddings.weight.copy_(sub(2))
        for layer in bert.encoder.layer:
            for lin in (layer.attention.output.dense, layer.output.dense):
                lin.weight.zero_()
                lin.bias.zero_()
    return u


def _one_token_model(num_layers: int = 2) -> LoadedModel:
    """A BERT whose logit depends on one vocabulary token only (KEY), through mean pooling.

    Attention and feed-forward outputs are zeroed, so every hidden state is LayerNorm(embedding).
    All embeddings live in a subspace orthogonal to the all-ones vector and to u = e0 − e1, except
    KEY's word embedding, which has +3u. The head reads u: logit₁ = 4·(u · pooled) − 0.5, logit₀ = 0.
    """
    from transformers import AutoTokenizer, BertConfig, BertModel

    torch.manual_seed(0)
    tok = AutoTokenizer.from_pretrained(_minilm_dir())
    d = 16
    cfg = BertConfig(vocab_size=tok.vocab_size, hidden_size=d, num_hidden_layers=num_layers, num_attention_heads=2,
                     intermediate_size=32, max_position_embeddings=64, hidden_dropout_prob=0.0,
                     attention_probs_dropout_prob=0.0)
    bert = BertModel(cfg, add_pooling_layer=False).eval()
    u = plant_key(bert, tok)
    head = nn.Linear(d, 2)
    with torch.no_grad():
        head.weight.zero_()
        head.weight[1] = 4 * u
        head.bias.copy_(torch.tensor([0.0, -0.5]))
    from core.models.decoding_heads import DecodingHead

    mlm = DecodingHead(bert.get_input_embeddings())
    with torch.no_grad():
        mlm.dense.weight.copy_(torch.eye(d))
        mlm.dense.bias.zero_()
    return LoadedModel(ref="one-token", path=None, tokenizer=tok, encoder=bert, head=head.eval(), mlm_head=mlm.eval(),
                       label_names=("other", "has-key"), pooling="mean", max_length=64, model_type="bert")


@pytest.fixture(scope="module")
def one_token():
    return _one_token_model()


@pytest.fixture(scope="module")
def tiny(tiny_model_dir):
    """A tiny random BERT classifier with a random decoding head attached."""
    from core.models.decoding_heads import DecodingHead

    m = load_model(str(tiny_model_dir("bert")), device="cpu")
    torch.manual_seed(1)
    m.mlm_head = DecodingHead(m.encoder.get_input_embeddings()).eval()
    return m


# ----------------------------------------------------------------------------- known answers


@pytest.mark.parametrize("method", SOUND)
@pytest.mark.parametrize("text,pair", [("the food was awful today", None),
                                       ("a quiet evening at home", "the service was awful")])
def test_sound_methods_rank_the_deciding_token_first(one_token, method, text, pair):
    kw = {"layer": one_token.num_layers} if method.endswith("gradcam") else {}
    (r,) = get_method(method)(one_token, [text], None if pair is None else [pair], **kw)
    assert r.predicted_label == "has-key"
    top = int(np.argmax(r.scores))
    assert r.tokens[top] == KEY
    assert r.segments[top] == (0 if pair is None else 1)
    others = np.delete(r.scores, top)
    assert r.scores[top] > 0 and (np.abs(others) < 0.05 * r.scores[top]).all(), (r.tokens, r.scores)


def test_integrated_gradients_completeness(tiny):
    texts = ["a tiny model with random weights", "completeness should hold for any input at all"]
    rs = get_method("integrated_gradients")(tiny, texts, steps=64)
    for r in rs:
        gap = r.extras["logit_gap"]
        assert abs(r.extras["completeness_delta"]) < 1e-3 * max(1.0, abs(gap))
        assert r.scores.sum() == pytest.approx(gap, abs=1e-3 * max(1.0, abs(gap)))  # specials get zero


def test_integrated_gradients_few_steps_reports_a_larger_delta(tiny):
    (coarse,) = get_method("integrated_gradients")(tiny, ["some words to integrate over"], steps=1)
    (fine,) = get_method("integrated_gradients")(tiny, ["some words to integrate over"], steps=64)
    assert abs(coarse.extras["completeness_delta"]) > abs(fine.extras["completeness_delta"])


@pytest.mark.parametrize("layer", [0, 1, 2])
def test_decoded_gradcam_matches_a_hand_computation(tiny, layer):
    text = "the decoding head moves evidence onto tokens"
    (r,) = get_method("decoded_gradcam")(tiny, [text], layer=layer)
    inp = prepare_inputs(tiny, [text])
    with torch.enable_grad():
        out = tiny.encoder(input_ids=inp.input_ids, attention_mask=inp.attention_mask,
                           token_type_ids=inp.token_type_ids, output_hidden_states=True)
        logits = tiny.head(out.last_hidden_state[:, 0])
        c = int(logits.argmax())
        h = out.hidden_states[layer]
        (g,) = torch.autograd.grad(logits[0, c], h)
    alpha = (g * h)[0].detach()                                   # (n, K)
    P = torch.softmax(tiny.mlm_head(h[0].detach()), -1)          # (n, V)
    ids = inp.input_ids[0]
    D = P[:, ids].T                                              # (T, n)
    s = torch.relu((D @ alpha).sum(1))                           # ReLU(Σ_k (D α)_{·,k})
    content = inp.content[0].numpy()
    np.testing.assert_allclose(r.scores, s.detach().numpy()[content], rtol=1e-4, atol=1e-6)
    (plain,) = get_method("layer_gradcam")(tiny, [text], layer=layer)
    np.testing.assert_allclose(plain.scores, torch.relu(alpha.sum(1)).numpy()[content], rtol=1e-4, atol=1e-6)


def test_layer_sweep_equals_single_layer_calls(tiny):
    from core.analyses.saliency.gradcam import gradcam_layer_sweep

    texts = ["one text", "and a somewhat longer second text"]
    sweep = gradcam_layer_sweep(tiny, texts, layers=[0, 2])
    for layer in (0, 2):
        single = get_method("decoded_gradcam")(tiny, texts, layer=layer)
        for a, b in zip(sweep[layer], single):
            np.testing.assert_allclose(a.scores, b.scores, rtol=1e-5, atol=1e-7)


def test_occlusion_window_averages_over_covering_windows(one_token):
    (r,) = get_method("occlusion")(one_token, ["x y awful z"], window=2)
    i = r.tokens.index(KEY)
    (single,) = get_method("occlusion")(one_token, ["x y awful z"], window=1)
    # both windows covering KEY drop the probability by the same amount as hiding KEY alone
    assert r.scores[i] == pytest.approx(single.scores[i], rel=1e-4)
    # its neighbours share one of their two windows with KEY
    assert r.scores[i - 1] == pytest.approx(single.scores[i] / 2, rel=1e-3)


def test_deletion_replacement_also_finds_the_token(one_token):
    (r,) = get_method("occlusion")(one_token, ["nothing but awful news"], replacement="delete")
    assert r.tokens[int(np.argmax(r.scores))] == KEY


def test_attention_rollout_rows_are_distributions(tiny):
    from core.analyses.saliency.attention import rollout

    A = torch.softmax(torch.randn(3, 2, 5, 5), -1)
    R = rollout(A, torch.ones(2, 5))
    np.testing.assert_allclose(R.sum(-1).numpy(), 1.0, rtol=1e-5)


# ----------------------------------------------------------------------------- registry contract


@pytest.mark.parametrize("method", method_names())
@pytest.mark.parametrize("pair", [False, True])
def test_every_method_gives_one_finite_score_per_token(tiny, method, pair):
    m = get_method(method)
    texts = ["a short text", "another, slightly longer text with unbelievable words"]
    pairs = ["its second segment", "and one more"] if pair else None
    kw = {"samples": 2} if method in ("shapley", "smoothgrad") else {"steps": 8} if method == "integrated_gradients" else {}
    rs = m(tiny, texts, pairs, **kw)
    assert len(rs) == 2
    for r, t in zip(rs, texts):
        assert r.text == t and r.method == method
        assert len(r.scores) == len(r.tokens) == len(r.segments) > 0
        assert np.isfinite(r.scores).all()
        assert "[CLS]" not in r.tokens and "[SEP]" not in r.tokens and "[PAD]" not in r.tokens
        assert set(r.segments.tolist()) == ({0, 1} if pair else {0})
        if not m.signed:
            assert (r.scores >= -1e-6).all()
        w = merge_words(r)
        assert len(w.words) <= len(r.tokens)
        assert w.scores.sum() == pytest.approx(r.scores.sum(), rel=1e-4, abs=1e-5)


def test_results_come_back_in_input_order(tiny):
    texts = ["long " * 20 + "text", "short", "medium length text here"]
    rs = get_method("gradient")(tiny, texts, batch_size=2)
    assert [r.text for r in rs] == texts


def test_word_merge_uses_the_original_text(tiny):
    (r,) = get_method("grad_x_input")(tiny, ["Unbelievably GOOD"])
    assert len(r.tokens) > 2  # "unbelievably" is split into pieces
    w = merge_words(r)
    assert w.words == ("Unbelievably", "GOOD")
    assert w.scores[0] == pytest.approx(r.scores[:-1].sum(), rel=1e-5)


def test_explicit_target_by_name_and_number(one_token):
    (a,) = get_method("occlusion")(one_token, ["awful"], target="other")
    (b,) = get_method("occlusion")(one_token, ["awful"], target=0)
    assert a.target == b.target == 0 and a.target_label == "other"
    np.testing.assert_allclose(a.scores, b.scores)
    assert a.scores[a.tokens.index(KEY)] < 0  # hiding KEY raises the probability of "other"


# ----------------------------------------------------------------------------- bad input


def test_bad_input_messages(tiny, one_token, tiny_model_dir):
    with pytest.raises(SaliencyError, match="empty"):
        get_method("gradient")(tiny, ["   "])
    with pytest.raises(SaliencyError, match="second text is empty"):
        get_method("gradient")(tiny, ["fine"], [""])
    with pytest.raises(SaliencyError, match="outside the label set"):
        get_method("gradient")(tiny, ["fine"], target=7)
    with pytest.raises(SaliencyError, match="not one of the model's labels"):
        get_method("gradient")(tiny, ["fine"], target="nonsense")
    with pytest.raises(SaliencyError, match="Layer 9 is out of range.*0 \\(the embeddings\\) to 2"):
        get_method("decoded_gradcam")(tiny, ["fine"], layer=9)
    with pytest.raises(SaliencyError, match="Unknown saliency method 'decoded_gradcma'.*did you mean 'decoded_gradcam'"):
        get_method("decoded_gradcma")
    with pytest.raises(SaliencyError, match="has no parameter 'step'.*did you mean 'steps'"):
        get_method("integrated_gradients")(tiny, ["fine"], step=3)
    with pytest.raises(SaliencyError, match="between 1 and 1000"):
        get_method("integrated_gradients")(tiny, ["fine"], steps=0)
    bare = load_model(str(tiny_model_dir("bert")), device="cpu")  # no MLM head
    with pytest.raises(SaliencyError, match="no(ne)?.*mlm-head --model"):
        get_method("decoded_gradcam")(bare, ["fine"])
    get_method("layer_gradcam")(bare, ["fine"])  # the undecoded ablation needs no MLM head


def test_long_text_is_truncated_and_flagged(tiny):
    (r,) = get_method("gradient")(tiny, ["word " * 200])
    assert r.truncated and len(r.tokens) == tiny.max_length - 2
    (short,) = get_method("gradient")(tiny, ["word " * 5])
    assert not short.truncated


def test_unknown_tokens_are_content_not_special(tiny):
    (r,) = get_method("gradient")(tiny, ["love it 😍 so much"])
    assert "[UNK]" in r.tokens  # scored, hidden in the games, and shown like any other token


def test_max_length_beyond_the_model_is_refused(tiny):
    with pytest.raises(SaliencyError, match="more than this model reads"):
        prepare_inputs(tiny, ["text"], max_length=tiny.max_length + 1)


def test_roberta_pad_replacement_keeps_positions(tiny_model_dir):
    from core.analyses.saliency.forward import probs_of_sequences

    m = load_model(str(tiny_model_dir("roberta")), device="cpu")
    enc = m.tokenizer(["a few words in a row here"])
    ids = np.array(enc["input_ids"][0])
    ids[3] = m.tokenizer.pad_token_id  # an in-text pad must not shift the positions of the tokens after it
    (p,) = probs_of_sequences(m, [(ids, np.zeros_like(ids))])
    pad_idx = m.encoder.embeddings.padding_idx
    t = torch.as_tensor(ids)[None]
    with torch.no_grad():
        fixed = m.encoder(input_ids=t, attention_mask=torch.ones_like(t),
                          position_ids=pad_idx + 1 + torch.arange(len(ids))[None]).last_hidden_state
        shifted = m.encoder(input_ids=t, attention_mask=torch.ones_like(t)).last_hidden_state
    with torch.no_grad():
        want = torch.softmax(m.head(fixed[:, 0]), -1)[0].numpy()
    np.testing.assert_allclose(p, want, rtol=1e-4, atol=1e-6)
    assert not torch.allclose(fixed, shifted)


def test_label_names_that_look_like_numbers(one_token):
    import dataclasses

    m = dataclasses.replace(one_token, label_names=("1", "0"))
    (r,) = get_method("occlusion")(m, ["awful"], target="0")
    assert r.target == 1 and r.target_label == "0"
