"""The adversarial-attack verb.
"""
from __future__ import annotations

import argparse
import csv
from pathlib import Path
from typing import Any
from cli.common import add_dataset, add_model, add_output, open_dataset, progress_bar, verb
from core.foundation.errors import BackboneLensError



@verb("attack", "adversarial texts (word or character attack) and how well DeepView-based scores spot them")
def _attack_cfg(p: argparse.ArgumentParser) -> None:
    add_model(p)
    add_dataset(p)
    p.add_argument("--attack", choices=("word", "char"), default="word",
                   help="word: BERT-Attack-style substitutes from the masked-LM head; char: swaps, deletions, "
                        "homoglyphs")
    p.add_argument("--importance", default="occlusion", help="saliency method that orders the words "
                   "(default occlusion, as BERT-Attack)")
    p.add_argument("--max-change", type=float, default=0.4, help="largest share of words changed (default 0.4)")
    p.add_argument("--top-k", type=int, default=30, help="candidates per word (default 30)")
    p.add_argument("--candidates", choices=("unmasked", "masked"), default="unmasked",
                   help="word attack: read the unmasked sentence (BERT-Attack) or mask the word")
    p.add_argument("--min-similarity", type=float, default=0.7, help="least cosine similarity of MiniLM sentence "
                   "embeddings between original and perturbed text; 0 turns it off (default 0.7)")
    p.add_argument("--mlm", default=None, help="model whose masked-LM head proposes words (default: --model)")
    p.add_argument("--lam", type=float, default=0.8, help="λ of the detection projection (default 0.8)")
    p.add_argument("--no-detection", action="store_true", help="attack only, no projection")
    p.add_argument("--csv", default=None, help="write every attacked text (original, adversarial, word diff, "
                   "predictions, suspicion scores) to this CSV file (not overwritten)")
    add_output(p)


@_attack_cfg.handler
def _attack(args: argparse.Namespace) -> Any:
    from core.analyses.adversarial.attacks import attack_dataset
    from core.analyses.adversarial.detection import detect, flagged_rows
    from cli.common import open_model
    from core.data.sampling import sample
    from core.analyses.projection.run import model_labels
    from core.models.heldout import select_evaluation_split
    from core.models.refs import load_model
    from core.analyses.projection.distances import check_lambda

    lam = check_lambda(args.lam)
    out_csv = Path(args.csv).expanduser() if args.csv else None
    if out_csv is not None:
        if out_csv.exists():
            raise BackboneLensError(f"{out_csv} exists; choose a new file name.")
        if not out_csv.parent.is_dir():
            raise BackboneLensError(f"Output folder {out_csv.parent} does not exist.")
    from core.analyses.saliency import get_method

    get_method(args.importance)
    model = open_model(args)
    model.require_head()
    full = open_dataset(args, sample=False)
    pool, _, split_note = select_evaluation_split(model, full)
    ds = sample(pool, args.n, seed=args.seed) if args.n else pool
    _, label_note = model_labels(model, ds)
    mlm = load_model(args.mlm, device=args.device) if args.mlm else None
    kw = dict(importance=args.importance, max_change=args.max_change, top_k=args.top_k, candidates=args.candidates,
              min_similarity=args.min_similarity, seed=args.seed)
    if mlm is not None:
        kw["mlm_model"] = mlm
    res, hit = attack_dataset(model, ds, attack=args.attack, progress=progress_bar(args, f"{args.attack} attack"),
                              **kw)
    out: dict[str, Any] = {**res.summary(), "dataset": ds.name, "split": split_note, "cache_hit": hit}
    if label_note:
        out["label_note"] = label_note
    det = None
    if not args.no_detection:
        if len(res.successes) == 0:
            out["detection"] = None
            out["detection_note"] = "No attack succeeded, so there are no adversarial texts to detect."
        else:
            det = detect(model, res, lam=lam, progress=progress_bar(args, "projection"))
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
