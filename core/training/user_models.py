"""Train classifiers on the user's own files and keep them as models every page, verb and report can open.

:func:`train_models` is the one routine behind ``python -m core train`` and the dashboard's Training page:

1. **Data**: a training file (or a bundled dataset) and optional validation and test files, read with the same
   columns and their labels encoded together (:func:`core.data.files.load_files`: one reading of 0- or 1-based
   ids, or an explicit label map); :func:`core.data.sampling.training_splits` decides which texts go where and
   ``n`` bounds all three parts. A class without a training text is refused: no model gets an empty class.
2. **Training** in the pre-trained setting, the fine-tuned one or both (then the fine-tuning starts from the
   pre-trained head, and the pre-trained run gets :data:`PRETRAINED_SHARE` of the budget), with the threads
   chosen once (:func:`core.foundation.settings.choose_threads`) and an honest budget (:mod:`core.training.finetune`).
3. **Held-out evaluation** on the test texts, capped at ``eval_seconds`` (default :data:`EVAL_SHARE` of the
   budget): as many test texts as the measured speed allows are evaluated, and the record says how many.
4. **Saving**: a Backbone Lens folder (``--out``) or ``user:NAME`` under ``<cache>/models`` (a registered model
   reference scheme), with ``training_splits.json`` (the rows of each part). A model that keeps the frozen
   bundled MiniLM reuses the demo's fitted decoding head (same encoder fingerprint) instead of fitting one.
"""
from __future__ import annotations

import json
import re
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np

from core.data.datasets import TextDataset
from core.data.sampling import Sample, TrainingSplits, training_splits
from core.foundation.errors import BackboneLensError, ModelError
from core.foundation.files import atomic_write_text
from core.foundation.progress import Progress, or_silent
from core.foundation.settings import ThreadChoice, cache_root, choose_threads, torch_threads
from core.models.loading import META_FILE, LoadedModel
from core.models.refs import Scheme, load_model, register_scheme
from core.training.finetune import SETTINGS, Record, TrainConfig, TrainResult, finetune, train_pretrained_head, \
    training_metadata

CHOICES = (*SETTINGS, "both")
PRETRAINED_SHARE = 1 / 3  # "both": the pre-trained run's share of the budget (fine-tuning gets the rest)
EVAL_SHARE = 0.2  # default cap of each held-out evaluation: this share of the budget (at least MIN_EVAL_SECONDS)
MIN_EVAL_SECONDS = 5.0
SPLITS_FILE = "training_splits.json"
_NAME = re.compile(r"[A-Za-z0-9][A-Za-z0-9._-]{0,63}\Z")


# ----------------------------------------------------------------------------- user:NAME


def user_models_root() -> Path:
    """Where ``user:NAME`` models live: ``<cache>/models``."""
    return cache_root() / "models"


def check_name(name: str) -> str:
    name = str(name).strip()
    if not _NAME.match(name):
        raise BackboneLensError(f"Model name {name!r} must start with a letter or digit and use only letters, "
                                "digits, '.', '_' and '-' (64 characters at most).")
    return name


def resolve_user(name: str) -> Path:
    p = user_models_root() / check_name(name)
    if not (p / META_FILE).exists():
        have = [m["name"] for m in list_user_models()]
        raise ModelError(f"No user model '{name}'" + (f"; the user models are: {', '.join(have)}." if have else
                                                      "; train one with `python -m core train --name NAME`."))
    return p


register_scheme(Scheme("user", resolve_user, "user:NAME, a model trained on your data (python -m core train "
                                             "--name NAME, or the Training page)"))


def list_user_models() -> list[dict[str, Any]]:
    """Every ``user:NAME`` model, newest first: name, ref, setting, base model, training data, held-out accuracy."""
    out = []
    root = user_models_root()
    for f in sorted(root.glob(f"*/{META_FILE}")) if root.exists() else []:
        try:
            meta = json.loads(f.read_text("utf-8"))
        except (OSError, ValueError):
            continue
        out.append({"name": f.parent.name, "ref": f"user:{f.parent.name}", "setting": meta.get("setting"),
                    "base_model": meta.get("base_model"), "dataset": meta.get("dataset"),
                    "heldout_accuracy": (meta.get("heldout") or {}).get("accuracy"),
                    "created": meta.get("created"), "mtime": f.stat().st_mtime})
    return sorted(out, key=lambda m: -m["mtime"])


# ----------------------------------------------------------------------------- the request


