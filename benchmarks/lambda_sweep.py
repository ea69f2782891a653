"""The scientific check: Q_kNN error and Q_data across λ, pre-trained vs fine-tuned, BBC topics and tweet
sentiment, n = 2,000 each (the demo workspace's four classifiers).

    python benchmarks/lambda_sweep.py [--n 2000] [--lams 0,0.2,0.4,0.6,0.8,1]

Prints a Markdown table and writes benchmarks/results/lambda_sweep.json. Uses the cached pipeline of
``python -m core project --sweep`` (same settings: cosine, n_interp 10, sparse graph, UMAP 30 neighbours).
"""
from __future__ import annotations

import argparse
import json
import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

PAIRS = [("demo:bbc-pretrained", "bundled:bbc"), ("demo:bbc-finetuned", "bundled:bbc"),
         ("demo:tweets-pretrained", "bundled:tweets"), ("demo:tweets-finetuned", "bundled:tweets")]


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--n", type=int, default=2000)
    ap.add_argument("--lams", default="0,0.2,0.4,0.6,0.8,1")
    args = ap.parse_args()

    from core.analyses.projection.layout import parse_lambdas
    from core.analyses.projection.run import run_sweep
    from core.data.refs import load_dataset
    from core.models.heldout import heldout_sample
    from core.models.refs import load_model

    lams = parse_lambdas(args.lams)
    results = []
    for model_ref, data_ref in PAIRS:
        t0 = time.perf_counter()
        model = load_model(model_ref)
        # all of the dataset, training texts included (the accuracy says so)
        sample = heldout_sample(model, load_dataset(data_ref), args.n, seed=0, heldout=False)
        sweep = run_sweep(model, sample, lams)
        acc = float((sweep.runs[0].probs.argmax(1) == sample.labels).mean())
        results.append({"model": model_ref, "dataset": data_ref, "n": len(sample), "accuracy_on_sample": acc,
                        "rows": sweep.to_list(), "seconds": round(time.perf_counter() - t0, 1)})
        print(f"{model_ref}: {time.perf_counter() - t0:.0f} s", file=sys.stderr)
    out = ROOT / "benchmarks" / "results" / "lambda_sweep.json"
    out.write_text(json.dumps(results, indent=1))
    head = "| model | accuracy | " + " | ".join(f"λ={l:g}" for l in lams) + " |"
    print("Q_kNN error (%), then Q_data (%), per λ\n")
    print(head)
    print("|" + "---|" * (len(lams) + 2))
    for r in results:
        cells = [f"{row['q_knn_error'] * 100:.1f} / {row['q_data'] * 100:.1f}" for row in r["rows"]]
        print(f"| {r['model']} on {r['dataset']} | {r['accuracy_on_sample'] * 100:.1f} | " + " | ".join(cells) + " |")


if __name__ == "__main__":
    main()
