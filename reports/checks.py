"""Pass/fail checks on the figures a report computes.

A check is one comparison written as text, e.g. ``projection.q_knn_error < 0.05``,
``faithfulness.decoded_gradcam.reveal_auc > faithfulness.random.reveal_auc`` or ``accuracy >= 0.9``.
Each side is a number or a dotted name:

* ``accuracy``, ``macro_f1``, ``n`` — the report model's evaluation on the report dataset (held-out split
  when it was trained on it);
* ``SECTION.FIGURE[.SUB…]`` — a figure of a section, where SECTION is the section's ``id`` (default: its kind,
  or ``kind_2``, ``kind_3`` … when a kind appears more than once) and FIGURE one of the names its kind
  publishes (:data:`METRICS`; ``python -m reports kinds`` lists them).

Figures come from a section's snapshot fragment through one extractor per kind (``METRICS``), so checks
read exactly the numbers the report shows. A check whose figure is missing (the section could not be
computed, or the method was not run) fails with the reason; it never passes silently.
"""
from __future__ import annotations

import difflib
import operator
import re
from dataclasses import dataclass
from typing import Any, Callable

OPS: dict[str, Callable[[float, float], bool]] = {"<=": operator.le, ">=": operator.ge, "==": operator.eq,
                                                  "!=": operator.ne, "<": operator.lt, ">": operator.gt}
GLOBAL_METRICS = ("accuracy", "macro_f1", "n")
_NAME = re.compile(r"[A-Za-z_][A-Za-z0-9_\-]*(?:@\d+)?(?:\.[A-Za-z0-9_\-]+(?:@\d+)?)*\Z")
_NUMBER = re.compile(r"[+-]?(?:\d+\.?\d*|\.\d+)(?:[eE][+-]?\d+)?%?\Z")


class CheckSyntaxError(ValueError):
    """A check that cannot be parsed (the message says why)."""


@dataclass(frozen=True)
class Operand:
    """A number or a dotted figure name."""

    number: float | None = None
    path: tuple[str, ...] | None = None

    def __str__(self) -> str:
        return ".".join(self.path) if self.path else f"{self.number:g}"


@dataclass(frozen=True)
class Check:
    expr: str
    left: Operand
    op: str
    right: Operand
    name: str | None = None
    line: int | None = None

    def names(self) -> list[tuple[str, ...]]:
        return [o.path for o in (self.left, self.right) if o.path]


def _operand(text: str, expr: str) -> Operand:
    t = text.strip()
    if not t:
        raise CheckSyntaxError(f"'{expr}' has nothing on one side of the comparison")
    if _NUMBER.match(t):
        v = float(t.rstrip("%"))
        return Operand(number=v / 100 if t.endswith("%") else v)
    if not _NAME.match(t):
        raise CheckSyntaxError(f"'{t}' is neither a number nor a figure name like projection.q_knn_error")
    return Operand(path=tuple(t.split(".")))


def parse_check(expr: str, *, name: str | None = None, line: int | None = None) -> Check:
    """``'a.b < 0.3'`` → :class:`Check`; one comparison operator (<, <=, >, >=, ==, !=)."""
    if not isinstance(expr, str) or not expr.strip():
        raise CheckSyntaxError("a check must be a comparison like 'accuracy >= 0.9'")
    m = re.search(r"<=|>=|==|!=|<|>", expr)
    if m is None:
        raise CheckSyntaxError(f"'{expr}' has no comparison; use one of {', '.join(OPS)}")
    rest = expr[m.end():]
    if re.search(r"<=|>=|==|!=|<|>", rest):
        raise CheckSyntaxError(f"'{expr}' has more than one comparison; write one check per comparison")
    left, right = _operand(expr[:m.start()], expr), _operand(rest, expr)
    if left.path is None and right.path is None:
        raise CheckSyntaxError(f"'{expr}' compares two numbers; name a figure on one side")
    return Check(expr.strip(), left, m.group(0), right, name, line)


# ----------------------------------------------------------------------------- figures per section kind


def _f(v: Any) -> float | None:
    if isinstance(v, bool) or v is None:
        return None
    try:
        return float(v)
    except (TypeError, ValueError):
        return None


def _overview(d: dict) -> dict:
    p = d.get("performance") or {}
    return {"accuracy": _f(p.get("accuracy")), "macro_f1": _f(p.get("macro_f1")), "n": _f(p.get("n")),
            "truncated_share": _f((d.get("dataset") or {}).get("truncated_share"))}


def _projection(d: dict) -> dict:
    f = d.get("fidelity") or {}
    out = {k: _f(f.get(k)) for k in ("q_knn_error", "q_data", "trustworthiness", "continuity")}
    n, wrong = d.get("n_labelled"), d.get("n_wrong")
    out["error_rate"] = None if not n else _f(wrong) / n
    out["lam"] = _f(d.get("lam"))
    return out


