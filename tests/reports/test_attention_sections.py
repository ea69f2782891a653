"""The ``heads`` and ``attention`` report sections: spec validation, fragments and templates from core results on a
BERT with one head wired to carry the decision and on a tiny saved BERT, hostile texts kept inert (tokens included),
unavailable inputs explained in one sentence, and a whole report (HTML + PDF)."""
from __future__ import annotations

import csv
import json
import subprocess
from pathlib import Path

import numpy as np
import pytest

from reports.render import fmt_pct, render_section
from reports.sections import section_kinds
from reports.spec import load_spec, parse_spec
from tests.unit.test_attention_heads import LABELS, TEXTS, WIRED, _wired_model
from tests.reports.helpers import assert_no_markup as _no_markup, spec_error as _err

pytestmark = pytest.mark.report

EVIL = "<script>alert(1)</script>"
IMG = '<img src=x onerror="alert(2)">'

SPEC = """\
title: Heads for the test suite
model: demo:tweets-finetuned
dataset: bundled:tweets
sections:
  - kind: heads
    n: 50
    steps: 8
  - kind: attention
    texts: [a man plays guitar]
    pairs: [someone makes music]
    heads: ["2.5", 3.mean]
    max_tokens: 32
"""




# ----------------------------------------------------------------------------- spec


def test_check_names_are_validated_against_the_published_figures():
    msg = _err(SPEC + "checks: [heads.pruning_gapp > 0]\n")
    assert "section 'heads' (heads) has no figure 'pruning_gapp'" in msg and "did you mean 'pruning_gap'" in msg
    spec = parse_spec(SPEC + "checks: [heads.most_first.4 < heads.random.4, attention.second_to_first > 0.5]\n",
                      source="spec.yaml")
    assert len(spec.checks) == 2


def test_registered_with_defaults_and_round_trip():
    kinds = section_kinds()
    assert kinds.index("layers") < kinds.index("heads") < kinds.index("attention")
    spec = parse_spec("title: t\nmodel: m\ndataset: d\nsections:\n  - heads\n  - attention\n", source="s")
    heads, att = (s.params for s in spec.sections)
    assert heads == {"model": None, "dataset": None, "n": 100, "method": "attribution", "steps": 10, "compare": True,
                     "prune": True, "top": 10}
    assert att == {"model": None, "texts": (), "pairs": (), "dataset": None, "rows": None, "examples": 1, "heads": (),
                   "top_heads": 0, "max_tokens": 40, "grid": True}
    spec = parse_spec(SPEC, source="spec.yaml")
    assert spec.sections[1].params["heads"] == ("2.5", "3.mean") and spec.sections[0].params["steps"] == 8
    assert parse_spec(spec.to_yaml(), source="again").to_dict() == spec.to_dict()


@pytest.mark.parametrize("old,new,expected", [
    ("n: 50", "n: 5", "spec.yaml line 6: sections[0].n: expected a whole number ≥ 8, got 5"),
    ("steps: 8", "steps: 0", "spec.yaml line 7: sections[0].steps: expected a whole number from 1 to 100, got 0"),
    ("steps: 8", "method: attributon", "spec.yaml line 7: sections[0].method: expected one of: attribution, mask, "
     "got 'attributon' (did you mean 'attribution'?)"),
    ("steps: 8", "compare: yes please", "spec.yaml line 7: sections[0].compare: expected true or false"),
    ("max_tokens: 32", "max_tokens: 100", "spec.yaml line 12: sections[1].max_tokens: expected a whole number from "
     "4 to 48, got 100"),
    ("max_tokens: 32", "top_heads: 7", "spec.yaml line 12: sections[1].top_heads: expected a whole number from 0 "
     "to 6, got 7"),
    ("max_tokens: 32", "rows: [-1]", "spec.yaml line 12: sections[1].rows[0]: expected a whole number ≥ 0, got -1"),
    ("max_tokens: 32", "layer: 3", "spec.yaml line 12: sections[1].layer: unknown parameter of section kind "
     "'attention'"),
])
def test_bad_params_name_line_field_and_valid_values(old, new, expected):
    assert old in SPEC
    msg = _err(SPEC.replace(old, new))
    assert msg.startswith(expected), msg
    assert "\n" not in msg


