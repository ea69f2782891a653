"""The ``layers`` and ``topics`` report sections: spec validation, fragments and templates from core results (planted
layer structure, tiny models), hostile texts kept inert, unavailable inputs explained, and a whole report (HTML + PDF)."""
from __future__ import annotations

import csv
import json
import subprocess
from pathlib import Path

import numpy as np
import pytest

from reports.render import fmt_pct, render_section
from reports.sections import get_section, section_kinds
from reports.spec import parse_spec
from tests.unit.test_layers import _layers_separating_from
from tests.reports.helpers import assert_no_markup as _no_markup, spec_error as _err

pytestmark = pytest.mark.report

EVIL = "<script>alert(1)</script>"
IMG = '<img src=x onerror="alert(2)">'

SPEC = """\
title: Inside the transformer for the test suite
model: demo:bbc-finetuned
dataset: bundled:bbc
sections:
  - kind: layers
    models: [demo:bbc-pretrained, demo:bbc-finetuned]
    n: 100
    k: 5
    maps: [0, 3, 6]
  - kind: topics
    n: 100
    method: agglomerative
    clusters: 4
"""




# ----------------------------------------------------------------------------- spec


def test_registered_after_faithfulness_with_defaults():
    kinds = section_kinds()
    assert kinds.index("faithfulness") < kinds.index("layers") < kinds.index("topics")
    spec = parse_spec("title: t\nmodel: m\ndataset: d\nsections:\n  - layers\n  - topics\n", source="s")
    lay, top = (s.params for s in spec.sections)
    assert lay == {"models": None, "dataset": None, "n": 300, "k": 10, "maps": None, "projection": "pca"}
    assert top == {"model": None, "dataset": None, "n": 300, "method": "kmeans", "clusters": None, "top_n": 10,
                   "rerank": False, "reduce": "none", "map": "umap", "examples": 2}
    spec = parse_spec(SPEC, source="spec.yaml")
    assert spec.sections[0].params["models"] == ("demo:bbc-pretrained", "demo:bbc-finetuned")
    assert spec.sections[0].params["maps"] == (0, 3, 6) and spec.sections[1].params["clusters"] == 4
    assert parse_spec(spec.to_yaml(), source="again").to_dict() == spec.to_dict()


@pytest.mark.parametrize("old,new,expected", [
    ("k: 5", "k: 0", "spec.yaml line 8: sections[0].k: expected a whole number ≥ 1, got 0"),
    ("n: 100\n    k", "n: 5\n    k", "spec.yaml line 7: sections[0].n: expected a whole number ≥ 10, got 5"),
    ("maps: [0, 3, 6]", "maps: [0, -1]", "spec.yaml line 9: sections[0].maps[1]: expected a whole number ≥ 0, got -1"),
    ("maps: [0, 3, 6]", "projection: deepview", "spec.yaml line 9: sections[0].projection: expected one of: pca, tsne, "
     "umap, got 'deepview'"),
    ("method: agglomerative", "method: kmean", "spec.yaml line 12: sections[1].method: expected one of: kmeans, "
     "agglomerative, hdbscan, got 'kmean' (did you mean 'kmeans'?)"),
    ("clusters: 4", "clusters: 1", "spec.yaml line 13: sections[1].clusters: expected a whole number ≥ 2, got 1"),
    ("clusters: 4", "clusters: auto", "spec.yaml line 13: sections[1].clusters: expected a whole number ≥ 2, got 'auto'"),
    ("clusters: 4", "top_n: 0", "spec.yaml line 13: sections[1].top_n: expected a whole number from 1 to 30, got 0"),
])
def test_bad_params_name_line_field_and_valid_values(old, new, expected):
    assert old in SPEC
    msg = _err(SPEC.replace(old, new, 1))
    assert msg.startswith(expected), msg


# ----------------------------------------------------------------------------- layers


def _planted(depth: int, seed: int = 0):
    """(5, 60, 12) states: noise up to layer ``depth − 1``, two far-apart class blobs from ``depth`` on."""
    return _layers_separating_from(depth, L=4, n=60, d=12, seed=seed)


