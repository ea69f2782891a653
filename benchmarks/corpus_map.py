"""Cost and fidelity of the corpus map (the ``map`` job) on a corpus whose embed and predict batches are cached.

Runs ``python -m core corpus DATA --model MODEL --jobs map`` three times in subprocesses on one cache folder:
``cold`` (the embed and predict batches are computed too, unless already cached), ``map`` (the landmark map and the
placement entries removed first: only the map job's own work) and ``cached`` (everything read back); then times the
two parts of the map job in process — the landmark map (graph, UMAP, background, metrics, k-means) and the
placement, in texts/s over ``--place`` texts. Reports wall seconds and GNU time's peak RSS of each run and the map's
fidelity checks.

Usage: python benchmarks/corpus_map.py DATA [--model demo:tweets-finetuned] [--cache DIR] [--place 10240]
       [--out benchmarks/results/corpus_map.json]
(DATA: e.g. the 100,000 tweets written by ``benchmarks/corpus_engine.py --n 100000 --export tweets100k.jsonl``.)
"""
from __future__ import annotations

import argparse
import json
import os
import shutil
import subprocess
import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))


def _run(data: str, model: str, env: dict) -> dict:
    t0 = time.perf_counter()
    p = subprocess.run(["/usr/bin/time", "-v", sys.executable, "-m", "core", "corpus", data, "--model", model,
                        "--jobs", "map", "--json"], cwd=ROOT, env=env, capture_output=True, text=True, check=True)
    rss = next(int(line.split()[-1]) for line in p.stderr.splitlines() if "Maximum resident" in line)
    out = json.loads(p.stdout)
    return {"wall_s": round(time.perf_counter() - t0, 1), "engine_s": out["seconds"], "peak_rss_mb": rss // 1024,
            "computed_batches": out["computed_batches"], "map_s": round(out["map"]["checks"]["seconds"], 1),
            "checks": out["map"]["checks"], "n": out["n"]}


def _parts(data: str, model: str, n_place: int) -> dict:
    import numpy as np

    from core.analyses.corpus.density import landmark_map, place
    from core.analyses.corpus.engine import plan_batches
    from core.analyses.corpus.params import CorpusParams
    from core.data.refs import load_dataset
    from core.foundation.cache import ArrayCache
    from core.models.refs import load_model

    m = load_model(model)
    ds = load_dataset(data)
    p = CorpusParams(jobs=("embed", "predict", "map"))
    plans = plan_batches(m, ds, p, ("embed", "predict"))
    cache = ArrayCache()
    need = (n_place + p.batch_size - 1) // p.batch_size
    X = np.concatenate([cache.load("corpus-embed", pl.keys["embed"]).arrays["pooled"] for pl in plans[:need]])
    P = np.concatenate([cache.load("corpus-predict", pl.keys["predict"]).arrays["probs"] for pl in plans[:need]])
    idx = np.sort(np.random.default_rng(0).choice(len(X), min(p.map_landmarks, len(X)), replace=False))
    tmp = Path(cache.root).parent / "bench-landmarks"
    shutil.rmtree(tmp, ignore_errors=True)
    t = time.perf_counter()
    lm = landmark_map(m, X[idx], P[idx], idx, [ds.texts[i] for i in idx], p, cache=ArrayCache(tmp))
    t_map = time.perf_counter() - t
    t = time.perf_counter()
    for s in range(0, len(X), p.batch_size):
        place(X[s:s + p.batch_size], P[s:s + p.batch_size], lm, m.head, lam=p.map_lam, k=p.map_k,
              candidates=p.map_candidates)
    t_place = time.perf_counter() - t
    shutil.rmtree(tmp, ignore_errors=True)
    return {"landmark_map_s": round(t_map, 2), "placed": len(X), "place_s": round(t_place, 2),
            "place_texts_per_s": round(len(X) / t_place, 1)}


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("data")
    ap.add_argument("--model", default="demo:tweets-finetuned")
    ap.add_argument("--cache", default=None, help="cache folder (default $BACKBONE_LENS_CACHE)")
    ap.add_argument("--place", type=int, default=10240, help="texts placed in the in-process timing")
    ap.add_argument("--out", default=str(ROOT / "benchmarks" / "results" / "corpus_map.json"))
    a = ap.parse_args()
    env = {**os.environ, "TOKENIZERS_PARALLELISM": "false"}
    if a.cache:
        env["BACKBONE_LENS_CACHE"] = os.environ["BACKBONE_LENS_CACHE"] = a.cache
    from core.foundation.settings import cache_root

    res = {"data": a.data, "model": a.model, "threads": os.environ.get("BACKBONE_LENS_THREADS"),
           "load_before": os.getloadavg()[0]}
    res["cold"] = _run(a.data, a.model, env)
    for kind in ("corpus-map", "corpus-place"):
        shutil.rmtree(cache_root() / "arrays" / kind, ignore_errors=True)
    res["map"] = _run(a.data, a.model, env)
    res["cached"] = _run(a.data, a.model, env)
    res["parts"] = _parts(a.data, a.model, a.place)
    res["load_after"] = os.getloadavg()[0]
    Path(a.out).parent.mkdir(parents=True, exist_ok=True)
    Path(a.out).write_text(json.dumps(res, indent=1))
    print(json.dumps(res, indent=1))


if __name__ == "__main__":
    main()
