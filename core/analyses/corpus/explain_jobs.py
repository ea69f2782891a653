"""The corpus jobs that explain or attack each text: ``saliency``, ``games`` and ``attack``.

Each is a group function of :data:`core.analyses.corpus.jobs.GROUPS` (``(model, texts, pairs, params, jobs) →
{job: arrays}``) wrapping the sample-level function it is named after, so a corpus audit's numbers are the verb's:

* ``saliency``: :func:`core.analyses.saliency.registry.explain` with ``params.saliency_method``;
* ``games``: :func:`core.analyses.saliency.faithfulness.play_text_games` (the method and the random order);
* ``attack``: :meth:`core.analyses.adversarial.attacks.Attacker.attack` on each text as
  :func:`~core.analyses.adversarial.attacks.attack_texts` attacks a one-text list, so a text's outcome (and the
  character attack's seeded pick) does not depend on its batch.

None of them sees labels (a batch is keyed by its texts only): the games record predictions, the attack attacks
the model's own prediction; :mod:`core.analyses.corpus.aggregates` compares both with the true labels.

:func:`prepare_jobs` attaches a decoding head fitted earlier when a job's method needs one and checks the jobs'
parameters, so that a job that cannot run is refused in one sentence before any batch (and not text by text).
"""
from __future__ import annotations

from typing import TYPE_CHECKING, Any, Sequence

import numpy as np

from core.analyses.corpus.params import CorpusError, CorpusParams

if TYPE_CHECKING:  # pragma: no cover
    from core.models.loading import LoadedModel

Arrays = dict[str, np.ndarray]
GAMES_BATCH = 32  # perturbed texts per forward pass of the games (play_games' default)
# the sentence encoder of the attack's similarity check, loaded once per process (a Ray worker: once per actor)
_SIMILARITY: dict[str, "LoadedModel"] = {}


def method_params(params: CorpusParams) -> dict[str, str]:
    """``params.saliency_params`` (NAME=VALUE texts) as a dict; the method's declarations coerce the values."""
    from core.analyses.saliency_params import split_assignments

    try:
        return split_assignments(params.saliency_params)
    except ValueError as e:
        raise CorpusError(f"saliency_params: {e}.") from None


def _head_methods(params: CorpusParams, jobs: Sequence[str]) -> list[str]:
    return ([params.saliency_method] if {"saliency", "games"} & set(jobs) else []) + \
        ([params.class_method] if "class-tokens" in jobs else [])


def prepare_jobs(model: "LoadedModel", params: CorpusParams, jobs: Sequence[str]) -> None:
    """Attach the decoding head a job's method (or the word attack) needs, if one was fitted for this encoder, and
    check the methods' and the attack's parameters; anything that cannot run raises one sentence
    (:class:`~core.foundation.errors.BackboneLensError`). Call it before the cache keys are made: an attached
    head changes the model's fingerprint."""
    from core.analyses.saliency.registry import get_method, require_mlm_head

    for name in _head_methods(params, jobs):
        if get_method(name).needs_mlm_head:
            require_mlm_head(model, name)
    if {"saliency", "games"} & set(jobs):
        get_method(params.saliency_method).resolve_params(model, method_params(params))
    if "attack" in jobs:
        from core.analyses.adversarial.attacks import require_word_head

        attack = params.attack_params()
        attack.check()
        if attack.attack == "word":
            require_word_head(model)


def concentration(scores: np.ndarray) -> tuple[float, float]:
    """(top share, entropy) of one text's scores (T,): the largest |score| over the sum of |scores| (nan when all
    are zero) and the normalised entropy of |scores| (0 = one token, 1 = spread evenly; see
    :func:`core.analyses.transformer.instance_view.attribution_entropy`)."""
    from core.analyses.transformer.instance_view import attribution_entropy

    a = np.abs(np.asarray(scores, np.float64))
    s = a.sum()
    return (float(a.max() / s) if len(a) and s > 0 else float("nan")), attribution_entropy(a)


