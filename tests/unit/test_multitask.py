"""Multi-task models on tiny random BERTs: shared fine-tuning, storage, task views, synergy and the CLI."""
import copy
import csv
import json
import math
import time

import numpy as np
import pytest
import torch
from torch import nn

from core.foundation.cache import ArrayCache
from cli.main import main
from core.data.datasets import _make
from core.data.refs import load_dataset
from core.data.sampling import take_split
from core.analyses.projection.params import ProjectionParams
from core.foundation.errors import BackboneLensError, ModelError
from core.models.classifier_heads import MLPHead
from core.models.refs import load_model
from core.models.multitask import MultiTaskModel, save_multitask
from core.models.refs import is_multitask, load_multitask
from core.training.multitask import check_tasks
from core.analyses.synergy import SynergyParams, run_synergy, synergy_reading
from core.data.sampling import draw
from core.training.finetune import (TrainConfig, TrainResult, _check, _evaluate_batches, _seed_all, finetune, finetune_multitask)
from core.models.embeddings import predict_proba

FAST = ProjectionParams(neighbors=10, resolution=20, n_epochs=60)
FILLER = ["stone", "river", "cloud", "table", "music", "paper", "glass", "field"]


# ----------------------------------------------------------------------------- data


def _fruit_rows(n, seed):
    """Single texts; 'apple' in the text ⇔ label apple."""
    rng = np.random.default_rng(seed)
    rows = []
    for i in range(n):
        w = list(rng.choice(FILLER, size=int(rng.integers(2, 7))))
        y = "apple" if i % 2 else "other"
        if y == "apple":
            w.insert(int(rng.integers(0, len(w) + 1)), "apple")
        rows.append((" ".join(w), y))
    return rows


def _pair_rows(n, seed):
    """Sentence pairs; the second segment's colour word decides the label (3 classes)."""
    rng = np.random.default_rng(seed)
    colours = ["red", "green", "blue"]
    rows = []
    for i in range(n):
        a = " ".join(rng.choice(FILLER, size=int(rng.integers(2, 5))))
        w = list(rng.choice(FILLER, size=int(rng.integers(1, 4))))
        c = colours[i % 3]
        w.insert(int(rng.integers(0, len(w) + 1)), c)
        rows.append((a, " ".join(w), c))
    return rows


def _fruit(n=60, seed=0):
    rows = _fruit_rows(n, seed)
    names = ("apple", "other")
    return _make("fruit", [r[0] for r in rows], [names.index(r[1]) for r in rows], names)


def _colour(n=60, seed=0):
    rows = _pair_rows(n, seed)
    names = ("blue", "green", "red")
    return _make("colour", [r[0] for r in rows], [names.index(r[2]) for r in rows], names, [r[1] for r in rows])


def _tiny(tiny_model_dir):
    m = load_model(str(tiny_model_dir("bert")), device="cpu")
    m.pooling = "mean"  # a random encoder's mean state carries the planted word's embedding
    return m


# ----------------------------------------------------------------------------- the single-task routine


