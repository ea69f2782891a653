"""Corpus audits: every text of a dataset through the per-batch jobs, on this process or on Ray, resumable.

:func:`run_corpus` splits the texts into contiguous batches of ``params.batch_size``; each (batch, job) has a cache
key made of the model's weight fingerprint, the batch's texts and the job's parameters, so a rerun — after an
interrupted driver, a killed worker or with one more job — computes only the entries that are missing. The
engine only decides where batches run:

* ``local``: one process, batch after batch;
* ``ray``: Ray Data batch inference — ``map_batches`` with an actor class (:class:`CorpusWorker`), one model copy
  per actor, ``num_cpus`` (and optionally ``num_gpus``) per actor; actors restart and their tasks are retried
  after a crash (``max_restarts``, ``max_task_retries``). Workers write the batch entries straight into the
  driver's cache folder (``$BACKBONE_LENS_CACHE``, default ``~/.cache/backbone-lens``): on a cluster that folder
  must be one filesystem path mounted on every node (NFS or similar), and the project importable at the same
  path.

Both call :func:`core.analyses.corpus.jobs.run_batch`, hence :func:`~core.analyses.corpus.jobs.compute_batch`.
The aggregates (:mod:`core.analyses.corpus.aggregates`) are summed from the cached batches and written as Parquet
to ``<cache>/corpus/<run key>/``.
"""
from __future__ import annotations

import json
import os
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any, Iterator, Mapping, Sequence

import numpy as np

from core.analyses.corpus.aggregates import Aggregator, CorpusAggregates, Failure, write_aggregates
from core.analyses.corpus.jobs import NEEDS_HEAD, BatchDone, kind_of, prepare_jobs, run_batch
from core.analyses.corpus.params import POST_JOBS, CorpusError, CorpusParams, check_jobs, resolve_engine
from core.foundation.cache import ArrayCache, fingerprint
from core.foundation.progress import Progress
from core.foundation.settings import cache_root

if TYPE_CHECKING:  # pragma: no cover
    from core.data.datasets import TextDataset
    from core.models.loading import LoadedModel

# a worker whose process dies is restarted and its batch retried this often before the job fails (a text that
# crashes the process every time must not loop forever)
MAX_RESTARTS = 3
STAGE = "corpus"


@dataclass(frozen=True)
class BatchPlan:
    """Batch ``index`` = texts ``start:stop`` of the dataset; ``keys``: job → cache key of its entry."""

    index: int
    start: int
    stop: int
    keys: Mapping[str, str]


@dataclass(frozen=True)
class RayOptions:
    """Where and how Ray runs the batches: ``address`` None starts a local instance (``num_cpus`` CPUs, default
    all); ``workers`` actors (default: the cluster's CPUs / ``cpus_per_worker``); ``gpus_per_worker`` > 0 puts
    each model copy on a GPU."""

    address: str | None = None
    workers: int | None = None
    cpus_per_worker: float = 1.0
    gpus_per_worker: float = 0.0
    num_cpus: int | None = None