@dataclass(frozen=True)
class DataFiles:
    """The user's data: a training file (or ``bundled:NAME``), optional validation and test files, and how to read
    them (the same columns in every file)."""

    train: str
    validation: str | None = None
    test: str | None = None
    text_column: str | None = None
    text_pair_column: str | None = None
    label_column: str | None = None
    label_names: tuple[str, ...] | None = None
    label_map: str | None = None  # "1=World,2=Sports,…"
    encoding: str = "utf-8"


@dataclass(frozen=True)
class TrainingRequest:
    """One training run: the base model, the data, the setting(s), sizes, the budget and the threads."""

    base: str
    data: DataFiles
    setting: str = "pretrained"  # pretrained | finetuned | both
    n: int | None = None
    n_validation: int | None = None
    n_test: int | None = None
    seed: int = 0
    max_seconds: float | None = None
    eval_seconds: float | None = None
    threads: int | None = None
    max_length: int | None = None
    epochs: int | None = None
    device: str | None = None

    def eval_cap(self) -> float | None:
        """Seconds each held-out evaluation may take (None: no cap)."""
        if self.eval_seconds is not None:
            return float(self.eval_seconds)
        return None if self.max_seconds is None else max(MIN_EVAL_SECONDS, EVAL_SHARE * self.max_seconds)


@dataclass(frozen=True)
class TrainedModel:
    """One saved classifier: its reference and folder, what training did and its held-out evaluation."""

    ref: str
    folder: Path
    setting: str
    result: TrainResult
    heldout: dict[str, Any]
    metadata: dict[str, Any]
    save_seconds: float = 0.0

    def to_json(self) -> dict[str, Any]:
        r = self.result
        return {"ref": self.ref, "folder": str(self.folder), "setting": self.setting,
                "heldout_accuracy": self.heldout["accuracy"], "heldout_n": self.heldout["n"],
                "heldout": self.heldout, "val_accuracy": r.val_accuracy, "steps": r.steps,
                "epochs_run": r.epochs_run, "stopped_by": r.stopped_by, "seconds": round(r.seconds, 1),
                "budget": r.budget, "n_train_used": r.n_train_used,
                "mlm_head": self.metadata.get("mlm_head")}


@dataclass(frozen=True)
class TrainingRun:
    """What :func:`train_models` did: the models, the splits, the threads, the data's notes and the times."""

    models: tuple[TrainedModel, ...]
    splits: TrainingSplits
    threads: ThreadChoice
    notes: tuple[str, ...]
    seconds: dict[str, float] = field(default_factory=dict)

    def to_json(self) -> dict[str, Any]:
        return {"models": [m.to_json() for m in self.models],
                "splits": {s: self.splits.describe(s) for s in ("train", "validation", "test")},
                "threads": self.threads.to_json(), "notes": list(self.notes), "seconds": self.seconds}


# ----------------------------------------------------------------------------- data


def load_training_data(data: DataFiles) -> tuple[TextDataset, TextDataset | None, TextDataset | None]:
    """(train, validation or None, test or None): the files read with the same columns, labels encoded together
    (a bundled training set: the other files' labels must be its label names)."""
    from core.data.bundled import load_bundled
    from core.data.files import load_file, load_files

    names = list(data.label_names) if data.label_names else None
    others = [p for p in (data.validation, data.test) if p]
    if data.train.startswith("bundled:"):
        train = load_bundled(data.train.split(":", 1)[1])
        kw = dict(text_column=data.text_column, text_pair_column=data.text_pair_column,
                  label_column=data.label_column, encoding=data.encoding)
        loaded = [load_file(p, label_names=list(train.label_names), **kw) for p in others]
    else:
        train, *loaded = load_files([data.train, *others], text_column=data.text_column,
                                    text_pair_column=data.text_pair_column, label_column=data.label_column,
                                    label_names=names, label_map=data.label_map, encoding=data.encoding)
    it = iter(loaded)
    val = next(it) if data.validation else None
    test = next(it) if data.test else None
    for what, ds in (("training", train), ("validation", val), ("test", test)):
        if ds is not None and not ds.has_labels:
            raise BackboneLensError(f"The {what} data {Path(ds.name).name} has no labels; training needs a label "
                                    "column (name it with --label-column).")
    return train, val, test


