"""``faithfulness``: hiding and revealing games (Hou & Castanon, ICML 2023) for saliency methods.

For each text, content tokens are hidden (or only they are kept) in the order a method ranks
them; a faithful order makes the prediction collapse fast when hiding and recover fast when
revealing. The same games with a random order are the baseline. Computed by
``core.analyses.saliency.faithfulness.run_games`` (disk-cached) on a sample of the held-out split; the
section's parameters are the games' own (:class:`~core.analyses.saliency_params.FaithfulnessParams`) and ``n``.
"""
from __future__ import annotations

import math
from dataclasses import dataclass, replace
from typing import TYPE_CHECKING, Any

from core.analyses.saliency_params import GAMES_N, GRADCAM, FaithfulnessParams
from core.foundation.params import Params, param, same_param
from reports.sections.registry import figure, register
from reports.sections.shared import sample_facts

if TYPE_CHECKING:  # pragma: no cover
    from core.analyses.saliency.faithfulness import FaithfulnessResult, GameCurve
    from reports.context import ReportContext

REPLACEMENT_WHY = {
    "mask": "Hidden tokens become the mask token: it keeps the text's length and every token's position, and an "
            "encoder pre-trained with masked language modelling reads it as “a token is missing here” — the "
            "closest to removing a word without creating an input the model never saw (the default).",
    "pad": "Hidden tokens become the padding token: positions are kept, but the encoder sees an embedding it never "
           "met inside a text, so part of the drop may come from the odd input rather than the missing word "
           "(mask is the default for this reason; a tokenizer without a mask token, as a decoder's, gets pad).",
    "delete": "Hidden tokens are deleted: the text gets shorter and the following tokens move to other positions, "
              "so part of the change may come from the shift rather than the missing words (mask, which keeps "
              "positions, is the default).",
}
SHORT = {"decoded_gradcam": "decoded Grad-CAM", "layer_gradcam": "plain layer Grad-CAM",
         "integrated_gradients": "Integrated Gradients", "occlusion": "occlusion", "random": "the random order",
         "attention_rollout": "attention rollout", "attention": "attention", "gradient": "the gradient",
         "grad_x_input": "gradient × input", "smoothgrad": "SmoothGrad", "shapley": "Shapley value sampling"}

TABLE_TITLES = {"decoded_gradcam": "Decoded Grad-CAM", "layer_gradcam": "Plain Grad-CAM", "random": "Random order"}


@dataclass(frozen=True)
class FaithfulnessSectionParams(Params):
    """The section's parameters: the sample size and the games' own (declared once, in FaithfulnessParams)."""

    n: int = param(GAMES_N, "texts in the games: a random sample (report seed) of the held-out test split when the "
                   "model was trained on the dataset, else of the whole dataset", minimum=10)
    methods: tuple[str, ...] = same_param(FaithfulnessParams, "methods")
    layers: tuple[int, ...] | str = same_param(FaithfulnessParams, "layers")
    replacement: str = same_param(FaithfulnessParams, "replacement")
    max_length: int | None = same_param(FaithfulnessParams, "max_length")
    ig_steps: int = same_param(FaithfulnessParams, "ig_steps")

    def games(self, methods: tuple[str, ...]) -> FaithfulnessParams:
        """The games' parameters for ``methods`` (those of the spec that can run on the model)."""
        return FaithfulnessParams(methods=methods, layers=self.layers, replacement=self.replacement,
                                  max_length=self.max_length, ig_steps=self.ig_steps)


