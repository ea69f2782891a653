"""CLI verbs for the applications of DeepView: ``compare`` and ``attack`` (imported by :mod:`core.cli`)."""
from __future__ import annotations

import argparse
import csv
from pathlib import Path
from typing import Any

from core.cli import add_dataset, add_model, add_output, open_dataset, progress_bar, verb
from core.errors import BackboneLensError


def _stage_bar(args: argparse.Namespace, desc: str):
    bar = progress_bar(args, desc)
    if bar is None:
        return None
    return lambda stage, frac, msg: bar(int(frac * 1000), 1000)


def _parse_ks(text: str) -> tuple[int, ...]:
    try:
        ks = tuple(int(x) for x in text.split(",") if x.strip())
    except ValueError:
        raise BackboneLensError(f"--k takes comma-separated whole numbers, e.g. 5,10,20; got '{text}'.") from None
    if not ks:
        raise BackboneLensError("--k is empty; give e.g. 5,10,20.")
    return ks


def _heldout_pool(models: list, full: Any) -> tuple[Any, str]:
    """The held-out test split when any of the models was trained on ``full``, else all of it, and a note."""
    from core.evaluate import heldout_pool

    pool, _, by = heldout_pool(models, full)
    if by is not None:
        return pool, f"{by.ref} was trained on {full.name}; the texts come from its held-out test split."
    return pool, f"No model was trained on {full.name}; texts are sampled from all of it."


@verb("compare", "compare models on the same texts: Q_NN and LCMC (embeddings and projections), CKA, agreement")
def _compare_cfg(p: argparse.ArgumentParser) -> None:
    p.add_argument("--models", required=True, help="two or more model references separated by commas, "
                   "e.g. demo:bbc-pretrained,demo:bbc-finetuned")
    p.add_argument("--trust-remote-code", action="store_true", help="allow custom model code (off by default)")
    p.add_argument("--device", default=None)
    add_dataset(p)
    p.add_argument("--k", default="5,10,20", help="neighbourhood sizes (default 5,10,20)")
    p.add_argument("--lam", type=float, default=0.8, help="DeepView λ of both projections (default 0.8)")
    p.add_argument("--no-projections", action="store_true", help="compare embeddings only (no DeepView)")
    p.add_argument("--top", type=int, default=20, help="texts listed in the disagreement table (default 20)")
    add_output(p)


@_compare_cfg.handler
def _compare(args: argparse.Namespace) -> Any:
    from core.compare import compare_models
    from core.models import load_model
    from core.projection import check_lambda

    refs = [r.strip() for r in args.models.split(",") if r.strip()]
    if len(refs) < 2:
        raise BackboneLensError("--models needs at least two references separated by commas.")
    ks = _parse_ks(args.k)
    lam = check_lambda(args.lam)
    if args.top < 0:
        raise BackboneLensError("--top must be 0 or more.")
    models = [load_model(r, device=args.device, trust_remote_code=args.trust_remote_code) for r in refs]
    full = open_dataset(args, sample=False)
    ds, note = _heldout_pool(models, full)
    if args.n:
        from core.data import sample

        ds = sample(ds, args.n, seed=args.seed)
    res = compare_models(models, ds, ks=ks, lam=lam, projections=not args.no_projections,
                         progress=_stage_bar(args, "compare"))
    out = {**res.to_json(top=args.top), "split": note}
    if args.json:
        return out
    lines = [f"{res.n} texts of {res.dataset_name}"]
    for pr in out["pairs"]:
        lines.append(f"{pr['a']} vs {pr['b']}: CKA {pr['cka']:.3f}, prediction agreement "
                     + ("n/a" if pr["prediction_agreement"] is None else f"{pr['prediction_agreement']:.1%}"))
        for row in pr["per_k"]:
            proj = (f"   projection Q_NN {row['q_nn']['projection']:.3f} LCMC {row['lcmc']['projection']:.3f}"
                    if "projection" in row["q_nn"] else "")
            lines.append(f"  k={row['k']:<3d} embeddings Q_NN {row['q_nn']['embeddings']:.3f} "
                         f"LCMC {row['lcmc']['embeddings']:.3f}{proj}")
        if pr["note"]:
            lines.append("  " + pr["note"])
    lines += [*res.notes, note]
    out["split"] = note
    return "\n".join(lines)


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
    from core.adversarial import attack_dataset, detect, flagged_rows
    from core.cli import open_model
    from core.data import sample
    from core.deepview import model_labels
    from core.evaluate import select_evaluation_split
    from core.models import load_model
    from core.projection import check_lambda

    lam = check_lambda(args.lam)
    out_csv = Path(args.csv).expanduser() if args.csv else None
    if out_csv is not None:
        if out_csv.exists():
            raise BackboneLensError(f"{out_csv} exists; choose a new file name.")
        if not out_csv.parent.is_dir():
            raise BackboneLensError(f"Output folder {out_csv.parent} does not exist.")
    from core.saliency import get_method

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
            det = detect(model, res, lam=lam, progress=_stage_bar(args, "projection"))
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
