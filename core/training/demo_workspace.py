"""The embedded demo workspace: real classifiers built offline from the bundled data.

``build_demo()`` writes into ``<cache>/demo/``:

* ``mlm-head/`` – a masked-LM decoding head for all-MiniLM-L6-v2, fitted on frozen final
  hidden states of BBC and tweet training text (the package ships no MLM transform);
* ``bbc-pretrained``, ``tweets-pretrained`` – frozen MiniLM + MLP head on mean-pooled embeddings;
* ``bbc-finetuned``, ``tweets-finetuned`` – MiniLM fine-tuned with the head, starting from
  the pre-trained head (linear probe, then fine-tune).

Each classifier folder has the held-out test accuracy in its ``backbone_lens.json``; the
build writes ``manifest.json`` with the time of every step. Steps whose output exists
(same profile) are skipped unless ``force``.
"""
from __future__ import annotations

from core.foundation.progress import Progress, or_silent, scaled

import json
import shutil
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from core.foundation.cache import atomic_write_text
from core.data.refs import load_dataset
from core.data.sampling import sample, take_split
from core.models.evaluate import evaluate
from core.models.heldout import heldout_sample
from core.foundation.errors import ModelError
from core.foundation.settings import cache_root
from core.models.loading import META_FILE, MLM_FILE
from core.models.refs import Scheme, load_model, register_scheme
from core.models.decoding_heads import load_decoding_head
from core.models.storage import save_model
from core.training.finetune import TrainConfig, finetune, train_pretrained_head, training_metadata
from core.data.datasets import TextDataset
from core.models.classifier_heads import MLPHead
from core.models.loading import LoadedModel
from core.training.finetune import TrainResult

DEMO_MODELS = ("bbc-pretrained", "bbc-finetuned", "tweets-pretrained", "tweets-finetuned")
BASE = "bundled:minilm"
DEMO_VERSION = 2  # bump when the build changes, so older workspaces are rebuilt step by step
SPLIT_SEED = 0
MULTITASK_DEMO_MODELS = ("multitask-pretrained", "multitask-finetuned")


def demo_root() -> Path:
    """The demo workspace folder: ``<cache>/demo``."""
    return cache_root() / "demo"


def resolve_demo(name: str) -> Path:
    """The folder of demo model ``name``; a model that is not built yet raises a :class:`ModelError` saying
    how to build it."""
    p = demo_root() / name
    if not (p / META_FILE).exists():
        if name in MULTITASK_DEMO_MODELS:
            raise ModelError(f"Demo model '{name}' is not built yet; run `python -m core multitask train "
                             f"--setting {name.split('-', 1)[1]}`.")
        if name not in DEMO_MODELS:
            raise ModelError(f"Unknown demo model '{name}'; choose one of: "
                             f"{', '.join(DEMO_MODELS + MULTITASK_DEMO_MODELS)}.")
        raise ModelError(f"Demo model '{name}' is not built yet; run `python -m core demo build`.")
    return p


register_scheme(Scheme("demo", resolve_demo, "demo:NAME, a model of the demo workspace (python -m core demo build)"))


@dataclass(frozen=True)
class Profile:
    """Sample sizes and budgets of one build (``full``: the README numbers; ``small``: tests)."""

    name: str
    mlm_bbc: int
    mlm_tweets: int
    mlm_seconds: float
    pre_n: dict
    ft_n: dict
    ft_epochs: int
    ft_seconds: float
    max_length: dict
    eval_n: dict


PROFILES = {
    "full": Profile("full", mlm_bbc=400, mlm_tweets=2000, mlm_seconds=75.0,
                    pre_n={"bbc": None, "tweets": 8000}, ft_n={"bbc": 640, "tweets": 2560}, ft_epochs=1,
                    ft_seconds=200.0, max_length={"bbc": 128, "tweets": 64}, eval_n={"bbc": None, "tweets": 2000}),
    "small": Profile("small", mlm_bbc=40, mlm_tweets=160, mlm_seconds=8.0,
                     pre_n={"bbc": 300, "tweets": 600}, ft_n={"bbc": 48, "tweets": 96}, ft_epochs=1,
                     ft_seconds=25.0, max_length={"bbc": 64, "tweets": 48}, eval_n={"bbc": 150, "tweets": 200}),
}

