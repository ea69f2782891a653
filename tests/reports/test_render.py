"""Templates, filters, SVG safety and the PDF URL fetcher (no model needed)."""
from __future__ import annotations

import numpy as np
import pytest

from core.data.datasets import DatasetStats
from core.models.evaluate import EvaluationResult
from reports.render import (URLRefused, fmt_datetime, fmt_num, fmt_pct, make_url_fetcher, render_pdf,
                            render_section, safe_svg)
from reports.sections import SECTIONS, get_section
from reports.sections.overview import overview_fragment

pytestmark = pytest.mark.report

EVIL = "<script>alert(1)</script>"
IMG = '<img src=x onerror="alert(2)">'


def _fragment(labels=("alpha", EVIL, IMG)) -> dict:
    cm = np.array([[5, 1, 0], [0, 4, 2], [1, 0, 7]])
    per = []
    for c, name in enumerate(labels):
        tp = cm[c, c]
        p, r = tp / cm[:, c].sum(), tp / cm[c].sum()
        per.append({"label": name, "precision": p, "recall": r, "f1": 2 * p * r / (p + r), "support": int(cm[c].sum())})
    ev = EvaluationResult(accuracy=16 / 20, n=20, split="test", labels=tuple(labels), confusion_matrix=cm,
                          per_class=tuple(per), macro_f1=float(np.mean([d["f1"] for d in per])),
                          note="Evaluated on the held-out test split only.", model_fingerprint="m" * 20,
                          dataset_fingerprint="d" * 20)
    stats = DatasetStats(n=20, label_names=tuple(labels), label_counts=(6, 6, 8), n_unlabelled=0,
                         length_words=np.array([5, 8, 13, 21] * 5), is_pair=False)
    model = {"ref": "demo:x", "model_type": "bert", "layers": 6, "hidden_size": 384, "parameters": 22_713_216,
             "labels": list(labels), "pooling": "mean", "max_length": 64, "has_classifier": True,
             "has_mlm_head": False, "setting": "finetuned", "fingerprint": "f" * 20, "training": {},
             "heldout": {"accuracy": 0.9, "n": 150}, "trained_on_dataset": True}
    dataset = {"ref": "bundled:x", "name": "x", "description": f"A dataset {EVIL}", "n_total": 100,
               "sample_size": 20, "seed": 0, "fingerprint": "a" * 20, "source_fingerprint": "b" * 20,
               "label_names": list(labels), "notes": [IMG], "truncated_share": 0.25, "tokens_median": 30.0}
    return overview_fragment(model, dataset, stats, ev, normalize=True)


def test_registry_declares_overview():
    sk = get_section("overview")
    assert "overview" in SECTIONS and sk.template == "sections/overview.html.j2"
    assert sk.defaults()["normalize"] is True
    with pytest.raises(KeyError):
        get_section("nope")


def test_overview_template_renders_alone_and_escapes_text():
    frag = _fragment()
    html = render_section({"kind": "overview", "title": "Overview", "anchor": "s1-overview", "data": frag})
    assert "Accuracy" in html and "80.0%" in html and "Macro-F1" in html
    assert "Key findings" in html and "Figure 1." in html and "Figure 3." in html
    assert html.count("<svg") == 3  # label balance, lengths, confusion matrix: inline SVG
    # no live tags: every "<" of the hostile labels is escaped, in HTML text and in the SVG <text> nodes
    assert "<script" not in html and "<img" not in html
    assert "&lt;script&gt;alert(1)&lt;/script&gt;" in html and "&lt;img src=x" in html
    assert "held-out test split" in html and "25% exceed the 64-token window" in html


def test_section_without_performance_explains_why():
    frag = _fragment(("a", "b", "c"))
    frag["performance"] = {"available": False, "reason": "Model demo:x has no classification head."}
    html = render_section({"kind": "overview", "title": "Overview", "data": frag})
    assert "Performance could not be measured: Model demo:x has no classification head." in html
    assert "Macro-F1" not in html


def test_unsafe_svg_is_refused():
    ok = '<svg xmlns="http://www.w3.org/2000/svg" width="10" height="10"><rect width="10" height="10"/></svg>'
    assert str(safe_svg(ok)) == ok
    for bad in ('<svg onload="alert(1)"></svg>', "<svg><script>alert(1)</script></svg>",
                '<svg><image href="http://evil/x.png"/></svg>', '<svg><foreignObject></foreignObject></svg>',
                EVIL, '<svg><a xlink:href="javascript:alert(1)">x</a></svg>'):
        out = str(safe_svg(bad))
        assert "figure omitted" in out and "alert" not in out and "evil" not in out


