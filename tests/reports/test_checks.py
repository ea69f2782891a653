"""Spec schema (named models/datasets, ids, notes, checks), check evaluation, Markdown sanitising, the JSON Schema,
snapshot diffs, and the exit code of a build whose check fails."""
from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import pytest

from reports.checks import CheckSyntaxError, evaluate_checks, parse_check, section_metrics
from reports.diff import diff_snapshots, diff_text
from reports.render import markdown_html
from reports.spec import parse_spec
from tests.reports.helpers import spec_error

ROOT = Path(__file__).resolve().parents[2]

SPEC = """\
title: Named audit
authors: [Ann, Bob]
notes: |
  Overall **fine**.
models:
  ft: demo:bbc-finetuned
  pre: demo:bbc-pretrained
model: ft
datasets:
  bbc: bundled:bbc
  mine: {ref: data.csv, text_column: body, label_column: topic}
sections:
  - overview
  - kind: projection
    note: Look at the *pale* regions.
  - kind: comparison
    models: [ft, pre]
  - kind: projection
    id: proj_pre
    lam: 0.5
checks:
  - accuracy >= 0.9
  - projection.q_knn_error < 0.05
  - {check: "comparison.cka > 0.5", name: Similar backbones}
  - proj_pre.q_data >= projection.q_data
"""


def _err(text: str) -> str:
    return spec_error(text, "audit.yaml")


# ----------------------------------------------------------------------------- spec


def test_named_models_datasets_ids_and_round_trip():
    s = parse_spec(SPEC)
    assert s.model == "demo:bbc-finetuned" and s.model_name == "ft"
    assert s.models == {"ft": "demo:bbc-finetuned", "pre": "demo:bbc-pretrained"}
    assert s.dataset.ref == "bundled:bbc" and s.datasets["mine"].text_column == "body"
    assert s.model_ref("pre") == "demo:bbc-pretrained" and s.model_ref("hub/other") == "hub/other"
    assert [x.id for x in s.sections] == ["overview", "projection", "comparison", "proj_pre"]
    assert s.sections[1].note == "Look at the *pale* regions."
    assert s.authors == ("Ann", "Bob") and s.author == "Ann, Bob"
    assert [c.expr for c in s.checks][2] == "comparison.cka > 0.5" and s.checks[2].name == "Similar backbones"
    again = parse_spec(s.to_yaml())
    assert again.to_dict() == s.to_dict()
    assert [x.id for x in again.sections] == [x.id for x in s.sections]


@pytest.mark.parametrize("change, where, words", [
    (("projection.q_knn_error < 0.05", "projection.q_knn_eror < 0.05"), "line 23: checks[1]",
     "has no figure 'q_knn_eror'; its figures are: q_knn_error, q_data"),
    (("projection.q_knn_error < 0.05", "projection.q_knn_error < 0.05 < 1"), "line 23: checks[1]",
     "more than one comparison"),
    (("comparison.cka > 0.5", "compare.cka > 0.5"), "line 24: checks[2]",
     "no section with id 'compare'; the sections are: overview, projection, comparison, proj_pre (did you mean "
     "'comparison'?)"),
    (("accuracy >= 0.9", "accuracy"), "line 22: checks[0]", "has no comparison"),
    (("accuracy >= 0.9", "acuracy >= 0.9"), "line 22: checks[0]", "(did you mean 'accuracy'?)"),
    (("accuracy >= 0.9", "0.3 < 0.9"), "line 22: checks[0]", "compares two numbers"),
    (("    id: proj_pre", "    id: projection"), "line 18: sections[3].id", "id 'projection' is already used by "
                                                                         "sections[1]"),
    (("    id: proj_pre", "    id: accuracy"), "line 19: sections[3].id", "expected a name of letters"),
    (("authors: [Ann, Bob]", "authors: [Ann, Bob]\nauthor: Carl"), "author", "give author or authors, not both"),
    (("model: ft\n", ""), None, None),  # no model: the first of models
])
def test_spec_errors_name_field_and_line(change, where, words):
    text = SPEC.replace(*change)
    if where is None:
        assert parse_spec(text).model == "demo:bbc-finetuned"
        return
    msg = _err(text)
    assert msg.startswith("audit.yaml") and where in msg and words in msg, msg


def test_model_required_without_models():
    assert "model: missing" in _err("title: x\ndataset: bundled:bbc\nsections: [overview]\n")


# ----------------------------------------------------------------------------- checks


def test_parse_numbers_and_percentages():
    c = parse_check("adversarial.success_rate < 30%")
    assert c.right.number == pytest.approx(0.3) and c.left.path == ("adversarial", "success_rate")
    assert parse_check("1e-3 <= projection.q_knn_error").left.number == 0.001
    for bad in ("", "a.b", "a.b <", "a + b < 1", "a.b << 2"):
        with pytest.raises(CheckSyntaxError):
            parse_check(bad)