def _reference_finetune(model, train, val, cfg, *, init_head=None, progress=None):
    """``core.training.finetune`` as it was before the multi-task routine (a verbatim copy)."""
    _check(train, val, train.label_names)
    g = _seed_all(cfg.seed)
    t0 = time.perf_counter()
    max_length = int(cfg.max_length or model.max_length)
    head = copy.deepcopy(init_head) if init_head is not None else MLPHead(model.hidden_size, len(train.label_names))
    head.to(model.device)
    keep = np.flatnonzero(train.labels >= 0)
    opt = torch.optim.AdamW([
        {"params": model.encoder.parameters(), "lr": cfg.encoder_lr},
        {"params": head.parameters(), "lr": cfg.lr},
    ], weight_decay=cfg.weight_decay)
    steps_per_epoch = math.ceil(len(keep) / cfg.batch_size)
    total = steps_per_epoch * cfg.epochs
    warm = max(1, int(0.06 * total))
    sched = torch.optim.lr_scheduler.LambdaLR(
        opt, lambda s: min((s + 1) / warm, max(0.0, (total - s) / max(1, total - warm))))
    lossf = nn.CrossEntropyLoss()
    eval_every = cfg.eval_every or steps_per_epoch
    vl, va = _evaluate_batches(model, head, val, max_length, 64)
    best = (vl, va, 0, copy.deepcopy(model.encoder.state_dict()), copy.deepcopy(head.state_dict()))
    hist = [{"step": 0, "val_loss": vl, "val_accuracy": va}]
    bad, step, stopped = 0, 0, "epochs"
    done = False
    for ep in range(cfg.epochs):
        perm = keep[torch.randperm(len(keep), generator=g).numpy()]
        for i in range(0, len(perm), cfg.batch_size):
            model.encoder.train()
            head.train()
            idx = perm[i:i + cfg.batch_size]
            batch = model.tokenize([train.texts[j] for j in idx],
                                   None if train.text_pairs is None else [train.text_pairs[j] for j in idx],
                                   max_length=max_length)
            y = torch.from_numpy(train.labels[idx]).to(model.device)
            loss = lossf(head(model.encode(batch).pooled), y)
            opt.zero_grad()
            loss.backward()
            torch.nn.utils.clip_grad_norm_(list(model.encoder.parameters()) + list(head.parameters()), 1.0)
            opt.step()
            sched.step()
            step += 1
            over_time = bool(cfg.max_seconds and time.perf_counter() - t0 > cfg.max_seconds)
            if step % eval_every == 0 or step == total or over_time:
                vl, va = _evaluate_batches(model, head, val, max_length, 64)
                hist.append({"step": step, "epoch": ep + 1, "train_loss": float(loss.detach()), "val_loss": vl,
                             "val_accuracy": va})
                if vl < best[0] - 1e-4:
                    best, bad = (vl, va, step, copy.deepcopy(model.encoder.state_dict()),
                                 copy.deepcopy(head.state_dict())), 0
                else:
                    bad += 1
                    if bad >= cfg.patience:
                        stopped, done = "early stopping", True
            if progress:  # the progress protocol: (stage, fraction, message)
                progress("finetune", step / total, f"step {step}/{total}: loss {float(loss.detach()):.3f}")
            if over_time and not done:
                stopped, done = "time budget", True
            if done:
                break
        if done:
            break
    model.encoder.load_state_dict(best[3])
    head.load_state_dict(best[4])
    model.encoder.eval()
    head.eval()
    model.forget_fingerprints()
    return head, TrainResult("finetuned", ep + 1, best[2], best[1], best[0], time.perf_counter() - t0,
                             tuple(hist), stopped)


def _assert_same_state(a: dict, b: dict) -> None:
    assert a.keys() == b.keys()
    for k in a:
        assert torch.equal(a[k], b[k]), k


@pytest.mark.parametrize("kind,with_init,lr,patience,stopped_by", [
    ("text", False, 3e-3, 50, "epochs"),
    ("pair", False, 2e-2, 1, "early stopping"),
    ("pair", True, 3e-3, 50, "epochs"),
])
def test_finetune_single_task_unchanged(tiny_model_dir, kind, with_init, lr, patience, stopped_by):
    # issue 19 changed two things this test compared with the verbatim copy: the progress line now also says how
    # many threads ran (and opens with the first validation pass), and the time budget is honest (its own tests,
    # test_training_budget.py); without a budget every state, curve and step stays the same
    train, val = (_fruit(32, 0), _fruit(16, 1)) if kind == "text" else (_colour(32, 0), _colour(16, 1))
    cfg = TrainConfig(setting="finetuned", seed=3, epochs=2, batch_size=8, lr=lr, encoder_lr=lr / 3,
                      patience=patience, eval_every=2, max_length=24, threads=torch.get_num_threads())
    torch.manual_seed(7)
    init = MLPHead(32, len(train.label_names)) if with_init else None
    ref_model, new_model = _tiny(tiny_model_dir), _tiny(tiny_model_dir)
    ref_steps, new_steps = [], []
    ref_head, ref_res = _reference_finetune(ref_model, train, val, cfg, init_head=init,
                                            progress=lambda st, f, msg: ref_steps.append((st, f, msg)))
    new_head, new_res = finetune(new_model, train, val, cfg, init_head=init,
                                 progress=lambda st, f, msg: new_steps.append((st, f, msg)))
    _assert_same_state(ref_model.encoder.state_dict(), new_model.encoder.state_dict())
    _assert_same_state(ref_head.state_dict(), new_head.state_dict())
    threads = f" · {torch.get_num_threads()} thread" + ("s" if torch.get_num_threads() != 1 else "")
    assert new_steps[0][2].startswith("validating on 16 texts before the first step")
    assert all(msg.endswith(threads) for _, _, msg in new_steps[1:])
    assert new_res.history == ref_res.history
    assert [(st, f, msg.removesuffix(threads)) for st, f, msg in new_steps[1:]] == ref_steps
    assert (new_res.epochs_run, new_res.best_epoch, new_res.val_accuracy, new_res.val_loss, new_res.stopped_by) == (
        ref_res.epochs_run, ref_res.best_epoch, ref_res.val_accuracy, ref_res.val_loss, ref_res.stopped_by)
    assert new_res.steps == 8 if stopped_by == "epochs" else new_res.steps < 8
    # the kept state is a trained one (a comparison of two untouched encoders would prove nothing)
    assert new_res.best_epoch > 0
    untouched = _tiny(tiny_model_dir).encoder.state_dict()
    assert any(not torch.equal(untouched[k], v) for k, v in new_model.encoder.state_dict().items())
    assert new_res.stopped_by == stopped_by  # each way a run can end without a budget is covered


