"""How fast a model runs on this machine right now: a short calibration of its passes, and time estimates built
from it.

Every long analysis is, to first order, a count of model passes over sequences of known lengths: plain forward
passes (games, occlusion, attacks, embeddings), forward + backward passes to the input embeddings (gradients,
Integrated Gradients, Grad-CAM), second derivatives (integrated Hessians) and masked-LM read-outs (decoded
Grad-CAM, word candidates). :func:`seconds_per_sequence` *measures* one such pass on a small batch of random
token sequences at a given length — on this machine, on the model's device, under whatever else is running —
and keeps the measurement on disk (``<cache>/throughput/``) for :data:`MAX_AGE` seconds per model, device, pass
and length, so a busy machine is measured busy and an idle one idle. :class:`Work` lists the passes of a job;
:func:`estimate` prices them and returns an :class:`Estimate` with a range.

Nothing here knows an analysis: callers count their passes (``ui.cached.estimates`` does for the dashboard).
"""
from __future__ import annotations

import json
import threading
import time
from contextlib import contextmanager
from dataclasses import dataclass, field
from typing import Iterable, Iterator, Sequence

import numpy as np

from core.foundation.files import atomic_write_text
from core.foundation.settings import cache_root
from core.models.loading import LoadedModel

PASSES = ("forward", "gradient", "hessian", "readout")
BUCKETS = (8, 16, 32, 64, 128, 256, 512)  # sequence lengths that are measured (others are interpolated)
MAX_AGE = 600.0  # seconds a measurement stays valid (the machine's load changes)
BATCH = {"forward": 16, "gradient": 16, "hessian": 8, "readout": 8}  # about the batches the analyses use
MIN_SECONDS = 0.5  # time spent timing one pass at one length (after a warm-up)
SPREAD = (0.7, 1.5)  # the range around an estimate: timing noise and what the pass count leaves out

_LOCK = threading.Lock()
_MEMO: dict[str, dict] = {}


def _file(model: LoadedModel):
    return cache_root() / "throughput" / f"{model.fingerprint}-{model.device.type}.json"


def _load(model: LoadedModel) -> dict:
    f = _file(model)
    key = str(f)
    if key not in _MEMO:
        try:
            _MEMO[key] = json.loads(f.read_text("utf-8"))
        except (OSError, ValueError):
            _MEMO[key] = {}
    return _MEMO[key]


def _save(model: LoadedModel, table: dict) -> None:
    f = _file(model)
    f.parent.mkdir(parents=True, exist_ok=True)
    atomic_write_text(f, json.dumps(table, indent=1, sort_keys=True))
    _MEMO[str(f)] = table


def _random_batch(model: LoadedModel, b: int, tokens: int) -> dict:
    import torch

    tok = model.tokenizer
    hi = int(getattr(tok, "vocab_size", 30000) or 30000)
    gen = torch.Generator().manual_seed(tokens)
    ids = torch.randint(min(1000, hi - 1), hi - 1, (b, tokens), generator=gen)
    if getattr(tok, "cls_token_id", None) is not None:
        ids[:, 0] = tok.cls_token_id
    if getattr(tok, "sep_token_id", None) is not None:
        ids[:, -1] = tok.sep_token_id
    return {"input_ids": ids.to(model.device), "attention_mask": torch.ones(b, tokens, dtype=torch.long,
                                                                             device=model.device),
            "token_type_ids": torch.zeros(b, tokens, dtype=torch.long, device=model.device)}


@contextmanager
def _eager(model: LoadedModel) -> Iterator[None]:
    """Eager attention for the block (second derivatives need it), then the model's own implementation again."""
    cfg = model.encoder.config
    impl = getattr(cfg, "_attn_implementation", "eager")
    if impl != "eager":
        model.encoder.set_attn_implementation("eager")
    try:
        yield
    finally:
        if impl != "eager":
            model.encoder.set_attn_implementation(impl)


def _output(model: LoadedModel, batch: dict):
    """A scalar per row: the first logit (a bare encoder: the pooled vector's sum)."""
    out = model.encode(batch)
    return model.logits(out.pooled)[:, 0] if model.has_head else out.pooled.sum(-1)


def _run(model: LoadedModel, kind: str, batch: dict) -> None:
    import torch

    kw = {k: v for k, v in batch.items() if k != "input_ids"}
    if kind == "forward":
        with torch.inference_mode():
            _output(model, batch)
        return
    if kind == "readout":  # ``batch`` holds the hidden states: the read-out alone is timed
        with torch.inference_mode():
            torch.log_softmax(model.mlm_head(batch["hidden"]).float(), dim=-1)
        return
    with torch.no_grad():
        e = model.encoder.get_input_embeddings()(batch["input_ids"]).detach()
    with torch.enable_grad():
        e = e.requires_grad_(True)
        y = _output(model, {**kw, "inputs_embeds": e})
        if kind == "gradient":
            torch.autograd.grad(y.sum(), e)
            return
        (g,) = torch.autograd.grad(y.sum(), e, create_graph=True)  # hessian: a second derivative, as in IH
        torch.autograd.grad((g * e.detach()).sum(), e)


