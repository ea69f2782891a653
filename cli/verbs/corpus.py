"""``corpus``: audit every text of a dataset (embeddings, predictions, attribution entropy, class tokens,
per-text saliency, faithfulness games, the word/char attack) on the local engine or on Ray, in cached batches that
a rerun resumes from; aggregates land as Parquet beside the cache.

The engine is ``--engine``, else ``$BACKBONE_LENS_ENGINE``, else local (:func:`core.analyses.corpus.params.
resolve_engine`); ``--ray-address`` points the same command at a running cluster."""
from __future__ import annotations

import argparse
from pathlib import Path
from typing import Any

from cli.common import (add_dataset, add_model, add_output, add_precision, open_dataset, open_model, progress_bar,
                        verb)
from core.analyses.corpus.params import ENGINE_ENV, ENGINES, JOBS, NOT_YET, CorpusError, CorpusParams, check_jobs


# the corpus parameters with a flag of their own: field → flag (the attack verb's flag names where free)
FLAGS = {"saliency_method": "saliency-method", "games_replacement": "games-replacement", "games_seed": "games-seed",
         "attack_kind": "attack", "attack_importance": "importance", "attack_max_change": "max-change",
         "attack_top_k": "attack-top-k", "attack_candidates": "candidates",
         "attack_min_similarity": "min-similarity", "attack_seed": "attack-seed"}


def _default(name: str) -> Any:
    return CorpusParams.param(name).default


def _flag_message(message: str) -> str:
    """A parameter's error ("attack_max_change: expected …") named by its flag ("--max-change: expected …")."""
    name, sep, rest = message.partition(":")
    flag = FLAGS.get(name) or ("saliency-param" if name == "saliency_params" else name.replace("_", "-"))
    return f"--{flag}{sep}{rest}"


@verb("corpus", "audit a whole corpus in cached, resumable batches on the local engine or on Ray")
def _corpus_cfg(p: argparse.ArgumentParser) -> None:
    add_dataset(p, positional=True)
    add_model(p)
    add_precision(p)
    p.add_argument("--jobs", default="embed,predict",
                   help=f"comma-separated jobs: {', '.join(JOBS)} (default embed,predict; not yet: "
                        f"{', '.join(NOT_YET)})")
    p.add_argument("--engine", default=None, help=f"{' or '.join(ENGINES)} (default: ${ENGINE_ENV}, else local)")
    p.add_argument("--ray-address", default=None, metavar="ADDR",
                   help="a running Ray cluster (e.g. 10.0.0.1:6379 or auto); default: start a local instance")
    p.add_argument("--workers", type=int, default=None,
                   help="Ray actors, one model copy each (default: the cluster's CPUs / --cpus-per-worker)")
    p.add_argument("--cpus-per-worker", type=float, default=1.0, help="CPUs per Ray actor (default 1)")
    p.add_argument("--gpus-per-worker", type=float, default=0.0, help="GPUs per Ray actor (default 0: CPU)")
    p.add_argument("--batch-size", type=int, default=_default("batch_size"),
                   help=f"texts per batch: the unit of caching and resuming (default {_default('batch_size')})")
    p.add_argument("--entropy-steps", type=int, default=_default("entropy_steps"),
                   help=f"integrated-gradients steps of the entropy job (default {_default('entropy_steps')})")
    p.add_argument("--class-method", default=_default("class_method"),
                   help=f"saliency method of the class-tokens job (default {_default('class_method')})")
    p.add_argument("--top-k", type=int, default=_default("top_k"), help="class tokens kept per class")
    for name, flag in FLAGS.items():  # the saliency, games and attack jobs' flags, from their declarations
        prm = CorpusParams.param(name)
        p.add_argument(f"--{flag}", dest=name, metavar=flag.upper().replace("-", "_"),
                       type={"int": int, "float": float}.get(prm.type, str),
                       default=prm.default, help=f"{prm.help} (default {prm.default})")
    p.add_argument("--saliency-param", dest="saliency_params", action="append", default=[], metavar="NAME=VALUE",
                   help="a parameter of the saliency method, e.g. steps=20 (repeatable)")
    p.add_argument("--all-layers", action="store_true",
                   help="the embed job keeps every layer's pooled states and scores each layer's class separation")
    p.add_argument("--map-landmarks", type=int, default=_default("map_landmarks"),
                   help=f"landmarks of the map job's DeepView map (default {_default('map_landmarks')})")
    p.add_argument("--map-lam", type=float, default=_default("map_lam"),
                   help=f"λ of the map job (default {_default('map_lam')})")
    p.add_argument("--clusters", type=int, default=_default("clusters"),
                   help=f"k-means clusters of the map job's cluster × error table (default {_default('clusters')})")
    p.add_argument("--out", type=Path, default=None, metavar="DIR",
                   help="also write the Parquet aggregates here (they always land in the cache's corpus/ folder)")
    add_output(p)