# ----------------------------------------------------------------------------- heads: fragment and template


@pytest.fixture(scope="module")
def wired():
    return _wired_model()


@pytest.fixture(scope="module")
def wired_result(wired):
    from core.analyses.transformer.head_importance import head_importance

    return head_importance(wired, TEXTS, labels=LABELS, method="attribution", steps=8)


def test_heads_fragment_exposes_the_check_numbers_and_renders_them(wired_result):
    from reports.sections.heads import heads_fragment

    res = wired_result
    frag = heads_fragment(res, top=3, context={"seed": 0, "steps": 8, "split": "all"})
    json.dumps(frag, allow_nan=False)  # snapshot-ready
    assert frag["top_heads"][0] == {"rank": 1, "layer": WIRED[0], "head": WIRED[1], "label": "L0·H1",
                                    "importance": pytest.approx(float(res.importance[WIRED])),
                                    "other_importance": pytest.approx(float(res.other[WIRED])), "other_rank": 1}
    assert len(frag["top_heads"]) == 3 and frag["n_heads"] == 4 and frag["layers"] == frag["heads"] == 2
    assert frag["spearman"] == pytest.approx(res.spearman) and frag["other_method"] == "mask"
    # ks 0 … 4 on 2 × 2 heads; the wired head goes first in the most-first order and last in the least-first one
    assert frag["intact_accuracy"] == 1.0 and frag["accuracy_against"] == "true labels"
    assert frag["accuracy_at"]["1"] == {"least": 1.0, "most": 0.5, "random": pytest.approx(res.pruning.random[1])}
    assert frag["pruning_gap"] == pytest.approx(float(np.mean(res.pruning.random[1:4] - 0.5)))
    assert frag["pruning_gap_least"] == pytest.approx(float(np.mean(1.0 - res.pruning.random[1:4])))
    assert frag["pruning_gap"] > 0 and any("the ranking is real" in f for f in frag["findings"])
    assert frag["matrix"] == np.round(res.importance, 6).tolist()
    html = render_section({"kind": "heads", "title": "Attention heads", "anchor": "s1-heads", "data": frag})
    assert html.count("<svg") == 3 and "figure omitted" not in html
    assert "L0·H1" in html and "Pruning check: accuracy with k of the 4 heads masked" in html
    assert f"{frag['spearman']:.2f}" in html and fmt_pct(0.5) in html
    assert f"{frag['pruning_gap'] * 100:+.1f} pts" in html


def test_heads_without_a_classifier_is_one_sentence(tiny_model_dir, tmp_path):
    from reports.sections import get_section
    from reports.context import ReportContext

    csv_path = tmp_path / "d.csv"
    _write_csv(csv_path, [(t, "x") for t in TEXTS])
    spec = parse_spec(f"title: t\nmodel: {tiny_model_dir('bert-mlm')}\ndataset: {csv_path}\nsections:\n  - heads\n",
                      source=str(tmp_path / "s.yaml"))
    kind = get_section("heads")
    frag = kind.compute(ReportContext(spec), kind.typed(dict(spec.sections[0].params)))
    assert not frag["available"] and "has no classification head" in frag["reason"]
    html = render_section({"kind": "heads", "title": "Attention heads", "anchor": "s1-heads", "data": frag})
    assert "Head importance could not be computed:" in html and "<svg" not in html


# ----------------------------------------------------------------------------- attention: fragment and template


@pytest.fixture(scope="module")
def bert(tiny_model_dir):
    from core.models.refs import load_model

    return load_model(str(tiny_model_dir("bert")), device="cpu")


