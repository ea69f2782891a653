"""Corpus-level aggregates: summed batch by batch, written as Parquet beside the cache, read by reports and pages.

:class:`Aggregator` takes the cached arrays of one batch at a time (it never holds the embeddings, only a few
numbers per text), :meth:`Aggregator.finish` returns :class:`CorpusAggregates`, :func:`write_aggregates` stores
them as Parquet tables in the run's folder and :func:`read_aggregates` reads them back:

``summary.parquet`` (metric, value), ``histograms.parquet`` (quantity, outcome, bin_low, bin_high, count),
``per_class.parquet`` (label, true, predicted, correct, mean_confidence, mean_entropy), ``confusion.parquet``
(true, predicted, count), ``class_tokens.parquet`` (label, rank, word, score, docs), ``saliency_per_class.parquet``
(label, texts, mean_top_share, mean_entropy, mean_tokens), ``games.parquet`` (method, game, measure, fraction,
mean, texts), ``attack_per_class.parquet`` (label, texts, flipped, success_rate, mean_edits),
``attack_detection.parquet`` (feature, group, mean, texts) and ``failures.parquet`` (row, error, text).
"""
from __future__ import annotations

import json
from collections import Counter, defaultdict
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Mapping, Sequence

import numpy as np

from core.analyses.corpus.params import CorpusParams
from core.foundation.files import utf8_safe

TABLES = ("summary", "histograms", "per_class", "confusion", "class_tokens", "saliency_per_class", "games",
          "attack_per_class", "attack_detection", "failures")
# the tables of the saliency, games and attack jobs: absent from runs written before those jobs existed
LATER_TABLES = ("saliency_per_class", "games", "attack_per_class", "attack_detection")
# the columns of the job tables added with the saliency, games and attack jobs
COLUMNS = {"saliency_per_class": ("label", "texts", "mean_top_share", "mean_entropy", "mean_tokens"),
           "games": ("method", "game", "measure", "fraction", "mean", "texts"),
           "attack_per_class": ("label", "texts", "flipped", "success_rate", "mean_edits"),
           "attack_detection": ("feature", "group", "mean", "texts")}
GAMES = ("hide", "reveal")
GAME_MEASURES = ("accuracy", "probability")
ATTACK_FEATURES = ("entropy", "confidence")
TEXT_CHARS = 200


@dataclass(frozen=True)
class Failure:
    """A text that raised: ``row`` in the audited dataset (its position in the full dataset when sampled)."""

    row: int
    error: str
    text: str


