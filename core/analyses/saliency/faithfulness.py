"""Faithfulness games (Hou & Castanon, ICML 2023): hide or reveal the most salient tokens.

For every text, the content tokens (word pieces, no special tokens) are ordered by a method's
scores (ties broken at random). At level k (share of tokens, 0, 0.1, … 1):

* **hiding**: the top ⌊k·T + ½⌋ tokens are replaced; a faithful order makes accuracy and the
  target probability fall fast → a *low* area under the curve;
* **revealing**: only the top ⌊k·T + ½⌋ tokens are kept, all others replaced; a faithful order
  makes them rise fast → a *high* area.

The target is the model's own prediction on the intact text; accuracy is against the true labels
(or, for unlabelled data, agreement with the intact prediction). The same games run with a
random order (same budget per text) as the baseline. Replacement is the mask token by default:
it keeps length and positions, and an encoder pre-trained with masked-LM knows it as "a token is
missing here"; ``pad`` keeps positions but feeds an embedding the encoder never saw in a text,
and ``delete`` changes positions and length.

Entry points: :func:`run_games` (a :class:`~core.data.sampling.Sample` and
:class:`~core.analyses.saliency_params.FaithfulnessParams`, the one signature of dataset-level analyses);
:func:`play_games` (bare texts and labels, each method its own parameters and layer sweep: benchmarks, tests);
:func:`play_text_games` (the per-text numbers of one method and the random order: corpus audits);
:func:`games_cost` (what a run will cost, before it starts).
"""
from __future__ import annotations

import time
import zlib
from dataclasses import dataclass, field, replace
from typing import TYPE_CHECKING, Any, ClassVar, Sequence

import numpy as np

from core.analyses.saliency.forward import probs_of_sequences
from core.analyses.saliency.inputs import effective_replacement, perturb_ids, prepare_inputs, replacement_ids
from core.analyses.saliency.registry import get_method
from core.analyses.saliency.result import SaliencyError, SaliencyResult
from core.analyses.saliency_params import GRADCAM, FaithfulnessParams, split_assignments
from core.data.sampling import Sample
from core.foundation.progress import Counter, Progress, or_silent
from core.models.loading import LoadedModel

if TYPE_CHECKING:  # pragma: no cover
    from core.foundation.cache import ArrayCache

LEVELS = tuple(round(x / 10, 1) for x in range(11))


@dataclass(frozen=True)
class GameCurve:
    """Both games for one token order. levels: (K,); *_accuracy, *_probability: (K,) means over texts.

    hide_auc / reveal_auc: areas under the accuracy curves (levels on [0, 1]);
    hide_auc_prob / reveal_auc_prob: the same for the target probability.
    """

    method: str
    layer: int | None
    levels: np.ndarray
    hide_accuracy: np.ndarray
    hide_probability: np.ndarray
    reveal_accuracy: np.ndarray
    reveal_probability: np.ndarray
    saliency_seconds: float
    params: dict = field(default_factory=dict)

    @property
    def name(self) -> str:
        return self.method if self.layer is None else f"{self.method}@{self.layer}"

    @property
    def hide_auc(self) -> float:
        return float(np.trapezoid(self.hide_accuracy, self.levels))

    @property
    def reveal_auc(self) -> float:
        return float(np.trapezoid(self.reveal_accuracy, self.levels))

    @property
    def hide_auc_prob(self) -> float:
        return float(np.trapezoid(self.hide_probability, self.levels))

    @property
    def reveal_auc_prob(self) -> float:
        return float(np.trapezoid(self.reveal_probability, self.levels))

    @property
    def gap(self) -> float:
        """reveal_auc − hide_auc: one number for both games (higher = more faithful)."""
        return self.reveal_auc - self.hide_auc

    @classmethod
    def from_json(cls, d: dict[str, Any]) -> "GameCurve":
        return cls(d["method"], d["layer"], np.asarray(d["levels"]), np.asarray(d["hide_accuracy"]),
                   np.asarray(d["hide_probability"]), np.asarray(d["reveal_accuracy"]),
                   np.asarray(d["reveal_probability"]), float(d["saliency_seconds"]), dict(d["parameters"]))

    def to_json(self) -> dict[str, Any]:
        return {"method": self.method, "layer": self.layer, "parameters": self.params,
                "hide_auc": self.hide_auc, "reveal_auc": self.reveal_auc, "hide_auc_prob": self.hide_auc_prob,
                "reveal_auc_prob": self.reveal_auc_prob, "gap": self.gap,
                "saliency_seconds": round(self.saliency_seconds, 3),
                "levels": self.levels.tolist(), "hide_accuracy": self.hide_accuracy.tolist(),
                "hide_probability": self.hide_probability.tolist(), "reveal_accuracy": self.reveal_accuracy.tolist(),
                "reveal_probability": self.reveal_probability.tolist()}


