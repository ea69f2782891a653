"""The ``projection`` report section: spec validation, template, SVG safety, and a real build on the demo."""
from __future__ import annotations

import json
import re
import subprocess
from pathlib import Path

import numpy as np
import pytest

from core.foundation.errors import SpecError
from reports.render import fmt_num, fmt_pct, render_section, safe_svg, svg_problem
from reports.sections import get_section
from reports.spec import load_spec, parse_spec

pytestmark = pytest.mark.report

ROOT = Path(__file__).resolve().parents[2]
EVIL = "<script>alert(1)</script>"
IMG = '"><img src=x onerror="alert(2)">'

SPEC = """\
title: Projection audit for the test suite
model: demo:bbc-pretrained
dataset: bundled:bbc
seed: 1
sections:
  - kind: projection
    n: 200
    lam: 0.8
    color_by: correct
    sweep: [0, 0.8, 1]
"""


def _err(text: str) -> str:
    with pytest.raises(SpecError) as ei:
        parse_spec(text, source="spec.yaml")
    return str(ei.value)


# ----------------------------------------------------------------------------- spec


def test_params_defaults_and_normalised_sweep():
    spec = parse_spec(SPEC.replace("sweep: [0, 0.8, 1]", "sweep: [1, 0, 0.8, 0]"), source="spec.yaml")
    p = spec.sections[0].params
    assert p["n"] == 200 and p["lam"] == 0.8 and p["color_by"] == "correct" and p["metric"] == "cosine"
    assert p["sweep"] == (0.0, 0.8, 1.0) and p["exact"] is False  # sorted, duplicates dropped
    assert parse_spec(spec.to_yaml(), source="again.yaml").to_dict() == spec.to_dict()
    d = get_section("projection").defaults()
    assert d["lam"] == 0.8 and d["n"] is None and d["sweep"] is None and d["color_by"] == "prediction"
    assert parse_spec(SPEC.replace("n: 200", "n: null"), source="s").sections[0].params["n"] is None


def test_example_spec_is_valid():
    spec = load_spec(ROOT / "reports" / "specs" / "demo-projection.yaml")
    assert [s.kind for s in spec.sections] == ["overview", "projection"]
    assert spec.model == "demo:bbc-pretrained" and spec.dataset.ref == "bundled:bbc"
    assert spec.sections[1].params["sweep"] and spec.sections[1].params["lam"] == 0.8


@pytest.mark.parametrize("old,new,expected", [
    ("lam: 0.8", "lam: 1.5", "spec.yaml line 8: sections[0].lam: expected a number from 0 to 1, got 1.5"),
    ("lam: 0.8", "lam: high", "spec.yaml line 8: sections[0].lam: expected a number from 0 to 1, got 'high'"),
    ("color_by: correct", "color_by: colour",
     "spec.yaml line 9: sections[0].color_by: expected one of: prediction, true label, correct, got 'colour'"),
    ("color_by: correct", "color_by: corect",
     "spec.yaml line 9: sections[0].color_by: expected one of: prediction, true label, correct, got 'corect' "
     "(did you mean 'correct'?)"),
    ("n: 200", "n: 10", "spec.yaml line 7: sections[0].n: expected a whole number ≥ 50, got 10"),
    ("sweep: [0, 0.8, 1]", "sweep: []", "spec.yaml line 10: sections[0].sweep: expected a non-empty list of "
     "numbers from 0 to 1, got an empty list"),
    ("sweep: [0, 0.8, 1]", "sweep: 0.5", "spec.yaml line 10: sections[0].sweep: expected a non-empty list"),
    ("sweep: [0, 0.8, 1]", "sweep:\n      - 0\n      - 1.5\n",
     "spec.yaml line 12: sections[0].sweep[1]: expected a number from 0 to 1, got 1.5 (item 2 of the list)"),
    ("lam: 0.8", "lamda: 0.8", "spec.yaml line 8: sections[0].lamda: unknown parameter of section kind "
     "'projection'"),
])
def test_bad_params_name_line_and_field(old, new, expected):
    msg = _err(SPEC.replace(old, new))
    assert msg.startswith(expected), msg
    assert "\n" not in msg


def test_unknown_metric_and_exact_type():
    assert _err(SPEC + "    metric: manhattan\n").startswith(
        "spec.yaml line 11: sections[0].metric: expected one of: cosine, euclidean, got 'manhattan'")
    assert _err(SPEC + "    exact: yes please\n").startswith(
        "spec.yaml line 11: sections[0].exact: expected true or false")


# ----------------------------------------------------------------------------- template and SVG (no model)