def _check_classes(splits: TrainingSplits) -> None:
    """Every class needs training texts: refuse the run rather than train a model with an empty class."""
    names = splits.train.label_names
    counts = np.bincount(splits.train.labels[splits.train.labels >= 0], minlength=len(names))
    empty = [names[i] for i in np.flatnonzero(counts == 0)]
    if empty:
        raise BackboneLensError(
            f"Label{'s' if len(empty) > 1 else ''} {', '.join(repr(e) for e in empty[:5])} "
            f"{'have' if len(empty) > 1 else 'has'} no text among the {len(splits.train):,} training texts: "
            "such a class would never be learnt. Check the label names or map, or give more training texts (--n)."
            + "".join(f" {n}" for n in splits.train.notes if "0-based" in n))


# ----------------------------------------------------------------------------- evaluation under a cap


def _rate_probe(model: LoadedModel, test: TextDataset) -> float:
    """Texts per second of ``model`` on up to 32 test texts (uncached)."""
    from core.models.embeddings import extract_embeddings

    probe = test.subset(np.arange(min(32, len(test))))
    t = time.perf_counter()
    extract_embeddings(model, probe, use_cache=False)
    return len(probe) / max(1e-6, time.perf_counter() - t)


def evaluate_capped(model: LoadedModel, splits: TrainingSplits, *, cap: float | None, rate: float | None,
                    seed: int = 0, progress: Progress | None = None) -> tuple[dict[str, Any], Any]:
    """Held-out accuracy of ``model`` on the run's test texts, as many as ``cap`` seconds allow at ``rate`` texts
    per second (measured on 32 texts when None); (record, EvaluationResult)."""
    from core.data.sampling import sample
    from core.models.evaluate import evaluate

    t0 = time.perf_counter()
    test = splits.test
    n = len(test)
    if cap is not None:
        rate = rate or _rate_probe(model, test)
        n = max(min(n, 20), min(n, int(max(0.0, cap - (time.perf_counter() - t0)) * rate * 0.8)))
    chosen = sample(test, n, seed=seed) if n < len(test) else test
    hashed = splits.origin["test"] == "hash"
    s = Sample(dataset=chosen, source=splits.sources["test"].name, split="test" if hashed else "all", seed=seed,
               n_pool=splits.pools["test"], n_total=len(splits.sources["test"]), trained_by=model.ref,
               models=(model.ref,))
    ev = evaluate(model, s, batch_size=64, progress=progress)  # the batch size the speed was measured with
    rec = {"accuracy": ev.accuracy, "n": ev.n, "split": ev.split, "macro_f1": ev.macro_f1,
           "source": Path(splits.sources["test"].name).name if not splits.sources["test"].name.startswith("bundled:")
           else splits.sources["test"].name,
           "from": "the hash split's test part of the training data" if hashed else "the test file",
           "n_test_texts": len(test), "cap_seconds": cap, "seconds": round(time.perf_counter() - t0, 2)}
    return rec, ev


# ----------------------------------------------------------------------------- the run


def _targets(setting: str, out: str | Path | None, name: str | None) -> dict[str, tuple[str, Path]]:
    """setting → (reference, folder) for each model the run writes; refuses to overwrite anything."""
    if (out is None) == (name is None):
        raise BackboneLensError("Give either a folder to write the model into (--out) or a name for it (--name).")
    settings = SETTINGS if setting == "both" else (setting,)
    targets: dict[str, tuple[str, Path]] = {}
    for s in settings:
        if name is not None:
            n = check_name(name if len(settings) == 1 else f"{name}-{s}")
            targets[s] = (f"user:{n}", user_models_root() / n)
        else:
            folder = Path(out).expanduser() if len(settings) == 1 else Path(out).expanduser() / s  # type: ignore
            targets[s] = (str(folder), folder)
    for ref, folder in targets.values():
        if folder.exists():
            raise BackboneLensError(f"{ref if ref.startswith('user:') else folder} exists; choose a new "
                                    f"{'name' if name else 'folder'} so no model is overwritten.")
    if out is not None and len(settings) > 1 and Path(out).expanduser().exists():
        raise BackboneLensError(f"{out} exists; choose a new folder so no model is overwritten.")
    return targets


