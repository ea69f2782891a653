"""The ``comparison``, ``adversarial`` and ``multitask`` report sections: spec validation, fragments and
templates from core results on tiny models, hostile texts kept inert, and a whole report (HTML + PDF)."""
from __future__ import annotations

import csv
import json
import re
import subprocess
from pathlib import Path

import numpy as np
import pytest

from reports.render import fmt_num, fmt_pct, render_section
from reports.sections import get_section
from reports.spec import load_spec, parse_spec
from tests.unit.test_saliency import KEY, _one_token_model
from tests.reports.helpers import assert_no_markup as _no_markup, spec_error as _err

pytestmark = pytest.mark.report

ROOT = Path(__file__).resolve().parents[2]
EVIL = "<script>alert(1)</script>"
IMG = '<img src=x onerror="alert(2)">'

SPEC = """\
title: Applications for the test suite
model: demo:bbc-finetuned
dataset: bundled:bbc
sections:
  - kind: comparison
    models: [demo:bbc-pretrained, demo:bbc-finetuned]
    n: 100
    k: [5, 10]
  - kind: adversarial
    model: demo:tweets-finetuned
    dataset: bundled:tweets
    n: 30
    attack: char
  - kind: multitask
    n_per_task: 40
"""




# ----------------------------------------------------------------------------- spec


def test_defaults_and_round_trip():
    spec = parse_spec("title: t\nmodel: m\ndataset: d\nsections:\n  - comparison\n  - adversarial\n  - multitask\n",
                      source="s")
    cmp, adv, mt = (s.params for s in spec.sections)
    assert cmp == {"models": None, "dataset": None, "n": 300, "k": (5, 10, 20), "lam": 0.8, "top": 10}
    assert adv == {"model": None, "dataset": None, "n": 60, "attack": "word", "importance": "occlusion",
                   "max_change": 0.4, "top_k": 30, "min_similarity": 0.7, "lam": 0.8, "top": 10}
    assert mt == {"model": "demo:multitask-pretrained", "n_per_task": 150, "k": 10, "lam": 0.8}
    spec = parse_spec(SPEC, source="spec.yaml")
    assert spec.sections[0].params["models"] == ("demo:bbc-pretrained", "demo:bbc-finetuned")
    assert spec.sections[0].params["k"] == (5, 10) and spec.sections[1].params["attack"] == "char"
    assert parse_spec(spec.to_yaml(), source="again").to_dict() == spec.to_dict()


def test_example_spec_is_valid():
    spec = load_spec(ROOT / "reports" / "specs" / "demo-applications.yaml")
    assert [s.kind for s in spec.sections] == ["comparison", "adversarial", "multitask"]
    cmp, adv, mt = (s.params for s in spec.sections)
    assert cmp["models"] == ("demo:bbc-pretrained", "demo:bbc-finetuned")
    assert adv["model"] == "demo:tweets-finetuned" and adv["dataset"] == "bundled:tweets"
    assert mt["model"] == "demo:multitask-pretrained"
    header = (ROOT / "reports" / "specs" / "demo-applications.yaml").read_text("utf-8").split("title:")[0]
    assert re.search(r"\d+(\.\d+)? min", header), "the header states the measured build time"