def test_finetune_multitask_rejects_unknown_init_head(tiny_model_dir):
    m = _tiny(tiny_model_dir)
    with pytest.raises(BackboneLensError, match="unknown tasks: nope"):
        finetune_multitask(m, {"fruit": (_fruit(20, 0), _fruit(8, 1))}, TrainConfig(epochs=1),
                           init_heads={"nope": MLPHead(32, 2)})


# ----------------------------------------------------------------------------- a trained tiny multi-task model


def _write_csvs(folder):
    folder.mkdir(parents=True, exist_ok=True)
    fruit, colour = folder / "fruit.csv", folder / "colour.csv"
    with open(fruit, "w", newline="") as f:
        w = csv.writer(f)
        w.writerow(["text", "label"])
        w.writerows(_fruit_rows(180, 10))
    with open(colour, "w", newline="") as f:
        w = csv.writer(f)
        w.writerow(["premise", "hypothesis", "label"])
        w.writerows(_pair_rows(180, 11))
    return {"fruit": str(fruit), "colour": str(colour)}


@pytest.fixture(scope="module")
def trained(tiny_model_dir, tmp_path_factory):
    """A tiny two-task model (fruit: single texts, 2 labels; colour: pairs, 3 labels) fine-tuned together,
    its data files as dataset references, and the folder it is saved in."""
    root = tmp_path_factory.mktemp("multitask")
    refs = _write_csvs(root / "data")
    full = {t: load_dataset(r) for t, r in refs.items()}
    tasks = {t: (take_split(ds, "train", seed=0), take_split(ds, "validation", seed=0)) for t, ds in full.items()}
    m = _tiny(tiny_model_dir)
    cfg = TrainConfig(setting="finetuned", seed=0, epochs=4, batch_size=16, lr=3e-3, encoder_lr=1e-3, patience=50,
                      max_length=32)
    heads, res = finetune_multitask(m, tasks, cfg, max_lengths={"fruit": 24, "colour": 32})
    m.head, m.label_names = None, ()
    meta = {"setting": "finetuned", "split": {"method": "hash", "seed": 0, "fractions": [0.7, 0.1, 0.2]},
            "tasks": {t: {"data_fingerprint": full[t].source_fingerprint, "pair": full[t].is_pair} for t in full}}
    mt = MultiTaskModel(base=m, heads=heads, label_names={t: full[t].label_names for t in full}, datasets=refs,
                        metadata=meta, max_lengths={"fruit": 24, "colour": 32})
    folder = save_multitask(mt, root / "model")
    tests = {t: take_split(ds, "test", seed=0) for t, ds in full.items()}
    return {"mt": mt, "res": res, "folder": folder, "tests": tests, "full": full}


