"""Clusters of a model's embeddings, named by their topic words and joined to the classifier's errors.

The BERTopic pipeline (Grootendorst 2022): (optionally) reduce, cluster, name the topics —

* reduce: none (default; fast and deterministic) or UMAP to 5 dimensions (cosine, seeded).
* cluster: k-means, agglomerative (Ward) or HDBSCAN (scikit-learn's) on L2-normalised pooled
  embeddings, so distances are cosine geometry; ``n_clusters="auto"`` picks the k in
  2..min(12, n // 10) with the best silhouette; HDBSCAN finds its own number and calls the rest noise.
* name: class-based TF-IDF (c-TF-IDF) over each cluster's texts joined into one document,
  ``W_{t,c} = tf_{t,c} · log(1 + A / f_t)`` with tf L1-normalised per class, A the average number
  of words per class and f_t the frequency of term t over all classes; optionally re-ranked by the
  cosine similarity of each candidate word's embedding to the cluster centroid (KeyBERTInspired).

:func:`run_topics` adds, per cluster, the true-label mix, the prediction mix, the error rate and the
mean confidence, so one sees which topics the classifier gets wrong.
"""
from __future__ import annotations

import time
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any, Callable, Sequence

import numpy as np

from core.foundation.errors import BackboneLensError
from core.foundation.params import Params, param
from core.foundation.progress import Progress
from core.foundation.registry import Registry
from core.analyses.transformer.layers import MAP_METHODS, RowLabels, row_labels

if TYPE_CHECKING:  # pragma: no cover
    from core.data.datasets import TextDataset
    from core.data.sampling import Sample
    from core.foundation.cache import ArrayCache
    from core.models.loading import LoadedModel

REDUCTIONS = ("none", "umap")
MIN_TEXTS = 10
MAX_AUTO_K = 12
# words of two or more letters (no digits, no underscores)
TOKEN_PATTERN = r"(?u)\b[^\W\d_]{2,}\b"
# the 2-D maps the clusters are drawn on (the layer maps' methods), UMAP first: the default for clusters
TOPIC_MAPS = ("umap", *(m for m in MAP_METHODS.names() if m != "umap"))


class TopicsError(BackboneLensError):
    """Inputs that cannot be clustered or named (too few texts, bad k, unknown method)."""


# ----------------------------------------------------------------------------- c-TF-IDF


# Words that carry no topic in news and tweets (reporting verbs, honorifics, URL and retweet debris); scikit-learn's
# English list lacks them, and without them "said" names most BBC clusters and "http"/"rt" most tweet clusters.
EXTRA_STOP_WORDS = ("said", "says", "say", "mr", "mrs", "ms", "http", "https", "www", "com", "rt", "amp", "via")


def default_vectorizer():
    """The CountVectorizer c-TF-IDF uses unless given one: English stop words (scikit-learn's list plus
    ``EXTRA_STOP_WORDS``), lowercase, words of ≥ 2 letters."""
    from sklearn.feature_extraction.text import ENGLISH_STOP_WORDS, CountVectorizer

    return CountVectorizer(stop_words=sorted(ENGLISH_STOP_WORDS | set(EXTRA_STOP_WORDS)), lowercase=True,
                           token_pattern=TOKEN_PATTERN, ngram_range=(1, 1), min_df=1)


def class_tfidf(docs_per_cluster: Sequence[Sequence[str]], *, vectorizer: Any = None
                ) -> tuple[np.ndarray, np.ndarray]:
    """c-TF-IDF of K clusters. Returns (words: (V,) str, scores: (K, V) float64).

    Each cluster's documents are joined into one class document; ``vectorizer`` (default
    :func:`default_vectorizer`) is fitted on the K class documents.
    """
    if len(docs_per_cluster) == 0:
        raise TopicsError("c-TF-IDF needs at least one cluster of texts.")
    vec = vectorizer if vectorizer is not None else default_vectorizer()
    class_docs = [" ".join(str(d) for d in docs) for docs in docs_per_cluster]
    try:
        counts = vec.fit_transform(class_docs)
    except ValueError:  # sklearn: "empty vocabulary; perhaps the documents only contain stop words"
        raise TopicsError("The texts contain no words to name topics with (only stop words, numbers or "
                          "one-letter tokens).") from None
    C = np.asarray(counts.toarray(), dtype=np.float64)  # (K, V)
    words = np.asarray(vec.get_feature_names_out(), dtype=str)
    per_class = C.sum(1, keepdims=True)
    tf = np.divide(C, per_class, out=np.zeros_like(C), where=per_class > 0)
    f_t = C.sum(0)  # every vocabulary word occurs at least once
    A = C.sum() / C.shape[0]
    return words, tf * np.log1p(A / f_t)[None, :]