@pytest.mark.parametrize("old,new,expected", [
    ("models: [demo:bbc-pretrained, demo:bbc-finetuned]", "models: [demo:bbc-pretrained]",
     "spec.yaml line 6: sections[0].models: expected a list of at least 2 model references, got 1"),
    ("models: [demo:bbc-pretrained, demo:bbc-finetuned]", "models: demo:bbc-pretrained",
     "spec.yaml line 6: sections[0].models: expected a list of at least 2 model references, got 'demo:bbc-pretrained'"),
    ("models: [demo:bbc-pretrained, demo:bbc-finetuned]", "models: [demo:bbc-pretrained, 3]",
     "spec.yaml line 6: sections[0].models[1]: expected a text, got 3 (item 2 of the list)"),
    ("k: [5, 10]", "k: [0, 10]", "spec.yaml line 8: sections[0].k[0]: expected a whole number ≥ 1, got 0 "
     "(item 1 of the list)"),
    ("n: 100", "n: 5", "spec.yaml line 7: sections[0].n: expected a whole number ≥ 10, got 5"),
    ("k: [5, 10]", "top: -1", "spec.yaml line 8: sections[0].top: expected a whole number from 0 to 100, got -1"),
    ("k: [5, 10]", "lam: 1.5", "spec.yaml line 8: sections[0].lam: expected a number from 0 to 1, got 1.5"),
    ("attack: char", "attack: words", "spec.yaml line 13: sections[1].attack: expected one of: word, char, got "
     "'words' (did you mean 'word'?)"),
    ("attack: char", "importance: occlusoin", "spec.yaml line 13: sections[1].importance: unknown saliency method "
     "'occlusoin' (did you mean 'occlusion'?); expected one of: "),
    ("attack: char", "max_change: 0", "spec.yaml line 13: sections[1].max_change: expected a number from 0.01 to 1, "
     "got 0"),
    ("attack: char", "min_similarity: 1", "spec.yaml line 13: sections[1].min_similarity: expected a number from 0 "
     "to 0.99, got 1"),
    ("n: 30", "n: 8", "spec.yaml line 12: sections[1].n: expected a whole number ≥ 12, got 8"),
    ("model: demo:tweets-finetuned", "model: ''", "spec.yaml line 10: sections[1].model: expected a text, got ''"),
    ("n_per_task: 40", "n_per_task: 5", "spec.yaml line 15: sections[2].n_per_task: expected a whole number from "
     "10 to 5000, got 5"),
    ("n_per_task: 40", "k: 0", "spec.yaml line 15: sections[2].k: expected a whole number ≥ 1, got 0"),
    ("n_per_task: 40", "tasks: [bbc]", "spec.yaml line 15: sections[2].tasks: unknown parameter of section kind "
     "'multitask'"),
])
def test_bad_params_name_line_field_and_valid_values(old, new, expected):
    assert old in SPEC
    msg = _err(SPEC.replace(old, new))
    assert msg.startswith(expected), msg
    assert "\n" not in msg


def test_unknown_importance_lists_the_methods():
    from core.analyses.saliency import method_names

    msg = _err(SPEC.replace("attack: char", "importance: lime"))
    assert all(name in msg for name in method_names())


# ----------------------------------------------------------------------------- fragments from core results

def _settings():
    from core.analyses.projection.params import ProjectionParams

    return ProjectionParams(neighbors=10, resolution=24, n_epochs=60)


def _cmp_rows(n: int = 60) -> list[tuple[str, str]]:
    """Short texts; the trigger word makes the class (the one-token models read only that)."""
    words = ["cats", "dogs", "rain", "sun", "markets", "football", "films", "elections"]
    rows = []
    for i in range(n):
        text = f"a note {i} on {words[i % len(words)]}" + (f" {KEY}" if i % 3 == 0 else "")
        rows.append((text, "has-key" if i % 3 == 0 else "other"))
    rows[0] = (f"{EVIL} {rows[0][0]}", rows[0][1])
    rows[1] = (f"{IMG} & {rows[1][0]}", rows[1][1])
    return rows


def _trigger_variant(ref: str, seed: int, noise: float):
    """The one-token model with its other word embeddings moved at random (away from the all-ones vector and
    from the direction the head reads): same decisions, other neighbourhoods."""
    import torch

    m = _one_token_model()
    m.ref = ref
    if noise:
        g = torch.Generator().manual_seed(seed)
        W = m.encoder.embeddings.word_embeddings.weight
        d = W.shape[1]
        keep = torch.stack([torch.ones(d) / d ** 0.5, torch.tensor([1.0, -1.0] + [0.0] * (d - 2)) / 2 ** 0.5])
        N = torch.randn(W.shape, generator=g) * noise
        N -= (N @ keep.T) @ keep  # no component along 1 or u
        with torch.no_grad():
            W += N
    return m