MLM_NOTE = ("fitted by Backbone Lens on frozen final states of the base MiniLM (the package ships no MLM "
            "transform); decoder tied to this model's word embeddings")


def _save_classifier(model: LoadedModel, head: MLPHead, result: TrainResult, cfg: TrainConfig, *, folder: Path,
                     dataset: TextDataset, n_train: int, n_val: int, eval_n: int | None, mlm_file: Path,
                     extra: dict[str, Any]) -> dict[str, Any]:
    """Attach the head and the decoding head, evaluate on the held-out test split (the metadata marks ``dataset``
    as the training data), save the folder and return the manifest step (checksums, accuracy)."""
    clf = model.with_head(head, dataset.label_names)
    clf.mlm_head = load_decoding_head(clf.encoder, mlm_file)
    meta = training_metadata(result, cfg, base_ref=BASE, dataset=dataset, split_seed=SPLIT_SEED, n_train=n_train,
                             n_val=n_val, extra=extra)
    clf.metadata = meta
    ev = evaluate(clf, heldout_sample(clf, dataset, eval_n, seed=0))
    assert ev.split == "test", "held-out evaluation must not see training data"
    meta["heldout"] = {"accuracy": ev.accuracy, "n": ev.n, "split": ev.split, "macro_f1": ev.macro_f1}
    save_model(clf, folder, meta)
    return {"files": file_checksums(folder), "heldout_accuracy": ev.accuracy, "heldout_n": ev.n, "n_train": n_train}




def reuse_demo_decoding_head(model: LoadedModel) -> str | None:
    """Attach a decoding head fitted earlier for exactly ``model``'s encoder — the one stored for its encoder
    fingerprint, else the demo's (``<demo>/mlm-head``) when the demo's encoder has the same fingerprint (a model
    that keeps the frozen bundled MiniLM) — instead of fitting a new one; returns a note, or None when there is
    none. The demo's head is also stored for the encoder, so every page and verb finds it from then on."""
    from core.models.storage import attach_fitted_mlm_head, fitted_head_path

    if model.mlm_head is not None:
        return None
    if attach_fitted_mlm_head(model):
        return f"the decoding head fitted by Backbone Lens for this encoder ({fitted_head_path(model).name})"
    folder = demo_root() / "mlm-head"
    if not (folder / MLM_FILE).exists() or not (folder / META_FILE).exists():
        return None
    demo = load_model(str(folder), device=model.device)
    if demo.encoder_fingerprint != model.encoder_fingerprint:
        return None
    from core.foundation.cache import atomic_write_bytes

    f = fitted_head_path(model)
    atomic_write_bytes(f, (folder / MLM_FILE).read_bytes())
    atomic_write_text(f.with_suffix(".json"), json.dumps({"model": "demo:mlm-head", "copied_from": str(folder),
                                                          "report": _demo_mlm_report(folder)}, indent=2))
    model.set_mlm_head(load_decoding_head(model.encoder, f).to(model.device).eval())
    model.notes.append("using the demo's masked-LM decoding head (same encoder)")
    return f"the demo's decoding head (demo:mlm-head), fitted on the same frozen encoder; {MLM_NOTE}"


def _demo_mlm_report(folder: Path) -> dict:
    meta = json.loads((folder / META_FILE).read_text("utf-8"))
    return meta.get("mlm_report") or {}


def file_checksums(folder: Path) -> dict[str, str]:
    """sha256 of every file of a built model folder (recorded in the manifest by the build)."""
    from core.foundation.cache import file_sha256

    return {f.name: file_sha256(f) for f in sorted(folder.iterdir()) if f.is_file()}