@dataclass(frozen=True)
class CorpusAggregates:
    """What the report and the dashboard read about a whole corpus.

    summary: metric → value (None when the jobs do not give it); histograms: rows (quantity, outcome, bin_low,
    bin_high, count) with quantity "confidence", "entropy", "saliency_top_share" or "saliency_entropy" and outcome
    "correct", "wrong" or "unlabelled"; per_class: rows (label, true, predicted, correct, mean_confidence,
    mean_entropy); confusion: (C, C) int64, rows = true class; class_tokens: rows (label, rank, word, score, docs);
    failures: the texts that raised; density: the corpus map (:class:`core.analyses.corpus.density.CorpusDensity`)
    when the ``map`` job ran; layers: rows (layer, grouping, texts, centroid_accuracy, fisher_ratio, chance) when
    ``all_layers`` was set.

    saliency_per_class: rows (label, texts, mean_top_share, mean_entropy, mean_tokens) per predicted class of the
    saliency job (top share: largest |score| / sum of |scores|; entropy: normalised entropy of |scores|).
    games: rows (method, game, measure, fraction, mean, texts): the mean hiding / revealing curve of the saliency
    method and of the random order, ``measure`` "accuracy" (against the true labels of the labelled texts; when no
    text is labelled, agreement with the intact prediction) or "probability" (of the intact prediction).
    attack_per_class: rows (label, texts, flipped, success_rate, mean_edits) per true class over the texts the
    model gets right (the attack verb's texts; per predicted class when no text is labelled); mean_edits: words
    changed per flipped text. attack_detection: rows (feature, group, mean, texts), feature "entropy" (the
    detection's classifier-entropy score) or "confidence", group "original" / "adversarial" (the flipped texts
    before / after the attack) or "resisted" (the texts the attack did not flip).
    """

    label_names: tuple[str, ...]
    summary: Mapping[str, float | None]
    histograms: tuple[tuple[str, str, float, float, int], ...]
    per_class: tuple[tuple[str, int, int, int, float | None, float | None], ...]
    confusion: np.ndarray
    class_tokens: tuple[tuple[str, int, str, float, int], ...]
    failures: tuple[Failure, ...]
    saliency_per_class: tuple[tuple[str, int, float | None, float | None, float | None], ...] = ()
    games: tuple[tuple[str, str, str, float, float, int], ...] = ()
    attack_per_class: tuple[tuple[str, int, int, float | None, float | None], ...] = ()
    attack_detection: tuple[tuple[str, str, float | None, int], ...] = ()
    density: Any = None  # core.analyses.corpus.density.CorpusDensity of the map job, else None
    layers: tuple[tuple, ...] = ()  # rows of core.analyses.corpus.layers.layer_table (embed with all_layers)

    def histogram(self, quantity: str, outcome: str) -> tuple[np.ndarray, np.ndarray]:
        """(bins + 1,) edges and (bins,) counts of one quantity for one outcome."""
        rows = [r for r in self.histograms if r[0] == quantity and r[1] == outcome]
        if not rows:
            return np.zeros(0), np.zeros(0, np.int64)
        return (np.array([r[2] for r in rows] + [rows[-1][3]]), np.array([r[4] for r in rows], np.int64))

    def words(self, label: str) -> list[tuple[str, float]]:
        return [(w, s) for lab, _, w, s, _ in sorted(self.class_tokens, key=lambda r: (r[0], r[1])) if lab == label]

    def game_curve(self, method: str, game: str, measure: str = "accuracy") -> tuple[np.ndarray, np.ndarray]:
        """(K,) fractions and (K,) means of one games curve (empty when the games did not run)."""
        return _game_curve(self.games, method, game, measure)

    def game_curves(self) -> list[Any]:
        """The mean curves as :class:`~core.analyses.saliency.faithfulness.GameCurve` (the method's, then the
        random order's; none when the games did not run)."""
        return _game_curves(self.games)


def _auroc(positive: np.ndarray, score: np.ndarray) -> float | None:
    if len(positive) == 0 or positive.all() or not positive.any():
        return None
    from sklearn.metrics import roc_auc_score

    return float(roc_auc_score(positive, score))


