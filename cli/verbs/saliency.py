"""Saliency verbs: the method registry, one text, the faithfulness games, class-representative tokens.
"""
from __future__ import annotations

import argparse
import time
from pathlib import Path
from typing import TYPE_CHECKING, Any

from cli.common import _parse_params, add_dataset, add_decoding_head, add_model, add_output, open_dataset, open_model, progress_bar, verb
from core.analyses.saliency_params import ClassTokensParams, FaithfulnessParams, REPLACEMENTS
from core.foundation.errors import BackboneLensError

if TYPE_CHECKING:  # pragma: no cover
    from core.analyses.saliency import SaliencyMethod
    from core.data.sampling import Sample
    from core.models.loading import LoadedModel

GAME_METHODS = "decoded_gradcam,integrated_gradients,occlusion"  # the verb's quicker default (no plain Grad-CAM)
CT = ClassTokensParams.defaults()


def _sample(args: argparse.Namespace, model: "LoadedModel") -> "Sample":
    """``--n`` texts (``--seed``) of the dataset, drawn from all of it (training texts included), as these verbs
    always did."""
    from core.models.heldout import heldout_sample

    return heldout_sample(model, open_dataset(args, sample=False), args.n, seed=args.seed, heldout=False)


def _method_json(m: "SaliencyMethod") -> dict[str, Any]:
    return {"name": m.name, "title": m.title, "signed": m.signed, "needs_mlm_head": m.needs_mlm_head,
            "uses_target": m.uses_target, "cost": m.cost, "description": m.description,
            "parameters": [{"name": p.name, "type": p.type, "default": p.default, "min": p.minimum, "max": p.maximum,
                            "choices": list(p.choices) or None, "help": p.help} for p in m.params]}


@verb("methods", "list the saliency methods of the registry with their parameters")
def _methods_cfg(p: argparse.ArgumentParser) -> None:
    add_output(p)


@_methods_cfg.handler
def _methods(args: argparse.Namespace) -> Any:
    from core.analyses.saliency import get_method, method_names

    ms = [_method_json(get_method(n)) for n in method_names()]
    if args.json:
        return {"methods": ms}
    return "\n".join(f"{m['name']:22s} {m['title']}" + (f"  ({', '.join(p['name'] + '=' + str(p['default']) for p in m['parameters'])})"
                                                      if m["parameters"] else "") for m in ms)


@verb("saliency", "token saliency of one text under one method (decoded Grad-CAM, IG, occlusion, ...)")
def _saliency_cfg(p: argparse.ArgumentParser) -> None:
    add_model(p)
    add_decoding_head(p)
    p.add_argument("--text", required=True, help="the text to explain")
    p.add_argument("--text-pair", default=None, help="second segment for sentence-pair models")
    p.add_argument("--method", default="decoded_gradcam", help="a method name (see `python -m core methods`)")
    p.add_argument("--layer", type=int, default=None, help="layer for decoded_gradcam / layer_gradcam (0 = "
                   "embeddings … L; default 2/3 of the depth)")
    p.add_argument("--target", default=None, help="class to explain: number or label name (default: predicted)")
    p.add_argument("--param", action="append", metavar="NAME=VALUE", help="a method parameter, e.g. steps=100")
    p.add_argument("--words", action="store_true", help="also merge word pieces into words")
    add_output(p)


@_saliency_cfg.handler
def _saliency(args: argparse.Namespace) -> Any:
    from core.analyses.saliency import get_method, merge_words

    method = get_method(args.method)
    params = _parse_params(args.param)
    if args.layer is not None:
        if method.param("layer") is None:
            raise BackboneLensError(f"--layer applies to decoded_gradcam and layer_gradcam, not {method.name}.")
        params["layer"] = args.layer
    method.resolve_params(None, params)  # parameter errors before the model loads
    model = open_model(args)
    t0 = time.perf_counter()
    (res,) = method(model, [args.text], None if args.text_pair is None else [args.text_pair],
                    target=args.target, **params)
    out = res.to_json()
    out["seconds"] = round(time.perf_counter() - t0, 3)
    out["model"] = model.ref
    if res.truncated:
        out["note"] = (f"The text is longer than the model's maximum of {model.max_length} tokens; it was "
                       "truncated and only the kept part is scored.")
    if model.notes:
        out["model_notes"] = list(model.notes)
    w = merge_words(res)
    out["words"] = [{"word": a, "score": float(b), "segment": int(c)} for a, b, c in zip(w.words, w.scores, w.segments)]
    if args.json:
        return out
    lines = [f"{res.method} on {model.ref}: predicted {res.predicted_label} ({res.probability:.1%}); "
             f"explaining {res.target_label}"]
    if "note" in out:
        lines.append(out["note"])
    lines += [f"  {t:>16s} {s:+.4f}" for t, s in zip(w.words, w.scores)]
    return "\n".join(lines)


def _parse_layers(text: str | None) -> tuple[int, ...] | str:
    if text is None:
        return "default"
    if text.strip() == "all":
        return "all"
    try:
        return tuple(int(x) for x in text.split(",") if x.strip())
    except ValueError:
        raise BackboneLensError(f"--layers takes comma-separated layer numbers or 'all', got '{text}'.") from None


