"""The ``saliency_examples`` and ``faithfulness`` report sections: spec validation, the highlight filter,
templates from fragments (no model), and a real build on the demo (tweets, small n)."""
from __future__ import annotations

import json
import re
import subprocess
from pathlib import Path

import numpy as np
import pytest

from core.foundation.errors import SpecError
from reports.render import highlight_problem, render_section, safe_highlight
from reports.spec import load_spec, parse_spec

pytestmark = pytest.mark.report

ROOT = Path(__file__).resolve().parents[2]
EVIL = "<script>alert(1)</script>"
IMG = '<img src=x onerror="alert(2)">'

SPEC = """\
title: Saliency audit for the test suite
model: demo:tweets-finetuned
dataset: bundled:tweets
seed: 2
sections:
  - kind: saliency_examples
    n: 40
    methods: [decoded_gradcam, occlusion, attention_rollout]
  - kind: faithfulness
    n: 12
    methods: [decoded_gradcam, occlusion]
    layers: [0, 4]
"""


def _err(text: str) -> str:
    with pytest.raises(SpecError) as ei:
        parse_spec(text, source="spec.yaml")
    return str(ei.value)


def _no_markup(html: str) -> None:
    """No tag or handler from the hostile texts made it into the page as markup."""
    assert "<script" not in html.lower() and "<img" not in html.lower()
    assert not re.search(r"<[^>]*\son[a-z]+\s*=", html, re.IGNORECASE)
    assert "javascript:" not in html.lower()


# ----------------------------------------------------------------------------- spec


def test_defaults():
    spec = parse_spec("title: t\nmodel: demo:tweets-finetuned\ndataset: bundled:tweets\nsections:\n"
                      "  - saliency_examples\n  - faithfulness\n", source="s")
    ex, fa = (s.params for s in spec.sections)
    assert ex["methods"] == ("decoded_gradcam", "integrated_gradients", "occlusion", "attention_rollout")
    assert ex["layer"] is None and ex["texts"] == () and ex["n"] == 200 and ex["per_kind"] == 1
    assert ex["kinds"] == ("correct", "wrong", "uncertain") and ex["ig_steps"] == 50
    assert fa["methods"] == ("decoded_gradcam", "layer_gradcam", "integrated_gradients", "occlusion")
    assert fa["n"] == 100 and fa["layers"] == "all" and fa["replacement"] == "mask" and fa["max_length"] is None
    assert fa["ig_steps"] == 20
    assert parse_spec(spec.to_yaml(), source="again").to_dict() == spec.to_dict()


def test_params_normalised():
    spec = parse_spec(SPEC.replace("layers: [0, 4]", "layers: [4, 0, 4]").replace(
        "methods: [decoded_gradcam, occlusion]\n", "methods: [occlusion, decoded_gradcam, occlusion]\n"),
        source="spec.yaml")
    p = spec.sections[1].params
    assert p["layers"] == (0, 4) and p["methods"] == ("occlusion", "decoded_gradcam")  # order kept, no repeats
    assert parse_spec(SPEC.replace("layers: [0, 4]", "layers: default"), source="s").sections[1].params[
        "layers"] == "default"
    assert parse_spec(SPEC + "    max_length: 32\n    replacement: delete\n", source="s").sections[1].params[
        "replacement"] == "delete"


def test_example_spec_is_valid():
    spec = load_spec(ROOT / "reports" / "specs" / "demo-saliency.yaml")
    assert [s.kind for s in spec.sections] == ["saliency_examples", "faithfulness"]
    assert spec.model == "demo:tweets-finetuned" and spec.dataset.ref == "bundled:tweets"