class Aggregator:
    """Sums batches into :class:`CorpusAggregates`; ``labels``: (n,) the true classes as the model's ids (−1 = none)."""

    def __init__(self, label_names: Sequence[str], labels: np.ndarray, jobs: Sequence[str], params: CorpusParams,
                 *, rows: np.ndarray, texts: Sequence[str]) -> None:
        self.labels, self.jobs, self.params = labels, tuple(jobs), params
        self.label_names = tuple(label_names)
        self.rows, self.texts = rows, texts  # full-dataset rows and texts, for the failure list
        n = len(labels)
        self.predicted = np.full(n, -1, np.int64)
        self.confidence = np.full(n, np.nan)
        self.entropy = np.full(n, np.nan)
        self.n_tokens = np.zeros(n, np.int64)
        self.truncated = np.zeros(n, bool)
        self.failed: dict[int, str] = {}
        C = len(label_names)
        self.mass: list[defaultdict[str, float]] = [defaultdict(float) for _ in range(C)]
        self.seen: list[Counter[str]] = [Counter() for _ in range(C)]
        self.docs = np.zeros(C, np.int64)
        # saliency: per text; games: running sums per (order, game, measure); attack: per text
        self.sal = {k: np.full(n, np.nan) for k in ("top_share", "entropy", "n_tokens")}
        self.sal_predicted = np.full(n, -1, np.int64)
        self.game_sum: dict[tuple[str, str, str], np.ndarray] = {}
        self.game_n: Counter[tuple[str, str, str]] = Counter()
        self.attack = {k: np.full(n, np.nan) for k in ATTACK_ARRAYS}

    def add(self, start: int, entries: Mapping[str, Mapping[str, np.ndarray]]) -> None:
        """The cached arrays of the batch that begins at text ``start`` (job → arrays, see ``jobs``)."""
        for job, a in entries.items():
            for r, e in zip(a["failed_row"], a["failed_error"]):
                self.failed.setdefault(start + int(r), str(e))
            if "row" not in a:
                continue
            at = start + a["row"]
            if job == "embed":
                self.n_tokens[at] = a["n_tokens"]
                self.truncated[at] = a["truncated"]
            elif job == "predict":
                self.predicted[at] = a["probs"].argmax(1)
                self.confidence[at] = a["probs"].max(1)
            elif job == "entropy":
                self.entropy[at] = a["entropy"]
            elif job == "saliency":
                for k in self.sal:
                    self.sal[k][at] = a[k]
                self.sal_predicted[at] = a["predicted"]
            elif job == "games":
                self._add_games(at, a)
            elif job == "attack":
                for k in ATTACK_ARRAYS:
                    self.attack[k][at] = a[k]
            elif job == "class-tokens":
                cls = dict(zip(a["row"].tolist(), a["predicted"].tolist()))  # batch row → predicted class
                np.add.at(self.docs, a["predicted"], 1)
                words: dict[int, set[str]] = defaultdict(set)
                for r, w, s in zip(a["word_row"].tolist(), a["word"].tolist(), a["share"].tolist()):
                    self.mass[cls[r]][w] += s
                    words[r].add(w)
                for r, ws in words.items():
                    self.seen[cls[r]].update(ws)

    def _add_games(self, at: np.ndarray, a: Mapping[str, np.ndarray]) -> None:
        """Sum one batch's per-text games into the curves; accuracy against the true labels of the labelled texts
        (agreement with the intact prediction when the corpus has no labels)."""
        labels = self.labels[at]
        if (self.labels >= 0).any():
            known, truth = labels >= 0, labels
        else:
            known, truth = np.ones(len(at), bool), a["target"]
        for order, prefix in ((self.params.saliency_method, ""), ("random", "random_")):
            for game in GAMES:
                pred, prob = a[f"{prefix}{game}_predicted"], a[f"{prefix}{game}_probability"]
                for measure, values, rows in (("accuracy", pred[known] == truth[known, None], known.sum()),
                                              ("probability", prob, len(at))):
                    key = (order, game, measure)
                    self.game_sum[key] = self.game_sum.get(key, 0) + values.sum(0, dtype=np.float64)
                    self.game_n[key] += int(rows)

    def finish(self, *, idf: Any = None) -> CorpusAggregates:
        """The aggregates; ``idf`` (:class:`core.analyses.saliency.class_tokens.IDF`) weights the class tokens."""
        n, C, names = len(self.labels), len(self.label_names), self.label_names
        ok = np.ones(n, bool)
        ok[list(self.failed)] = False
        labelled = (self.labels >= 0) & ok
        has_pred = "predict" in self.jobs
        correct = labelled & (self.predicted == self.labels)
        wrong = labelled & ~correct & has_pred
        summary: dict[str, float | None] = {"texts": float(n), "failed": float(len(self.failed)),
                                            "labelled": float(labelled.sum())}
        if "embed" in self.jobs:
            summary["mean_tokens"] = float(self.n_tokens[ok].mean()) if ok.any() else None
            summary["truncated_share"] = float(self.truncated[ok].mean()) if ok.any() else None
        if has_pred:
            summary["accuracy"] = float(correct[labelled].mean()) if labelled.any() else None
            summary["mean_confidence"] = float(np.nanmean(self.confidence[ok])) if ok.any() else None
        if "entropy" in self.jobs:
            m = ok & ~np.isnan(self.entropy)
            summary["mean_entropy"] = float(self.entropy[m].mean()) if m.any() else None
            summary["auroc_entropy_error"] = (_auroc(~correct[labelled & m], self.entropy[labelled & m])
                                              if has_pred else None)
        hists: list[tuple[str, str, float, float, int]] = []
        edges = np.linspace(0.0, 1.0, self.params.bins + 1)
        outcomes = {"correct": correct, "wrong": wrong, "unlabelled": ok & ~labelled} if has_pred else \
            {"unlabelled": ok}
        sal = "saliency" in self.jobs
        # the saliency job's own predictions split its texts when the predict job did not run
        sal_outcomes = outcomes if has_pred else self._outcomes(self.sal_predicted, ok)
        if sal:
            summary.update(self._saliency_summary(ok, sal_outcomes))
        for quantity, values, wanted, split in (
                ("confidence", self.confidence, has_pred, outcomes),
                ("entropy", self.entropy, "entropy" in self.jobs, outcomes),
                ("saliency_top_share", self.sal["top_share"], sal, sal_outcomes),
                ("saliency_entropy", self.sal["entropy"], sal, sal_outcomes)):
            if not wanted:
                continue
            for outcome, mask in split.items():
                v = values[mask & ~np.isnan(values)]
                counts, _ = np.histogram(np.clip(v, 0, 1), bins=edges)
                hists += [(quantity, outcome, float(edges[b]), float(edges[b + 1]), int(counts[b]))
                          for b in range(len(counts))]
        confusion = np.zeros((C, C), np.int64)
        per_class: list[tuple[str, int, int, int, float | None, float | None]] = []
        if has_pred:
            np.add.at(confusion, (self.labels[labelled], self.predicted[labelled]), 1)
            for c in range(C):
                pm = ok & (self.predicted == c)
                ent = self.entropy[pm & ~np.isnan(self.entropy)]
                per_class.append((names[c], int((labelled & (self.labels == c)).sum()), int(pm.sum()),
                                  int(confusion[c, c]), float(self.confidence[pm].mean()) if pm.any() else None,
                                  float(ent.mean()) if len(ent) else None))
        tokens: list[tuple[str, int, str, float, int]] = []
        if "class-tokens" in self.jobs and idf is not None:
            from core.analyses.saliency.class_tokens import top_class_words

            words, scores = top_class_words(self.mass, self.seen, idf=idf, top_k=self.params.top_k,
                                            min_docs=self.params.min_docs)
            tokens = [(names[c], rank + 1, w, float(s), int(self.docs[c]))
                      for c in range(C) for rank, (w, s) in enumerate(zip(words[c], scores[c]))]
        failures = tuple(Failure(int(self.rows[i]), utf8_safe(e), utf8_safe(self.texts[i])[:TEXT_CHARS])
                         for i, e in sorted(self.failed.items()))
        sal_classes = self._saliency_per_class(ok) if sal else ()
        games = self._games(summary) if "games" in self.jobs else ()
        attack_classes, detection = self._attack(ok, summary) if "attack" in self.jobs else ((), ())
        return CorpusAggregates(names, summary, tuple(hists), tuple(per_class), confusion, tuple(tokens), failures,
                                sal_classes, games, attack_classes, detection)

    def _outcomes(self, predicted: np.ndarray, ok: np.ndarray) -> dict[str, np.ndarray]:
        """correct / wrong / unlabelled masks of the texts in ``ok`` under ``predicted`` (−1: none)."""
        labelled = ok & (self.labels >= 0) & (predicted >= 0)
        right = labelled & (predicted == self.labels)
        return {"correct": right, "wrong": labelled & ~right, "unlabelled": ok & ~labelled & (predicted >= 0)}

    def _saliency_summary(self, ok: np.ndarray, split: Mapping[str, np.ndarray]) -> dict[str, float | None]:
        top, ent = self.sal["top_share"], self.sal["entropy"]
        m = ok & ~np.isnan(ent)
        err, right = split["wrong"] & m, split["correct"] & m
        return {"saliency_mean_top_share": _mean(top[m]), "saliency_mean_entropy": _mean(ent[m]),
                "saliency_mean_tokens": _mean(self.sal["n_tokens"][m]),
                "auroc_saliency_entropy_error": _auroc(err[err | right], ent[err | right])}

    def _saliency_per_class(self, ok: np.ndarray) -> tuple[tuple[str, int, float | None, float | None,
                                                                 float | None], ...]:
        out = []
        for c, name in enumerate(self.label_names):
            m = ok & (self.sal_predicted == c)
            out.append((name, int(m.sum()), _mean(self.sal["top_share"][m]), _mean(self.sal["entropy"][m]),
                        _mean(self.sal["n_tokens"][m])))
        return tuple(out)

    def _games(self, summary: dict[str, float | None]) -> tuple[tuple[str, str, str, float, float, int], ...]:
        """The mean curves as table rows; their areas (:class:`~core.analyses.saliency.faithfulness.GameCurve`'s)
        into ``summary`` as games_* (the method) and games_random_*, and games_against_labels (1: accuracy is
        against the true labels, 0: agreement with the intact predictions)."""
        from core.analyses.saliency.faithfulness import LEVELS

        levels = np.asarray(LEVELS)
        rows: list[tuple[str, str, str, float, float, int]] = []
        for order in (self.params.saliency_method, "random"):
            for game in GAMES:
                for measure in GAME_MEASURES:
                    k = self.game_n[(order, game, measure)]
                    mean = self.game_sum[(order, game, measure)] / k if k else np.full(len(levels), np.nan)
                    rows += [(order, game, measure, float(f), float(v), int(k)) for f, v in zip(levels, mean)]
        for curve, prefix in zip(_game_curves(rows), ("games_", "games_random_")):
            for name in ("hide_auc", "reveal_auc", "gap", "hide_auc_prob", "reveal_auc_prob"):
                v = float(getattr(curve, name))
                summary[prefix + name] = None if np.isnan(v) else v
        summary["games_against_labels"] = float((self.labels >= 0).any())
        return tuple(rows)

    def _attack(self, ok: np.ndarray, summary: dict[str, float | None]
                ) -> tuple[tuple[tuple[str, int, int, float | None, float | None], ...],
                           tuple[tuple[str, str, float | None, int], ...]]:
        """Success rates (into ``summary`` as attack_*), the per-class table and the detection-feature means."""
        a = self.attack
        done = ok & ~np.isnan(a["flipped"])
        flipped = done & (a["flipped"] == 1)
        pred = np.where(done, a["predicted"], -1).astype(np.int64)
        right = done & (self.labels >= 0) & (pred == self.labels)
        n_flip = int(flipped.sum())
        summary.update({
            "attack_texts": float(done.sum()), "attack_flipped": float(n_flip),
            "attack_success_rate": float(n_flip / done.sum()) if done.any() else None,
            "attack_success_rate_correct": float(flipped[right].sum() / right.sum()) if right.any() else None,
            "attack_mean_edits": _mean(a["edits"][flipped]),
            "attack_mean_share_changed": _mean(a["edits"][flipped] / np.maximum(1, a["n_words"][flipped])),
            "attack_queries_per_success": float(a["queries"][done].sum() / n_flip) if n_flip else None,
            "attack_mean_similarity": _mean(a["similarity"][flipped]),
            "attack_auroc_entropy": _auroc(np.r_[np.zeros(n_flip, bool), np.ones(n_flip, bool)],
                                           np.r_[a["entropy_original"][flipped], a["entropy_adversarial"][flipped]])})
        # the attack verb's texts: those the model gets right, by true class; by predicted class without labels
        pool, by = (right, self.labels) if (self.labels >= 0).any() else (done, pred)
        classes = []
        for c, name in enumerate(self.label_names):
            m = pool & (by == c)
            f = m & flipped
            classes.append((name, int(m.sum()), int(f.sum()), float(f.sum() / m.sum()) if m.any() else None,
                            _mean(a["edits"][f])))
        resisted = done & ~flipped
        detection = [(feature, group, _mean(a[f"{feature}_{when}"][mask]), int(mask.sum()))
                     for feature in ATTACK_FEATURES
                     for group, when, mask in (("original", "original", flipped),
                                               ("adversarial", "adversarial", flipped),
                                               ("resisted", "original", resisted))]
        return tuple(classes), tuple(detection)


