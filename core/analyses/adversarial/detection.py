"""Do adversarial texts stand out in the DeepView map? Clean and adversarial texts in one projection, scored
by classifier entropy, background uncertainty and 2-D neighbour disagreement (AUROC, precision at k).

:func:`run_detection` works on an :class:`~core.analyses.adversarial.attacks.AttackResult` (which carries its
sample) with :class:`DetectionParams`.
"""
from __future__ import annotations

import dataclasses
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

import numpy as np

from core.analyses.adversarial.attacks import AttackError, AttackResult, word_diff
from core.foundation.params import Params, param
from core.foundation.progress import Progress
from core.foundation.registry import Registry

if TYPE_CHECKING:  # pragma: no cover
    from core.analyses.projection.background import DecisionBackground
    from core.analyses.projection.params import ProjectionParams
    from core.analyses.projection.run import ProjectionRun
    from core.foundation.cache import ArrayCache
    from core.models.loading import LoadedModel


# the suspicion scores: name → what it measures (a phrase for reports), with the title pages and charts show
SCORES: Registry[str] = Registry("suspicion score", error=AttackError)
SCORES.add("entropy", "how unsure the classifier is about the text itself (entropy of its probabilities)",
           title="Classifier entropy")
SCORES.add("background_uncertainty", "how pale the map's background is where the text lands (1 − the head's "
           "confidence at that spot)", title="Background uncertainty")
SCORES.add("neighbour_disagreement", "the share of the text's nearest neighbours on the map with another predicted "
           "class", title="2-D neighbour disagreement")
SUSPICION_SCORES = SCORES.names()


@dataclass(frozen=True)
class DetectionParams(Params):
    """How clean and adversarial texts are projected and scored (one place for the defaults)."""

    lam: float = param(0.8, "λ of the DeepView projection of clean and adversarial texts", minimum=0, maximum=1)
    k_neighbours: int = param(10, "nearest 2-D neighbours behind the neighbour-disagreement score", minimum=1)


def precision_at_k(scores: np.ndarray, is_positive: np.ndarray, k: int) -> float:
    """Share of positives among the k highest scores (ties broken by position, stable)."""
    order = np.argsort(-scores, kind="stable")[:k]
    return float(is_positive[order].mean()) if k else 0.0


@dataclass(frozen=True, eq=False)
class DetectionResult:
    """Clean and adversarial texts in one DeepView projection, with suspicion scores.

    is_adversarial: (N,) bool; scores[name]: (N,) higher = more suspicious; pair_of: (N,) index of
    the clean original of each adversarial point (−1 for clean points).
    """

    run: "ProjectionRun"  # of the mixed set
    is_adversarial: np.ndarray
    pair_of: np.ndarray
    scores: dict[str, np.ndarray]
    auroc: dict[str, float]
    precision_at_k: dict[str, float]
    k: int
    k_neighbours: int
    base_rate: float
    in_pale_region: dict[str, float]  # share of adversarial / clean points whose background is uncertain

    def to_json(self) -> dict[str, Any]:
        return {"n_clean": int((~self.is_adversarial).sum()), "n_adversarial": int(self.is_adversarial.sum()),
                "base_rate": round(self.base_rate, 4), "k": self.k, "k_neighbours": self.k_neighbours,
                "scores": {s: {"auroc": round(self.auroc[s], 4), "precision_at_k": round(self.precision_at_k[s], 4)}
                           for s in self.scores},
                "in_pale_region": {k: round(v, 4) for k, v in self.in_pale_region.items()},
                "projection": {"lam": self.run.lam, "fidelity": self.run.fidelity.to_dict()}}


def classifier_entropy(probs: np.ndarray) -> np.ndarray:
    """The "entropy" suspicion score: (N,) entropy of each row of ``probs`` (N, C) divided by log C, in [0, 1]
    (the one score that needs no projection, so it can be computed text by text)."""
    p = np.clip(np.asarray(probs, dtype=np.float64), 1e-12, 1)
    return -(p * np.log(p)).sum(1) / np.log(p.shape[1])


def suspicion_scores(points: np.ndarray, probs: np.ndarray, background: "DecisionBackground", *,
                     k: int = DetectionParams.k_neighbours) -> dict[str, np.ndarray]:
    """Per-point suspicion: points (N, 2), probs (N, C), the projection's DecisionBackground.

    entropy: classifier entropy / log C; background_uncertainty: 1 − the background's confidence in
    the point's cell; neighbour_disagreement: share of the k nearest 2-D neighbours whose predicted
    class differs from the point's.
    """
    from sklearn.neighbors import NearestNeighbors

    ent = classifier_entropy(probs)
    iy, ix = background.cell_of(points)
    bg_unc = 1.0 - background.confidence[iy, ix].astype(np.float64)
    pred = probs.argmax(1)
    k = min(k, len(points) - 1)
    nb = NearestNeighbors(n_neighbors=k + 1).fit(points).kneighbors(points)[1][:, 1:]
    dis = (pred[nb] != pred[:, None]).mean(1)
    return {"entropy": ent, "background_uncertainty": bg_unc, "neighbour_disagreement": dis}


