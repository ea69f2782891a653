"""The typed parameters of a corpus audit and the engine switch (torch-free: report specs validate against them).

``CorpusParams`` says which jobs run over every text and how; :func:`resolve_engine` turns the CLI's
``--engine``, a spec's ``engine`` field or ``$BACKBONE_LENS_ENGINE`` into ``local`` or ``ray``.
"""
from __future__ import annotations

import os
from dataclasses import dataclass

from core.analyses.adversarial.attacks import AttackParams
from core.analyses.saliency_params import FaithfulnessParams, method_names
from core.foundation.errors import BackboneLensError
from core.foundation.params import Params, param, same_param

# the jobs the engine runs; "embed" and "predict" share one forward pass per batch; "map" runs after the batches
# (it places every text on a landmark DeepView map from the cached embed and predict entries, which it implies)
JOBS = ("embed", "predict", "entropy", "class-tokens", "saliency", "games", "attack", "map")
POST_JOBS = ("map",)
IMPLIES = {"map": ("embed", "predict")}
JOB_TITLES = {"embed": "pooled embeddings", "predict": "predictions and confidence",
              "entropy": "integrated-gradients attribution entropy", "class-tokens": "class-representative tokens",
              "saliency": "per-text saliency", "games": "faithfulness games (hiding and revealing)",
              "attack": "the word/char attack and its detection score",
              "map": "density map: a landmark DeepView map with every text placed on it, clusters × errors"}
# names the engine does not run as a job of their own: refused with where to find them instead
NOT_YET = {"topics": "topics as a job of its own (over a corpus, the map job's clusters are the embedding part: k-means "
                     "on the landmarks' embeddings, every text assigned, named by c-TF-IDF; use --jobs map)"}
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
    bins: int = param(20, "bins of the confidence, entropy and saliency histograms", minimum=2, maximum=200)
    saliency_method: str = param("grad_x_input", "the saliency method of the saliency and games jobs", type="str",
                                 vocabulary=method_names, item="saliency method")
    saliency_params: tuple[str, ...] = param((), "that method's own parameters as NAME=VALUE (e.g. steps=20)",
                                             type="str_list")
    games_replacement: str = same_param(FaithfulnessParams, "replacement")
    games_seed: int = param(0, "seed of the games' tie-breaking and random order (the faithfulness verb's --seed)",
                            minimum=0)
    attack_kind: str = same_param(AttackParams, "attack")
    attack_importance: str = same_param(AttackParams, "importance")
    attack_max_change: float = same_param(AttackParams, "max_change")
    attack_top_k: int = same_param(AttackParams, "top_k")
    attack_candidates: str = same_param(AttackParams, "candidates")
    attack_min_similarity: float = same_param(AttackParams, "min_similarity")
    attack_seed: int = same_param(AttackParams, "seed")
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

    def attack_params(self) -> AttackParams:
        """The ``attack_*`` fields as the attack's own parameters."""
        return AttackParams(attack=self.attack_kind, importance=self.attack_importance,
                            max_change=self.attack_max_change, top_k=self.attack_top_k,
                            candidates=self.attack_candidates, min_similarity=self.attack_min_similarity,
                            seed=self.attack_seed)


def check_jobs(names: list[str] | tuple[str, ...]) -> tuple[str, ...]:
    """The jobs in the engine's order; a job the engine does not run yet, or an unknown one, raises CorpusError."""
    out = []
    for raw in names:
        name = raw.strip()
        if not name:
            continue
        if name in NOT_YET:
            raise CorpusError(f"The corpus engine does not run {NOT_YET[name]} ('{name}'); run it on a sample with "
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
