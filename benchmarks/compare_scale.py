"""Model comparison at scale: two demo models on 5,000 held-out tweets, once embeddings are cached.

    PYTHONPATH=. python benchmarks/compare_scale.py [--n 5000] [--repeats 3]

A fresh cache in a temporary folder: the embeddings of both models are computed first (timed apart,
not part of the goal), then ``run_comparison`` runs ``repeats`` times: the first run computes both DeepView
projections (distance graph, UMAP, background, metrics) plus Q_NN / LCMC / CKA; later runs find the
projections cached too. Goal: the first run (embeddings cached) under 60 s. Writes
benchmarks/results/compare_scale.json.
"""
from __future__ import annotations

import argparse
import json
import sys
import tempfile
import time
from pathlib import Path

from core.analyses.compare import CompareParams, run_comparison
from core.data.refs import load_dataset
from core.foundation.cache import ArrayCache
from core.models.embeddings import extract_embeddings
from core.models.heldout import heldout_sample
from core.models.refs import load_model


def main() -> int:
    ap = argparse.ArgumentParser()
    ap.add_argument("--n", type=int, default=5000)
    ap.add_argument("--repeats", type=int, default=3)
    ap.add_argument("--models", default="demo:tweets-pretrained,demo:tweets-finetuned")
    a = ap.parse_args()
    models = [load_model(r, device="cpu") for r in a.models.split(",")]
    sample = heldout_sample(models, load_dataset("bundled:tweets"), a.n, seed=0, classifiers_only=True)
    ds = sample.dataset
    out: dict = {"n": len(ds), "models": [m.ref for m in models], "runs": []}
    with tempfile.TemporaryDirectory() as d:
        cache = ArrayCache(d)
        t0 = time.perf_counter()
        for m in models:
            extract_embeddings(m, ds, cache=cache)
        out["embedding_seconds_both_models"] = round(time.perf_counter() - t0, 1)
        for r in range(a.repeats):
            t0 = time.perf_counter()
            res = run_comparison(models, sample, CompareParams(), cache=cache)
            wall = time.perf_counter() - t0
            out["runs"].append({"run": r + 1, "wall_seconds": round(wall, 2),
                                "seconds_by_step": {k: round(v, 2) for k, v in res.seconds.items()}})
            print(json.dumps(out["runs"][-1]), flush=True)
        j = res.to_json(top=0)
        out["result"] = {k: j[k] for k in ("per_k", "cka", "prediction_agreement")}
    print(json.dumps(out, indent=1))
    (Path(__file__).parent / "results" / "compare_scale.json").write_text(json.dumps(out, indent=1))
    return 0


if __name__ == "__main__":
    sys.exit(main())
