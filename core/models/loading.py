"""Load any Hugging Face encoder (classifier or bare) as one :class:`LoadedModel`.

:func:`load_model_files` reads a local folder or a hub id; :mod:`core.models.refs` turns a reference
(``demo:NAME``, ``bundled:minilm``, ``REF#task``, a folder, a hub id) into such a call. Folders written by
Backbone Lens carry ``backbone_lens.json`` (pooling, labels, training metadata), ``head.safetensors`` and
optionally ``mlm_head.safetensors`` beside the encoder's own ``save_pretrained`` files.
``trust_remote_code`` is off unless the caller asks."""
from __future__ import annotations

import contextlib
import copy
import hashlib
import json
import os
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Sequence
import torch
from torch import nn
from core.foundation.errors import ModelError
from core.models.folder_checks import check_model_folder, check_tokenizer_fits
from core.models.classifier_heads import MLPHead
from core.models.decoding_heads import DecodingHead, LMHead, TiedLMHead, tied_lm_head
from core.models.families import SequenceHead, causal_position_ids, family_of, pool
from core.models.memory import (activation_bytes, auto_batch_size, dtype_name, free_bytes, precision_name,
                                resolve_dtype, resolve_precision, to_device, token_budget)
from core.foundation.settings import resolve_device
from core.models.decoding_heads import load_decoding_head


META_FILE = "backbone_lens.json"


HEAD_FILE = "head.safetensors"


