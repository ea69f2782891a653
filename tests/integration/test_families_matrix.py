"""Every architecture family × every analysis verb, through the command line (in process), on tiny random
checkpoints built here (``tests/families.py``; never downloaded).

Each test checks what the verb computed, not only that it ran: shapes against the config, probabilities and
AUCs in range, causal attention maps lower-triangular, highlighted words that are words of the text,
decoded saliency read through the base checkpoint's head (or a decoder's own LM head: the logit lens).
Marked ``slow`` (the families are built once per cache folder, ~1 min; the matrix takes minutes).
"""
from __future__ import annotations

import contextlib
import csv
import hashlib
import io
import json
import re
from pathlib import Path

import numpy as np
import pytest

from tests.conftest import TEST_CACHE
from tests.families import DECODERS, FAMILIES, build_family

pytestmark = pytest.mark.slow

SOURCE = Path(__file__).resolve().parents[1] / "families.py"
ROOT = TEST_CACHE / "families" / hashlib.blake2b(SOURCE.read_bytes(), digest_size=6).hexdigest()
METHODS = ("attention", "attention_rollout", "decoded_gradcam", "layer_gradcam", "gradient", "grad_x_input",
           "smoothgrad", "integrated_gradients", "occlusion", "shapley")
TEXT = "What a lovely flight, the crew were great!"
TIED = ("qwen2", "gemma")  # decoder classifiers whose LM head is their word embeddings


def family(name: str) -> dict[str, Path]:
    return build_family(name, ROOT)


def cli(*argv: str, ok: bool = True) -> dict | str:
    """Run ``python -m core ARGV --json`` in process: the parsed JSON (or, when ``ok`` is False, stderr)."""
    from cli.main import main

    out, err = io.StringIO(), io.StringIO()
    with contextlib.redirect_stdout(out), contextlib.redirect_stderr(err):
        rc = main([*argv, "--json", "--quiet"] if argv[0] not in ("saliency", "attention", "instance")
                  or "--dataset" in argv else [*argv, "--json"])
    if not ok:
        assert rc != 0, out.getvalue()[:500]
        return err.getvalue()
    assert rc == 0, err.getvalue()[-2000:]
    return json.loads(out.getvalue())


def config(name: str):
    from transformers import AutoConfig

    return AutoConfig.from_pretrained(family(name)["classifier"])


def n_layers_heads(name: str) -> tuple[int, int]:
    c = config(name)
    return (int(getattr(c, "num_hidden_layers", getattr(c, "n_layers", getattr(c, "n_layer", 0)))),
            int(getattr(c, "num_attention_heads", getattr(c, "n_heads", getattr(c, "n_head", 0)))))


def data(name: str, n: int = 24) -> list[str]:
    return ["--dataset", str(family(name)["data"]), "--n", str(n)]


params = pytest.mark.parametrize("name", FAMILIES)


@params
def test_evaluate(name):
    r = cli("evaluate", "--model", str(family(name)["classifier"]), *data(name))
    cm = np.asarray(r["confusion_matrix"])
    assert r["n"] == 24 and cm.sum() == 24 and 0.0 <= r["accuracy"] <= 1.0
    assert (cm.sum(0) > 0).sum() >= 2  # at least two predicted classes on the family's data


@params
def test_embed_all_layers(name, tmp_path):
    out = tmp_path / "e.npz"
    r = cli("embed", "--model", str(family(name)["classifier"]), *data(name), "--out", str(out), "--all-layers")
    z = np.load(out)
    L, _ = n_layers_heads(name)
    assert z["pooled"].shape == (24, r["dim"]) and np.isfinite(z["pooled"]).all()
    assert z["layer_pooled"].shape == (L + 1, 24, r["dim"]) and np.isfinite(z["layer_pooled"]).all()
    assert np.allclose(z["probs"].sum(1), 1.0, atol=1e-4)