def top_words(words: np.ndarray, scores: np.ndarray, top_n: int) -> list[tuple[str, float]]:
    """The ``top_n`` words of one cluster's score row (V,), best first; ties alphabetical; zero scores left out."""
    order = np.lexsort((words, -scores))
    return [(str(words[i]), float(scores[i])) for i in order[:top_n] if scores[i] > 0]


def keybert_rerank(words: np.ndarray, word_scores: np.ndarray, centroid: np.ndarray,
                   embed_fn: Callable[[list[str]], np.ndarray], top_n: int, *, candidates: int = 30
                   ) -> list[tuple[str, float]]:
    """KeyBERTInspired: the ``candidates`` best c-TF-IDF words re-ordered by cosine similarity to ``centroid``.

    words: (V,); word_scores: (V,) one cluster's c-TF-IDF; centroid: (d,) in the space ``embed_fn``
    maps words into ((m,) list → (m, d)). Returns (word, cosine similarity), most similar first.
    """
    cand = [w for w, _ in top_words(words, word_scores, candidates)]
    if not cand:
        return []
    E = np.asarray(embed_fn(cand), dtype=np.float64)
    E = E / np.maximum(np.linalg.norm(E, axis=1, keepdims=True), 1e-12)
    c = np.asarray(centroid, dtype=np.float64)
    c = c / max(float(np.linalg.norm(c)), 1e-12)
    sim = E @ c
    # stable sort: equal similarities keep the c-TF-IDF order
    order = np.argsort(-sim, kind="stable")[:top_n]
    return [(cand[i], float(sim[i])) for i in order]


# ----------------------------------------------------------------------------- clustering


@dataclass(frozen=True, eq=False)
class Clustering:
    """Cluster labels (n,) int64 (−1 = HDBSCAN noise), renumbered 0..k−1 by size (largest first).

    k_scores: silhouette per k tried when k was chosen automatically (else empty);
    silhouette: of the labels kept (noise left out), None when fewer than two clusters.
    """

    labels: np.ndarray
    k: int
    silhouette: float | None
    k_scores: dict[int, float]
    method: str
    reduce: str
    space: np.ndarray = field(repr=False)  # (n, d') the points clustered (normalised or UMAP)


@dataclass(frozen=True)
class ClusteringMethod:
    """``fit(Z, k, seed, min_cluster_size)`` → (n,) cluster labels of the points Z (n, d') (−1 = noise);
    ``takes_k``: whether it is told the number of clusters (else it finds its own and ``k`` is None)."""

    fit: Callable[[np.ndarray, int | None, int, int], np.ndarray]
    takes_k: bool


def _kmeans(Z: np.ndarray, k: int | None, seed: int, min_cluster_size: int) -> np.ndarray:
    from sklearn.cluster import KMeans

    return KMeans(n_clusters=k, n_init=10, random_state=seed).fit_predict(Z)


def _agglomerative(Z: np.ndarray, k: int | None, seed: int, min_cluster_size: int) -> np.ndarray:
    from sklearn.cluster import AgglomerativeClustering

    # Ward on unit vectors: squared Euclidean = 2 − 2·cos, the same objective as (spherical) k-means
    return AgglomerativeClustering(n_clusters=k, linkage="ward").fit_predict(Z)


def _hdbscan(Z: np.ndarray, k: int | None, seed: int, min_cluster_size: int) -> np.ndarray:
    from sklearn.cluster import HDBSCAN

    return HDBSCAN(min_cluster_size=min_cluster_size, metric="euclidean", copy=True).fit_predict(Z)