@dataclass(frozen=True)
class FaithfulnessResult:
    """Game curves of several methods (and layers) plus the random baseline on the same texts.

    accuracy_against: "true labels" or "intact predictions" (unlabelled data). ``sample`` and ``params``: the
    texts and parameters of :func:`run_games` (None when the games were played on bare texts, :func:`play_games`).
    """

    curves: tuple[GameCurve, ...]
    n: int
    replacement: str
    accuracy_against: str
    max_length: int
    truncated: int
    mean_tokens: float
    seed: int
    model_ref: str
    dataset_name: str
    seconds: float
    game_seconds: float
    evaluations: int
    sample: Sample | None = None
    params: FaithfulnessParams | None = None

    @property
    def random(self) -> GameCurve:
        return next(c for c in self.curves if c.method == "random")

    def curve(self, method: str, layer: int | None = None) -> GameCurve:
        for c in self.curves:
            if c.method == method and (layer is None or c.layer == layer):
                return c
        raise KeyError(f"{method}@{layer}")

    def layers(self, method: str = "decoded_gradcam") -> list[GameCurve]:
        return sorted((c for c in self.curves if c.method == method and c.layer is not None),
                      key=lambda c: c.layer or 0)

    def best_layer(self, method: str = "decoded_gradcam") -> int | None:
        """The layer whose curves have the largest reveal − hide accuracy AUC gap (None without a sweep)."""
        cs = self.layers(method)
        return max(cs, key=lambda c: c.gap).layer if cs else None

    def to_json(self) -> dict[str, Any]:
        out: dict[str, Any] = {
            "model": self.model_ref, "dataset": self.dataset_name, "n": self.n, "replacement": self.replacement,
            "accuracy_against": self.accuracy_against, "max_length": self.max_length, "truncated": self.truncated,
            "mean_tokens": round(self.mean_tokens, 1), "seed": self.seed, "levels": list(LEVELS),
            "seconds": round(self.seconds, 2), "game_seconds": round(self.game_seconds, 2),
            "evaluations": self.evaluations,
            "methods": [c.to_json() for c in self.curves],
        }
        bl = {m: self.best_layer(m) for m in GRADCAM if self.layers(m)}
        if bl:
            out["best_layer"] = bl
        return out


def _order(scores: np.ndarray, rng: np.random.Generator) -> np.ndarray:
    """Token indices from most to least salient; ties (e.g. Grad-CAM's ReLU zeros) in random order."""
    return np.lexsort((rng.random(len(scores)), -scores.astype(np.float64)))


def level_counts(n_tokens: int, levels: Sequence[float] = LEVELS) -> np.ndarray:
    """Tokens hidden/revealed at each level: ⌊k·T + ½⌋."""
    return np.floor(np.asarray(levels) * n_tokens + 0.5).astype(int)


