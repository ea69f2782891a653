"""``python -m core train`` on the user's own files (issue 19), with a tiny random BERT as the base model:
separate validation and test files (CSV, and Parquet sentence pairs), ``--n`` on all three parts, 1-based labels
with and without names or a label map, ``user:NAME`` models, honest held-out samples afterwards, the demo's
decoding head reused on the same frozen encoder, and one ``error:`` line for bad input."""
from __future__ import annotations

import json

import numpy as np
import pandas as pd
import pytest

from tests.unit.test_training_data import FILLER, news_rows, write_csv

NAMES = "apple,train,piano,goal"


def core(capsys, *argv: str) -> tuple[int, str, str]:
    from tests.integration.test_bad_input import core_cli

    return core_cli(capsys, *argv)


def train(capsys, base, *argv: str) -> dict:
    rc, out, err = core(capsys, "train", "--model", str(base), "--quiet", "--json", "--threads", "1",
                        "--max-length", "24", *argv)
    assert rc == 0, err
    return json.loads(out)


@pytest.fixture
def cache(tmp_path, monkeypatch):
    monkeypatch.setenv("BACKBONE_LENS_CACHE", str(tmp_path / "cache"))
    return tmp_path / "cache"


@pytest.fixture(scope="module")
def files(tmp_path_factory):
    d = tmp_path_factory.mktemp("user-data")
    return {"train": write_csv(d / "train.csv", news_rows(600, 0)), "dev": write_csv(d / "dev.csv", news_rows(90, 1)),
            "test": write_csv(d / "test.csv", news_rows(150, 2))}


def test_train_with_validation_and_test_files(capsys, cache, files, tiny_model_dir, tmp_path):
    from core.models.refs import load_model
    from core.training.user_models import read_splits

    out = train(capsys, tiny_model_dir("bert"), "--dataset", str(files["train"]), "--validation", str(files["dev"]),
                "--test", str(files["test"]), "--label-names", NAMES, "--setting", "both", "--out",
                str(tmp_path / "m"), "--max-seconds", "20")
    assert out["splits"] == {"train": "600 texts of train.csv (the whole file)",
                             "validation": "90 texts of dev.csv (the whole file)",
                             "test": "150 texts of test.csv (the whole file)"}
    assert any("1-based" in n for n in out["notes"]) and out["threads"]["threads"] == 1
    pre, fin = out["models"]
    assert (pre["setting"], fin["setting"]) == ("pretrained", "finetuned")
    assert pre["folder"].endswith("/m/pretrained") and fin["folder"].endswith("/m/finetuned")
    for m in (pre, fin):
        assert m["heldout"]["n"] == 150 and m["heldout"]["from"] == "the test file" and m["steps"] > 0
        assert m["budget"]["seconds"] <= 20
    model = load_model(fin["folder"])
    meta = model.metadata
    assert model.label_names == ("apple", "train", "piano", "goal") and meta["init_head"] == pre["folder"]
    assert meta["test_file"].endswith("test.csv") and meta["validation_file"].endswith("dev.csv")
    assert meta["split"]["method"] == "files" and meta["split"]["heldout_in_train_file"] is False
    assert meta["training"]["threads"]["threads"] == 1 and meta["training"]["steps"] == fin["steps"]
    rec = read_splits(fin["folder"])
    assert rec["rows"]["train"] == list(range(600)) and rec["rows"]["test"] == list(range(150))
    # all of the training file was training data: an audit on it says so instead of claiming a held-out split
    rc, out, err = core(capsys, "evaluate", "--model", fin["folder"], "--dataset", str(files["train"]),
                        "--label-names", NAMES, "--json", "--quiet")
    ev = json.loads(out)
    assert rc == 0 and ev["split"] == "all" and ev["n"] == 600 and "training examples included" in ev["note"]
    rc, out, err = core(capsys, "evaluate", "--model", fin["folder"], "--dataset", str(files["test"]),
                        "--label-names", NAMES, "--json", "--quiet")
    assert rc == 0 and json.loads(out)["n"] == 150


def test_parquet_pairs_with_a_validation_file(capsys, cache, tiny_model_dir, tmp_path):
    """Separate train and validation Parquet files of sentence pairs: nothing of the training file goes unused
    but its held-out test part, which later audits of the training file use."""
    def frame(n, seed):
        rng = np.random.default_rng(seed)
        colours = ["red", "green", "blue"]
        return pd.DataFrame([{"sentence1": f"{' '.join(rng.choice(FILLER, 3))} {seed}-{i}",
                              "sentence2": f"a {colours[i % 3]} {rng.choice(FILLER)}", "label": i % 3}
                             for i in range(n)])
    frame(400, 0).to_parquet(tmp_path / "train.parquet")
    frame(60, 1).to_parquet(tmp_path / "validation.parquet")
    out = train(capsys, tiny_model_dir("bert"), "--dataset", str(tmp_path / "train.parquet"), "--validation",
                str(tmp_path / "validation.parquet"), "--label-names", "red,green,blue", "--setting", "finetuned",
                "--name", "pairs", "--epochs", "1")
    m = out["models"][0]
    assert m["ref"] == "user:pairs" and m["heldout"]["split"] == "test"
    assert "the hash split's training part, 80% of the file" in out["splits"]["train"]
    assert out["splits"]["validation"] == "60 texts of validation.parquet (the whole file)"
    rc, out, err = core(capsys, "evaluate", "--model", "user:pairs", "--dataset", str(tmp_path / "train.parquet"),
                        "--label-names", "red,green,blue", "--json", "--quiet")
    ev = json.loads(out)
    assert rc == 0 and ev["split"] == "test" and ev["n"] == m["heldout"]["n_test_texts"]
    from core.training.user_models import list_user_models

    assert [u["ref"] for u in list_user_models()] == ["user:pairs"]


