"""Per-sentence latency of every saliency method on the demo MiniLM (CPU), side by side in one run.

    PYTHONPATH=. python benchmarks/saliency_latency.py [--n 64] [--slow-n 8] [--max-length 128]

64 BBC test-split articles cut to 128 tokens, demo:bbc-finetuned, one sentence per call
(batch of one), default parameters (IG 50 steps, SmoothGrad 20 samples, Shapley 10 permutations,
occlusion single tokens). Shapley costs ~(tokens × permutations) model calls per sentence, so it is
timed on the first ``--slow-n`` texts only. Prints median / p90 seconds per sentence and the ratio
to decoded Grad-CAM; writes benchmarks/results/saliency_latency.json.
"""
from __future__ import annotations

import argparse
import json
import platform
import statistics
import sys
import time
from pathlib import Path

import torch

from core.data.refs import load_dataset
from core.models.heldout import heldout_sample
from core.models.refs import load_model
from core.analyses.saliency import get_method, method_names

SLOW = {"shapley"}


def main() -> int:
    ap = argparse.ArgumentParser()
    ap.add_argument("--n", type=int, default=64)
    ap.add_argument("--slow-n", type=int, default=8)
    ap.add_argument("--max-length", type=int, default=128)
    ap.add_argument("--model", default="demo:bbc-finetuned")
    a = ap.parse_args()
    model = load_model(a.model, device="cpu")
    texts = list(heldout_sample(model, load_dataset("bundled:bbc"), a.n, seed=0).texts)
    for name in method_names():  # warm-up: first calls pay for lazy initialisation
        get_method(name)(model, texts[:1], max_length=16, **({"samples": 1} if name in ("shapley", "smoothgrad") else {}))
    rows = {}
    for name in method_names():
        m = get_method(name)
        ts = []
        for t in texts[: a.slow_n if name in SLOW else a.n]:
            t0 = time.perf_counter()
            m(model, [t], max_length=a.max_length)
            ts.append(time.perf_counter() - t0)
        ts.sort()
        rows[name] = {"median_s": statistics.median(ts), "p90_s": ts[int(0.9 * (len(ts) - 1))], "n": len(ts)}
        print(f"{name:22s} median {rows[name]['median_s']:8.3f} s  p90 {rows[name]['p90_s']:8.3f} s  (n={len(ts)})",
              file=sys.stderr, flush=True)
    base = rows["decoded_gradcam"]["median_s"]
    print("\n| method | median s/sentence | p90 | × decoded Grad-CAM |\n|---|---|---|---|")
    for name, r in sorted(rows.items(), key=lambda kv: kv[1]["median_s"]):
        r["ratio_to_decoded_gradcam"] = r["median_s"] / base
        print(f"| {name} | {r['median_s']:.3f} | {r['p90_s']:.3f} | {r['ratio_to_decoded_gradcam']:.1f} |")
    out = {"model": a.model, "max_length": a.max_length, "n": a.n, "threads": torch.get_num_threads(),
           "machine": platform.processor() or platform.machine(), "rows": rows}
    (Path(__file__).parent / "results" / "saliency_latency.json").write_text(json.dumps(out, indent=1))
    return 0


if __name__ == "__main__":
    sys.exit(main())