class _Games:
    """Builds perturbed sequences for token orders and scores them (identical sequences evaluated once)."""

    def __init__(self, model: LoadedModel, texts: Sequence[str], pairs: Sequence[str] | None, *, replacement: str,
                 max_length: int | None, batch_size: int) -> None:
        self.model, self.replacement, self.batch_size = model, replacement, batch_size
        self.mask_id, self.pad_id = replacement_ids(model, replacement)
        inp = prepare_inputs(model, texts, pairs, max_length=max_length)
        self.rows = inp.sequences()
        self.truncated = int(inp.truncated.sum())
        self.max_length = int(max_length or model.max_length)
        self.seen: dict[tuple[int, bytes], np.ndarray] = {}
        self.evaluations = 0
        intact = probs_of_sequences(model, [(r[0], r[1]) for r in self.rows], batch_size=batch_size)
        self.intact = intact
        self.targets = intact.argmax(1)

    def _hide(self, i: int, hidden: np.ndarray) -> np.ndarray:
        """Probabilities for text i with content tokens ``hidden`` (indices into its content) replaced."""
        return self.seen[(i, np.sort(hidden).astype(np.int32).tobytes())]

    def play(self, orders: Sequence[np.ndarray], progress: Progress | None = None
             ) -> tuple[np.ndarray, np.ndarray]:
        """Probabilities (n, K, C) for hiding and for revealing along ``orders`` (one per text)."""
        need: dict[tuple[int, bytes], tuple[np.ndarray, np.ndarray]] = {}
        plan = []
        for i, order in enumerate(orders):
            ids, tt, pos = self.rows[i]
            T = len(pos)
            for cnt in level_counts(T):
                for hidden in (order[:cnt], order[cnt:]):
                    key = (i, np.sort(hidden).astype(np.int32).tobytes())
                    plan.append(key)
                    if key in self.seen or key in need:
                        continue
                    if len(hidden) == 0:
                        self.seen[key] = self.intact[i]
                        continue
                    mask = np.zeros(len(ids), dtype=bool)
                    mask[pos[hidden]] = True
                    need[key] = perturb_ids(ids, tt, mask, self.replacement, mask_id=self.mask_id,
                                            pad_id=self.pad_id)
        keys = list(need)
        count = Counter(progress, "games", len(keys), "perturbed texts")
        if keys:
            chunk = max(self.batch_size * 8, 1)
            for s in range(0, len(keys), chunk):
                part = keys[s:s + chunk]
                p = probs_of_sequences(self.model, [need[k] for k in part], batch_size=self.batch_size)
                for k, pr in zip(part, p):
                    self.seen[k] = pr
                count(min(s + chunk, len(keys)))
        self.evaluations += len(keys)
        K = len(LEVELS)
        out = np.stack([self.seen[k] for k in plan]).reshape(len(orders), K, 2, -1)
        return out[:, :, 0], out[:, :, 1]


def _curve(method: str, layer: int | None, hide: np.ndarray, reveal: np.ndarray, targets: np.ndarray,
           labels: np.ndarray, seconds: float, params: dict) -> GameCurve:
    """hide, reveal: (n, K, C) probabilities → mean accuracy and target probability per level."""
    known = labels >= 0
    rows = np.arange(len(targets))

    def acc(p: np.ndarray) -> np.ndarray:
        return (p.argmax(-1)[known] == labels[known, None]).mean(0)

    def target_prob(p: np.ndarray) -> np.ndarray:
        return p[rows, :, targets].mean(0)

    return GameCurve(method, layer, np.asarray(LEVELS), acc(hide), target_prob(hide), acc(reveal),
                     target_prob(reveal), seconds, params)


@dataclass(frozen=True)
class MethodSpec:
    """One entry of a games run: a registered method, its parameters, and layers to sweep (Grad-CAM)."""

    name: str
    params: dict = field(default_factory=dict)
    layers: tuple[int, ...] | None = None


GAMES_VERSION = 1
PASSES_PER_TEXT = 18  # model calls per text and token order: 9 inner levels × 2 games (levels 0 and 1 are shared)
EVALS_PER_SECOND = (150, 40)  # perturbed texts per second on a 2-core CPU: short tweets, 128-token articles


@dataclass(frozen=True)
class GamesCost:
    """What a games run on ``n`` texts costs before it starts: ``orders`` token orders per text (methods, swept
    layers, the random order), about ``evaluations`` perturbed texts (``per_text`` per text and order),
    ``minutes`` (low: short tweets, high: 128-token articles) on a 2-core CPU; ``long``: more texts than
    ``LONG`` (worth a warning)."""

    n: int
    orders: int
    evaluations: int
    minutes: tuple[int, int]
    per_text: int = PASSES_PER_TEXT
    LONG: ClassVar[int] = 200

    @property
    def long(self) -> bool:
        return self.n > self.LONG