def _run(n: int = 60, labels=("alpha", EVIL, IMG)):
    from core.analyses.projection.background import DecisionBackground
    from core.analyses.projection.fidelity import Fidelity
    from core.analyses.projection.layout import Projection
    from core.analyses.projection.params import ProjectionParams
    from core.analyses.projection.run import ProjectionRun
    from core.data.datasets import _make
    from core.data.sampling import draw

    rng = np.random.default_rng(0)
    pred = rng.integers(0, len(labels), n)
    g = 12
    probs = rng.dirichlet(np.ones(len(labels)), size=(g, g)).astype(np.float32)
    bg = DecisionBackground(extent=(-3.0, 3.0, -3.0, 3.0), resolution=g, classes=probs.argmax(-1),
                            confidence=probs.max(-1), probs=probs)
    fid = Fidelity(q_knn_error=0.1234, q_data=0.8768, trustworthiness=0.91234, continuity=0.88765, k=5, k_tc=10,
                   tc_sample=n)
    proj = Projection(lam=0.6, points=rng.normal(size=(n, 2)).astype(np.float32), predictions=pred,
                      confidence=rng.uniform(0.4, 1, n).astype(np.float32), background=bg, fidelity=fid,
                      params={"lam": 0.6}, seconds={"knn": 0.01, "umap": 2.5, "background": 0.3, "metrics": 0.05})
    texts = [f"{EVIL} {IMG} text {i} & ]]> </svg>" for i in range(n)]
    sample = draw(_make("x", texts, None, []), None)
    return ProjectionRun(projection=proj, sample=sample, labels=rng.integers(-1, len(labels), n),
                         probs=np.zeros((n, 3)), label_names=list(labels), model_ref="demo:x",
                         params=ProjectionParams(lam=0.6), graph_seconds=1.5, graph_cache_hit=False,
                         projection_cache_hit=True, embed_seconds=0.7, n_edges=1234)


def test_fragment_renders_metrics_figure_and_sweep_and_escapes_text():
    from reports.sections.projection import projection_fragment

    run = _run()
    sweep = [{"lam": lam, "q_knn_error": 0.3 - lam / 4, "q_data": 0.8, "trustworthiness": 0.9 - lam / 10,
              "continuity": 0.85, "seconds": 1.0} for lam in (0.0, 0.6, 1.0)]
    frag = projection_fragment(run, sweep, color_by="true label",
                               context={"n_total": 500, "trained_on_dataset": True})
    json.dumps(frag, allow_nan=False)  # snapshot-ready
    html = render_section({"kind": "projection", "title": "Projection", "anchor": "s2-projection", "data": frag})
    for value in ("12.3%", "87.7%", "0.912", "0.888"):
        assert value in html
    assert "Leave-one-out 5-NN error in 2-D" in html and "background class at their location" in html
    assert "10-neighbours" in html and "cosine distance" in html
    assert "Cauchy-kernel inverse map" in html and "pale = uncertain" in html
    assert html.count("<svg") == 2 and "figure omitted" not in html and html.count("<image") == 1
    assert 'class="current"' in html and html.count("<tr") >= 3 + 7  # sweep rows + settings
    assert "trained on this dataset" in html and "random sample of 500" in html
    # dataset texts and hostile label names never become markup
    assert "<script" not in html and "<img" not in html and not re.search(r"<[^>]*\sonerror=", html)
    assert "text 0" not in html  # texts are not embedded at all (no per-point ARIA labels)
    assert "&lt;script&gt;" in html  # the label name, escaped, in the legend


def test_unavailable_projection_explains_why():
    html = render_section({"kind": "projection", "title": "P", "data": {
        "available": False, "reason": "Model demo:x has no classification head.", "n": 10, "n_total": 10}})
    assert "could not be computed: Model demo:x has no classification head." in html
    assert "<svg" not in html and "Trustworthiness" not in html


def test_svg_filter_allows_only_inline_raster_images():
    png = "data:image/png;base64,iVBORw0KGgoAAAANSUhEUgAAAAEAAAABCAYAAAAfFcSJAAAADUlEQVR4nGNgYGD4DwABBAEAwS2OUAAAAABJRU5ErkJggg=="
    ok = (f'<svg xmlns="http://www.w3.org/2000/svg" xmlns:xlink="http://www.w3.org/1999/xlink">'
          f'<image xlink:href="{png}" width="10" height="10"/></svg>')
    assert svg_problem(ok) is None and str(safe_svg(ok)) == ok
    for bad in (ok.replace("image/png", "image/svg+xml"), ok.replace(png, "http://evil/x.png"),
                ok.replace(png, "javascript:alert(1)"), ok.replace("/>", f' href="{png}"/>'),
                f'<svg xmlns="http://www.w3.org/2000/svg"><a href="{png}"><rect/></a></svg>'):
        assert svg_problem(bad) is not None, bad


