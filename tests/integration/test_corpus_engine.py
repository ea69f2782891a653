"""Corpus audits on the real MiniLM and bundled tweets: the local and the Ray engine give the same numbers, a
worker killed with SIGKILL mid-job changes nothing, an interrupted driver resumes from the cached batches, a
poisoned text is reported with its row on both engines, and the CLI verb writes Parquet aggregates.

One local Ray instance (2 CPUs, no dashboard) serves the module; every run gets its own cache folder, so no
engine reads another's batches unless the test means it to."""
from __future__ import annotations

import os
import signal
import threading
import time
from pathlib import Path

import numpy as np
import pytest

from core.analyses.corpus.engine import RayOptions, corpus_array, run_corpus
from core.analyses.corpus.jobs import kind_of
from core.analyses.corpus.params import CorpusParams
from core.data.datasets import _make
from core.foundation.cache import ArrayCache

pytestmark = pytest.mark.integration
POISON = "a scraped line with a broken surrogate \ud800 in it"


@pytest.fixture(scope="module")
def ray_instance():
    ray = pytest.importorskip("ray")
    ray.init(address="local", num_cpus=2, include_dashboard=False, log_to_driver=False, logging_level="ERROR")
    yield ray
    ray.shutdown()


@pytest.fixture(scope="module")
def minilm():
    from core.models.refs import load_model

    return load_model("bundled:minilm", device="cpu")


def _tweets(n: int, *, poison_at: int | None = None):
    from core.data.refs import load_dataset
    from core.data.sampling import sample

    ds = sample(load_dataset("bundled:tweets"), n, seed=3)
    if poison_at is None:
        return ds
    texts = list(ds.texts)
    texts[poison_at] = POISON
    return _make("tweets with a poisoned row", texts, ds.labels, ds.label_names)


def _embed(bs: int = 32) -> CorpusParams:
    return CorpusParams(jobs=("embed",), batch_size=bs)


def _actor_pids() -> list[int]:
    """Ray Data actor processes below this test process (the Ray instance it started), from /proc."""
    parents: dict[int, int] = {}
    cmd: dict[int, str] = {}
    for d in Path("/proc").iterdir():
        if not d.name.isdigit():
            continue
        try:
            parents[int(d.name)] = int((d / "stat").read_text().rsplit(")", 1)[1].split()[1])
            cmd[int(d.name)] = (d / "cmdline").read_bytes().decode(errors="replace")
        except (OSError, IndexError, ValueError):
            continue
    mine, frontier = set(), {os.getpid()}
    while frontier:
        frontier = {p for p, pp in parents.items() if pp in frontier and p not in mine}
        mine |= frontier
    return sorted(p for p in mine if "MapWorker" in cmd.get(p, "") or "CorpusWorker" in cmd.get(p, ""))


def test_a_ray_address_that_does_not_answer_is_one_sentence(minilm, tmp_path):
    """Before the module's Ray instance starts (an engine reuses a running one)."""
    from core.analyses.corpus.params import CorpusError

    with pytest.raises(CorpusError, match="Could not reach Ray at 127.0.0.1:1 "):
        run_corpus(minilm, _tweets(8), _embed(), engine="ray", ray=RayOptions(address="127.0.0.1:1"),
                   cache=ArrayCache(tmp_path / "arrays"))