@pytest.mark.parametrize("old,new,expected", [
    ("methods: [decoded_gradcam, occlusion, attention_rollout]", "methods: [decoded_gradcam, gradcam]",
     "spec.yaml line 8: sections[0].methods[1]: unknown saliency method 'gradcam'"),
    ("methods: [decoded_gradcam, occlusion]", "methods: [integrated_gradient]",
     "spec.yaml line 11: sections[1].methods[0]: unknown saliency method 'integrated_gradient' "
     "(did you mean 'integrated_gradients'?); expected one of: "),
    ("methods: [decoded_gradcam, occlusion]", "methods: []",
     "spec.yaml line 11: sections[1].methods: expected a non-empty list of saliency method names, got an empty list"),
    ("n: 40", "kinds: [correct, wrng]", "spec.yaml line 7: sections[0].kinds[1]: unknown example kind 'wrng' "
     "(did you mean 'wrong'?); expected one of: correct, wrong, uncertain"),
    ("n: 40", "per_kind: 9", "spec.yaml line 7: sections[0].per_kind: expected a whole number from 1 to 5, got 9"),
    ("n: 40", "layer: -1", "spec.yaml line 7: sections[0].layer: expected a whole number ≥ 0, got -1"),
    ("layers: [0, 4]", "layers: some", "spec.yaml line 12: sections[1].layers: expected a non-empty list of whole "
     "numbers ≥ 0 or one of: all, default, got 'some'"),
    ("layers: [0, 4]", "layers: [0, -2]", "spec.yaml line 12: sections[1].layers[1]: expected a whole number ≥ 0, "
     "got -2 (item 2 of the list)"),
    ("layers: [0, 4]", "replacement: blank", "spec.yaml line 12: sections[1].replacement: expected one of: mask, "
     "pad, delete, got 'blank'"),
    ("n: 12", "n: 5", "spec.yaml line 10: sections[1].n: expected a whole number ≥ 10, got 5"),
    ("n: 40", "texts: hello", "spec.yaml line 7: sections[0].texts: expected a list of texts, got 'hello'"),
])
def test_bad_params_name_line_field_and_valid_values(old, new, expected):
    msg = _err(SPEC.replace(old, new))
    assert msg.startswith(expected), msg
    assert "\n" not in msg


def test_unknown_method_lists_every_valid_one():
    from core.analyses.saliency import method_names

    msg = _err(SPEC.replace("methods: [decoded_gradcam, occlusion]", "methods: [lime]"))
    for name in method_names():
        assert name in msg


def test_the_section_takes_the_games_own_parameters():
    from core.analyses.saliency_params import FaithfulnessParams
    from reports.sections.faithfulness import FaithfulnessSectionParams

    games = {p.name: p for p in FaithfulnessParams.declared()}
    section = FaithfulnessSectionParams.declared()
    assert [p.name for p in section] == ["n", "methods", "layers", "replacement", "max_length", "ig_steps"]
    assert all(p == games[p.name] for p in section[1:])  # one declaration: same default, range, help


def test_spec_parsing_does_not_load_torch_unless_methods_are_named():
    code = ("import sys; from reports.spec import parse_spec; parse_spec('title: t\\nmodel: m\\ndataset: d\\n"
            "sections:\\n  - faithfulness\\n  - saliency_examples\\n', source='s'); print('torch' in sys.modules)")
    out = subprocess.run([str(ROOT / ".venv" / "bin" / "python"), "-c", code], cwd=ROOT, capture_output=True,
                         text=True, env={"PYTHONPATH": str(ROOT), "PATH": "/usr/bin:/bin"}, check=True).stdout
    assert out.strip() == "False"


# ----------------------------------------------------------------------------- pure helpers


def test_pick_examples_confident_wrong_uncertain_without_repeats():
    from reports.sections.saliency import pick_examples

    probs = np.array([[0.9, 0.1], [0.6, 0.4], [0.2, 0.8], [0.05, 0.95], [0.51, 0.49], [0.3, 0.7]])
    labels = np.array([0, 0, 0, 1, 1, -1])
    picks, notes = pick_examples(probs, labels, ["correct", "wrong", "uncertain"])
    assert picks == [("correct", 3), ("wrong", 2), ("uncertain", 4)] and notes == []
    picks, notes = pick_examples(probs, labels, ["uncertain", "correct"], per_kind=2)
    assert picks == [("uncertain", 4), ("uncertain", 1), ("correct", 3), ("correct", 0)]
    picks, notes = pick_examples(probs[:2], labels[:2], ["wrong", "correct"])
    assert picks == [("correct", 0)] and "No wrong prediction among the 2 texts" in notes[0]
    picks, notes = pick_examples(probs, np.full(6, -1), ["correct", "uncertain"])
    assert picks == [("uncertain", 4)] and "no true labels" in notes[0]


# ----------------------------------------------------------------------------- highlight filter