def run_detection(model: "LoadedModel", attack: AttackResult, params: DetectionParams = DetectionParams(), *,
                  projection: "ProjectionParams | None" = None, cache: "ArrayCache | None" = None,
                  progress: Progress | None = None) -> DetectionResult:
    """Project the attacked texts' clean originals and successful adversarial versions together at
    ``params.lam`` (``projection``: how to project, its λ replaced by ``params.lam``) and score every point."""
    from sklearn.metrics import roc_auc_score

    from core.analyses.projection.params import ProjectionParams
    from core.analyses.projection.run import run_projection
    from core.data.datasets import _make
    from core.data.sampling import draw

    succ = attack.successes
    if not succ:
        raise AttackError("The attack produced no adversarial texts, so there is nothing to detect.")
    clean = list(attack.outcomes)
    texts = [o.text for o in clean] + [o.adversarial for o in succ]
    has_pairs = clean[0].text_pair is not None
    pairs = ([o.text_pair or "" for o in clean] + [o.adversarial_pair or "" for o in succ]) if has_pairs else None
    labels = [o.label for o in clean] + [o.label for o in succ]
    pos = {o.index: j for j, o in enumerate(clean)}
    is_adv = np.r_[np.zeros(len(clean), bool), np.ones(len(succ), bool)]
    pair_of = np.r_[np.full(len(clean), -1), [pos[o.index] for o in succ]].astype(np.int64)
    if len(texts) < 12:
        raise AttackError(f"Detection needs at least 12 clean and adversarial texts together, got {len(texts)}; "
                          "attack more texts.")
    ds = _make(f"adversarial:{attack.attack}", texts, labels, attack.label_names, pairs,
               description=f"{len(clean)} clean texts and {len(succ)} adversarial versions ({attack.attack} attack)")
    projection = dataclasses.replace(projection or ProjectionParams(), lam=params.lam)
    run = run_projection(model, draw(ds, None), projection, cache=cache, progress=progress)
    bg = run.projection.background
    scores = suspicion_scores(run.projection.points, run.probs, bg, k=params.k_neighbours)
    k = int(is_adv.sum())
    auroc = {s: float(roc_auc_score(is_adv, v)) for s, v in scores.items()}
    prec = {s: precision_at_k(v, is_adv, k) for s, v in scores.items()}
    # "pale" = the background is less certain than it is under 90 % of clean points
    thr = float(np.quantile(scores["background_uncertainty"][~is_adv], 0.9))
    pale = scores["background_uncertainty"] > thr
    return DetectionResult(run=run, is_adversarial=is_adv, pair_of=pair_of, scores=scores, auroc=auroc,
                           precision_at_k=prec, k=k, k_neighbours=params.k_neighbours,
                           base_rate=float(is_adv.mean()),
                           in_pale_region={"adversarial": float(pale[is_adv].mean()),
                                           "clean": float(pale[~is_adv].mean()), "threshold": 1.0 - thr})


def flagged_rows(result: AttackResult, detection: DetectionResult | None = None) -> list[dict[str, Any]]:
    """One row per attacked text (CSV export and tables): original, adversarial, word diff, predictions before and
    after, and — for successful attacks when ``detection`` is given — the suspicion scores of the adversarial point
    and of its clean original. Sorted: successes first, most suspicious (entropy) first."""
    names = result.label_names
    adv_pos: dict[int, int] = {}
    if detection is not None:
        succ = result.successes
        n_clean = int((~detection.is_adversarial).sum())
        adv_pos = {o.index: n_clean + j for j, o in enumerate(succ)}
        clean_pos = {o.index: j for j, o in enumerate(result.outcomes)}
    rows = []
    for o in result.outcomes:
        if o.status == "skipped":
            continue
        diff = " ".join(t if op == "=" else f"[-{t}-]" if op == "-" else f"{{+{t}+}}"
                        for op, t in word_diff(o.text, o.adversarial))
        row: dict[str, Any] = {"index": o.index, "status": o.status, "original": o.text, "adversarial": o.adversarial,
                               "diff": diff, "label": names[o.label] if o.label >= 0 else "",
                               "prediction_before": names[o.original_prediction],
                               "probability_before": round(o.original_probability, 4),
                               "prediction_after": names[o.adversarial_prediction],
                               "probability_after": round(o.adversarial_probability, 4),
                               "words_changed": o.words_changed, "queries": o.queries,
                               "similarity": round(o.similarity, 4), "message": o.message}
        if o.text_pair is not None:
            row["original_pair"], row["adversarial_pair"] = o.text_pair, o.adversarial_pair
        if detection is not None:
            for s, v in detection.scores.items():
                row[f"{s}_adversarial"] = round(float(v[adv_pos[o.index]]), 4) if o.index in adv_pos else ""
                row[f"{s}_original"] = round(float(v[clean_pos[o.index]]), 4)
        rows.append(row)
    key = "entropy_adversarial"
    rows.sort(key=lambda r: (r["status"] != "success", -(r.get(key) or 0.0) if r.get(key) != "" else 0.0))
    return rows


__all__ = ["DetectionParams", "DetectionResult", "SCORES", "SUSPICION_SCORES", "classifier_entropy", "flagged_rows",
           "precision_at_k", "run_detection", "suspicion_scores"]