@params
def test_project(name):
    r = cli("project", "--model", str(family(name)["classifier"]), *data(name), "--n-interp", "3",
            "--resolution", "12")
    assert r["n"] == 24 and 0.0 <= r["q_knn_error"] <= 1.0 and 0.0 <= r["q_data"] <= 1.0


def _words_are_words(r: dict, text: str) -> None:
    words = [w["word"] if isinstance(w, dict) else w[0] for w in r["words"]]
    assert words, r
    for w in words:
        assert w and w in text, f"{w!r} is not a word of {text!r} ({r['tokens']})"
        assert not re.search(r"^(##|Ġ|▁)", w), w


@params
@pytest.mark.parametrize("method", METHODS)
def test_saliency(name, method):
    f = family(name)
    r = cli("saliency", "--model", str(f["classifier"]), "--mlm", str(f["base"]), "--text", TEXT,
            "--method", method, "--words")
    scores = np.asarray(r["scores"], float)
    assert len(r["tokens"]) == len(scores) > 3 and np.isfinite(scores).all()
    assert abs(sum(r["probabilities"].values()) - 1.0) < 1e-3
    _words_are_words(r, TEXT)
    if method == "decoded_gradcam":
        head = "LM" if name in DECODERS else "masked-LM"
        assert any(f"the {head} head of {f['base']}" in n for n in r["model_notes"]), r["model_notes"]
        assert (scores >= 0).all()
        best = scores.max()  # ReLU(D̂a) of a random tiny model can be 0 for one class: some class has evidence
        for label in r["probabilities"]:
            if best <= 0:
                best = max(cli("saliency", "--model", str(f["classifier"]), "--mlm", str(f["base"]), "--text", TEXT,
                               "--method", method, "--target", label)["scores"])
        assert best > 0


@pytest.mark.parametrize("name", TIED)
def test_decoded_gradcam_with_the_decoders_own_lm_head(name):
    """A tied decoder classifier decodes through its word embeddings, no base checkpoint needed: the logit lens."""
    argv = ("saliency", "--model", str(family(name)["classifier"]), "--text", TEXT, "--method", "decoded_gradcam")
    r = cli(*argv)
    # ReLU(D̂a) of a random tiny model can be 0 for one class: some class has evidence
    assert max(max(cli(*argv, "--target", label)["scores"]) for label in r["probabilities"]) > 0


def test_decoded_gradcam_without_a_head_says_what_to_give():
    err = cli("saliency", "--model", str(family("llama")["classifier"]), "--text", TEXT, "--method",
              "decoded_gradcam", ok=False)
    assert "--mlm" in err and "Traceback" not in err


@pytest.mark.parametrize("name,base", [("gpt2", "bert"), ("bert", "roberta"), ("roberta", "xlm-roberta")])
def test_a_decoding_head_of_another_model_is_refused(name, base):
    err = cli("saliency", "--model", str(family(name)["classifier"]), "--mlm", str(family(base)["base"]),
              "--text", TEXT, "--method", "decoded_gradcam", ok=False)
    assert "not the base of this model" in err or "different vocabularies" in err, err


@params
def test_faithfulness(name):
    f = family(name)
    r = cli("faithfulness", "--model", str(f["classifier"]), "--mlm", str(f["base"]), *data(name, 16),
            "--methods", "decoded_gradcam,occlusion", "--layers", "0,2")
    assert r["n"] == 16 and r["replacement"] == ("pad" if name in DECODERS else "mask")
    got = {(m["method"], m.get("layer")) for m in r["methods"]}
    assert {("decoded_gradcam", 0), ("decoded_gradcam", 2), ("occlusion", None)} <= got
    for m in r["methods"]:
        assert 0.0 <= m["hide_auc"] <= 1.0 and 0.0 <= m["reveal_auc"] <= 1.0


@params
def test_class_tokens(name):
    f = family(name)
    r = cli("class-tokens", "--model", str(f["classifier"]), "--mlm", str(f["base"]), *data(name))
    assert len(r["classes"]) >= 2