def _core_html(text: str = f"{EVIL} great {IMG} film & more", labels=("neg", EVIL, "pos")) -> str:
    from figures.saliency import saliency_comparison_html

    return saliency_comparison_html([_result(text, "occlusion", True, labels), _result(text, "attention", False,
                                                                                      labels)],
                                    titles=[f"Occlusion {EVIL}", "Attention"])


def test_core_highlight_passes_the_filter_and_stays_inert():
    html = _core_html()
    problem, rebuilt = highlight_problem(html)
    assert problem is None, problem
    out = str(safe_highlight(html))
    assert out == rebuilt and "omitted" not in out
    _no_markup(out)
    assert "&lt;script&gt;alert(1)&lt;/script&gt;" in out and ">&lt;img</span>" in out
    assert '>onerror="alert(2)"&gt;</span>' in out  # a word of the text, not an attribute
    assert "background-color: rgba(213,94,0," in out and "rgba(0,114,178," in out  # for and against
    assert out.count("<tr>") == 2


@pytest.mark.parametrize("bad", [
    "<div><script>alert(1)</script></div>",
    '<div><img src=x onerror="alert(2)"></div>',
    '<span onclick="alert(1)">x</span>',
    '<span style="background-color: url(http://evil/x.png)">x</span>',
    '<span style="background-image: rgba(1,2,3,0.5)">x</span>',
    '<span style="color: expression(alert(1))">x</span>',
    '<span style="color: red; behavior: x">x</span>',
    '<a href="javascript:alert(1)">x</a>',
    '<span class="a" id="b">x</span>',
    '<span class="x&quot;y">x</span>',
    "<div>x</span></div>",
    "<div><span>x</div>",
    "<div><!-- <script>alert(1)</script> --></div>",
    '<svg onload="alert(1)"></svg>',
    "<style>*{background:url(http://evil)}</style>",
])
def test_highlight_filter_refuses_anything_else(bad):
    problem, _ = highlight_problem(bad)
    assert problem is not None, bad
    out = str(safe_highlight(bad))
    assert "highlighted text omitted" in out
    _no_markup(out)


# ----------------------------------------------------------------------------- templates from fragments


def _result(text: str, method: str, signed: bool, labels=("neg", "neu", "pos"), probs=(0.1, 0.2, 0.7),
            pair: str | None = None):
    from core.analyses.saliency import SaliencyResult

    spans, pos = [], 0
    for w in text.split():
        a = text.index(w, pos)
        spans.append((a, a + len(w)))
        pos = a + len(w)
    n = len(spans)
    rng = np.random.default_rng(len(method))
    scores = rng.normal(size=n).astype(np.float32) if signed else rng.uniform(0, 1, n).astype(np.float32)
    return SaliencyResult(text=text, text_pair=pair, tokens=tuple(text[a:b] for a, b in spans), scores=scores,
                          token_ids=np.arange(n), positions=np.arange(1, n + 1), segments=np.zeros(n, np.int64),
                          word_ids=np.arange(n), offsets=np.array(spans, np.int64).reshape(-1, 2),
                          target=int(np.argmax(probs)), label_names=tuple(labels),
                          probabilities=np.array(probs, np.float32), method=method, params={"layer": 4} if
                          "gradcam" in method else {}, signed=signed, truncated=False)


METHODS = [{"name": "decoded_gradcam", "title": "Decoded layer Grad-CAM, layer 4", "method_title": "Decoded layer "
            "Grad-CAM", "signed": False, "description": "Grad-CAM decoded.", "cost": "1 backward pass",
            "params": {"layer": 4}, "needs_mlm_head": True},
           {"name": "occlusion", "title": "Occlusion", "method_title": "Occlusion", "signed": True,
            "description": "The drop when a token is hidden.", "cost": "", "params": {"window": 1,
                                                                                        "replacement": "mask"},
            "needs_mlm_head": False}]