CLUSTERING: Registry[ClusteringMethod] = Registry("clustering method", error=TopicsError)
CLUSTERING.add("kmeans", ClusteringMethod(_kmeans, takes_k=True), title="k-means")
CLUSTERING.add("agglomerative", ClusteringMethod(_agglomerative, takes_k=True), title="agglomerative (Ward)")
CLUSTERING.add("hdbscan", ClusteringMethod(_hdbscan, takes_k=False), title="HDBSCAN")


def _check_method(method: str, reduce: str) -> None:
    CLUSTERING.get(method)
    if reduce not in REDUCTIONS:
        raise TopicsError(f"Unknown reduction '{reduce}'; choose one of {', '.join(REDUCTIONS)}.")


def check_n_clusters(n_clusters: int | str, n: int, method: str) -> int | str:
    """``"auto"`` or an int with 2 ≤ k < n; HDBSCAN takes only ``"auto"``."""
    if n < MIN_TEXTS:
        raise TopicsError(f"Clustering needs at least {MIN_TEXTS} texts, got {n}.")
    if isinstance(n_clusters, str):
        if n_clusters != "auto":
            raise TopicsError(f"The number of clusters is a whole number or 'auto', got '{n_clusters}'.")
        return "auto"
    if not CLUSTERING.get(method).takes_k:
        raise TopicsError(f"{CLUSTERING.title(method)} finds its own number of clusters; leave the number of "
                          "clusters at 'auto'.")
    k = int(n_clusters)
    if k < 2:
        raise TopicsError(f"Ask for at least 2 clusters, got {k}.")
    if k >= n:
        raise TopicsError(f"Asked for {k} clusters of {n} texts; ask for fewer clusters than texts.")
    return k


def normalise(X: np.ndarray) -> np.ndarray:
    """X (n, d) with unit rows (float64)."""
    X = np.asarray(X, dtype=np.float64)
    return X / np.maximum(np.linalg.norm(X, axis=1, keepdims=True), 1e-12)


def _renumber(labels: np.ndarray) -> np.ndarray:
    """Cluster ids by size, largest first (ties: the cluster met first); −1 stays −1."""
    ids = [c for c in dict.fromkeys(labels.tolist()) if c >= 0]
    ids.sort(key=lambda c: -int((labels == c).sum()))  # sort is stable: ties keep first-met order
    lut = {c: i for i, c in enumerate(ids)}
    return np.array([lut.get(c, -1) for c in labels.tolist()], dtype=np.int64)


def _silhouette(Z: np.ndarray, labels: np.ndarray, metric: str) -> float | None:
    from sklearn.metrics import silhouette_score

    keep = labels >= 0
    n_lab = len(np.unique(labels[keep]))
    if n_lab < 2 or n_lab >= keep.sum():
        return None
    return float(silhouette_score(Z[keep], labels[keep], metric=metric))


def reduce_umap(Xn: np.ndarray, *, seed: int = 0, n_components: int = 5) -> np.ndarray:
    """UMAP to ``n_components`` dimensions with cosine distances (BERTopic's default reduction). (n, 5)."""
    import umap

    n = Xn.shape[0]
    red = umap.UMAP(n_components=min(n_components, n - 2), n_neighbors=min(15, n - 1), min_dist=0.0,
                    metric="cosine", random_state=seed, init="spectral" if n >= 50 else "random")
    return np.asarray(red.fit_transform(Xn), dtype=np.float64)