def measure(model: LoadedModel, kind: str, tokens: int, *, batch: int | None = None,
            min_seconds: float = MIN_SECONDS) -> float:
    """Seconds one pass of ``kind`` takes per sequence of ``tokens`` tokens, timed now on a batch of random
    sequences (the median of the repeats after a warm-up)."""
    if kind not in PASSES:
        raise ValueError(f"unknown pass {kind!r}; expected one of {PASSES}")
    if kind == "readout" and model.mlm_head is None:
        kind = "forward"  # a model without a decoding head never reads out; a forward pass is the closest cost
    b = int(batch or BATCH[kind])
    data = _random_batch(model, b, int(tokens))
    if kind == "readout":
        import torch

        with torch.inference_mode():
            data = {"hidden": model.encode(data).last_hidden}
    ctx = _eager(model) if kind == "hessian" else _null()
    times: list[float] = []
    with ctx:
        t0 = time.perf_counter()
        _run(model, kind, data)  # warm-up (allocations, kernel choice); on a slow machine it also counts
        warm = time.perf_counter() - t0
        reps = 1 if warm > min_seconds else 3  # a slow pass (a busy machine, a long text): one more suffices
        t_end = time.perf_counter() + min_seconds
        while len(times) < reps or (time.perf_counter() < t_end and len(times) < 9):
            t0 = time.perf_counter()
            _run(model, kind, data)
            times.append(time.perf_counter() - t0)
        if reps == 1:
            times.append(warm)
    return float(np.median(times)) / b


@contextmanager
def _null() -> Iterator[None]:
    yield


def _bucket_pair(tokens: float, longest: int) -> tuple[int, int]:
    """The two measured lengths around ``tokens`` (the same one twice at an end)."""
    buckets = sorted({*(b for b in BUCKETS if b < longest), int(longest)})
    t = min(max(tokens, buckets[0]), buckets[-1])
    hi = next(b for b in buckets if b >= t)
    lo = max((b for b in buckets if b <= t), default=hi)
    return lo, hi


def _fresh_line(model: LoadedModel, kind: str, lengths: Sequence[int], max_age: float) -> list[tuple[int, float]]:
    """Measure ``lengths`` of pass ``kind`` where no fresh measurement exists; every fresh (length, seconds)."""
    with _LOCK:
        table = _load(model)
        row = table.setdefault(kind, {})
        now = time.time()
        changed = False
        for b in sorted(set(lengths)):
            entry = row.get(str(b))
            if entry is None or now - entry[1] > max_age:
                row[str(b)] = [measure(model, kind, b), time.time()]
                changed = True
        if changed:
            _save(model, table)
        now = time.time()
        return [(int(b), v[0]) for b, v in row.items() if now - v[1] <= max(max_age, 1.0) or int(b) in lengths]


def seconds_per_sequence(model: LoadedModel, kind: str, tokens: float, *, max_age: float = MAX_AGE) -> float:
    """Seconds per sequence of ``tokens`` tokens for one pass of ``kind``: the lengths of :data:`BUCKETS` around it
    are measured (again when older than ``max_age`` seconds), and a straight line ``a + b·tokens`` fitted to every
    fresh measurement of the pass (so one noisy timing on a busy machine does not decide alone) prices it."""
    lo, hi = _bucket_pair(tokens, max(8, int(model.max_length)))
    return _line(_fresh_line(model, kind, (lo, hi), max_age), float(tokens))


def _line(points: Sequence[tuple[int, float]], tokens: float) -> float:
    """The cost at ``tokens`` from (length, seconds) measurements: a least-squares line through them (never
    falling with length, never below zero); one measurement scales in proportion above its length."""
    t = np.asarray([p[0] for p in points], dtype=float)
    c = np.asarray([p[1] for p in points], dtype=float)
    if len(t) == 1 or np.ptp(t) == 0:
        return float(c.mean() * max(1.0, tokens / t.mean()))
    slope, icpt = np.polyfit(t, c, 1)
    if slope <= 0:
        return float(c.mean())
    return float(max(icpt + slope * tokens, c.min() * 0.5))