MLM_FILE = "mlm_head.safetensors"




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
    pooling: str  # "cls" | "mean" | "last" | "max" (see core.models.families.pool)
    max_length: int
    model_type: str
    metadata: dict = field(default_factory=dict)
    device: torch.device = field(default_factory=lambda: torch.device("cpu"))
    notes: list[str] = field(default_factory=list)
    family: str = "encoder"
    causal: bool = False
    # the dtype forward passes autocast to (float32: no autocast); set by :meth:`with_precision`
    precision: torch.dtype = torch.float32
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
    def dtype(self) -> torch.dtype:
        """The backbone's weight dtype (float32 unless loaded with ``dtype=``)."""
        return next(self.encoder.parameters()).dtype

    @property
    def encoder_fingerprint(self) -> str:
        """The backbone's weights (and the autocast precision when it is not float32, so that cached results of
        two precisions never mix; float32 keys are the weights' alone)."""
        if "enc" not in self._fps:
            self._fps["enc"] = self._with_precision_tag(state_fingerprint(self.encoder))
        return self._fps["enc"]

    def _with_precision_tag(self, fp: str) -> str:
        if self.precision == torch.float32:
            return fp
        return hashlib.blake2b(f"{fp}|autocast:{dtype_name(self.precision)}".encode(), digest_size=10).hexdigest()

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
            "family": self.family,
            "attention": "causal" if self.causal else "bidirectional",
            "decoding_head": self.decoding_head_kind(),
            "max_length": self.max_length,
            "dtype": dtype_name(self.dtype),
            "precision": precision_name(self.precision),
            "has_classifier": self.has_head,
            "has_mlm_head": self.mlm_head is not None,
            "setting": self.metadata.get("setting"),
            "fingerprint": self.fingerprint,
        }

    def batch_size_for(self, requested: int, tokens: int, *, grad: bool = False) -> int:
        """``requested`` on CPU; on CUDA no more texts of ``tokens`` tokens than fit in half the free memory (a
        forward pass, or a backward one through every layer when ``grad``)."""
        return auto_batch_size(self.device, requested=requested, bytes_per_text=self._bytes_per_text(tokens, grad))

    def token_budget(self, longest: int) -> int | None:
        """Padded tokens (rows × longest length) one forward batch may hold on CUDA, from half the free memory and
        the activations of a text of ``longest`` tokens; None elsewhere (batches are the requested rows)."""
        return token_budget(free_bytes(self.device), longest=longest, bytes_per_text=self._bytes_per_text(longest))

    def _bytes_per_text(self, tokens: int, grad: bool = False) -> int:
        cfg = self.encoder.config
        heads = int(getattr(cfg, "num_attention_heads", getattr(cfg, "n_head", 1)) or 1)
        itemsize = min(self.dtype.itemsize, self.precision.itemsize)  # autocast activations are half width
        return activation_bytes(self.hidden_size, heads, self.num_layers, itemsize, tokens, grad=grad)

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
        return to_device({k: v for k, v in enc.items() if k in ("input_ids", "attention_mask", "token_type_ids")},
                         self.device)

    def pool(self, last_hidden: torch.Tensor, attention_mask: torch.Tensor) -> torch.Tensor:
        """(b, T, d), (b, T) → (b, d) by this model's pooling (CLS, mean, last real token or max)."""
        return pool(last_hidden, attention_mask, self.pooling)

    def decoding_head_kind(self) -> str | None:
        """What decoded saliency reads hidden states through: the checkpoint's own masked-LM head, a causal LM's
        head (the logit lens), a head fitted by Backbone Lens, or None."""
        head = self.mlm_head
        if head is None:
            return None
        if isinstance(head, (LMHead, TiedLMHead)):
            return "logit lens (the causal LM's head)" if head.predicts_next else "the checkpoint's masked-LM head"
        if isinstance(head, DecodingHead):
            return "a head fitted by Backbone Lens on frozen states"
        return type(head).__name__

    def decode(self, hidden: torch.Tensor, layer: int | None = None) -> torch.Tensor:
        """Vocabulary logits (..., T, V) of hidden states (..., T, d) of ``layer`` through the decoding head (a
        decoder's final norm is applied to earlier layers first: the logit lens)."""
        assert self.mlm_head is not None
        p = next(self.mlm_head.parameters(), None)
        if p is not None and p.dtype != hidden.dtype:
            hidden = hidden.to(p.dtype)
        if isinstance(self.mlm_head, (LMHead, TiedLMHead)):
            return self.mlm_head(hidden, layer).float()
        return self.mlm_head(hidden).float()

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
        kwargs = self.forward_kwargs(batch)
        with self.autocast():
            out = self.encoder(**kwargs, output_hidden_states=hidden_states, output_attentions=attentions,
                               return_dict=True)
        last = out.last_hidden_state
        if self.precision != torch.float32:  # autocast's half-width states are pooled and handed on in float32
            last = last.float()
        if attentions and not out.attentions:
            raise ModelError(f"Model {self.ref} does not return attention weights.")
        pooled = self.pool(last, batch["attention_mask"])
        if pooled.dtype in (torch.float16, torch.bfloat16):  # a half-precision backbone hands float32 to the head
            pooled = pooled.float()
        return EncoderOutput(pooled, last, batch["attention_mask"],
                             out.hidden_states if hidden_states else None,
                             out.attentions if attentions else None)

    def autocast(self) -> contextlib.AbstractContextManager:
        """``torch.autocast`` to :attr:`precision` on this model's device, or nothing (float32): every forward pass
        of the backbone (:meth:`encode`) runs inside it; heads run outside, in float32."""
        if self.precision == torch.float32:
            return contextlib.nullcontext()
        return torch.autocast(device_type=self.device.type, dtype=self.precision)

    def forward_kwargs(self, batch: dict[str, torch.Tensor]) -> dict[str, torch.Tensor]:
        """The base model's keyword arguments for a tokenised batch: token types only where the tokenizer makes
        them (GPT-2 would add them as word embeddings), and, for a decoder, positions counted over the real tokens
        (so left and right padding give the same states)."""
        kw = dict(batch)
        if "token_type_ids" not in self._forward_args() or "token_type_ids" not in getattr(
                self.tokenizer, "model_input_names", ("token_type_ids",)):
            kw.pop("token_type_ids", None)
        if self.causal and "position_ids" not in kw and "position_ids" in self._forward_args() \
                and "attention_mask" in kw:
            kw["position_ids"] = causal_position_ids(kw["attention_mask"])
        return kw

    def _forward_args(self) -> set[str]:
        if "args" not in self._fps:
            import inspect

            self._fps["args"] = set(inspect.signature(self.encoder.forward).parameters)
        return self._fps["args"]

    def logits(self, pooled: torch.Tensor) -> torch.Tensor:
        self.require_head()
        assert self.head is not None
        p = next(self.head.parameters(), None)
        return self.head(pooled if p is None or p.dtype == pooled.dtype else pooled.to(p.dtype))

    # ------------------------------------------------------------------ variants
    def with_head(self, head: nn.Module, label_names: Sequence[str]) -> "LoadedModel":
        """The same encoder with ``head`` as its classifier (a new LoadedModel; encoder shared, not copied)."""
        new = copy.copy(self)
        new.head = head.to(self.device).eval()
        new.label_names = tuple(label_names)
        new._fps = {}
        new.notes = list(self.notes)
        new.metadata = dict(self.metadata)
        return new

    def with_precision(self, precision: str | torch.dtype | None) -> "LoadedModel":
        """The same model whose forward passes autocast to ``precision`` (fp32/None: none; bf16; fp16 on a GPU) with
        float32 weights (a new LoadedModel; encoder shared). Its fingerprints name the precision."""
        dtype = resolve_precision(precision, self.device)
        if dtype != torch.float32 and self.dtype != torch.float32:
            raise ModelError(f"--precision {precision_name(dtype)} autocasts float32 weights, and these are already "
                             f"{dtype_name(self.dtype)} (--dtype): use one or the other.")
        new = copy.copy(self)
        new.precision = dtype
        new._fps = {k: v for k, v in self._fps.items() if k == "args"}
        new.notes = list(self.notes)
        if dtype != torch.float32:
            new.notes.append(f"forward passes under {dtype_name(dtype)} autocast; weights, heads and results in "
                             "float32")
        return new

    def with_mlm_head(self, mlm_head: nn.Module | None) -> "LoadedModel":
        """The same model with ``mlm_head`` as its decoding head (a new LoadedModel; encoder shared)."""
        new = copy.copy(self)
        new.mlm_head = mlm_head
        new._fps = {}
        return new

    def set_mlm_head(self, mlm_head: nn.Module) -> None:
        """Attach a decoding head to this model in place (its fingerprint changes accordingly)."""
        self.mlm_head = mlm_head
        self._fps.pop("all", None)

    def forget_fingerprints(self) -> None:
        """Recompute fingerprints on next use: call after changing the weights in place (fine-tuning)."""
        self._fps.clear()


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
    """The pooling of a sentence-transformers folder (``1_Pooling/config.json``): cls, mean, last token or max."""
    if path is None or not (path / "modules.json").exists():
        return None
    pc = path / "1_Pooling" / "config.json"
    if pc.exists():
        cfg = json.loads(pc.read_text())
        for key, mode in (("pooling_mode_cls_token", "cls"), ("pooling_mode_lasttoken", "last"),
                          ("pooling_mode_max_tokens", "max"), ("pooling_mode_mean_tokens", "mean")):
            if cfg.get(key):
                return mode
    return "mean"