ATTACK_ARRAYS = ("flipped", "edits", "n_words", "queries", "similarity", "predicted", "entropy_original",
                 "entropy_adversarial", "confidence_original", "confidence_adversarial")


def _game_curve(rows: Sequence[tuple[str, str, str, float, float, int]], method: str, game: str,
                measure: str) -> tuple[np.ndarray, np.ndarray]:
    pts = sorted((r[3], r[4]) for r in rows if r[:3] == (method, game, measure))
    return np.array([f for f, _ in pts]), np.array([m for _, m in pts])


def _game_curves(rows: Sequence[tuple[str, str, str, float, float, int]]) -> list[Any]:
    """The games table's rows as GameCurves, in the table's order of methods."""
    if not rows:
        return []
    from core.analyses.saliency.faithfulness import GameCurve

    out = []
    for method in dict.fromkeys(r[0] for r in rows):
        (levels, hide_acc), hide_prob, reveal_acc, reveal_prob = (
            _game_curve(rows, method, "hide", "accuracy"), _game_curve(rows, method, "hide", "probability")[1],
            _game_curve(rows, method, "reveal", "accuracy")[1], _game_curve(rows, method, "reveal", "probability")[1])
        out.append(GameCurve(method, None, levels, hide_acc, hide_prob, reveal_acc, reveal_prob, 0.0))
    return out


