"""Bad, odd and hostile input against the CLI and the report builder: one ``error:`` line naming the problem, exit
code 2 (1 for a failing check), no traceback, no ``unexpected`` catch-all, and nothing written before is lost.

Everything here runs in-process (``cli.main.main`` / ``reports.cli.main``) on tiny models and small files built in
the test, so the whole matrix is part of the quick tier.
"""
from __future__ import annotations

import os
import shutil
import struct
from pathlib import Path

import pandas as pd
import pytest

from tests.conftest import _save_tiny

GOOD_TEXTS = ["the service was great", "terrible delay again", "fine, nothing special", "lovely crew",
              "lost my bag", "ok flight"] * 4


@pytest.fixture(scope="module")
def work(tmp_path_factory):
    """A folder with a tiny classifier, its broken variants, and data files good and bad."""
    w = tmp_path_factory.mktemp("bad-input")
    good = _save_tiny(w / "model", "bert")
    m = w / "models"
    m.mkdir()
    # the broken model folders
    trunc = m / "truncated"
    shutil.copytree(good, trunc)
    data = (trunc / "model.safetensors").read_bytes()
    (trunc / "model.safetensors").write_bytes(data[: len(data) // 3])
    garbage = m / "garbage"
    shutil.copytree(good, garbage)
    (garbage / "model.safetensors").write_bytes(os.urandom(4096))
    hdr = m / "bad-header"
    shutil.copytree(good, hdr)
    (hdr / "model.safetensors").write_bytes(struct.pack("<Q", 12) + b"not json !!")
    notok = m / "no-tokenizer"
    shutil.copytree(good, notok)
    for f in notok.iterdir():
        if f.name.startswith(("tokenizer", "vocab", "special_tokens")):
            f.unlink()
    config_only = m / "config-only"
    config_only.mkdir()
    shutil.copy(good / "config.json", config_only / "config.json")
    badcfg = m / "bad-config"
    shutil.copytree(good, badcfg)
    (badcfg / "config.json").write_text("{not json")
    pickled = m / "pickle-only"
    shutil.copytree(good, pickled)
    import torch
    from safetensors.torch import load_file

    torch.save(load_file(str(good / "model.safetensors")), pickled / "pytorch_model.bin")
    (pickled / "model.safetensors").unlink()
    evil = m / "evil-pickle"
    shutil.copytree(pickled, evil)
    torch.save({"x": _Evil()}, evil / "pytorch_model.bin")
    other_tok = m / "other-tokenizer"
    shutil.copytree(good, other_tok)
    for f in other_tok.iterdir():
        if f.name.startswith(("tokenizer", "vocab", "special_tokens")):
            f.unlink()
    from transformers import AutoTokenizer

    AutoTokenizer.from_pretrained(good).train_new_from_iterator(GOOD_TEXTS, vocab_size=200).save_pretrained(other_tok)
    (m / "a-file").write_text("not a folder")
    # data files
    d = w / "data"
    d.mkdir()
    pd.DataFrame({"text": GOOD_TEXTS, "label": ["class0", "class1", "class2"] * 8}).to_csv(d / "good.csv", index=False)
    pd.DataFrame({"text": GOOD_TEXTS, "label": ["class0", "nan", "NaN", "class1", "", "N/A"] * 4}).to_csv(
        d / "nan-labels.csv", index=False)
    (d / "mixed.csv").write_text("text,label\nhello,1\nhi,1.0\nhey, 1 \nbye,2\n")
    (d / "dup-columns.csv").write_text("text,label,label\nhello,a,b\n")
    (d / "empty.csv").write_text("")
    (d / "header-only.csv").write_text("text,label\n")
    (d / "binary.csv").write_bytes(os.urandom(2048))
    (d / "latin1.csv").write_bytes("text,label\ncaf\xe9 noir,a\n".encode("latin-1"))
    (d / "table.xlsx").write_bytes(b"PK\x03\x04")
    pd.DataFrame({"text": GOOD_TEXTS, "label": [i % 4 + 1 for i in range(len(GOOD_TEXTS))]}).to_csv(
        d / "one-based.csv", index=False)
    (d / "ids-too-big.csv").write_text("text,label\nhello,0\nhi,7\n")
    (d / "not-records.json").write_text('"just a string"')
    (d / "corrupt.parquet").write_bytes(b"PAR1" + os.urandom(100))
    (d / "folder-not-dataset").mkdir()
    return {"work": w, "good": good, "models": m, "data": d}


class _Evil:
    def __reduce__(self):
        return (os.system, ("echo pwned",))


def core_cli(capsys, *argv: str) -> tuple[int, str, str]:
    from cli.main import main

    try:
        rc = main(list(argv))
    except SystemExit as e:  # argparse exits
        rc = int(e.code or 0)
    out = capsys.readouterr()
    return rc, out.out, out.err


def reports_cli(capsys, *argv: str) -> tuple[int, str, str]:
    from reports.cli import main

    try:
        rc = main(list(argv))
    except SystemExit as e:
        rc = int(e.code or 0)
    out = capsys.readouterr()
    return rc, out.out, out.err


def assert_one_error(rc: int, err: str, needle: str, *, code: int = 2) -> None:
    assert rc == code, err
    assert needle.lower() in err.lower(), err
    assert "Traceback" not in err and "unexpected" not in err, err
    assert len([ln for ln in err.strip().splitlines() if ln.startswith("error:")]) == 1, err


# ----------------------------------------------------------------------------- data files

DATA_CASES = [
    ("dup-columns.csv", {}, "two columns named 'label'"),
    ("empty.csv", {}, "empty.csv"),
    ("header-only.csv", {}, "holds no rows"),
    ("binary.csv", {}, "binary.csv"),
    ("latin1.csv", {}, "--encoding latin-1"),
    ("latin1.csv", {"--encoding": "no-such-codec"}, "latin1.csv"),
    ("table.xlsx", {}, "Unsupported file type"),
    ("missing.csv", {}, "not found"),
    ("ids-too-big.csv", {"--label-names": "a,b"}, "do not fit the 2 label names"),
    ("not-records.json", {}, "not-records.json"),
    ("corrupt.parquet", {}, "corrupt.parquet"),
    ("folder-not-dataset", {}, "save_to_disk"),
    ("good.csv", {"--text-column": "body"}, "Column 'body' is not in"),
    ("good.csv", {"--label-column": "gold"}, "Column 'gold' is not in"),
]


@pytest.mark.parametrize("name,opts,needle", DATA_CASES, ids=[f"{c[0]}-{i}" for i, c in enumerate(DATA_CASES)])
def test_bad_data_files(work, capsys, name, opts, needle):
    args = ["data", "stats", "--dataset", str(work["data"] / name)]
    for k, v in opts.items():
        args += [k, v]
    rc, _, err = core_cli(capsys, *args)
    assert_one_error(rc, err, needle)


def test_nan_markers_are_unlabelled_never_a_class(work, capsys):
    from core.data.refs import load_dataset

    ds = load_dataset(str(work["data"] / "nan-labels.csv"))
    assert ds.label_names == ("class0", "class1")
    assert int((ds.labels < 0).sum()) == 16 and len(ds) == 24


def test_numbers_written_differently_are_one_class(work):
    from core.data.refs import load_dataset

    ds = load_dataset(str(work["data"] / "mixed.csv"))
    assert ds.label_names == ("1", "2") and list(ds.labels) == [0, 0, 0, 1]


def test_one_based_ids_with_names_say_so(work):
    from core.data.refs import load_dataset

    ds = load_dataset(str(work["data"] / "one-based.csv"), label_names=["a", "b", "c", "d"])
    assert set(ds.labels.tolist()) == {0, 1, 2, 3} and any("1-based" in n for n in ds.notes)


# ----------------------------------------------------------------------------- model folders

MODEL_CASES = [
    ("truncated", "truncated/model.safetensors"),
    ("garbage", "garbage/model.safetensors"),
    ("bad-header", "bad-header/model.safetensors"),
    ("no-tokenizer", "no tokenizer files"),
    ("config-only", "no weights"),
    ("bad-config", "config"),
    ("evil-pickle", "Refused the pickle checkpoint"),
    ("other-tokenizer", "belongs to another model"),
    ("a-file", "is a file"),
    ("does-not-exist", "not found"),
]


@pytest.mark.parametrize("name,needle", MODEL_CASES, ids=[c[0] for c in MODEL_CASES])
def test_broken_model_folders(work, capsys, name, needle):
    rc, _, err = core_cli(capsys, "evaluate", "--model", str(work["models"] / name), "--dataset",
                          str(work["data"] / "good.csv"), "--quiet")
    assert_one_error(rc, err, needle)


def test_pickle_only_checkpoint_loads_with_a_note(work):
    from core.models.refs import load_model

    m = load_model(str(work["models"] / "pickle-only"))
    assert any("pickle checkpoint" in n for n in m.notes)


def test_the_evil_pickle_never_ran(work, capfd):
    from core.models.refs import load_model
    from core.foundation.errors import ModelError

    with pytest.raises(ModelError):
        load_model(str(work["models"] / "evil-pickle"))
    assert "pwned" not in capfd.readouterr().out


# ----------------------------------------------------------------------------- command-line arguments

def _model_args(work):
    return ["--model", str(work["good"]), "--dataset", str(work["data"] / "good.csv")]


ARG_CASES = [
    (["evaluate", "--n", "0"], "--n must be a positive number"),
    (["evaluate", "--n", "-5"], "--n must be a positive number"),
    (["evaluate", "--n", "abc"], "invalid int value"),
    (["evaluate", "--n", "100000000"], "more texts than Backbone Lens samples"),
    (["evaluate", "--device", "cuda"], "no CUDA GPU"),
    (["evaluate", "--device", "cuda:7"], "cuda"),
    (["evaluate", "--device", "tpu"], "not a device name"),
    (["evaluate", "--device", "meta"], "not meta"),
    (["saliency", "--text", "fine", "--method", "integrated_gradient"], "did you mean 'integrated_gradients'"),
    (["saliency", "--text", "fine", "--method", "integrated_gradients", "--param", "steps=abc"], "steps"),
    (["saliency", "--text", "fine", "--method", "integrated_gradients", "--param", "nokey=1"], "no parameter"),
    (["saliency", "--text", "fine", "--method", "integrated_gradients", "--param", "steps"], "NAME=VALUE"),
    (["saliency", "--text", "fine", "--method", "gradient", "--target", "99"], "outside the label set"),
    (["saliency", "--text", "   ", "--method", "gradient"], "empty"),
    (["saliency", "--text", "fine", "--method", "layer_gradcam", "--layer", "9"], "out of range"),
    (["no-such-verb"], "invalid choice"),
    (["embed", "--out", "x.txt"], "must end in .npz"),
    (["embed", "--out", "missing-folder/x.npz"], "does not exist"),
]


@pytest.mark.parametrize("argv,needle", ARG_CASES, ids=[" ".join(c[0][:3]) + f"-{i}" for i, c in enumerate(ARG_CASES)])
def test_bad_arguments(work, capsys, monkeypatch, argv, needle):
    monkeypatch.chdir(work["work"])
    verb, rest = argv[0], argv[1:]
    extra = []
    if verb in ("evaluate", "embed"):
        extra = _model_args(work)
    elif verb == "saliency":
        extra = ["--model", str(work["good"])]
    rc, _, err = core_cli(capsys, verb, *extra, *rest, "--quiet")
    assert_one_error(rc, err, needle)


def test_n_above_the_data_uses_all_and_says_so(work, capsys):
    rc, out, err = core_cli(capsys, "evaluate", *_model_args(work), "--n", "500")
    assert rc == 0 and "using all of them" in err and '"n": 24' in out.replace("n: 24", '"n": 24')


def test_embed_never_overwrites(work, capsys, tmp_path):
    target = tmp_path / "emb.npz"
    target.write_bytes(b"keep me")
    rc, _, err = core_cli(capsys, "embed", *_model_args(work), "--out", str(target), "--quiet")
    assert_one_error(rc, err, "--overwrite")
    assert target.read_bytes() == b"keep me"


# ----------------------------------------------------------------------------- report specs

LOL = "".join(f"{c}: &{c} [{', '.join(['*' + p] * 9) if p else ', '.join(['lol'] * 9)}]\n"
              for p, c in zip(["", "a", "b", "c", "d", "e", "f", "g"], "abcdefgh"))
SPEC = "title: t\nmodel: {model}\ndataset: {dataset}\nsections:\n  - overview\n"


def _spec(folder: Path, text: str, name: str = "spec.yaml") -> Path:
    folder.mkdir(parents=True, exist_ok=True)
    p = folder / name
    p.write_text(text)
    return p


@pytest.fixture
def strict(monkeypatch):
    """The path policy as an auditor's CI sees it: no folder allowed besides the spec's own and the cache."""
    from reports.paths import ALLOWED_ENV

    monkeypatch.delenv(ALLOWED_ENV, raising=False)


SPEC_CASES = [
    (LOL + "title: t\n", "more than 20,000 values"),
    ("a: &a [*a]\ntitle: t\n", "refers to a value that contains it"),
    ("title: &t {x: *t}\n", "refers to a value that contains it"),
    ("x: " + "[" * 60 + "]" * 60 + "\n", "nested more than"),
    ("title: t\nmodel: m\ndataset: d\nsections:\n  - kind: overveiw\n", "did you mean 'overview'"),
    ("title: t\nmodel: m\ndataset: d\nsections:\n  - kind: saliency_examples\n    per_kind: 9\n", "from 1 to 5"),
    ("", "the spec is empty"),
    ("title: [unclosed\n", "not valid YAML"),
    ("- just\n- a list\n", "expected a mapping"),
    ("title: t\nmodel: m\ndataset: d\nsections: []\n", "non-empty list of sections"),
    ("title: t\nmodel: m\ndataset: d\nsections:\n  - overview\nchecks: [nonsense >]\n", "checks"),
]


@pytest.mark.parametrize("text,needle", SPEC_CASES, ids=[f"spec-{i}" for i in range(len(SPEC_CASES))])
def test_bad_specs(tmp_path, capsys, text, needle):
    rc, _, err = reports_cli(capsys, "validate", str(_spec(tmp_path, text)))
    assert_one_error(rc, err, needle)


def test_spec_larger_than_a_spec(tmp_path, capsys):
    p = tmp_path / "big.yaml"
    p.write_text("title: t\n" + "# padding\n" * 120_000)
    rc, _, err = reports_cli(capsys, "validate", str(p))
    assert_one_error(rc, err, "larger than 1 MB")


def test_spec_not_utf8(tmp_path, capsys):
    p = tmp_path / "latin.yaml"
    p.write_bytes("title: caf\xe9\n".encode("latin-1"))
    assert_one_error(*reports_cli(capsys, "validate", str(p))[::2], "not UTF-8")


def test_spec_that_is_a_folder(tmp_path, capsys):
    assert_one_error(*reports_cli(capsys, "validate", str(tmp_path))[::2], "Spec file not found")


def test_spec_path_outside_its_folder_is_refused(tmp_path, capsys, strict):
    secret = tmp_path / "elsewhere" / "secret.csv"
    secret.parent.mkdir()
    secret.write_text("text,label\nmy password is hunter2,a\n")
    p = _spec(tmp_path / "audit", SPEC.format(model="demo:bbc-finetuned", dataset="../elsewhere/secret.csv"))
    assert_one_error(*reports_cli(capsys, "validate", str(p))[::2], "outside the folders a spec may read")
    p2 = _spec(tmp_path / "audit", SPEC.format(model="demo:bbc-finetuned", dataset=str(secret)), "abs.yaml")
    assert_one_error(*reports_cli(capsys, "validate", str(p2))[::2], "outside the folders a spec may read")


def test_spec_symlink_out_of_its_folder_is_refused(tmp_path, capsys, strict):
    secret = tmp_path / "elsewhere.csv"
    secret.write_text("text,label\nsecret,a\n")
    audit = tmp_path / "audit"
    audit.mkdir()
    (audit / "data.csv").symlink_to(secret)
    p = _spec(audit, SPEC.format(model="demo:bbc-finetuned", dataset="data.csv"))
    assert_one_error(*reports_cli(capsys, "validate", str(p))[::2], str(secret))


def test_spec_section_model_outside_is_refused(tmp_path, capsys, work, strict):
    text = (SPEC.format(model="demo:bbc-finetuned", dataset="bundled:bbc")
            + f"  - kind: heads\n    model: {work['good']}\n")
    p = _spec(tmp_path / "audit", text)
    assert_one_error(*reports_cli(capsys, "validate", str(p))[::2], "sections[1].model")


def test_spec_paths_allowed_explicitly(tmp_path, capsys, strict, monkeypatch):
    data = tmp_path / "shared" / "d.csv"
    data.parent.mkdir()
    data.write_text("text,label\nhello,a\n")
    p = _spec(tmp_path / "audit", SPEC.format(model="demo:bbc-finetuned", dataset=str(data)))
    assert reports_cli(capsys, "validate", str(p), "--allow-path", str(data.parent))[0] == 0
    assert reports_cli(capsys, "validate", str(p), "--allow-any-path")[0] == 0
    from reports.paths import ALLOWED_ENV

    monkeypatch.setenv(ALLOWED_ENV, str(data.parent))
    assert reports_cli(capsys, "validate", str(p))[0] == 0
    inside = _spec(tmp_path / "audit", SPEC.format(model="demo:bbc-finetuned", dataset="d.csv"), "in.yaml")
    shutil.copy(data, tmp_path / "audit" / "d.csv")
    monkeypatch.delenv(ALLOWED_ENV)
    assert reports_cli(capsys, "validate", str(inside))[0] == 0


# ----------------------------------------------------------------------------- report output and snapshots

def test_build_refuses_to_replace_a_report(tmp_path, capsys):
    out = tmp_path / "out"
    out.mkdir()
    (out / "report.html").write_text("the earlier report")
    p = _spec(tmp_path, SPEC.format(model="demo:bbc-finetuned", dataset="bundled:bbc"))
    rc, _, err = reports_cli(capsys, "build", str(p), "--out", str(out))
    assert_one_error(rc, err, "--overwrite")
    assert (out / "report.html").read_text() == "the earlier report"


@pytest.mark.parametrize("content,needle", [
    ("{not json", "snapshot"),
    ('{"format": "something-else/9"}', "snapshot"),
    ("[1, 2, 3]", "snapshot"),
])
def test_render_bad_snapshots(tmp_path, capsys, content, needle):
    snap = tmp_path / "snapshot.json"
    snap.write_text(content)
    rc, _, err = reports_cli(capsys, "render", str(snap), "--out", str(tmp_path / "out"))
    assert_one_error(rc, err, needle)


def test_render_missing_snapshot(tmp_path, capsys):
    rc, _, err = reports_cli(capsys, "render", str(tmp_path / "nothing.json"), "--out", str(tmp_path / "out"))
    assert_one_error(rc, err, "nothing.json")


def test_render_refuses_to_replace_a_report(tmp_path, capsys):
    out = tmp_path / "out"
    out.mkdir()
    (out / "report.pdf").write_bytes(b"%PDF earlier")
    snap = tmp_path / "snapshot.json"
    snap.write_text("{}")
    rc, _, err = reports_cli(capsys, "render", str(snap), "--out", str(out))
    assert_one_error(rc, err, "--overwrite")
    assert (out / "report.pdf").read_bytes() == b"%PDF earlier"


@pytest.mark.parametrize("tag", ["animate", "set", "animateTransform", "animateMotion", "feImage"])
def test_svg_animation_cannot_smuggle_a_link(tag):
    from reports.render import safe_svg

    svg = (f'<svg xmlns="http://www.w3.org/2000/svg"><rect width="5" height="5"><{tag} attributeName="href" '
           f'to="https://example.org/x"/></rect></svg>')
    html = str(safe_svg(svg))
    assert "<rect" not in html and "example.org" not in html.replace("&quot;", "")


def test_corrupt_cache_entry_is_recomputed(tmp_path):
    import numpy as np

    from core.foundation.cache import ArrayCache

    cache = ArrayCache(tmp_path)
    calls = []

    def compute():
        calls.append(1)
        return {"x": np.arange(3)}, {}

    e = cache.get_or_compute("k", {"a": 1}, compute)
    e.path.write_bytes(b"garbage")
    again = cache.get_or_compute("k", {"a": 1}, compute)
    assert len(calls) == 2 and list(again.arrays["x"]) == [0, 1, 2]


def test_demo_status_finds_a_damaged_or_changed_model(work, tmp_path, monkeypatch, capsys):
    """A truncated weights file or a file changed since the build makes the demo "not ready", naming the file."""
    import json

    from core.training import demo_workspace as demo

    monkeypatch.setenv("BACKBONE_LENS_CACHE", str(tmp_path))
    root = demo.demo_root()
    for name in (*demo.DEMO_MODELS, "mlm-head"):
        shutil.copytree(work["good"], root / name)
        (root / name / demo.META_FILE).write_text("{}")
        (root / name / demo.MLM_FILE).write_bytes((root / name / "model.safetensors").read_bytes())
    steps = {name: {"files": demo.file_checksums(root / name)} for name in (*demo.DEMO_MODELS, "mlm-head")}
    (root / "manifest.json").write_text(json.dumps({"profile": "small", "steps": steps}))
    assert demo.demo_ready(verify=True)
    data = (root / "bbc-finetuned" / "model.safetensors").read_bytes()
    (root / "bbc-finetuned" / "model.safetensors").write_bytes(data[:-100])
    (root / "tweets-pretrained" / "config.json").write_text('{"changed": true}')
    problems = demo.demo_problems(verify=True)
    assert "model.safetensors is damaged" in problems["bbc-finetuned"]
    assert "config.json changed since the build" in problems["tweets-pretrained"]
    assert not demo.demo_ready() and "tweets-pretrained" not in demo.demo_problems()  # cheap check: headers only
    rc, out, err = core_cli(capsys, "demo", "status", "--json")
    status = json.loads(out)
    assert rc == 0 and status["ready"] is False and status["models"]["bbc-finetuned"] is False


def test_decoding_head_fit_with_no_training_step_is_refused(work):
    """A budget that runs out while the hidden states are read leaves the head untrained: that is an error, never a
    report of a fitted head with 0 steps."""
    from core.foundation.errors import BackboneLensError
    from core.models.refs import load_model
    from core.training.mlm_head import fit_decoding_head

    model = load_model(str(work["good"]))
    with pytest.raises(BackboneLensError, match="no training step"):
        fit_decoding_head(model, GOOD_TEXTS, GOOD_TEXTS[:4], max_seconds=0.0)
    head, report = fit_decoding_head(model, GOOD_TEXTS, GOOD_TEXTS[:4], max_seconds=30.0, max_steps=3)
    assert report.steps == 3