def games_cost(n: int, params: FaithfulnessParams, num_layers: int) -> GamesCost:
    """The cost of :func:`run_games` on ``n`` texts with ``params`` for a model with ``num_layers`` layers
    (the saliency itself and disk-cached methods aside)."""
    orders = params.orders(num_layers)
    evals = n * PASSES_PER_TEXT * orders
    fast, slow = EVALS_PER_SECOND
    return GamesCost(n, orders, evals, (max(1, round(evals / fast / 60)), max(1, round(evals / slow / 60))))


def game_specs(model: LoadedModel, params: FaithfulnessParams) -> list[MethodSpec]:
    """The methods of ``params`` as game entries: Grad-CAM swept over ``params.layers`` (or at its own layer),
    Integrated Gradients with ``ig_steps``, each method with its ``method_params`` (which win)."""
    given: dict[str, dict[str, str]] = {}
    for item in params.method_params:
        meth, _, rest = item.partition(".")
        if meth not in params.methods or not rest:
            raise SaliencyError(f"Method parameter '{item}': write METHOD.NAME=VALUE for one of the methods "
                                f"({', '.join(params.methods)}).")
        try:
            given.setdefault(meth, {}).update(split_assignments([rest]))
        except ValueError as e:
            raise SaliencyError(f"Method parameter '{item}': {e}.") from None
    sweep = params.layer_list(model.num_layers)
    specs = []
    for name in params.methods:
        own = given.get(name, {})
        if name in GRADCAM and sweep is not None:
            specs.append(MethodSpec(name, {}, sweep))
        elif name == "integrated_gradients":
            specs.append(MethodSpec(name, {"steps": params.ig_steps, **own}))
        else:
            specs.append(MethodSpec(name, dict(own)))
    return specs


def run_games(model: LoadedModel, sample: Sample, params: FaithfulnessParams = FaithfulnessParams(), *,
              cache: "ArrayCache | None" = None, progress: Progress | None = None) -> FaithfulnessResult:
    """Hiding and revealing games on the texts of ``sample`` for the methods of ``params`` and a random order.

    True labels are the sample's, matched to the model's by name (none known: accuracy is agreement with the
    intact prediction); the random orders are seeded with ``sample.seed``. With ``cache`` each method's curves
    are stored on disk (see :func:`play_games`). Progress: one stage per method (and "random").
    """
    from core.analyses.projection.run import model_labels

    model.require_head()
    labels, _ = model_labels(model, sample.dataset)
    res = play_games(model, list(sample.texts), labels, game_specs(model, params),
                     pairs=None if sample.text_pairs is None else list(sample.text_pairs),
                     replacement=params.replacement, max_length=params.max_length, seed=sample.seed,
                     dataset_name=sample.dataset.name, cache=cache, progress=progress)
    return replace(res, sample=sample, params=params)


def _resolve(model: LoadedModel, methods: Sequence[MethodSpec]) -> list[MethodSpec]:
    """Validated entries (parameters with defaults, sorted unique layers); fails before anything is computed."""
    if not methods:
        raise SaliencyError("Give at least one saliency method to play the games with.")
    resolved = []
    for m in methods:
        spec = get_method(m.name)
        if m.layers is not None and m.name not in GRADCAM:
            raise SaliencyError(f"A layer sweep is available for decoded_gradcam and layer_gradcam, not {m.name}.")
        p = spec.resolve_params(model, m.params)
        layers = None if m.layers is None else tuple(sorted({int(spec.resolve_params(model, {"layer": li})["layer"])
                                                             for li in m.layers}))
        if spec.needs_mlm_head:
            from core.analyses.saliency.registry import require_mlm_head

            require_mlm_head(model, m.name)
        resolved.append(MethodSpec(m.name, p if layers is None else {}, layers))
    return resolved