@pytest.fixture(scope="module")
def triggers():
    return {"trigger-a": _trigger_variant("trigger-a", 0, 0.0), "trigger-b": _trigger_variant("trigger-b", 1, 0.6)}


@pytest.fixture(scope="module")
def comparison(triggers):
    from core.analyses.compare import CompareParams, run_comparison
    from core.data.datasets import _make
    from core.data.sampling import draw

    rows = _cmp_rows()
    ds = _make("notes", [r[0] for r in rows], [int(r[1] == "has-key") for r in rows], ("other", "has-key"))
    return run_comparison(list(triggers.values()), draw(ds, None), CompareParams(k=(3, 5, 10)),
                          projection=_settings())


def test_comparison_fragment_renders_numbers_figures_and_escapes_texts(comparison):
    from reports.sections.comparison import comparison_fragment

    cmp = comparison
    models = [{"ref": r, "fingerprint": "abc", "model_type": "bert", "setting": s, "base_model": "bundled:minilm",
               "trained_on": "bundled:bbc", "label_names": [], "has_head": True, "max_length": 64}
              for r, s in zip(cmp.model_refs, ("pretrained", "finetuned"))]
    frag = comparison_fragment(cmp, top=60, context={"models": models, "split": "all", "n_pool": 60,
                                                       "split_note": "No model was trained on this dataset."})
    json.dumps(frag, allow_nan=False)  # snapshot-ready
    p = frag["pairs"][0]
    assert frag["k_headline"] == 10 and [r["k"] for r in p["rows"]] == [3, 5, 10] and p["rows"][2]["headline"]
    assert p["q_embeddings"] == pytest.approx(cmp.pairs[0].embeddings.q_nn[2]) and p["q_embeddings"] < 1
    assert p["agreement"] == pytest.approx(cmp.pairs[0].prediction_agreement) and p["finetune_pair"]
    assert len(p["disagreements"]) == 60 and p["figure_maps"] is not None
    html = render_section({"kind": "comparison", "title": "Model comparison", "anchor": "s1-comparison",
                           "data": frag})
    _no_markup(html)
    assert html.count("<svg") == 2 and "figure omitted" not in html and html.count("<image") == 2  # two backgrounds
    assert frag["headline"] in html.replace("&#39;", "'") and f"Q_NN@10 {p['q_embeddings']:.2f}" in frag["headline"]
    for r in p["rows"]:
        assert fmt_num(r["q_nn_embeddings"], 3) in html and fmt_num(r["q_nn_projection"], 3) in html
    assert f'{p["cka"]:.2f}</span>' in html and fmt_pct(p["agreement"]) in html
    table = html.split('class="data compact texts disagreements"', 1)[1].split("</table>", 1)[0]
    assert table.count("<tr") == 1 + 60
    assert "&lt;script&gt;alert(1)&lt;/script&gt; a note 0" in table and "&lt;img src=x onerror=" in table
    assert "a note" not in p["figure_maps"]["svg"]  # dataset texts stay out of the charts
    assert "Key findings" in html and "Linear CKA between the two embedding spaces" in html
    assert "How this was computed" in html and "Every model reads the same texts" in html


def test_comparison_findings_follow_the_numbers():
    from reports.sections.comparison import _findings, _headline

    base = {"a": "A", "b": "B", "cka": 0.94, "agreement": 0.987, "n_differ": 4, "note": "", "finetune_pair": True,
            "q_embeddings": 0.77, "q_projection": 0.40, "lcmc_embeddings": 0.74, "lcmc_projection": 0.37,
            "fidelity_a": {"trustworthiness": 0.9, "q_knn_error": 0.05},
            "fidelity_b": {"trustworthiness": 0.7, "q_knn_error": 0.05}}
    text = " ".join(_findings(base, 300, 10))
    assert "Fine-tuning moved the neighbourhoods" in text and "(Q_NN@10 0.77) but only 40%" in text
    assert "nearly the same space" in text and "98.7% of the 300 texts; 4 texts get different" in text
    assert "the map of B has trustworthiness 0.70" in text and "map of A" not in text
    assert _headline(base, 300, 10) == ("A vs B on 300 texts: linear CKA 0.94, the same prediction for 98.7% of the "
                                        "texts; Q_NN@10 0.77 between the embeddings and 0.40 between the DeepView "
                                        "projections.")
    other = {**base, "finetune_pair": False, "q_projection": 0.75, "lcmc_projection": 0.02, "agreement": None,
             "n_differ": None, "note": "The label sets differ (a vs b), so predictions are not compared.",
             "fidelity_b": None}
    text = " ".join(_findings(other, 300, 10))
    assert "Fine-tuning" not in text and "about the same share" in text
    assert "In the projections, the shared neighbourhoods are hardly above chance (LCMC@10 +0.02" in text
    assert "The label sets differ" in text


