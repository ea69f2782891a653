"""The Multi-task page under Streamlit's AppTest, on a tiny two-task model (random BERT, CSV tasks) and, for
the training button, the small demo profile in a cache of its own."""
from __future__ import annotations

import csv
import json
from pathlib import Path

import numpy as np
import pytest
from streamlit.testing.v1 import AppTest

ROOT = Path(__file__).resolve().parents[2]
APP = str(ROOT / "app.py")
PAGE = "pages/multitask.py"
TIMEOUT = 600
OTHER = "A multi-task model folder…"
N = 20

pytestmark = pytest.mark.app


def _rows(n: int, seed: int, pair: bool) -> list[tuple]:
    """fruit: 'apple' in the text ⇔ label apple; colour (pairs): the second text's colour word is the label."""
    rng = np.random.default_rng(seed)
    filler = ["stone", "river", "cloud", "table", "music", "paper", "glass", "field"]
    out = []
    for i in range(n):
        words = list(rng.choice(filler, size=int(rng.integers(2, 6))))
        if pair:
            colour = ["red", "green", "blue"][i % 3]
            out.append((" ".join(words), f"{colour} {rng.choice(filler)}", colour))
        else:
            label = "apple" if i % 2 else "other"
            out.append((" ".join(words + (["apple"] if label == "apple" else [])), label))
    return out


@pytest.fixture(scope="module")
def tiny_multitask(tiny_model_dir, tmp_path_factory):
    """Folders of a tiny two-task model (fruit: single texts, 2 labels; colour: pairs, 3 labels; random heads)
    and of a one-task model, both saved by ``core.models.multitask.save_multitask``."""
    from core.data.refs import load_dataset
    from core.data.sampling import take_split
    from core.models.refs import load_model
    from core.models.multitask import MultiTaskModel, save_multitask
    from core.training.finetune import TrainConfig, finetune_multitask

    root = tmp_path_factory.mktemp("multitask-app")
    files = {"fruit": root / "fruit.csv", "colour": root / "colour.csv"}
    for task, header, pair in (("fruit", ["text", "label"], False),
                               ("colour", ["premise", "hypothesis", "label"], True)):
        with open(files[task], "w", newline="") as f:
            w = csv.writer(f)
            w.writerow(header)
            w.writerows(_rows(200, 3, pair))
    refs = {t: str(p) for t, p in files.items()}
    full = {t: load_dataset(r) for t, r in refs.items()}
    names = {t: ds.label_names for t, ds in full.items()}
    base = load_model(str(tiny_model_dir("bert")), device="cpu")
    base.pooling = "mean"  # a random encoder's mean state carries the planted words
    # a few epochs of shared fine-tuning, so that each head predicts more than one class
    cfg = TrainConfig(setting="finetuned", seed=0, epochs=4, batch_size=16, lr=3e-3, encoder_lr=1e-3, patience=50,
                      max_length=32)
    heads, _ = finetune_multitask(base, {t: (take_split(ds, "train", seed=0), take_split(ds, "validation", seed=0))
                                         for t, ds in full.items()}, cfg, max_lengths={"fruit": 24, "colour": 32})
    base.head, base.label_names = None, ()
    meta = {"setting": "finetuned", "split": {"method": "hash", "seed": 0, "fractions": [0.7, 0.1, 0.2]},
            "tasks": {"fruit": {"heldout": {"accuracy": 0.5, "n": 40, "split": "test"}}}}
    two = save_multitask(MultiTaskModel(base=base, heads=heads, label_names=names, datasets=refs, metadata=meta,
                                        max_lengths={"fruit": 24, "colour": 32}), root / "two")
    one = save_multitask(MultiTaskModel(base=base, heads={"fruit": heads["fruit"]},
                                        label_names={"fruit": names["fruit"]}, datasets={"fruit": refs["fruit"]}),
                         root / "one")
    return {"two": two, "one": one}


def _page(folder: Path | str, *, run: bool = True) -> AppTest:
    at = AppTest.from_file(APP, default_timeout=TIMEOUT)
    at.session_state["bl.w.mt.model"] = OTHER
    at.session_state["bl.w.mt.folder"] = str(folder)
    at.session_state["bl.w.mt.n"] = N
    at.switch_page(PAGE)
    at.run()
    assert not at.exception, at.exception
    if run and not at.error:
        next(b for b in at.button if b.label == "Measure the synergy").click().run()
        assert not at.exception, at.exception
    return at


