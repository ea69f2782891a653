"""Corpus audit throughput: the local engine against the Ray engine (Ray Data actors, one model copy each), and
the cost of a worker killed with SIGKILL mid-job.

The corpus: the bundled tweets (38,158) in a fixed shuffled order (seed 0), repeated until ``--n`` texts; the k-th
repetition (k ≥ 1) of a tweet gets `` [k]`` appended, so every text — and every batch's cache key — is new and
the tokens change by one short suffix. Each variant runs in its own subprocess with an empty cache folder (nothing
is read from an earlier run) and reports texts/s over the engine's wall time (model loading on the workers
included), the driver's peak RSS and each Ray worker's peak RSS (``VmHWM`` of the actor processes, read while the
job runs). ``ray-kill`` kills one actor once a quarter of the batches are in the cache; its extra seconds over
``ray`` are the cost of the kill (single runs on a shared machine: read them as rough figures).

Usage: python benchmarks/corpus_engine.py [--n 2000] [--jobs embed,predict] [--variants local,ray,ray-kill]
       [--batch-size 64] [--entropy-steps 20] [--out benchmarks/results/corpus_engine.jsonl]
       python benchmarks/corpus_engine.py --n 100000 --export tweets100k.jsonl   # the corpus for the CLI
"""
from __future__ import annotations

import argparse
import json
import os
import resource
import signal
import subprocess
import sys
import tempfile
import threading
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))
MODEL = "demo:tweets-finetuned"


def perturbed_tweets(n: int):
    """``n`` texts: the bundled tweets shuffled (seed 0), repeated with `` [k]`` appended on the k-th repetition."""
    import numpy as np

    from core.data.datasets import _make
    from core.data.refs import load_dataset

    ds = load_dataset("bundled:tweets")
    order = np.random.default_rng(0).permutation(len(ds))
    texts, labels = [], []
    for i in range(n):
        k, j = divmod(i, len(ds))
        texts.append(ds.texts[order[j]] + (f" [{k}]" if k else ""))
        labels.append(int(ds.labels[order[j]]))
    return _make(f"tweets x{n}", texts, labels, ds.label_names)


def _actor_pids() -> list[int]:
    """Ray Data actor processes below this process (from /proc)."""
    parents, cmd = {}, {}
    for d in Path("/proc").iterdir():
        if d.name.isdigit():
            try:
                parents[int(d.name)] = int((d / "stat").read_text().rsplit(")", 1)[1].split()[1])
                cmd[int(d.name)] = (d / "cmdline").read_bytes().decode(errors="replace")
            except (OSError, IndexError, ValueError):
                pass
    mine, frontier = set(), {os.getpid()}
    while frontier:
        frontier = {p for p, pp in parents.items() if pp in frontier and p not in mine}
        mine |= frontier
    return sorted(p for p in mine if "MapWorker" in cmd.get(p, ""))


def _hwm_kb(pid: int) -> int:
    try:
        for line in Path(f"/proc/{pid}/status").read_text().splitlines():
            if line.startswith("VmHWM:"):
                return int(line.split()[1])
    except OSError:
        pass
    return 0