@register("faithfulness", title="Saliency faithfulness", params=FaithfulnessSectionParams)
def compute(ctx: "ReportContext", p: FaithfulnessSectionParams) -> dict:
    """Hiding and revealing games: which saliency method (and which layer) finds the tokens the model uses."""
    from core.analyses.saliency import SaliencyError, default_layer, get_method
    from core.analyses.saliency.faithfulness import run_games
    from core.analyses.saliency.registry import require_mlm_head
    from core.foundation.cache import ArrayCache
    from core.foundation.errors import BackboneLensError
    from core.models.heldout import heldout_sample

    model = ctx.model
    context: dict[str, Any] = {"n_requested": p.n, "layers_param": p.layers if isinstance(p.layers, str)
                               else list(p.layers), "ig_steps": p.ig_steps, "skipped": []}
    try:
        model.require_head()
        sample = heldout_sample(model, ctx.full_dataset, p.n, seed=ctx.spec.seed)
        context.update(sample_facts(sample))
        L = model.num_layers
        context.update(num_layers=L, default_layer=default_layer(model))
        methods = []
        for name in p.methods:
            m = get_method(name)
            if m.needs_mlm_head:
                try:
                    require_mlm_head(model, name)
                except SaliencyError as e:
                    context["skipped"].append({"name": name, "title": m.title, "reason": str(e)})
                    continue
            bad = [li for li in p.layers if li > L] if name in GRADCAM and not isinstance(p.layers, str) else []
            if bad:
                raise SaliencyError(f"Layer {bad[0]} is out of range: model {model.ref} has layers 0 (the "
                                    f"embeddings) to {L}.")
            methods.append(name)
        if not methods:
            raise SaliencyError("None of the saliency methods can run on this model.")
        res = run_games(model, sample, p.games(tuple(methods)), cache=ArrayCache(),
                        progress=lambda stage, frac, msg: ctx.say("faithfulness", frac, f"{stage}: {msg}"))
    except BackboneLensError as e:  # no head, no mask token, bad layer …: one sentence in the report
        ctx.say("faithfulness", 1.0, f"faithfulness not computed: {e}")
        return {"available": False, "reason": str(e), **context}
    return faithfulness_fragment(res, context=context)


def _title(name: str) -> str:
    """A short method name for tables (the two Grad-CAMs by their difference: decoded or plain)."""
    if name in TABLE_TITLES:
        return TABLE_TITLES[name]
    try:
        from core.analyses.saliency import get_method

        return get_method(name).title
    except Exception:  # noqa: BLE001 - an unknown name in an old snapshot keeps its raw name
        return name


def _label(c: "GameCurve") -> str:
    base = SHORT.get(c.method, c.method)
    return base if c.layer is None else f"{base} at layer {c.layer}"


