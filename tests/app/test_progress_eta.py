"""The progress bar's time left: the job's estimate at first, the measured rate once a fifth of it is done."""
from __future__ import annotations

import time

import pytest

from ui.progress import StreamlitProgress

pytestmark = pytest.mark.app


def _bar(expected: float | None, elapsed: float) -> StreamlitProgress:
    bar = StreamlitProgress("Working…", stages={"a": 3.0, "b": 1.0}, expected=expected)
    bar.start = time.monotonic() - elapsed
    return bar


def test_time_left_from_the_estimate_then_from_the_rate():
    assert _bar(100, 10).remaining(0.0) == pytest.approx(90, abs=0.5)  # nothing done yet: the estimate
    assert _bar(100, 10).remaining(0.5) == pytest.approx(10, abs=0.5)  # half done in 10 s: 10 s more
    blend = _bar(100, 10).remaining(0.1)  # a tenth done: halfway between 90 s planned and 90 s by rate
    assert blend == pytest.approx(90, abs=1)
    assert _bar(None, 1).remaining(0.5) is None  # too early to say without an estimate
    assert _bar(None, 20).remaining(0.25) == pytest.approx(60, abs=0.5)


def test_the_bar_text_says_how_long_is_left(monkeypatch):
    bar = _bar(None, 30)
    shown = []
    monkeypatch.setattr(bar.bar, "progress", lambda value, text: shown.append((value, text)))
    bar("a", 0.5, "3/6 texts")  # stage a weighs 3 of 4: 37.5 % of the job in 30 s
    assert shown and shown[-1][0] == pytest.approx(0.375)
    assert shown[-1][1].endswith("· about 50 s left") and "3/6 texts" in shown[-1][1]
