"""Saliency, faithfulness, class-token and MLM-head verbs end to end (real MiniLM demo + a tiny model)."""
import json

import numpy as np
import pytest

from tests.integration.test_cli import run

pytestmark = pytest.mark.integration


def test_methods_lists_the_registry():
    from core.analyses.saliency import method_names

    out = json.loads(run("methods", "--json").stdout)
    names = [m["name"] for m in out["methods"]]
    assert names == list(method_names())
    ig = next(m for m in out["methods"] if m["name"] == "integrated_gradients")
    assert {p["name"] for p in ig["parameters"]} == {"steps", "baseline"}


def test_saliency_decoded_gradcam_on_the_demo(demo_workspace):
    out = json.loads(run("saliency", "--model", "demo:tweets-finetuned", "--text", "the service was awful and slow",
                         "--method", "decoded_gradcam", "--layer", "4", "--json").stdout)
    assert out["tokens"] == ["the", "service", "was", "awful", "and", "slow"]
    s = np.array(out["scores"])
    assert len(s) == 6 and np.isfinite(s).all() and (s >= 0).all() and s.max() > 0
    assert out["method"] == "decoded_gradcam" and out["parameters"] == {"layer": 4}
    assert out["predicted_label"] in ("negative", "neutral", "positive") and 0 < out["probability"] <= 1
    assert [w["word"] for w in out["words"]] == out["tokens"]


def test_saliency_pair_and_params(tiny_model_dir):
    out = json.loads(run("saliency", "--model", str(tiny_model_dir("bert")), "--text", "a premise", "--text-pair",
                         "a hypothesis", "--method", "integrated_gradients", "--param", "steps=8", "--target", "1",
                         "--json").stdout)
    assert out["segments"] == [0, 0, 1, 1] and out["target"] == 1 and out["parameters"]["steps"] == 8
    assert abs(out["extras"]["relative_delta"]) < 1


@pytest.mark.parametrize("args,message", [
    (["--text", "  "], "The text is empty."),
    (["--text", "ok", "--layer", "9"], "Layer 9 is out of range"),
    (["--text", "ok", "--target", "5"], "outside the label set"),
    (["--text", "ok", "--method", "gradcam"], "Unknown saliency method 'gradcam'"),
    (["--text", "ok", "--method", "occlusion", "--layer", "2"], "--layer applies to"),
    (["--text", "ok", "--param", "steps"], "NAME=VALUE"),
    (["--text", "ok"], "python -m core mlm-head"),  # decoded (the default) on a model without an MLM head
])
def test_saliency_bad_input(tiny_model_dir, args, message):
    r = run("saliency", "--model", str(tiny_model_dir("bert")), *args, check=False)
    assert r.returncode == 2, r.stderr
    assert r.stderr.startswith("error: ") and message in r.stderr and "Traceback" not in r.stderr


def test_mlm_head_fit_enables_decoded_saliency(tiny_model_dir, tmp_path):
    import shutil

    folder = tmp_path / "model"
    shutil.copytree(tiny_model_dir("bert"), folder)
    from safetensors.torch import load_file, save_file

    weights = folder / "model.safetensors"  # a distinct encoder: fitted heads are keyed by the encoder's weights
    state = load_file(str(weights))
    key = next(k for k in state if k.endswith("word_embeddings.weight"))
    state[key] = state[key] + 1e-3
    save_file(state, str(weights), metadata={"format": "pt"})
    out = json.loads(run("mlm-head", "--model", str(folder), "--dataset", "bundled:tweets", "--n", "60",
                         "--seconds", "3", "--json", "--quiet").stdout)
    assert out["path_check"] and out["report"]["steps"] > 0
    before = sorted(p.name for p in folder.iterdir())
    sal = json.loads(run("saliency", "--model", str(folder), "--text", "works now", "--json").stdout)
    assert sal["method"] == "decoded_gradcam" and len(sal["scores"]) == len(sal["tokens"])
    assert any("fitted by Backbone Lens" in n for n in sal["model_notes"])
    assert sorted(p.name for p in folder.iterdir()) == before  # the user's model folder is not touched


def test_faithfulness_json(demo_workspace):
    out = json.loads(run("faithfulness", "--model", "demo:tweets-finetuned", "--dataset", "bundled:tweets", "--n",
                         "16", "--methods", "decoded_gradcam,occlusion", "--layers", "0,6", "--json",
                         "--quiet").stdout)
    rows = {(m["method"], m["layer"]): m for m in out["methods"]}
    assert set(rows) == {("decoded_gradcam", 0), ("decoded_gradcam", 6), ("occlusion", None), ("random", None)}
    for m in rows.values():
        assert 0 <= m["hide_auc"] <= 1 and 0 <= m["reveal_auc"] <= 1 and len(m["hide_accuracy"]) == 11
    assert out["best_layer"]["decoded_gradcam"] in (0, 6) and out["n"] == 16


def test_faithfulness_bad_input(demo_workspace):
    r = run("faithfulness", "--model", "demo:tweets-finetuned", "--dataset", "bundled:tweets", "--n", "4",
            "--methods", "occlusion", "--param", "occlusion.windw=2", check=False)
    assert r.returncode == 2 and "did you mean 'window'" in r.stderr


def test_class_tokens_json(demo_workspace):
    out = json.loads(run("class-tokens", "--model", "demo:tweets-finetuned", "--dataset", "bundled:tweets", "--n",
                         "60", "--layer", "6", "--top-k", "5", "--idf", "dataset", "--json", "--quiet").stdout)
    assert [c["label"] for c in out["classes"]] == ["negative", "neutral", "positive"]
    assert sum(c["docs"] for c in out["classes"]) == 60
    assert np.array(out["overlap"]).shape == (3, 3) and out["parameters"] == {"layer": 6}