def test_synergy_of_a_two_task_model(demo_workspace, tiny_multitask):
    from core.analyses.synergy import SynergyParams, run_synergy
    from core.models.refs import load_multitask

    at = _page(tiny_multitask["two"])
    assert not at.error, [e.value for e in at.error]
    res = run_synergy(load_multitask(str(tiny_multitask["two"])), None, SynergyParams(n_per_task=N, k=10, lam=0.8))
    metrics = {m.label: m.value for m in at.metric}
    assert metrics["fruit: held-out accuracy"] == "50.0%" and metrics["colour: held-out accuracy"] == "–"
    assert metrics["Q_NN@10 (main)"] == f"{res.matrix[0, 1]:.3f}" and 0 <= res.matrix[0, 1] <= 1
    assert metrics["LCMC"] == f"{res.lcmc[0, 1]:+.3f}"
    assert metrics["CKA of the heads"] == f"{res.cka[0, 1]:.3f}"
    assert metrics["Tasks kept apart"] == f"{res.knn_task_accuracy:.0%}"
    # the reading, one bullet per sentence from core
    reading = next(m.value for m in at.markdown if m.value.startswith("- "))
    assert reading.splitlines() == [f"- {line}" for line in res.reading]
    # four matrices in tabs, the joint map, and the tables
    titles = [json.dumps(json.loads(c.proto.spec).get("title")) for c in at.get("vega_lite_chart")]
    for t in ("Q_NN@10 between the heads", "LCMC", "Transfer probes", "Linear CKA", f"{res.n} held-out texts of 2"):
        assert any(t in x for x in titles), (t, titles)
    assert [t.label for t in at.tabs] == ["Q_NN@10 (main)", "LCMC", "Transfer", "CKA"]
    by_k = at.dataframe[0].value
    assert list(by_k["k"]) == [5, 10, 20] and by_k["fruit vs colour"].tolist() == pytest.approx(
        [float(q[0, 1]) for q in res.q_nn_by_k])
    fidelity = at.dataframe[-1].value
    assert list(fidelity["task"]) == ["fruit", "colour"] and fidelity["q_knn"].between(0, 1).all()
    assert fidelity["trust"].between(0, 1).all()
    # colouring by label changes the joint map's legend
    at.radio(key="bl.w.mt.color").set_value("label").run()
    assert not at.exception and not at.error
    joint = json.loads(at.get("vega_lite_chart")[-1].proto.spec)
    assert joint["encoding"]["color"]["field"] == "label"
    # one task, as an ordinary classifier, on the Projection page with its own dataset
    at.selectbox(key="bl.w.mt.task").set_value("colour")
    next(b for b in at.button if b.label == "Open in Projection").click().run()
    assert not at.exception, at.exception
    assert at.session_state["bl.model_ref"] == f"{tiny_multitask['two']}#colour"
    assert at.session_state["bl.dataset_choice"].ref.endswith("colour.csv")
    assert any(t.value == "Projection" for t in at.title)
    assert not at.error, [e.value for e in at.error]


def test_one_task_model_is_one_error(demo_workspace, tiny_multitask):
    at = _page(tiny_multitask["one"])
    errors = [e.value for e in at.error]
    assert len(errors) == 1 and "Synergy needs at least two tasks" in errors[0] and "has one (fruit)" in errors[0]
    assert not at.get("vega_lite_chart")


def test_single_task_folder_is_one_error(demo_workspace, tiny_model_dir):
    at = _page(tiny_model_dir("bert"), run=False)
    errors = [e.value for e in at.error]
    assert len(errors) == 1 and "is not a multi-task model" in errors[0], errors
    assert not any(b.label == "Measure the synergy" for b in at.button)


def test_train_button_builds_the_pretrained_model(demo_workspace, tmp_path, monkeypatch):
    """No multi-task model in the workspace: the page explains and trains one (small profile, ~1 min: the
    frozen encoder's embeddings of the demo texts come from the test cache)."""
    (tmp_path / "demo").mkdir()
    (tmp_path / "demo" / "manifest.json").write_text(json.dumps({"profile": "small"}))
    (tmp_path / "arrays").symlink_to(demo_workspace / "arrays", target_is_directory=True)
    monkeypatch.setenv("BACKBONE_LENS_CACHE", str(tmp_path))
    at = AppTest.from_file(APP, default_timeout=TIMEOUT)
    at.switch_page(PAGE)
    at.run()
    assert not at.exception and not at.error, [e.value for e in at.error]
    assert any(m.value == "#### No multi-task model yet" for m in at.markdown)
    button = next(b for b in at.button if b.label.startswith("Train the pre-trained-setting model"))
    assert "~1 min" in button.label
    button.click().run()
    assert not at.exception and not at.error, [e.value for e in at.error]
    ok = [s.value for s in at.success]
    assert len(ok) == 1 and ok[0].startswith("`demo:multitask-pretrained` is ready (held-out accuracy: bbc "), ok
    assert (tmp_path / "demo" / "multitask-pretrained" / "backbone_lens.json").is_file()
    assert at.selectbox(key="bl.w.mt.model").value == "demo:multitask-pretrained"
    assert {m.label for m in at.metric} >= {"bbc: held-out accuracy", "tweets: held-out accuracy"}
    assert any(b.label == "Measure the synergy" for b in at.button)