def _mean(values: np.ndarray) -> float | None:
    v = np.asarray(values, np.float64)
    v = v[~np.isnan(v)]
    return float(v.mean()) if len(v) else None


def write_aggregates(agg: CorpusAggregates, folder: Path, meta: Mapping[str, Any]) -> Path:
    """The Parquet tables of ``agg`` and ``run.json`` (``meta``) in ``folder`` (each file written atomically)."""
    import pandas as pd

    from core.foundation.files import atomic_write_bytes, atomic_write_text

    folder.mkdir(parents=True, exist_ok=True)
    C = len(agg.label_names)
    frames = {
        "summary": pd.DataFrame({"metric": list(agg.summary), "value": [agg.summary[k] for k in agg.summary]},
                                columns=["metric", "value"]).astype({"value": "float64"}),
        "histograms": pd.DataFrame(list(agg.histograms), columns=["quantity", "outcome", "bin_low", "bin_high",
                                                                  "count"]),
        "per_class": pd.DataFrame(list(agg.per_class), columns=["label", "true", "predicted", "correct",
                                                                "mean_confidence", "mean_entropy"]),
        "confusion": pd.DataFrame([(agg.label_names[i], agg.label_names[j], int(agg.confusion[i, j]))
                                   for i in range(C) for j in range(C)], columns=["true", "predicted", "count"]),
        "class_tokens": pd.DataFrame(list(agg.class_tokens), columns=["label", "rank", "word", "score", "docs"]),
        "saliency_per_class": pd.DataFrame(list(agg.saliency_per_class), columns=list(COLUMNS["saliency_per_class"])),
        "games": pd.DataFrame(list(agg.games), columns=list(COLUMNS["games"])),
        "attack_per_class": pd.DataFrame(list(agg.attack_per_class), columns=list(COLUMNS["attack_per_class"])),
        "attack_detection": pd.DataFrame(list(agg.attack_detection), columns=list(COLUMNS["attack_detection"])),
        "failures": pd.DataFrame([(f.row, f.error, f.text) for f in agg.failures], columns=["row", "error", "text"]),
    }
    if agg.layers:
        from core.analyses.corpus.layers import LAYER_COLUMNS

        frames["layers"] = pd.DataFrame(list(agg.layers), columns=LAYER_COLUMNS)
    else:  # an earlier run's table in the same folder must not be read as this one's
        (folder / "layers.parquet").unlink(missing_ok=True)
    if agg.density is None:
        from core.analyses.corpus.density import remove_density

        remove_density(folder)
    for name, df in frames.items():
        atomic_write_bytes(folder / f"{name}.parquet", df.to_parquet(index=False))
    atomic_write_text(folder / "run.json", json.dumps({**meta, "label_names": list(agg.label_names)}, indent=1,
                                                      default=str))
    return folder


