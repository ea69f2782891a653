"""One command line in two checkouts, alternately (before, after, before, after, …): median wall seconds, peak
memory and the after/before ratio pair by pair, so that a machine whose speed drifts does not bias the comparison.

    python benchmarks/before_after.py --before ../old-checkout --after . --runs 5 --name saliency -- \
        saliency --model /path/to/model --text "the service was awful" --method decoded_gradcam --json

Each run is a fresh process (``CHECKOUT/.venv/bin/python -m core ARGS``, cwd = the checkout) with an empty result
cache (a new temporary ``BACKBONE_LENS_CACHE``), timed by ``/usr/bin/time`` (wall seconds, peak resident memory);
models are named by folder so that both checkouts read the same files. One warm-up pair first (not counted).
Appends one JSON line to ``benchmarks/results/before_after.jsonl``.
"""
from __future__ import annotations

import argparse
import json
import os
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

OUT = Path(__file__).parent / "results" / "before_after.jsonl"


def run_once(checkout: Path, args: list[str]) -> tuple[float, float]:
    """(wall seconds, peak MiB) of ``python -m core ARGS`` in ``checkout`` with an empty result cache."""
    with tempfile.TemporaryDirectory() as cache, tempfile.NamedTemporaryFile("r", suffix=".time") as tf:
        env = {**os.environ, "BACKBONE_LENS_CACHE": cache, "HF_HUB_OFFLINE": "1", "TOKENIZERS_PARALLELISM": "false"}
        cmd = ["/usr/bin/time", "-f", "%e %M", "-o", tf.name, str(checkout / ".venv" / "bin" / "python"), "-m",
               "core", *args]
        r = subprocess.run(cmd, cwd=checkout, env=env, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, text=True)
        if r.returncode != 0:
            sys.exit(f"{checkout}: {' '.join(args)} failed:\n{r.stderr[-1500:]}")
        wall, kib = Path(tf.name).read_text().split()[-2:]
        return float(wall), float(kib) / 1024


def main() -> int:
    ap = argparse.ArgumentParser()
    ap.add_argument("--before", type=Path, required=True)
    ap.add_argument("--after", type=Path, default=Path("."))
    ap.add_argument("--runs", type=int, default=5)
    ap.add_argument("--name", default="")
    ap.add_argument("args", nargs=argparse.REMAINDER)
    a = ap.parse_args()
    args = a.args[1:] if a.args[:1] == ["--"] else a.args
    before, after = a.before.resolve(), a.after.resolve()
    run_once(before, args), run_once(after, args)  # warm-up pair: file-system caches, compiled bytecode
    rows = []
    for _ in range(a.runs):
        b, f = run_once(before, args), run_once(after, args)
        rows.append({"before_s": b[0], "after_s": f[0], "before_mib": b[1], "after_mib": f[1],
                     "ratio": f[0] / b[0]})
        print(json.dumps(rows[-1]), flush=True)
    med = {k: round(statistics.median(r[k] for r in rows), 3) for k in rows[0]}
    out = {"name": a.name, "args": args, "runs": a.runs, "load_avg": os.getloadavg()[0],
           "before": str(before), "after": str(after), "median": med,
           "when": time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime())}
    print(json.dumps(out))
    OUT.parent.mkdir(parents=True, exist_ok=True)
    with OUT.open("a", encoding="utf-8") as f:
        f.write(json.dumps(out) + "\n")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
