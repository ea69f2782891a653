"""Faithfulness games, class-representative tokens and saliency rendering on the one-token model."""
from __future__ import annotations

import re
from html import unescape

import numpy as np
import pytest

from core.foundation.cache import ArrayCache
from core.analyses.saliency.class_tokens import IDF, class_representative_tokens, idf_from_texts
from core.analyses.saliency.faithfulness import (LEVELS, MethodSpec, game_specs, games_cost, level_counts,
                                                 play_games, run_games)
from core.analyses.saliency.class_tokens import run_class_tokens
from core.analyses.saliency_params import ClassTokensParams, FaithfulnessParams
from core.analyses.saliency import SaliencyError, get_method
from tests.unit.test_saliency import KEY, _one_token_model

WITH = ["the food was awful today", "an awful film", "what awful weather we had this week", "awful",
        "she said the match was awful and long", "truly awful service at the desk"]
WITHOUT = ["the food was fine today", "a good film", "what nice weather we had", "fine",
           "she said the match was long", "quick service at the desk"]


@pytest.fixture(scope="module")
def model():
    return _one_token_model()


@pytest.fixture(scope="module")
def games(model, tmp_path_factory):
    texts = WITH + WITHOUT
    labels = np.array([1] * len(WITH) + [0] * len(WITHOUT))
    cache = ArrayCache(tmp_path_factory.mktemp("games"))
    specs = [MethodSpec("occlusion"), MethodSpec("decoded_gradcam", layers=(0, 2)), MethodSpec("attention")]
    return play_games(model, texts, labels, specs, cache=cache), (model, texts, labels, specs, cache)


def test_level_counts():
    assert level_counts(5).tolist() == [0, 1, 1, 2, 2, 3, 3, 4, 4, 5, 5]
    assert level_counts(1).tolist() == [0, 0, 0, 0, 0, 1, 1, 1, 1, 1, 1]
    assert len(LEVELS) == 11 and LEVELS[0] == 0 and LEVELS[-1] == 1


def test_true_order_beats_random_in_both_games(games):
    res, _ = games
    occ, rnd = res.curve("occlusion"), res.random
    assert occ.hide_auc < rnd.hide_auc - 0.05
    assert occ.reveal_auc > rnd.reveal_auc + 0.05
    # intact texts: the one-token model is right on all of them; everything hidden: only "other" survives
    for c in res.curves:
        assert c.hide_accuracy[0] == 1.0 and c.reveal_accuracy[-1] == 1.0
        assert c.hide_accuracy[-1] == pytest.approx(0.5) and c.reveal_accuracy[0] == pytest.approx(0.5)
    # hiding the top half removes KEY from every text that has it (it is ranked first; 'awful' alone has one
    # token, hidden from level 0.5 on), while the random order still leaves it in some
    assert occ.hide_accuracy[5] == pytest.approx(0.5) and rnd.hide_accuracy[5] > 0.5


def test_layer_sweep_and_best_layer(games):
    res, _ = games
    assert [c.layer for c in res.layers("decoded_gradcam")] == [0, 2]
    # hidden states are LayerNorm outputs: Grad-CAM is degenerate below the last layer, exact at it
    assert res.best_layer("decoded_gradcam") == 2
    assert res.curve("decoded_gradcam", 2).gap > res.curve("decoded_gradcam", 0).gap
    js = res.to_json()
    assert js["best_layer"] == {"decoded_gradcam": 2}
    names = [m["method"] for m in js["methods"]]
    assert names.count("decoded_gradcam") == 2 and names[-1] == "random"
    assert js["accuracy_against"] == "true labels" and js["n"] == 12


def test_games_are_cached_per_method(games, model):
    res, (m, texts, labels, specs, cache) = games
    again = play_games(m, texts, labels, specs, cache=cache)
    assert again.evaluations == 0  # every method and the random order came from the cache
    for a, b in zip(res.curves, again.curves):
        assert a.name == b.name
        np.testing.assert_allclose(a.hide_accuracy, b.hide_accuracy)
        np.testing.assert_allclose(a.reveal_probability, b.reveal_probability)
    more = play_games(m, texts, labels, [*specs, MethodSpec("grad_x_input")], cache=cache)
    assert 0 < more.evaluations < res.evaluations  # only the new method is played


def test_unlabelled_games_measure_agreement(model):
    res = play_games(model, WITH[:3] + WITHOUT[:3], None, [MethodSpec("occlusion")])
    assert res.accuracy_against == "intact predictions"
    assert res.curve("occlusion").hide_accuracy[0] == 1.0


