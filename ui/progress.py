"""The dashboard's one adapter of the progress protocol (:mod:`core.foundation.progress`): ``st.progress``.

Create it *inside* a cached function: Streamlit replays the elements a cached function drew, and an
element created outside it cannot be replayed. ``close()`` empties it, so a replay draws nothing.

While a job runs, the bar says how long is left: from the time taken so far and the share done (weight the
stages by their expected seconds, e.g. an :class:`~core.models.throughput.Estimate`'s parts, so that the share
done is a share of the time), blended at the start with the job's estimate when one is given (``expected``).
"""
from __future__ import annotations

import time
from typing import Mapping, Sequence

import streamlit as st

# what a stage of core is called on the bar (one table for every page)
STAGE_TITLES = {
    "embeddings": "Embedding the texts", "distances": "Computing discriminative distances",
    "projection": "Projecting", "sweep": "λ sweep", "projections": "DeepView projections", "metrics": "Measuring",
    "games": "Faithfulness games", "prepare": "Preparing", "attack": "Attacking the texts",
    "attribution": "Attention attribution", "mask": "Head-mask gradient", "pruning": "Pruning check",
    "layers": "Scoring the layers", "clusters": "Clustering", "topic words": "Naming the topics",
    "interactions": "Integrated Hessians", "finetune": "Fine-tuning", "head": "Training the head",
    "mlm-head": "Fitting the decoding head", "joint map": "Joint map", "synergy": "Synergy", "transfer": "Transfer probes",
    "held-out": "Held-out evaluation",
}


class StreamlitProgress:
    """``progress(stage, fraction, message)`` drawn as one throttled ``st.progress`` bar.

    ``stages``: the job's stages in order, with weights (a mapping) or equal weights (a sequence); the bar
    then shows the weighted share of the whole job. A stage not listed shows its own fraction. ``titles``
    adds to :data:`STAGE_TITLES`; ``prefix`` goes before every label.
    """

    def __init__(self, text: str, *, stages: Mapping[str, float] | Sequence[str] | None = None,
                 titles: Mapping[str, str] | None = None, prefix: str = "", expected: float | None = None) -> None:
        self.text = text
        self.bar = st.progress(0.0, text=text)
        self.last = 0.0
        self.start = time.monotonic()
        self.expected = expected
        self.prefix = prefix
        self.titles = {**STAGE_TITLES, **(titles or {})}
        w = dict(stages) if isinstance(stages, Mapping) else {s: 1.0 for s in (stages or ())}
        total = sum(w.values()) or 1.0
        self.spans: dict[str, tuple[float, float]] = {}
        lo = 0.0
        for s, weight in w.items():
            self.spans[s] = (lo / total, (lo + weight) / total)
            lo += weight
        self.span = (0.0, 1.0)

    def part(self, i: int, n: int, *, prefix: str = "") -> "StreamlitProgress":
        """The same bar for part ``i`` of ``n`` equal parts of a job (e.g. one of several models)."""
        view = object.__new__(StreamlitProgress)
        view.__dict__.update(self.__dict__)
        lo, hi = self.span
        view.span = (lo + (hi - lo) * i / n, lo + (hi - lo) * (i + 1) / n)
        view.prefix = prefix or self.prefix
        return view

    def __call__(self, stage: str, fraction: float, message: str = "") -> None:
        f = min(1.0, max(0.0, float(fraction)))
        lo, hi = self.spans.get(stage, (0.0, 1.0))
        overall = self.span[0] + (self.span[1] - self.span[0]) * (lo + (hi - lo) * f)
        title = self.titles.get(stage, stage.replace("_", " ").capitalize())
        self.show(overall, f"{self.prefix}{title}" + (f" – {message}" if message else ""), final=f >= 1.0)

    def remaining(self, fraction: float) -> float | None:
        """Seconds left when ``fraction`` of the job is done (None while there is nothing to go on)."""
        elapsed = time.monotonic() - self.start
        f = min(1.0, max(0.0, fraction))
        by_rate = elapsed * (1 - f) / f if f >= 0.02 and elapsed >= 2 else None
        if self.expected is None:
            return by_rate
        by_plan = max(0.0, self.expected - elapsed)
        if by_rate is None:
            return by_plan
        w = min(1.0, f / 0.2)  # the measured rate takes over once a fifth of the job is done
        return w * by_rate + (1 - w) * by_plan

    def show(self, fraction: float, text: str, *, final: bool = False) -> None:
        now = time.monotonic()
        if now - self.last > 0.3 or final:
            self.last = now
            left = self.remaining(fraction) if fraction < 1 else None
            if left is not None and left >= 1:
                from core.models.throughput import duration

                text = f"{text} · about {duration(left)} left"
            self.bar.progress(min(1.0, max(0.0, fraction)), text=text)

    def close(self) -> None:
        self.bar.empty()


__all__ = ["STAGE_TITLES", "StreamlitProgress"]