def demo_problems(*, verify: bool = False) -> dict[str, str]:
    """name → why that demo model cannot be used: not built, a damaged weights file (its header and size
    disagree), or — with ``verify`` — a file whose checksum differs from the one the build recorded."""
    from core.models.folder_checks import safetensors_problem

    root = demo_root()
    recorded = read_manifest().get("steps", {}) if verify else {}
    out: dict[str, str] = {}
    for name in (*DEMO_MODELS, "mlm-head"):
        folder = root / name
        need = folder / (MLM_FILE if name == "mlm-head" else META_FILE)
        if not need.exists():
            out[name] = "not built"
            continue
        bad = next(((f.name, why) for f in sorted(folder.glob("*.safetensors"))
                    if (why := safetensors_problem(f))), None)
        if bad:
            out[name] = f"{bad[0]} is damaged: {bad[1]}"
            continue
        files = recorded.get(name, {}).get("files")
        if files:
            now = file_checksums(folder)
            changed = sorted(f for f, h in files.items() if now.get(f) != h)
            if changed:
                out[name] = f"{', '.join(changed)} changed since the build (checksum differs)"
    return out


def demo_status(*, verify: bool = False) -> dict[str, bool]:
    """name → whether that demo model is built and intact (see :func:`demo_problems`)."""
    problems = demo_problems(verify=verify)
    return {name: name not in problems for name in (*DEMO_MODELS, "mlm-head")}


def demo_ready(*, verify: bool = False) -> bool:
    return all(demo_status(verify=verify).values())


def read_manifest() -> dict:
    f = demo_root() / "manifest.json"
    return json.loads(f.read_text("utf-8")) if f.exists() else {}


def _profile_of(folder: Path) -> str | None:
    """The profile a step was built with, or None if absent or built by another version of this code."""
    f = folder / "backbone_lens.json"
    if not f.exists():
        return None
    meta = json.loads(f.read_text("utf-8"))
    return meta.get("demo_profile") if meta.get("demo_version") == DEMO_VERSION else None