def _faith_section() -> dict:
    rows = [{"method": "decoded_gradcam", "layer": 2, "best_layer": False, "hide_auc": 0.5, "reveal_auc": 0.6,
             "gap": 0.1, "vs_random": 0.05},
            {"method": "decoded_gradcam", "layer": 4, "best_layer": True, "hide_auc": 0.4, "reveal_auc": 0.7,
             "gap": 0.3, "vs_random": 0.25},
            {"method": "occlusion", "layer": None, "best_layer": False, "hide_auc": 0.45, "reveal_auc": 0.65,
             "gap": 0.2, "vs_random": 0.15}]
    return {"kind": "faithfulness", "id": "faithfulness",
            "data": {"available": True, "rows": rows, "random": {"hide_auc": 0.6, "reveal_auc": 0.55, "gap": -0.05}}}


def test_faithfulness_figures_use_the_best_layer_and_checks_compare_figures():
    f = section_metrics(_faith_section())
    assert f["decoded_gradcam"]["reveal_auc"] == 0.7  # best layer
    assert f["decoded_gradcam@2"]["reveal_auc"] == 0.6 and f["occlusion"]["gap"] == 0.2
    figures = {"faithfulness": f, "adversarial": {"success_rate": 0.42}, "broken": {}}
    checks = [parse_check("faithfulness.decoded_gradcam.reveal_auc > faithfulness.random.reveal_auc"),
              parse_check("faithfulness.decoded_gradcam@2.gap >= 0.2"),
              parse_check("adversarial.success_rate < 0.3"),
              parse_check("accuracy >= 0.9"),
              parse_check("faithfulness.shapley.reveal_auc > 0.5"),
              parse_check("broken.q_data > 0.5")]
    res = evaluate_checks(checks, figures, {"accuracy": 0.95})
    assert [r["passed"] for r in res] == [True, False, False, True, False, False]
    assert res[0]["left"] == 0.7 and res[0]["right"] == 0.55
    assert res[2]["reason"] == "the comparison does not hold"
    assert "faithfulness.shapley was not computed (available: decoded_gradcam" in res[4]["reason"]
    assert "broken.q_data was not computed" in res[5]["reason"]
    missing = evaluate_checks([parse_check("accuracy > 0.5")], {}, {})
    assert not missing[0]["passed"] and "not available" in missing[0]["reason"]


def test_unavailable_section_publishes_nothing():
    assert section_metrics({"kind": "projection", "data": {"available": False, "reason": "x"}}) == {}


# ----------------------------------------------------------------------------- Markdown


def test_markdown_notes_are_sanitised():
    html = str(markdown_html("# Title\n**bold** <script>alert(1)</script> <img src=x onerror=alert(1)>\n\n"
                             "[bad](javascript:alert(1)) [good](https://example.org) ![pic](http://evil/x.png)"))
    assert "<h3>Title</h3>" in html and "<strong>bold</strong>" in html
    assert "<script" not in html and "<img" not in html and "javascript:" not in html.replace(
        "[bad](javascript:alert(1))", "")
    assert "&lt;script&gt;" in html
    assert '<a href="https://example.org" rel="noopener noreferrer">good</a>' in html
    assert str(markdown_html(None)) == ""


# ----------------------------------------------------------------------------- JSON Schema


def test_json_schema_accepts_examples_and_rejects_bad_specs():
    import jsonschema
    import yaml

    from reports.schema import spec_schema

    schema = spec_schema()
    jsonschema.Draft202012Validator.check_schema(schema)
    v = jsonschema.Draft202012Validator(schema)
    specs = sorted((ROOT / "reports" / "specs").glob("*.yaml"))
    assert specs
    for p in specs:
        errors = list(v.iter_errors(yaml.safe_load(p.read_text("utf-8"))))
        assert not errors, (p.name, errors[0].message)
    assert not list(v.iter_errors(parse_spec(SPEC).to_dict()))
    bad = yaml.safe_load(SPEC)
    bad["sections"][1]["lam"] = "high"
    assert list(v.iter_errors(bad))
    bad = yaml.safe_load(SPEC)
    bad["colour"] = "blue"
    assert list(v.iter_errors(bad))
    committed = json.loads((ROOT / "docs" / "report-spec.schema.json").read_text("utf-8"))
    assert committed == json.loads(json.dumps(schema)), "docs/report-spec.schema.json is stale: run " \
                                                          "python -m reports schema --out docs/report-spec.schema.json --overwrite"


# ----------------------------------------------------------------------------- diff


