"""Known answers for every architecture family: the split head is the full model, last-token pooling picks the last
real token whichever side is padded, and masking one head is the model with that head's attention zeroed.

Tiny random configurations, built in the test (random weights suffice: the answers are identities).
"""
from __future__ import annotations

import sys

import pytest
import torch

from core.models.families import SequenceHead, attention_outputs, causal_position_ids, family_of, last_token_index, pool

V = 300


def _configs():
    import transformers as T

    small = dict(hidden_size=32, num_hidden_layers=2, num_attention_heads=2, intermediate_size=64, vocab_size=V,
                 max_position_embeddings=64, num_labels=3, pad_token_id=0)
    gqa = dict(small, num_attention_heads=4, num_key_value_heads=2)
    return {
        "bert": T.BertConfig(**small), "roberta": T.RobertaConfig(**small), "xlm-roberta": T.XLMRobertaConfig(**small),
        "distilbert": T.DistilBertConfig(dim=32, n_layers=2, n_heads=2, hidden_dim=64, vocab_size=V, num_labels=3,
                                         pad_token_id=0),
        "deberta-v2": T.DebertaV2Config(**small, relative_attention=True, pos_att_type=["p2c", "c2p"],
                                        position_biased_input=False),
        "electra": T.ElectraConfig(**small, embedding_size=32), "albert": T.AlbertConfig(**small, embedding_size=16),
        "mpnet": T.MPNetConfig(**small),
        "modernbert": T.ModernBertConfig(**dict(small, num_hidden_layers=3), bos_token_id=1, eos_token_id=2,
                                         cls_token_id=1, sep_token_id=2, global_attn_every_n_layers=2,
                                         local_attention=4, classifier_pooling="mean"),
        "gpt2": T.GPT2Config(n_embd=32, n_layer=2, n_head=2, vocab_size=V, num_labels=3, pad_token_id=0,
                             bos_token_id=1, eos_token_id=1),
        "llama": T.LlamaConfig(**gqa), "qwen2": T.Qwen2Config(**gqa), "mistral": T.MistralConfig(**gqa),
        "gemma": T.GemmaConfig(**gqa, head_dim=8),
    }


CONFIGS = _configs()


@pytest.fixture(scope="module", params=list(CONFIGS))
def family(request):
    import transformers as T

    torch.manual_seed(0)
    cfg = CONFIGS[request.param]
    full = T.AutoModelForSequenceClassification.from_config(cfg).eval()
    return request.param, cfg, full


def _batch(cfg, *, left: bool = False):
    g = torch.Generator().manual_seed(1)
    ids = torch.randint(5, V, (4, 9), generator=g)
    mask = torch.ones_like(ids)
    for row, n in ((1, 6), (2, 3)):
        if left:
            mask[row, : 9 - n] = 0
        else:
            mask[row, n:] = 0
    return ids.masked_fill(mask == 0, 0), mask


def test_split_head_is_the_full_model(family):
    name, cfg, full = family
    fam = family_of(cfg)
    ids, mask = _batch(cfg)
    kw = {"position_ids": causal_position_ids(mask)} if fam.causal else {}
    with torch.no_grad():
        want = full(input_ids=ids, attention_mask=mask, **kw).logits
        h = full.base_model(input_ids=ids, attention_mask=mask, **kw).last_hidden_state
        got = SequenceHead(full).eval()(pool(h, mask, fam.pooling_of(cfg)))
    torch.testing.assert_close(got, want, rtol=1e-5, atol=1e-5)


def test_the_split_is_interpolable_after_the_first_linear(family):
    _, cfg, full = family
    head = SequenceHead(full).eval()
    x = torch.randn(6, 32)
    found = head.first_affine(x)
    assert found is not None
    lin, rest = found
    a, b = lin(x[:3]), lin(x[3:])
    for t in (0.0, 0.3, 1.0):  # W(x_a + t(x_b - x_a)) + b = a + t(b - a): the path after the first map
        torch.testing.assert_close(rest(a + t * (b - a)), head(x[:3] + t * (x[3:] - x[:3])), rtol=1e-4, atol=1e-5)


@pytest.mark.parametrize("left", [False, True], ids=["right padding", "left padding"])
def test_last_token_pooling_picks_the_last_real_token(left):
    ids, mask = _batch(CONFIGS["qwen2"], left=left)
    idx = last_token_index(mask)
    assert idx.tolist() == ([8, 8, 8, 8] if left else [8, 5, 2, 8])
    h = torch.arange(4 * 9 * 2, dtype=torch.float32).reshape(4, 9, 2)
    torch.testing.assert_close(pool(h, mask, "last"), h[torch.arange(4), idx])


