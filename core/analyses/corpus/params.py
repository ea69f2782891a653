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

# the jobs the engine runs; "embed" and "predict" share one forward pass per batch
JOBS = ("embed", "predict", "entropy", "class-tokens", "saliency", "games", "attack")
JOB_TITLES = {"embed": "pooled embeddings", "predict": "predictions and confidence",
              "entropy": "integrated-gradients attribution entropy", "class-tokens": "class-representative tokens",
              "saliency": "per-text saliency", "games": "faithfulness games (hiding and revealing)",
              "attack": "the word/char attack and its detection score"}
# what issue 17 also lists and this engine does not run yet: refused with a clear message
NOT_YET = {"topics": "topics"}
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


__all__ = ["CorpusError", "CorpusParams", "ENGINES", "ENGINE_ENV", "JOBS", "JOB_TITLES", "NOT_YET", "check_jobs",
           "resolve_engine"]