@dataclass(frozen=True, eq=False)
class CorpusResult:
    """A finished corpus audit: what ran where, what was recomputed, the aggregates and where they lie.

    ``plans``: the batches (their cache keys); ``computed``: batches with at least one entry computed by this
    run; ``cached``: batches found complete in the cache; ``texts_per_second``: texts of computed batches per
    second of the engine's wall time (None when all were cached); ``workers``: process ids that computed batches.
    """

    model_ref: str
    model_fingerprint: str
    dataset_name: str
    dataset_fingerprint: str
    n: int
    jobs: tuple[str, ...]
    params: CorpusParams
    engine: str
    plans: tuple[BatchPlan, ...]
    computed: int
    cached: int
    aggregates: CorpusAggregates
    folder: Path
    seconds: float
    engine_seconds: float
    texts_per_second: float | None
    workers: tuple[int, ...] = field(default_factory=tuple)
    notes: tuple[str, ...] = field(default_factory=tuple)

    @property
    def failures(self) -> tuple[Failure, ...]:
        return self.aggregates.failures

    def to_json(self) -> dict[str, Any]:
        return {"model": self.model_ref, "model_fingerprint": self.model_fingerprint, "dataset": self.dataset_name,
                "dataset_fingerprint": self.dataset_fingerprint, "n": self.n, "jobs": list(self.jobs),
                "engine": self.engine, "batch_size": self.params.batch_size, "batches": len(self.plans),
                "computed_batches": self.computed, "cached_batches": self.cached,
                "seconds": round(self.seconds, 2), "texts_per_second": None if self.texts_per_second is None
                else round(self.texts_per_second, 1),
                "summary": dict(self.aggregates.summary),
                "failures": [{"row": f.row, "error": f.error, "text": f.text} for f in self.failures],
                "class_tokens": {lab: [w for w, _ in self.aggregates.words(lab)]
                                 for lab in self.aggregates.label_names} if "class-tokens" in self.jobs else None,
                "layers": [dict(zip(("layer", "grouping", "texts", "centroid_accuracy", "fisher_ratio", "chance"), r))
                           for r in self.aggregates.layers] or None,
                "map": None if self.aggregates.density is None else {
                    "checks": dict(self.aggregates.density.checks), "method": self.aggregates.density.method,
                    "clusters": [dict(zip(("cluster", "texts", "labelled", "wrong", "accuracy", "error_share", "lift",
                                           "top_true", "top_predicted", "mean_confidence", "x", "y", "words"), r))
                                 for r in self.aggregates.density.clusters]},
                "notes": list(self.notes), "aggregates": str(self.folder)}


def plan_batches(model: "LoadedModel", dataset: "TextDataset", params: CorpusParams,
                 jobs: Sequence[str]) -> tuple[BatchPlan, ...]:
    """Contiguous batches of ``params.batch_size`` texts, each job's entry keyed by model, texts and parameters."""
    cache = ArrayCache(Path("."))  # only its key scheme
    prepare_jobs(model, params, jobs)  # a decoding head attached here is part of the model's fingerprint
    method = {"method": params.saliency_method, "method_params": sorted(params.saliency_params),
              "max_length": model.max_length}
    job_parts: dict[str, dict[str, Any]] = {
        "embed": {"max_length": model.max_length, "pooling": model.pooling,
                  **({"all_layers": True} if params.all_layers else {})},
        "predict": {"max_length": model.max_length, "pooling": model.pooling},
        "entropy": {"steps": params.entropy_steps, "baseline": params.entropy_baseline},
        "class-tokens": {"method": params.class_method},
        "saliency": method,
        "games": {**method, "replacement": params.games_replacement, "seed": params.games_seed},
        "attack": {"params": params.attack_params().to_dict(), "max_length": model.max_length,
                   "similarity": "bundled:minilm" if params.attack_min_similarity > 0 else None}}
    plans = []
    bs = params.batch_size
    for i, start in enumerate(range(0, len(dataset), bs)):
        stop = min(start + bs, len(dataset))
        texts = fingerprint({"texts": dataset.texts[start:stop],
                             "pairs": None if dataset.text_pairs is None else dataset.text_pairs[start:stop]},
                            length=32)
        keys = {j: cache.key({"kind": kind_of(j), "model": model.fingerprint, "texts": texts, **job_parts[j]})
                for j in jobs if j not in POST_JOBS}
        plans.append(BatchPlan(i, start, stop, keys))
    return tuple(plans)


def _complete(cache: ArrayCache, plan: BatchPlan) -> bool:
    return all((cache.root / kind_of(j) / f"{k}.json").exists() for j, k in plan.keys.items())


def _texts(dataset: "TextDataset", plan: BatchPlan) -> tuple[list[str], list[str] | None]:
    pairs = None if dataset.text_pairs is None else list(dataset.text_pairs[plan.start:plan.stop])
    return list(dataset.texts[plan.start:plan.stop]), pairs


class _Meter:
    """The one progress stage of a corpus job: texts done of all, texts/s of the texts computed by this run."""

    def __init__(self, progress: Progress | None, total: int, already: int) -> None:
        self.progress, self.total, self.done, self.t0 = progress, total, already, time.perf_counter()
        self.computed = 0
        self.report()

    def add(self, done: BatchDone) -> None:
        self.done += done.n
        self.computed += done.n
        self.report()

    def report(self) -> None:
        if self.progress is None:
            return
        dt = time.perf_counter() - self.t0
        rate = f" · {self.computed / dt:,.1f} texts/s" if self.computed and dt > 0 else ""
        self.progress(STAGE, self.done / max(self.total, 1), f"{self.done:,}/{self.total:,} texts{rate}")


