import numpy as np
import pytest
import torch

from core.foundation.errors import ModelError
from core.models.refs import load_model
from core.models.embeddings import predict_proba


@pytest.mark.parametrize("kind", ["bert", "distilbert", "roberta"])
def test_head_adapter_reproduces_full_model(tiny_model_dir, kind):
    from transformers import AutoModelForSequenceClassification, AutoTokenizer

    d = tiny_model_dir(kind)
    m = load_model(str(d), device="cpu")
    texts = ["a short one", "a somewhat longer sentence for padding", "x"]
    p = predict_proba(m, texts)
    full = AutoModelForSequenceClassification.from_pretrained(d).eval()
    tok = AutoTokenizer.from_pretrained(d)
    with torch.no_grad():
        ref = torch.softmax(full(**tok(texts, padding=True, return_tensors="pt")).logits, -1).numpy()
    np.testing.assert_allclose(p, ref, atol=1e-5)
    assert m.label_names == ("class0", "class1", "class2") and m.pooling == "cls"


def test_pairs_and_hidden_states_and_attentions(tiny_model_dir):
    m = load_model(str(tiny_model_dir("bert")), device="cpu")
    batch = m.tokenize(["premise one", "premise two"], ["hypothesis", "another hypothesis"])
    assert "token_type_ids" in batch and int(batch["token_type_ids"].max()) == 1
    out = m.encode(batch, hidden_states=True, attentions=True)
    assert len(out.hidden_states) == m.num_layers + 1 == 3
    assert out.attentions[0].shape[1] == 2
    torch.testing.assert_close(out.attentions[0].sum(-1), torch.ones_like(out.attentions[0].sum(-1)))


def test_masked_lm_checkpoint_has_mlm_head_no_classifier(tiny_model_dir):
    m = load_model(str(tiny_model_dir("bert-mlm")), device="cpu")
    assert m.mlm_head is not None and not m.has_head
    batch = m.tokenize(["hello world"])
    logits = m.mlm_head(m.encode(batch).last_hidden)
    assert logits.shape[-1] == 30522
    with pytest.raises(ModelError, match="no classification head"):
        predict_proba(m, ["x"])


def test_fingerprint_changes_with_weights(tiny_model_dir):
    a = load_model(str(tiny_model_dir("bert")), device="cpu")
    b = load_model(str(tiny_model_dir("bert")), device="cpu")
    assert a.fingerprint == b.fingerprint
    with torch.no_grad():
        b.head.model.classifier.weight.add_(1.0)
    b.forget_fingerprints()
    assert a.fingerprint != b.fingerprint and a.encoder_fingerprint == b.encoder_fingerprint


def test_never_trusts_remote_code_by_default(tiny_model_dir, monkeypatch):
    import transformers

    seen = {}
    orig = transformers.AutoConfig.from_pretrained

    def spy(*a, **kw):
        seen.update(kw)
        return orig(*a, **kw)

    monkeypatch.setattr(transformers.AutoConfig, "from_pretrained", spy)
    load_model(str(tiny_model_dir("bert")), device="cpu")
    assert seen["trust_remote_code"] is False


@pytest.mark.parametrize("ref,msg", [
    ("demo:nothing", "Unknown demo model"),
    ("/definitely/not/here", "not found"),
    ("", "No model given"),
])
def test_bad_refs(ref, msg):
    with pytest.raises(ModelError, match=msg):
        load_model(ref)


def test_folder_without_weights(tmp_path, tiny_model_dir):
    import shutil

    d = tmp_path / "noweights"
    shutil.copytree(tiny_model_dir("bert"), d)
    for f in d.glob("*.safetensors"):
        f.unlink()
    with pytest.raises(ModelError, match="no weights"):
        load_model(str(d))


def test_hub_id_offline_fails_fast(monkeypatch):
    monkeypatch.setenv("HF_HUB_OFFLINE", "1")
    with pytest.raises(ModelError, match="hub"):
        load_model("someone/not-a-cached-model")
