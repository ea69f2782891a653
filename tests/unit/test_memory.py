"""Precision and out-of-memory back-off: dtype names checked against the device, bfloat16 backbones with float32
heads, and batches that run out of memory retried in halves with the same results (the out-of-memory error is
simulated: the backbone raises ``torch.cuda.OutOfMemoryError`` for batches above a size)."""
from __future__ import annotations

import functools

import numpy as np
import pytest
import torch

from core.foundation.errors import BackboneLensError, ModelError
from core.models.memory import auto_batch_size, each_batch, is_oom, resolve_dtype

TEXTS = ["a fine day for a walk", "the market fell sharply today", "what a goal in the final minute",
         "rain again, and the trains are late", "new phones arrive next week", "the vote was close",
         "a short one", "the crew were lovely and the food was good", "shares rose", "nobody expected that result"]


def test_dtype_names_are_checked_against_the_device():
    cpu = torch.device("cpu")
    assert resolve_dtype(None, cpu) is torch.float32
    assert resolve_dtype("bf16", cpu) is torch.bfloat16 and resolve_dtype("float32", cpu) is torch.float32
    with pytest.raises(BackboneLensError, match="float16 needs a GPU"):
        resolve_dtype("float16", cpu)
    with pytest.raises(BackboneLensError, match="not one of float32, bfloat16, float16"):
        resolve_dtype("int8", cpu)


def test_out_of_memory_is_recognised():
    assert is_oom(torch.cuda.OutOfMemoryError("CUDA out of memory. Tried to allocate 2.00 GiB"))
    assert is_oom(RuntimeError("MPS backend out of memory"))
    assert not is_oom(RuntimeError("shape mismatch")) and not is_oom(ValueError("out of memory"))


def test_each_batch_halves_a_batch_that_does_not_fit_and_keeps_every_row():
    seen: list[list[int]] = []

    def fn(rows):
        if len(rows) > 3:
            raise torch.cuda.OutOfMemoryError("CUDA out of memory")
        seen.append(list(rows))

    notes: list[str] = []
    used = each_batch(np.arange(10), 8, fn, device=torch.device("cpu"), what="test", notes=notes)
    assert used == 2 and sorted(sum(seen, [])) == list(range(10))
    assert all(len(r) <= 2 for r in seen)
    assert notes == ["test: batches of 8 ran out of memory on cpu; used batches of 2"]


def test_each_batch_says_so_when_one_row_does_not_fit_and_passes_other_errors_on():
    def oom(rows):
        raise torch.cuda.OutOfMemoryError("CUDA out of memory")

    with pytest.raises(ModelError, match="one text does not fit in the memory of cpu.*--dtype bfloat16"):
        each_batch(np.arange(4), 4, oom, device=torch.device("cpu"), what="embeddings")

    def broken(rows):
        raise RuntimeError("shape mismatch")

    with pytest.raises(RuntimeError, match="shape mismatch"):
        each_batch(np.arange(4), 4, broken, device=torch.device("cpu"), what="embeddings")


def test_batch_size_is_the_request_off_cuda():
    assert auto_batch_size(torch.device("cpu"), requested=32, bytes_per_text=10**12) == 32


def _oom_above(model, limit: int) -> list[int]:
    """Make ``model``'s backbone raise CUDA out-of-memory for batches of more than ``limit`` texts; the sizes it
    was called with are recorded."""
    sizes: list[int] = []
    forward = model.encoder.forward

    @functools.wraps(forward)
    def wrapped(*args, **kwargs):
        x = kwargs.get("input_ids", kwargs.get("inputs_embeds"))
        sizes.append(int(x.shape[0]))
        if x.shape[0] > limit:
            raise torch.cuda.OutOfMemoryError("CUDA out of memory. Tried to allocate 20.00 GiB")
        return forward(*args, **kwargs)

    model.encoder.forward = wrapped
    return sizes


@pytest.fixture
def tiny(tiny_model_dir):
    from core.models.refs import load_model

    return lambda: load_model(str(tiny_model_dir("bert")), device="cpu")


