"""Accuracy and confusion matrix of a classifier on a dataset (held-out split when it was trained on it)."""
from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from core.data.datasets import TextDataset
from core.data.sampling import Sample
from core.foundation.cache import ArrayCache
from core.foundation.errors import BackboneLensError
from core.foundation.progress import Progress
from core.models.embeddings import extract_embeddings
from core.models.loading import LoadedModel


@dataclass(frozen=True)
class EvaluationResult:
    """confusion_matrix: (C, C) int, rows = true label, columns = predicted label (model's label order)."""

    accuracy: float
    n: int
    split: str
    labels: tuple[str, ...]
    confusion_matrix: np.ndarray
    per_class: tuple[dict, ...]
    macro_f1: float
    note: str
    model_fingerprint: str
    dataset_fingerprint: str
    sample: Sample | None = None

    def to_json(self) -> dict:
        return {"accuracy": self.accuracy, "n": self.n, "split": self.split, "labels": list(self.labels),
                "confusion_matrix": self.confusion_matrix.tolist(), "per_class": list(self.per_class),
                "macro_f1": self.macro_f1, "note": self.note, "model_fingerprint": self.model_fingerprint,
                "dataset_fingerprint": self.dataset_fingerprint}


def map_labels(model: LoadedModel, dataset: TextDataset) -> np.ndarray:
    """Dataset label ids translated into the model's label ids, by name; -1 stays unlabelled."""
    if dataset.labels is None:
        raise BackboneLensError(f"Dataset {dataset.name} has no labels; accuracy needs a label column.")
    names = list(model.label_names)
    lower = {n.lower(): i for i, n in enumerate(names)}
    table = []
    for n in dataset.label_names:
        if n in names:
            table.append(names.index(n))
        elif n.lower() in lower:
            table.append(lower[n.lower()])
        else:
            present = bool(np.any(dataset.labels == len(table)))
            if present:
                raise BackboneLensError(
                    f"Dataset label '{n}' is not one the model knows ({', '.join(names)})."
                )
            table.append(-1)
    table_a = np.array(table + [-1], dtype=np.int64)
    return np.where(dataset.labels >= 0, table_a[np.clip(dataset.labels, 0, None)], -1)


def evaluate(model: LoadedModel, sample: Sample, *, batch_size: int = 32, cache: ArrayCache | None = None,
             progress: Progress | None = None) -> EvaluationResult:
    """Accuracy, per-class precision/recall/F1 and confusion matrix of ``model`` on the texts of ``sample``
    (draw it with :func:`core.models.heldout.heldout_sample`: the held-out test split when the model was
    trained on the dataset)."""
    model.require_head()
    ds, split, note = sample.dataset, sample.split, sample.reason
    y = map_labels(model, ds)
    keep = y >= 0
    if not keep.any():
        raise BackboneLensError("No labelled examples to evaluate on.")
    emb = extract_embeddings(model, ds, batch_size=batch_size, progress=progress, cache=cache)
    assert emb.probs is not None
    pred = emb.probs.argmax(1)[keep]
    y = y[keep]
    C = model.num_labels
    cm = np.zeros((C, C), dtype=np.int64)
    np.add.at(cm, (y, pred), 1)
    per = []
    for c in range(C):
        tp = cm[c, c]
        p = tp / cm[:, c].sum() if cm[:, c].sum() else 0.0
        r = tp / cm[c].sum() if cm[c].sum() else 0.0
        f = 2 * p * r / (p + r) if p + r else 0.0
        per.append({"label": model.label_names[c], "precision": float(p), "recall": float(r), "f1": float(f),
                    "support": int(cm[c].sum())})
    present = [d["f1"] for d in per if d["support"] > 0]
    return EvaluationResult(
        accuracy=float((pred == y).mean()), n=int(keep.sum()), split=split, labels=model.label_names,
        confusion_matrix=cm, per_class=tuple(per), macro_f1=float(np.mean(present)) if present else 0.0,
        note=note, model_fingerprint=model.fingerprint, dataset_fingerprint=ds.fingerprint, sample=sample,
    )


