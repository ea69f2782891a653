"""Topics for 2,000 texts: cold (empty cache: embedding + clustering + naming) and warm (cached embeddings),
per clustering method, in one process.

    PYTHONPATH=. python benchmarks/topics_scale.py [--n 2000] [--task bbc|tweets] [--repeats 3]

Writes benchmarks/results/topics_<task>_n<N>.json: seconds per run (median of the warm repeats), the number of
clusters found, silhouette, error rate, and each cluster's size, top words and error rate (k-means, auto k).
"""
from __future__ import annotations

import argparse
import json
import statistics
import sys
import tempfile
import time
from pathlib import Path

from core.foundation.cache import ArrayCache
from core.data.refs import load_dataset
from core.models.heldout import heldout_sample
from core.models.refs import load_model
from core.analyses.transformer.topics import TopicsParams, run_topics

TASKS = {"bbc": ("demo:bbc-finetuned", "bundled:bbc"), "tweets": ("demo:tweets-finetuned", "bundled:tweets")}


def main() -> int:
    ap = argparse.ArgumentParser()
    ap.add_argument("--n", type=int, default=2000)
    ap.add_argument("--task", choices=list(TASKS), default="tweets")
    ap.add_argument("--repeats", type=int, default=3)
    a = ap.parse_args()
    mref, dref = TASKS[a.task]
    model = load_model(mref, device="cpu")
    ds = heldout_sample(model, load_dataset(dref), a.n, seed=0, classifiers_only=True)
    out: dict = {"task": a.task, "model": mref, "n": len(ds), "runs": {}}
    with tempfile.TemporaryDirectory() as d:
        cache = ArrayCache(d)
        t0 = time.perf_counter()
        res = run_topics(model, ds, cache=cache)
        out["cold_seconds"] = round(time.perf_counter() - t0, 1)
        out["kmeans_auto"] = res.to_json()
        print(json.dumps({"cold": out["cold_seconds"], "k": res.k}), flush=True)
        for method, kw in (("kmeans", {}), ("agglomerative", {}), ("hdbscan", {}), ("kmeans+umap", {"reduce": "umap"}),
                           ("kmeans+rerank", {"rerank": True})):
            secs = []
            for _ in range(a.repeats):
                t0 = time.perf_counter()
                r = run_topics(model, ds, TopicsParams(method=method.split("+")[0], **kw), cache=cache)
                secs.append(time.perf_counter() - t0)
            out["runs"][method] = {"median_seconds": round(statistics.median(secs), 2),
                                   "seconds": [round(s, 2) for s in secs], "clusters": r.k,
                                   "silhouette": r.silhouette, "error_rate": r.error_rate}
            print(json.dumps({method: out["runs"][method]}), flush=True)
    (Path(__file__).parent / "results" / f"topics_{a.task}_n{a.n}.json").write_text(json.dumps(out, indent=1))
    return 0


if __name__ == "__main__":
    sys.exit(main())
