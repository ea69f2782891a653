"""Seconds per analysis verb for every architecture family, on the tiny random checkpoints of the test matrix.

    PYTHONPATH=. python benchmarks/families.py [--families bert,qwen2] [--repeats 3] [--tag TAG]

The checkpoints are those of ``tests/families.py`` (2–3 layers, hidden size 32–64, a few hundred tokens of
vocabulary; built once into ``$BACKBONE_LENS_TEST_CACHE/families/…`` or ``.test-cache``). Every verb runs in
process through the command line (``cli.main.main``) with an empty result cache each time (a fresh temporary
``BACKBONE_LENS_CACHE``), so the numbers are compute, not cache reads; the median of ``--repeats`` runs is
reported, with the process's peak resident memory at the end. Tiny models make these numbers mostly fixed costs
(loading, tokenising, the Python around the forward passes): they compare families with each other, not sizes.
Writes ``benchmarks/results/families<tag>.json``.
"""
from __future__ import annotations

import argparse
import contextlib
import hashlib
import io
import json
import os
import resource
import statistics
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))
os.environ.setdefault("HF_HUB_OFFLINE", "1")
os.environ.setdefault("TOKENIZERS_PARALLELISM", "false")

from tests.families import FAMILIES, build_family  # noqa: E402

TEXT = "What a lovely flight, the crew were great!"


def verbs(f: dict[str, Path]) -> dict[str, list[str]]:
    m, data = ["--model", str(f["classifier"])], ["--dataset", str(f["data"]), "--n", "24"]
    return {
        "evaluate": ["evaluate", *m, *data],
        "embed": ["embed", *m, *data, "--out", "{tmp}/e.npz", "--all-layers"],
        "project": ["project", *m, *data, "--n-interp", "3", "--resolution", "12"],
        "saliency decoded": ["saliency", *m, "--mlm", str(f["base"]), "--text", TEXT, "--method", "decoded_gradcam"],
        "saliency IG": ["saliency", *m, "--text", TEXT, "--method", "integrated_gradients"],
        "saliency occlusion": ["saliency", *m, "--text", TEXT, "--method", "occlusion"],
        "faithfulness": ["faithfulness", *m, "--mlm", str(f["base"]), *data[:2], "--n", "16", "--methods",
                         "decoded_gradcam,occlusion", "--layers", "0,2"],
        "attention": ["attention", *m, "--text", TEXT, "--layer", "0", "--head", "0"],
        "heads": ["heads", *m, *data[:2], "--n", "16", "--steps", "3"],
        "layers": ["layers", *m, *data],
        "instance": ["instance", *m, "--text", TEXT, "--ig-steps", "8", "--steps", "4"],
        "topics": ["topics", *m, *data, "--clusters", "3"],
        "attack char": ["attack", *m, *data[:2], "--n", "16", "--attack", "char", "--top-k", "8", "--no-detection"],
    }


def run(argv: list[str]) -> float:
    from cli.main import main

    with tempfile.TemporaryDirectory() as tmp:
        os.environ["BACKBONE_LENS_CACHE"] = tmp
        args = [a.replace("{tmp}", tmp) for a in argv] + ["--json"]
        if args[0] not in ("saliency", "attention", "instance"):
            args.append("--quiet")
        out, err = io.StringIO(), io.StringIO()
        t0 = time.perf_counter()
        with contextlib.redirect_stdout(out), contextlib.redirect_stderr(err):
            rc = main(args)
        dt = time.perf_counter() - t0
    if rc != 0:
        raise SystemExit(f"{' '.join(argv)} failed: {err.getvalue()[-500:]}")
    return dt


def main() -> int:
    ap = argparse.ArgumentParser()
    ap.add_argument("--families", default=",".join(FAMILIES))
    ap.add_argument("--repeats", type=int, default=3)
    ap.add_argument("--tag", default="")
    a = ap.parse_args()
    cache = Path(os.environ.get("BACKBONE_LENS_TEST_CACHE", ROOT / ".test-cache"))
    source = (ROOT / "tests" / "families.py").read_bytes()
    root = cache / "families" / hashlib.blake2b(source, digest_size=6).hexdigest()
    table: dict[str, dict[str, float]] = {}
    t_all = time.perf_counter()
    for fam in a.families.split(","):
        f = build_family(fam, root)
        table[fam] = {}
        for name, argv in verbs(f).items():
            run(argv)  # warm: imports and the first load of the files
            table[fam][name] = round(statistics.median(run(argv) for _ in range(a.repeats)), 3)
        print(fam, json.dumps(table[fam]), flush=True)
    out = {"what": "median seconds per verb, tiny random checkpoints, empty result cache each run",
           "command": f"PYTHONPATH=. python benchmarks/families.py --repeats {a.repeats}"
                      + (f" --families {a.families}" if a.families != ",".join(FAMILIES) else ""),
           "repeats": a.repeats, "cpus": os.cpu_count(), "seconds": table,
           "total_seconds": round(time.perf_counter() - t_all, 1),
           "peak_rss_mib": round(resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024, 1)}
    dest = ROOT / "benchmarks" / "results" / f"families{a.tag}.json"
    dest.write_text(json.dumps(out, indent=1) + "\n", "utf-8")
    print(f"wrote {dest}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