def _check_request(req: TrainingRequest) -> None:
    if req.setting not in CHOICES:
        raise BackboneLensError(f"Unknown setting '{req.setting}'; choose one of: {', '.join(CHOICES)}.")
    for what, v in (("time budget", req.max_seconds), ("evaluation cap", req.eval_seconds)):
        if v is not None and not v > 0:
            raise BackboneLensError(f"The {what} must be positive, got {v:g} seconds.")
    if req.epochs is not None and req.epochs < 1:
        raise BackboneLensError(f"--epochs must be at least 1, got {req.epochs}.")
    if req.max_length is not None and req.max_length < 8:
        raise BackboneLensError(f"--max-length must be at least 8 tokens, got {req.max_length}.")


def train_models(req: TrainingRequest, *, out: str | Path | None = None, name: str | None = None,
                 progress: Progress | None = None, on_record: Record | None = None) -> TrainingRun:
    """Train, evaluate and save the classifier(s) of ``req`` (see the module docstring); ``on_record`` receives
    every validation row (with ``setting``, ``seconds`` and ``eta_seconds``) for a live chart."""
    _check_request(req)
    targets = _targets(req.setting, out, name)
    say = or_silent(progress)
    t_all = time.perf_counter()
    say("data", 0.0, f"reading {req.data.train}")
    train_ds, val_ds, test_ds = load_training_data(req.data)
    splits = training_splits(train_ds, val_ds, test_ds, seed=req.seed, n=req.n, n_validation=req.n_validation,
                             n_test=req.n_test)
    _check_classes(splits)
    say("data", 1.0, "; ".join(f"{s}: {splits.describe(s)}" for s in ("train", "validation", "test")))
    tc = choose_threads(req.threads)
    say("threads", 1.0, f"training with {tc.describe()}")
    t_data = time.perf_counter() - t_all
    with torch_threads(tc.n):  # evaluation and saving too: more threads than free cores only wait for each other
        return _train_and_save(req, targets, splits, tc, train_ds.notes, t_all, t_data, progress, on_record)