def test_layers_fragment_numbers_figures_and_findings():
    from core.analyses.transformer.layers import project_layer, separability_by_layer
    from reports.sections.layers import layers_fragment

    early, y = _planted(1)
    late, _ = _planted(3, seed=1)
    names = ("calm", EVIL)
    a = separability_by_layer(early, y, k=5, model_ref="model-early", label_names=names)
    b = separability_by_layer(late, y, k=5, model_ref="model-late", label_names=names)
    true = [names[i] for i in y]
    maps = [(layer, project_layer(early[layer], "pca")) for layer in (0, 2, 4)]
    frag = layers_fragment([a, b], maps=maps, true=true, label_names=names, projection="pca",
                           context={"split": "all", "n_pool": 60, "notes": ["A note."]})
    json.dumps(frag, allow_nan=False)  # snapshot-ready
    # the numbers checks can refer to: the first model's, at the top
    assert frag["separation_layer"] == 1 and frag["by_model"]["model-late"]["separation_layer"] == 3
    assert frag["knn_accuracy_last"] == 1.0 and frag["knn_accuracy_first"] == pytest.approx(a.knn_accuracy[0])
    assert frag["chance"] == 0.5 and frag["num_layers"] == 4 and frag["best_layer"] == 1
    assert frag["silhouette_last"] == pytest.approx(a.silhouette[4]) and frag["silhouette_last"] > 0.5
    assert [r["layer"] for r in frag["results"][1]["layers"]] == [0, 1, 2, 3, 4]
    assert frag["maps"] == [0, 2, 4] and frag["figure_maps"] is not None
    # the figures checks read
    from reports.checks import evaluate_checks, parse_check, section_metrics

    figures = {"layers": section_metrics({"kind": "layers", "data": frag})}
    assert figures["layers"]["separation_layer"] == 1 and figures["layers"]["model_2"]["separation_layer"] == 3
    results = evaluate_checks([parse_check("layers.separation_layer <= 2"),
                               parse_check("layers.model_2.separation_layer < layers.model_1.separation_layer"),
                               parse_check("layers.knn_accuracy_last >= 0.99")], figures, {})
    assert [r["passed"] for r in results] == [True, False, True]
    text = " ".join(frag["findings"])
    assert "model-late separates the classes 2 layers later than model-early" in text
    assert "reaches 90% of its rise by layer 3" in text and "standard error" in text
    html = render_section({"kind": "layers", "title": "Separability by layer", "anchor": "s1-layers", "data": frag})
    _no_markup(html)
    assert html.count("<svg") == 2 and "figure omitted" not in html
    assert frag["headline"] in html and "model-early by layer 1 of 4" in frag["headline"]
    table = html.split('class="data compact per-layer"', 1)[1].split("</table>", 1)[0]
    assert table.count("<tr") == 2 + 5 and table.count('class="current"') == 2  # layers 1 and 3
    for r in frag["results"]:
        for row in r["layers"]:
            assert fmt_pct(row["knn_accuracy"]) in table and f"{row['silhouette']:+.3f}" in table
    assert "A note." in html and "How this was computed" in html
    assert EVIL not in frag["figure_maps"]["svg"] and "&lt;script&gt;" in frag["figure_maps"]["svg"]  # legend, escaped


def _write_csv(path: Path, rows, header=("text", "label")) -> str:
    with open(path, "w", newline="", encoding="utf-8") as f:
        w = csv.writer(f)
        w.writerow(header)
        w.writerows(rows)
    return str(path)


# the tiny models' labels are class0 … class2: sport, food and money texts
WORDS = {"class0": "football goal striker match league", "class1": "recipe oven flour baking dough",
         "class2": "stock market shares bank investor"}


def _topic_rows(n: int = 36) -> list[tuple[str, str]]:
    rng = np.random.default_rng(0)
    names = list(WORDS)
    rows = [(" ".join(rng.choice(WORDS[names[i % 3]].split(), 6)), names[i % 3]) for i in range(n)]
    rows[0] = (f"{EVIL} {rows[0][0]}", rows[0][1])
    rows[1] = (f"{IMG} & {rows[1][0]}", rows[1][1])
    return rows


def _ctx(tmp_path: Path, model: str, rows, *, sections: str = "[layers]"):
    from reports.context import ReportContext

    data = _write_csv(tmp_path / "data.csv", rows)
    return ReportContext(parse_spec(f"title: t\nmodel: {model}\ndataset: {data}\nsections: {sections}\n", source="s"))