def test_attention_fragment_escapes_tokens_and_shows_pairs(bert):
    from core.analyses.transformer.attention_maps import attention_maps
    from reports.sections.attention import attention_fragment

    one = attention_maps(bert, f"{EVIL} the cars drive", max_tokens=12)
    two = attention_maps(bert, "a man plays guitar", f"someone {IMG} makes music")
    items = [{"text": one.text, "text_pair": None, "row": 7, "label": "neutral", "prediction": "class1",
              "probability": 0.5}, {"text": two.text, "text_pair": two.text_pair, "row": None, "label": None}]
    frag = attention_fragment([one, two], items, [(1, 0), (0, None)], context={"source": "texts", "max_tokens": 12})
    json.dumps(frag, allow_nan=False)
    t1, t2 = frag["texts"]
    assert t1["tokens"][:4] == ["[CLS]", "<", "script", ">"] and t1["cropped"] and t1["shown"] == 12
    assert [m["what"] for m in t1["maps"]] == ["layer 1, head 0", "layer 0, mean of the heads"]
    assert t1["cross"] is None and t1["figure_cross"] is None and t1["figure_grid"] is not None
    links = t1["maps"][0]["links"]
    assert len(links) == 5 and all(a["weight"] >= b["weight"] for a, b in zip(links, links[1:]))
    assert all(x["query"] not in ("[CLS]", "[SEP]") and x["q"] != x["k"] for x in links)
    n_first = int((two.segments == 0).sum())
    assert t2["cross_baseline"] == {"first_to_second": pytest.approx(1 - n_first / two.n_tokens),
                                    "second_to_first": pytest.approx(n_first / two.n_tokens)}
    assert t2["cross_mean"]["first_to_second"] == pytest.approx(float(two.cross[..., 0].mean()))
    assert len(t2["cross_layers"]) == 2 and t2["cross_layers"][1]["max_head_second_to_first"] == int(
        two.cross[1, :, 1].argmax())
    html = render_section({"kind": "attention", "title": "Attention maps", "anchor": "s2-attention", "data": frag})
    _no_markup(html)
    assert "figure omitted" not in html and html.count("<svg") == 2 * 2 + 2 + 1
    assert "&lt;script&gt;alert(1)&lt;/script&gt; the cars drive" in html  # the text, escaped
    assert "onerror=&#34;alert(2)&#34;" in html or "onerror=&quot;alert(2)&quot;" in html
    assert "Cross-segment attention per layer" in html and "Text 1 (row 7)" in html
    assert "predicted <b>class1</b> (50.0%)" in html
    assert "Note: showing the first 12 of" in html
    # the token labels of the maps are SVG text: the tokens of the hostile text arrive escaped, never as markup
    assert "&lt;" in html.split("Text 1 (row 7)")[1].split("Text 2")[0]


@pytest.mark.parametrize("params,reason", [
    ({"texts": ("a text",), "heads": ("9.0",)}, "Layer 9 does not exist; this model has layers 0 … 1."),
    ({"texts": ("a text",), "heads": ("1.7",)}, "Head 7 does not exist; this model has heads 0 … 1."),
    ({"texts": ("a text",), "heads": ("first",)}, "Head 'first' is not of the form layer.head"),
    ({"texts": ("a text", "b"), "pairs": ("one",)}, "pairs has 1 second text for 2 texts; give one second text"),
    ({"texts": (" ",)}, "The text is empty."),
    ({"rows": (10_000,)}, "Row 10000 does not exist; the dataset has rows 0 … 5."),
])
def test_attention_inputs_that_do_not_fit_are_one_sentence(tiny_model_dir, tmp_path, params, reason):
    from reports.sections import get_section
    from reports.context import ReportContext

    csv_path = tmp_path / "d.csv"
    _write_csv(csv_path, [(t, "x") for t in TEXTS])
    spec = parse_spec(f"title: t\nmodel: {tiny_model_dir('bert')}\ndataset: {csv_path}\nsections:\n  - attention\n",
                      source=str(tmp_path / "s.yaml"))
    kind = get_section("attention")
    frag = kind.compute(ReportContext(spec), kind.typed({**kind.defaults(), **params}))
    assert not frag["available"] and frag["reason"].startswith(reason), frag["reason"]


# ----------------------------------------------------------------------------- a whole report


def _write_csv(path: Path, rows, header=("text", "label")) -> str:
    with open(path, "w", newline="", encoding="utf-8") as f:
        w = csv.writer(f)
        w.writerow(header)
        w.writerows(rows)
    return str(path)


def _pdf_text(pdf: Path) -> str:
    return subprocess.run(["pdftotext", "-layout", str(pdf), "-"], capture_output=True, text=True, check=True).stdout


