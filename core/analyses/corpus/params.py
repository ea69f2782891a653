"""The typed parameters of a corpus audit and the engine switch (torch-free: report specs validate against them).

``CorpusParams`` says which jobs run over every text and how; :func:`resolve_engine` turns the CLI's
``--engine``, a spec's ``engine`` field or ``$BACKBONE_LENS_ENGINE`` into ``local`` or ``ray``.
"""
from __future__ import annotations

import os
from dataclasses import dataclass

from core.analyses.saliency_params import method_names
from core.foundation.errors import BackboneLensError
from core.foundation.params import Params, param

# the jobs the engine runs; "embed" and "predict" share one forward pass per batch; "map" runs after the batches
# (it places every text on a landmark DeepView map from the cached embed and predict entries, which it implies)
JOBS = ("embed", "predict", "entropy", "class-tokens", "map")
POST_JOBS = ("map",)
IMPLIES = {"map": ("embed", "predict")}
JOB_TITLES = {"embed": "pooled embeddings", "predict": "predictions and confidence",
              "entropy": "integrated-gradients attribution entropy", "class-tokens": "class-representative tokens",
              "map": "density map: a landmark DeepView map with every text placed on it, clusters × errors"}
# what issue 17 also lists and this engine does not run yet: refused with a clear message
NOT_YET = {"saliency": "per-text saliency", "games": "faithfulness games", "topics": "topics",
           "attack": "the word/char attack"}
ENGINES = ("local", "ray")
ENGINE_ENV = "BACKBONE_LENS_ENGINE"


class CorpusError(BackboneLensError):
    """A corpus audit cannot run as asked (unknown job, engine, bad batch size …)."""


@dataclass(frozen=True)
class CorpusParams(Params):
    """What decides a corpus audit's numbers apart from the model and the texts (the engine never does)."""

    jobs: tuple[str, ...] = param(("embed", "predict"), "the jobs run over every text: " + ", ".join(JOBS),
                                  type="str_list", choices=JOBS, item="corpus job", nonempty=True)
    batch_size: int = param(64, "texts per batch: the unit of work, of caching and of resuming", minimum=1,
                            maximum=4096)
    all_layers: bool = param(False, "the embed job also keeps every layer's pooled states ((L+1) × d per text, "
                             "float16) and scores each layer's class separation over the corpus")
    entropy_steps: int = param(20, "integrated-gradients steps per text of the entropy job", minimum=2, maximum=500)
    entropy_baseline: str = param("pad", "the integrated-gradients baseline of the entropy job: pad, mask or zero",
                                  type="choice", choices=("pad", "mask", "zero"))
    class_method: str = param("decoded_gradcam", "the saliency method whose word scores the class-tokens job sums",
                              type="str", vocabulary=method_names, item="saliency method")
    top_k: int = param(10, "words kept per class by the class-tokens job", minimum=1, maximum=100)
    min_docs: int = param(2, "a class word must occur in this many texts of the class", minimum=1)
    bins: int = param(20, "bins of the confidence and entropy histograms", minimum=2, maximum=200)
    map_landmarks: int = param(1000, "landmark texts laid out by DeepView for the map job (the others are placed "
                               "on their map)", minimum=20, maximum=20000)
    map_lam: float = param(0.8, "λ of the map job's DeepView distance (0 = embeddings only, 1 = classifier only)",
                           minimum=0, maximum=1)
    map_k: int = param(10, "nearest landmarks (under d_λ) that place each text on the map", minimum=2, maximum=100)
    map_candidates: int = param(30, "landmarks per text whose exact d_λ is computed, found by two cheap proxies",
                                minimum=2, maximum=500)
    map_grid: int = param(60, "density cells per side of the map", minimum=10, maximum=400)
    clusters: int = param(12, "k-means clusters of the map job's cluster × error table", minimum=2, maximum=200)
    map_seed: int = param(0, "seed of the landmark draw, the map's UMAP and the clusters")


def check_jobs(names: list[str] | tuple[str, ...]) -> tuple[str, ...]:
    """The jobs in the engine's order; a job the engine does not run yet, or an unknown one, raises CorpusError."""
    out = []
    for raw in names:
        name = raw.strip()
        if not name:
            continue
        if name in NOT_YET:
            raise CorpusError(f"The corpus engine does not run {NOT_YET[name]} ('{name}') yet; run it on a sample with "
                              f"its own verb, or choose from: {', '.join(JOBS)}.")
        if name not in JOBS:
            import difflib

            hint = difflib.get_close_matches(name, JOBS, n=1)
            raise CorpusError(f"Unknown corpus job '{name}'" + (f" (did you mean '{hint[0]}'?)" if hint else "")
                              + f"; choose from: {', '.join(JOBS)}.")
        out.append(name)
    if not out:
        raise CorpusError(f"No corpus job given; choose from: {', '.join(JOBS)}.")
    out += [j for name in list(out) for j in IMPLIES.get(name, ())]
    return tuple(j for j in JOBS if j in out)


def resolve_engine(value: str | None) -> str:
    """``value`` when given, else ``$BACKBONE_LENS_ENGINE``, else ``local``; anything else raises CorpusError."""
    source = "--engine"
    if value is None or not str(value).strip():
        value, source = os.environ.get(ENGINE_ENV, "").strip() or "local", ENGINE_ENV
    v = str(value).strip().lower()
    if v not in ENGINES:
        raise CorpusError(f"{source}: unknown engine '{value}'; choose local or ray.")
    return v


__all__ = ["CorpusError", "CorpusParams", "ENGINES", "ENGINE_ENV", "IMPLIES", "JOBS", "JOB_TITLES", "NOT_YET",
           "POST_JOBS", "check_jobs", "resolve_engine"]