def test_n_bounds_training_validation_and_test(capsys, cache, tiny_model_dir, tmp_path):
    big = write_csv(tmp_path / "big.csv", news_rows(3000, 5))
    out = train(capsys, tiny_model_dir("bert"), "--dataset", str(big), "--n", "350", "--setting", "finetuned",
                "--out", str(tmp_path / "m"), "--epochs", "1")
    assert out["splits"]["train"].startswith("350 of ") and out["splits"]["validation"].startswith("100 of ")
    assert out["splits"]["test"].startswith("100 of ")  # 2·350/7 = 100
    m = out["models"][0]
    assert m["heldout"]["n"] == 100 and m["heldout"]["n_test_texts"] == 100
    from core.models.refs import read_metadata

    meta = read_metadata(str(tmp_path / "m"))
    assert (meta["n_train"], meta["n_validation"]) == (350, 100)


def test_one_based_labels_without_names_and_with_a_map(capsys, cache, files, tiny_model_dir, tmp_path):
    from core.models.refs import read_metadata

    out = train(capsys, tiny_model_dir("bert"), "--dataset", str(files["train"]), "--out", str(tmp_path / "a"),
                "--epochs", "2")
    assert read_metadata(str(tmp_path / "a"))["label_names"] == ["1", "2", "3", "4"]  # no empty class "0"
    out = train(capsys, tiny_model_dir("bert"), "--dataset", str(files["train"]), "--test", str(files["test"]),
                "--label-map", "1=World,2=Sports,3=Business,4=Sci/Tech", "--out", str(tmp_path / "b"), "--epochs", "2")
    meta = read_metadata(str(tmp_path / "b"))
    assert meta["label_names"] == ["World", "Sports", "Business", "Sci/Tech"] and meta["label_map"].startswith("1=World")
    assert any("label map" in n for n in out["notes"])


@pytest.mark.parametrize("extra,needle", [
    (["--label-names", "a,b,c,d", "--label-map", "1=a"], "either --label-names or --label-map"),
    (["--label-names", "a,b,c,d,e"], "'a' has no text among the"),  # 1 … 4 of 5 names read as 0-based …
    (["--label-names", "a,b,c,d,e"], "give a label map (1=a,2=b,…)"),  # … and the message says how to fix it
    (["--label-map", "1=a,2=b"], "does not name: 3, 4"),
    (["--threads", "0"], "at least 1"),
    (["--max-seconds", "-3"], "must be positive"),
    (["--validation", "/nowhere/dev.csv"], "not found"),
])
def test_bad_input_is_one_error_line(capsys, cache, files, tiny_model_dir, tmp_path, extra, needle):
    rc, out, err = core(capsys, "train", "--model", str(tiny_model_dir("bert")), "--dataset", str(files["train"]),
                        "--out", str(tmp_path / "x"), "--quiet", *extra)
    assert rc == 2 and needle in err and err.count("error:") == 1 and "Traceback" not in err, err
    assert not (tmp_path / "x").exists()


def test_existing_destination_is_never_overwritten(capsys, cache, files, tiny_model_dir, tmp_path):
    (tmp_path / "taken").mkdir()
    rc, _, err = core(capsys, "train", "--model", str(tiny_model_dir("bert")), "--dataset", str(files["train"]),
                      "--out", str(tmp_path / "taken"), "--quiet")
    assert rc == 2 and "exists; choose a new folder" in err
    rc, _, err = core(capsys, "train", "--model", str(tiny_model_dir("bert")), "--dataset", str(files["train"]),
                      "--quiet")
    assert rc == 2 and "one of the arguments --out --name is required" in err


def test_frozen_encoder_reuses_the_demos_decoding_head(capsys, cache, files, tiny_model_dir, tmp_path):
    """A pre-trained-setting model keeps the base encoder: it gets the demo's fitted decoding head (same encoder
    fingerprint) instead of none; a fine-tuned encoder differs and gets none."""
    import torch

    from core.models.decoding_heads import DecodingHead
    from core.models.loading import MLM_FILE
    from core.models.refs import load_model
    from core.models.storage import fitted_head_path, save_model
    from core.training.demo_workspace import demo_root

    base = load_model(str(tiny_model_dir("bert")))
    torch.manual_seed(1)
    head = DecodingHead(base.encoder.get_input_embeddings())
    save_model(base.with_mlm_head(head), demo_root() / "mlm-head", {"mlm_report": {"steps": 5}})
    out = train(capsys, tiny_model_dir("bert"), "--dataset", str(files["train"]), "--label-names", NAMES,
                "--setting", "both", "--out", str(tmp_path / "m"), "--epochs", "1")
    pre, fin = (load_model(m["folder"]) for m in out["models"])
    assert "demo's decoding head" in out["models"][0]["mlm_head"] and out["models"][1]["mlm_head"] is None
    assert (tmp_path / "m" / "pretrained" / MLM_FILE).exists() and not (tmp_path / "m" / "finetuned" / MLM_FILE).exists()
    assert all(torch.equal(a, b) for a, b in zip(pre.mlm_head.state_dict().values(), head.state_dict().values()))
    assert fitted_head_path(base).exists()  # stored for the encoder: every page and verb finds it from now on
