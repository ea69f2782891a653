"""Instance view: cost and accuracy of integrated Hessians by path points, and the entropy study on held-out texts.

    PYTHONPATH=. python benchmarks/instance_cost.py [--texts 5] [--points 16,32,64] [--study-n 500] [--task tweets]

For ``--texts`` held-out tweets, the interactions of the 16 most attributed tokens are computed with each number of
path points (median seconds, median completeness error = how far the interaction rows are from adding up to the IG
attributions, and the Spearman correlation of the pair ranking with the finest run). Then the attribution entropy
of ``--study-n`` held-out texts (IG, 20 steps) with the AUROCs for errors and low confidence. Writes
benchmarks/results/instance_<task>.json.
"""
from __future__ import annotations

import argparse
import json
import statistics
import sys
import tempfile
import time
from pathlib import Path

import numpy as np

from core.foundation.cache import ArrayCache
from core.data.refs import load_dataset
from core.models.heldout import heldout_sample
from core.analyses.transformer.instance_view import InstanceParams, instance_view, run_entropy
from core.models.refs import load_model

TASKS = {"bbc": ("demo:bbc-finetuned", "bundled:bbc"), "tweets": ("demo:tweets-finetuned", "bundled:tweets")}


def main() -> int:
    from scipy.stats import spearmanr

    ap = argparse.ArgumentParser()
    ap.add_argument("--texts", type=int, default=5)
    ap.add_argument("--points", default="16,32,64")
    ap.add_argument("--tokens", type=int, default=16)
    ap.add_argument("--study-n", type=int, default=500)
    ap.add_argument("--task", choices=list(TASKS), default="tweets")
    a = ap.parse_args()
    mref, dref = TASKS[a.task]
    model = load_model(mref, device="cpu")
    full = load_dataset(dref)
    texts = [t for t in heldout_sample(model, full, 200, seed=1, classifiers_only=True).texts
             if len(t.split()) >= 12][: a.texts]
    points = [int(p) for p in a.points.split(",")]
    out: dict = {"task": a.task, "model": mref, "tokens": a.tokens, "points": {}}
    runs: dict[int, list] = {p: [] for p in points}
    for t in texts:
        for p in points:
            t0 = time.perf_counter()
            v = instance_view(model, t, params=InstanceParams(steps=p, max_tokens=a.tokens))
            runs[p].append((time.perf_counter() - t0, v.seconds["interactions"], v.completeness_error, v))
    finest = max(points)
    for p in points:
        rho = []
        for (_, _, _, v), (_, _, _, ref) in zip(runs[p], runs[finest]):
            iu = np.triu_indices(len(v.rows), 1)
            rho.append(float(spearmanr(np.abs(v.interactions[iu]), np.abs(ref.interactions[iu])).statistic))
        out["points"][p] = {"median_seconds_total": round(statistics.median(r[0] for r in runs[p]), 2),
                            "median_seconds_interactions": round(statistics.median(r[1] for r in runs[p]), 2),
                            "median_completeness_error": round(statistics.median(r[2] for r in runs[p]), 4),
                            "median_spearman_vs_finest": round(statistics.median(rho), 4)}
        print(json.dumps({p: out["points"][p]}), flush=True)
    ds = heldout_sample(model, full, a.study_n, seed=0, classifiers_only=True)
    with tempfile.TemporaryDirectory() as d:
        t0 = time.perf_counter()
        st = run_entropy(model, ds, cache=ArrayCache(d))
        out["entropy_study"] = {**st.to_json(), "wall_seconds": round(time.perf_counter() - t0, 1)}
    print(json.dumps(out["entropy_study"]), flush=True)
    (Path(__file__).parent / "results" / f"instance_{a.task}.json").write_text(json.dumps(out, indent=1))
    return 0


if __name__ == "__main__":
    sys.exit(main())