def test_saliency_examples_template_renders_headings_highlights_and_escapes():
    from reports.sections.saliency import saliency_examples_fragment

    labels = ("negative", EVIL, "positive")
    texts = [f"what a great film {EVIL}", f"{IMG} terrible acting & plot", "it was fine i guess"]
    per_text = [[_result(t, m["name"], m["signed"], labels, p) for m in METHODS]
                for t, p in zip(texts, [(0.02, 0.01, 0.97), (0.1, 0.05, 0.85), (0.3, 0.36, 0.34)])]
    frag = saliency_examples_fragment(per_text, METHODS, kinds=["correct", "wrong", "uncertain"],
                                      true_labels=["positive", "negative", EVIL], rows=[3, 7, 9],
                                      notes=[f"note {EVIL}"], context={"split": "test", "n": 40, "n_pool": 500,
                                                                        "split_note": "held out.", "layer": 4,
                                                                        "num_layers": 6, "trained_on_dataset": True})
    json.dumps(frag, allow_nan=False)
    html = render_section({"kind": "saliency_examples", "title": "Saliency examples", "anchor": "s1-saliency_examples",
                           "data": frag})
    _no_markup(html)
    assert "highlighted text omitted" not in html and html.count('class="bl-sal-compare"') == 3
    for heading in ("1. Confident and correct", "2. Confident but wrong", "3. Most uncertain"):
        assert heading in html
    assert "True label <strong>negative</strong> · predicted <strong>positive</strong> with probability 85.0%" in html
    assert 'class="verdict bad">wrong' in html and 'class="verdict ok">correct' in html
    assert "&lt;script&gt;alert(1)&lt;/script&gt;" in html and "note &lt;script&gt;" in html
    assert "window = 1, replacement = mask" in html and "layer = 4" in html  # the parameters used
    assert "Grad-CAM layer 4" in html and "500" in html and "held-out test split" in html
    assert "Highest-scoring words" in html and "“" in html
    assert frag["findings"] and "wrong" in " ".join(frag["findings"])


def test_saliency_examples_given_texts_and_unavailable():
    from reports.sections.saliency import saliency_examples_fragment

    frag = saliency_examples_fragment([[_result("good day", m["name"], m["signed"]) for m in METHODS]], METHODS,
                                      kinds=["given"], true_labels=[None], context={"source": "texts"})
    html = render_section({"kind": "saliency_examples", "title": "S", "data": frag})
    assert "1. Given text" in html and "True label" not in html and "given in the report specification" in html
    html = render_section({"kind": "saliency_examples", "title": "S", "data": {
        "available": False, "reason": f"Model demo:x has no classification head {EVIL}."}})
    assert "could not be computed: Model demo:x has no classification head" in html and "bl-sal" not in html
    _no_markup(html)


def _games(n: int = 50, layers=range(7)):
    from core.analyses.saliency.faithfulness import LEVELS, FaithfulnessResult, GameCurve

    lv = np.asarray(LEVELS)

    def curve(method, layer, strength, secs=1.0, params=None):
        hide = 0.9 - strength * np.sqrt(lv) * 0.8 - (1 - strength) * lv * 0.5
        reveal = 0.4 + strength * np.sqrt(lv) * 0.5 + (1 - strength) * lv * 0.5
        return GameCurve(method, layer, lv, hide, hide + 0.02, reveal, reveal + 0.03, secs,
                         params or ({"layer": layer} if layer is not None else {}))

    cs = [curve("decoded_gradcam", li, [0.0, 0.2, 0.4, 0.6, 0.9, 0.8, 0.7][li]) for li in layers]
    cs += [curve("layer_gradcam", li, [0.0, 0.1, 0.2, 0.3, 0.4, 0.5, 0.5][li]) for li in layers]
    cs += [curve("integrated_gradients", None, 0.6, 20.0, {"steps": 20, "baseline": "pad"}),
           curve("occlusion", None, 0.85, 5.0, {"window": 1, "replacement": "mask"}), curve("random", None, 0.0, 0.0)]
    return FaithfulnessResult(tuple(cs), n=n, replacement="mask", accuracy_against="true labels", max_length=64,
                              truncated=1, mean_tokens=21.34, seed=0, model_ref="demo:x", dataset_name="x",
                              seconds=12.0, game_seconds=8.0, evaluations=9876)