def test_finetune_multitask_learns_both_tasks(trained):
    res, mt, tests = trained["res"], trained["mt"], trained["tests"]
    last = res.history[-1]
    assert set(last["task_val_accuracy"]) == {"fruit", "colour"}
    assert last["val_loss"] == pytest.approx(np.mean(list(last["task_val_loss"].values())))
    assert res.history[0]["task_val_accuracy"].keys() == last["task_val_accuracy"].keys()
    # held-out accuracy of each task view, well above chance (1/2 and 1/3)
    from core.models.evaluate import evaluate
    from core.models.heldout import heldout_sample

    acc = {t: evaluate(mt.for_task(t), heldout_sample(mt.for_task(t), tests[t])).accuracy for t in mt.tasks}
    assert acc["fruit"] >= 0.8 and acc["colour"] >= 0.6, acc
    assert mt.heads["fruit"].num_labels == 2 and mt.heads["colour"].num_labels == 3


def test_task_order_is_a_seeded_shuffle(tiny_model_dir):
    seen = []
    m = _tiny(tiny_model_dir)
    tasks = {"fruit": (_fruit(48, 0), _fruit(8, 1)), "colour": (_colour(16, 0), _colour(9, 1))}
    cfg = TrainConfig(setting="finetuned", epochs=1, batch_size=8, lr=1e-3, encoder_lr=1e-4, max_length=16)
    # step lines only: since issue 19 the progress opens with a line about the first validation pass
    finetune_multitask(m, tasks, cfg, progress=lambda st, f, msg: msg.startswith("step") and seen.append(
        msg.split("(")[1].split(")")[0]))
    assert seen.count("fruit") == 6 and seen.count("colour") == 2  # steps in proportion to the batches
    assert seen != sorted(seen, key=["fruit", "colour"].index)  # interleaved, not one task after the other


# ----------------------------------------------------------------------------- storage and task views


def test_save_load_roundtrip_and_task_refs(trained):
    mt, folder = trained["mt"], trained["folder"]
    assert is_multitask(str(folder)) and is_multitask(f"{folder}#fruit")
    back = load_multitask(str(folder), device="cpu")
    assert back.tasks == ("fruit", "colour") and back.label_names == mt.label_names
    assert back.datasets == mt.datasets and back.max_lengths == {"fruit": 24, "colour": 32}
    assert back.base.pooling == "mean" and back.base.head is None
    for t in mt.tasks:
        _assert_same_state(back.heads[t].state_dict(), mt.heads[t].state_dict())
    meta = json.loads((folder / "backbone_lens.json").read_text())
    assert meta["format"] == "backbone-lens-multitask/1" and meta["tasks"]["colour"]["pair"] is True
    assert meta["tasks"]["fruit"]["head"] == {"type": "mlp", "dim": 32, "num_labels": 2, "hidden": 32, "dropout": 0.1}
    view = load_model(f"{folder}#colour", device="cpu")
    assert view.ref == f"{folder}#colour" and view.label_names == ("blue", "green", "red")
    assert view.max_length == 32 and view.metadata["task"] == "colour"
    assert view.metadata["format"] == "backbone-lens-classifier/1"
    _assert_same_state(view.head.state_dict(), mt.heads["colour"].state_dict())
    ds = trained["tests"]["colour"]
    np.testing.assert_allclose(predict_proba(view, ds.texts[:5], ds.text_pairs[:5]),
                               predict_proba(mt.for_task("colour"), ds.texts[:5], ds.text_pairs[:5]), atol=1e-5)


def test_task_ref_errors(trained, tiny_model_dir):
    folder = trained["folder"]
    with pytest.raises(ModelError, match=r"is a multi-task model with tasks fruit, colour; pick one with REF#TASK"):
        load_model(str(folder))
    with pytest.raises(ModelError, match="has no task 'nope'; its tasks are fruit, colour"):
        load_model(f"{folder}#nope")
    with pytest.raises(BackboneLensError, match="has no task 'nope'; its tasks are fruit, colour"):
        trained["mt"].for_task("nope")
    assert not is_multitask(str(tiny_model_dir("bert")))
    with pytest.raises(ModelError, match="is not a multi-task model"):
        load_model(f"{tiny_model_dir('bert')}#fruit")
    with pytest.raises(ModelError, match="is not a multi-task model; train one with `python -m core multitask"):
        load_multitask(str(tiny_model_dir("bert")))