@params
def test_attention_map(name):
    L, H = n_layers_heads(name)
    r = cli("attention", "--model", str(family(name)["classifier"]), "--text", TEXT, "--layer", str(L - 1),
            "--head", str(H - 1))
    A = np.asarray(r["matrix"], float)
    assert r["n_layers"] == L and r["n_heads"] == H and A.shape == (r["shown_tokens"],) * 2
    assert np.allclose(A.sum(1), 1.0, atol=1e-3)
    if name in DECODERS:  # causal: no token attends to a later one
        assert np.allclose(np.triu(A, 1), 0.0)


@params
def test_heads_with_pruning(name):
    L, H = n_layers_heads(name)
    r = cli("heads", "--model", str(family(name)["classifier"]), *data(name, 16), "--steps", "3")
    M, other = np.asarray(r["matrix"]), np.asarray(r["other_matrix"])
    assert M.shape == other.shape == (L, H) and np.isfinite(M).all() and np.abs(M).sum() > 0
    p = r["pruning"]
    assert len(p["ks"]) == len(p["least_important_first"]) == len(p["most_important_first"]) >= 2
    assert p["ks"][-1] == L * H  # every head pruned at the end


@params
def test_layers(name):
    L, _ = n_layers_heads(name)
    r = cli("layers", "--model", str(family(name)["classifier"]), *data(name))
    assert len(r["layers"]) == L + 1


@params
def test_instance(name):
    r = cli("instance", "--model", str(family(name)["classifier"]), "--text", TEXT, "--ig-steps", "8",
            "--steps", "4")
    assert len(r["attribution"]) == len(r["tokens"]) and 0.0 <= r["entropy"] <= 1.0
    d = cli("instance", "--model", str(family(name)["classifier"]), *data(name, 16), "--ig-steps", "4",
            "--steps", "2")
    assert d["n"] == 16 and d["entropy_mean"] is not None


@params
def test_topics(name):
    r = cli("topics", "--model", str(family(name)["classifier"]), *data(name), "--clusters", "3")
    assert r["n_clusters"] == 3 and sum(c["size"] for c in r["clusters"]) == 24


@params
@pytest.mark.parametrize("attack", ["word", "char"])
def test_attack(name, attack):
    f = family(name)
    extra = ["--mlm", str(f["base"]), "--candidates", "masked"] if attack == "word" else []
    r = cli("attack", "--model", str(f["classifier"]), *data(name, 16), "--attack", attack, "--top-k", "8",
            "--no-detection", *extra)
    assert r["attacked"] + r["skipped_misclassified"] == 16 and 0.0 <= r["success_rate"] <= 1.0
    if attack == "word":
        assert r["attacked"] > r["no_candidates"]  # the base checkpoint's head proposed words


def _union(names: tuple[str, ...], out: Path) -> Path:
    """One CSV of the families' data files: each model sees its own two predicted classes in it."""
    rows = []
    for n in names:
        with family(n)["data"].open(encoding="utf-8") as f:
            rows += list(csv.DictReader(f))
    with out.open("w", newline="", encoding="utf-8") as f:
        w = csv.DictWriter(f, fieldnames=["text", "label"])
        w.writeheader()
        w.writerows({"text": r["text"], "label": r["label"]} for r in {r["text"]: r for r in rows}.values())
    return out


@params
def test_compare_across_two_families(name, tmp_path):
    other = "gpt2" if name != "gpt2" else "bert"
    file = _union((name, other), tmp_path / "both.csv")
    n = sum(1 for _ in file.open(encoding="utf-8")) - 1
    r = cli("compare", "--models", f"{family(name)['classifier']},{family(other)['classifier']}",
            "--dataset", str(file), "--n", str(n))
    assert r["n"] >= 40 and 0.0 <= r["cka"] <= 1.0 and 0.0 <= r["prediction_agreement"] <= 1.0


# ----------------------------------------------------------------------------- a decoder embedding model