def cluster(X: np.ndarray, method: str = "kmeans", n_clusters: int | str = "auto", *, seed: int = 0,
            reduce: str = "none", min_cluster_size: int | None = None) -> Clustering:
    """Cluster X (n, d) in cosine geometry; see :class:`Clustering`.

    k-means and agglomerative take ``n_clusters`` (an int, or ``"auto"``: the best silhouette over
    k = 2..min(12, n // 10)); HDBSCAN (``min_cluster_size`` default max(5, n // 50)) finds its own.
    """
    _check_method(method, reduce)
    X = np.asarray(X)
    if X.ndim != 2:
        raise TopicsError(f"Embeddings must be a 2-D array (texts × dimensions), got shape {X.shape}.")
    n = X.shape[0]
    k_req = check_n_clusters(n_clusters, n, method)
    Xn = normalise(X)
    if reduce == "umap":
        Z, metric = reduce_umap(Xn, seed=seed), "euclidean"
    else:
        Z, metric = Xn, "cosine"
    k_scores: dict[int, float] = {}
    fit = CLUSTERING.get(method).fit
    mcs = int(min_cluster_size or max(5, n // 50))
    if not CLUSTERING.get(method).takes_k:
        if mcs < 2:
            raise TopicsError(f"{CLUSTERING.title(method)}'s smallest cluster size must be at least 2, got {mcs}.")
        labels = fit(Z, None, seed, mcs)
    elif k_req == "auto":
        best = None
        for k in range(2, max(2, min(MAX_AUTO_K, n // 10)) + 1):
            lab = fit(Z, k, seed, mcs)
            s = _silhouette(Z, lab, metric)
            if s is None:  # fewer distinct points than k: no valid clustering at this k
                continue
            k_scores[k] = s
            if best is None or s > best[0]:
                best = (s, lab)
        if best is None:
            raise TopicsError("The embeddings do not separate into clusters (too few distinct points).")
        labels = best[1]
    else:
        labels = fit(Z, int(k_req), seed, mcs)
    labels = _renumber(np.asarray(labels))
    k = int(labels.max() + 1) if (labels >= 0).any() else 0
    return Clustering(labels=labels, k=k, silhouette=_silhouette(Z, labels, metric), k_scores=k_scores,
                      method=method, reduce=reduce, space=Z)


# ----------------------------------------------------------------------------- topics of a model


@dataclass(frozen=True, eq=False)
class Topic:
    """One cluster: its words, who is in it and how the classifier does on it.

    words/word_scores: (top_n,) c-TF-IDF scores, or cosine similarities when re-ranked;
    label_mix: true-label name → count (dataset's names); prediction_mix: predicted name → count;
    error_rate: share of labelled members predicted wrongly (None: no head or no labels);
    members: (size,) row indices; examples: the 3 members nearest the centroid.
    """

    id: int
    size: int
    words: tuple[str, ...]
    word_scores: np.ndarray
    label_mix: dict[str, int]
    prediction_mix: dict[str, int] | None
    error_rate: float | None
    n_scored: int
    confidence: float | None
    members: np.ndarray = field(repr=False)
    examples: tuple[str, ...] = ()
    example_indices: tuple[int, ...] = ()

    def to_json(self) -> dict[str, Any]:
        return {"id": self.id, "size": self.size,
                "top_words": [{"word": w, "score": round(float(s), 6)} for w, s in zip(self.words, self.word_scores)],
                "label_mix": dict(self.label_mix), "prediction_mix": self.prediction_mix,
                "error_rate": None if self.error_rate is None else round(self.error_rate, 6),
                "errors_of": self.n_scored,
                "confidence": None if self.confidence is None else round(self.confidence, 6),
                "examples": list(self.examples)}


@dataclass(frozen=True)
class TopicsParams(Params):
    """What decides the topics apart from the model and the sample (its seed seeds the clustering)."""

    method: str = param("kmeans", "clustering: kmeans, agglomerative or hdbscan", type="choice",
                        choices=CLUSTERING.names())
    n_clusters: int | None = param(None, "number of clusters (default: chosen by the best silhouette over "
                                   "k = 2 … min(12, n / 10); HDBSCAN always finds its own)", type="int", minimum=2)
    top_n: int = param(10, "topic words per cluster", minimum=1, maximum=30)
    rerank: bool = param(False, "re-rank each cluster's best c-TF-IDF words by the similarity of their embedding to "
                         "the cluster's centre (KeyBERTInspired)")
    reduce: str = param("none", "cluster the embeddings as they are (none) or after UMAP to 5 dimensions",
                        type="choice", choices=REDUCTIONS)

    @property
    def k(self) -> int | str:
        """The number of clusters as :func:`cluster` takes it: a whole number or ``"auto"``."""
        return "auto" if self.n_clusters is None else int(self.n_clusters)


@dataclass(frozen=True, eq=False)
class TopicsResult:
    """Topics of ``n`` texts. labels: (n,) cluster ids (−1 noise); label_cluster_table: (k, L) counts of
    true labels (``label_names``, the dataset's) per cluster; predictions: (n,) or None (bare encoder).

    From :func:`run_topics` also: the ``sample`` of texts and ``rows``, what to colour each text by (true and
    predicted names, correctness, confidence)."""

    model_ref: str
    dataset_name: str
    method: str
    reduce: str
    rerank: bool
    n: int
    k: int
    labels: np.ndarray
    topics: tuple[Topic, ...]
    noise: int
    label_names: tuple[str, ...]
    label_cluster_table: np.ndarray
    predictions: np.ndarray | None
    error_rate: float | None
    silhouette: float | None
    k_scores: dict[int, float]
    notes: tuple[str, ...]
    seconds: float
    params: TopicsParams
    sample: "Sample | None" = None
    rows: RowLabels | None = None

    @property
    def seed(self) -> int:
        return 0 if self.sample is None else int(self.sample.seed)

    @property
    def has_noise(self) -> bool:
        """Whether the method leaves texts in no cluster (HDBSCAN)."""
        return not CLUSTERING.get(self.method).takes_k

    def params_json(self) -> dict[str, Any]:
        return {"n_clusters": self.params.k, "top_n": self.params.top_n, "seed": self.seed}

    def to_json(self) -> dict[str, Any]:
        out: dict[str, Any] = {
            "model": self.model_ref, "dataset": self.dataset_name, "method": self.method, "reduce": self.reduce,
            "rerank": self.rerank, "word_score": "cosine similarity to the centroid" if self.rerank else "c-TF-IDF",
            "n": self.n, "n_clusters": self.k, "clusters": [t.to_json() for t in self.topics],
            "label_names": list(self.label_names),
            "label_cluster_table": self.label_cluster_table.astype(int).tolist(),
            "silhouette": None if self.silhouette is None else round(self.silhouette, 6),
            "k_scores": {str(k): round(v, 6) for k, v in self.k_scores.items()},
            "error_rate": None if self.error_rate is None else round(self.error_rate, 6),
            "notes": list(self.notes), "seconds": round(self.seconds, 3), "params": self.params_json(),
        }
        if self.has_noise:
            out["noise"] = self.noise
        return out


def _texts(dataset: "TextDataset") -> list[str]:
    if dataset.text_pairs is None:
        return list(dataset.texts)
    return [f"{a} {b}" for a, b in zip(dataset.texts, dataset.text_pairs)]


def _mix(ids: np.ndarray, names: Sequence[str]) -> dict[str, int]:
    cnt = np.bincount(ids[ids >= 0], minlength=len(names))
    return {str(nm): int(c) for nm, c in zip(names, cnt) if c > 0}


def check_params(params: TopicsParams, n: int) -> None:
    """Raise :class:`TopicsError` for settings that cannot cluster ``n`` texts (before any model work)."""
    _check_method(params.method, params.reduce)
    check_n_clusters(params.k, n, params.method)
    if params.top_n < 1:
        raise TopicsError(f"Ask for at least 1 top word, got {params.top_n}.")


def run_topics(model: "LoadedModel", sample: "Sample", params: TopicsParams | None = None, *,
               cache: "ArrayCache | None" = None, progress: Progress | None = None) -> TopicsResult:
    """Cluster the model's pooled embeddings of ``sample`` and name each cluster (see the module docstring); the
    sample's seed seeds the clustering. Stages: "embeddings", "clusters", "topic words"."""
    from core.analyses.projection.run import model_labels
    from core.models.embeddings import extract_embeddings, extract_embeddings_from_texts

    p = params or TopicsParams()
    dataset = sample.dataset
    check_params(p, len(dataset))
    method, seed = p.method, sample.seed
    t0 = time.perf_counter()

    emb = extract_embeddings(model, dataset, cache=cache, progress=progress)
    n = len(dataset)
    notes: list[str] = []
    if progress is not None:
        progress("clusters", 0.0, f"{method} on {n} texts")
    cl = cluster(emb.pooled, method, p.k, seed=seed, reduce=p.reduce)
    labels = cl.labels
    if cl.k == 0:
        notes.append("HDBSCAN found no clusters: every text is noise. Try k-means or a larger sample.")

    # true labels in the dataset's own names for the label mix; in the model's ids for the errors
    names = tuple(dataset.label_names) if dataset.labels is not None else ()
    y_ds = np.asarray(dataset.labels, dtype=np.int64) if dataset.labels is not None else np.full(n, -1, np.int64)
    if dataset.labels is None:
        notes.append("The dataset has no labels, so there are no label mixes or error rates.")
    pred = conf = y_model = None
    if model.has_head and emb.probs is not None:
        pred = np.asarray(emb.probs).argmax(1).astype(np.int64)
        conf = np.asarray(emb.probs).max(1).astype(np.float64)
        y_model, label_note = model_labels(model, dataset)
        if label_note and dataset.labels is not None:
            notes.append(label_note.replace("true labels are not shown", "error rates cannot be computed"))
    else:
        notes.append(f"{model.ref} is a bare encoder (no classification head), so there are no predictions "
                     "or error rates.")

    Xn = normalise(emb.pooled)
    texts = _texts(dataset)
    members = [np.flatnonzero(labels == c) for c in range(cl.k)]
    if progress is not None:
        progress("topic words", 0.0, f"c-TF-IDF of {cl.k} clusters")
    if cl.k:
        words, scores = class_tfidf([[texts[i] for i in m] for m in members])
    centroids = [Xn[m].mean(0) for m in members]
    memo: dict[str, np.ndarray] = {}

    def embed_words(ws: list[str]) -> np.ndarray:
        todo = [w for w in ws if w not in memo]
        if todo:
            for w, v in zip(todo, extract_embeddings_from_texts(model, todo).pooled):
                memo[w] = np.asarray(v)
        return np.stack([memo[w] for w in ws])

    out: list[Topic] = []
    for c, m in enumerate(members):
        if p.rerank:
            tw = keybert_rerank(words, scores[c], centroids[c], embed_words, p.top_n)
        else:
            tw = top_words(words, scores[c], p.top_n)
        cen = centroids[c] / max(float(np.linalg.norm(centroids[c])), 1e-12)
        near = m[np.argsort(-(Xn[m] @ cen), kind="stable")[:3]]
        err = pmix = cf = None
        scored = 0
        if pred is not None:
            pmix = _mix(pred[m], model.label_names)
            cf = float(conf[m].mean())
            ok = y_model[m] >= 0
            scored = int(ok.sum())
            if scored:
                err = float((pred[m][ok] != y_model[m][ok]).mean())
        out.append(Topic(id=c, size=len(m), words=tuple(w for w, _ in tw),
                         word_scores=np.array([s for _, s in tw], dtype=np.float64),
                         label_mix=_mix(y_ds[m], names), prediction_mix=pmix, error_rate=err, n_scored=scored,
                         confidence=cf, members=m, examples=tuple(texts[i] for i in near),
                         example_indices=tuple(int(i) for i in near)))

    table = np.zeros((cl.k, len(names)), dtype=np.int64)
    for c, m in enumerate(members):
        ym = y_ds[m]
        table[c] = np.bincount(ym[ym >= 0], minlength=len(names))[:len(names)] if len(names) else 0
    overall = None
    if pred is not None and (y_model >= 0).any():
        ok = y_model >= 0
        overall = float((pred[ok] != y_model[ok]).mean())
    if progress is not None:
        progress("topic words", 1.0, "done")
    return TopicsResult(
        model_ref=model.ref, dataset_name=dataset.name, method=method, reduce=p.reduce, rerank=p.rerank, n=n,
        k=cl.k, labels=labels, topics=tuple(out), noise=int((labels < 0).sum()), label_names=names,
        label_cluster_table=table, predictions=pred, error_rate=overall, silhouette=cl.silhouette,
        k_scores=cl.k_scores, notes=tuple(notes), seconds=time.perf_counter() - t0, params=p, sample=sample,
        rows=row_labels(model, dataset, emb.probs),
    )


__all__ = ["CLUSTERING", "ClusteringMethod", "Clustering", "REDUCTIONS", "TOPIC_MAPS", "Topic", "TopicsError",
           "TopicsParams", "TopicsResult", "check_n_clusters", "check_params", "class_tfidf", "cluster",
           "default_vectorizer", "keybert_rerank", "normalise", "run_topics", "top_words"]