def test_demo_refs_and_overwrite_guard(trained, tmp_path, monkeypatch):
    monkeypatch.setenv("BACKBONE_LENS_CACHE", str(tmp_path))
    with pytest.raises(ModelError, match=r"not built yet; run `python -m core multitask train --setting finetuned`"):
        load_model("demo:multitask-finetuned#fruit")
    with pytest.raises(ModelError, match="not built yet; run `python -m core demo build`"):
        load_model("demo:bbc-pretrained")
    with pytest.raises(ModelError, match="Unknown demo model 'nope'; choose one of: .*multitask-pretrained"):
        load_model("demo:nope")
    save_multitask(trained["mt"], tmp_path / "demo" / "multitask-pretrained")
    view = load_model("demo:multitask-pretrained#fruit", device="cpu")
    assert view.ref == "demo:multitask-pretrained#fruit" and view.label_names == ("apple", "other")
    other = tmp_path / "mine"
    other.mkdir()
    (other / "notes.txt").write_text("keep me")
    with pytest.raises(BackboneLensError, match="not a Backbone Lens model folder"):
        save_multitask(trained["mt"], other)
    assert (other / "notes.txt").read_text() == "keep me" and len(list(other.iterdir())) == 1


def test_check_tasks_messages():
    assert check_tasks("bbc, tweets") == ("bbc", "tweets")
    with pytest.raises(BackboneLensError, match="Unknown task 'nope'; choose from bbc, tweets, snli"):
        check_tasks("bbc,nope")
    with pytest.raises(BackboneLensError, match=r"at least two tasks, got one \(bbc\)"):
        check_tasks(["bbc"])
    with pytest.raises(BackboneLensError, match="named twice"):
        check_tasks("bbc,bbc")


# ----------------------------------------------------------------------------- synergy


@pytest.fixture(scope="module")
def synergy_result(trained, tmp_path_factory):
    mt, tests = trained["mt"], trained["tests"]
    cache = ArrayCache(tmp_path_factory.mktemp("synergy-cache"))
    samples = {t: draw(ds, 30) for t, ds in tests.items()}
    return run_synergy(mt, samples, SynergyParams(n_per_task=30, k=10, ks=(5, 10)), projection=FAST, cache=cache), cache


def test_synergy_matrices(synergy_result):
    res, _ = synergy_result
    N = res.n
    assert N == 60 and res.tasks == ("fruit", "colour") and res.ks == (5, 10)
    assert res.matrix.shape == res.lcmc.shape == res.cka.shape == res.transfer.shape == (2, 2)
    assert res.q_nn_by_k.shape == (2, 2, 2) and res.shared_points.shape == (2, N, 2)
    np.testing.assert_array_equal(np.diag(res.matrix), [1.0, 1.0])
    assert ((res.matrix >= 0) & (res.matrix <= 1)).all() and np.allclose(res.matrix, res.matrix.T)
    np.testing.assert_allclose(res.lcmc, res.matrix - 10 / (N - 1))
    np.testing.assert_allclose(np.diag(res.cka), [1.0, 1.0], atol=1e-9)
    assert (np.diag(res.transfer) >= res.chance).all(), (res.transfer, res.chance)
    assert np.diag(res.transfer).min() > res.chance.max() + 0.1  # each head reads its own task well
    assert res.chance[0] == pytest.approx(max(np.bincount(res.labels[res.task_ids == 0])) / 30)
    assert res.joint_points.shape == (N, 2) and -1 <= res.silhouette <= 1 and 0 <= res.knn_task_accuracy <= 1
    # the colour texts are pairs and the fruit texts are not: the shared encoder separates the two sets
    assert res.knn_task_accuracy > 0.9
    for t, p in res.per_task.items():
        assert p.points.shape == (30, 2) and 0 <= p.fidelity["q_knn_error"] <= 1
    assert 2 <= len(res.reading) <= 4 and "Q_NN@10" in res.reading[0]