def test_two_ray_nodes_on_this_machine_through_ray_address(minilm, tmp_path):
    """A head and a second node (one CPU each, Ray's own ``cluster_utils``), reached by address like a real cluster:
    two one-CPU actors can only run one per node. Before the module's instance starts (an engine reuses one)."""
    import ray
    from ray.cluster_utils import Cluster

    cluster = Cluster(initialize_head=True, head_node_args={"num_cpus": 1, "include_dashboard": False})
    try:
        cluster.add_node(num_cpus=1)
        cluster.wait_for_nodes()
        ds = _tweets(256)
        res = run_corpus(minilm, ds, _embed(), engine="ray", ray=RayOptions(address=cluster.address),
                         cache=ArrayCache(tmp_path / "ray" / "arrays"))
        assert not ray.is_initialized(), "the engine disconnects from a cluster it joined"
    finally:
        cluster.shutdown()
    ref = run_corpus(minilm, ds, _embed(), engine="local", cache=ArrayCache(tmp_path / "local" / "arrays"))
    assert res.computed == 8 and len(res.workers) == 2
    np.testing.assert_allclose(corpus_array(res, "embed", "pooled"), corpus_array(ref, "embed", "pooled"),
                               rtol=0, atol=1e-5)


def test_local_and_ray_give_the_same_embeddings_and_poisoned_row(ray_instance, minilm, tmp_path):
    ds = _tweets(256, poison_at=40)
    local = run_corpus(minilm, ds, _embed(), engine="local", cache=ArrayCache(tmp_path / "a" / "arrays"))
    on_ray = run_corpus(minilm, ds, _embed(), engine="ray", cache=ArrayCache(tmp_path / "b" / "arrays"))
    assert (local.engine, on_ray.engine) == ("local", "ray")
    assert local.computed == on_ray.computed == 8 and on_ray.cached == 0
    assert set(on_ray.workers) - {os.getpid()}, "the Ray batches ran in worker processes, not in the driver"
    a, b = corpus_array(local, "embed", "pooled"), corpus_array(on_ray, "embed", "pooled")
    assert a.shape == (256, 384)
    np.testing.assert_allclose(a, b, rtol=0, atol=1e-5)
    for res in (local, on_ray):  # the poisoned text: reported with its row, its neighbours kept
        assert [f.row for f in res.failures] == [int(ds.indices[40]) if ds.indices is not None else 40]
        assert "TypeError" in res.failures[0].error and "\\ud800" in res.failures[0].text
        assert np.abs(corpus_array(res, "embed", "pooled")[[39, 41]]).sum() > 0
    assert not corpus_array(local, "embed", "pooled")[40].any()
    assert local.aggregates.summary == on_ray.aggregates.summary


@pytest.mark.parametrize("load", [{"precision": "bf16"}, {"dtype": "bfloat16"}])
def test_ray_workers_run_at_the_drivers_precision(ray_instance, tmp_path, load):
    """Autocast or half-precision weights on the driver: the workers load the same (the fingerprint check passes),
    give the local engine's numbers, and neither shares a cache entry with float32."""
    from core.models.refs import load_model

    model = load_model("bundled:minilm", device="cpu", **load)
    ds, cache = _tweets(64), ArrayCache(tmp_path / "arrays")
    local = run_corpus(model, ds, _embed(), engine="local", cache=ArrayCache(tmp_path / "local" / "arrays"))
    on_ray = run_corpus(model, ds, _embed(), engine="ray", cache=cache)
    assert on_ray.computed == 2 and on_ray.model_fingerprint == local.model_fingerprint
    np.testing.assert_allclose(corpus_array(on_ray, "embed", "pooled"), corpus_array(local, "embed", "pooled"),
                               rtol=0, atol=1e-5)
    fp32 = run_corpus(load_model("bundled:minilm", device="cpu"), ds, _embed(), engine="local", cache=cache)
    assert fp32.computed == 2 and fp32.folder != on_ray.folder