def test_embeddings_back_off_to_what_fits_with_the_same_numbers(tiny):
    from core.models.embeddings import extract_embeddings_from_texts

    ref = extract_embeddings_from_texts(tiny(), TEXTS, batch_size=8)
    m = tiny()
    sizes = _oom_above(m, 3)
    got = extract_embeddings_from_texts(m, TEXTS, batch_size=8)
    assert max(sizes) == 8 and sizes.count(8) == 1  # tried once at 8, then never above what fitted
    np.testing.assert_allclose(got.pooled, ref.pooled, atol=1e-5)
    np.testing.assert_allclose(got.probs, ref.probs, atol=1e-5)
    assert any("used batches of 2" in n for n in m.notes)


@pytest.mark.parametrize("method", ["layer_gradcam", "grad_x_input", "occlusion"])
def test_saliency_backs_off_to_what_fits_with_the_same_scores(tiny, method):
    from core.analyses.saliency.registry import explain

    ref = explain(tiny(), TEXTS, method, batch_size=8)
    m = tiny()
    _oom_above(m, 3)
    got = explain(m, TEXTS, method, batch_size=8)
    for a, b in zip(ref, got):
        assert a.tokens == b.tokens
        np.testing.assert_allclose(a.scores, b.scores, atol=1e-4)
    assert any("ran out of memory" in n for n in m.notes)


def test_bfloat16_backbone_with_a_float32_head(tiny_model_dir):
    from core.models.embeddings import extract_embeddings_from_texts
    from core.models.refs import load_model

    m32 = load_model(str(tiny_model_dir("bert")), device="cpu")
    m16 = load_model(str(tiny_model_dir("bert")), device="cpu", dtype="bfloat16")
    assert m16.dtype is torch.bfloat16 and m16.describe()["dtype"] == "bfloat16"
    assert all(p.dtype is torch.float32 for p in m16.head.parameters())
    assert m16.encoder_fingerprint != m32.encoder_fingerprint  # cached results never mix precisions
    e32 = extract_embeddings_from_texts(m32, TEXTS)
    e16 = extract_embeddings_from_texts(m16, TEXTS)
    assert e16.pooled.dtype == np.float32 and e16.probs.dtype == np.float32
    np.testing.assert_allclose(e16.probs, e32.probs, atol=0.05)
    assert not np.array_equal(e16.pooled, e32.pooled)  # it really ran in bfloat16
    assert any("bfloat16" in n for n in m16.notes)


def test_analysis_threads_follow_the_setting_and_are_remeasured(monkeypatch):
    """The analyses' torch threads: the setting when given (checked), else what the load leaves free, re-chosen when
    the setting changes or the last choice is older than ``max_age``."""
    from core.foundation import settings

    before = torch.get_num_threads()
    try:
        monkeypatch.setenv(settings.THREADS_ENV, "1")
        c = settings.use_analysis_threads()
        assert (c.n, c.source) == (1, "env") and torch.get_num_threads() == 1
        monkeypatch.setattr(settings, "busy_cores", lambda window=0.25: 0.0)
        monkeypatch.delenv(settings.THREADS_ENV)
        c = settings.use_analysis_threads()  # the setting changed: chosen again, from the (idle) load
        assert c.source == "auto" and c.n == settings.physical_cores() == torch.get_num_threads()
        monkeypatch.setattr(settings, "busy_cores", lambda window=0.25: float(settings.physical_cores()))
        assert settings.use_analysis_threads().n == c.n  # within max_age: the last choice stands
        assert settings.use_analysis_threads(max_age=0.0).n == 1  # every core busy elsewhere: one thread
        monkeypatch.setenv(settings.THREADS_ENV, "zero")
        with pytest.raises(BackboneLensError, match="is not a number of threads"):
            settings.use_analysis_threads()
    finally:
        settings._ANALYSIS_THREADS.clear()
        torch.set_num_threads(before)