@verb("faithfulness", "hiding and revealing games: AUCs per method (and layer) against a random order")
def _faith_cfg(p: argparse.ArgumentParser) -> None:
    add_model(p)
    add_decoding_head(p)
    add_dataset(p)
    p.add_argument("--methods", default=GAME_METHODS, help="comma-separated method names")
    p.add_argument("--layers", default=None, help="layer sweep for decoded_gradcam / layer_gradcam: e.g. 0,2,4,6 "
                   "or all (default: the method's layer only)")
    p.add_argument("--replacement", choices=REPLACEMENTS, default=FaithfulnessParams.defaults()["replacement"],
                   help="what hidden tokens become (default mask: keeps length and positions)")
    p.add_argument("--max-length", type=int, default=None, help="truncate texts to this many tokens")
    p.add_argument("--param", action="append", metavar="METHOD.NAME=VALUE",
                   help="a method parameter, e.g. integrated_gradients.steps=20")
    add_output(p)


@_faith_cfg.handler
def _faithfulness(args: argparse.Namespace) -> Any:
    from core.analyses.saliency import get_method
    from core.analyses.saliency.faithfulness import run_games
    from core.analyses.saliency_params import as_assignments
    from core.foundation.cache import ArrayCache

    names = [x.strip() for x in args.methods.split(",") if x.strip()]
    if not names:
        raise BackboneLensError("--methods is empty; give at least one method name.")
    per: dict[str, dict[str, Any]] = {n: {} for n in names}
    for k, v in _parse_params(args.param).items():
        meth, _, name = k.partition(".")
        if meth not in per or not name:
            raise BackboneLensError(f"--param {k}: write METHOD.NAME=VALUE for one of the methods in --methods.")
        per[meth][name] = v
    for n in names:
        get_method(n).resolve_params(None, per[n])
    if args.max_length is not None and args.max_length < 4:
        raise BackboneLensError("--max-length must be at least 4.")
    layers = _parse_layers(args.layers)
    model = open_model(args)
    sample = _sample(args, model)
    # Integrated Gradients plays with its own default steps here unless --param says otherwise
    params = FaithfulnessParams(methods=tuple(names), layers=layers, replacement=args.replacement,
                                max_length=args.max_length, ig_steps=get_method("integrated_gradients").param(
                                    "steps").default, method_params=tuple(a for n in names for a in as_assignments(
                                        per[n], prefix=f"{n}.")))
    res = run_games(model, sample, params, cache=ArrayCache(), progress=progress_bar(args, "games"))
    out = res.to_json()
    if not args.json:
        rows = [f"{c.name:28s} hide AUC {c.hide_auc:.3f}  reveal AUC {c.reveal_auc:.3f}  (probability: "
                f"{c.hide_auc_prob:.3f} / {c.reveal_auc_prob:.3f})" for c in res.curves]
        head = (f"{res.n} texts of {sample.dataset.name}, mean {res.mean_tokens:.0f} tokens, replacement "
                f"{res.replacement}, accuracy against {res.accuracy_against}; hiding: lower is better, revealing: "
                "higher is better")
        return "\n".join([head, *rows] + ([f"best layer: {out['best_layer']}"] if "best_layer" in out else []))
    return out


@verb("class-tokens", "class-representative tokens: top idf-weighted salient words per predicted class")
def _ctok_cfg(p: argparse.ArgumentParser) -> None:
    add_model(p)
    add_decoding_head(p)
    add_dataset(p)
    p.add_argument("--method", default=CT["method"])
    p.add_argument("--layer", type=int, default=None)
    p.add_argument("--param", action="append", metavar="NAME=VALUE")
    p.add_argument("--top-k", type=int, default=CT["top_k"])
    p.add_argument("--min-docs", type=int, default=CT["min_docs"], help=ClassTokensParams.param("min_docs").help)
    p.add_argument("--idf", default=CT["idf"], help=ClassTokensParams.param("idf").help)
    add_output(p)


@_ctok_cfg.handler
def _class_tokens(args: argparse.Namespace) -> Any:
    from core.analyses.saliency import get_method
    from core.analyses.saliency.class_tokens import run_class_tokens
    from core.analyses.saliency_params import as_assignments

    if args.top_k < 1 or args.min_docs < 1:
        raise BackboneLensError("--top-k and --min-docs must be at least 1.")
    method = get_method(args.method)
    params = _parse_params(args.param)
    if args.layer is not None:
        params["layer"] = args.layer
    method.resolve_params(None, params)
    if args.idf not in ("bundled", "dataset") and not Path(args.idf).expanduser().is_file():
        raise BackboneLensError(f"--idf: {Path(args.idf).expanduser()} is not a file (or say bundled / dataset).")
    model = open_model(args)
    sample = _sample(args, model)
    ct = run_class_tokens(model, sample, ClassTokensParams(method=method.name, method_params=as_assignments(params),
                                                           top_k=args.top_k, min_docs=args.min_docs, idf=args.idf),
                          progress=progress_bar(args, args.method))
    out = {"model": model.ref, "dataset": sample.dataset.name, "n": len(sample), **ct.to_json()}
    if args.json:
        return out
    return "\n".join([f"{method.name}: top {ct.top_k} words per predicted class (idf: {ct.idf_source}); mean "
                      f"pairwise overlap {ct.mean_overlap:.2f}"]
                     + [f"  {name} ({ct.docs[c]} texts): {', '.join(ct.words[c])}"
                        for c, name in enumerate(ct.label_names)])
