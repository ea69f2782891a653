"""Honest budgets and deliberate threads (issue 19): ``python -m core train`` on 2,000 bundled tweets with a
300 s budget, in the pre-trained and the fine-tuned setting, on an idle machine and next to a competing
CPU-bound process (``python -c "while True: pass"``), each run timed from outside with ``/usr/bin/time -v``.

Per run: the threads chosen (and the busy cores measured), optimiser steps, training seconds against the
budget, the held-out evaluation against its cap, the whole process's wall time, CPU use and peak RSS, and the
held-out accuracy. ``--default-threads`` adds a fine-tuned run next to the competing process with torch's own
thread count (the behaviour before issue 19) for comparison. Every run uses a fresh cache folder, so no
embedding is read from an earlier run.

Usage: python benchmarks/training_budget.py [--n 2000] [--budget 300] [--settings pretrained,finetuned]
       [--loads idle,loaded] [--default-threads] [--out benchmarks/results/training_budget.jsonl]
"""
from __future__ import annotations

import argparse
import json
import os
import re
import subprocess
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
PY = str(ROOT / ".venv" / "bin" / "python") if (ROOT / ".venv" / "bin" / "python").exists() else sys.executable


def _time_v(field: str, text: str) -> str | None:
    m = re.search(rf"{re.escape(field)}: (.+)", text)
    return m.group(1).strip() if m else None


def _wall(text: str) -> float:
    v = _time_v("Elapsed (wall clock) time (h:mm:ss or m:ss)", text) or "0:0"
    parts = [float(p) for p in v.split(":")]
    return sum(p * 60 ** i for i, p in enumerate(reversed(parts)))


def run_one(setting: str, load: str, n: int, budget: float, threads: int | None) -> dict:
    spin = subprocess.Popen([sys.executable, "-c", "while True: pass"]) if load == "loaded" else None
    try:
        time.sleep(2 if spin else 0)
        with tempfile.TemporaryDirectory(prefix="bl-bench-") as cache:
            cmd = ["/usr/bin/time", "-v", PY, "-m", "core", "train", "--model", "bundled:minilm", "--dataset",
                   "bundled:tweets", "--n", str(n), "--setting", setting, "--max-seconds", str(budget), "--name",
                   "bench", "--json", "--quiet"] + (["--threads", str(threads)] if threads else [])
            load_before = os.getloadavg()[0]
            p = subprocess.run(cmd, cwd=ROOT, capture_output=True, text=True,
                               env={**os.environ, "BACKBONE_LENS_CACHE": cache, "TOKENIZERS_PARALLELISM": "false"})
    finally:
        if spin:
            spin.kill()
            spin.wait()
    if p.returncode != 0:
        return {"setting": setting, "load": load, "error": p.stderr.strip().splitlines()[-3:]}
    out = json.loads(p.stdout)
    m = out["models"][0]
    return {"setting": setting, "load": load, "threads_asked": threads, "threads": out["threads"]["threads"],
            "threads_line": out["threads"]["line"], "busy_cores": out["threads"]["busy_cores"],
            "loadavg_1min_before": round(load_before, 2), "steps": m["steps"], "stopped_by": m["stopped_by"],
            "training_seconds": m["seconds"], "budget_seconds": budget, "budget": m["budget"],
            "n_train_used": m["n_train_used"], "eval_seconds": m["heldout"]["seconds"],
            "eval_cap_seconds": m["heldout"]["cap_seconds"], "heldout_n": m["heldout"]["n"],
            "heldout_of": m["heldout"]["n_test_texts"], "heldout_accuracy": round(m["heldout_accuracy"], 4),
            "val_accuracy": round(m["val_accuracy"], 4), "process_seconds": out["seconds"],
            "wall_seconds": round(_wall(p.stderr), 1), "cpu_percent": _time_v("Percent of CPU this job got", p.stderr),
            "peak_rss_mb": round(int(_time_v("Maximum resident set size (kbytes)", p.stderr) or 0) / 1024),
            "splits": out["splits"]}


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--n", type=int, default=2000)
    ap.add_argument("--budget", type=float, default=300.0)
    ap.add_argument("--settings", default="pretrained,finetuned")
    ap.add_argument("--loads", default="idle,loaded")
    ap.add_argument("--default-threads", action="store_true",
                    help="also fine-tune next to the competing process with torch's default thread count")
    ap.add_argument("--out", default=str(ROOT / "benchmarks" / "results" / "training_budget.jsonl"))
    args = ap.parse_args()
    plan = [(s, ld, None) for ld in args.loads.split(",") for s in args.settings.split(",")]
    if args.default_threads:
        import torch

        plan.append(("finetuned", "loaded", torch.get_num_threads()))
    rows = []
    for setting, load, threads in plan:
        r = run_one(setting, load, args.n, args.budget, threads)
        rows.append(r)
        print(json.dumps(r), flush=True)
        with open(args.out, "a", encoding="utf-8") as f:
            f.write(json.dumps({"date": time.strftime("%Y-%m-%d"), **r}) + "\n")
    print(f"\n{'setting':<11}{'load':<8}{'threads':>8}{'steps':>7}{'train s':>9}{'budget':>8}{'eval s':>8}"
          f"{'cap':>6}{'wall s':>8}{'held-out':>10}")
    for r in rows:
        if "error" in r:
            print(f"{r['setting']:<11}{r['load']:<8} error: {r['error']}")
            continue
        print(f"{r['setting']:<11}{r['load']:<8}{r['threads']:>8}{r['steps']:>7}{r['training_seconds']:>9}"
              f"{r['budget_seconds']:>8.0f}{r['eval_seconds']:>8}{r['eval_cap_seconds']:>6.0f}{r['wall_seconds']:>8}"
              f"{r['heldout_accuracy']:>10.3f}")


if __name__ == "__main__":
    main()
