"""Presentation helpers: core results → DataFrames and short formatted strings (no analysis here)."""
from __future__ import annotations

import pandas as pd

from core.data.datasets import TextDataset
from core.models.loading import LoadedModel

SETTINGS = {  # short name (fits a metric), explanation
    "pretrained": ("Frozen encoder", "A classification head trained on the frozen pre-trained encoder."),
    "finetuned": ("Fine-tuned", "The encoder was fine-tuned together with its classification head."),
}


def fmt_pct(x: float | None) -> str:
    return "–" if x is None else f"{x:.1%}"


def fmt_count(n: int) -> str:
    """22713216 → '22.7 M'."""
    for unit, div in (("B", 1e9), ("M", 1e6), ("k", 1e3)):
        if n >= div:
            return f"{n / div:.1f} {unit}"
    return str(n)


def model_setting(model: LoadedModel) -> tuple[str, str]:
    """(short name, explanation) of how the classifier was made."""
    setting = model.metadata.get("setting")
    if setting in SETTINGS:
        return SETTINGS[setting]
    if model.has_head:
        return "Classifier", "A sequence classifier trained outside Backbone Lens."
    return "Bare encoder", "No classification head: embeddings only, no predictions."


def training_heldout(model: LoadedModel) -> tuple[str, str]:
    """(value, explanation) of the accuracy recorded when the model was trained."""
    h = model.metadata.get("heldout") or {}
    if "accuracy" not in h:
        return "–", "No accuracy was recorded with this model."
    split = {"test": "its held-out test split", "all": "all examples of a sample"}.get(h.get("split"), h.get("split"))
    return fmt_pct(h["accuracy"]), (f"Measured when the model was built, on {h.get('n', '?')} examples of "
                                    f"{model.metadata.get('dataset', 'its training dataset')} ({split}).")


def architecture_line(model: LoadedModel) -> str:
    """One sentence: how Backbone Lens reads this model (family, pooling, attention, decoding head, weights)."""
    d = model.describe()
    head = d["decoding_head"] or ("none: decoded Grad-CAM needs a base checkpoint's head (Saliency page) or a "
                                  "fitted one")
    return (f"Read as the **{d['family']}** family · pooling **{d['pooling']}** · **{d['attention']}** attention · "
            f"decoding head: {head} · weights **{d['dtype']}**")


def model_facts_frame(model: LoadedModel) -> pd.DataFrame:
    """describe() and training metadata as a two-column table (Fact, Value)."""
    d = model.describe()
    meta = model.metadata
    tr = meta.get("training") or {}
    rows = [
        ("Reference", d["ref"]),
        ("Folder", str(model.path) if model.path else "(Hugging Face hub cache)"),
        ("Architecture", d["model_type"]),
        ("Layers", d["layers"]),
        ("Hidden size", d["hidden_size"]),
        ("Encoder parameters", fmt_count(d["parameters"])),
        ("Family", d["family"]),
        ("Pooling", d["pooling"]),
        ("Attention", d["attention"]),
        ("Weights", d["dtype"]),
        ("Max tokens", d["max_length"]),
        ("Labels", ", ".join(d["labels"]) or "–"),
        ("Setting", model_setting(model)[1]),
        ("Decoding head", d["decoding_head"] or "none"),
        ("Base model", meta.get("base_model")),
        ("Trained on", meta.get("dataset")),
        ("Training examples", meta.get("n_train")),
        ("Validation accuracy", fmt_pct(tr["val_accuracy"]) if "val_accuracy" in tr else None),
        ("Demo profile", meta.get("demo_profile")),
        ("Fingerprint", d["fingerprint"]),
    ]
    rows += [("Note", n) for n in model.notes]
    return pd.DataFrame([(k, str(v)) for k, v in rows if v not in (None, "")], columns=["Fact", "Value"])


def text_sample_frame(ds: TextDataset, k: int = 25) -> pd.DataFrame:
    """The first ``k`` examples of a (sampled) dataset: text, second text if any, label."""
    k = min(k, len(ds))
    out: dict[str, list] = {"text": list(ds.texts[:k])}
    if ds.text_pairs is not None:
        out["second text"] = list(ds.text_pairs[:k])
    if ds.labels is not None:
        out["label"] = [ds.label_names[i] if i >= 0 else "(none)" for i in ds.labels[:k]]
    return pd.DataFrame(out)
