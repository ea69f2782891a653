"""Are the dashboard's time estimates honest? Estimate a job (``ui.cached.estimates``: passes counted from the job's
parameters and texts, priced by ``core.models.throughput`` measured just before), then run the job and compare.

    PYTHONPATH=. python benchmarks/estimate_accuracy.py [--only games,instance,...] [--load N] [--out FILE]

``--load N`` starts N busy processes (pure Python loops) for the whole run, to measure "under load" on purpose;
without it the machine's own load at the time is what it is (``os.getloadavg`` is printed with every row). Nothing
is read from the disk cache (every job computes). Writes a JSON list of rows (job, estimate, range, measured,
ratio, load average) to ``--out`` (default ``benchmarks/results/estimate_accuracy.json``).
"""
from __future__ import annotations

import argparse
import json
import multiprocessing as mp
import os
import time
from pathlib import Path

import numpy as np

OUT = Path(__file__).parent / "results" / "estimate_accuracy.json"


def _burn() -> None:  # a busy CPU for the "under load" measurement
    x = 0
    while True:
        x = (x * 1103515245 + 12345) % 2147483648


def _sample(model, ref: str, n: int, seed: int = 0):
    from core.data.refs import load_dataset
    from core.models.heldout import heldout_sample

    return heldout_sample(model, load_dataset(ref), n, seed=seed)


def games(model_ref: str, data: str, n: int) -> tuple:
    from core.analyses.saliency.faithfulness import run_games
    from core.analyses.saliency_params import FaithfulnessParams
    from core.models.refs import load_model
    from core.models.throughput import estimate
    from ui.cached.estimates import _specials, games_work, token_lengths

    m = load_model(model_ref)
    smp = _sample(m, data, n)
    params = FaithfulnessParams()
    T = token_lengths(m, smp.texts, smp.text_pairs)
    est = estimate(m, games_work(m, T, T - _specials(m, False), params, {}), max_age=0)
    t0 = time.perf_counter()
    run_games(m, smp, params, cache=None)
    return est, time.perf_counter() - t0, f"games {model_ref} n={n} (mean {T.mean():.0f} tokens)"


def instance(model_ref: str, data: str, row: int) -> tuple:
    from core.analyses.transformer.instance_view import InstanceParams, instance_view
    from core.models.refs import load_model
    from core.models.throughput import estimate
    from ui.cached.estimates import PER_PANEL, SCOUT_POINTS, _specials, per_text, token_lengths

    m = load_model(model_ref)
    text = _sample(m, data, 50).texts[row]
    p = InstanceParams()
    T = token_lengths(m, [text])
    K = min(int(T[0] - _specials(m, False)), p.max_tokens)
    points = PER_PANEL * max(1, p.steps // PER_PANEL)
    w = (per_text("gradient", [p.ig_steps], T) + per_text("forward", [3], T) + per_text("gradient", [SCOUT_POINTS], T)
         + per_text("hessian", [points * K], T))
    est = estimate(m, w, max_age=0)
    t0 = time.perf_counter()
    instance_view(m, text, None, p)
    return est, time.perf_counter() - t0, f"instance {model_ref} ({T[0]} tokens)"


def entropy(model_ref: str, data: str, n: int) -> tuple:
    from core.analyses.transformer.instance_view import EntropyParams, run_entropy
    from core.models.refs import load_model
    from core.models.throughput import estimate
    from ui.cached.estimates import per_text, token_lengths

    m = load_model(model_ref)
    smp = _sample(m, data, n)
    p = EntropyParams()
    T = token_lengths(m, smp.texts)
    one = np.ones(len(T))
    est = estimate(m, per_text("gradient", one * p.steps, T) + per_text("forward", one * 3, T), max_age=0)
    import tempfile

    from core.foundation.cache import ArrayCache

    with tempfile.TemporaryDirectory() as tmp:  # run_entropy caches by default: an empty cache, so it computes
        t0 = time.perf_counter()
        run_entropy(m, smp, p, cache=ArrayCache(tmp))
        return est, time.perf_counter() - t0, f"entropy study {model_ref} n={n}"


def attack(model_ref: str, data: str, n: int, kind: str) -> tuple:
    """The attack estimate is a range (first edited word flips … the limit of edits is reached)."""
    from core.analyses.adversarial.attacks import AttackParams, run_attack
    from core.foundation.cache import ArrayCache
    from core.models.refs import load_model
    from core.models.throughput import estimate
    from ui.cached.estimates import attack_work

    m = load_model(model_ref)
    smp = _sample(m, data, n)
    params = AttackParams(attack=kind)
    lo, hi = (estimate(m, w, max_age=0) for w in attack_work(m, smp.texts, smp.text_pairs, params))
    import tempfile

    t0 = time.perf_counter()
    with tempfile.TemporaryDirectory() as tmp:
        run_attack(m, smp, params, cache=ArrayCache(tmp))
    return (lo, hi), time.perf_counter() - t0, f"{kind} attack {model_ref} n={n}"


JOBS = {
    "games": [("demo:tweets-finetuned", "bundled:tweets", 6), ("demo:bbc-finetuned", "bundled:bbc", 3)],
    "instance": [("demo:tweets-finetuned", "bundled:tweets", 0), ("demo:bbc-finetuned", "bundled:bbc", 0)],
    "entropy": [("demo:tweets-finetuned", "bundled:tweets", 40), ("demo:bbc-finetuned", "bundled:bbc", 12)],
    "attack": [("demo:tweets-finetuned", "bundled:tweets", 8, "char"),
               ("demo:bbc-finetuned", "bundled:bbc", 2, "char")],
}


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--only", default=",".join(JOBS))
    ap.add_argument("--load", type=int, default=0, help="busy processes to start for the run")
    ap.add_argument("--out", type=Path, default=OUT)
    a = ap.parse_args()
    burners = [mp.Process(target=_burn, daemon=True) for _ in range(a.load)]
    for b in burners:
        b.start()
    from core.foundation.settings import use_analysis_threads

    time.sleep(1.0 if burners else 0.0)
    print(f"torch threads: {use_analysis_threads().describe()} (as the dashboard and the CLI choose them)", flush=True)
    rows = []
    try:
        for job in a.only.split(","):
            for args in JOBS[job]:
                load0 = os.getloadavg()[0]
                est, seconds, what = globals()[job](*args)
                if isinstance(est, tuple):
                    lo, hi = est[0].seconds, est[1].seconds
                    row = {"job": what, "estimate_low": round(lo, 1), "estimate_high": round(hi, 1),
                           "measured": round(seconds, 1), "inside": lo / 2 <= seconds <= hi * 2}
                else:
                    row = {"job": what, "estimate": round(est.seconds, 1), "range": [round(est.low, 1),
                           round(est.high, 1)], "measured": round(seconds, 1),
                           "ratio": round(seconds / max(est.seconds, 1e-9), 2)}
                row.update(load_before=round(load0, 2), load_after=round(os.getloadavg()[0], 2), busy=a.load)
                print(json.dumps(row), flush=True)
                rows.append(row)
    finally:
        for b in burners:
            b.terminate()
    a.out.parent.mkdir(parents=True, exist_ok=True)
    old = json.loads(a.out.read_text()) if a.out.exists() else []
    a.out.write_text(json.dumps(old + rows, indent=1))


if __name__ == "__main__":
    main()
