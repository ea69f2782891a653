"""Corpus-level aggregates: summed batch by batch, written as Parquet beside the cache, read by reports and pages.

:class:`Aggregator` takes the cached arrays of one batch at a time (it never holds the embeddings, only a few
numbers per text), :meth:`Aggregator.finish` returns :class:`CorpusAggregates`, :func:`write_aggregates` stores
them as Parquet tables in the run's folder and :func:`read_aggregates` reads them back:

``summary.parquet`` (metric, value), ``histograms.parquet`` (quantity, outcome, bin_low, bin_high, count),
``per_class.parquet`` (label, true, predicted, correct, mean_confidence, mean_entropy), ``confusion.parquet``
(true, predicted, count), ``class_tokens.parquet`` (label, rank, word, score, docs) and ``failures.parquet``
(row, error, text).
"""
from __future__ import annotations

import json
from collections import Counter, defaultdict
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Mapping, Sequence

import numpy as np

from core.analyses.corpus.params import CorpusParams

TABLES = ("summary", "histograms", "per_class", "confusion", "class_tokens", "failures")
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
    bin_high, count) with quantity "confidence" or "entropy" and outcome "correct", "wrong" or "unlabelled";
    per_class: rows (label, true, predicted, correct, mean_confidence, mean_entropy); confusion: (C, C) int64,
    rows = true class; class_tokens: rows (label, rank, word, score, docs); failures: the texts that raised;
    density: the corpus map (:class:`core.analyses.corpus.density.CorpusDensity`) when the ``map`` job ran;
    layers: rows (layer, grouping, texts, centroid_accuracy, fisher_ratio, chance) when ``all_layers`` was set.
    """

    label_names: tuple[str, ...]
    summary: Mapping[str, float | None]
    histograms: tuple[tuple[str, str, float, float, int], ...]
    per_class: tuple[tuple[str, int, int, int, float | None, float | None], ...]
    confusion: np.ndarray
    class_tokens: tuple[tuple[str, int, str, float, int], ...]
    failures: tuple[Failure, ...]
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
            elif job == "class-tokens":
                cls = dict(zip(a["row"].tolist(), a["predicted"].tolist()))  # batch row → predicted class
                np.add.at(self.docs, a["predicted"], 1)
                words: dict[int, set[str]] = defaultdict(set)
                for r, w, s in zip(a["word_row"].tolist(), a["word"].tolist(), a["share"].tolist()):
                    self.mass[cls[r]][w] += s
                    words[r].add(w)
                for r, ws in words.items():
                    self.seen[cls[r]].update(ws)

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
        for quantity, values, wanted in (("confidence", self.confidence, has_pred),
                                         ("entropy", self.entropy, "entropy" in self.jobs)):
            if not wanted:
                continue
            for outcome, mask in outcomes.items():
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
        failures = tuple(Failure(int(self.rows[i]), _printable(e), _printable(self.texts[i])[:TEXT_CHARS])
                         for i, e in sorted(self.failed.items()))
        return CorpusAggregates(names, summary, tuple(hists), tuple(per_class), confusion, tuple(tokens), failures)


def _printable(text: str) -> str:
    """The text with lone surrogates (which Parquet and JSON cannot hold as UTF-8) shown as escapes."""
    return text.encode("utf-8", "backslashreplace").decode("utf-8")


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
        "failures": pd.DataFrame([(f.row, f.error, f.text) for f in agg.failures], columns=["row", "error", "text"]),
    }
    if agg.layers:
        from core.analyses.corpus.layers import LAYER_COLUMNS

        frames["layers"] = pd.DataFrame(list(agg.layers), columns=LAYER_COLUMNS)
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
    t = {name: pd.read_parquet(folder / f"{name}.parquet") for name in TABLES}
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
        read_density(folder, names),
        tuple((int(r.layer), r.grouping, int(r.texts), float(r.centroid_accuracy), float(r.fisher_ratio),
               float(r.chance)) for r in pd.read_parquet(folder / "layers.parquet").itertuples(index=False))
        if (folder / "layers.parquet").exists() else ())


__all__ = ["Aggregator", "CorpusAggregates", "Failure", "TABLES", "read_aggregates", "write_aggregates"]