@_corpus_cfg.handler
def _corpus(args: argparse.Namespace) -> Any:
    from core.analyses.corpus.aggregates import write_aggregates
    from core.analyses.corpus.engine import RayOptions, run_corpus
    from core.analyses.corpus.params import resolve_engine
    from core.foundation.params import ParamError

    jobs = check_jobs(args.jobs.split(","))
    engine = resolve_engine(args.engine)
    if args.workers is not None and args.workers < 1:
        raise CorpusError(f"--workers must be at least 1, got {args.workers}.")
    if args.cpus_per_worker <= 0 or args.gpus_per_worker < 0:
        raise CorpusError("--cpus-per-worker must be above 0 and --gpus-per-worker at least 0.")
    if engine == "local" and (args.ray_address or args.workers or args.gpus_per_worker):
        raise CorpusError("--ray-address, --workers and --gpus-per-worker need --engine ray.")
    try:
        params = CorpusParams.build({
            "jobs": jobs, "batch_size": args.batch_size, "entropy_steps": args.entropy_steps,
            "class_method": args.class_method, "top_k": args.top_k, "saliency_params": tuple(args.saliency_params),
            "map_landmarks": args.map_landmarks, "map_lam": args.map_lam, "clusters": args.clusters,
            "all_layers": args.all_layers, **{name: getattr(args, name) for name in FLAGS}})
    except ParamError as e:
        raise CorpusError(_flag_message(str(e))) from None
    model = open_model(args)
    dataset = open_dataset(args)
    res = run_corpus(model, dataset, params, engine=engine, progress=progress_bar(args, args.verb),
                     ray=RayOptions(address=args.ray_address, workers=args.workers,
                                    cpus_per_worker=args.cpus_per_worker, gpus_per_worker=args.gpus_per_worker),
                     device=args.device, trust_remote_code=args.trust_remote_code)
    out = res.to_json()
    if args.out is not None:
        write_aggregates(res.aggregates, args.out, {k: v for k, v in out.items() if k not in ("summary", "failures")})
        if res.aggregates.density is not None:  # the map's tables (placements included) are copied, not recomputed
            import shutil

            from core.analyses.corpus.density import MAP_FILES

            for name in MAP_FILES:
                shutil.copyfile(res.folder / name, Path(args.out) / name)
        out["out"] = str(args.out)
    if args.json:
        return out
    s = res.aggregates.summary
    lines = [f"{res.n:,} texts of {res.dataset_name} through {', '.join(res.jobs)} with {res.model_ref} on the "
             f"{res.engine} engine: {len(res.plans)} batches, {res.computed} computed, {res.cached} from the cache, "
             f"{res.seconds:.1f} s" + (f" ({res.texts_per_second:,.1f} texts/s)" if res.texts_per_second else "")]
    if s.get("accuracy") is not None:
        lines.append(f"accuracy {s['accuracy']:.3f} on {int(s['labelled']):,} labelled texts; mean confidence "
                     f"{s['mean_confidence']:.3f}")
    if s.get("mean_entropy") is not None:
        auroc = s.get("auroc_entropy_error")
        lines.append(f"mean attribution entropy {s['mean_entropy']:.3f}"
                     + ("" if auroc is None else f"; AUROC of entropy for errors {auroc:.3f}"))
    if s.get("saliency_mean_entropy") is not None:
        top = s.get("saliency_mean_top_share")
        lines.append(f"saliency ({res.params.saliency_method}): mean entropy {s['saliency_mean_entropy']:.3f}"
                     + ("" if top is None else f", mean top-token share {top:.3f}"))
    if s.get("games_hide_auc") is not None:
        lines.append(f"games ({res.params.saliency_method}): hiding AUC {s['games_hide_auc']:.3f} (random "
                     f"{s['games_random_hide_auc']:.3f}), revealing AUC {s['games_reveal_auc']:.3f} (random "
                     f"{s['games_random_reveal_auc']:.3f})")
    if s.get("attack_texts"):
        rate = s.get("attack_success_rate_correct")
        lines.append(f"{res.params.attack_kind} attack: {int(s['attack_flipped']):,} of {int(s['attack_texts']):,} "
                     f"predictions flipped ({s['attack_success_rate']:.1%}"
                     + ("" if rate is None else f"; {rate:.1%} of the correctly classified texts") + ")"
                     + ("" if s.get("attack_mean_edits") is None else
                        f", {s['attack_mean_edits']:.2f} words changed per flip"))
    for label in res.aggregates.label_names if "class-tokens" in res.jobs else ():
        lines.append(f"  {label}: " + ", ".join(w for w, _ in res.aggregates.words(label)))
    if res.aggregates.layers:
        rows = res.aggregates.layers
        lines.append(f"per layer, grouped by {rows[0][1]} (nearest-centroid accuracy / Fisher ratio; chance "
                     f"{rows[0][5]:.3f}): " + ", ".join(f"L{r[0]} {r[3]:.3f}/{r[4]:.2f}" for r in rows))
    d = res.aggregates.density
    if d is not None:
        c = d.checks
        lines.append(f"map: {int(c['landmarks']):,} landmarks laid out by DeepView (Q_data {c['map_q_data']:.3f}), "
                     f"{int(c['placed']):,} texts placed (Q_data {c['placed_q_data'] if c['placed_q_data'] is not None else float('nan'):.3f}; "
                     f"leave-one-out Q_data {c['loo_q_data']:.3f}, median shift {c['loo_median_shift']:.2f} landmark "
                     f"spacings)")
        from core.analyses.corpus.density import MIN_CLUSTER_SHARE, MIN_CLUSTER_TEXTS

        big = max(MIN_CLUSTER_TEXTS, MIN_CLUSTER_SHARE * c["placed"])  # the lift of a handful of texts is noise
        worst = sorted((r for r in d.clusters if r[6] is not None and r[1] >= big), key=lambda r: -r[6])[:3]
        lines += [f"  cluster {r[0]} ({r[1]:,} texts, {r[12]}): error rate ×{r[6]:.2f} of the corpus's, "
                  f"{r[3]:,} errors" for r in worst]
    lines += list(res.notes)
    if res.failures:
        lines.append(f"{len(res.failures)} texts raised and were skipped:")
        lines += [f"  row {f.row}: {f.error}" for f in res.failures[:20]]
        if len(res.failures) > 20:
            lines.append(f"  … {len(res.failures) - 20} more in failures.parquet")
    lines.append(f"aggregates: {res.folder}" + (f" (and {args.out})" if args.out else ""))
    return "\n".join(lines)