def test_comparison_needs_two_models_and_unknown_models_are_explained(tmp_path):
    from reports.context import ReportContext

    comp = get_section("comparison")
    ctx = ReportContext(parse_spec("title: t\nmodel: m\ndataset: d\nsections: [comparison]\n", source="s"))
    d = comp.compute(ctx, comp.typed({**comp.defaults(), "models": ("demo:x", "demo:x")}))
    assert d["available"] is False and "two or more different models" in d["reason"]
    html = render_section({"kind": "comparison", "title": "C", "data": {**d, "reason": d["reason"] + EVIL}})
    assert "could not be computed: it needs two or more different models" in html and "<svg" not in html
    _no_markup(html)
    d = comp.compute(ctx, comp.typed({**comp.defaults(),
                                      "models": (str(tmp_path / "missing-a"), str(tmp_path / "missing-b"))}))
    assert d["available"] is False and "missing-a" in d["reason"]


@pytest.fixture(scope="module")
def trigger():
    return _one_token_model()


def _attack_texts(n: int = 24) -> tuple[list[str], list[str]]:
    texts, labels = [], []
    for i in range(n):
        if i % 2:
            texts.append([f"sample {i} {KEY} text", f"<b>{KEY}</b> day {i}", f"sample {KEY} {EVIL}"][i % 3])
            labels.append("has-key")
        else:
            texts.append(f"sample {i} calm text")
            labels.append("other")
    return texts, labels


@pytest.fixture(scope="module")
def attacked(trigger):
    from core.analyses.adversarial.attacks import AttackParams, attack_texts
    from core.analyses.adversarial.detection import DetectionParams, run_detection

    texts, labels = _attack_texts()
    r = attack_texts(trigger, texts, labels=[int(y == "has-key") for y in labels],
                     params=AttackParams(attack="char", min_similarity=0.0))
    return r, run_detection(trigger, r, DetectionParams(k_neighbours=3), projection=_settings())


def test_adversarial_fragment_numbers_diff_and_answer(attacked):
    from reports.sections.adversarial import adversarial_fragment

    res, det = attacked
    frag = adversarial_fragment(res, det, top=20, context={"split": "all", "n_pool": 24})
    json.dumps(frag, allow_nan=False)
    s = frag["summary"]
    assert s["successes"] == 12 and s["attacked"] == 24 and frag["counts"]["failed"] == 12
    assert len(frag["rows"]) == 12 and frag["detection"]["n_adversarial"] == 12  # successes only
    html = render_section({"kind": "adversarial", "title": "Adversarial texts", "anchor": "s2-adversarial",
                           "data": frag})
    _no_markup(html)
    assert "<b>" not in html and html.count("<svg") == 2 and "figure omitted" not in html
    assert f'<span class="kpi-value">{fmt_pct(s["success_rate"])}</span>' in html
    for sc in frag["detection"]["scores"]:
        assert fmt_num(sc["auroc"], 3) in html
    # every row shows the removed and the inserted word, escaped, inside <del>/<ins>
    table = html.split('class="data compact texts adversarial-texts"', 1)[1].split("</table>", 1)[0]
    assert "<del>removed</del> and <ins>inserted</ins>" in table  # the caption's key
    table = table.split("<tbody>", 1)[1]
    assert table.count("<del>") == 12 and table.count("<ins>") == 12
    dels = re.findall(r"<del>(.*?)</del>", table)
    assert all(KEY in d for d in dels), dels
    assert "<del>&lt;b&gt;awful&lt;/b&gt;</del>" in table  # markup in the edited word itself: shown, not obeyed
    assert "&lt;script&gt;alert(1)&lt;/script&gt;" in table
    text = " ".join(frag["findings"])
    assert "flipped the prediction of 12 of the 24 correctly classified texts (50.0%)" in text
    assert "Do the adversarial texts sit in pale, uncertain regions?" in text
    assert "Hanley & McNeil" in text


