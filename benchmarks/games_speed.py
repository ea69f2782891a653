"""How long the faithfulness games take for decoded Grad-CAM: 500 texts × 11 levels, both games.

    PYTHONPATH=. python benchmarks/games_speed.py [--task tweets|bbc] [--n 500]

No cache (a fresh ArrayCache in a temporary folder). Reports the seconds for the saliency scores,
for decoded Grad-CAM's games alone, and for the random baseline played beside it (the same budget
of model calls), and the number of model calls; writes benchmarks/results/games_speed_<task>.json.
"""
from __future__ import annotations

import argparse
import json
import sys
import tempfile
import time
from pathlib import Path

from core.analyses.saliency.faithfulness import run_games
from core.analyses.saliency_params import FaithfulnessParams
from core.data.refs import load_dataset
from core.foundation.cache import ArrayCache
from core.models.heldout import heldout_sample
from core.models.refs import load_model

TASKS = {"tweets": ("demo:tweets-finetuned", "bundled:tweets", None), "bbc": ("demo:bbc-finetuned", "bundled:bbc", 128)}


def main() -> int:
    ap = argparse.ArgumentParser()
    ap.add_argument("--task", choices=list(TASKS), default="tweets")
    ap.add_argument("--n", type=int, default=500)
    ap.add_argument("--layer", type=int, default=4)
    a = ap.parse_args()
    mref, dref, ml = TASKS[a.task]
    model = load_model(mref, device="cpu")
    sample = heldout_sample(model, load_dataset(dref), a.n, seed=0)
    params = FaithfulnessParams(methods=("decoded_gradcam",), layers="default", max_length=ml,
                                method_params=(f"decoded_gradcam.layer={a.layer}",))
    with tempfile.TemporaryDirectory() as d:
        t0 = time.perf_counter()
        res = run_games(model, sample, params, cache=ArrayCache(d))
        wall = time.perf_counter() - t0
    c = res.curve("decoded_gradcam")
    out = {"task": a.task, "model": mref, "n": res.n, "mean_tokens": res.mean_tokens, "max_length": res.max_length,
           "wall_seconds": round(wall, 1), "saliency_seconds": round(c.saliency_seconds, 1),
           "game_seconds_both_orders": round(res.game_seconds, 1), "model_calls": res.evaluations,
           "hide_auc": c.hide_auc, "reveal_auc": c.reveal_auc, "random_hide_auc": res.random.hide_auc,
           "random_reveal_auc": res.random.reveal_auc}
    print(json.dumps(out, indent=1))
    (Path(__file__).parent / "results" / f"games_speed_{a.task}.json").write_text(json.dumps(out, indent=1))
    return 0


if __name__ == "__main__":
    sys.exit(main())
