"""The scientific check of the saliency suite: hiding/revealing-game AUCs on the demo workspace.

    PYTHONPATH=. python benchmarks/faithfulness_check.py [--n 300] [--only bbc|tweets] [--table]

For the fine-tuned BBC-topic and tweet-sentiment demo models, ``n`` texts from each model's
held-out test split: decoded and plain layer Grad-CAM, Integrated Gradients, SmoothGrad (20 samples),
occlusion, Shapley value sampling, and a random order; replacement by the mask token. Tweets (the model's
64 tokens): every layer for both Grad-CAMs, IG with 50 steps, Shapley with 2 permutations per text. BBC, to
fit a 2-core CPU: articles cut to their first 64 tokens (headline and lead, AG-News length), decoded
Grad-CAM at layers 0/2/4/6 and plain at layers 4 and 6, IG with 20 steps, Shapley with 1 permutation per text. Results are cached on disk, so
``--table`` re-prints the markdown tables without recomputing. Writes
``benchmarks/results/faithfulness_check_<task>.json``.
"""
from __future__ import annotations

import argparse
import json
import sys
import time
from pathlib import Path

from core.analyses.projection.run import model_labels
from core.analyses.saliency.faithfulness import FaithfulnessResult, MethodSpec, play_games
from core.data.refs import load_dataset
from core.foundation.cache import ArrayCache
from core.models.heldout import heldout_sample
from core.models.refs import load_model

EVERY = tuple(range(7))
# (model, data, max length, decoded Grad-CAM layers, plain Grad-CAM layers, IG steps, Shapley permutations per text)
TASKS = {"bbc": ("demo:bbc-finetuned", "bundled:bbc", 64, (0, 2, 4, 6), (4, 6), 20, 1),
         "tweets": ("demo:tweets-finetuned", "bundled:tweets", 64, EVERY, EVERY, 50, 2)}
OUT = Path(__file__).parent / "results"


def methods(decoded: tuple[int, ...], plain: tuple[int, ...], ig_steps: int, shapley: int) -> list[MethodSpec]:
    """The issue's rows: decoded and plain layer Grad-CAM (one backward pass per sweep), the baselines."""
    return [MethodSpec("decoded_gradcam", layers=decoded), MethodSpec("layer_gradcam", layers=plain),
            MethodSpec("integrated_gradients", {"steps": ig_steps}), MethodSpec("smoothgrad", {"samples": 20}),
            MethodSpec("occlusion"), MethodSpec("shapley", {"samples": shapley})]


def table(res: FaithfulnessResult) -> str:
    best = res.best_layer("decoded_gradcam")
    rows = ["| method | hiding AUC (acc) ↓ | revealing AUC (acc) ↑ | hiding AUC (p) ↓ | revealing AUC (p) ↑ | s/text |",
            "|---|---|---|---|---|---|"]
    order = sorted(res.curves, key=lambda c: -c.gap)
    for c in order:
        tag = " **(best layer)**" if c.method == "decoded_gradcam" and c.layer == best else ""
        rows.append(f"| {c.name}{tag} | {c.hide_auc:.3f} | {c.reveal_auc:.3f} | {c.hide_auc_prob:.3f} | "
                    f"{c.reveal_auc_prob:.3f} | {c.saliency_seconds / res.n:.3f} |")
    return "\n".join(rows)


def main() -> int:
    ap = argparse.ArgumentParser()
    ap.add_argument("--n", type=int, default=300)
    ap.add_argument("--only", choices=list(TASKS))
    ap.add_argument("--table", action="store_true", help="print markdown tables (computes what is not cached)")
    ap.add_argument("--skip", default="", help="comma-separated methods to leave out")
    a = ap.parse_args()
    for task, (mref, dref, ml, decoded, plain, ig_steps, shapley) in TASKS.items():
        if a.only and task != a.only:
            continue
        model = load_model(mref)
        sample = heldout_sample(model, load_dataset(dref), a.n, seed=0)
        split, labels = sample.split, model_labels(model, sample.dataset)[0]
        t0 = time.perf_counter()
        last = [0.0]

        def prog(stage: str, frac: float, msg: str) -> None:
            if time.perf_counter() - last[0] > 30:
                last[0] = time.perf_counter()
                print(f"[{task} {time.perf_counter() - t0:7.0f}s] {stage} {frac:5.1%} {msg}", file=sys.stderr,
                      flush=True)
        specs = [m for m in methods(decoded, plain, ig_steps, shapley) if m.name not in a.skip.split(",")]
        # each method its own layer sweep, so the explicit entries of play_games (run_games takes one for all)
        res = play_games(model, list(sample.texts), labels, specs, max_length=ml, dataset_name=sample.dataset.name,
                         cache=ArrayCache(), progress=prog)
        out = {**res.to_json(), "split": split, "wall_seconds": round(time.perf_counter() - t0, 1),
               "heldout_accuracy": model.metadata.get("heldout", {}).get("accuracy")}
        (OUT / f"faithfulness_check_{task}.json").write_text(json.dumps(out, indent=1))
        print(f"\n### {mref} on {dref} ({split} split, n = {res.n}, mean {res.mean_tokens:.0f} tokens, max {ml}, "
              f"replacement {res.replacement}, accuracy against {res.accuracy_against})\n")
        print(table(res))
        print(f"\nbest decoded layer: {res.best_layer('decoded_gradcam')}; plain: {res.best_layer('layer_gradcam')}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