def _run_local(model: "LoadedModel", dataset: "TextDataset", plans: Sequence[BatchPlan], params: CorpusParams,
               cache: ArrayCache) -> Iterator[BatchDone]:
    for p in plans:
        texts, pairs = _texts(dataset, p)
        yield run_batch(model, cache, p.index, texts, pairs, p.keys, params, model_fingerprint=model.fingerprint)


class CorpusWorker:
    """The Ray Data actor: loads one model copy from its reference — in the driver's weight ``dtype`` and autocast
    ``precision``, which the fingerprint names — and runs :func:`run_batch` on each row (one row = one planned
    batch, its texts as JSON so that any Python string travels through Arrow)."""

    def __init__(self, model_ref: str, model_fingerprint: str, cache_dir: str, params: dict[str, Any], *,
                 device: str | None = None, trust_remote_code: bool = False, dtype: str | None = None,
                 precision: str | None = None) -> None:
        from core.models.refs import load_model

        self.model = load_model(model_ref, device=device, trust_remote_code=trust_remote_code, dtype=dtype,
                                precision=precision)
        self.fingerprint = model_fingerprint
        self.cache = ArrayCache(cache_dir)
        self.params = CorpusParams.build(params)

    def __call__(self, rows: dict[str, np.ndarray]) -> dict[str, np.ndarray]:
        done = []
        for batch, texts, pairs, keys in zip(rows["batch"], rows["texts"], rows["pairs"], rows["keys"]):
            d = run_batch(self.model, self.cache, int(batch), json.loads(texts), json.loads(pairs) if pairs else None,
                          json.loads(keys), self.params, model_fingerprint=self.fingerprint)
            done.append(d)
        return {name: np.asarray([getattr(d, name) for d in done]) for name in
                ("batch", "n", "failed", "computed", "seconds", "pid")}


def _precision_of(model: "LoadedModel") -> dict[str, str]:
    """The worker's ``dtype`` and ``precision`` keywords: those of the driver's model."""
    from core.models.memory import dtype_name, precision_name

    return {"dtype": dtype_name(model.dtype), "precision": precision_name(model.precision)}


def _worker_env() -> dict[str, str]:
    """What a Ray worker process needs to find the project, its cache and the demo models."""
    root = str(Path(__file__).resolve().parents[3])
    env = {"PYTHONPATH": os.pathsep.join([root, *filter(None, [os.environ.get("PYTHONPATH")])]),
           "BACKBONE_LENS_CACHE": str(cache_root()), "TOKENIZERS_PARALLELISM": "false"}
    for name in ("HF_HUB_OFFLINE", "HF_HOME", "BACKBONE_LENS_DEVICE"):
        if os.environ.get(name):
            env[name] = os.environ[name]
    return env


def _user_error(e: BaseException) -> BaseException | None:
    """The :class:`BackboneLensError` behind a Ray error (``cause`` / ``__cause__`` chain), if any."""
    from core.foundation.errors import BackboneLensError

    seen: set[int] = set()
    while e is not None and id(e) not in seen:
        if isinstance(e, BackboneLensError):
            return e
        seen.add(id(e))
        e = getattr(e, "cause", None) or e.__cause__  # type: ignore[assignment]
    return None


def _check_reachable(address: str) -> None:
    """A ``host:port`` that does not answer fails here in seconds (Ray itself waits minutes for its GCS)."""
    import socket

    host, _, port = address.rpartition(":")
    if not host or not port.isdigit() or "://" in address:
        return  # "auto", "ray://…": Ray resolves those itself
    try:
        socket.create_connection((host, int(port)), timeout=3).close()
    except OSError as e:
        raise CorpusError(f"Could not reach Ray at {address} ({e.strerror or e}); start it with `ray start --head` "
                          "or leave --ray-address out for a local instance.") from None


