"""Reports of the user's models (issue 19): one fingerprint per model in every section and the provenance, the
spec's model names (not paths) in the comparison section's sentences, headers, chart titles and legends, the
training record in the overview, and both texts of a pair dataset in a projection file."""
from __future__ import annotations

import pytest

from reports.spec import load_spec
from tests.unit.test_training_data import mean_pooled, news_rows, write_csv


@pytest.fixture
def cache(tmp_path, monkeypatch):
    monkeypatch.setenv("BACKBONE_LENS_CACHE", str(tmp_path / "cache"))
    return tmp_path / "cache"


def _class_rows(n: int, seed: int) -> list[tuple[str, str]]:
    return [(t, f"class{(y - 1) % 3}") for t, y in news_rows(n, seed)]


def test_one_fingerprint_per_model_across_sections(cache, tiny_model_dir, tmp_path):
    """A decoding head fitted earlier for the encoder is attached when the report loads the model, not when the
    saliency section needs it halfway through the build: the overview and the provenance print one fingerprint."""
    from core.models.refs import load_model
    from core.training.mlm_head import fit_and_store
    from reports.snapshot import build_snapshot

    folder = tiny_model_dir("bert")
    rows = _class_rows(80, 0)
    data = write_csv(tmp_path / "notes.csv", rows)
    fit_and_store(load_model(str(folder)), [r[0] for r in rows], [r[0] for r in rows[:10]], max_seconds=2.0)
    (tmp_path / "spec.yaml").write_text(f"""\
title: Fingerprints
model: {folder}
dataset: {data}
sample_size: 40
sections:
  - kind: overview
  - kind: saliency_examples
    methods: [decoded_gradcam]
    n: 20
""", "utf-8")
    snap = build_snapshot(load_spec(tmp_path / "spec.yaml"))
    overview, saliency = (s["data"] for s in snap["sections"])
    assert saliency["available"], saliency.get("reason")
    fp = snap["provenance"]["model"]["fingerprint"]
    assert overview["model"]["fingerprint"] == fp and overview["model"]["has_mlm_head"]
    bare = load_model(str(folder)).fingerprint  # without the head: what the overview printed before the fix
    assert fp != bare


def test_comparison_names_the_models_as_the_spec_does(cache, tiny_model_dir, tmp_path):
    """Two user models in deep folders, named 'frozen' and 'tuned' in the spec: the section's sentences, tables,
    chart titles and legends say the names; the references stay in model_refs and the provenance row."""
    from core.training.user_models import DataFiles, TrainingRequest, train_models
    from reports.render import render_section
    from reports.snapshot import build_snapshot

    data = write_csv(tmp_path / "train.csv", _class_rows(400, 1))
    deep = tmp_path / "a" / "very" / "long" / "folder" / "of" / "models" / "audit-2024"
    base = mean_pooled(tiny_model_dir("bert-mlm"), tmp_path / "tiny-mean")
    run = train_models(TrainingRequest(base=str(base), data=DataFiles(train=str(data)), setting="both", threads=1,
                                       max_length=24), out=deep)
    pre, fin = (str(m.folder) for m in run.models)
    (tmp_path / "spec.yaml").write_text(f"""\
title: Names
models:
  frozen: {pre}
  tuned: {fin}
model: tuned
dataset: {data}
sections:
  - kind: overview
  - kind: comparison
    models: [frozen, tuned]
    n: 40
    k: [3, 5]
    top: 3
""", "utf-8")
    snap = build_snapshot(load_spec(tmp_path / "spec.yaml"))
    ov, cmp = (s["data"] for s in snap["sections"])
    assert cmp["available"], cmp.get("reason")
    assert cmp["model_names"] == ["frozen", "tuned"] and cmp["model_refs"] == [pre, fin]
    assert [m["name"] for m in cmp["models"]] == ["frozen", "tuned"] and [m["ref"] for m in cmp["models"]] == [pre, fin]
    p = cmp["pairs"][0]
    assert (p["a"], p["b"]) == ("frozen", "tuned") and p["headline"].startswith("frozen vs tuned")
    assert p["finetune_pair"]  # the two settings from one base on one dataset
    html = render_section({"kind": "comparison", "title": "Model comparison", "anchor": "s2-comparison", "data": cmp})
    assert "<th>frozen</th><th>tuned</th>" in html and "<strong>tuned</strong> = <code>" in html
    for fig in (p["figure_maps"], p["figure_metrics"]):
        assert str(deep) not in fig["svg"] and "audit-2024" not in fig["svg"]
    assert "Predicted (frozen)" in p["figure_maps"]["svg"] and "Predicted (tuned)" in p["figure_maps"]["svg"]
    assert all(str(deep) not in s for s in [p["headline"], *p["findings"]])
    # the overview names the model as the spec does and tells its training record
    assert ov["model"]["name"] == "tuned" and ov["model"]["ref"] == fin
    assert any(f.startswith("tuned was trained by Backbone Lens from") and "train.csv" in f for f in ov["findings"])
    assert any("optimiser steps" in f and "thread" in f for f in ov["findings"])
    assert ov["model"]["fingerprint"] == snap["provenance"]["model"]["fingerprint"]
    assert cmp["models"][1]["fingerprint"] == snap["provenance"]["model"]["fingerprint"]


def test_projection_file_of_a_pair_dataset_keeps_both_texts(cache, tiny_model_dir, tmp_path):
    from core.analyses.projection.params import ProjectionParams
    from core.analyses.projection.run import load_projection_file, run_projection, save_projection
    from core.data.datasets import _make
    from core.data.sampling import draw
    from core.models.refs import load_model
    from core.training.finetune import TrainConfig, train_pretrained_head

    colours = ("red", "green", "blue")
    rows = news_rows(90, 2)
    ds = _make("pairs", [f"first {t}" for t, _ in rows], [i % 3 for i in range(90)], colours,
               [f"second {colours[i % 3]} {i}" for i in range(90)])
    base = load_model(str(mean_pooled(tiny_model_dir("bert-mlm"), tmp_path / "tiny-mean")))
    head, _ = train_pretrained_head(base, ds, ds, TrainConfig(epochs=300, lr=5e-3, patience=300, threads=1))
    clf = base.with_head(head, colours)
    params = ProjectionParams(neighbors=5, resolution=10, n_epochs=30)
    run = run_projection(clf, draw(ds, 40, seed=1), params)
    arrays, meta = load_projection_file(save_projection(run, tmp_path / "p.npz"))
    assert list(arrays["texts"]) == list(run.texts) and all(t.startswith("first ") for t in arrays["texts"])
    assert list(arrays["text_pairs"]) == list(run.sample.text_pairs) and arrays["text_pairs"][0].startswith("second ")
    idx = arrays["indices"]
    assert [ds.text_pairs[i] for i in idx] == list(arrays["text_pairs"])  # each pair with its own first text
    assert [ds.texts[i] for i in idx] == list(arrays["texts"])
    single = run_projection(clf, draw(_make("one", ds.texts, ds.labels, colours), 40, seed=1), params)
    arrays, _ = load_projection_file(save_projection(single, tmp_path / "s.npz"))
    assert "text_pairs" not in arrays and len(arrays["indices"]) == 40
