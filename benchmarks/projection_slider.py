"""How fast the Projection page answers a λ move at n = 2,000 once the distance graph is cached.

Drives the real page in-process with Streamlit's AppTest (server side: the script run, the cached calls,
UMAP, background, metrics and building the chart; not the browser's drawing). The first run computes or
reads the distance graph; then every per-λ projection entry is removed from the disk cache so each move is a
true recomputation, and the slider is moved to λ values the session has not seen. A second pass revisits
them (the in-memory cache answers).

    python benchmarks/projection_slider.py [--model demo:bbc-pretrained] [--n 2000]
"""
from __future__ import annotations

import argparse
import json
import statistics
import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--model", default="demo:bbc-pretrained")
    ap.add_argument("--dataset", default="bundled:bbc")
    ap.add_argument("--n", type=int, default=2000)
    args = ap.parse_args()

    from streamlit.testing.v1 import AppTest

    from core.foundation.cache import ArrayCache
    from ui.state import DatasetChoice, ProjectionControls

    at = AppTest.from_file(str(ROOT / "app.py"), default_timeout=900)
    at.session_state["bl.model_ref"] = args.model
    at.session_state["bl.dataset_choice"] = DatasetChoice(ref=args.dataset)
    at.session_state["bl.projection"] = ProjectionControls(n=args.n)
    at.switch_page("pages/projection.py")
    t0 = time.perf_counter()
    at.run()
    first = time.perf_counter() - t0
    assert not at.exception and not at.error, (at.exception, [e.value for e in at.error])
    cache = ArrayCache()
    removed = 0
    for e in cache.entries():
        if e.kind == "projection":
            cache.remove(e.kind, e.key)
            removed += 1
    lams = [0.75, 0.7, 0.65, 0.6, 0.55, 0.5, 0.45]
    fresh, again = [], []
    for lam in lams:
        at.slider(key="bl.w.proj.lam").set_value(lam)
        t0 = time.perf_counter()
        at.run()
        fresh.append(time.perf_counter() - t0)
        assert not at.exception and not at.error
    for lam in lams:
        at.slider(key="bl.w.proj.lam").set_value(lam)
        t0 = time.perf_counter()
        at.run()
        again.append(time.perf_counter() - t0)
    print(json.dumps({"model": args.model, "dataset": args.dataset, "n": args.n,
                      "first_run_seconds": round(first, 1), "projection_cache_entries_removed": removed,
                      "move_to_new_lambda_seconds": [round(x, 2) for x in fresh],
                      "median_new_lambda": round(statistics.median(fresh), 2),
                      "median_revisit": round(statistics.median(again), 2)}, indent=1))


if __name__ == "__main__":
    main()