def test_adversarial_without_successes_says_so(trigger):
    from core.analyses.adversarial.attacks import AttackParams, attack_texts
    from reports.sections.adversarial import adversarial_fragment

    r = attack_texts(trigger, [f"sample {i} calm text" for i in range(6)], labels=[0] * 6,
                     params=AttackParams(attack="char", min_similarity=0.0))
    why = "No attack succeeded on the 6 texts attacked, so there are no adversarial texts to project or detect."
    frag = adversarial_fragment(r, None, detection_note=why)
    html = render_section({"kind": "adversarial", "title": "A", "data": frag})
    assert why in html and "<svg" not in html and "adversarial-texts" not in html
    assert '<span class="kpi-value">0.0%</span>' in html


def test_diff_runs_and_auroc_se():
    from reports.sections.adversarial import auroc_se, diff_runs

    words = " ".join(f"w{i}" for i in range(40))
    runs = diff_runs(words, words.replace("w20", "x20"), context=3)
    assert [r["op"] for r in runs] == ["…", "=", "-", "+", "=", "…"]
    assert runs[1]["text"] == "w17 w18 w19" and runs[2]["text"] == "w20" and runs[3]["text"] == "x20"
    assert diff_runs("a b", "a c") == [{"op": "=", "text": "a"}, {"op": "-", "text": "b"}, {"op": "+", "text": "c"}]
    assert auroc_se(0.5, 50, 50) == pytest.approx(0.0577, abs=1e-3)  # Hanley & McNeil, their table
    assert auroc_se(0.9, 50, 50) < auroc_se(0.7, 50, 50)


def _write_csv(path: Path, rows, header=("text", "label")) -> str:
    with open(path, "w", newline="", encoding="utf-8") as f:
        w = csv.writer(f)
        w.writerow(header)
        w.writerows(rows)
    return str(path)


def _tiny_multitask(tiny_model_dir, folder: Path, tasks=("fruit", "colour")):
    from core.data.refs import load_dataset
    from core.data.sampling import take_split
    from core.models.refs import load_model
    from core.models.multitask import MultiTaskModel, save_multitask
    from core.training.finetune import TrainConfig, train_pretrained_head

    rng = np.random.default_rng(0)
    filler = ["stone", "river", "cloud", "table", "music", "paper", "glass", "field"]
    specs = {"fruit": (("apple", "other"), lambda i, y: f"{'apple ' if y == 'apple' else ''}"
                       + " ".join(rng.choice(filler, 3))),
             "colour": (("blue", "green", EVIL), lambda i, y: " ".join(rng.choice(filler, 2)) + f" {y}")}
    base = load_model(str(tiny_model_dir("bert")), device="cpu")
    base.pooling = "mean"
    base.head, base.label_names = None, ()
    heads, labels, refs = {}, {}, {}
    cfg = TrainConfig(epochs=80, lr=1e-2, patience=80, batch_size=32)
    for t in tasks:
        names, make = specs[t]
        rows = [(make(i, names[i % len(names)]), names[i % len(names)]) for i in range(160)]
        refs[t] = _write_csv(folder.parent / f"{t}.csv", rows)
        full = load_dataset(refs[t])
        head, _ = train_pretrained_head(base, take_split(full, "train", seed=0), take_split(full, "validation", seed=0),
                                        cfg)
        heads[t] = head.eval()
        labels[t] = full.label_names
    mt = MultiTaskModel(base=base, heads=heads, label_names=labels, datasets=refs,
                        metadata={"setting": "pretrained", "base_model": "tiny-bert",
                                  "tasks": {t: {} for t in tasks}})
    save_multitask(mt, folder)
    return mt


