"""``python -m reports`` end to end on the demo workspace (real model, small samples)."""
from __future__ import annotations

import csv
import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

pytestmark = pytest.mark.report

ROOT = Path(__file__).resolve().parents[2]


def _run(args: list[str], cache: Path, cwd: Path, timeout: int = 300) -> subprocess.CompletedProcess:
    env = {**os.environ, "BACKBONE_LENS_CACHE": str(cache), "HF_HUB_OFFLINE": "1", "TOKENIZERS_PARALLELISM": "false",
           "PYTHONPATH": str(ROOT)}
    env.pop("BACKBONE_LENS_DEBUG", None)
    return subprocess.run([sys.executable, "-m", "reports", *args], cwd=cwd, env=env, capture_output=True,
                          text=True, timeout=timeout)


def _pdftext(pdf: Path) -> str:
    return subprocess.run(["pdftotext", "-layout", str(pdf), "-"], capture_output=True, text=True, check=True).stdout


SPEC = """\
title: Demo audit for the test suite
author: Test Runner
audience: Reviewers
model: demo:bbc-finetuned
dataset: bundled:bbc
sample_size: 120
seed: 3
sections:
  - kind: overview
"""


@pytest.fixture(scope="module")
def built(demo_workspace, tmp_path_factory):
    work = tmp_path_factory.mktemp("build")
    (work / "spec.yaml").write_text(SPEC, "utf-8")
    r = _run(["build", "spec.yaml", "--out", "out/nested", "--json"], demo_workspace, work)
    assert r.returncode == 0, r.stderr
    return work, json.loads(r.stdout), r


def test_build_writes_three_files_only_into_out(built):
    work, paths, _ = built
    out = work / "out" / "nested"
    assert Path(paths["snapshot"]) == out / "snapshot.json"
    assert sorted(p.name for p in out.iterdir()) == ["report.html", "report.pdf", "snapshot.json"]
    assert sorted(p.name for p in work.iterdir()) == ["out", "spec.yaml"]


def test_snapshot_has_sections_and_provenance(built):
    work, paths, _ = built
    snap = json.loads(Path(paths["snapshot"]).read_text("utf-8"))
    assert snap["format"] == "backbone-lens-report/1"
    sec = snap["sections"][0]
    assert sec["kind"] == "overview" and sec["params"] == {"normalize": True, "show_length_chart": True}
    perf = sec["data"]["performance"]
    assert perf["split"] == "test" and 0 < perf["n"] <= 120 and 0 <= perf["accuracy"] <= 1
    prov = snap["provenance"]
    assert len(prov["model"]["fingerprint"]) >= 10 and prov["dataset"]["source_fingerprint"]
    assert prov["parameters"]["seed"] == 3 and prov["parameters"]["sample_size"] == 120
    for lib in ("torch", "transformers", "numpy", "altair", "weasyprint"):
        assert prov["environment"]["libraries"][lib] != "not installed"
    assert prov["environment"]["python"] and prov["timings"]["total"] > 0


def test_report_html_is_self_contained(built):
    work, paths, _ = built
    html = Path(paths["html"]).read_text("utf-8")
    assert "<title>Demo audit for the test suite</title>" in html
    assert "Accuracy" in html and "Provenance" in html and "<svg" in html
    assert "http://" not in html.replace("http://www.w3.org/", "") and "https://" not in html
    assert "<script" not in html and "<link" not in html


def test_report_pdf_text(built):
    work, paths, _ = built
    text = _pdftext(Path(paths["pdf"]))
    assert "Demo audit for the test suite" in text
    assert "Accuracy" in text and "Provenance" in text and "Model fingerprint" in text
    assert "Page 1 of" in text


def test_render_from_snapshot_alone(built, demo_workspace, tmp_path):
    work, paths, _ = built
    r = _run(["render", str(Path(paths["snapshot"])), "--out", str(tmp_path / "again"), "--no-pdf", "--json"],
             demo_workspace, tmp_path)
    assert r.returncode == 0, r.stderr
    html = Path(json.loads(r.stdout)["html"]).read_text("utf-8")
    assert "Demo audit for the test suite" in html


def test_validate_and_errors_are_one_line(demo_workspace, tmp_path):
    from reports.sections import section_kinds

    assert section_kinds()[:2] == ("overview", "projection")
    (tmp_path / "good.yaml").write_text(SPEC)
    r = _run(["validate", "good.yaml"], demo_workspace, tmp_path)
    assert r.returncode == 0 and "valid" in r.stdout
    (tmp_path / "bad.yaml").write_text(SPEC.replace("kind: overview", "kind: overveiw"))
    for args in (["validate", "bad.yaml"], ["build", "bad.yaml", "--out", "o"]):
        r = _run(args, demo_workspace, tmp_path)
        assert r.returncode == 2
        assert r.stderr.strip().splitlines() == [
            "error: bad.yaml line 9: sections[0].kind: unknown section kind 'overveiw'; expected one of: "
            f"{', '.join(section_kinds())} (did you mean 'overview'?)"]
    assert not (tmp_path / "o").exists()
    (tmp_path / "nomodel.yaml").write_text(SPEC.replace("demo:bbc-finetuned", "demo:nope"))
    r = _run(["build", "nomodel.yaml", "--out", "o2"], demo_workspace, tmp_path)
    assert r.returncode == 2 and "Traceback" not in r.stderr
    assert r.stderr.strip().splitlines()[-1].startswith("error: Unknown demo model 'nope'")