def _snap(q: float, acc_pass: bool, fingerprint: str, svg: str) -> dict:
    return {"format": "backbone-lens-report/1", "report": {"title": "t", "created": "2026-01-01T00:00:00"},
            "verdict": "pass" if acc_pass else "fail",
            "provenance": {"model": {"ref": "m", "fingerprint": fingerprint}, "dataset": {"ref": "d",
                                                                                         "sample_fingerprint": "s"}},
            "sections": [{"id": "projection", "kind": "projection", "title": "P", "params": {"lam": 0.8},
                          "data": {"available": True, "fidelity": {"q_knn_error": q, "q_data": 0.9},
                                   "n_labelled": 10, "n_wrong": 1, "lam": 0.8,
                                   "figure": {"svg": svg, "caption": "The map."}}}],
            "checks": [{"expr": "accuracy >= 0.9", "passed": acc_pass, "left": 0.95 if acc_pass else 0.85}]}


def test_diff_reports_figures_checks_and_charts():
    a = _snap(0.02, True, "aaa", "<svg>1</svg>")
    b = _snap(0.07, False, "bbb", "<svg>2</svg>")
    d = diff_snapshots(a, b)
    assert d["inputs"]["model"]["changed"] and not d["inputs"]["dataset"]["changed"]
    sec = d["sections"][0]
    assert sec["status"] == "changed"
    q = next(f for f in sec["figures"] if f["name"] == "q_knn_error")
    assert q["a"] == 0.02 and q["b"] == 0.07 and q["change"] == pytest.approx(0.05)
    assert not any(f["name"] == "q_data" for f in sec["figures"])  # unchanged figures are left out
    assert sec["charts"] == [{"figure": "The map.", "status": "changed"}]
    assert d["changed_checks"][0]["a"] == "pass" and d["changed_checks"][0]["b"] == "fail"
    text = diff_text(d)
    assert "verdict: pass → fail" in text and "q_knn_error: 0.02 → 0.07 (+0.05)" in text
    assert diff_snapshots(a, a)["n_changed_sections"] == 0


# ----------------------------------------------------------------------------- CLI exit codes


def _cli(*args: str, cwd: Path, env_cache: Path | None = None) -> subprocess.CompletedProcess:
    import os

    env = {**os.environ, "PYTHONPATH": str(ROOT), "HF_HUB_OFFLINE": "1"}
    if env_cache is not None:
        env["BACKBONE_LENS_CACHE"] = str(env_cache)
    env.pop("BACKBONE_LENS_DEBUG", None)
    return subprocess.run([sys.executable, "-m", "reports", *args], cwd=cwd, env=env, capture_output=True, text=True,
                          timeout=600)


def test_validate_and_schema_commands(tmp_path):
    (tmp_path / "a.yaml").write_text(SPEC, "utf-8")
    r = _cli("validate", "a.yaml", cwd=tmp_path)
    assert r.returncode == 0 and "4 sections" in r.stdout and "4 checks" in r.stdout
    (tmp_path / "b.yaml").write_text(SPEC.replace("comparison.cka", "comparison.ckaa"), "utf-8")
    r = _cli("validate", "b.yaml", cwd=tmp_path)
    assert r.returncode == 2 and r.stderr.startswith("error: b.yaml line 24: checks[2]:") and "Traceback" not in r.stderr
    r = _cli("schema", "--out", "s.json", cwd=tmp_path)
    assert r.returncode == 0 and json.loads((tmp_path / "s.json").read_text())["title"] == "Backbone Lens report spec"


@pytest.mark.report
def test_failing_check_exits_1_and_the_report_shows_it(demo_workspace, tmp_path):
    spec = ("title: Gate\nmodel: demo:bbc-finetuned\ndataset: bundled:bbc\nsample_size: 60\nsections: [overview]\n"
            "checks:\n  - accuracy >= 0.5\n  - {check: 'overview.macro_f1 > 1.5', name: Impossible F1}\n")
    (tmp_path / "gate.yaml").write_text(spec, "utf-8")
    r = _cli("build", "gate.yaml", "--out", "out", "--no-pdf", cwd=tmp_path, env_cache=demo_workspace)
    assert r.returncode == 1, r.stderr
    assert "1 check failed" in r.stderr and "FAIL  overview.macro_f1 > 1.5" in r.stdout
    snap = json.loads((tmp_path / "out" / "snapshot.json").read_text())
    assert snap["verdict"] == "fail" and [c["passed"] for c in snap["checks"]] == [True, False]
    html = (tmp_path / "out" / "report.html").read_text()
    assert "1 of 2 checks fail" in html and "Impossible F1" in html and "✗ fail" in html
    # re-rendering reads the snapshot only (no model), and keeps the verdict and exit code
    r2 = _cli("render", "out", "--out", "again", "--no-pdf", cwd=tmp_path, env_cache=tmp_path / "no-cache")
    assert r2.returncode == 1 and (tmp_path / "again" / "report.html").read_text() == html
    r3 = _cli("diff", "out", "again", cwd=tmp_path)
    assert r3.returncode == 0 and "section overview: unchanged" in r3.stdout