def _faithfulness(d: dict) -> dict:
    out: dict[str, Any] = {}
    rows = d.get("rows") or []
    for r in rows:
        vals = {k: _f(r.get(k)) for k in ("hide_auc", "reveal_auc", "gap", "vs_random", "hide_auc_prob",
                                         "reveal_auc_prob", "gap_prob")}
        if r.get("layer") is not None:
            out[f"{r['method']}@{r['layer']}"] = vals
        # the method's own name: its best layer when several were swept, else its only row
        if r.get("layer") is None or r.get("best_layer") or sum(x["method"] == r["method"] for x in rows) == 1:
            out[r["method"]] = vals
    if d.get("random"):
        out["random"] = {k: _f(v) for k, v in d["random"].items()}
    return out


def _adversarial(d: dict) -> dict:
    s = d.get("summary") or {}
    out: dict[str, Any] = {k: _f(s.get(k)) for k in ("success_rate", "mean_words_changed", "mean_share_changed",
                                                    "queries_per_success", "mean_similarity")}
    det = d.get("detection") or {}
    for sc in det.get("scores") or []:
        out[sc["name"]] = {"auroc": _f(sc.get("auroc")), "precision_at_k": _f(sc.get("precision_at_k"))}
    return out


def _comparison(d: dict) -> dict:
    pairs = d.get("pairs") or []
    if not pairs:
        return {}
    p = pairs[0]
    return {"cka": _f(p.get("cka")), "agreement": _f(p.get("agreement")), "q_nn_embeddings": _f(p.get("q_embeddings")),
            "q_nn_projection": _f(p.get("q_projection")), "lcmc_embeddings": _f(p.get("lcmc_embeddings")),
            "lcmc_projection": _f(p.get("lcmc_projection"))}


def _multitask(d: dict) -> dict:
    pairs = d.get("pairs") or []
    k = str(d.get("k"))
    q = [_f((p.get("q_nn") or {}).get(k)) for p in pairs]
    q = [v for v in q if v is not None]
    out: dict[str, Any] = {"max_q_nn": max(q) if q else None, "mean_q_nn": sum(q) / len(q) if q else None,
                           "chance_q_nn": _f(d.get("chance_q_nn"))}
    for t in d.get("per_task") or []:
        out[t["task"]] = {"q_knn_error": _f((t.get("own") or {}).get("q_knn_error")),
                          "transfer_chance": _f(t.get("chance")), "full_probe": _f(t.get("full_probe"))}
    return out


def _saliency_examples(d: dict) -> dict:
    return {"examples": _f(len(d.get("examples") or []))}


def _generic(d: dict) -> dict:
    """Kinds that publish their own ``metrics`` mapping in their fragment."""
    return dict(d.get("metrics") or {})


_LAYER_KEYS = ("separation_layer", "knn_accuracy_first", "knn_accuracy_last", "knn_accuracy_best", "best_layer",
               "silhouette_first", "silhouette_last", "chance", "num_layers")


@dataclass(frozen=True)
class MetricSpec:
    """How a section kind publishes figures: ``extract(data) -> nested dict``; ``names`` are the figure names a
    check may use (``*`` = any method / task name, e.g. ``*.reveal_auc``), for validation before computing."""

    extract: Callable[[dict], dict]
    names: tuple[str, ...]


METRICS: dict[str, MetricSpec] = {
    "overview": MetricSpec(_overview, ("accuracy", "macro_f1", "n", "truncated_share")),
    "projection": MetricSpec(_projection, ("q_knn_error", "q_data", "trustworthiness", "continuity", "error_rate",
                                           "lam")),
    "faithfulness": MetricSpec(_faithfulness, tuple(f"*.{k}" for k in (
        "hide_auc", "reveal_auc", "gap", "vs_random", "hide_auc_prob", "reveal_auc_prob", "gap_prob"))),
    "adversarial": MetricSpec(_adversarial, ("success_rate", "mean_words_changed", "mean_share_changed",
                                             "queries_per_success", "mean_similarity", "*.auroc",
                                             "*.precision_at_k")),
    "comparison": MetricSpec(_comparison, ("cka", "agreement", "q_nn_embeddings", "q_nn_projection",
                                           "lcmc_embeddings", "lcmc_projection")),
    "multitask": MetricSpec(_multitask, ("max_q_nn", "mean_q_nn", "chance_q_nn", "*.q_knn_error",
                                         "*.transfer_chance", "*.full_probe")),
    "saliency_examples": MetricSpec(_saliency_examples, ("examples",)),
    "instance": MetricSpec(_generic, ("texts", "auroc_error", "auroc_low_confidence", "length_auroc_error",
                                      "mean_entropy")),
    "heads": MetricSpec(_generic, ("spearman", "intact_accuracy", "pruning_gap", "pruning_gap_least",
                                   "top_importance", "most_first.*", "least_first.*", "random.*")),
    "attention": MetricSpec(_generic, ("texts", "first_to_second", "second_to_first")),
    "corpus": MetricSpec(_generic, ("texts", "failed", "accuracy", "mean_confidence", "mean_entropy",
                                    "auroc_entropy_error", "saliency_mean_entropy", "games_gap",
                                    "attack_success_rate", "map_q_data", "placed_q_data", "max_cluster_lift")),
}


