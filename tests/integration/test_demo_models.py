"""The demo workspace holds real, trained classifiers and a fitted MLM head."""
import json

import numpy as np
import pytest

from core.data.refs import load_dataset
from core.models.refs import load_model
from core.models.embeddings import predict_proba

pytestmark = pytest.mark.integration


@pytest.mark.parametrize("name,labels", [("bbc-pretrained", 5), ("bbc-finetuned", 5), ("tweets-pretrained", 3),
                                         ("tweets-finetuned", 3)])
def test_demo_classifier_metadata(demo_workspace, name, labels):
    m = load_model(f"demo:{name}")
    meta = m.metadata
    assert m.num_labels == labels and m.pooling == "mean" and m.mlm_head is not None
    assert meta["setting"] == name.split("-")[1]
    assert meta["data_fingerprint"] == load_dataset(f"bundled:{name.split('-')[0]}").source_fingerprint
    assert 1.0 / labels < meta["heldout"]["accuracy"] <= 1.0 and meta["heldout"]["split"] == "test"


def test_bbc_classifier_beats_chance_on_fresh_sentences(demo_workspace):
    m = load_model("demo:bbc-pretrained")
    p = predict_proba(m, ["The striker scored a late winner as the team reached the cup final",
                         "The central bank raised interest rates as inflation and shares fell"])
    names = np.array(m.label_names)
    assert list(names[p.argmax(1)]) == ["sport", "business"]


def test_mlm_head_decodes_unmasked_tokens(demo_workspace):
    import torch

    m = load_model("demo:bbc-pretrained")
    batch = m.tokenize(["the government announced new tax plans for business"])
    with torch.inference_mode():
        ids = m.mlm_head(m.encode(batch).last_hidden).argmax(-1)[0]
    real = batch["input_ids"][0]
    inner = slice(1, len(real) - 1)
    assert (ids[inner] == real[inner]).float().mean() > 0.5


def test_manifest_reports_step_times_and_mlm_accuracy(demo_workspace):
    man = json.loads((demo_workspace / "demo" / "manifest.json").read_text())
    assert man["steps"]["mlm-head"]["unmasked_top1"] > 0.5
    assert all(man["steps"][k]["seconds"] > 0 for k in ("bbc-pretrained", "tweets-finetuned"))
