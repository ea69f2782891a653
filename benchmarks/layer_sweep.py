"""Per-layer separability of 2,000 held-out tweets: pre-trained (frozen) vs fine-tuned demo MiniLM, side by side.

    PYTHONPATH=. python benchmarks/layer_sweep.py [--n 2000] [--task tweets|bbc]

One process, a fresh cache (temporary folder): for each model, the pooled states of all 7 layers are
extracted (timed) and k-NN accuracy (k = 10, cosine, leave-one-out) and silhouette are computed per layer
(timed). Writes benchmarks/results/layer_sweep_<task>.json with the curves.
"""
from __future__ import annotations

import argparse
import json
import sys
import tempfile
import time
from pathlib import Path

from core.foundation.cache import ArrayCache
from core.data.refs import load_dataset
from core.models.heldout import heldout_sample
from core.analyses.transformer.layers import LayersParams, run_layers
from core.models.refs import load_model

TASKS = {"tweets": ("demo:tweets-pretrained", "demo:tweets-finetuned", "bundled:tweets"),
         "bbc": ("demo:bbc-pretrained", "demo:bbc-finetuned", "bundled:bbc")}


def main() -> int:
    ap = argparse.ArgumentParser()
    ap.add_argument("--n", type=int, default=2000)
    ap.add_argument("--task", choices=list(TASKS), default="tweets")
    a = ap.parse_args()
    *refs, dref = TASKS[a.task]
    models = [load_model(r, device="cpu") for r in refs]
    sample = heldout_sample(models, load_dataset(dref), a.n, seed=0, classifiers_only=True)
    ds = sample.dataset
    out = {"task": a.task, "n": len(ds), "models": {}}
    with tempfile.TemporaryDirectory() as d:
        for m in models:
            t0 = time.perf_counter()
            res = run_layers(m, sample, LayersParams(), cache=ArrayCache(d))
            wall = time.perf_counter() - t0
            sep = res.separability[0]
            out["models"][m.ref] = {**sep.to_json(), "wall_seconds": round(wall, 1),
                                    "embedding_seconds": round(res.seconds[0] - sep.seconds, 1),
                                    "metric_seconds": round(sep.seconds, 1)}
            print(json.dumps({m.ref: {"wall": round(wall, 1), "separation_layer": sep.separation_layer(),
                                      "knn": [round(float(x), 3) for x in sep.knn_accuracy]}}), flush=True)
    (Path(__file__).parent / "results" / f"layer_sweep_{a.task}.json").write_text(json.dumps(out, indent=1))
    return 0


if __name__ == "__main__":
    sys.exit(main())