def test_faithfulness_template_renders_figures_table_and_findings():
    from reports.sections.faithfulness import faithfulness_fragment

    res = _games()
    frag = faithfulness_fragment(res, context={"split": "test", "n_pool": 800, "split_note": "held out.",
                                               "ig_steps": 20, "num_layers": 6})
    json.dumps(frag, allow_nan=False)
    assert frag["best_layer"] == {"decoded_gradcam": 4, "layer_gradcam": 5}
    html = render_section({"kind": "faithfulness", "title": "Saliency faithfulness", "anchor": "s2-faithfulness",
                           "data": frag})
    assert html.count("<svg") == 2 and "figure omitted" not in html
    assert "decoded Grad-CAM at layer 4" in html  # chart legend in the report's words
    table = html.split('class="data compact auc"', 1)[1].split("</table>", 1)[0]
    assert table.count("<tr") == 2 + 7 + 7 + 3 and table.count('class="current"') == 2
    assert 'class="baseline"' in table and "Random order" in table
    r4 = next(r for r in frag["rows"] if r["name"] == "decoded_gradcam@4")
    assert f"{r4['hide_auc']:.3f}" in table and f"{r4['reveal_auc_prob']:.3f}" in table
    assert [r["name"] for r in frag["rows"]][:2] == ["decoded_gradcam@0", "decoded_gradcam@1"]
    assert frag["rows"][-1]["method"] == "random"
    text = " ".join(frag["findings"])
    assert "Most faithful on these 50 texts: decoded Grad-CAM at layer 4" in text
    assert "Decoded Grad-CAM at layer 4 (its best layer) beats random: gap" in text
    assert "At layer 0 (the embeddings) decoded Grad-CAM is no better than random" in text
    assert "(0.5/√n)" in text and "0.07" in text
    assert "mask token" in html and "the default" in html and "Against the true labels" in html
    assert "Integrated Gradients uses 20 steps here" in html and "9,876 perturbed inputs" in html
    assert "21.3 content tokens" in html and "1 text was cut to fit" in html


def test_faithfulness_without_sweep_and_unavailable():
    from reports.sections.faithfulness import faithfulness_fragment

    res = _games(layers=[4])
    frag = faithfulness_fragment(res, context={"num_layers": 6})
    html = render_section({"kind": "faithfulness", "title": "F", "data": frag})
    assert html.count("<svg") == 1 and frag["figure_sweep"] is None and 'class="current"' not in html
    html = render_section({"kind": "faithfulness", "title": "F", "data": {
        "available": False, "reason": "The tokenizer has no mask token."}})
    assert "could not be computed: The tokenizer has no mask token." in html and "<svg" not in html


# ----------------------------------------------------------------------------- a real build on the demo


def _pdf_text(pdf: Path) -> str:
    return subprocess.run(["pdftotext", "-layout", str(pdf), "-"], capture_output=True, text=True, check=True).stdout


HOSTILE = f"""\
  - kind: saliency_examples
    title: Hostile texts
    methods: [occlusion, attention_rollout]
    texts:
      - "{EVIL} what a wonderful day"
      - '{IMG} this is awful &amp; sad'
"""


@pytest.fixture(scope="module")
def built(demo_workspace, tmp_path_factory):
    from reports.snapshot import build_report, load_snapshot

    work = tmp_path_factory.mktemp("saliency")
    (work / "spec.yaml").write_text(SPEC + HOSTILE, "utf-8")
    paths = build_report(load_spec(work / "spec.yaml"), work / "out")
    return paths, load_snapshot(paths.snapshot)


def test_snapshot_holds_examples_and_games(built):
    _, snap = built
    ex, fa, hostile = (s["data"] for s in snap["sections"])
    assert ex["available"] and ex["split"] == "test" and ex["n"] == 40 and ex["layer"] == 4
    assert [m["name"] for m in ex["methods"]] == ["decoded_gradcam", "occlusion", "attention_rollout"]
    assert ex["methods"][0]["params"] == {"layer": 4} and ex["methods"][1]["params"]["replacement"] == "mask"
    kinds = [e["kind"] for e in ex["examples"]]
    assert kinds[0] == "correct" and "uncertain" in kinds and len(set(e["row"] for e in ex["examples"])) == len(kinds)
    probs = {e["kind"]: e["probability"] for e in ex["examples"]}
    assert probs["uncertain"] <= probs["correct"]
    assert fa["available"] and fa["n"] == 12 and fa["replacement"] == "mask" and fa["accuracy_against"] == "true labels"
    assert [r["name"] for r in fa["rows"]] == ["decoded_gradcam@0", "decoded_gradcam@4", "occlusion", "random"]
    assert fa["best_layer"]["decoded_gradcam"] in (0, 4) and fa["figure_sweep"] is not None
    assert all(0 <= r[k] <= 1 for r in fa["rows"] for k in ("hide_auc", "reveal_auc", "hide_auc_prob",
                                                            "reveal_auc_prob"))
    assert hostile["source"] == "texts" and [e["kind"] for e in hostile["examples"]] == ["given", "given"]