@dataclass(frozen=True)
class Work:
    """The passes of a job: ``(kind, sequences, tokens per sequence)`` items, and a share of ``fixed`` seconds
    (what is not a model pass, e.g. UMAP). ``+`` joins two jobs; ``parts`` names sub-jobs (e.g. per method)."""

    items: tuple[tuple[str, float, float], ...] = ()
    fixed: float = 0.0
    parts: tuple[tuple[str, "Work"], ...] = field(default=())

    def add(self, kind: str, sequences: float, tokens: float) -> "Work":
        if sequences <= 0:
            return self
        return Work((*self.items, (kind, float(sequences), float(tokens))), self.fixed, self.parts)

    def __add__(self, other: "Work") -> "Work":
        return Work((*self.items, *other.items), self.fixed + other.fixed, (*self.parts, *other.parts))

    def named(self, name: str) -> "Work":
        """This work as one named part (the parts are priced separately, e.g. for progress-bar weights)."""
        return Work(self.items, self.fixed, ((name, Work(self.items, self.fixed)),))

    def sequences(self, kind: str | None = None) -> float:
        return sum(n for k, n, _ in self.items if kind is None or k == kind)


def per_text(kind: str, counts: Iterable[float], tokens: Sequence[float]) -> Work:
    """``counts[i]`` passes of ``kind`` on text ``i`` of ``tokens[i]`` tokens, grouped by length bucket."""
    w = Work()
    groups: dict[int, list[float]] = {}
    for c, t in zip(counts, tokens):
        if c > 0:
            groups.setdefault(int(t), []).append(c)
    for t, cs in sorted(groups.items()):
        w = w.add(kind, sum(cs), t)
    return w


@dataclass(frozen=True)
class Estimate:
    """How long a job should take here: ``seconds`` (the priced passes), ``low``–``high`` (its range), what the
    price rests on (``basis``: one measured pass, in words) and the seconds of each named part."""

    seconds: float
    low: float
    high: float
    basis: str
    parts: tuple[tuple[str, float], ...] = ()

    def span(self) -> str:
        """"about 40 s – 1.5 min", "under 5 s"."""
        if self.high < 5:
            return "under 5 s"
        lo, hi = duration(self.low), duration(self.high)
        return f"about {lo}" if lo == hi else f"about {lo} – {hi}"


def duration(seconds: float) -> str:
    """A rounded duration: "8 s", "40 s", "1.5 min", "12 min", "1.3 h"."""
    s = max(0.0, float(seconds))
    if s < 10:
        return f"{max(1, round(s))} s"
    if s < 60:
        return f"{round(s, -1):.0f} s" if s >= 15 else f"{round(s)} s"
    m = s / 60
    if m < 10:
        return f"{round(m * 2) / 2:g} min"
    if m < 90:
        return f"{round(m)} min"
    return f"{m / 60:.1f} h"


def estimate(model: LoadedModel, work: Work, *, spread: tuple[float, float] = SPREAD,
             max_age: float = MAX_AGE) -> Estimate:
    """Price ``work`` with passes measured on this machine now: per kind of pass, the two lengths of
    :data:`BUCKETS` that span the work's sequences are measured (when not fresh) and a line through the fresh
    measurements prices every sequence (see :func:`seconds_per_sequence`)."""
    longest = max(8, int(model.max_length))
    lines: dict[str, list[tuple[int, float]]] = {}
    for kind in dict.fromkeys(k for k, _, _ in work.items):
        ts = [t for k, _, t in work.items if k == kind]
        lines[kind] = _fresh_line(model, kind, (_bucket_pair(min(ts), longest)[0], _bucket_pair(max(ts), longest)[1]),
                                  max_age)

    def price(w: Work) -> float:
        return w.fixed + sum(n * _line(lines[k], t) for k, n, t in w.items)

    total = price(work)
    parts = tuple((name, price(w)) for name, w in work.parts)
    kinds = [k for k, _, _ in work.items]
    kind = "gradient" if "gradient" in kinds else kinds[0] if kinds else "forward"
    tokens = float(np.average([t for _, _, t in work.items], weights=[n for _, n, _ in work.items])
                   if work.items else 32)
    one = _line(lines[kind], tokens) if kind in lines else seconds_per_sequence(model, kind, tokens, max_age=max_age)
    what = {"forward": "a forward pass", "gradient": "a forward + backward pass", "hessian": "a second-derivative "
            "pass", "readout": "a masked-LM read-out"}[kind]
    basis = (f"measured on this {model.device.type.upper()} within the last {max(1, int(max_age // 60))} min: {what} "
             f"of a {tokens:.0f}-token text takes {one * 1000:.0f} ms")
    return Estimate(total, total * spread[0], total * spread[1], basis, parts)


def forget() -> None:
    """Drop the in-process copy of the measurements (tests)."""
    _MEMO.clear()


__all__ = ["BUCKETS", "Estimate", "MAX_AGE", "PASSES", "Work", "duration", "estimate", "forget", "measure",
           "per_text", "seconds_per_sequence"]