def build_demo(*, force: bool = False, profile: str = "full", progress: Progress | None = None) -> dict:
    """Build (or complete) the demo workspace; returns the manifest with step timings and accuracies."""
    if profile not in PROFILES:
        from core.foundation.errors import BackboneLensError

        raise BackboneLensError(f"Unknown demo profile '{profile}'; choose one of: {', '.join(PROFILES)}.")
    P = PROFILES[profile]
    root = demo_root()
    root.mkdir(parents=True, exist_ok=True)
    manifest = read_manifest() if not force else {}
    if manifest.get("profile") != profile:
        manifest = {}
    manifest.update({"profile": profile, "base_model": BASE})
    steps = manifest.setdefault("steps", {})
    say = or_silent(progress)

    def save_manifest():
        atomic_write_text(root / "manifest.json", json.dumps(manifest, indent=2))

    t_all = time.perf_counter()
    base = load_model(BASE)
    data = {"bbc": load_dataset("bundled:bbc"), "tweets": load_dataset("bundled:tweets")}
    splits = {k: {s: take_split(ds, s, seed=SPLIT_SEED) for s in ("train", "validation", "test")}
              for k, ds in data.items()}

    # 1. MLM decoding head --------------------------------------------------------------
    mlm_dir = root / "mlm-head"
    damaged = demo_problems()  # a step whose files are missing or damaged is built again
    if force or _profile_of(mlm_dir) != profile or not (mlm_dir / MLM_FILE).exists() or "mlm-head" in damaged:
        from core.training.mlm_head import fit_decoding_head

        t0 = time.perf_counter()
        say("mlm-head", 0.0, "fitting the masked-LM decoding head on frozen MiniLM states")
        tr = (sample(splits["bbc"]["train"], P.mlm_bbc, seed=1).texts
              + sample(splits["tweets"]["train"], P.mlm_tweets, seed=1).texts)
        te = (sample(splits["bbc"]["test"], max(10, P.mlm_bbc // 8), seed=2).texts
              + sample(splits["tweets"]["test"], max(40, P.mlm_tweets // 8), seed=2).texts)
        head, rep = fit_decoding_head(base, tr, te, max_seconds=P.mlm_seconds,
                                      progress=say)
        m = base.with_mlm_head(head)
        save_model(m, mlm_dir, {"format": "backbone-lens-mlm-head/1", "base_model": BASE, "pooling": base.pooling,
                                "demo_profile": profile, "demo_version": DEMO_VERSION, "mlm_report": rep.to_json(),
                                "note": "Fitted by Backbone Lens on frozen final hidden states; not an original "
                                        "pre-trained MLM head."})
        steps["mlm-head"] = {**rep.to_json(), "seconds": round(time.perf_counter() - t0, 1),
                             "files": file_checksums(mlm_dir)}
        save_manifest()
    mlm_file = mlm_dir / MLM_FILE

    # 2. classifiers ----------------------------------------------------------------------
    for task in ("bbc", "tweets"):
        ml = P.max_length[task]
        sp = splits[task]
        train_pre = sample(sp["train"], P.pre_n[task], seed=3) if P.pre_n[task] else sp["train"]
        val = sample(sp["validation"], 400 if profile == "full" else 80, seed=3)
        name = f"{task}-pretrained"
        pre_head = None
        if force or _profile_of(root / name) != profile or name in damaged:
            t0 = time.perf_counter()
            say(name, 0.0, "embedding training texts with frozen MiniLM")
            cfg = TrainConfig(setting="pretrained", seed=0, epochs=300, lr=2e-3, patience=15, max_length=ml)
            base.max_length = ml
            pre_head, res = train_pretrained_head(
                base, train_pre, val, cfg,
                progress=scaled(say, 0.0, 1.0, stage=name))
            extra = {"demo_profile": profile, "demo_version": DEMO_VERSION, "max_length": ml, "mlm_head": MLM_NOTE}
            steps[name] = _save_classifier(base, pre_head, res, cfg, folder=root / name, dataset=data[task],
                                           n_train=len(train_pre), n_val=len(val), eval_n=P.eval_n[task],
                                           mlm_file=mlm_file, extra=extra)
            steps[name]["seconds"] = round(time.perf_counter() - t0, 1)
            save_manifest()
        name_ft = f"{task}-finetuned"
        if force or _profile_of(root / name_ft) != profile or name_ft in damaged:
            t0 = time.perf_counter()
            if pre_head is None:
                pre_head = load_model(f"demo:{task}-pretrained").head
            ft_model = load_model(BASE)  # a fresh copy of the encoder to fine-tune
            ft_model.max_length = ml
            train_ft = sample(sp["train"], P.ft_n[task], seed=4)
            cfg = TrainConfig(setting="finetuned", seed=0, epochs=P.ft_epochs, batch_size=16, lr=5e-4,
                              encoder_lr=5e-5, patience=3, max_length=ml, max_seconds=P.ft_seconds,
                              eval_every=max(4, len(train_ft) // 16 // 4))
            say(name_ft, 0.0, "fine-tuning MiniLM with the head")
            head, res = finetune(ft_model, train_ft, val, cfg, init_head=pre_head,
                                 progress=scaled(say, 0.0, 1.0, stage=name_ft))
            extra = {"demo_profile": profile, "demo_version": DEMO_VERSION, "max_length": ml, "mlm_head": MLM_NOTE,
                     "init_head": f"demo:{task}-pretrained"}
            steps[name_ft] = _save_classifier(ft_model, head, res, cfg, folder=root / name_ft, dataset=data[task],
                                              n_train=len(train_ft), n_val=len(val), eval_n=P.eval_n[task],
                                              mlm_file=mlm_file, extra=extra)
            steps[name_ft]["seconds"] = round(time.perf_counter() - t0, 1)
            save_manifest()
    manifest["last_build_seconds"] = round(time.perf_counter() - t_all, 1)
    save_manifest()
    say("done", 1.0, "demo workspace ready")
    return manifest


def remove_demo() -> None:
    shutil.rmtree(demo_root(), ignore_errors=True)