def test_layers_section_on_a_tiny_model_matches_core(tiny_model_dir, tmp_path):
    from core.data.refs import load_dataset
    from core.data.sampling import draw
    from core.analyses.transformer.layers import LayersParams, run_layers
    from core.models.refs import load_model

    model = str(tiny_model_dir("bert"))
    rows = _topic_rows(30)
    ctx = _ctx(tmp_path, model, rows)
    sec = get_section("layers")
    d = sec.compute(ctx, sec.typed({**sec.defaults(), "n": 30, "k": 3, "maps": (0, 2, 9)}))
    assert d["available"], d.get("reason")
    sep = run_layers(load_model(model, device="cpu"), draw(load_dataset(str(tmp_path / "data.csv")), None),
                     LayersParams(k=3)).separability[0]
    assert d["n"] == 30 and d["num_layers"] == 2 and d["separation_layer"] == sep.separation_layer()
    assert [r["knn_accuracy"] for r in d["results"][0]["layers"]] == pytest.approx(list(sep.knn_accuracy))
    assert d["maps"] == [0, 2] and any("layer 9 is left out" in x for x in d["notes"])
    assert d["split"] == "all" and d["models"][0]["fingerprint"] and d["dataset"]["n"] == 30
    html = render_section({"kind": "layers", "title": "L", "anchor": "s1-layers", "data": d})
    _no_markup(html)
    assert html.count("<svg") == 2 and fmt_pct(d["knn_accuracy_last"]) in html


def test_layers_section_explains_unusable_inputs(tiny_model_dir, tmp_path):
    sec = get_section("layers")
    ctx = _ctx(tmp_path, str(tiny_model_dir("bert")), [(f"text {i}", "a") for i in range(20)])
    d = sec.compute(ctx, sec.typed({**sec.defaults(), "n": 20}))
    assert d["available"] is False and "at least two labels" in d["reason"]
    html = render_section({"kind": "layers", "title": "L", "data": {**d, "reason": d["reason"] + EVIL}})
    assert "could not be computed: Per-layer separability needs texts of at least two labels" in html
    assert "<svg" not in html
    _no_markup(html)
    d = sec.compute(ctx, sec.typed({**sec.defaults(), "models": (str(tmp_path / "no-such-model"),)}))
    assert d["available"] is False and "no-such-model" in d["reason"]


# ----------------------------------------------------------------------------- topics


@pytest.fixture(scope="module")
def tiny_topics(tiny_model_dir, tmp_path_factory):
    from core.foundation.cache import ArrayCache
    from core.data.refs import load_dataset
    from core.analyses.transformer.layers import project_layer
    from core.models.embeddings import extract_embeddings
    from core.data.sampling import draw
    from core.models.refs import load_model
    from core.analyses.transformer.topics import TopicsParams, run_topics

    work = tmp_path_factory.mktemp("topics")
    model = load_model(str(tiny_model_dir("bert")), device="cpu")
    ds = load_dataset(_write_csv(work / "data.csv", _topic_rows()))
    cache = ArrayCache(work / "cache")
    res = run_topics(model, draw(ds, None), TopicsParams(n_clusters=3, top_n=4), cache=cache)
    points = project_layer(extract_embeddings(model, ds, cache=cache).pooled, "pca")
    return res, points, list(ds.texts)


def test_topics_fragment_renders_clusters_figures_and_escapes_texts(tiny_topics):
    from reports.sections.topics import topics_fragment

    res, points, texts = tiny_topics
    frag = topics_fragment(res, points, texts, map_method="pca", examples=3, context={"split": "all", "n_pool": 36})
    json.dumps(frag, allow_nan=False)
    assert frag["n_clusters"] == 3 and frag["n"] == 36 and len(frag["clusters"]) == 3
    assert [c["size"] for c in frag["clusters"]] == [t.size for t in res.topics]
    assert frag["error_rate"] == pytest.approx(res.error_rate)
    assert res.error_rate is not None and all(t.error_rate is not None for t in res.topics)
    worst = max(res.topics, key=lambda t: (t.error_rate, t.size))
    assert frag["worst_cluster"] == worst.id and frag["worst_error_rate"] == pytest.approx(worst.error_rate)
    assert frag["label_cluster_table"] == res.label_cluster_table.tolist()
    m = frag["metrics"]
    assert m["n_clusters"] == 3 and m["worst_error_rate"] == frag["worst_error_rate"] and "noise" not in m
    assert m["largest_share"] == pytest.approx(res.topics[0].size / 36)
    purity = sum(max(t.label_mix.values()) for t in res.topics) / 36
    assert m["label_purity"] == pytest.approx(purity) and 1 / 3 <= purity <= 1
    assert all(frag[f] is not None for f in ("figure_map", "figure_labels", "figure_errors"))
    html = render_section({"kind": "topics", "title": "Topics and errors", "anchor": "s2-topics", "data": frag})
    _no_markup(html)
    assert html.count("<svg") == 3 and "figure omitted" not in html
    table = html.split('class="data compact texts clusters"', 1)[1].split("</table>", 1)[0]
    assert table.count("<tr") == 1 + 3
    for t in res.topics:
        assert ", ".join(t.words) in table and f"{t.error_rate * 100:.0f}%" in table
        for name, count in t.label_mix.items():
            assert f"{name} {count}" in table
    shown = [x for c in frag["clusters"] for x in c["examples"]]
    if any(EVIL in x for x in shown):
        assert "&lt;script&gt;alert(1)&lt;/script&gt;" in table
    assert "recipe oven" not in frag["figure_map"]["svg"]  # the texts themselves stay out of the charts
    text = " ".join(frag["findings"])
    assert "splits the 36 texts into 3 clusters (as asked)" in text and "The classifier errs most in" in text
    assert "How this was computed" in html and "Class-based TF-IDF" in html


