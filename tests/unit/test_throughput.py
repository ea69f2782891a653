"""Time estimates from measured throughput (core.models.throughput) and the dashboard's pass counts
(ui.cached.estimates), on a tiny BERT classifier built in the test."""
from __future__ import annotations

import json
import time

import numpy as np
import pytest

from core.models import throughput as tp
from core.models.throughput import duration, per_text


@pytest.fixture
def tiny(tiny_model_dir, tmp_path, monkeypatch):
    from core.models.refs import load_model

    monkeypatch.setenv("BACKBONE_LENS_CACHE", str(tmp_path))
    tp.forget()
    yield load_model(str(tiny_model_dir("bert")), device="cpu")
    tp.forget()


def test_line_through_measurements():
    assert tp._line([(16, 0.01), (32, 0.02)], 24) == pytest.approx(0.015)
    assert tp._line([(16, 0.01), (32, 0.02)], 64) == pytest.approx(0.04)  # extrapolated along the line
    assert tp._line([(32, 0.02)], 64) == pytest.approx(0.04)  # one length: in proportion above it
    assert tp._line([(32, 0.02)], 8) == pytest.approx(0.02)  # … and never cheaper below it
    assert tp._line([(16, 0.03), (32, 0.01)], 24) == pytest.approx(0.02)  # a noisy, falling pair: their mean


def test_buckets_around_a_length():
    assert tp._bucket_pair(20, 48) == (16, 32)
    assert tp._bucket_pair(40, 48) == (32, 48)  # the model's own maximum is a bucket
    assert tp._bucket_pair(100, 48) == (48, 48) and tp._bucket_pair(3, 48) == (8, 8)


def test_durations_and_ranges_read_as_words():
    assert [duration(s) for s in (0.2, 7.4, 14, 41, 95, 600, 7200)] == ["1 s", "7 s", "14 s", "40 s", "1.5 min",
                                                                        "10 min", "2.0 h"]
    e = tp.Estimate(100, 70, 150, "basis")
    assert e.span() == "about 1 min – 2.5 min"
    assert tp.Estimate(2, 1.4, 3, "b").span() == "under 5 s"


def test_work_groups_texts_by_length_and_keeps_named_parts():
    w = per_text("forward", [2, 3, 0, 1], [10, 10, 12, 30])
    assert w.items == (("forward", 5.0, 10.0), ("forward", 1.0, 30.0))  # the text with 0 passes is left out
    joined = w.named("a") + per_text("gradient", [4], [10]).named("b")
    assert [n for n, _ in joined.parts] == ["a", "b"] and joined.sequences() == 10 and joined.sequences("gradient") == 4


def test_measure_and_estimate_on_a_real_model(tiny, tmp_path):
    f = tp.seconds_per_sequence(tiny, "forward", 20)
    g = tp.seconds_per_sequence(tiny, "gradient", 20)
    assert 0 < f < 1 and 0 < g < 1
    stored = json.loads(next((tmp_path / "throughput").glob("*.json")).read_text())
    assert set(stored) == {"forward", "gradient"} and set(stored["forward"]) == {"16", "32"}
    # an estimate is the priced passes, its parts priced alike, its range around it
    w = per_text("forward", [10], [20]).named("one") + per_text("gradient", [5], [20]).named("two")
    e = tp.estimate(tiny, w)
    parts = dict(e.parts)
    assert e.seconds == pytest.approx(parts["one"] + parts["two"])
    assert parts["one"] == pytest.approx(10 * tp._line(
        [(int(b), v[0]) for b, v in stored["forward"].items()], 20), rel=0.3)
    assert e.low < e.seconds < e.high and "measured on this CPU" in e.basis
    # measurements older than max_age are taken again (a busy machine is measured busy)
    before = json.loads(next((tmp_path / "throughput").glob("*.json")).read_text())["forward"]["16"][1]
    time.sleep(0.01)
    tp.seconds_per_sequence(tiny, "forward", 16, max_age=0)
    after = json.loads(next((tmp_path / "throughput").glob("*.json")).read_text())["forward"]["16"][1]
    assert after > before


def test_second_derivatives_are_measured_without_changing_the_model(tiny):
    impl = tiny.encoder.config._attn_implementation
    assert tp.seconds_per_sequence(tiny, "hessian", 16) > 0
    assert tiny.encoder.config._attn_implementation == impl  # eager only while timing


def test_games_count_their_perturbed_texts(tiny):
    from core.analyses.saliency.faithfulness import level_counts
    from core.analyses.saliency_params import FaithfulnessParams
    from ui.cached.estimates import games_work

    T = np.array([12, 5])  # with [CLS] and [SEP]: 10 and 3 content tokens
    content = T - 2
    w = games_work(tiny, T, content, FaithfulnessParams(methods=("occlusion",), layers="default"), {})
    for name, part in w.parts:
        fwd = sum(n for k, n, _ in part.items if k == "forward")
        per = [2 * len({k for k in level_counts(int(c)) if 0 < k < c}) for c in content]
        if name == "random":
            assert fwd == sum(per)
        else:  # occlusion: one forward pass to find the target, one per token, then the games
            assert fwd == len(T) + content.sum() + sum(per)
    assert sum(per) == 2 * 9 + 2 * 2  # 10 tokens: levels 10 %…90 % all differ; 3 tokens: 1 and 2 hidden


def test_instance_counts_path_points_times_rows(tiny):
    from core.analyses.transformer.instance_view import InstanceParams
    from ui.cached.estimates import SCOUT_POINTS, instance_work, token_lengths

    text = "one two three four five six seven"
    T = token_lengths(tiny, [text])
    w = instance_work(tiny, text, None, InstanceParams(ig_steps=12, steps=10, max_tokens=4))
    parts = dict(w.parts)
    assert parts["attribution"].sequences("gradient") == 12 and parts["attribution"].sequences("hessian") == 0
    # 10 path points round down to 2 panels of 4 Gauss–Legendre nodes, each a second derivative per row (4 tokens)
    assert parts["interactions"].sequences("hessian") == 8 * 4
    assert parts["interactions"].sequences("gradient") == SCOUT_POINTS
    assert {t for _, _, t in w.items} == {float(T[0])}
    # fewer tokens than rows asked for: one row per token
    short = instance_work(tiny, "hi there", None, InstanceParams(steps=4, max_tokens=40))
    assert dict(short.parts)["interactions"].sequences("hessian") == 4 * (token_lengths(tiny, ["hi there"])[0] - 2)


def test_attack_range_from_first_word_to_the_limit(tiny):
    from core.analyses.adversarial.attacks import AttackParams
    from ui.cached.estimates import attack_work

    texts = ["the quick brown foxes jumped over lazy dogs again and again", "short words only here"]
    low, high = attack_work(tiny, texts, None, AttackParams(attack="char", min_similarity=0))
    assert 0 < low.sequences() < high.sequences()
    low_w, high_w = attack_work(tiny, texts, None, AttackParams(attack="word", top_k=5, min_similarity=0))
    assert high_w.sequences() > low_w.sequences() and low_w.sequences("readout") == len(texts)