def play_games(model: LoadedModel, texts: Sequence[str], labels: np.ndarray | None, methods: Sequence[MethodSpec], *,
               pairs: Sequence[str] | None = None, replacement: str = "mask", max_length: int | None = None,
               seed: int = 0, batch_size: int = 32, dataset_name: str = "", cache: "ArrayCache | None" = None,
               progress: Progress | None = None) -> FaithfulnessResult:
    """The games on bare texts for explicit entries (each method its own parameters and layer sweep).

    labels: (n,) true labels as the model's class ids (−1 unknown) or None (accuracy is then agreement
    with the intact prediction). Grad-CAM entries with ``layers`` are swept from one backward pass.
    With ``cache``, each method's curves are stored on disk under (model, texts, labels, method,
    parameters, replacement, max_length, seed), so adding a method later reuses the others.
    Progress: stage = the method's name ("random" for the random order), fraction = its share done.
    """
    from core.foundation.cache import fingerprint

    model.require_head()
    resolved = _resolve(model, methods)
    replacement = effective_replacement(model, replacement)
    replacement_ids(model, replacement)
    if labels is not None and len(labels) != len(texts):
        raise SaliencyError(f"{len(texts)} texts but {len(labels)} labels.")
    say = or_silent(progress)
    t0 = time.perf_counter()
    ml = int(max_length or model.max_length)
    base_parts = {"v": GAMES_VERSION, "model": model.fingerprint, "texts": fingerprint([list(texts), pairs]),
                  "labels": None if labels is None else np.asarray(labels).tolist(), "replacement": replacement,
                  "max_length": ml, "seed": seed}
    state: dict[str, Any] = {}

    def games(stage: str) -> _Games:
        if "g" not in state:
            say(stage, 0.0, "scoring the intact texts")
            state["g"] = _Games(model, texts, pairs, replacement=replacement, max_length=ml, batch_size=batch_size)
        return state["g"]

    curves: list[GameCurve] = []
    facts: dict[str, Any] = {}
    game_seconds = 0.0
    for m in [*resolved, MethodSpec("random")]:
        parts = {**base_parts, "method": m.name, "params": m.params, "layers": m.layers}
        entry = cache.load("games", cache.key({"kind": "games", **parts})) if cache is not None else None
        if entry is not None:
            curves.extend(GameCurve.from_json(c) for c in entry.meta["curves"])
            facts = facts or entry.meta["facts"]
            say(m.name, 1.0, "from the disk cache")
            continue
        g = games(m.name)
        n = len(g.rows)
        lab = np.asarray(labels, dtype=np.int64) if labels is not None else np.full(n, -1)
        against = "true labels"
        if not (lab >= 0).any():
            lab, against = g.targets.astype(np.int64), "intact predictions"
        facts = {"n": n, "accuracy_against": against, "truncated": g.truncated,
                 "mean_tokens": float(np.mean([len(r[2]) for r in g.rows]))}
        stage, part = m.name, {"i": 0, "of": 1}  # part: which of the swept layers is being played

        def sub(st: str, fraction: float, message: str = "") -> None:
            what = "games" if st == "games" else "saliency"
            f = 0.3 + 0.7 * (part["i"] + fraction) / part["of"] if what == "games" else 0.3 * fraction
            say(stage, f, f"{what} {message}")
        ts = time.perf_counter()
        # one generator for all texts, drawn from text after text (a cached run's orders stay the same)
        by_key = _token_orders(model, texts, pairs, m, g, [_rng(seed, m.name)] * n, max_length=ml, progress=sub)
        sal_seconds = (time.perf_counter() - ts) / len(by_key)
        new = []
        part["of"] = len(by_key)
        for part["i"], (key, orders) in enumerate(by_key.items()):
            tg = time.perf_counter()
            hide, reveal = g.play(orders, progress=sub)
            game_seconds += time.perf_counter() - tg
            layer = key if key is not None else m.params.get("layer")
            new.append(_curve(m.name, layer, hide, reveal, g.targets, lab, sal_seconds,
                              m.params if key is None else {"layer": key}))
        curves.extend(new)
        if cache is not None:
            cache.save("games", cache.key({"kind": "games", **parts}), {},
                       {"curves": [c.to_json() for c in new], "facts": facts},
                       description=f"{model.ref}: {m.name} games n={n}")
    say("done", 1.0, "games finished")
    return FaithfulnessResult(
        tuple(curves), int(facts["n"]), replacement, str(facts["accuracy_against"]), ml, int(facts["truncated"]),
        float(facts["mean_tokens"]), seed, model.ref, dataset_name, time.perf_counter() - t0, game_seconds,
        state["g"].evaluations if "g" in state else 0)


def _rng(seed: int, method: str) -> np.random.Generator:
    """The generator of one token order's ties (and of the random order), seeded by ``seed`` and the method."""
    return np.random.default_rng([seed, zlib.crc32(method.encode())])