def faithfulness_fragment(res: "FaithfulnessResult", *, context: dict[str, Any] | None = None) -> dict[str, Any]:
    """The snapshot fragment from a computed :class:`core.analyses.saliency.faithfulness.FaithfulnessResult` (pure; no model)."""
    from figures.faithfulness import faithfulness_chart, game_curves, layer_sweep_chart

    rnd = res.random
    best = {m: res.best_layer(m) for m in GRADCAM if res.layers(m)}
    swept = {m: len(res.layers(m)) > 1 for m in best}
    rows = []
    for c in res.curves:
        rows.append({"name": c.name, "method": c.method, "title": _title(c.method), "label": _label(c),
                     "layer": c.layer, "params": dict(c.params),
                     "hide_auc": c.hide_auc, "reveal_auc": c.reveal_auc, "hide_auc_prob": c.hide_auc_prob,
                     "reveal_auc_prob": c.reveal_auc_prob, "gap": c.gap,
                     "gap_prob": c.reveal_auc_prob - c.hide_auc_prob, "vs_random": c.gap - rnd.gap,
                     "seconds_per_text": c.saliency_seconds / max(1, res.n),
                     "random": c.method == "random",
                     "best_layer": bool(swept.get(c.method)) and c.layer == best.get(c.method)})
    first = {m: i for i, m in reversed(list(enumerate(r["method"] for r in rows)))}
    rows.sort(key=lambda r: (r["random"], first[r["method"]], -1 if r["layer"] is None else r["layer"]))
    n = res.n
    noise = 0.5 / math.sqrt(max(1, n))
    methods = []
    for c in res.curves:
        if c.method == "random" or any(m["name"] == c.method for m in methods):
            continue
        params = {k: v for k, v in c.params.items() if k != "layer"}
        lays = [x.layer for x in res.curves if x.method == c.method and x.layer is not None]
        methods.append({"name": c.method, "title": _title(c.method), "params": params,
                        "layers": sorted(lays) if lays else None})
    drawn = game_curves(res)
    # the chart names its lines by GameCurve.name ("decoded_gradcam@5"); give them the report's words instead
    shown = [c if c.method == "random" else replace(c, method=_label(c), layer=None) for c in drawn]
    fig_curves = figure(
        _for_print(faithfulness_chart(res, metric="accuracy", curves=shown, width=250, height=190)),
        caption=("Hiding game (left): the share of content tokens, most salient first, replaced by the "
                 f"{res.replacement} token; a faithful method makes accuracy fall fast (low curve). Revealing game "
                 "(right): only that share of the most salient tokens is kept; a faithful method makes accuracy "
                 f"recover fast (high curve). Accuracy against {res.accuracy_against}, mean over {n:,} texts. "
                 "Grad-CAM methods swept over layers are drawn at their best layer"
                 + (" and at layer 0" if any(x.layer == 0 for x in drawn if x.method in GRADCAM) else "")
                 + "; the dashed grey line is the random order."),
        alt="Two line charts of accuracy against the share of tokens hidden or kept, one line per saliency method "
            "and one for a random order: " + ", ".join(_label(c) for c in drawn))
    fig_sweep = None
    if any(swept.values()):
        fig_sweep = figure(
            _for_print(layer_sweep_chart(res, width=420, height=200)),
            caption=("Revealing AUC minus hiding AUC (accuracy) for Grad-CAM at every layer, decoded through the "
                     "masked-LM head and plain (position = token). Higher is more faithful; the dashed grey rule is "
                     "the random order."),
            alt="Line chart of the reveal minus hide AUC gap per layer for decoded and plain Grad-CAM")
    ctx = {"split": None, "split_note": None, "n_pool": None, "n_total": None, "seed": res.seed,
           "trained_on_dataset": False, "ig_steps": None, "skipped": [], "n_requested": n, **(context or {})}
    out: dict[str, Any] = {
        "available": True, "reason": None, **ctx,
        "n": n, "mean_tokens": res.mean_tokens, "max_length": res.max_length, "truncated": res.truncated,
        "replacement": res.replacement, "replacement_why": REPLACEMENT_WHY.get(res.replacement, ""),
        "accuracy_against": res.accuracy_against, "levels": [float(x) for x in rnd.levels],
        "seconds": res.seconds, "game_seconds": res.game_seconds, "evaluations": res.evaluations,
        "methods": methods, "rows": rows, "best_layer": best, "noise": noise,
        "random": {"hide_auc": rnd.hide_auc, "reveal_auc": rnd.reveal_auc, "gap": rnd.gap},
        "figure_curves": fig_curves, "figure_sweep": fig_sweep,
    }
    out["findings"] = _findings(res, out)
    return out


def _for_print(chart: Any) -> Any:
    chart = chart.copy(deep=True)
    chart.config.aria = False
    return chart


def _beats(d: float, noise: float) -> str:
    return "beats" if d >= noise else ("is no better than" if d > -noise else "is worse than")


