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
    from core.cli import _VERBS

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