def metric_spec(kind: str) -> MetricSpec:
    """The figures of ``kind``: its entry in :data:`METRICS`, else the section's own ``metrics`` mapping (names
    declared by the section registry's ``metrics`` attribute when it has one)."""
    if kind in METRICS:
        return METRICS[kind]
    from reports.sections import SECTIONS

    names = tuple(getattr(SECTIONS.get(kind), "metrics", ()) or ())
    return MetricSpec(_generic, names)


def _matches(parts: tuple[str, ...], pattern: str) -> bool:
    pp = pattern.split(".")
    return len(pp) == len(parts) and all(p == "*" or p == x for p, x in zip(pp, (s.split("@")[0] for s in parts)))


def name_problem(path: tuple[str, ...], sections: dict[str, str]) -> str | None:
    """Why ``path`` cannot name a figure of a spec whose sections are ``{id: kind}`` (None when it can)."""
    head, rest = path[0], path[1:]
    if not rest:
        if head in GLOBAL_METRICS:
            return None
        return (f"'{head}' is not a figure; use {', '.join(GLOBAL_METRICS)} or SECTION.FIGURE with a section id: "
                f"{', '.join(sections) or '(no sections)'}{_hint(head, list(GLOBAL_METRICS) + list(sections))}")
    if head not in sections:
        return (f"no section with id '{head}'; the sections are: {', '.join(sections)}"
                f"{_hint(head, list(sections))}")
    names = metric_spec(sections[head]).names
    if not names or any(_matches(rest, n) for n in names):
        return None
    return (f"section '{head}' ({sections[head]}) has no figure '{'.'.join(rest)}'; its figures are: "
            f"{', '.join(names)}{_hint('.'.join(rest), [n for n in names if '*' not in n])}")


def _hint(word: str, options: list[str]) -> str:
    close = difflib.get_close_matches(word, options, n=1, cutoff=0.6)
    return f" (did you mean '{close[0]}'?)" if close else ""


# ----------------------------------------------------------------------------- evaluation


def section_metrics(section: dict) -> dict:
    """The figures of one snapshot section (``{}`` when it could not be computed)."""
    data = section.get("data") or {}
    if data.get("available") is False:
        return {}
    try:
        return metric_spec(section["kind"]).extract(data)
    except Exception:  # noqa: BLE001 - a fragment without the expected fields publishes nothing
        return {}


def _lookup(path: tuple[str, ...], figures: dict[str, Any], global_figures: dict[str, Any]) -> tuple[float | None, str]:
    if len(path) == 1:
        v = _f(global_figures.get(path[0]))
        return v, "" if v is not None else f"{path[0]} is not available (the model could not be evaluated)"
    node: Any = figures.get(path[0])
    if node is None:
        return None, f"section '{path[0]}' has no figures (it could not be computed)"
    for i, part in enumerate(path[1:], 1):
        if not isinstance(node, dict) or part not in node:
            have = ", ".join(sorted(node)) if isinstance(node, dict) else "a number"
            return None, f"{'.'.join(path[:i + 1])} was not computed (available: {have})"
        node = node[part]
    v = _f(node)
    return v, "" if v is not None else f"{'.'.join(path)} has no value"


def evaluate_checks(checks: list[Check], figures: dict[str, Any], global_figures: dict[str, Any]
                    ) -> list[dict[str, Any]]:
    """One result per check: ``{expr, name, left, right, op, passed, reason}``; a missing figure fails."""
    out = []
    for c in checks:
        vals, why = [], []
        for o in (c.left, c.right):
            if o.path is None:
                vals.append(o.number)
            else:
                v, reason = _lookup(o.path, figures, global_figures)
                vals.append(v)
                if reason:
                    why.append(reason)
        passed = None not in vals and OPS[c.op](vals[0], vals[1])
        out.append({"expr": c.expr, "name": c.name, "left": vals[0], "right": vals[1], "op": c.op,
                    "left_name": str(c.left), "right_name": str(c.right), "passed": bool(passed),
                    "reason": "; ".join(why) if why else ("" if passed else "the comparison does not hold"),
                    "line": c.line})
    return out


__all__ = ["Check", "CheckSyntaxError", "GLOBAL_METRICS", "METRICS", "MetricSpec", "Operand", "evaluate_checks",
           "metric_spec", "name_problem", "parse_check", "section_metrics"]