@pytest.fixture(scope="module")
def multitask_folders(tiny_model_dir, tmp_path_factory):
    root = tmp_path_factory.mktemp("mt")
    (root / "two").mkdir()
    (root / "one").mkdir()
    two = _tiny_multitask(tiny_model_dir, root / "two" / "model")
    _tiny_multitask(tiny_model_dir, root / "one" / "model", tasks=("fruit",))
    return {"two": root / "two" / "model", "one": root / "one" / "model", "mt": two}


def test_multitask_fragment_renders_matrices_tables_and_reading(multitask_folders):
    from core.foundation.cache import ArrayCache
    from core.models.refs import load_multitask
    from core.analyses.synergy import SynergyParams, run_synergy
    from reports.sections.multitask import multitask_fragment

    mt = load_multitask(str(multitask_folders["two"]))
    res = run_synergy(mt, None, SynergyParams(n_per_task=20, k=5, ks=(5, 10)), projection=_settings(),
                      cache=ArrayCache(multitask_folders["two"].parent / "cache"))
    frag = multitask_fragment(res, context={"model_ref": "tiny"})
    json.dumps(frag, allow_nan=False)
    assert frag["tasks"] == ["fruit", "colour"] and frag["k"] == 5 and len(frag["pairs"]) == 1
    assert frag["pairs"][0]["q_nn"]["5"] == pytest.approx(res.matrix[0, 1])
    html = render_section({"kind": "multitask", "title": "Multi-task synergy", "anchor": "s3-multitask",
                           "data": frag})
    _no_markup(html)
    assert html.count("<svg") == 4 and "figure omitted" not in html
    assert fmt_num(res.matrix[0, 1], 3) in html and fmt_num(res.cka[0, 1], 3) in html
    plain = html.replace("&#39;", "'")
    assert all(sentence.split(":")[0] in plain for sentence in res.reading)
    table = html.split('class="data compact per-task"', 1)[1].split("</table>", 1)[0]
    assert table.count("<tr") == 2 + 2 and fmt_num(res.transfer[0, 0], 2) in table
    assert "labels &lt;script&gt;alert(1)&lt;/script&gt;, blue, green)" in html  # the hostile label name, escaped


def test_multitask_one_task_and_not_multitask_are_explained(multitask_folders, tiny_model_dir):
    from reports.context import ReportContext

    mt = get_section("multitask")
    ctx = ReportContext(parse_spec("title: t\nmodel: m\ndataset: d\nsections: [multitask]\n", source="s"))
    d = mt.compute(ctx, mt.typed({**mt.defaults(), "model": str(multitask_folders["one"])}))
    assert d["available"] is False and "has a single task (fruit)" in d["reason"]
    assert "two or more tasks" in d["reason"]
    html = render_section({"kind": "multitask", "title": "M", "data": d})
    assert "The task synergy could not be computed:" in html and "<svg" not in html
    d = mt.compute(ctx, mt.typed({**mt.defaults(), "model": str(tiny_model_dir("bert"))}))
    assert d["available"] is False and "is not a multi-task model" in d["reason"]


# ----------------------------------------------------------------------------- a whole report on tiny models


def _pdf_text(pdf: Path) -> str:
    return subprocess.run(["pdftotext", "-layout", str(pdf), "-"], capture_output=True, text=True, check=True).stdout