def test_filters():
    assert fmt_pct(0.9667) == "96.7%" and fmt_pct(None) == "–"
    assert fmt_num(12345) == "12,345" and fmt_num(0.91234, 3) == "0.912"
    assert fmt_datetime("2025-01-02T03:04:05+00:00") == "2 January 2025, 03:04 UTC"


def test_url_fetcher_refuses_remote_and_outside_files(tmp_path):
    fetch = make_url_fetcher(tmp_path)
    for url in ("http://example.com/x.png", "https://example.com/style.css", "ftp://example.com/x",
                "file:///etc/passwd", (tmp_path.parent / "other.css").as_uri()):
        with pytest.raises(URLRefused):
            fetch(url)
    resp = fetch("data:text/plain;base64,aGVsbG8=")
    assert resp.read() == b"hello"
    (tmp_path / "ok.css").write_text("p {}")
    assert fetch((tmp_path / "ok.css").as_uri()).read() == b"p {}"


def test_pdf_skips_remote_resources(tmp_path):
    html = ('<html><head><link rel="stylesheet" href="http://127.0.0.1:9/x.css"></head><body>'
            '<h1>Hello PDF</h1><img src="https://example.invalid/x.png"><img src="file:///etc/hosts"></body></html>')
    out = render_pdf(html, tmp_path / "out" / "r.pdf")
    assert out.read_bytes().startswith(b"%PDF")


def _provenance(texts: list[str]) -> dict:
    return {"created": "2026-01-01T00:00:00+00:00", "spec_file": "audit.yaml", "spec_sha256": "abc123",
            "spec": {"sections": [{"kind": "saliency_examples", "texts": texts}]},
            "model": {"ref": "demo:x", "fingerprint": "f" * 20, "encoder_fingerprint": "e" * 20, "setting": "finetuned",
                      "training_data_fingerprint": "t" * 20},
            "dataset": {"ref": "bundled:tweets", "source_fingerprint": "s" * 20, "sample_fingerprint": "p" * 20,
                        "n_sample": 200, "n_total": 38158},
            "evaluation": {"split": "test", "n": 200, "dataset_fingerprint": "d" * 20},
            "parameters": {"sample_size": 200, "seed": 0, "sections": [
                {"kind": "overview", "normalize": True, "show_length_chart": False},
                {"kind": "saliency_examples", "texts": texts, "methods": ["occlusion", "integrated_gradients"],
                 "layer": None, "n": 200}]},
            "environment": {"backbone_lens": "0.1.0", "python": "3.11.7", "implementation": "CPython",
                            "platform": "Linux", "machine": "x86_64", "cpu_count": 2, "torch_threads": 2,
                            "device": "cpu", "libraries": {"torch": "2.13.0", "weasyprint": "70.0"}},
            "timings": {"load_model": 1.5, "load_dataset": 0.4, "evaluation": 3.2,
                        "sections": {"s1-overview": 2.0, "s2-saliency_examples": 12.5}, "total": 19.6}}


def test_provenance_keeps_to_fingerprints_parameters_versions_and_timings():
    """The appendix names every input by fingerprint and every parameter in words; the texts a section explains are
    counted, never printed there (no JSON, no \\u0027 escapes), and the spec is not reprinted."""
    from reports.render import environment

    texts = ["@united thanks for nothing, my flight's delayed again & nobody's telling us why", "it's <b>fine</b>"]
    sections = [{"title": "Overview", "anchor": "s1-overview"}, {"title": "Saliency examples",
                                                                  "anchor": "s2-saliency_examples"}]
    html = environment().get_template("provenance.html.j2").render(prov=_provenance(texts), sections=sections)
    assert "f" * 20 in html and "s" * 20 in html and "p" * 20 in html and "torch 2.13.0" in html
    assert "1. Overview" in html and "normalize: yes · show length chart: no" in html
    assert "2. Saliency examples" in html and "texts: 2 texts" in html and "layer: default" in html
    assert "methods: occlusion, integrated_gradients" in html and "12.5 s" in html
    assert "nobody" not in html and "flight" not in html and "\\u0027" not in html and "&lt;b&gt;" not in html
    assert "sections:" not in html and "kind:" not in html  # no YAML reprint of the spec
