"""Attention-head importance on held-out tweets: time and peak memory, and the pruning curves for docs/.

    PYTHONPATH=. python benchmarks/head_importance.py [--n 200] [--steps 10] [--model demo:tweets-finetuned]
    PYTHONPATH=. python benchmarks/head_importance.py --from-json benchmarks/results/heads_tweets_n200.json

One process: attention attribution (Hao et al.), the head-mask gradient (Michel et al.) for the rank correlation,
and the pruning check, each timed; peak RSS from getrusage. Writes benchmarks/results/heads_<task>_n<N>.json
(the CLI's JSON plus timings) and the pruning-curve and importance figures docs/figures/heads-pruning.{svg,png}
and docs/figures/heads-importance.png. ``--from-json`` redraws the figures from a saved result.
"""
from __future__ import annotations

import argparse
import json
import resource
import sys
import time
from pathlib import Path

import numpy as np

ROOT = Path(__file__).resolve().parents[1]


def figures(res: dict) -> None:
    from core.analyses.transformer.head_importance import PruningCurves
    from figures.heads import head_matrix_chart, pruning_curves_chart
    from figures.style import to_png, to_svg

    p = res["pruning"]
    curves = PruningCurves(tuple(p["ks"]), np.array(p["least_important_first"]), np.array(p["most_important_first"]),
                           np.array(p["random"]), p["accuracy_against"])
    chart = pruning_curves_chart(curves)
    out = ROOT / "docs" / "figures"
    out.mkdir(parents=True, exist_ok=True)
    (out / "heads-pruning.svg").write_text(to_svg(chart))
    (out / "heads-pruning.png").write_bytes(to_png(chart))
    if "matrix" in res:  # older summaries kept only the ranking
        m = head_matrix_chart(np.array(res["matrix"]), title=f"Attention attribution of {res['model']}",
                              subtitle=f"{res['n']} held-out texts")
        (out / "heads-importance.png").write_bytes(to_png(m))


def main() -> int:
    ap = argparse.ArgumentParser()
    ap.add_argument("--n", type=int, default=200)
    ap.add_argument("--steps", type=int, default=10)
    ap.add_argument("--model", default="demo:tweets-finetuned")
    ap.add_argument("--dataset", default="bundled:tweets")
    ap.add_argument("--from-json", default=None)
    a = ap.parse_args()
    if a.from_json:
        figures(json.loads(Path(a.from_json).read_text()))
        return 0
    import tempfile

    from core.analyses.transformer.head_importance import HeadImportanceParams, run_head_importance
    from core.data.refs import load_dataset
    from core.foundation.cache import ArrayCache
    from core.models.heldout import heldout_sample
    from core.models.refs import load_model

    model = load_model(a.model, device="cpu")
    sample = heldout_sample(model, load_dataset(a.dataset), a.n, seed=0, classifiers_only=True)
    with tempfile.TemporaryDirectory() as d:  # a fresh cache: the time of the computation itself
        t0 = time.perf_counter()
        res = run_head_importance(model, sample, HeadImportanceParams(steps=a.steps), cache=ArrayCache(d))
        wall = time.perf_counter() - t0
    out = {**res.to_json(), "dataset": a.dataset, "texts_from": "held-out test split", "wall_seconds": round(wall, 1),
           "peak_rss_mb": round(resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024, 0)}
    task = a.dataset.split(":")[-1]
    (ROOT / "benchmarks" / "results" / f"heads_{task}_n{a.n}.json").write_text(json.dumps(out, indent=1))
    print(json.dumps({k: out[k] for k in ("wall_seconds", "peak_rss_mb", "seconds", "spearman")}))
    figures(out)
    return 0


if __name__ == "__main__":
    sys.exit(main())