def _train_and_save(req: TrainingRequest, targets: dict[str, tuple[str, Path]], splits: TrainingSplits,
                    tc: ThreadChoice, notes: tuple[str, ...], t_all: float, t_data: float, progress: Progress | None,
                    on_record: Record | None) -> TrainingRun:
    say = or_silent(progress)
    t_load = time.perf_counter()
    base = load_model(req.base, device=req.device)
    t_load = time.perf_counter() - t_load
    if req.max_length:
        base.max_length = int(req.max_length)
    t_train0 = time.perf_counter()
    models: list[TrainedModel] = []
    pre_head = None
    for setting, (ref, folder) in targets.items():
        budget = req.max_seconds
        if budget is not None and req.setting == "both":  # the fine-tuning gets what the pre-trained run left
            budget = budget * PRETRAINED_SHARE if setting == "pretrained" else max(
                1.0, budget - models[0].result.seconds)
        rec = None if on_record is None else (lambda r, s=setting: on_record({**r, "setting": s}))
        if setting == "pretrained":
            model = base
            cfg = TrainConfig(setting="pretrained", seed=req.seed, epochs=req.epochs or 200,
                              max_length=req.max_length, max_seconds=budget, threads=tc.n)
            head, res = train_pretrained_head(model, splits.train, splits.validation, cfg, progress=progress,
                                              on_record=rec)
            pre_head = head
        else:
            if req.setting == "both":  # a fresh copy of the encoder to fine-tune
                t = time.perf_counter()
                model = load_model(req.base, device=req.device)
                t_load += time.perf_counter() - t
            else:
                model = base
            if req.max_length:
                model.max_length = int(req.max_length)
            steps_per_epoch = max(1, -(-len(splits.train) // 16))
            cfg = TrainConfig(setting="finetuned", seed=req.seed, epochs=req.epochs or 2, batch_size=16, lr=5e-4,
                              encoder_lr=5e-5, patience=3, max_length=req.max_length, max_seconds=budget,
                              eval_every=max(4, steps_per_epoch // 4), threads=tc.n)
            head, res = finetune(model, splits.train, splits.validation, cfg, init_head=pre_head, progress=progress,
                                 on_record=rec)
        models.append(_finish(model, head, res, cfg, req, splits, ref, folder, tc, say,
                              init_from=targets["pretrained"][0] if setting == "finetuned" and pre_head is not None
                              else None))
    seconds = {"data": round(t_data, 1), "load_model": round(t_load, 1),
               "training": round(sum(m.result.seconds for m in models), 1),
               "evaluation": round(sum(m.heldout["seconds"] for m in models), 1),
               "save": round(sum(m.save_seconds for m in models), 1),
               "training_and_evaluation": round(time.perf_counter() - t_train0, 1),
               "total": round(time.perf_counter() - t_all, 1)}
    say("done", 1.0, ", ".join(m.ref for m in models) + " ready")
    return TrainingRun(tuple(models), splits, tc, tuple(notes), seconds)


def _finish(model: LoadedModel, head, res: TrainResult, cfg: TrainConfig, req: TrainingRequest,
            splits: TrainingSplits, ref: str, folder: Path, tc: ThreadChoice, say: Progress, *,
            init_from: str | None) -> TrainedModel:
    """Attach the head (and a reusable decoding head), evaluate on the held-out texts under the cap, save."""
    from core.models.storage import save_model
    from core.training.demo_workspace import reuse_demo_decoding_head

    clf = model.with_head(head, splits.train.label_names)
    clf.ref, clf.path = ref, folder
    mlm_note = reuse_demo_decoding_head(clf) if res.setting == "pretrained" else None
    split = {**splits.to_json(), "method": "files" if splits.origin["train"] == "file" else "hash"}
    extra: dict[str, Any] = {
        "created": time.strftime("%Y-%m-%dT%H:%M:%S%z"), "max_length": clf.max_length,
        "validation_file": None if splits.origin["validation"] == "hash" else splits.sources["validation"].name,
        "test_file": None if splits.origin["test"] == "hash" else splits.sources["test"].name,
        "label_map": req.data.label_map, "data_notes": list(splits.train.notes),
        "columns": {k: getattr(req.data, k) for k in ("text_column", "text_pair_column", "label_column")},
        "encoding": req.data.encoding}
    if mlm_note:
        extra["mlm_head"] = mlm_note
    if init_from:
        extra["init_head"] = init_from
    meta = training_metadata(res, cfg, base_ref=req.base, dataset=splits.sources["train"], split_seed=req.seed,
                             n_train=res.n_train_used or len(splits.train), n_val=len(splits.validation),
                             extra=extra, split=split)
    clf.metadata = meta
    cap = req.eval_cap()
    say("held-out", 0.0, f"evaluating {clf.ref} on up to {len(splits.test):,} held-out texts"
        + (f" (at most {cap:.0f} s)" if cap else ""))
    heldout, _ = evaluate_capped(clf, splits, cap=cap, rate=res.texts_per_second, seed=req.seed)
    meta["heldout"] = heldout
    say("save", 0.0, f"saving {clf.ref}")
    t_save = time.perf_counter()
    save_model(clf, folder, meta)
    atomic_write_text(folder / SPLITS_FILE, json.dumps({"parts": splits.to_json()["parts"], "rows": splits.rows()}))
    return TrainedModel(ref, folder, res.setting, res, heldout, meta, save_seconds=time.perf_counter() - t_save)


def read_splits(folder: str | Path) -> dict[str, Any] | None:
    """The ``training_splits.json`` of a model folder (None when it has none)."""
    f = Path(folder) / SPLITS_FILE
    return json.loads(f.read_text("utf-8")) if f.exists() else None


def split_table(folder: str | Path, limit: int | None = None) -> list[dict[str, Any]]:
    """Rows "which text went where" of a trained model: split, source file, row in it, text, label."""
    rec = read_splits(folder)
    if rec is None:
        return []
    meta = json.loads((Path(folder) / META_FILE).read_text("utf-8"))
    data = DataFiles(train=rec["parts"]["train"]["source"],
                     validation=meta.get("validation_file"), test=meta.get("test_file"),
                     label_map=meta.get("label_map"), encoding=meta.get("encoding", "utf-8"),
                     label_names=None if meta.get("label_map") else tuple(meta.get("label_names") or ()) or None,
                     **(meta.get("columns") or {}))
    train, val, test = load_training_data(data)
    by = {"train": train, "validation": val or train, "test": test or train}
    out = []
    for s, rows in rec["rows"].items():
        ds = by[s]
        for r in rows[:limit]:
            lab = ds.labels[r] if ds.labels is not None else -1
            out.append({"split": s, "source": Path(ds.name).name, "row": int(r), "text": ds.texts[r],
                        "label": ds.label_names[lab] if lab >= 0 else None})
    return out


__all__ = ["CHOICES", "DataFiles", "TrainedModel", "TrainingRequest", "TrainingRun", "evaluate_capped",
           "list_user_models", "load_training_data", "read_splits", "split_table", "train_models",
           "user_models_root"]