@pytest.fixture(scope="module")
def built(tiny_model_dir, wired, tmp_path_factory):
    from reports.sections import attention, heads
    from reports.snapshot import build_report, load_snapshot

    work = tmp_path_factory.mktemp("heads-report")
    names = ("other", "has-key")
    rows = [(t, names[y]) for t, y in zip(TEXTS, LABELS)] + [(f"{EVIL} a quiet day", "other"),
                                                              (f"{IMG} nice weather", "other")]
    _write_csv(work / "keyed.csv", rows)
    (work / "spec.yaml").write_text(f"""\
title: Heads on tiny models {EVIL}
model: {tiny_model_dir('bert')}
dataset: keyed.csv
seed: 0
checks:
  - heads.pruning_gap > 0
  - heads.most_first.1 < heads.intact_accuracy
  - attention.texts == 2
  - attention.first_to_second <= 1
sections:
  - kind: heads
    model: wired-head
    n: 8
    steps: 8
  - kind: attention
    model: wired-head
    texts: ["{EVIL} the food was awful", a man plays guitar]
    pairs: [a quiet day, someone makes music]
    top_heads: 1
    heads: [1.mean]
    max_tokens: 16
""", "utf-8")
    # the wired model lives in memory only: the sections get it by name, everything else is the real code
    real = heads.section_model
    heads.section_model = attention.section_model = lambda ctx, ref: wired if ref == "wired-head" else real(ctx, ref)
    try:
        paths = build_report(load_spec(work / "spec.yaml"), work / "out")
    finally:
        heads.section_model = attention.section_model = real
    return paths, load_snapshot(paths.snapshot)


def test_snapshot_of_the_two_sections(built):
    _, snap = built
    hd, att = (s["data"] for s in snap["sections"])
    assert hd["available"], hd.get("reason")
    assert hd["n"] == 8 and hd["top_heads"][0]["label"] == "L0·H1" and hd["model"]["ref"] == "wired-head"
    assert hd["accuracy_against"] == "true labels" and hd["pruning_gap"] > 0 and hd["split"] == "all"
    assert set(hd["accuracy_at"]) == {"0", "1", "2", "3", "4"}
    assert att["available"], att.get("reason")
    # the top head comes from the heads section above, after the heads given in the spec
    assert att["heads"] == [{"layer": 1, "head": None}, {"layer": 0, "head": 1}]
    assert "from the head-importance section" in att["top_note"]
    t1, t2 = att["texts"]
    assert t1["text_pair"] == "a quiet day" and t1["prediction"] == "has-key"
    assert t2["cross_mean"] is not None and 0 <= t2["cross_mean"]["first_to_second"] <= 1
    assert any(k.startswith("head_importance:wired-head:8 texts") for k in snap["provenance"]["timings"])
    # the published figures answer pass/fail checks
    assert snap["verdict"] == "pass", snap["checks"]
    assert snap["figures"]["heads"]["most_first"]["1"] == 5 / 8 and snap["figures"]["attention"]["texts"] == 2


def test_html_is_inert_and_shows_the_numbers(built):
    paths, snap = built
    html = Path(paths.html).read_text("utf-8")
    _no_markup(html)
    assert "figure omitted" not in html
    hd, att = (s["data"] for s in snap["sections"])
    # heads: two heatmaps and the pruning chart; attention: per text 2 maps + cross-segment + grid
    assert html.count("<svg") == 3 + 2 * 4
    assert "L0·H1" in html and f"{hd['pruning_gap'] * 100:+.1f} pts" in html
    assert "&lt;script&gt;alert(1)&lt;/script&gt; the food was awful" in html


def test_pdf_has_the_sections_numbers_and_tokens_as_text(built):
    paths, snap = built
    flat = " ".join(_pdf_text(Path(paths.pdf)).split())
    for title in ("Attention heads", "Attention maps", "Key findings", "Pruning check", "Cross-segment attention",
                  "How this was computed", "Provenance"):
        assert title in flat, title
    hd = snap["sections"][0]["data"]
    assert "L0·H1" in flat and fmt_pct(hd["intact_accuracy"]) in flat
    assert "<script>alert(1)</script> the food was awful" in flat  # the hostile text is shown as text
    assert "guitar" in flat and "someone" in flat  # token labels of the maps are text in the PDF