def test_local_and_ray_give_the_same_saliency_games_and_attack(ray_instance, tiny_model_dir, tmp_path):
    """The explaining jobs on a tiny classifier that every worker loads from its folder: the same per-text numbers
    and aggregates on both engines, the poisoned row reported by both. (No similarity check: the random classifier
    never flips, so the attack would embed every candidate of every word with MiniLM.)"""
    from core.models.refs import load_model

    model = load_model(str(tiny_model_dir("bert")), device="cpu")
    ds = _tweets(24, poison_at=5)
    p = CorpusParams(jobs=("saliency", "games", "attack"), batch_size=8, attack_kind="char", attack_min_similarity=0.0)
    local = run_corpus(model, ds, p, engine="local", cache=ArrayCache(tmp_path / "a" / "arrays"))
    on_ray = run_corpus(model, ds, p, engine="ray", cache=ArrayCache(tmp_path / "b" / "arrays"))
    assert on_ray.computed == 3 and set(on_ray.workers) - {os.getpid()}
    for job, name in (("saliency", "entropy"), ("saliency", "n_tokens"), ("games", "hide_probability"),
                      ("games", "random_reveal_predicted"), ("attack", "edits"), ("attack", "queries"),
                      ("attack", "entropy_adversarial")):
        np.testing.assert_allclose(corpus_array(local, job, name), corpus_array(on_ray, job, name), rtol=0, atol=1e-5)
    assert local.aggregates.summary == pytest.approx(dict(on_ray.aggregates.summary), nan_ok=True)
    games = zip(local.aggregates.games, on_ray.aggregates.games, strict=True)
    assert all(a[:4] == b[:4] and a[5] == b[5] and a[4] == pytest.approx(b[4], abs=1e-6) for a, b in games)
    for res in (local, on_ray):
        assert [f.row for f in res.failures] == [int(ds.indices[5]) if ds.indices is not None else 5]


def test_a_worker_killed_mid_job_changes_nothing(ray_instance, minilm, tmp_path):
    ds = _tweets(384)
    ref = run_corpus(minilm, ds, _embed(16), engine="local", cache=ArrayCache(tmp_path / "ref" / "arrays"))
    cache = ArrayCache(tmp_path / "ray" / "arrays")
    killed: list[int] = []
    done = threading.Event()

    def killer() -> None:  # SIGKILL one actor once two batches are in the cache
        while not done.is_set():
            entries = list((cache.root / kind_of("embed")).glob("*.json")) if cache.root.exists() else []
            pids = _actor_pids()
            if len(entries) >= 2 and pids:
                os.kill(pids[0], signal.SIGKILL)
                killed.append(pids[0])
                return
            time.sleep(0.02)

    t = threading.Thread(target=killer, daemon=True)
    t.start()
    try:
        res = run_corpus(minilm, ds, _embed(16), engine="ray", cache=cache)
    finally:
        done.set()
        t.join(5)
    assert killed, "no worker was killed while the job ran"
    assert res.computed + res.cached == len(res.plans) == 24
    np.testing.assert_allclose(corpus_array(res, "embed", "pooled"), corpus_array(ref, "embed", "pooled"),
                               rtol=0, atol=1e-5)
    assert not res.failures


def test_workers_the_cluster_cannot_place_are_refused(ray_instance, minilm, tmp_path):
    from core.analyses.corpus.params import CorpusError

    for opts, words in ((RayOptions(workers=3), "Ray has 2 CPUs and 0 GPUs; 3 workers × 1 CPU do not fit"),
                        (RayOptions(gpus_per_worker=1), "2 workers × 1 CPU + 1 GPU do not fit")):
        with pytest.raises(CorpusError, match=words.replace("+", r"\+")):
            run_corpus(minilm, _tweets(8), _embed(), engine="ray", ray=opts, cache=ArrayCache(tmp_path / "arrays"))


def test_an_interrupted_driver_resumes_from_the_cached_batches(ray_instance, minilm, tmp_path):
    ds = _tweets(320)
    cache = ArrayCache(tmp_path / "arrays")
    seen = []

    def interrupt(stage: str, fraction: float, message: str = "") -> None:
        seen.append(fraction)
        if fraction >= 0.3:
            raise KeyboardInterrupt

    with pytest.raises(KeyboardInterrupt):
        run_corpus(minilm, ds, _embed(), engine="ray", cache=cache, progress=interrupt)
    finished = len(list((cache.root / kind_of("embed")).glob("*.json")))
    assert 3 <= finished < 10
    again = run_corpus(minilm, ds, _embed(), engine="local", cache=cache)
    assert again.cached == finished and again.computed == 10 - finished
    ref = run_corpus(minilm, ds, _embed(), engine="local", cache=ArrayCache(tmp_path / "ref" / "arrays"))
    np.testing.assert_allclose(corpus_array(again, "embed", "pooled"), corpus_array(ref, "embed", "pooled"),
                               rtol=0, atol=1e-5)
    third = run_corpus(minilm, ds, _embed(), engine="ray", cache=cache)
    assert (third.computed, third.cached) == (0, 10)


