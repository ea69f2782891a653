"""The CLI end to end on the real MiniLM demo workspace (small profile) and bundled data."""
import json
import subprocess
import sys

import numpy as np
import pytest

from tests.conftest import ROOT

pytestmark = pytest.mark.integration


def run(*args, check=True):
    r = subprocess.run([sys.executable, "-m", "core", *args], cwd=ROOT, capture_output=True, text=True, timeout=600)
    if check:
        assert r.returncode == 0, r.stderr
    return r


def test_help_for_every_verb():
    from cli.common import _VERBS

    for name in _VERBS:
        r = run(name, "--help")
        assert "usage:" in r.stdout


def test_evaluate_heldout_json(demo_workspace):
    out = json.loads(run("evaluate", "--model", "demo:bbc-finetuned", "--dataset", "bundled:bbc", "--json",
                         "--quiet").stdout)
    assert out["split"] == "test" and "held-out" in out["note"]
    assert {"accuracy", "n", "split", "confusion_matrix", "labels"} <= set(out)
    cm = np.array(out["confusion_matrix"])
    assert cm.shape == (5, 5) and cm.sum() == out["n"]
    assert out["accuracy"] == pytest.approx(np.trace(cm) / cm.sum())
    assert out["accuracy"] > 0.6  # five balanced topics: chance is 0.2


def test_evaluate_on_foreign_data_uses_all(demo_workspace, tmp_path):
    p = tmp_path / "news.csv"
    p.write_text("text,label\nThe striker scored twice in the cup final,sport\n"
                 "Shares fell as the bank cut its profit forecast,business\n")
    out = json.loads(run("evaluate", "--model", "demo:bbc-finetuned", "--dataset", str(p), "--json",
                         "--quiet").stdout)
    assert out["split"] == "all" and out["n"] == 2


def test_embed_writes_npz_and_refuses_to_overwrite(demo_workspace, tmp_path):
    out = tmp_path / "e.npz"
    res = json.loads(run("embed", "--model", "demo:tweets-pretrained", "--dataset", "bundled:tweets", "--n", "40",
                         "--out", str(out), "--json", "--quiet").stdout)
    z = np.load(out)
    assert z["pooled"].shape == (40, 384) and z["probs"].shape == (40, 3) and res["n"] == 40
    before = out.read_bytes()
    r = run("embed", "--model", "demo:tweets-pretrained", "--dataset", "bundled:tweets", "--n", "40",
            "--out", str(out), check=False)
    assert r.returncode == 2 and "exists" in r.stderr and out.read_bytes() == before


def test_cache_list_json(demo_workspace):
    out = json.loads(run("cache", "list", "--json").stdout)
    assert out["entries"] and all(e["kind"] for e in out["entries"])


@pytest.mark.parametrize("args,msg", [
    (["evaluate", "--model", "demo:bbc-finetuned", "--dataset", "missing.csv"], "not found"),
    (["evaluate", "--model", "demo:bbc-finetuned", "--dataset", "bundled:tweets"], "not one the model knows"),
    (["evaluate", "--model", "demo:nope", "--dataset", "bundled:bbc"], "Unknown demo model"),
    (["evaluate", "--model", "demo:bbc-finetuned", "--dataset", "bundled:bbc", "--n", "0"], "positive"),
    (["evaluate", "--model", "bundled:minilm", "--dataset", "bundled:bbc", "--n", "5"], "no classification head"),
    (["cache", "clear"], "--yes"),
])
def test_bad_input_one_sentence_nonzero(demo_workspace, args, msg):
    r = run(*args, check=False)
    assert r.returncode == 2
    assert msg in r.stderr and "Traceback" not in r.stderr
    assert len(r.stderr.strip().splitlines()) == 1


def test_demo_status(demo_workspace):
    out = json.loads(run("demo", "status", "--json").stdout)
    assert out["ready"] is True and set(out["models"]) >= {"bbc-finetuned", "mlm-head"}


# ----------------------------------------------------------------------------- project (DeepView)


def test_project_json_and_saved_file_agree(demo_workspace, tmp_path):
    from core.analyses.projection.run import load_projection_file
    from core.analyses.projection.background import DecisionBackground
    from core.analyses.projection.fidelity import q_data, q_knn_error

    out_file = tmp_path / "proj.npz"
    out = json.loads(run("project", "--model", "demo:bbc-pretrained", "--dataset", "bundled:bbc", "--n", "160",
                         "--lam", "0.8", "--resolution", "40", "--out", str(out_file), "--json", "--quiet").stdout)
    assert {"n", "lam", "q_knn_error", "q_data", "trustworthiness", "continuity", "seconds",
            "projection_file"} <= set(out)
    assert out["n"] == 160 and out["lam"] == 0.8 and out["projection_file"] == str(out_file)
    arrays, meta = load_projection_file(out_file)
    assert arrays["points"].shape == (160, 2) and arrays["background_classes"].shape == (40, 40)
    assert len(arrays["texts"]) == 160 and meta["settings"]["metric"] == "cosine"
    # the reported metrics are the ones the saved layout gives
    assert q_knn_error(arrays["points"], arrays["predictions"], 5) == pytest.approx(out["q_knn_error"], abs=1e-6)
    bg = DecisionBackground(tuple(meta["extent"]), meta["resolution"], arrays["background_classes"],
                            arrays["background_confidence"], arrays["background_probs"])
    assert q_data(arrays["points"], arrays["predictions"], bg) == pytest.approx(out["q_data"], abs=1e-6)
    assert 0.5 < out["trustworthiness"] <= 1.0
    # an existing file is never overwritten silently
    r = run("project", "--model", "demo:bbc-pretrained", "--dataset", "bundled:bbc", "--n", "160",
            "--out", str(out_file), "--quiet", check=False)
    assert r.returncode == 2 and "exists" in r.stderr and "Traceback" not in r.stderr


def test_project_sweep_reuses_the_distance_graph(demo_workspace):
    args = ("project", "--model", "demo:tweets-pretrained", "--dataset", "bundled:tweets", "--n", "150",
            "--resolution", "30", "--json", "--quiet")
    first = json.loads(run(*args, "--sweep", "0,1").stdout)
    assert [r["lam"] for r in first["rows"]] == [0.0, 1.0]
    assert first["rows"][1]["graph_cache_hit"]  # the second λ only re-mixes
    run("cache", "clear", "--kind", "projection", "--yes")  # a λ = 0.5 map left by an earlier local run
    again = json.loads(run(*args, "--lam", "0.5").stdout)
    assert again["graph_cache_hit"] and not again["projection_cache_hit"]


@pytest.mark.parametrize("extra, message", [
    (("--lam", "1.5"), "λ must lie in [0, 1]"),
    (("--n", "5"), "at least k + 2 = 7 points"),
    (("--sweep", "0,x"), "numbers separated by commas"),
])
def test_project_bad_input_one_sentence(demo_workspace, extra, message):
    r = run("project", "--model", "demo:bbc-pretrained", "--dataset", "bundled:bbc", "--quiet", *extra, check=False)
    assert r.returncode == 2, r.stderr
    assert message in r.stderr and "Traceback" not in r.stderr
