"""The adversarial-attack verb.
"""
from __future__ import annotations

import argparse
import csv
from pathlib import Path
from typing import Any

from cli.common import add_dataset, add_model, add_output, open_dataset, progress_bar, verb
from core.analyses.adversarial.attacks import ATTACKS, CANDIDATES, AttackParams
from core.analyses.adversarial.detection import DetectionParams
from core.foundation.errors import BackboneLensError

DEFAULTS, DETECTION = AttackParams(), DetectionParams()


@verb("attack", "adversarial texts (word or character attack) and how well DeepView-based scores spot them")
def _attack_cfg(p: argparse.ArgumentParser) -> None:
    add_model(p)
    add_dataset(p)
    p.add_argument("--attack", choices=ATTACKS, default=DEFAULTS.attack,
                   help="word: BERT-Attack-style substitutes from the masked-LM head; char: swaps, deletions, "
                        "homoglyphs")
    p.add_argument("--importance", default=DEFAULTS.importance, help="saliency method that orders the words "
                   f"(default {DEFAULTS.importance}, as BERT-Attack)")
    p.add_argument("--max-change", type=float, default=DEFAULTS.max_change,
                   help=f"largest share of words changed (default {DEFAULTS.max_change:g})")
    p.add_argument("--top-k", type=int, default=DEFAULTS.top_k,
                   help=f"candidates per word (default {DEFAULTS.top_k})")
    p.add_argument("--candidates", choices=CANDIDATES, default=DEFAULTS.candidates,
                   help="word attack: read the unmasked sentence (BERT-Attack) or mask the word")
    p.add_argument("--min-similarity", type=float, default=DEFAULTS.min_similarity,
                   help="least cosine similarity of MiniLM sentence embeddings between original and perturbed "
                        f"text; 0 turns it off (default {DEFAULTS.min_similarity:g})")
    p.add_argument("--mlm", default=None, help="model whose masked-LM head proposes words (default: --model)")
    p.add_argument("--lam", type=float, default=DETECTION.lam,
                   help=f"λ of the detection projection (default {DETECTION.lam:g})")
    p.add_argument("--no-detection", action="store_true", help="attack only, no projection")
    p.add_argument("--csv", default=None, help="write every attacked text (original, adversarial, word diff, "
                   "predictions, suspicion scores) to this CSV file (not overwritten)")
    add_output(p)


def _csv_target(name: str | None) -> Path | None:
    """The CSV file to write: new, in an existing folder."""
    out_csv = Path(name).expanduser() if name else None
    if out_csv is not None:
        if out_csv.exists():
            raise BackboneLensError(f"{out_csv} exists; choose a new file name.")
        if not out_csv.parent.is_dir():
            raise BackboneLensError(f"Output folder {out_csv.parent} does not exist.")
    return out_csv


@_attack_cfg.handler
def _attack(args: argparse.Namespace) -> Any:
    from cli.common import open_model
    from core.analyses.adversarial.attacks import run_attack
    from core.analyses.adversarial.detection import flagged_rows, run_detection
    from core.analyses.projection.distances import check_lambda
    from core.analyses.saliency import get_method
    from core.models.heldout import heldout_sample
    from core.models.refs import load_model

    detection = DetectionParams(lam=check_lambda(args.lam))
    out_csv = _csv_target(args.csv)
    get_method(args.importance)
    args.decoding_head = False  # here --mlm is the model that proposes words (it reads the sentence itself)
    model = open_model(args)
    model.require_head()
    sample = heldout_sample(model, open_dataset(args, sample=False), args.n, seed=args.seed)
    mlm = load_model(args.mlm, device=args.device, dtype=args.dtype) if args.mlm else None
    params = AttackParams(attack=args.attack, importance=args.importance, max_change=args.max_change,
                          top_k=args.top_k, candidates=args.candidates, min_similarity=args.min_similarity,
                          seed=args.seed)
    res = run_attack(model, sample, params, mlm_model=mlm, progress=progress_bar(args, f"{args.attack} attack"))
    out: dict[str, Any] = {**res.summary(), "dataset": sample.dataset.name, "split": sample.reason,
                           "cache_hit": res.cache_hit}
    if res.label_note:
        out["label_note"] = res.label_note
    det = None
    if not args.no_detection:
        if len(res.successes) == 0:
            out["detection"] = None
            out["detection_note"] = "No attack succeeded, so there are no adversarial texts to detect."
        else:
            det = run_detection(model, res, detection, progress=progress_bar(args, "projection"))
            dj = det.to_json()
            out["detection"] = dj
            out["auroc"] = {s: v["auroc"] for s, v in dj["scores"].items()}
            out["precision_at_k"] = {s: v["precision_at_k"] for s, v in dj["scores"].items()}
    rows = flagged_rows(res, det)
    if out_csv is not None:
        with open(out_csv, "x", newline="", encoding="utf-8") as f:
            w = csv.DictWriter(f, fieldnames=list(rows[0]) if rows else ["status"])
            w.writeheader()
            w.writerows(rows)
        out["csv"] = str(out_csv)
    out["outcomes"] = [o.to_json(res.label_names) for o in res.outcomes]
    if args.json:
        return out
    lines = [f"{args.attack} attack on {model.ref}: {out['successes']}/{out['attacked']} flipped "
             f"(success rate {res.success_rate:.1%}), {out['mean_words_changed']} words changed on average, "
             f"{out['queries_per_success']} queries per success; {out['skipped_misclassified']} texts were already "
             f"misclassified"]
    if det is not None:
        for s, v in det.to_json()["scores"].items():
            lines.append(f"  {s:24s} AUROC {v['auroc']:.3f}  precision@{det.k} {v['precision_at_k']:.3f} "
                         f"(base rate {det.base_rate:.3f})")
    for r in [r for r in rows if r["status"] == "success"][:5]:
        lines.append(f"  - {r['prediction_before']} → {r['prediction_after']}: {r['diff'][:160]}")
    if "csv" in out:
        lines.append(f"written: {out['csv']}")
    return "\n".join(lines)
