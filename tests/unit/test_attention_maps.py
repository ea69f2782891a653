"""Attention maps of one text or text pair: rows of the full map sum to 1, the display crop and its note, segments
of a pair, cross-segment attention by hand, layer / head checks, and BERT and DistilBERT alike."""
from __future__ import annotations

import json

import numpy as np
import pytest

from core.analyses.transformer.attention_maps import (AttentionMapError, attention_maps, check_layer_head, cross_segment_attention)
from core.models.refs import load_model


@pytest.fixture(scope="module")
def bert(tiny_model_dir):
    return load_model(str(tiny_model_dir("bert")), device="cpu")


def test_every_row_of_an_uncropped_map_sums_to_one(bert):
    r = attention_maps(bert, "the cars drive themselves")
    assert r.tokens == ("[CLS]", "the", "cars", "drive", "themselves", "[SEP]")
    assert r.attentions.shape == (2, 2, 6, 6) and r.attentions.dtype == np.float32
    assert (r.n_layers, r.n_heads, r.shown, r.n_tokens) == (2, 2, 6, 6) and not r.cropped
    assert np.allclose(r.attentions.sum(-1), 1.0, atol=1e-5) and (r.attentions >= 0).all()
    assert (r.segments == 0).all() and r.cross is None and r.text_pair is None
    assert list(r.special) == [True, False, False, False, False, True]
    assert np.allclose(r.mean_heads(1), r.attentions[1].mean(0))
    assert np.array_equal(r.head(0, 1), r.attentions[0, 1])
    assert not any("showing" in n for n in r.notes)


def test_the_display_crop_keeps_the_first_tokens_and_says_so(bert):
    text = "one two three four five six seven eight nine ten"
    full = attention_maps(bert, text)
    cut = attention_maps(bert, text, max_tokens=5)
    assert full.n_tokens == cut.n_tokens == 12 and cut.shown == 5 and cut.cropped
    assert cut.tokens == full.tokens[:5]
    assert np.allclose(cut.attentions, full.attentions[:, :, :5, :5])  # the model read the whole text either way
    assert (cut.attentions.sum(-1) < 1.0 - 1e-6).any()
    assert "showing the first 5 of 12 tokens: rows no longer sum to 1, the rest of the attention goes to tokens " \
           "not shown" in cut.notes
    assert not cut.truncated_input


def test_text_longer_than_the_model_reads_is_noted(bert):
    r = attention_maps(bert, " ".join(["word"] * 80), max_length=16, max_tokens=48)
    assert r.truncated_input and r.n_tokens == 16 and r.shown == 16
    assert "the text has 82 tokens; the model reads the first 16 (its maximum length)" in r.notes


def test_a_pair_has_two_segments_and_cross_segment_shares(bert):
    r = attention_maps(bert, "a man plays guitar", "someone makes music")
    assert r.tokens == ("[CLS]", "a", "man", "plays", "guitar", "[SEP]", "someone", "makes", "music", "[SEP]")
    # [CLS] and the first [SEP] belong to the first text, the closing [SEP] to the second
    assert list(r.segments) == [0, 0, 0, 0, 0, 0, 1, 1, 1, 1]
    assert r.cross.shape == (2, 2, 2)
    A, a, b = r.attentions, r.segments == 0, r.segments == 1
    for l in range(2):
        for h in range(2):
            assert r.cross[l, h, 0] == pytest.approx(A[l, h][a][:, b].sum(1).mean(), abs=1e-6)
            assert r.cross[l, h, 1] == pytest.approx(A[l, h][b][:, a].sum(1).mean(), abs=1e-6)
    d = json.loads(json.dumps(r.to_json(1, 0)))
    assert d["segments"] == [0] * 6 + [1] * 4 and d["layer"] == 1 and d["head"] == 0
    assert np.allclose(d["matrix"], r.head(1, 0), atol=1e-5)
    assert np.allclose(d["cross_segment"]["first_to_second"], r.cross[..., 0], atol=1e-4)


