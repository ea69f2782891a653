"""``layers``, ``heads``, ``topics``, ``attention`` and ``instance`` end to end on the real MiniLM demo workspace."""
import json

import pytest

from tests.integration.test_cli import run

pytestmark = pytest.mark.integration


def test_layers_pretrained_vs_finetuned(demo_workspace):
    out = json.loads(run("layers", "--model", "demo:tweets-pretrained,demo:tweets-finetuned", "--dataset",
                         "bundled:tweets", "--n", "120", "--quiet", "--json").stdout)
    assert out["n"] == 120 and len(out["models"]) == 2
    for m in out["models"]:
        assert [r["layer"] for r in m["layers"]] == list(range(7))
        assert all(0.0 <= r["knn_accuracy"] <= 1.0 and -1.0 <= r["silhouette"] <= 1.0 for r in m["layers"])
        assert 0 <= m["separation_layer"] <= 6
        assert max(r["knn_accuracy"] for r in m["layers"]) > m["chance"]  # real sentiment signal in MiniLM


def test_heads_importance_and_pruning(demo_workspace):
    out = json.loads(run("heads", "--model", "demo:tweets-finetuned", "--dataset", "bundled:tweets", "--n", "12",
                         "--steps", "3", "--quiet", "--json").stdout)
    assert len(out["matrix"]) == 6 and len(out["matrix"][0]) == 12
    assert -1.0 <= out["spearman"] <= 1.0
    p = out["pruning"]
    assert p["ks"][0] == 0 and p["ks"][-1] == 72
    assert p["least_important_first"][0] == p["most_important_first"][0] == p["random"][0]  # nothing masked: the same accuracy
    assert p["least_important_first"][-1] == p["most_important_first"][-1]  # everything masked: the same model


def test_topics_bbc(demo_workspace):
    out = json.loads(run("topics", "--model", "demo:bbc-finetuned", "--dataset", "bundled:bbc", "--n", "80",
                         "--clusters", "4", "--quiet", "--json").stdout)
    assert out["n_clusters"] == 4 and sum(c["size"] for c in out["clusters"]) == 80
    assert all(len(c["top_words"]) == 10 for c in out["clusters"])


def test_attention_pair_and_bad_head(demo_workspace):
    out = json.loads(run("attention", "--model", "demo:tweets-finetuned", "--text", "the plane was late",
                         "--text-pair", "we missed our connection", "--layer", "5", "--head", "3", "--quiet",
                         "--json").stdout)
    assert out["tokens"][0] == "[CLS]" and out["segments"][-1] == 1
    assert all(abs(sum(r) - 1.0) < 1e-4 for r in out["matrix"])  # every token shown: rows are distributions
    assert len(out["cross_segment"]["first_to_second"]) == 6
    r = run("attention", "--model", "demo:tweets-finetuned", "--text", "hi there", "--head", "12", check=False)
    assert r.returncode != 0 and "Head 12 does not exist" in r.stderr and "Traceback" not in r.stderr


def test_instance_one_text_and_study(demo_workspace):
    out = json.loads(run("instance", "--model", "demo:tweets-finetuned", "--text",
                         "worst flight ever, they lost my bag", "--steps", "16", "--max-tokens", "5", "--quiet",
                         "--json").stdout)
    assert len(out["interactions"]) == 5 and 0.0 <= out["entropy"] <= 1.0
    assert out["interaction_completeness_error"] < 0.2
    st = json.loads(run("instance", "--model", "demo:tweets-finetuned", "--dataset", "bundled:tweets", "--n", "24",
                        "--ig-steps", "5", "--quiet", "--json").stdout)
    assert st["n"] == 24 and st["texts_from"] == "held-out test split"
    assert st["auroc_error"] is None or 0.0 <= st["auroc_error"] <= 1.0
    r = run("instance", "--model", "demo:tweets-finetuned", "--quiet", check=False)
    assert r.returncode != 0 and "either --text" in r.stderr