def _findings(res: "FaithfulnessResult", d: dict[str, Any]) -> list[str]:
    rnd, noise, out = res.random, d["noise"], []
    cands = [c for c in res.curves if c.method != "random"]
    if not cands:
        return out
    top = max(cands, key=lambda c: c.gap)
    close = [c for c in cands if c.method != top.method and top.gap - c.gap < noise]
    line = (f"Most faithful on these {res.n:,} texts: {_label(top)} (revealing AUC {top.reveal_auc:.3f}, hiding "
            f"AUC {top.hide_auc:.3f}, gap {top.gap:.3f}); the random order has a gap of {rnd.gap:.3f}.")
    if close:
        second = max(close, key=lambda c: c.gap)
        name = _label(second)
        line += (f" {name[0].upper() + name[1:]} (gap {second.gap:.3f}) is within the noise level of it, so the "
                 "order between them is not settled.")
    out.append(line)
    top_p = max(cands, key=lambda c: c.reveal_auc_prob - c.hide_auc_prob)
    if top_p.name != top.name:
        out.append(f"On the probability of the predicted class instead of accuracy, {_label(top_p)} comes first "
                   f"(gap {top_p.reveal_auc_prob - top_p.hide_auc_prob:.3f}).")
    for m in GRADCAM:
        cs = res.layers(m)
        if not cs:
            continue
        b = res.best_layer(m) if len(cs) > 1 else cs[0].layer
        c = res.curve(m, b)
        dg = c.gap - rnd.gap
        where = f"at layer {b}" + (" (its best layer)" if len(cs) > 1 else "")
        out.append(f"{SHORT[m][0].upper() + SHORT[m][1:]} {where} {_beats(dg, noise)} random: gap {c.gap:.3f} vs "
                   f"{rnd.gap:.3f} ({dg:+.3f}); revealing AUC {c.reveal_auc:.3f} vs {rnd.reveal_auc:.3f} "
                   f"({c.reveal_auc - rnd.reveal_auc:+.3f}), hiding AUC {c.hide_auc:.3f} vs {rnd.hide_auc:.3f} "
                   f"({c.hide_auc - rnd.hide_auc:+.3f}; lower is better).")
        zero = next((x for x in cs if x.layer == 0), None)
        if zero is not None and len(cs) > 1 and b != 0:
            dz = zero.gap - rnd.gap
            out.append(f"At layer 0 (the embeddings) {SHORT[m]} {_beats(dz, noise)} random (gap {zero.gap:.3f} vs "
                       f"{rnd.gap:.3f}).")
    dec, plain = {c.layer: c for c in res.layers("decoded_gradcam")}, {c.layer: c for c in res.layers("layer_gradcam")}
    both = sorted(set(dec) & set(plain))
    if len(both) > 1:
        wins = [li for li in both if dec[li].gap - plain[li].gap >= noise]
        losses = [li for li in both if plain[li].gap - dec[li].gap >= noise]
        far = max(both, key=lambda li: abs(dec[li].gap - plain[li].gap))
        out.append(f"Decoding through the masked-LM head gives a clearly larger gap than plain Grad-CAM at "
                   f"{len(wins)} of {len(both)} layers" + (f" ({', '.join(map(str, wins))})" if wins else "")
                   + (f" and a clearly smaller one at {', '.join(map(str, losses))}" if losses else "")
                   + f"; the largest difference is {dec[far].gap - plain[far].gap:+.3f} at layer {far}.")
    weak = []
    for name in dict.fromkeys(c.method for c in cands):
        cs = [c for c in cands if c.method == name]
        c = max(cs, key=lambda x: x.gap)
        if c.gap - rnd.gap < noise:
            weak.append(_label(c) if len(cs) == 1 else f"{SHORT.get(name, name)} (even at its best layer)")
    if weak:
        out.append("Not clearly better than a random order: " + ", ".join(weak) + ".")
    else:
        out.append("Every method beats the random order by more than the noise level"
                   + (" (the swept Grad-CAM methods at their best layer, which flatters them a little)"
                      if any(len(res.layers(m)) > 1 for m in GRADCAM) else "") + ".")
    out.append(f"With {res.n:,} texts, AUC differences below about {noise:.2f} (0.5/√n) are treated as noise here; "
               "use a larger n before relying on smaller ones.")
    return out