@pytest.mark.parametrize("replacement", ["pad", "delete"])
def test_other_replacements(model, replacement):
    res = play_games(model, WITH[:4] + WITHOUT[:4], np.array([1] * 4 + [0] * 4), [MethodSpec("occlusion")],
                    replacement=replacement)
    assert res.replacement == replacement
    assert res.curve("occlusion").hide_auc < res.random.hide_auc


def test_games_bad_input(model):
    with pytest.raises(SaliencyError, match="at least one"):
        play_games(model, WITH, None, [])
    with pytest.raises(SaliencyError, match="layer sweep is available for decoded_gradcam and layer_gradcam"):
        play_games(model, WITH, None, [MethodSpec("occlusion", layers=(1,))])
    with pytest.raises(SaliencyError, match="out of range"):
        play_games(model, WITH, None, [MethodSpec("decoded_gradcam", layers=(0, 7))])
    with pytest.raises(SaliencyError, match="texts but 2 labels"):
        play_games(model, WITH, np.array([0, 1]), [MethodSpec("occlusion")])
    with pytest.raises(SaliencyError, match="mask, pad or delete"):
        play_games(model, WITH, None, [MethodSpec("occlusion")], replacement="blank")


# ----------------------------------------------------------------------------- a Sample and typed params


def _sample(texts, labels=None):
    """The texts as a Sample (labels in the one-token model's label names)."""
    from core.data.datasets import _make
    from core.data.sampling import draw

    return draw(_make("keys", texts, labels, ("other", "has-key")), None)


def test_run_games_on_a_sample_plays_the_same_games(games, model):
    res, (_, texts, labels, _, cache) = games
    sample = _sample(texts, labels)
    p = FaithfulnessParams(methods=("occlusion", "decoded_gradcam", "attention"), layers=(0, 2))
    again = run_games(model, sample, p, cache=cache)
    assert again.evaluations == 0  # the same games as the fixture's explicit entries: all from the cache
    assert [c.name for c in again.curves] == [c.name for c in res.curves]
    assert again.sample is sample and again.params == p and again.dataset_name == "keys" and again.n == 12
    assert again.accuracy_against == "true labels"


def test_game_specs_follow_the_params(model):
    p = FaithfulnessParams(methods=("decoded_gradcam", "integrated_gradients", "occlusion"), layers="default",
                           method_params=("occlusion.window=2", "decoded_gradcam.layer=1"))
    assert [(s.name, s.params, s.layers) for s in game_specs(model, p)] == [
        ("decoded_gradcam", {"layer": "1"}, None), ("integrated_gradients", {"steps": 20}, None),
        ("occlusion", {"window": "2"}, None)]
    swept = game_specs(model, p.replace(layers="all", method_params=("integrated_gradients.steps=5",)))
    assert swept[0] == MethodSpec("decoded_gradcam", {}, (0, 1, 2)) and swept[1].params == {"steps": "5"}
    assert game_specs(model, p.replace(layers=[2, 0]))[0].layers == (0, 2)
    with pytest.raises(SaliencyError, match="METHOD.NAME=VALUE for one of the methods"):
        game_specs(model, p.replace(method_params=("shapley.samples=2",)))


def test_games_cost():
    p = FaithfulnessParams(methods=("decoded_gradcam", "occlusion"), layers="all")
    c = games_cost(100, p, 6)
    assert c.orders == 7 + 1 + 1 and c.evaluations == 100 * 18 * 9 and c.minutes == (2, 7)
    assert games_cost(8, p.replace(layers="default"), 6).orders == 3
    assert games_cost(8, p.replace(layers="default"), 6).minutes == (1, 1)
    assert not c.long and games_cost(201, p, 6).long


def test_dataset_runs_cap_integrated_gradients():
    from core.analyses.saliency_params import as_assignments, capped

    assert capped("integrated_gradients", {"steps": 50, "baseline": "pad"}) == {"steps": 20, "baseline": "pad"}
    assert capped("integrated_gradients", {"steps": 8}) == {"steps": 8} and capped("occlusion", {"window": 3}) == {
        "window": 3}
    assert as_assignments({"steps": 8, "layer": None}, prefix="integrated_gradients.") == (
        "integrated_gradients.steps=8",)


