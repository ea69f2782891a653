"""``compare`` and ``attack`` end to end on the real MiniLM demo workspace (small profile) and tiny models."""
import csv
import json

import pytest

from tests.integration.test_cli import run

pytestmark = pytest.mark.integration


def test_compare_pretrained_vs_finetuned(demo_workspace):
    out = json.loads(run("compare", "--models", "demo:bbc-pretrained,demo:bbc-finetuned", "--dataset", "bundled:bbc",
                         "--n", "60", "--k", "5,10", "--quiet", "--json").stdout)
    assert out["models"] == ["demo:bbc-pretrained", "demo:bbc-finetuned"] and out["n"] == 60
    assert [r["k"] for r in out["per_k"]] == [5, 10]
    for row in out["per_k"]:
        for space in ("embeddings", "projection"):
            assert 0.0 <= row["q_nn"][space] <= 1.0
            assert row["lcmc"][space] == pytest.approx(row["q_nn"][space] - row["k"] / 59, abs=1e-5)
    assert 0.0 < out["cka"] <= 1.0 and 0.0 <= out["prediction_agreement"] <= 1.0
    assert "held-out test split" in out["split"]
    assert len(out["disagreements"]) == 20 and {"text", "prediction_a", "prediction_b"} <= set(out["disagreements"][0])


def test_compare_a_model_with_itself_is_identical(demo_workspace):
    out = json.loads(run("compare", "--models", "demo:tweets-pretrained,demo:tweets-pretrained", "--dataset",
                         "bundled:tweets", "--n", "40", "--k", "5,10", "--quiet", "--json").stdout)
    for row in out["per_k"]:
        assert row["q_nn"]["embeddings"] == 1.0 and row["q_nn"]["projection"] == 1.0
    assert out["prediction_agreement"] == 1.0 and out["cka"] == pytest.approx(1.0)


def test_compare_different_label_sets_compares_embeddings_only(demo_workspace):
    out = json.loads(run("compare", "--models", "demo:bbc-pretrained,demo:tweets-pretrained", "--dataset",
                         "bundled:bbc", "--n", "40", "--k", "5", "--no-projections", "--quiet", "--json").stdout)
    assert out["prediction_agreement"] is None and "label sets differ" in out["pairs"][0]["note"]
    assert "projection" not in out["per_k"][0]["q_nn"]


@pytest.mark.parametrize("args,message", [
    (["--models", "demo:bbc-pretrained"], "at least two"),
    (["--models", "demo:bbc-pretrained,demo:bbc-finetuned", "--k", "5,x"], "comma-separated whole numbers"),
    (["--models", "demo:bbc-pretrained,demo:bbc-finetuned", "--n", "10", "--k", "20"], "too large"),
    (["--models", "demo:bbc-pretrained,demo:bbc-finetuned", "--lam", "2"], "λ"),
])
def test_compare_bad_input(demo_workspace, args, message):
    r = run("compare", *args, "--dataset", "bundled:bbc", "--quiet", check=False)
    assert r.returncode == 2 and message in r.stderr and "Traceback" not in r.stderr


def test_attack_char_on_the_demo_with_detection_and_csv(demo_workspace, tmp_path):
    f = tmp_path / "flagged.csv"
    out = json.loads(run("attack", "--model", "demo:tweets-finetuned", "--dataset", "bundled:tweets", "--n", "24",
                         "--attack", "char", "--csv", str(f), "--quiet", "--json").stdout)
    assert out["attacked"] + out["skipped_misclassified"] == 24
    assert 0.0 <= out["success_rate"] <= 1.0
    assert out["successes"] > 0, out  # a small fine-tuned MiniLM falls to character edits
    assert out["mean_words_changed"] >= 1 and out["queries_per_success"] > 1
    assert set(out["auroc"]) == {"entropy", "background_uncertainty", "neighbour_disagreement"}
    assert all(0.0 <= v <= 1.0 for v in out["auroc"].values())
    assert all(0.0 <= v <= 1.0 for v in out["precision_at_k"].values())
    for o in out["outcomes"]:
        if o["status"] == "success":
            assert o["prediction_after"] != o["prediction_before"] or o["label"] != o["prediction_after"]
            assert o["words_changed"] <= max(1, int(0.4 * o["n_words"]))
    rows = list(csv.DictReader(f.open(encoding="utf-8")))
    assert len(rows) == out["attacked"] and rows[0]["status"] == "success" and "[-" in rows[0]["diff"]
    again = run("attack", "--model", "demo:tweets-finetuned", "--dataset", "bundled:tweets", "--n", "24", "--attack",
                "char", "--csv", str(f), "--quiet", check=False)
    assert again.returncode == 2 and "exists" in again.stderr  # never overwrites the user's file


def test_attack_word_on_the_demo(demo_workspace):
    out = json.loads(run("attack", "--model", "demo:tweets-finetuned", "--dataset", "bundled:tweets", "--n", "10",
                         "--attack", "word", "--no-detection", "--quiet", "--json").stdout)
    assert out["params"]["candidates"] == "unmasked" and out["params"]["mlm_model"] == "demo:tweets-finetuned"
    assert out["attacked"] > 0 and 0.0 <= out["success_rate"] <= 1.0
    assert "detection" not in out


@pytest.mark.parametrize("args,message", [
    (["--attack", "glyph"], "invalid choice"),
    (["--max-change", "0"], "share of the words"),
    (["--importance", "gradcam"], "Unknown saliency method"),
    (["--attack", "word"], "the word attack"),  # the tiny model has no masked-LM head
])
def test_attack_bad_input(tiny_model_dir, tmp_path, args, message):
    data = tmp_path / "d.csv"
    data.write_text("text,label\n" + "".join(f"sample text number {i},class{i % 3}\n" for i in range(12)), "utf-8")
    r = run("attack", "--model", str(tiny_model_dir("bert")), "--dataset", str(data), "--label-column", "label",
            "--min-similarity", "0", "--quiet", *args, check=False)
    assert r.returncode == 2 and message in r.stderr and "Traceback" not in r.stderr