def test_cli_corpus_verb_writes_parquet_aggregates(tmp_path, capsys):
    import json

    from cli.main import main

    out = tmp_path / "agg"
    rc = main(["corpus", "bundled:tweets", "--model", "bundled:minilm", "--jobs", "embed", "--n", "64",
               "--batch-size", "32", "--out", str(out), "--json", "--quiet"])
    assert rc == 0
    doc = json.loads(capsys.readouterr().out)
    assert doc["n"] == 64 and doc["batches"] == 2 and doc["engine"] == "local"
    assert {p.name for p in out.iterdir()} >= {"summary.parquet", "histograms.parquet", "failures.parquet",
                                                "run.json"}
    assert Path(doc["aggregates"], "summary.parquet").exists()
    for argv, words in ((["--jobs", "embed,topics"], "does not run topics"),
                        (["--jobs", "predict"], "has no classification head"),
                        (["--engine", "spark"], "unknown engine 'spark'"),
                        (["--jobs", "attack", "--max-change", "2"], "--max-change: expected a number from 0.01 to 1"),
                        (["--jobs", "games", "--saliency-method", "gradcam"], "--saliency-method: "),
                        (["--ray-address", "auto"], "need --engine ray")):
        rc = main(["corpus", "bundled:tweets", "--model", "bundled:minilm", "--n", "8", "--quiet", *argv])
        err = capsys.readouterr().err.strip()
        assert rc == 2 and err.startswith("error:") and words in err and "\n" not in err, err


def test_the_fine_tuned_minilm_gives_the_same_saliency_games_attack_and_map_on_both_engines(ray_instance,
                                                                                           demo_workspace, tmp_path):
    """The real MiniLM (the fine-tuned tweets demo) on 24 bundled tweets: saliency scores, games curves and the
    character attack's outcomes (seeded) equal on the local engine and on Ray, and so does the corpus map placed
    from either engine's batches."""
    from core.models.refs import load_model

    model = load_model("demo:tweets-finetuned", device="cpu")
    ds = _tweets(24)
    p = CorpusParams(jobs=("saliency", "games", "attack", "map"), batch_size=8, attack_kind="char",
                     map_landmarks=20, map_grid=10, clusters=3)
    local = run_corpus(model, ds, p, engine="local", cache=ArrayCache(tmp_path / "a" / "arrays"))
    on_ray = run_corpus(model, ds, p, engine="ray", cache=ArrayCache(tmp_path / "b" / "arrays"))
    assert on_ray.computed == 3 and set(on_ray.workers) - {os.getpid()} and not local.notes
    assert corpus_array(local, "attack", "flipped").any()  # the attack's outcomes are not all alike
    for job, name in (("saliency", "top_share"), ("saliency", "entropy"), ("games", "hide_probability"),
                      ("games", "reveal_probability"), ("attack", "flipped"), ("attack", "edits"),
                      ("embed", "pooled")):
        np.testing.assert_allclose(corpus_array(local, job, name), corpus_array(on_ray, job, name), rtol=0, atol=1e-5)
    assert local.aggregates.summary == pytest.approx(dict(on_ray.aggregates.summary), nan_ok=True)
    a, b = local.aggregates.density, on_ray.aggregates.density
    assert (a.counts == b.counts).all() and [r[:4] for r in a.clusters] == [r[:4] for r in b.clusters]
