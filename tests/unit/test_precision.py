"""The GPU path of the embeddings and the corpus engine, checked on the CPU: autocast precision (bf16 on a tiny BERT
against float32, fp16 refused on the CPU, cache keys and Ray workers that follow the driver's precision), length
buckets under a token budget (literal bucket sizes, every row once and in order, the out-of-memory back-off, and the
CPU default bit-identical to the old fixed-size batches) and pinned host-to-device copies (decided for CUDA only;
a fake tensor records the calls, since no GPU is needed here)."""
from __future__ import annotations

import json

import numpy as np
import pytest
import torch

from core.foundation.errors import BackboneLensError, ModelError
from core.models.memory import (bucket_sizes, each_batch, pins, precision_name, resolve_precision, to_device,
                                token_budget)

# lengths from 2 to ~40 tokens, in no particular order, so that sorting and bucketing matter
TEXTS = ["short", "the market fell sharply today after the bank raised its rates again",
         "a fine day", "what a goal in the final minute of the cup final, nobody in the ground could believe it",
         "rain", "new phones arrive next week", "the vote was close and the count went on until morning in "
         "three of the towns, where the turnout was higher than at any election since the war", "ok",
         "shares rose", "nobody expected that result", "the crew were lovely and the food was good"]
# bfloat16 keeps 8 bits of mantissa: pooled vectors agree with float32's to this cosine, probabilities to this
BF16_MIN_COSINE = 0.999
BF16_PROBS_ATOL = 0.02


@pytest.fixture(scope="module")
def tiny(tiny_model_dir):
    from core.models.refs import load_model

    return load_model(str(tiny_model_dir("bert")), device="cpu")


# ----------------------------------------------------------------------------- precision names


def test_precision_names_are_checked_against_the_device():
    cpu = torch.device("cpu")
    assert resolve_precision(None, cpu) is torch.float32 and resolve_precision("fp32", cpu) is torch.float32
    assert resolve_precision("bf16", cpu) is torch.bfloat16 and resolve_precision("bfloat16", cpu) is torch.bfloat16
    assert resolve_precision("fp16", torch.device("cuda")) is torch.float16  # a device object needs no GPU here
    assert [precision_name(d) for d in (torch.float32, torch.bfloat16, torch.float16)] == ["fp32", "bf16", "fp16"]
    with pytest.raises(BackboneLensError, match=r"^--precision fp16 autocasts to float16, which needs a GPU"):
        resolve_precision("fp16", cpu)
    with pytest.raises(BackboneLensError, match=r"--precision 'int8' is not one of fp32, bf16, fp16\.$"):
        resolve_precision("int8", cpu)


def test_fp16_on_the_cpu_is_refused_before_the_weights_are_read(tiny_model_dir, monkeypatch):
    from core.models import refs

    monkeypatch.setattr(refs, "_load_model", lambda *a, **k: pytest.fail("the weights were read"))
    with pytest.raises(BackboneLensError, match="needs a GPU"):
        refs.load_model(str(tiny_model_dir("bert")), device="cpu", precision="fp16")


def test_autocast_over_half_precision_weights_is_refused(tiny_model_dir):
    from core.models.refs import load_model

    with pytest.raises(ModelError, match="autocasts float32 weights, and these are already bfloat16 .*one or the"):
        load_model(str(tiny_model_dir("bert")), device="cpu", dtype="bfloat16", precision="bf16")


# ----------------------------------------------------------------------------- autocast


def test_bf16_autocast_keeps_float32_weights_and_results_close_to_float32(tiny):
    from core.models.embeddings import extract_embeddings_from_texts

    m16 = tiny.with_precision("bf16")
    assert m16.encoder is tiny.encoder and m16.dtype is torch.float32  # weights shared, not cast
    assert m16.describe()["precision"] == "bf16" and tiny.describe()["precision"] == "fp32"
    assert any("bfloat16 autocast" in n for n in m16.notes) and not any("autocast" in n for n in tiny.notes)
    seen: set[torch.dtype] = set()
    linear = next(mod for mod in tiny.encoder.modules() if isinstance(mod, torch.nn.Linear))
    hook = linear.register_forward_hook(lambda mod, i, o: seen.add(o.dtype))
    try:
        e16 = extract_embeddings_from_texts(m16, TEXTS, batch_size=4)
        assert seen == {torch.bfloat16}  # the backbone really ran under autocast …
        seen.clear()
        e32 = extract_embeddings_from_texts(tiny, TEXTS, batch_size=4)
        assert seen == {torch.float32}  # … and the float32 model did not
    finally:
        hook.remove()
    assert e16.pooled.dtype == np.float32 and e16.probs.dtype == np.float32
    assert not np.array_equal(e16.pooled, e32.pooled)
    cos = (e16.pooled * e32.pooled).sum(1) / np.linalg.norm(e16.pooled, axis=1) / np.linalg.norm(e32.pooled, axis=1)
    assert cos.min() >= BF16_MIN_COSINE
    np.testing.assert_allclose(e16.probs, e32.probs, atol=BF16_PROBS_ATOL)