def _token_orders(model: LoadedModel, texts: Sequence[str], pairs: Sequence[str] | None, m: MethodSpec,
                  g: _Games, rngs: Sequence[np.random.Generator], *, max_length: int,
                  progress: Progress | None) -> dict[Any, list[np.ndarray]]:
    """Each text's content tokens from most to least salient under ``m`` (a random permutation for "random"),
    per swept layer (key None: no sweep); text i's ties are broken with ``rngs[i]``, texts in order."""
    if m.name == "random":
        return {None: [rng.permutation(len(r[2])) for rng, r in zip(rngs, g.rows)]}
    from core.analyses.saliency.gradcam import gradcam_layer_sweep

    targets = g.targets.tolist()
    if m.layers is not None:
        res = gradcam_layer_sweep(model, texts, pairs, layers=m.layers, decoded=m.name == "decoded_gradcam",
                                  target=targets, batch_size=16, max_length=max_length, progress=progress)
    else:
        res = {None: get_method(m.name)(model, texts, pairs, target=targets, max_length=max_length,
                                        progress=progress, **m.params)}
    _check_lengths(res, g)
    return {k: [_order(x.scores, rng) for x, rng in zip(rs, rngs)] for k, rs in res.items()}


@dataclass(frozen=True)
class TextGames:
    """Both games for one token order, text by text (the per-text numbers behind a :class:`GameCurve`).

    levels: (K,) shares of the content tokens hidden or revealed; n_tokens: (n,) content tokens played;
    targets: (n,) int64 the intact predictions; hide_predicted, reveal_predicted: (n, K) int64 the predicted
    class at each level; hide_probability, reveal_probability: (n, K) float64 the target's probability there.
    """

    method: str
    levels: np.ndarray
    n_tokens: np.ndarray
    targets: np.ndarray
    hide_predicted: np.ndarray
    hide_probability: np.ndarray
    reveal_predicted: np.ndarray
    reveal_probability: np.ndarray


def play_text_games(model: LoadedModel, texts: Sequence[str], method: MethodSpec, *,
                    pairs: Sequence[str] | None = None, replacement: str = "mask", max_length: int | None = None,
                    seed: int = 0, batch_size: int = 32) -> tuple[TextGames, TextGames]:
    """The games of ``method`` (one layer, no sweep) and of the random order, text by text.

    Each text breaks its ties (and draws its random order) with a generator of its own, seeded as
    :func:`play_games` seeds its one generator, so text i's numbers are those of ``play_games([texts[i]], …)``
    and do not depend on the other texts of the call (a corpus audit's batches). No labels: accuracy against
    true labels is left to the caller (``*_predicted``)."""
    model.require_head()
    if method.layers is not None:
        raise SaliencyError("Per-text games play one layer; give it as the method's layer parameter.")
    (m,) = _resolve(model, [method])
    replacement = effective_replacement(model, replacement)
    ml = int(max_length or model.max_length)
    g = _Games(model, texts, pairs, replacement=replacement, max_length=ml, batch_size=batch_size)
    n_tokens = np.array([len(r[2]) for r in g.rows], np.int64)
    out = []
    for spec in (m, MethodSpec("random")):
        (orders,) = _token_orders(model, texts, pairs, spec, g, [_rng(seed, spec.name) for _ in g.rows],
                                  max_length=ml, progress=None).values()
        hide, reveal = g.play(orders)
        rows = np.arange(len(orders))
        out.append(TextGames(spec.name, np.asarray(LEVELS), n_tokens, g.targets.astype(np.int64),
                             hide.argmax(-1).astype(np.int64), hide[rows, :, g.targets].astype(np.float64),
                             reveal.argmax(-1).astype(np.int64), reveal[rows, :, g.targets].astype(np.float64)))
    return out[0], out[1]


def _check_lengths(res: dict[Any, list[SaliencyResult]], games: _Games) -> None:
    for rs in res.values():
        for x, row in zip(rs, games.rows):
            if len(x.scores) != len(row[2]):  # both tokenise the same way; a mismatch is a bug, not bad input
                raise RuntimeError("saliency and game tokenisation disagree")