def _ensure_pad_token(tokenizer: Any, config: Any) -> list[str]:
    """Decoders often ship without a padding token; batching needs one (the end-of-text token, as is usual), and a
    decoder classifier reads it to find each text's last token."""
    notes = []
    if tokenizer.pad_token_id is None:
        if tokenizer.eos_token is None:
            raise ModelError("This decoder's tokenizer has neither a padding nor an end-of-text token, so texts cannot "
                             "be batched; add a pad token to the tokenizer.")
        tokenizer.pad_token = tokenizer.eos_token
        notes.append(f"the tokenizer has no padding token: {tokenizer.eos_token!r} (end of text) pads batches")
    if getattr(config, "pad_token_id", None) is None:
        config.pad_token_id = tokenizer.pad_token_id
    return notes


def load_model_files(ref: str, path: Path | None, *, device: str | torch.device | None = None,
                     trust_remote_code: bool = False, attn_implementation: str | None = None,
                     dtype: str | torch.dtype | None = None) -> LoadedModel:
    """Load the folder ``path`` (or the hub id ``ref`` when ``path`` is None) as stored, without the multi-task
    checks (a multi-task folder gives its bare shared encoder); ``ref`` is the name the model is known by.
    :func:`core.models.refs.load_model` resolves references first. ``dtype`` (float32, bfloat16, float16) is the
    backbone's weights; classifier heads always run in float32 (they are small, and DeepView differentiates them).
    """
    import transformers
    from transformers import AutoConfig, AutoTokenizer

    transformers.logging.set_verbosity_error()
    transformers.utils.logging.disable_progress_bar()
    try:
        import huggingface_hub

        huggingface_hub.utils.logging.set_verbosity_error()
    except Exception:  # noqa: BLE001
        pass
    src = str(path) if path is not None else ref
    dev = resolve_device(device)
    torch_dtype = resolve_dtype(dtype, dev)
    folder_notes = check_model_folder(path) if path is not None else []
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
    load_kw["dtype"] = torch_dtype
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
        except Exception as e:  # noqa: BLE001 - a damaged or foreign checkpoint: one sentence naming the folder
            if "weights_only" in str(e) or "Unpickl" in type(e).__name__:
                raise ModelError(f"Refused the pickle checkpoint in {src}: it holds objects other than tensors, and "
                                 "loading those could run code. Convert it to safetensors.") from None
            raise ModelError(f"Could not load the weights in {src}: {type(e).__name__}: "
                             f"{(str(e).splitlines() or [''])[0][:200]}") from None

    head: nn.Module | None = None
    mlm: nn.Module | None = None
    label_names: tuple[str, ...] = ()
    family = family_of(config)
    pooling = family.pooling_of(config)
    notes = list(folder_notes)
    if family.causal:
        notes += _ensure_pad_token(tokenizer, config)
    if meta:
        encoder = _load(transformers.AutoModel)
        pooling = meta["pooling"]
        label_names = tuple(meta.get("label_names", ()))
        if path is not None and (path / HEAD_FILE).exists():
            head = MLPHead.from_spec(meta["head"], path / HEAD_FILE)
    elif any(a.endswith("ForSequenceClassification") for a in archs):
        full = _load(transformers.AutoModelForSequenceClassification)
        encoder = full.base_model
        head = SequenceHead(full)
        id2label = getattr(config, "id2label", {}) or {}
        label_names = tuple(str(id2label.get(i, id2label.get(str(i), f"LABEL_{i}")))
                            for i in range(config.num_labels))
        if family.causal and getattr(config, "tie_word_embeddings", False):
            mlm = tied_lm_head(encoder)  # the decoder's LM head is its word embeddings: the logit lens needs no more
    elif any(a.endswith("ForMaskedLM") for a in archs):
        full = _load(transformers.AutoModelForMaskedLM)
        encoder = full.base_model
        mlm = LMHead(full)
        pooling = _st_pooling(path) or pooling
    elif any(a.endswith(("ForCausalLM", "LMHeadModel")) for a in archs):
        full = _load(transformers.AutoModelForCausalLM)
        encoder = full.base_model
        mlm = LMHead(full, predicts_next=True)
        pooling = _st_pooling(path) or pooling
    else:
        encoder = _load(transformers.AutoModel)
        pooling = _st_pooling(path) or pooling
    if path is not None and (path / MLM_FILE).exists() and mlm is None:
        mlm = load_decoding_head(encoder, path / MLM_FILE)
    max_pos = int(getattr(config, "max_position_embeddings", 512) or 512) - family.position_offset
    max_len = min(max_pos, int(getattr(tokenizer, "model_max_length", max_pos) or max_pos))
    st_len = _st_max_length(path)
    if meta.get("max_length"):
        max_len = min(max_len, int(meta["max_length"]))
    elif st_len:
        max_len = min(max_len, st_len)
    check_tokenizer_fits(tokenizer, encoder, src)
    lm = LoadedModel(ref=ref, path=path, tokenizer=tokenizer, encoder=encoder, head=head, mlm_head=mlm,
                     label_names=label_names, pooling=pooling, max_length=max_len, model_type=model_type,
                     metadata=meta, device=dev, notes=notes, family=family.name, causal=family.causal)
    for m in (encoder, head, mlm):
        if m is not None:
            m.to(dev).eval()
    if head is not None and torch_dtype != torch.float32:
        if isinstance(head, SequenceHead) and head.stub.pooler is not None:
            head.stub.pooler = copy.deepcopy(head.stub.pooler)  # the backbone's pooler runs in its dtype too
        head.float()  # the checkpoint's own head modules sit outside the backbone
    if torch_dtype != torch.float32:
        lm.notes.append(f"backbone weights in {dtype_name(torch_dtype)}; heads and results in float32")
    return lm