@pytest.mark.parametrize("mode", ["cls", "mean", "max", "last"])
def test_pooling_matches_sentence_transformers(mode):
    """Each pooling mode gives what sentence-transformers' own Pooling module gives on the same token vectors."""
    from sentence_transformers.models import Pooling

    _, mask = _batch(CONFIGS["bert"], left=False)
    h = torch.randn(4, 9, 6, generator=torch.Generator().manual_seed(1))
    st = Pooling(6, pooling_mode={"last": "lasttoken"}.get(mode, mode))
    want = st({"token_embeddings": h, "attention_mask": mask})["sentence_embedding"]
    torch.testing.assert_close(pool(h, mask, mode), want)


@pytest.mark.parametrize("name", [n for n in CONFIGS if family_of(CONFIGS[n]).causal])
def test_a_decoder_reads_the_same_under_left_and_right_padding(name):
    """Positions are counted over the real tokens, so a decoder classifier's logits do not depend on the side the
    tokenizer pads."""
    import transformers as T

    torch.manual_seed(0)
    cfg = CONFIGS[name]
    full = T.AutoModelForSequenceClassification.from_config(cfg).eval()
    real = torch.randint(5, V, (1, 5))
    pad = torch.zeros((1, 3), dtype=torch.long)
    right_ids, left_ids = torch.cat([real, pad], 1), torch.cat([pad, real], 1)
    right_mask, left_mask = (right_ids != 0).long(), (left_ids != 0).long()
    with torch.no_grad():
        r = full(input_ids=right_ids, attention_mask=right_mask, position_ids=causal_position_ids(right_mask)).logits
        lft = full(input_ids=left_ids, attention_mask=left_mask, position_ids=causal_position_ids(left_mask)).logits
    torch.testing.assert_close(r, lft, rtol=1e-4, atol=1e-5)


def _zeroing_reference(name, full, layer_mods, layer, head, ids, mask, kw):
    """Logits with head ``head`` of ``layer`` switched off *inside the attention*: its attention weights zeroed.

    Families whose attention goes through transformers' attention interface get a registered attention function
    that zeroes that head's output; DeBERTa and MPNet (their own attention) get a hook on the dropout their
    attention probabilities pass through."""
    mod = sys.modules[type(full.base_model).__module__]
    target = set(id(m) for m in layer_mods)
    if hasattr(mod, "eager_attention_forward"):
        from transformers import AttentionInterface
        from transformers.masking_utils import AttentionMaskInterface, eager_mask

        eager = mod.eager_attention_forward

        def zero_head(module, query, key, value, attention_mask, **kwargs):
            out, w = eager(module, query, key, value, attention_mask, **kwargs)
            if id(module) in target:
                out = out.clone()
                out[:, :, head, :] = 0  # (b, T, heads, head_dim)
            return out, w

        AttentionInterface.register("bl_zero_head", zero_head)
        AttentionMaskInterface.register("bl_zero_head", eager_mask)
        full.set_attn_implementation("bl_zero_head")
        try:
            with torch.no_grad():
                return full(input_ids=ids, attention_mask=mask, **kw).logits
        finally:
            full.set_attn_implementation("eager")
    drops = [m.dropout for m in layer_mods if isinstance(getattr(m, "dropout", None), torch.nn.Module)]

    def zero(_m, _i, probs):
        probs = probs.clone()
        probs[:, head] = 0  # (b, heads, T, T)
        return probs

    handles = [d.register_forward_hook(zero) for d in drops]
    try:
        with torch.no_grad():
            return full(input_ids=ids, attention_mask=mask, **kw).logits
    finally:
        for h in handles:
            h.remove()


def test_masking_a_head_is_zeroing_its_attention(family):
    from types import SimpleNamespace

    from core.analyses.transformer.head_importance import head_mask
    from core.models.families import transformer_layers

    name, cfg, full = family
    full.set_attn_implementation("eager")
    fam = family_of(cfg)
    ids, mask = _batch(cfg)
    kw = {"position_ids": causal_position_ids(mask)} if fam.causal else {}
    L, H = cfg.num_hidden_layers, cfg.num_attention_heads
    layers = transformer_layers(full.base_model, L)
    assert len(attention_outputs(full.base_model, L)) == L
    model = SimpleNamespace(encoder=full.base_model, num_layers=L, ref=name, model_type=cfg.model_type)
    for layer in range(L):
        for head in range(H):
            attn = [m for m in layers[layer].modules() if m is not layers[layer] and "ttention" in type(m).__name__
                    and not any("ttention" in type(c).__name__ for c in m.children())]
            want = _zeroing_reference(name, full, attn, layer, head, ids, mask, kw)
            m = torch.ones(L, H)
            # ALBERT shares one layer at every depth: the reference switches the head off at all depths
            rows = range(L) if fam.shared_layers else [layer]
            for r in rows:
                m[r, head] = 0
            with torch.no_grad(), head_mask(model, m):
                got = full(input_ids=ids, attention_mask=mask, **kw).logits
            torch.testing.assert_close(got, want, rtol=1e-5, atol=1e-5, msg=f"{name} layer {layer} head {head}")