@pytest.fixture(scope="module")
def embedder(tmp_path_factory) -> tuple[str, str]:
    """(the Qwen2 sentence-transformers embedder, the same with a head trained on frozen states)."""
    f = family("qwen2")
    out = tmp_path_factory.mktemp("emb") / "head"
    r = cli("train", "--model", str(f["embedder"]), "--dataset", str(f["data"]), "--setting", "pretrained",
            "--out", str(out), "--epochs", "3")
    assert r
    return str(f["embedder"]), str(out)


def test_decoder_embedder_is_read_with_last_token_pooling(embedder):
    from core.models.refs import load_model

    m = load_model(embedder[0])
    assert m.pooling == "last" and m.causal and not m.has_head


def test_decoder_embedder_projection_layers_topics_compare(embedder, tmp_path):
    bare, headed = embedder
    f = family("qwen2")
    r = cli("project", "--model", headed, *data("qwen2"), "--n-interp", "3", "--resolution", "12")
    assert 0.0 <= r["q_knn_error"] <= 1.0
    assert len(cli("layers", "--model", bare, *data("qwen2"))["layers"]) == n_layers_heads("qwen2")[0] + 1
    assert cli("topics", "--model", bare, *data("qwen2"), "--clusters", "3")["n_clusters"] == 3
    file = _union(("qwen2", "bert"), tmp_path / "both.csv")
    r = cli("compare", "--models", f"{bare},{family('bert')['classifier']}", "--dataset", str(file), "--n", "30")
    assert 0.0 <= r["cka"] <= 1.0 and str(f["embedder"]) in r["models"]


@pytest.mark.parametrize("name", ["bert", "qwen2"])
def test_bfloat16_backbone(name, tmp_path):
    """``--dtype bfloat16`` on the CPU: the backbone in bfloat16, heads and results in float32; probabilities close
    to float32's, and the gradient, decoded, attention, head-masking and perturbation verbs all run."""
    f = family(name)
    m = ["--model", str(f["classifier"])]
    z = {}
    for dtype in ("float32", "bfloat16"):
        cli("embed", *m, *data(name), "--out", str(tmp_path / f"{dtype}.npz"), "--dtype", dtype)
        z[dtype] = np.load(tmp_path / f"{dtype}.npz")
    assert np.abs(z["bfloat16"]["probs"] - z["float32"]["probs"]).max() < 0.05
    assert not np.array_equal(z["bfloat16"]["pooled"], z["float32"]["pooled"])
    bf = [*m, "--dtype", "bfloat16"]
    for method in ("decoded_gradcam", "layer_gradcam", "integrated_gradients"):
        s = {}
        for dtype in ("float32", "bfloat16"):
            r = cli("saliency", *m, "--dtype", dtype, "--mlm", str(f["base"]), "--text", TEXT, "--method", method,
                    "--layer" if "gradcam" in method else "--param", "0" if "gradcam" in method else "steps=16")
            s[dtype] = np.asarray(r["scores"], float)
        assert np.isfinite(s["bfloat16"]).all() and s["bfloat16"].shape == s["float32"].shape
        scale = max(np.abs(s["float32"]).max(), 1e-6)
        assert np.abs(s["bfloat16"] - s["float32"]).max() <= 0.1 * scale + 1e-5, (method, s)
    A = np.asarray(cli("attention", *bf, "--text", TEXT, "--layer", "0", "--head", "0")["matrix"], float)
    assert np.allclose(A.sum(1), 1.0, atol=2e-2)
    assert np.isfinite(cli("heads", *bf, *data(name, 16), "--steps", "3")["matrix"]).all()
    r = cli("faithfulness", *bf, *data(name, 8), "--methods", "occlusion")
    assert 0.0 <= r["methods"][0]["hide_auc"] <= 1.0
    assert cli("instance", *bf, "--text", TEXT, "--ig-steps", "4", "--steps", "4")["entropy"] >= 0.0
    assert len(cli("layers", *bf, *data(name))["layers"]) == n_layers_heads(name)[0] + 1