def _saliency(model: "LoadedModel", texts: Sequence[str], pairs: Sequence[str] | None, params: CorpusParams,
              jobs: tuple[str, ...]) -> dict[str, Arrays]:  # noqa: ARG001
    from core.analyses.saliency.registry import explain

    res = explain(model, list(texts), params.saliency_method, None if pairs is None else list(pairs),
                  batch_size=min(16, params.batch_size), **method_params(params))
    conc = np.array([concentration(r.scores) for r in res], np.float64).reshape(len(res), 2)
    flat = [r.scores.astype(np.float32) for r in res]
    return {"saliency": {
        "scores": np.concatenate(flat) if flat else np.zeros(0, np.float32),
        "token_id": np.concatenate([r.token_ids.astype(np.int64) for r in res]) if res else np.zeros(0, np.int64),
        "n_tokens": np.array([len(r.scores) for r in res], np.int64),
        "predicted": np.array([r.predicted for r in res], np.int64),
        "top_share": conc[:, 0], "entropy": conc[:, 1]}}


def _games(model: "LoadedModel", texts: Sequence[str], pairs: Sequence[str] | None, params: CorpusParams,
           jobs: tuple[str, ...]) -> dict[str, Arrays]:  # noqa: ARG001
    from core.analyses.saliency.faithfulness import MethodSpec, play_text_games

    method, rand = play_text_games(model, list(texts), MethodSpec(params.saliency_method, method_params(params)),
                                   pairs=None if pairs is None else list(pairs), replacement=params.games_replacement,
                                   seed=params.games_seed, batch_size=GAMES_BATCH)
    out: Arrays = {"n_tokens": method.n_tokens, "target": method.targets}
    for prefix, g in (("", method), ("random_", rand)):
        for game in ("hide", "reveal"):
            out[f"{prefix}{game}_predicted"] = getattr(g, f"{game}_predicted")
            out[f"{prefix}{game}_probability"] = getattr(g, f"{game}_probability")
    return {"games": out}


def _similarity_model(model: "LoadedModel") -> "LoadedModel":
    from core.models.refs import load_model

    device = str(model.device)
    if device not in _SIMILARITY:
        _SIMILARITY[device] = load_model("bundled:minilm", device=device)
    return _SIMILARITY[device]


def _attack(model: "LoadedModel", texts: Sequence[str], pairs: Sequence[str] | None, params: CorpusParams,
            jobs: tuple[str, ...]) -> dict[str, Arrays]:  # noqa: ARG001
    from core.analyses.adversarial.attacks import build_attacker, class_probabilities
    from core.analyses.adversarial.detection import classifier_entropy

    p = params.attack_params()
    attacker = build_attacker(model, p, similarity_model=_similarity_model(model) if p.min_similarity > 0 else None)
    outcomes = [attacker.attack(0, t, None if pairs is None else pairs[i], None) for i, t in enumerate(texts)]
    k = len(outcomes)
    probs = class_probabilities(model, [o.text for o in outcomes] + [o.adversarial for o in outcomes],
                                None if pairs is None else [o.text_pair or "" for o in outcomes]
                                + [o.adversarial_pair or "" for o in outcomes])
    ent = classifier_entropy(probs) if k else np.zeros(0)

    def col(name: str, dtype: Any) -> np.ndarray:
        return np.array([getattr(o, name) for o in outcomes], dtype)

    return {"attack": {
        "attacked": np.array([o.status != "no_candidates" for o in outcomes], bool),
        "flipped": np.array([o.status == "success" for o in outcomes], bool),
        "edits": col("words_changed", np.int64), "n_words": col("n_words", np.int64),
        "queries": col("queries", np.int64), "similarity": col("similarity", np.float64),
        "predicted": col("original_prediction", np.int64), "adversarial_predicted": col("adversarial_prediction",
                                                                                          np.int64),
        "entropy_original": ent[:k], "entropy_adversarial": ent[k:],
        "confidence_original": probs[:k].max(1).astype(np.float64) if k else np.zeros(0),
        "confidence_adversarial": probs[k:].max(1).astype(np.float64) if k else np.zeros(0)}}


__all__ = ["concentration", "method_params", "prepare_jobs"]
