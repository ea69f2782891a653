"""Multi-task models: one shared encoder, one MLP head per task.

* :class:`MultiTaskModel` – the shared encoder with a head, label names, dataset and token limit per
  task; :meth:`MultiTaskModel.for_task` gives one task as an ordinary :class:`LoadedModel`, so every
  analysis (projection, saliency, evaluation) runs on it. ``load_model("REF#task")`` does the same.
* Storage: ``save_pretrained`` files of the encoder, the tokenizer, ``heads/<task>.safetensors`` and a
  ``backbone_lens.json`` of format ``backbone-lens-multitask/1``; written atomically.
"""
from __future__ import annotations

import json
import re
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any
import torch
from core.foundation.errors import BackboneLensError, ModelError
from core.foundation.files import staged_folder
from core.models.classifier_heads import MLPHead, save_module
from core.models.loading import META_FILE, LoadedModel, load_model_files

MULTITASK_FORMAT = "backbone-lens-multitask/1"


HEADS_DIR = "heads"


_TASK_NAME = re.compile(r"[A-Za-z0-9_.-]+")


@dataclass(eq=False)
class MultiTaskModel:
    """One shared encoder (``base``, whose own head is None) with one :class:`MLPHead` per task.

    ``label_names``, ``datasets`` (dataset references) and ``max_lengths`` (token limit used when embedding
    the task's texts; default the encoder's) are keyed by task, in the order of ``heads``.
    """

    base: LoadedModel
    heads: dict[str, MLPHead]
    label_names: dict[str, tuple[str, ...]]
    datasets: dict[str, str]
    metadata: dict = field(default_factory=dict)
    max_lengths: dict[str, int] = field(default_factory=dict)

    def __post_init__(self) -> None:
        if not self.heads:
            raise BackboneLensError("A multi-task model needs at least one task head.")
        for t in self.heads:
            if not _TASK_NAME.fullmatch(t):
                raise BackboneLensError(f"Task name '{t}' may only hold letters, digits, '.', '_' and '-'.")
            if t not in self.label_names or t not in self.datasets:
                raise BackboneLensError(f"Task '{t}' has a head but no label names or dataset reference.")
            if len(self.label_names[t]) != self.heads[t].num_labels:
                raise BackboneLensError(f"Task '{t}' has {len(self.label_names[t])} label names for a head with "
                                        f"{self.heads[t].num_labels} outputs.")

    @property
    def ref(self) -> str:
        return self.base.ref

    @property
    def tasks(self) -> tuple[str, ...]:
        return tuple(self.heads)

    def max_length_of(self, task: str) -> int:
        return int(self.max_lengths.get(task) or self.base.max_length)

    def task_metadata(self, task: str) -> dict[str, Any]:
        """What a single task's classifier records: the shared facts plus the task's own (dataset, split …)."""
        shared = {k: v for k, v in self.metadata.items() if k not in ("tasks", "format")}
        own = dict(self.metadata.get("tasks", {}).get(task, {}))
        return {**shared, **own, "format": "backbone-lens-classifier/1", "task": task,
                "label_names": list(self.label_names[task]), "max_length": self.max_length_of(task),
                "multitask": {"model": self.ref, "task": task, "tasks": list(self.tasks)}}

    def for_task(self, task: str) -> LoadedModel:
        """The shared encoder with ``task``'s head: an ordinary classifier (encoder shared, not copied)."""
        if task not in self.heads:
            raise BackboneLensError(f"{self.ref} has no task '{task}'; its tasks are {', '.join(self.tasks)}.")
        view = self.base.with_head(self.heads[task], self.label_names[task])
        view.ref = f"{self.base.ref}#{task}"
        view.max_length = self.max_length_of(task)
        view.metadata = self.task_metadata(task)
        return view


def _check_target(folder: Path) -> None:
    if folder.exists() and (not folder.is_dir() or (any(folder.iterdir()) and not (folder / META_FILE).exists())):
        raise BackboneLensError(f"{folder} exists and is not a Backbone Lens model folder; it is left untouched.")


def save_multitask(mt: MultiTaskModel, folder: str | Path) -> Path:
    """Write encoder (safetensors), tokenizer, one head file per task and the metadata to ``folder`` atomically.

    An existing ``folder`` is replaced only if it is a Backbone Lens model folder.
    """

    folder = Path(folder).expanduser()
    _check_target(folder)
    with staged_folder(folder) as tmp:
        mt.base.encoder.save_pretrained(tmp, safe_serialization=True)
        mt.base.tokenizer.save_pretrained(tmp)
        (tmp / HEADS_DIR).mkdir()
        tasks_meta: dict[str, dict] = {}
        for t in mt.tasks:
            save_module(mt.heads[t], tmp / HEADS_DIR / f"{t}.safetensors")
            own = dict(mt.metadata.get("tasks", {}).get(t, {}))
            tasks_meta[t] = {**own, "label_names": list(mt.label_names[t]), "dataset": mt.datasets[t],
                             "head": mt.heads[t].spec(), "pair": bool(own.get("pair", False)),
                             "max_length": mt.max_length_of(t), "heldout": own.get("heldout")}
        meta = {**mt.metadata, "format": MULTITASK_FORMAT, "tasks": tasks_meta, "setting": mt.metadata.get("setting"),
                "pooling": mt.base.pooling, "max_length": max(mt.max_length_of(t) for t in mt.tasks)}
        (tmp / META_FILE).write_text(json.dumps(meta, indent=2, default=str), "utf-8")
    return folder


def load_multitask_folder(ref: str, path: Path, meta: dict[str, Any], *, device: str | torch.device | None = None,
                          trust_remote_code: bool = False, attn_implementation: str | None = None,
                          dtype: str | torch.dtype | None = None) -> MultiTaskModel:
    """Load the folder ``path`` written by :func:`save_multitask` (``meta``: its ``backbone_lens.json``; ``ref``:
    the name it is known by). :func:`core.models.refs.load_multitask` resolves a reference first."""

    base_ref = ref
    base = load_model_files(ref, path, device=device, trust_remote_code=trust_remote_code,
                            attn_implementation=attn_implementation, dtype=dtype)
    assert base.path is not None
    heads: dict[str, MLPHead] = {}
    for t, tm in meta.get("tasks", {}).items():
        f = base.path / HEADS_DIR / f"{t}.safetensors"
        if not f.is_file():
            raise ModelError(f"{base_ref} lists task '{t}' but has no {HEADS_DIR}/{t}.safetensors.")
        head = MLPHead.from_spec(tm["head"], f)
        heads[t] = head.to(base.device).eval()
    base.head, base.label_names = None, ()
    tasks = meta.get("tasks", {})
    return MultiTaskModel(base=base, heads=heads, label_names={t: tuple(tm["label_names"]) for t, tm in tasks.items()},
                          datasets={t: tm["dataset"] for t, tm in tasks.items()}, metadata=meta,
                          max_lengths={t: int(tm["max_length"]) for t, tm in tasks.items() if tm.get("max_length")})