def test_topics_section_explains_too_few_texts_and_bad_k(tiny_model_dir, tmp_path):
    sec = get_section("topics")
    ctx = _ctx(tmp_path, str(tiny_model_dir("bert")), _topic_rows(8), sections="[topics]")
    d = sec.compute(ctx, sec.typed({**sec.defaults(), "n": 300}))
    assert d["available"] is False and d["reason"] == "Clustering needs at least 10 texts, got 8."
    html = render_section({"kind": "topics", "title": "T", "data": d})
    assert "The topics could not be computed: Clustering needs at least 10 texts, got 8." in html
    assert "<svg" not in html
    d = sec.compute(ctx, sec.typed({**sec.defaults(), "method": "hdbscan", "clusters": 3}))
    assert d["available"] is False and "HDBSCAN finds its own number" in d["reason"]


# ----------------------------------------------------------------------------- a whole report on tiny models


@pytest.fixture(scope="module")
def built(tiny_model_dir, tmp_path_factory):
    from reports.snapshot import build_report, load_snapshot
    from reports.spec import load_spec

    work = tmp_path_factory.mktemp("inside")
    _write_csv(work / "data.csv", _topic_rows(40))
    (work / "spec.yaml").write_text(f"""\
title: Inside a tiny model {EVIL}
model: {tiny_model_dir('bert')}
dataset: data.csv
seed: 0
sections:
  - kind: layers
    n: 40
    k: 3
    maps: [0, 2]
  - kind: topics
    n: 40
    clusters: 3
    top_n: 4
    map: pca
checks:
  - layers.separation_layer <= layers.num_layers
  - topics.n_clusters == 3
  - {{check: "topics.worst_error_rate > 1", name: Impossible error rate}}
""", "utf-8")
    paths = build_report(load_spec(work / "spec.yaml"), work / "out")
    return paths, load_snapshot(paths.snapshot)


def test_whole_report_html_and_pdf(built):
    paths, snap = built
    lay, top = (s["data"] for s in snap["sections"])
    assert [s["kind"] for s in snap["sections"]] == ["layers", "topics"]
    assert lay["available"], lay.get("reason")
    assert top["available"], top.get("reason")
    assert lay["n"] == 40 and lay["num_layers"] == 2 and top["n_clusters"] == 3
    assert [c["passed"] for c in snap["checks"]] == [True, True, False]  # checks read the sections' figures
    assert snap["checks"][0]["left"] == lay["separation_layer"] and snap["checks"][2]["reason"]
    html = Path(paths.html).read_text("utf-8")
    _no_markup(html)
    assert html.count("<svg") == 2 + 3 and "figure omitted" not in html
    assert fmt_pct(lay["knn_accuracy_last"]) in html and fmt_pct(top["error_rate"]) in html
    pdf = subprocess.run(["pdftotext", "-layout", str(paths.pdf), "-"], capture_output=True, text=True,
                         check=True).stdout
    flat = " ".join(pdf.split())
    for title in ("Separability by layer", "Topics and errors", "Key findings", "How this was computed"):
        assert title in flat, title
    assert f"layer {lay['separation_layer']}" in flat and ", ".join(top["clusters"][0]["words"]) in flat