@pytest.fixture(scope="module")
def built(tiny_model_dir, multitask_folders, trigger, triggers, tmp_path_factory):
    from reports.sections import adversarial, comparison
    from reports.snapshot import build_report, load_snapshot

    work = tmp_path_factory.mktemp("apps")
    _write_csv(work / "notes.csv", _cmp_rows())
    atexts, alabels = _attack_texts()
    _write_csv(work / "keyed.csv", list(zip(atexts, alabels)))
    (work / "spec.yaml").write_text(f"""\
title: Applications on tiny models {EVIL}
model: {tiny_model_dir('bert')}
dataset: notes.csv
seed: 0
sections:
  - kind: comparison
    models: [trigger-a, trigger-b]
    n: 60
    k: [3, 5, 10]
    top: 5
  - kind: adversarial
    model: one-token
    dataset: keyed.csv
    n: 24
    attack: char
    min_similarity: 0
    top: 4
  - kind: multitask
    model: {multitask_folders['two']}
    n_per_task: 20
    k: 5
""", "utf-8")
    # the one-token models live in memory only: the sections get them by name, everything else is the real code
    real = adversarial.section_model
    adversarial.section_model = lambda ctx, ref: trigger if ref == "one-token" else real(ctx, ref)
    comparison.section_model = lambda ctx, ref: triggers[ref] if ref in triggers else real(ctx, ref)
    try:
        paths = build_report(load_spec(work / "spec.yaml"), work / "out")
    finally:
        adversarial.section_model = comparison.section_model = real
    return paths, load_snapshot(paths.snapshot)


def test_snapshot_of_the_three_sections(built):
    _, snap = built
    cmp, adv, mt = (s["data"] for s in snap["sections"])
    assert [s["kind"] for s in snap["sections"]] == ["comparison", "adversarial", "multitask"]
    assert cmp["available"], cmp.get("reason")
    assert cmp["n"] == 60 and cmp["ks"] == [3, 5, 10] and len(cmp["pairs"]) == 1 and cmp["split"] == "all"
    assert [m["ref"] for m in cmp["models"]] == cmp["model_refs"] and all(m["fingerprint"] for m in cmp["models"])
    assert cmp["dataset"]["n"] == 60 and len(cmp["pairs"][0]["disagreements"]) == 5
    assert adv["available"], adv.get("reason")
    assert adv["summary"]["successes"] == 12 and adv["detection"]["n_adversarial"] == 12 and len(adv["rows"]) == 4
    assert adv["model"]["ref"] == "one-token" and adv["dataset"]["name"]
    assert mt["available"], mt.get("reason")
    assert mt["tasks"] == ["fruit", "colour"] and mt["k"] == 5 and mt["model"]["tasks"][1]["labels"][0] == EVIL
    # what the sections loaded themselves is timed in the provenance
    timings = snap["provenance"]["timings"]
    assert "load_dataset:keyed.csv" in timings and any(k.startswith("load_multitask:") for k in timings)


def test_html_is_inert_and_shows_the_numbers(built):
    paths, snap = built
    html = Path(paths.html).read_text("utf-8")
    _no_markup(html)
    assert "figure omitted" not in html and html.count("<svg") == 2 + 2 + 4
    cmp, adv, _ = (s["data"] for s in snap["sections"])
    assert fmt_pct(adv["summary"]["success_rate"]) in html and "<del>" in html and "<ins>" in html
    assert fmt_num(cmp["pairs"][0]["q_embeddings"], 2) in html
    assert "&lt;script&gt;alert(1)&lt;/script&gt;" in html


def test_pdf_has_the_sections_numbers_and_the_diff_as_text(built):
    paths, snap = built
    pdf = Path(paths.pdf)
    info = subprocess.run(["pdfinfo", str(pdf)], capture_output=True, text=True, check=True).stdout
    assert int(re.search(r"Pages:\s+(\d+)", info).group(1)) >= 3
    flat = " ".join(_pdf_text(pdf).split())
    for title in ("Model comparison", "Adversarial texts", "Multi-task synergy", "Key findings", "Reading",
                  "How this was computed", "Provenance"):
        assert title in flat, title
    adv = snap["sections"][1]["data"]
    assert fmt_pct(adv["summary"]["success_rate"]) in flat and "Do the adversarial texts sit in pale" in flat
    row = adv["rows"][0]
    removed = next(r["text"] for r in row["diff"] if r["op"] == "-")
    inserted = next(r["text"] for r in row["diff"] if r["op"] == "+")
    assert removed in flat and inserted in flat
    assert f"Applications on tiny models {EVIL}" in flat  # the hostile title is shown as text