def test_bf16_autocast_runs_the_gradient_jobs_of_the_corpus_engine(tiny):
    from core.analyses.corpus.jobs import compute_batch
    from core.analyses.corpus.params import CorpusParams

    p = CorpusParams(jobs=("entropy", "class-tokens"), batch_size=4, entropy_steps=4, class_method="grad_x_input")
    got = compute_batch(tiny.with_precision("bf16"), TEXTS[:4], None, p.jobs, p)
    ref = compute_batch(tiny, TEXTS[:4], None, p.jobs, p)
    for job in p.jobs:
        assert got[job]["failed_row"].size == 0, got[job]["failed_error"]
    assert got["entropy"]["entropy"].dtype == np.float64
    np.testing.assert_allclose(got["entropy"]["entropy"], ref["entropy"]["entropy"], atol=0.05)


# ----------------------------------------------------------------------------- cache keys and workers


def test_cache_keys_differ_between_precisions_and_float32_keys_are_unchanged(tiny, tmp_path):
    from core.analyses.corpus.engine import plan_batches
    from core.analyses.corpus.params import CorpusParams
    from core.data.datasets import _make
    from core.foundation.cache import ArrayCache
    from core.models.embeddings import extract_embeddings

    m16 = tiny.with_precision("bf16")
    fp32 = tiny.with_precision("fp32")
    assert fp32.fingerprint == tiny.fingerprint and fp32.encoder_fingerprint == tiny.encoder_fingerprint
    assert m16.fingerprint != tiny.fingerprint and m16.encoder_fingerprint != tiny.encoder_fingerprint
    ds = _make("texts", TEXTS, None, ())
    p = CorpusParams(jobs=("embed", "predict", "entropy"), batch_size=4)
    k32, k16 = plan_batches(tiny, ds, p, p.jobs), plan_batches(m16, ds, p, p.jobs)
    assert [pl.keys.keys() for pl in k32] == [pl.keys.keys() for pl in k16]
    assert all(set(a.keys.values()).isdisjoint(b.keys.values()) for a, b in zip(k32, k16))
    cache = ArrayCache(tmp_path)
    first = extract_embeddings(tiny, ds, cache=cache)
    assert not extract_embeddings(m16, ds, cache=cache).cache_hit  # never served the float32 entry
    again = extract_embeddings(tiny, ds, cache=cache)
    assert again.cache_hit and np.array_equal(again.pooled, first.pooled)


@pytest.mark.parametrize("load", [{"precision": "bf16"}, {"dtype": "bfloat16"}])
def test_a_ray_worker_loads_the_drivers_precision(tiny_model_dir, tmp_path, load):
    """The worker is built as Ray builds it (its constructor keywords from the driver's model), without Ray."""
    from core.analyses.corpus.engine import CorpusWorker, _precision_of, plan_batches
    from core.analyses.corpus.jobs import kind_of
    from core.analyses.corpus.params import CorpusParams
    from core.data.datasets import _make
    from core.foundation.cache import ArrayCache
    from core.models.refs import load_model

    driver = load_model(str(tiny_model_dir("bert")), device="cpu", **load)
    p = CorpusParams(jobs=("embed",), batch_size=len(TEXTS))
    plan = plan_batches(driver, _make("texts", TEXTS, None, ()), p, p.jobs)[0]
    worker = CorpusWorker(driver.ref, driver.fingerprint, str(tmp_path), p.to_dict(), device="cpu",
                          **_precision_of(driver))
    assert (worker.model.dtype, worker.model.precision) == (driver.dtype, driver.precision)
    out = worker({"batch": np.array([0]), "texts": np.array([json.dumps(TEXTS)]), "pairs": np.array([""]),
                  "keys": np.array([json.dumps(dict(plan.keys))])})
    assert out["computed"].tolist() == [1] and out["failed"].tolist() == [0]
    entry = ArrayCache(tmp_path).load(kind_of("embed"), plan.keys["embed"])
    from core.models.embeddings import extract_embeddings_from_texts

    np.testing.assert_array_equal(entry.arrays["pooled"],
                                  extract_embeddings_from_texts(driver, TEXTS, batch_size=len(TEXTS)).pooled)