# ----------------------------------------------------------------------------- a real build on the demo


def _pdf_text(pdf: Path) -> str:
    return subprocess.run(["pdftotext", "-layout", str(pdf), "-"], capture_output=True, text=True, check=True).stdout


@pytest.fixture(scope="module")
def built(demo_workspace, tmp_path_factory):
    from reports.snapshot import build_report, load_snapshot

    work = tmp_path_factory.mktemp("projection")
    (work / "spec.yaml").write_text(SPEC, "utf-8")
    paths = build_report(load_spec(work / "spec.yaml"), work / "out")
    return paths, load_snapshot(paths.snapshot)


def test_snapshot_holds_numbers_params_and_seconds(built):
    _, snap = built
    sec = snap["sections"][0]
    assert sec["kind"] == "projection" and sec["params"]["sweep"] == [0.0, 0.8, 1.0]
    d = sec["data"]
    assert d["available"] and d["n"] == 200 and d["n_total"] > 200 and d["lam"] == 0.8 and d["seed"] == 1
    f = d["fidelity"]
    assert 0 <= f["q_knn_error"] <= 1 and 0 <= f["q_data"] <= 1 and 0 < f["trustworthiness"] <= 1
    assert f["k"] == 5 and f["k_tc"] == 10 and f["tc_sample"] == 200
    assert d["settings"]["metric"] == "cosine" and d["settings"]["seed"] == 1 and d["n_edges"] > 200
    assert all(d["seconds"][k] >= 0 for k in ("embeddings", "distances", "umap", "background", "metrics"))
    rows = d["sweep"]["rows"]
    assert [r["lam"] for r in rows] == [0.0, 0.8, 1.0] and [r["current"] for r in rows] == [False, True, False]
    assert rows[1]["trustworthiness"] == pytest.approx(f["trustworthiness"], abs=1e-6)
    assert "<image" in d["figure"]["svg"] and d["figure"]["alt"]
    assert snap["provenance"]["parameters"]["sections"][0]["lam"] == 0.8


def test_html_shows_snapshot_values_sweep_and_figure(built):
    paths, snap = built
    html = Path(paths.html).read_text("utf-8")
    d = snap["sections"][0]["data"]
    f = d["fidelity"]
    for text in (fmt_pct(f["q_knn_error"]), fmt_pct(f["q_data"]), fmt_num(f["trustworthiness"], 3),
                 fmt_num(f["continuity"], 3)):
        assert f'<span class="kpi-value">{text}</span>' in html
    table = html.split('class="data compact sweep"', 1)[1].split("</table>", 1)[0]
    assert table.count("<tr") == 1 + len(d["sweep"]["rows"])
    for r in d["sweep"]["rows"]:
        assert fmt_num(r["trustworthiness"], 3) in table and fmt_pct(r["q_knn_error"]) in table
    assert re.search(r'<figure class="chart projection" role="group" aria-label="Scatter plot of 200 texts', html)
    assert html.count("<svg") == 2 and "figure omitted" not in html and "data:image/png;base64," in html
    assert "<script" not in html and "https://" not in html


def test_pdf_renders_with_background(built, tmp_path):
    paths, snap = built
    pdf = Path(paths.pdf)
    pages = int(re.search(r"Pages:\s+(\d+)", subprocess.run(["pdfinfo", str(pdf)], capture_output=True, text=True,
                                                             check=True).stdout).group(1))
    assert pages >= 1
    text = _pdf_text(pdf)
    f = snap["sections"][0]["data"]["fidelity"]
    assert "Discriminative projection" in text and "Trustworthiness" in text
    assert fmt_num(f["trustworthiness"], 3) in text and "Fidelity across λ" in text
    images = subprocess.run(["pdfimages", "-list", str(pdf)], capture_output=True, text=True, check=True).stdout
    assert len(images.strip().splitlines()) >= 3  # header, rule, ≥ 1 image: the decision background got through


def test_rerender_from_snapshot_alone(built, tmp_path):
    from reports.render import render_html

    paths, snap = built
    assert render_html(snap) == Path(paths.html).read_text("utf-8")


def test_model_without_head_gets_a_note(demo_workspace, tiny_model_dir, tmp_path):
    from reports.snapshot import build_snapshot

    spec = parse_spec(f"title: t\nmodel: {tiny_model_dir('bert-mlm')}\ndataset: bundled:bbc\nsample_size: 60\n"
                      "sections:\n  - kind: projection\n", source="s")
    d = build_snapshot(spec)["sections"][0]["data"]
    assert d["available"] is False and "head" in d["reason"]