def test_run_class_tokens_on_a_sample(model, tmp_path):
    sample = _sample(WITH + WITHOUT, [1] * len(WITH) + [0] * len(WITHOUT))
    ct = run_class_tokens(model, sample, ClassTokensParams(method="occlusion", top_k=3, idf="dataset"))
    assert ct.sample is sample and ct.seconds > 0 and ct.words[1][0] == KEY and ct.top_k == 3
    assert ct.idf_source == "keys (12 texts)"
    corpus = tmp_path / "corpus.txt"
    corpus.write_text("awful\nfine day\n\n", "utf-8")
    ct = run_class_tokens(model, sample, ClassTokensParams(method="occlusion", method_params=("window=1",),
                                                           idf=str(corpus)))
    assert ct.idf_source == "corpus.txt (2 lines)" and ct.params["window"] == 1
    with pytest.raises(SaliencyError, match="is not a file"):
        run_class_tokens(model, sample, ClassTokensParams(method="occlusion", idf=str(tmp_path / "none.txt")))
    with pytest.raises(SaliencyError, match="has no parameter 'windw'"):
        run_class_tokens(model, sample, ClassTokensParams(method="occlusion", method_params=("windw=1",)))


# ----------------------------------------------------------------------------- class tokens


def test_idf_formula(model):
    idf = idf_from_texts(model.tokenizer, ["a b", "a c", "a"])
    assert idf.n_docs == 3
    assert idf("a") == pytest.approx(np.log(4 / 4) + 1)
    assert idf("b") == pytest.approx(np.log(4 / 2) + 1)
    assert idf("zzz") == pytest.approx(np.log(4 / 1) + 1)


def test_class_tokens_find_the_key_and_count_overlap(model):
    rs = get_method("occlusion")(model, WITH + WITHOUT)
    flat = IDF({}, 10, "flat")
    ct = class_representative_tokens(rs, model.tokenizer, idf=flat, top_k=3, min_docs=2)
    assert ct.label_names == ("other", "has-key")
    assert ct.docs.tolist() == [6, 6]
    assert ct.words[1][0] == KEY  # all evidence for "has-key" sits on KEY
    assert ct.overlap[1, 1] == len(ct.words[1]) and ct.overlap[0, 1] == ct.overlap[1, 0]
    js = ct.to_json()
    assert js["classes"][1]["words"][0]["word"] == KEY


def test_class_tokens_min_docs_and_overlap_by_hand(model):
    from core.analyses.saliency.result import SaliencyResult

    def res(words, scores, pred):
        n = len(words)
        return SaliencyResult(" ".join(words), None, tuple(words), np.array(scores, np.float32), np.zeros(n, np.int64),
                              np.arange(n), np.zeros(n, np.int64), np.arange(n), np.full((n, 2), -1), pred,
                              ("a", "b"), np.array([0.9, 0.1] if pred == 0 else [0.1, 0.9]), "m", {}, True, False)
    rs = [res(["x", "y", "shared"], [1, 1, 1], 0), res(["x", "shared"], [1, 1], 0),
          res(["z", "shared", "rare"], [1, 1, 5], 1), res(["z", "shared"], [1, -1], 1)]
    ct = class_representative_tokens(rs, model.tokenizer, idf=IDF({}, 10, "flat"), top_k=2, min_docs=2)
    assert set(ct.words[0]) == {"x", "shared"}
    assert "rare" not in ct.words[1] and ct.words[1][0] == "z"  # rare: one text only; negative scores ignored
    assert ct.overlap[0, 1] == 1 and ct.mean_overlap == 1.0


# ----------------------------------------------------------------------------- rendering


def test_saliency_html_is_escaped_and_coloured(model):
    from figures.saliency import saliency_comparison_html, saliency_html

    hostile = '<script>alert(1)</script> awful <img src=x onerror="boom()">'
    (r,) = get_method("occlusion")(model, [hostile], target="other")
    html = saliency_html(r)
    assert "<script" not in html and "<img" not in html and "onerror=" not in html.replace("onerror=&quot;", "")
    assert "rgba(0,114,178" in html  # signed method, negative evidence for the explained class → blue
    text = unescape(re.sub(r"<[^>]+>", "", html))
    assert hostile in text and "explaining" in text  # shown verbatim, as text
    (pos,) = get_method("occlusion")(model, ["so awful"])
    assert "rgba(213,94,0" in saliency_html(pos)
    both = saliency_comparison_html([pos, get_method("attention")(model, ["so awful"])[0]], titles=["Occ", "Att"])
    assert both.count("<tr>") == 2 and "Occ" in both and "unsigned" in both


def test_faithfulness_charts_render(games):
    from figures.faithfulness import faithfulness_chart, game_curves, layer_sweep_chart
    from figures.style import to_svg

    res, _ = games
    names = [c.name for c in game_curves(res)]
    assert names[-1] == "random" and "decoded_gradcam@2" in names and "decoded_gradcam@0" in names
    svg = to_svg(faithfulness_chart(res))
    assert "Hiding game" in svg and "Revealing game" in svg
    assert "Which layer" in to_svg(layer_sweep_chart(res))