def test_the_corpus_cli_takes_precision_and_refuses_fp16_on_the_cpu(tiny_model_dir, tmp_path, monkeypatch, capsys):
    from cli.main import main

    monkeypatch.setenv("BACKBONE_LENS_CACHE", str(tmp_path / "cache"))
    data = tmp_path / "texts.jsonl"
    data.write_text("".join(json.dumps({"text": t}) + "\n" for t in TEXTS), "utf-8")
    base = ["corpus", str(data), "--model", str(tiny_model_dir("bert")), "--device", "cpu", "--batch-size", "4",
            "--jobs", "embed,predict", "--json", "--quiet"]
    assert main(base + ["--precision", "fp16"]) == 2
    err = capsys.readouterr().err
    assert err.count("\n") == 1 and err.startswith("error: --precision fp16 autocasts to float16, which needs a GPU")
    runs = {}
    for precision in ("fp32", "bf16"):
        assert main(base + ["--precision", precision]) == 0
        runs[precision] = json.loads(capsys.readouterr().out)
    assert runs["fp32"]["model_fingerprint"] != runs["bf16"]["model_fingerprint"]
    assert runs["bf16"]["computed_batches"] == 3 and runs["fp32"]["aggregates"] != runs["bf16"]["aggregates"]


# ----------------------------------------------------------------------------- length buckets


def test_buckets_keep_rows_times_longest_within_the_budget():
    lengths = np.array([50, 40, 30, 20, 10, 10, 5, 5, 5, 5])
    assert bucket_sizes(lengths, max_rows=4, max_tokens=100) == [2, 3, 4, 1]  # 2×50, 3×30, 4×10, 1×5
    assert bucket_sizes(lengths, max_rows=4, max_tokens=None) == [4, 4, 2]  # no budget: fixed-size batches
    assert bucket_sizes(np.array([120, 3, 3]), max_rows=8, max_tokens=100) == [1, 2]  # too long alone: still runs
    assert bucket_sizes(np.array([], dtype=int), max_rows=4, max_tokens=100) == []
    rng = np.random.default_rng(0)
    for _ in range(50):
        lengths = np.sort(rng.integers(1, 200, rng.integers(1, 60)))[::-1]
        max_rows, budget = int(rng.integers(1, 20)), int(rng.integers(50, 2000))
        sizes = bucket_sizes(lengths, max_rows=max_rows, max_tokens=budget)
        assert sum(sizes) == len(lengths) and all(1 <= s <= max_rows for s in sizes)
        starts = np.cumsum([0, *sizes[:-1]])
        assert all(s == 1 or s * lengths[a] <= budget for a, s in zip(starts, sizes))
        assert all(a + s == len(lengths) or s == max_rows or (s + 1) * lengths[a] > budget
                   for a, s in zip(starts, sizes))  # every bucket as full as the budget allows


def test_token_budget_from_free_memory():
    assert token_budget(None, longest=100, bytes_per_text=10**6) is None  # no figure off CUDA
    assert token_budget(8 * 10**6, longest=100, bytes_per_text=10**6) == 400  # half of 8 texts' worth
    assert token_budget(10**3, longest=100, bytes_per_text=10**6) == 100  # at least one text


def test_out_of_memory_halves_the_token_budget_and_every_row_runs_once_in_order():
    lengths = np.array([5, 60, 10, 40, 5, 30, 5, 20, 10, 5, 50, 5])
    order = np.argsort(-lengths, kind="stable")
    seen: list[list[int]] = []

    def fn(rows):
        if len(rows) * lengths[rows].max() > 60:  # the "memory": 60 padded tokens
            raise torch.cuda.OutOfMemoryError("CUDA out of memory")
        seen.append(rows.tolist())

    notes: list[str] = []
    each_batch(order, 8, fn, device=torch.device("cpu"), what="test", notes=notes, lengths=lengths, max_tokens=240)
    assert sum(seen, []) == order.tolist()  # each row once, in the length-sorted order
    assert max(len(r) for r in seen) > len(seen[0])  # short texts ran in larger batches than the longest
    assert all(len(r) * lengths[r].max() <= 60 for r in seen)
    assert notes == ["test: batches of 240 padded tokens ran out of memory on cpu; used 60"]


