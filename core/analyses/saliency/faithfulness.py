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
"""
from __future__ import annotations

from core.foundation.progress import Counter, Progress, or_silent

import time
import zlib
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any, Sequence

import numpy as np

from core.models.loading import LoadedModel
from core.analyses.saliency.result import SaliencyError, SaliencyResult
from core.analyses.saliency.registry import get_method
from core.analyses.saliency.inputs import perturb_ids, prepare_inputs, replacement_ids
from core.analyses.saliency.forward import probs_of_sequences

if TYPE_CHECKING:  # pragma: no cover
    from core.foundation.cache import ArrayCache
    from core.data.datasets import TextDataset

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

    accuracy_against: "true labels" or "intact predictions" (unlabelled data).
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
        bl = {m: self.best_layer(m) for m in ("decoded_gradcam", "layer_gradcam") if self.layers(m)}
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


def run_games(model: LoadedModel, texts: Sequence[str], labels: np.ndarray | None, methods: Sequence[MethodSpec], *,
              pairs: Sequence[str] | None = None, replacement: str = "mask", max_length: int | None = None,
              seed: int = 0, batch_size: int = 32, dataset_name: str = "", cache: "ArrayCache | None" = None,
              progress: Progress | None = None) -> FaithfulnessResult:
    """Hiding and revealing games for every method (and layer) and a random order, on the same texts.

    labels: (n,) true labels as the model's class ids (−1 unknown) or None (accuracy is then agreement
    with the intact prediction). Grad-CAM entries with ``layers`` are swept from one backward pass.
    With ``cache``, each method's curves are stored on disk under (model, texts, labels, method,
    parameters, replacement, max_length, seed), so adding a method later reuses the others.
    """
    from core.foundation.cache import fingerprint
    from core.analyses.saliency.gradcam import gradcam_layer_sweep

    model.require_head()
    if not methods:
        raise SaliencyError("Give at least one saliency method to play the games with.")
    resolved = []
    for m in methods:
        spec = get_method(m.name)
        if m.layers is not None and m.name not in ("decoded_gradcam", "layer_gradcam"):
            raise SaliencyError(f"A layer sweep is available for decoded_gradcam and layer_gradcam, not {m.name}.")
        p = spec.resolve_params(model, m.params)  # fail before computing anything
        layers = None if m.layers is None else tuple(sorted({int(spec.resolve_params(model, {"layer": li})["layer"])
                                                             for li in m.layers}))
        if spec.needs_mlm_head:
            from core.analyses.saliency.registry import require_mlm_head

            require_mlm_head(model, m.name)
        resolved.append(MethodSpec(m.name, p if layers is None else {}, layers))
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

    def games() -> _Games:
        if "g" not in state:
            say("prepare", 0.0, "scoring the intact texts")
            state["g"] = _Games(model, texts, pairs, replacement=replacement, max_length=ml, batch_size=batch_size)
        return state["g"]

    jobs = [*resolved, MethodSpec("random")]
    curves: list[GameCurve] = []
    facts: dict[str, Any] = {}
    game_seconds = 0.0
    for j, m in enumerate(jobs):
        parts = {**base_parts, "method": m.name, "params": m.params, "layers": m.layers}
        entry = cache.load("games", cache.key({"kind": "games", **parts})) if cache is not None else None
        if entry is not None:
            curves.extend(GameCurve.from_json(c) for c in entry.meta["curves"])
            facts = facts or entry.meta["facts"]
            continue
        g = games()
        n = len(g.rows)
        lab = np.asarray(labels, dtype=np.int64) if labels is not None else np.full(n, -1)
        against = "true labels"
        if not (lab >= 0).any():
            lab, against = g.targets.astype(np.int64), "intact predictions"
        facts = {"n": n, "accuracy_against": against, "truncated": g.truncated,
                 "mean_tokens": float(np.mean([len(r[2]) for r in g.rows]))}
        stage, frac0, width = m.name, j / len(jobs), 1 / len(jobs)

        part = {"i": 0, "of": 1}  # which of the swept layers is being played

        def sub(st: str, fraction: float, message: str = "") -> None:
            what = "games" if st == "games" else "saliency"
            f = 0.3 + 0.7 * (part["i"] + fraction) / part["of"] if what == "games" else 0.3 * fraction
            say(stage, frac0 + width * f, f"{stage}: {what} {message}")
        ts = time.perf_counter()
        rng = np.random.default_rng([seed, zlib.crc32(m.name.encode())])
        targets = g.targets.tolist()
        if m.name == "random":
            by_key: dict[Any, list[np.ndarray]] = {None: [rng.permutation(len(r[2])) for r in g.rows]}
        else:
            if m.layers is not None:
                res = gradcam_layer_sweep(model, texts, pairs, layers=m.layers, decoded=m.name == "decoded_gradcam",
                                          target=targets, batch_size=16, max_length=ml, progress=sub)
            else:
                res = {None: get_method(m.name)(model, texts, pairs, target=targets, max_length=ml, progress=sub,
                                                **m.params)}
            _check_lengths(res, g)
            by_key = {k: [_order(x.scores, rng) for x in rs] for k, rs in res.items()}
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


def _check_lengths(res: dict[Any, list[SaliencyResult]], games: _Games) -> None:
    for rs in res.values():
        for x, row in zip(rs, games.rows):
            if len(x.scores) != len(row[2]):  # both tokenise the same way; a mismatch is a bug, not bad input
                raise RuntimeError("saliency and game tokenisation disagree")


def dataset_games(model: LoadedModel, dataset: "TextDataset", methods: Sequence[MethodSpec], *,
                  replacement: str = "mask", max_length: int | None = None, seed: int = 0,
                  cache: "ArrayCache | None" = None, progress: Progress | None = None) -> FaithfulnessResult:
    """:func:`run_games` on a dataset sample; true labels matched to the model's by name (cached on disk)."""
    from core.foundation.cache import ArrayCache
    from core.analyses.projection.run import model_labels

    labels, _ = model_labels(model, dataset)
    return run_games(model, list(dataset.texts), labels, methods,
                     pairs=None if dataset.text_pairs is None else list(dataset.text_pairs), replacement=replacement,
                     max_length=max_length, seed=seed, dataset_name=dataset.name,
                     cache=cache if cache is not None else ArrayCache(), progress=progress)