def test_synergy_json_and_cache(synergy_result, trained):
    res, cache = synergy_result
    out = json.loads(json.dumps(res.to_json()))
    assert {"model", "tasks", "metric", "matrix", "lcmc", "transfer", "cka", "dataset_separation", "per_task",
            "reading", "seconds"} <= set(out)
    assert out["metric"] == "q_nn@10 of task-specific DeepView projections on shared samples"
    assert set(out["transfer"]) >= {"matrix", "chance", "full_probe"} and out["per_task"]["colour"]["n"] == 30
    again = run_synergy(trained["mt"], {t: draw(ds, 30) for t, ds in trained["tests"].items()},
                        SynergyParams(n_per_task=30, k=10, ks=(5, 10)), projection=FAST, cache=cache)
    np.testing.assert_array_equal(again.shared_points, res.shared_points)
    np.testing.assert_array_equal(again.matrix, res.matrix)


def test_synergy_one_task_and_bad_inputs(trained):
    mt = trained["mt"]
    one = MultiTaskModel(base=mt.base, heads={"fruit": mt.heads["fruit"]}, label_names={"fruit": ("apple", "other")},
                         datasets={"fruit": "x.csv"})
    with pytest.raises(BackboneLensError, match=r"Synergy needs at least two tasks; .* has one \(fruit\)\."):
        run_synergy(one)
    with pytest.raises(BackboneLensError, match="No samples given for task"):
        run_synergy(mt, {"fruit": draw(trained["tests"]["fruit"], None)})
    with pytest.raises(BackboneLensError, match="k = 80 is too large"):
        run_synergy(mt, {t: draw(ds, 30) for t, ds in trained["tests"].items()}, SynergyParams(n_per_task=30, k=80),
                    projection=FAST)


def test_reading_follows_the_numbers():
    tasks = ("a", "b", "c")
    m = np.array([[1, .2, .5], [.2, 1, .1], [.5, .1, 1]])
    cka = np.array([[1, .9, .3], [.9, 1, .2], [.3, .2, 1]])
    tr = np.array([[.9, .3, .6], [.3, .8, .3], [.5, .3, .9]])
    chance = np.array([.5, .34, .34])
    r = synergy_reading(tasks, m, m - 10 / 59, cka, tr, chance, np.array([.9, .9, .9]), k=10, n=60)
    assert "closest tasks are a and c (0.50)" in r[0] and "most distant b and c (0.10)" in r[0]
    assert "above chance (0) for 2 of 3 pairs" in r[1]
    assert "a and b (0.90), not the pair closest by" in r[2]
    assert "in 1 of 6 cross-task cases" in r[3] and "best, the a head's logits predict c labels at 0.60" in r[3]


# ----------------------------------------------------------------------------- CLI


def test_cli_synergy_json(trained, tmp_path, monkeypatch, capsys):
    monkeypatch.setenv("BACKBONE_LENS_CACHE", str(tmp_path))
    rc = main(["multitask", "synergy", "--model", str(trained["folder"]), "--n-per-task", "30", "--json",
               "--quiet", "--device", "cpu"])
    cap = capsys.readouterr()
    assert rc == 0, cap.err
    out = json.loads(cap.out)
    assert {"model", "tasks", "metric", "matrix", "lcmc", "transfer", "cka", "dataset_separation", "per_task",
            "reading", "seconds"} <= set(out)
    assert out["tasks"] == ["fruit", "colour"] and out["per_task"]["fruit"]["n"] == 30
    assert out["matrix"][0][0] == 1.0 and len(out["transfer"]["chance"]) == 2


@pytest.mark.parametrize("argv,message", [
    (["multitask", "synergy", "--model", "TINY"], "is not a multi-task model; train one with `python -m core "
                                                  "multitask train`."),
    (["multitask", "train", "--tasks", "bbc,nope"], "Unknown task 'nope'; choose from bbc, tweets, snli."),
    (["multitask", "train", "--tasks", "bbc"], "A multi-task model needs at least two tasks, got one (bbc)."),
    (["multitask", "synergy"], "multitask synergy needs --model"),
])
def test_cli_errors_are_one_sentence(tiny_model_dir, capsys, argv, message):
    argv = [str(tiny_model_dir("bert")) if a == "TINY" else a for a in argv]
    rc = main(argv)
    err = capsys.readouterr().err.strip()
    assert rc == 2 and len(err.splitlines()) == 1 and err.startswith("error: ") and message in err, err