def _fixed_size_batches(model, texts, batch_size):
    """The embeddings as _run_encoder computed them before length buckets: fixed-size chunks of the length-sorted
    order. Returns pooled (n, d) float32 and the chunks' row counts."""
    tok = model.tokenizer
    enc = tok(list(texts), truncation=True, max_length=model.max_length, padding=False)
    lengths = np.array([len(x) for x in enc["input_ids"]])
    order = np.argsort(-lengths, kind="stable")
    pooled = np.zeros((len(texts), model.hidden_size), np.float32)
    sizes = []
    with torch.inference_mode():
        for s in range(0, len(order), batch_size):
            idx = order[s:s + batch_size]
            batch = tok.pad([{k: enc[k][i] for k in enc} for i in idx], padding=True, return_tensors="pt")
            pooled[idx] = model.encode(dict(batch)).pooled.float().numpy()
            sizes.append(len(idx))
    return pooled, sizes


def _batch_shapes(model) -> tuple[list[tuple[int, int]], object]:
    shapes: list[tuple[int, int]] = []
    hook = model.encoder.register_forward_pre_hook(
        lambda mod, args, kwargs: shapes.append(tuple(kwargs["input_ids"].shape)), with_kwargs=True)
    return shapes, hook


@pytest.mark.parametrize("batch_size", [1, 3, 32])
def test_on_the_cpu_the_batches_and_numbers_are_the_fixed_size_ones(tiny, batch_size):
    from core.models.embeddings import extract_embeddings_from_texts

    assert tiny.token_budget(40) is None
    old, old_sizes = _fixed_size_batches(tiny, TEXTS, batch_size)
    shapes, hook = _batch_shapes(tiny)
    try:
        new = extract_embeddings_from_texts(tiny, TEXTS, batch_size=batch_size).pooled
    finally:
        hook.remove()
    assert [b for b, _ in shapes] == old_sizes
    assert np.array_equal(new, old)  # bit-identical


def test_with_a_free_memory_figure_batches_are_length_buckets_with_the_same_numbers(tiny, monkeypatch):
    from core.models import loading
    from core.models.embeddings import extract_embeddings_from_texts

    ref = extract_embeddings_from_texts(tiny, TEXTS, batch_size=8).pooled
    longest = max(len(x) for x in tiny.tokenizer(TEXTS, truncation=True, max_length=tiny.max_length)["input_ids"])
    # as if on CUDA with free memory for 6 texts of the longest length: half of it is a budget of 3 × longest
    monkeypatch.setattr(loading, "free_bytes", lambda device: 6 * tiny._bytes_per_text(longest))
    assert tiny.token_budget(longest) == 3 * longest
    shapes, hook = _batch_shapes(tiny)
    try:
        got = extract_embeddings_from_texts(tiny, TEXTS, batch_size=8).pooled
    finally:
        hook.remove()
    assert sum(b for b, _ in shapes) == len(TEXTS) and all(b * t <= 3 * longest for b, t in shapes)
    assert shapes[0][0] == 3 and max(b for b, _ in shapes) == 8  # the long texts 3 at a time, short ones 8
    np.testing.assert_allclose(got, ref, atol=1e-5)  # every row back in its place


# ----------------------------------------------------------------------------- pinned copies


class _FakeTensor:
    """Records what to_device does to it (a CPU-only torch cannot pin or copy to CUDA)."""

    def __init__(self) -> None:
        self.calls: list[tuple] = []

    def pin_memory(self) -> "_FakeTensor":
        self.calls.append(("pin_memory",))
        return self

    def to(self, device, non_blocking: bool = False) -> "_FakeTensor":
        self.calls.append(("to", str(device), non_blocking))
        return self


def test_only_cuda_copies_are_pinned_and_non_blocking():
    assert pins(torch.device("cuda")) and pins(torch.device("cuda:1"))
    assert not pins(torch.device("cpu")) and not pins(torch.device("mps"))
    batch = {"input_ids": _FakeTensor(), "attention_mask": _FakeTensor()}
    to_device(batch, torch.device("cuda:0"))
    assert all(t.calls == [("pin_memory",), ("to", "cuda:0", True)] for t in batch.values())
    batch = {"input_ids": _FakeTensor()}
    to_device(batch, torch.device("cpu"))
    assert batch["input_ids"].calls == [("to", "cpu", False)]
    ids = torch.arange(6).reshape(2, 3)
    out = to_device({"input_ids": ids}, torch.device("cpu"))
    assert out["input_ids"] is ids and not ids.is_pinned()  # on the CPU nothing changes