def test_hostile_dataset_and_spec_render_inert(demo_workspace, tmp_path):
    labels = ["business", "entertainment", "politics", "sport", "tech"]
    rows = []
    for i in range(40):
        payload = ["<script>alert(1)</script>", '<img src=x onerror="alert(document.cookie)">',
                   "</table><h1>pwned</h1>", "{{ 7*7 }} {% raw %}"][i % 4]
        rows.append({"text": f"Markets and {payload} story number {i} about shares and profits", "label": labels[i % 5]})
    data = tmp_path / "hostile.csv"
    with open(data, "w", newline="", encoding="utf-8") as f:
        w = csv.DictWriter(f, fieldnames=["text", "label"])
        w.writeheader()
        w.writerows(rows)
    spec = (f"title: '<script>alert(\"title\")</script> Audit'\n"
            f"author: '<img src=x onerror=alert(1)>'\n"
            f"audience: '</style><b>bold</b>'\n"
            f"model: demo:bbc-pretrained\n"
            f"dataset: hostile.csv\n"
            f"sections:\n  - kind: overview\n")
    (tmp_path / "spec.yaml").write_text(spec, "utf-8")
    r = _run(["build", "spec.yaml", "--out", "out", "--json"], demo_workspace, tmp_path)
    assert r.returncode == 0, r.stderr
    html = (tmp_path / "out" / "report.html").read_text("utf-8")
    assert "<script" not in html and "<img" not in html and "<b>bold</b>" not in html and "<h1>pwned" not in html
    assert "&lt;script&gt;alert(&#34;title&#34;)&lt;/script&gt; Audit" in html
    assert "&lt;img src=x onerror=alert(1)&gt;" in html
    assert "&lt;/style&gt;&lt;b&gt;bold&lt;/b&gt;" in html
    assert html.count("</style>") == 1  # only our own stylesheet closes a style element
    text = _pdftext(tmp_path / "out" / "report.pdf")
    assert '<script>alert("title")</script> Audit' in text  # shown literally, not executed or dropped


def test_hostile_labels_notes_and_sections_render_inert(demo_workspace, tmp_path):
    """Markup in labels, texts, notes and section notes stays text through topics, saliency and the summary."""
    labels = ["<b>biz</b>", 'tech"><script>alert(2)</script>', "<img src=x onerror=alert(3)>"]
    rows = [{"text": f"Shares <script>alert({i})</script> and profits rose at company {i} <i>today</i>",
             "label": labels[i % 3]} for i in range(45)]
    data = tmp_path / "hostile.csv"
    with open(data, "w", newline="", encoding="utf-8") as f:
        w = csv.DictWriter(f, fieldnames=["text", "label"])
        w.writeheader()
        w.writerows(rows)
    spec = ("title: Hostile labels\n"
            "notes: '<script>alert(4)</script> **bold** [x](javascript:alert(5))'\n"
            "model: demo:bbc-pretrained\ndataset: hostile.csv\n"
            "sections:\n"
            "  - kind: overview\n    note: '<img src=x onerror=alert(6)> *seen*'\n"
            "  - kind: topics\n    n: 45\n    clusters: 3\n    map: pca\n"
            "  - kind: saliency_examples\n    n: 45\n    kinds: [uncertain]\n    methods: [occlusion]\n"
            "checks:\n  - topics.n_clusters >= 2\n")
    (tmp_path / "spec.yaml").write_text(spec, "utf-8")
    r = _run(["build", "spec.yaml", "--out", "out", "--json"], demo_workspace, tmp_path)
    assert r.returncode == 0, r.stderr
    html = (tmp_path / "out" / "report.html").read_text("utf-8")
    low = html.lower()
    assert "<script" not in low and "<img" not in low and "javascript:" not in low.replace(
        "[x](javascript:alert(5))", "")
    assert "<i>today</i>" not in html and "&lt;b&gt;biz&lt;/b&gt;" in html
    assert "<strong>bold</strong>" in html and "<em>seen</em>" in html  # Markdown still works
    assert "the check holds" in html
    text = _pdftext(tmp_path / "out" / "report.pdf")
    assert "<b>biz</b>" in text  # the label is shown literally
