"""The ``corpus`` report section: spec validation, the fragment and template from hand-made aggregates (hostile
texts kept inert), and a whole report (HTML + PDF) whose section is fed by the Parquet aggregates of a real run on
a tiny model."""
from __future__ import annotations

import subprocess
from pathlib import Path

import pytest

from reports.render import fmt_pct, render_section
from reports.sections import get_section, section_kinds
from reports.spec import parse_spec
from tests.reports.helpers import assert_no_markup, spec_error
from tests.reports.test_transformer_sections import _topic_rows, _write_csv
from tests.unit.test_corpus import _aggregates

pytestmark = pytest.mark.report
EVIL = "<script>alert(1)</script>"


def test_registered_with_defaults_and_bad_values_named():
    assert "corpus" in section_kinds() and get_section("corpus").title == "Corpus audit"
    spec = parse_spec("title: t\nmodel: m\ndataset: d\nsections:\n  - corpus\n", source="s")
    assert spec.sections[0].params == {"model": None, "dataset": None, "n": 1000,
                                       "jobs": ("embed", "predict", "entropy"), "batch_size": 64,
                                       "entropy_steps": 20, "top_k": 10, "saliency_method": "grad_x_input",
                                       "attack_kind": "word", "all_layers": False, "map_landmarks": 1000,
                                       "clusters": 12, "engine": None, "ray_address": None}
    base = "title: t\nmodel: m\ndataset: d\nsections:\n  - kind: corpus\n    "
    assert spec_error(base + "engine: spark\n").startswith(
        "spec.yaml line 6: sections[0].engine: expected one of: local, ray, got 'spark'")
    assert "unknown corpus job 'topics'" in spec_error(base + "jobs: [embed, topics]\n")
    assert "expected a whole number from 1 to 4096, got 0" in spec_error(base + "batch_size: 0\n")
    assert "has no figure 'acuracy'" in spec_error(base + "n: 20\nchecks:\n  - corpus.acuracy > 0.5\n")


def test_fragment_and_template_from_aggregates_only():
    from dataclasses import replace

    from core.analyses.corpus.aggregates import Failure
    from reports.sections.corpus import corpus_fragment

    agg = _aggregates()
    agg = replace(agg, failures=agg.failures + (Failure(99, f"ValueError: {EVIL}", f"text {EVIL}"),))
    d = corpus_fragment(agg, context={"jobs": ["predict", "class-tokens"], "engine": "ray", "batches": 2,
                                      "batch_size": 3, "computed_batches": 2, "cached_batches": 0})
    assert d["metrics"]["accuracy"] == pytest.approx(0.75) and d["metrics"]["failed"] == 1
    assert d["n_failures"] == 2 and [f["row"] for f in d["failures"]] == [14, 99]
    assert d["figure_confidence"]["svg"].startswith("<svg") and d["figure_entropy"] is None
    assert [c["words"] for c in d["classes"]] == [["bad", "film"], ["good", "film"]]
    assert any("Recall is lowest for neg: 50.0%" in f for f in d["findings"])
    html = render_section({"kind": "corpus", "title": "Corpus audit", "anchor": "s1-corpus", "data": d})
    assert_no_markup(html)
    assert fmt_pct(0.75) in html and "good, film" in html and "ray: 2 batches of 3 texts" in html
    assert "TypeError: no" in html and "&lt;script&gt;" in html


def test_fragment_and_template_of_the_saliency_games_and_attack_jobs():
    from reports.sections.corpus import corpus_fragment
    from tests.unit.test_corpus import _explain_aggregates

    d = corpus_fragment(_explain_aggregates(), context={"jobs": ["saliency", "games", "attack"],
                                                        "attack_kind": "char"})
    assert d["metrics"]["saliency_mean_entropy"] == pytest.approx(0.525)
    assert d["metrics"]["attack_success_rate"] == pytest.approx(2 / 3)  # the texts the model gets right
    assert d["figure_saliency_entropy"]["svg"].startswith("<svg") and d["figure_games"]["svg"].startswith("<svg")
    assert d["figure_confidence"] is None
    # the hand-made random order keeps the method's predictions: no better than random
    assert any("revealing AUC 0.75 (random 0.75): it does no better than a random order" in f for f in d["findings"])
    assert any("flips 66.7% of the predictions" in f and "2.0 words" in f for f in d["findings"])
    html = render_section({"kind": "corpus", "title": "Corpus audit", "anchor": "s1-corpus", "data": d})
    assert_no_markup(html)
    assert html.count("<svg") == 2 and "Mean saliency entropy" in html and "Attack success" in html
    assert "char attack; 2 of 4 predictions flipped" in html and "saliency and games with grad_x_input" in html
    assert "<td class=\"label\">adversarial</td><td class=\"num\">0.850</td>" in html


@pytest.fixture(scope="module")
def built(tiny_model_dir, tmp_path_factory):
    from reports.snapshot import build_report, load_snapshot
    from reports.spec import load_spec

    work = tmp_path_factory.mktemp("corpus-report")
    _write_csv(work / "data.csv", _topic_rows(48))
    (work / "spec.yaml").write_text(f"""\
title: A corpus audit of a tiny model
model: {tiny_model_dir('bert')}
dataset: data.csv
seed: 0
sections:
  - kind: corpus
    n: 1000000
    jobs: [embed, predict, entropy, saliency, games]
    batch_size: 16
    entropy_steps: 2
checks:
  - corpus.failed == 0
  - corpus.texts == 48
  - corpus.games_gap > -1
""", "utf-8")
    paths = build_report(load_spec(work / "spec.yaml"), work / "out")
    return paths, load_snapshot(paths.snapshot)


def test_whole_report_reads_the_parquet_aggregates(built):
    from core.analyses.corpus.aggregates import read_aggregates

    paths, snap = built
    d = snap["sections"][0]["data"]
    assert d["available"], d.get("reason")
    assert [c["passed"] for c in snap["checks"]] == [True, True, True]
    agg = read_aggregates(d["aggregates"])  # the section's numbers are the Parquet tables' numbers
    assert d["summary"] == pytest.approx(dict(agg.summary)) and d["batches"] == 3
    html = Path(paths.html).read_text("utf-8")
    assert_no_markup(html)
    assert html.count("<svg") == 4  # confidence, entropy, saliency entropy, games
    pdf = subprocess.run(["pdftotext", "-layout", str(paths.pdf), "-"], capture_output=True, text=True,
                         check=True).stdout
    flat = " ".join(pdf.split())
    for words in ("Corpus audit", "Texts audited", fmt_pct(agg.summary["accuracy"]), "How this was computed",
                  "In the faithfulness games", "Hiding game"):
        assert words in flat, words