def test_cross_segment_attention_by_hand():
    """One layer, one head, four tokens: two of the first text, two of the second."""
    A = np.array([[0.5, 0.3, 0.2, 0.0],
                  [0.1, 0.1, 0.4, 0.4],
                  [0.6, 0.2, 0.2, 0.0],
                  [0.0, 0.0, 0.5, 0.5]], dtype=np.float32)[None, None]
    seg = np.array([0, 0, 1, 1])
    c = cross_segment_attention(A, seg)
    assert c.shape == (1, 1, 2)
    assert c[0, 0, 0] == pytest.approx((0.2 + 0.8) / 2)  # first-text rows: mass on tokens 2 and 3
    assert c[0, 0, 1] == pytest.approx((0.8 + 0.0) / 2)  # second-text rows: mass on tokens 0 and 1
    with pytest.raises(AttentionMapError, match="needs tokens in both segments"):
        cross_segment_attention(A, np.zeros(4, int))


@pytest.mark.parametrize("layer,head,message", [
    (2, 0, "Layer 2 does not exist; this model has layers 0 … 1."),
    (-1, 0, "Layer -1 does not exist; this model has layers 0 … 1."),
    (0, 2, "Head 2 does not exist; this model has heads 0 … 1."),
])
def test_bad_layer_or_head_names_the_valid_range(bert, layer, head, message):
    r = attention_maps(bert, "a short text")
    with pytest.raises(AttentionMapError) as ei:
        r.head(layer, head)
    assert str(ei.value) == message
    with pytest.raises(AttentionMapError):
        check_layer_head(2, 2, layer, head)


@pytest.mark.parametrize("args,kwargs,message", [
    (("",), {}, "The text is empty."),
    (("   ",), {}, "The text is empty."),
    (("a text", " "), {}, "The second text is empty."),
    (("a text",), {"max_tokens": 1}, "Show at least 2 tokens, not 1."),
])
def test_bad_input_is_one_sentence(bert, args, kwargs, message):
    with pytest.raises(AttentionMapError) as ei:
        attention_maps(bert, *args, **kwargs)
    assert str(ei.value) == message


def test_distilbert_works_too(tiny_model_dir):
    m = load_model(str(tiny_model_dir("distilbert")), device="cpu")
    r = attention_maps(m, "distilled models attend too", "and so do pairs")
    assert r.attentions.shape[:2] == (2, 2) and r.shown == r.n_tokens
    assert np.allclose(r.attentions.sum(-1), 1.0, atol=1e-5)
    assert r.tokens[0] == "[CLS]" and r.tokens[-1] == "[SEP]" and r.segments[-1] == 1 and r.cross is not None


def test_a_model_without_attention_weights_is_refused(bert, monkeypatch):
    from types import SimpleNamespace

    from core.foundation.errors import ModelError

    monkeypatch.setattr(type(bert), "encode", lambda self, batch, **kw: SimpleNamespace(attentions=()))
    with pytest.raises(AttentionMapError, match="does not return attention weights"):
        attention_maps(bert, "no weights here")

    def refuse(self):
        raise ModelError(f"Model {self.ref} cannot return attention weights (sdpa only).")

    monkeypatch.undo()
    monkeypatch.setattr(type(bert), "ensure_eager_attention", refuse)
    with pytest.raises(ModelError, match="cannot return attention weights"):
        attention_maps(bert, "no weights here")


def test_map_labels_survive_any_token():
    """Token labels are Vega string literals: quotes, backslashes, emoji and the word "if" (which Vega otherwise
    reads as its if() function) must all render as themselves."""
    import html

    from core.analyses.transformer.attention_maps import AttentionMaps
    from figures.attention import attention_map_chart
    from figures.style import to_svg

    toks = ("[CLS]", "if", '"', "\\", "😀", '"]; alert(1); ["', "[SEP]")
    T = len(toks)
    A = np.full((1, 1, T, T), 1.0 / T, dtype=np.float32)
    maps = AttentionMaps("m", "t", None, toks, np.zeros(T, np.int64), np.array([1, 0, 0, 0, 0, 0, 1], bool), A, T,
                         False, None)
    svg = to_svg(attention_map_chart(maps, 0, 0))
    for t in toks:
        assert html.escape(t, quote=False) in svg or t in svg, t