def _run_ray(model: "LoadedModel", dataset: "TextDataset", plans: Sequence[BatchPlan], params: CorpusParams,
             cache: ArrayCache, options: RayOptions, *, device: str | None,
             trust_remote_code: bool) -> Iterator[BatchDone]:
    try:
        import ray
    except ImportError:  # pragma: no cover - ray is a pinned requirement
        raise CorpusError("The ray engine needs Ray (pip install -r requirements.txt).") from None
    import logging

    os.environ.setdefault("RAY_ACCEL_ENV_VAR_OVERRIDE_ON_ZERO", "0")
    os.environ.setdefault("RAY_enable_metrics_collection", "0")  # no dashboard agent here to export them to
    started = False
    if not ray.is_initialized():
        kw: dict[str, Any] = {"include_dashboard": False, "log_to_driver": False, "logging_level": "ERROR"}
        if options.address:
            _check_reachable(options.address)
            kw["address"] = options.address
        else:  # "local": a new instance even when `ray start` left one running (None would join that one)
            kw["address"] = "local"
            if options.num_cpus:
                kw["num_cpus"] = options.num_cpus
        try:
            ray.init(**kw)
        except (ConnectionError, RuntimeError, ValueError) as e:
            raise CorpusError(f"Could not reach Ray at {options.address or 'a new local instance'}: {e}") from None
        started = True
    try:
        ctx = ray.data.DataContext.get_current()
        # Ray Data's own progress lines and tips would interleave with the one progress bar; importing ray.data
        # (just above) configures its logger at DEBUG, so its level is set after that
        logging.getLogger("ray.data").setLevel(logging.ERROR)
        ctx.enable_progress_bars = False
        ctx.print_on_execution_start = False
        resources = ray.cluster_resources()
        cpus, gpus = float(resources.get("CPU", 0)), float(resources.get("GPU", 0))
        workers = options.workers or max(1, int(cpus // options.cpus_per_worker))
        # Ray Data would wait forever for actors the cluster cannot place: say so instead
        if workers * options.cpus_per_worker > cpus or workers * options.gpus_per_worker > gpus:
            raise CorpusError(f"Ray has {cpus:g} CPUs and {gpus:g} GPUs; {workers} workers × "
                              f"{options.cpus_per_worker:g} CPU" + (f" + {options.gpus_per_worker:g} GPU"
                                                                    if options.gpus_per_worker else "")
                              + " do not fit: lower --workers or the per-worker resources.")
        items = []
        for p in plans:
            texts, pairs = _texts(dataset, p)
            items.append({"batch": p.index, "texts": json.dumps(texts), "pairs": json.dumps(pairs) if pairs else "",
                          "keys": json.dumps(dict(p.keys))})
        ds = ray.data.from_items(items, override_num_blocks=max(1, len(items)))  # one block per batch: per-batch progress
        out = ds.map_batches(
            CorpusWorker, batch_size=1,
            # one batch in flight per actor: the load spreads over every actor (Ray's advice for balance), and a
            # killed actor holds no queue of batches
            compute=ray.data.ActorPoolStrategy(size=min(workers, max(1, len(items))), max_tasks_in_flight_per_actor=1),
            num_cpus=options.cpus_per_worker, num_gpus=options.gpus_per_worker or None,
            fn_constructor_kwargs={"model_ref": model.ref, "model_fingerprint": model.fingerprint,
                                   "cache_dir": str(cache.root), "params": params.to_dict(),
                                   "device": device, "trust_remote_code": trust_remote_code,
                                   **_precision_of(model)},
            max_restarts=MAX_RESTARTS, max_task_retries=MAX_RESTARTS,
            runtime_env={"env_vars": _worker_env()})
        try:
            for row in out.iter_rows():
                yield BatchDone(int(row["batch"]), int(row["n"]), int(row["failed"]), int(row["computed"]),
                                float(row["seconds"]), int(row["pid"]))
        except Exception as e:  # a worker's user-facing error (other weights, no head …) stays one sentence
            cause = _user_error(e)
            if cause is None:
                raise
            raise CorpusError(f"A Ray worker stopped: {cause}") from None
    finally:
        if started:
            ray.shutdown()


def run_corpus(model: "LoadedModel", dataset: "TextDataset", params: CorpusParams | None = None, *,
               engine: str | None = None, ray: RayOptions | None = None, cache: ArrayCache | None = None,
               progress: Progress | None = None, device: str | None = None,
               trust_remote_code: bool = False) -> CorpusResult:
    """Run ``params.jobs`` over every text of ``dataset`` on ``engine`` (see :func:`resolve_engine`), resuming from
    the cached batches, and write the aggregates. Stage: "corpus" (texts done, texts/s)."""
    t0 = time.perf_counter()
    p = params or CorpusParams()
    jobs = check_jobs(p.jobs)
    eng = resolve_engine(engine)
    if len(dataset) == 0:
        raise CorpusError("The dataset is empty; there is nothing to audit.")
    if any(j in NEEDS_HEAD for j in jobs):
        model.require_head()
    cache = cache or ArrayCache()
    plans = plan_batches(model, dataset, p, jobs)
    from core.analyses.projection.run import model_labels

    # the true classes as the model's ids (−1 = none), once for the aggregates, the map and the layers
    labels = model_labels(model, dataset)[0] if model.has_head else np.full(len(dataset), -1, np.int64)
    workers: set[int] = set()
    computed_batches: set[int] = set()
    engine_seconds = 0.0
    for _round in range(2):  # a second round only for entries found corrupt while aggregating
        todo = [pl for pl in plans if not _complete(cache, pl)]
        meter = _Meter(progress, len(dataset), len(dataset) - sum(pl.stop - pl.start for pl in todo))
        te = time.perf_counter()
        if todo:
            runs = (_run_local(model, dataset, todo, p, cache) if eng == "local" else
                    _run_ray(model, dataset, todo, p, cache, ray or RayOptions(), device=device,
                             trust_remote_code=trust_remote_code))
            for done in runs:
                meter.add(done)
                if done.computed:
                    computed_batches.add(done.batch)
                    workers.add(done.pid)
        engine_seconds += time.perf_counter() - te
        agg, bad = _aggregate(model, dataset, plans, p, jobs, cache, labels)
        if not bad:
            break
    else:
        raise CorpusError(f"{len(bad)} batch entries could not be read back from {cache.root}.")
    if p.all_layers and "embed" in jobs:
        agg = _layers(plans, agg, cache, model, dataset, labels)
    placements, notes = None, []
    if p.all_layers and "embed" in jobs and not agg.layers:
        notes.append("No per-layer scores: they need texts of two classes or more, from the labels or the "
                     "predictions.")
    if "map" in jobs:  # a map that cannot be drawn leaves the other jobs' aggregates standing, with a note
        from core.foundation.errors import BackboneLensError

        try:
            agg, placements = _density(model, dataset, plans, p, agg, cache, labels, progress)
        except BackboneLensError as e:
            notes.append(f"The corpus map was not drawn: {e}")
    computed_texts = sum(pl.stop - pl.start for pl in plans if pl.index in computed_batches)
    key = fingerprint({"model": model.fingerprint, "dataset": dataset.fingerprint, "jobs": jobs,
                       "params": p.to_dict()}, length=20)
    folder = cache.root.parent / "corpus" / key
    result = CorpusResult(
        model.ref, model.fingerprint, dataset.name, dataset.fingerprint, len(dataset), jobs, p, eng, plans,
        len(computed_batches), len(plans) - len(computed_batches), agg, folder, time.perf_counter() - t0,
        engine_seconds, computed_texts / engine_seconds if computed_texts and engine_seconds > 0 else None,
        tuple(sorted(workers)), tuple(notes))
    write_aggregates(agg, folder, {k: v for k, v in result.to_json().items() if k not in ("summary", "failures")})
    if agg.density is not None and placements is not None:
        from core.analyses.corpus.density import write_density

        write_density(agg.density, placements, folder, model.label_names)
    return result


def _layers(plans: Sequence[BatchPlan], agg: CorpusAggregates, cache: ArrayCache, model: "LoadedModel",
            dataset: "TextDataset", labels: np.ndarray) -> CorpusAggregates:
    """Per-layer class separation over the corpus, from the cached all-layer embed batches; ``labels``: as the
    aggregates have them (the model's ids; without a head, the dataset's own classes are used)."""
    import dataclasses

    from core.analyses.corpus.layers import layer_table

    def load(key: str) -> Mapping[str, np.ndarray] | None:
        e = cache.load(kind_of("embed"), key)
        return None if e is None else e.arrays

    if not model.has_head:  # a bare backbone: the dataset's own classes
        labels = (np.full(len(dataset), -1, np.int64) if dataset.labels is None
                  else np.asarray(dataset.labels, np.int64))
    predicted = np.full(len(dataset), -1, np.int64)
    if "predict" in plans[0].keys:
        for pl in plans:
            e = cache.load(kind_of("predict"), pl.keys["predict"])
            if e is not None and "row" in e.arrays:
                predicted[pl.start + e.arrays["row"]] = e.arrays["probs"].argmax(1)
    rows = layer_table([(pl.start, pl.keys["embed"]) for pl in plans], load, labels, predicted)
    return dataclasses.replace(agg, layers=rows)


def _density(model: "LoadedModel", dataset: "TextDataset", plans: Sequence[BatchPlan], params: CorpusParams,
             agg: CorpusAggregates, cache: ArrayCache, labels: np.ndarray,
             progress: Progress | None) -> tuple[CorpusAggregates, Any]:
    """The ``map`` job: the landmark map and every text placed, from the cached embed and predict batches."""
    import dataclasses

    from core.analyses.corpus.density import corpus_density

    def load(job: str, key: str) -> Mapping[str, np.ndarray] | None:
        e = cache.load(kind_of(job), key)
        return None if e is None else e.arrays

    rows = dataset.indices if dataset.indices is not None else np.arange(len(dataset))
    density, placements = corpus_density(
        model, dataset.texts, np.asarray(rows), labels,
        [(pl.start, pl.keys["embed"], pl.keys["predict"]) for pl in plans], params, cache=cache, load=load,
        progress=progress)
    return dataclasses.replace(agg, density=density), placements


def _aggregate(model: "LoadedModel", dataset: "TextDataset", plans: Sequence[BatchPlan], params: CorpusParams,
               jobs: tuple[str, ...], cache: ArrayCache, labels: np.ndarray) -> tuple[CorpusAggregates, list[str]]:
    """The aggregates of the cached batches (and the keys of entries that could not be read back); ``labels``:
    (n,) the true classes as the model's ids (−1 = none)."""
    rows = dataset.indices if dataset.indices is not None else np.arange(len(dataset))
    agg = Aggregator(model.label_names, labels, jobs, params, rows=rows, texts=dataset.texts)
    bad = []
    for pl in plans:
        entries = {}
        for j, k in pl.keys.items():
            e = cache.load(kind_of(j), k)
            if e is None:
                bad.append(k)
            else:
                entries[j] = e.arrays
        agg.add(pl.start, entries)
    idf = None
    if "class-tokens" in jobs and not bad:
        from core.analyses.saliency.class_tokens import bundled_idf

        idf = bundled_idf(model.tokenizer)
    return agg.finish(idf=idf), bad


def corpus_array(result: CorpusResult, job: str, name: str, *, cache: ArrayCache | None = None) -> np.ndarray:
    """One per-text array of a job over the whole corpus, from the cached batches: (n, …), rows of failed texts
    zero. For tests and exports; reports read the aggregates."""
    cache = cache or ArrayCache(result.folder.parent.parent / "arrays")
    parts: list[tuple[int, np.ndarray, np.ndarray]] = []
    for pl in result.plans:
        e = cache.load(kind_of(job), pl.keys[job])
        if e is None:
            raise CorpusError(f"Batch {pl.index} of {job} is not in the cache at {cache.root}.")
        if "row" in e.arrays:
            parts.append((pl.start, e.arrays["row"], e.arrays[name]))
    if not parts:
        raise CorpusError(f"Every text of the corpus failed in {job}.")
    first = parts[0][2]
    out = np.zeros((result.n, *first.shape[1:]), first.dtype)
    for start, rows, values in parts:
        out[start + rows] = values
    return out


__all__ = ["BatchPlan", "CorpusResult", "CorpusWorker", "MAX_RESTARTS", "RayOptions", "corpus_array",
           "plan_batches", "run_corpus"]