def read_aggregates(folder: Path | str) -> CorpusAggregates:
    """The aggregates written by :func:`write_aggregates` (never the per-text arrays), with the corpus map's when
    the ``map`` job wrote them."""
    import pandas as pd

    from core.analyses.corpus.density import read_density

    folder = Path(folder)
    meta = json.loads((folder / "run.json").read_text("utf-8"))
    names = tuple(meta["label_names"])
    t = {name: pd.read_parquet(folder / f"{name}.parquet") if (folder / f"{name}.parquet").exists()
         or name not in LATER_TABLES else pd.DataFrame(columns=list(COLUMNS[name])) for name in TABLES}
    idx = {n: i for i, n in enumerate(names)}
    confusion = np.zeros((len(names), len(names)), np.int64)
    for r in t["confusion"].itertuples(index=False):
        confusion[idx[r.true], idx[r.predicted]] = r.count

    def none(v: Any) -> Any:
        return None if v is None or (isinstance(v, float) and np.isnan(v)) else v

    return CorpusAggregates(
        names, {r.metric: none(float(r.value)) for r in t["summary"].itertuples(index=False)},
        tuple((r.quantity, r.outcome, float(r.bin_low), float(r.bin_high), int(r.count))
              for r in t["histograms"].itertuples(index=False)),
        tuple((r.label, int(r.true), int(r.predicted), int(r.correct), none(r.mean_confidence), none(r.mean_entropy))
              for r in t["per_class"].itertuples(index=False)),
        confusion,
        tuple((r.label, int(r.rank), r.word, float(r.score), int(r.docs)) for r in t["class_tokens"].itertuples(index=False)),
        tuple(Failure(int(r.row), r.error, r.text) for r in t["failures"].itertuples(index=False)),
        tuple((r.label, int(r.texts), none(r.mean_top_share), none(r.mean_entropy), none(r.mean_tokens))
              for r in t["saliency_per_class"].itertuples(index=False)),
        tuple((r.method, r.game, r.measure, float(r.fraction), float(r.mean), int(r.texts))
              for r in t["games"].itertuples(index=False)),
        tuple((r.label, int(r.texts), int(r.flipped), none(r.success_rate), none(r.mean_edits))
              for r in t["attack_per_class"].itertuples(index=False)),
        tuple((r.feature, r.group, none(r.mean), int(r.texts)) for r in t["attack_detection"].itertuples(index=False)),
        read_density(folder, names),
        tuple((int(r.layer), r.grouping, int(r.texts), float(r.centroid_accuracy), float(r.fisher_ratio),
               float(r.chance)) for r in pd.read_parquet(folder / "layers.parquet").itertuples(index=False))
        if (folder / "layers.parquet").exists() else ())


__all__ = ["Aggregator", "CorpusAggregates", "Failure", "TABLES", "read_aggregates", "write_aggregates"]
