"""Attack throughput on the demo MiniLM classifiers: word (BERT-Attack style) and character attacks side by side.

    PYTHONPATH=. python benchmarks/attack_throughput.py [--task tweets|bbc] [--n 100]

One process, no cache (a fresh ArrayCache in a temporary folder), the same held-out texts for both
attacks. Per attack: wall seconds, sentences per minute, success rate, mean words changed, queries
per success (all queries on attacked texts / successes), the median seconds per attacked sentence,
and the detection AUROCs of the three suspicion scores. Writes benchmarks/results/attack_<task><tag>.json.
"""
from __future__ import annotations

import argparse
import json
import sys
import tempfile
import time
from pathlib import Path

import numpy as np

from core.analyses.adversarial.attacks import AttackError, AttackParams, attack_texts
from core.analyses.adversarial.detection import run_detection
from core.analyses.projection.run import model_labels
from core.data.refs import load_dataset
from core.foundation.cache import ArrayCache
from core.models.heldout import heldout_sample
from core.models.refs import load_model

TASKS = {"tweets": ("demo:tweets-finetuned", "bundled:tweets"), "bbc": ("demo:bbc-finetuned", "bundled:bbc")}


def main() -> int:
    ap = argparse.ArgumentParser()
    ap.add_argument("--task", choices=list(TASKS), default="tweets")
    ap.add_argument("--n", type=int, default=100)
    ap.add_argument("--attacks", default="word,char")
    ap.add_argument("--tag", default="", help="suffix of the result file name")
    a = ap.parse_args()
    mref, dref = TASKS[a.task]
    model = load_model(mref, device="cpu")
    sim = load_model("bundled:minilm", device="cpu")
    ds = heldout_sample(model, load_dataset(dref), a.n, seed=0).dataset
    labels, _ = model_labels(model, ds)
    out = {"task": a.task, "model": mref, "n": a.n, "max_length": model.max_length, "attacks": {}}
    with tempfile.TemporaryDirectory() as d:
        cache = ArrayCache(d)
        for attack in a.attacks.split(","):
            per: list[float] = []
            t_last = [time.perf_counter()]

            def tick(stage: str, fraction: float, message: str = "") -> None:  # one call per text
                now = time.perf_counter()
                per.append(now - t_last[0])
                t_last[0] = now

            t0 = time.perf_counter()
            res = attack_texts(model, list(ds.texts), labels=labels, params=AttackParams(attack=attack),
                               similarity_model=sim, progress=tick)
            wall = time.perf_counter() - t0
            attacked = [p for p, o in zip(per, res.outcomes) if o.status != "skipped"]
            row = {**{k: v for k, v in res.summary().items() if k != "params"}, "wall_seconds": round(wall, 1),
                   "median_seconds_per_attacked_sentence": round(float(np.median(attacked)), 3) if attacked else None,
                   "params": res.params}
            try:
                t0 = time.perf_counter()
                det = run_detection(model, res, cache=cache)
                row["detection"] = {**det.to_json(), "seconds": round(time.perf_counter() - t0, 1)}
            except AttackError as e:
                row["detection"] = str(e)
            out["attacks"][attack] = row
            print(json.dumps({attack: {k: row[k] for k in ("success_rate", "sentences_per_minute",
                                                           "queries_per_success", "mean_words_changed",
                                                           "median_seconds_per_attacked_sentence")}}), flush=True)
    w, c = out["attacks"].get("word"), out["attacks"].get("char")
    if w and c:
        out["word_over_char_seconds"] = round(w["wall_seconds"] / c["wall_seconds"], 2)
    print(json.dumps(out, indent=1, default=str))
    (Path(__file__).parent / "results" / f"attack_{a.task}{a.tag}.json").write_text(json.dumps(out, indent=1, default=str))
    return 0


if __name__ == "__main__":
    sys.exit(main())