def run_variant(variant: str, n: int, jobs: list[str], batch_size: int, entropy_steps: int) -> dict:
    from core.analyses.corpus.engine import RayOptions, run_corpus
    from core.analyses.corpus.params import CorpusParams
    from core.foundation.cache import ArrayCache
    from core.models.refs import load_model

    ds = perturbed_tweets(n)
    model = load_model(MODEL, device="cpu")
    params = CorpusParams(jobs=tuple(jobs), batch_size=batch_size, entropy_steps=entropy_steps)
    tmp = Path(tempfile.mkdtemp(prefix="corpus-bench-"))
    cache = ArrayCache(tmp / "arrays")
    workers_hwm: dict[int, int] = {}
    killed: list[float] = []
    stop = threading.Event()
    n_batches = -(-n // batch_size)

    def watch() -> None:
        while not stop.is_set():
            for pid in _actor_pids():
                workers_hwm[pid] = max(workers_hwm.get(pid, 0), _hwm_kb(pid))
            if variant == "ray-kill" and not killed:
                d = cache.root / f"corpus-{jobs[-1]}"
                done = len(list(d.glob("*.json"))) if d.exists() else 0
                pids = _actor_pids()
                if done >= n_batches // 4 and pids:
                    os.kill(pids[0], signal.SIGKILL)
                    killed.append(time.perf_counter())
            time.sleep(0.2)

    ray_opts = None
    if variant.startswith("ray"):
        import ray

        ray.init(address="local", num_cpus=2, include_dashboard=False, log_to_driver=False, logging_level="ERROR")
        ray_opts = RayOptions()
    t = threading.Thread(target=watch, daemon=True)
    t.start()
    t0 = time.perf_counter()
    res = run_corpus(model, ds, params, engine="ray" if ray_opts else "local", ray=ray_opts, cache=cache)
    wall = time.perf_counter() - t0
    stop.set()
    t.join()
    if ray_opts:
        import ray

        ray.shutdown()
    import shutil

    import torch

    shutil.rmtree(tmp, ignore_errors=True)  # the benchmark's own cache folder

    return {"variant": variant, "n": n, "jobs": jobs, "batch_size": batch_size,
            "entropy_steps": entropy_steps if "entropy" in jobs else None, "model": MODEL,
            "seconds": round(wall, 2), "engine_seconds": round(res.engine_seconds, 2),
            "texts_per_second": round(n / res.engine_seconds, 2), "batches": len(res.plans),
            "computed_batches": res.computed, "failures": len(res.failures),
            "accuracy": res.aggregates.summary.get("accuracy"),
            "driver_peak_rss_mb": round(resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024, 1),
            "worker_peak_rss_mb": sorted(round(v / 1024, 1) for v in workers_hwm.values()),
            "killed_worker_at_s": round(killed[0] - t0, 2) if killed else None,
            "torch_threads_driver": torch.get_num_threads(), "loadavg_1m_start": None}


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--n", type=int, default=2000)
    ap.add_argument("--jobs", default="embed,predict")
    ap.add_argument("--batch-size", type=int, default=64)
    ap.add_argument("--entropy-steps", type=int, default=20)
    ap.add_argument("--variants", default="local,ray,ray-kill")
    ap.add_argument("--variant", help=argparse.SUPPRESS)
    ap.add_argument("--out", type=Path, default=None)
    ap.add_argument("--export", type=Path, default=None, metavar="FILE.jsonl",
                    help="write the --n perturbed texts (text, label) as JSON lines for `python -m core corpus`")
    a = ap.parse_args()
    jobs = a.jobs.split(",")
    if a.export:
        ds = perturbed_tweets(a.n)
        with open(a.export, "w", encoding="utf-8") as f:
            for t, y in zip(ds.texts, ds.labels):
                f.write(json.dumps({"text": t, "label": ds.label_names[int(y)]}) + "\n")
        return
    if a.variant:
        print(json.dumps(run_variant(a.variant, a.n, jobs, a.batch_size, a.entropy_steps)))
        return
    rows = []
    for v in a.variants.split(","):
        load = os.getloadavg()[0]
        p = subprocess.run([sys.executable, __file__, "--variant", v, "--n", str(a.n), "--jobs", a.jobs,
                            "--batch-size", str(a.batch_size), "--entropy-steps", str(a.entropy_steps)],
                           capture_output=True, text=True, env={**os.environ, "TOKENIZERS_PARALLELISM": "false"})
        if p.returncode:
            print(p.stderr[-3000:], file=sys.stderr)
            raise SystemExit(p.returncode)
        row = json.loads(p.stdout.strip().splitlines()[-1])
        row["loadavg_1m_start"] = round(load, 2)
        rows.append(row)
        print(json.dumps(row), flush=True)
    if a.out:
        commit = subprocess.run(["git", "rev-parse", "--short", "HEAD"], cwd=ROOT, capture_output=True,
                                text=True).stdout.strip()
        with open(a.out, "a", encoding="utf-8") as f:
            for r in rows:
                f.write(json.dumps({**r, "date": time.strftime("%Y-%m-%d"), "cpus": os.cpu_count(),
                                    "commit": commit}) + "\n")


if __name__ == "__main__":
    main()