def test_html_is_inert_and_shows_highlights(built):
    paths, snap = built
    html = Path(paths.html).read_text("utf-8")
    _no_markup(html)
    assert "highlighted text omitted" not in html and "figure omitted" not in html
    # the hostile texts are shown as text, token by token (the provenance keeps no texts): escaped brackets and
    # the would-be tag and handler names as plain highlighted tokens
    assert re.search(r">&lt;</span>[^<]*<span[^>]*>script</span>", html), "no escaped <script token"
    assert re.search(r">img</span>.*?>onerror</span>", html, re.S), "no img … onerror tokens"
    # the text's own "&amp;" shown as typed (tokens "&", "amp", ";"), not decoded to "&"
    assert re.search(r">&amp;</span>[^<]*<span[^>]*>amp</span>", html), "the typed &amp; was decoded"
    assert html.count('class="bl-sal-compare"') == len(snap["sections"][0]["data"]["examples"]) + 2
    assert "background-color: rgba(213,94,0," in html


def test_pdf_shows_titles_words_and_highlight_colours(built):
    paths, snap = built
    text = _pdf_text(Path(paths.pdf))
    flat = " ".join(text.split())
    for title in ("Saliency examples", "Saliency faithfulness", "Hostile texts", "Areas under the curves",
                  "Confident and correct", "Most uncertain", "How this was computed"):
        assert title in flat, title
    assert "<script>alert(1)</script> what a wonderful day" in flat  # shown as text, not run
    ex = snap["sections"][0]["data"]["examples"][0]
    words = [w for t in ex["top_words"] for w in t["words"] if w.isalpha()]
    assert words and all(w in flat for w in words[:3])
    # the highlight backgrounds survive into the PDF: some vermillion-ish pixels on the first pages
    out = Path(paths.pdf).parent / "page"
    subprocess.run(["pdftoppm", "-png", "-r", "40", "-f", "1", "-l", "2", str(paths.pdf), str(out)], check=True)
    from PIL import Image

    found = False
    for png in sorted(out.parent.glob("page*.png")):
        img = np.asarray(Image.open(png).convert("RGB")).astype(int)
        r, g, b = img[..., 0], img[..., 1], img[..., 2]
        found |= bool(((r - b > 60) & (r > 180) & (g < 200)).sum() > 20)
        png.unlink()
    assert found


def test_spec_mlm_gives_decoded_saliency_the_base_checkpoints_head(tiny_model_dir, tmp_path):
    """``mlm:`` names the base checkpoint whose masked-LM head decoded Grad-CAM reads through: without it the tiny
    classifier has no decoding head and the section says what to give; with it the method runs through that head,
    as ``--mlm`` does on the command line."""
    from reports.context import ReportContext
    from reports.sections.registry import get_section
    from tests.reports.test_transformer_sections import _topic_rows, _write_csv

    data = _write_csv(tmp_path / "data.csv", _topic_rows(12))
    base = f"title: t\nmodel: {tiny_model_dir('bert')}\ndataset: {data}\nsections: [saliency_examples]\n"
    sec = get_section("saliency_examples")
    p = sec.typed({**sec.defaults(), "n": 12, "methods": ("decoded_gradcam",), "kinds": ("uncertain",)})
    d = sec.compute(ReportContext(parse_spec(base, source="s")), p)
    assert d["available"] is False and "mlm:" in d["reason"] and "--mlm" in d["reason"]
    spec = parse_spec(base + f"mlm: {tiny_model_dir('bert-mlm')}\n", source="s")
    assert spec.mlm == str(tiny_model_dir("bert-mlm"))
    ctx = ReportContext(spec)
    d = sec.compute(ctx, p)
    assert d["available"], d.get("reason")
    assert ctx.model.decoding_head_kind() == "the checkpoint's masked-LM head"
    assert any(f"masked-LM head of {tiny_model_dir('bert-mlm')}" in n for n in ctx.model.notes)
    msg = _err(base + "mlm: [a, b]\n")
    assert "mlm" in msg and "line 5" in msg, msg
