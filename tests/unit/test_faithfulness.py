"""Faithfulness games, class-representative tokens and saliency rendering on the one-token model."""
from __future__ import annotations

import re
from html import unescape

import numpy as np
import pytest

from core.foundation.cache import ArrayCache
from core.analyses.saliency.class_tokens import IDF, class_representative_tokens, idf_from_texts
from core.analyses.saliency.faithfulness import LEVELS, MethodSpec, level_counts, run_games
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
    return run_games(model, texts, labels, specs, cache=cache), (model, texts, labels, specs, cache)


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
    again = run_games(m, texts, labels, specs, cache=cache)
    assert again.evaluations == 0  # every method and the random order came from the cache
    for a, b in zip(res.curves, again.curves):
        assert a.name == b.name
        np.testing.assert_allclose(a.hide_accuracy, b.hide_accuracy)
        np.testing.assert_allclose(a.reveal_probability, b.reveal_probability)
    more = run_games(m, texts, labels, [*specs, MethodSpec("grad_x_input")], cache=cache)
    assert 0 < more.evaluations < res.evaluations  # only the new method is played


def test_unlabelled_games_measure_agreement(model):
    res = run_games(model, WITH[:3] + WITHOUT[:3], None, [MethodSpec("occlusion")])
    assert res.accuracy_against == "intact predictions"
    assert res.curve("occlusion").hide_accuracy[0] == 1.0


@pytest.mark.parametrize("replacement", ["pad", "delete"])
def test_other_replacements(model, replacement):
    res = run_games(model, WITH[:4] + WITHOUT[:4], np.array([1] * 4 + [0] * 4), [MethodSpec("occlusion")],
                    replacement=replacement)
    assert res.replacement == replacement
    assert res.curve("occlusion").hide_auc < res.random.hide_auc


def test_games_bad_input(model):
    with pytest.raises(SaliencyError, match="at least one"):
        run_games(model, WITH, None, [])
    with pytest.raises(SaliencyError, match="layer sweep is available for decoded_gradcam and layer_gradcam"):
        run_games(model, WITH, None, [MethodSpec("occlusion", layers=(1,))])
    with pytest.raises(SaliencyError, match="out of range"):
        run_games(model, WITH, None, [MethodSpec("decoded_gradcam", layers=(0, 7))])
    with pytest.raises(SaliencyError, match="texts but 2 labels"):
        run_games(model, WITH, np.array([0, 1]), [MethodSpec("occlusion")])
    with pytest.raises(SaliencyError, match="mask, pad or delete"):
        run_games(model, WITH, None, [MethodSpec("occlusion")], replacement="blank")


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
