"""The Report page under AppTest: a draft of findings → YAML spec → build → verdict and downloads; and the same
spec run by ``python -m reports build`` gives the same report."""
from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest
import yaml
from streamlit.testing.v1 import AppTest

from ui.report_draft import Draft, Finding
from ui.state import DatasetChoice

ROOT = Path(__file__).resolve().parents[2]
APP = str(ROOT / "app.py")
PAGE = "pages/report.py"

pytestmark = pytest.mark.app

BBC = DatasetChoice(ref="bundled:bbc", n=60, seed=2)


def _draft(checks: str = "") -> Draft:
    return Draft(title="Audit <b>from</b> the dashboard", authors="Ann, Bob", audience="Reviewers",
                 notes="All **good**.", checks=checks, model="demo:bbc-finetuned", dataset=BBC,
                 findings=(Finding("overview", {"normalize": True}, "Workspace", "Look at *recall*.", uid=1),
                           Finding("projection", {"n": 60, "lam": 0.8, "color_by": "correct"}, "Projection", "",
                                   uid=2)),
                 next_uid=3)


def _page(draft: Draft | None) -> AppTest:
    at = AppTest.from_file(APP, default_timeout=600)
    at.session_state["bl.model_ref"] = "demo:bbc-finetuned"
    at.session_state["bl.dataset_choice"] = BBC
    if draft is not None:
        at.session_state["bl.report.draft"] = draft
    at.switch_page(PAGE)
    at.run()
    assert not at.exception, at.exception
    return at


def test_empty_draft_says_how_to_fill_it(demo_workspace):
    at = _page(None)
    assert any("draft is empty" in i.value for i in at.info)


def test_reorder_note_spec_and_bad_check(demo_workspace):
    at = _page(_draft("accuracy >= 0.9\nprojection.q_knn_eror < 0.1"))
    # the bad check is marked where it is listed, with what is wrong, and the report cannot be built
    errors = [e.value for e in at.error]
    assert len(errors) == 1 and "projection.q_knn_eror < 0.1" in errors[0] and "has no figure 'q_knn_eror'" in errors[0]
    assert "line" not in errors[0]  # no YAML line numbers: the error sits next to the check
    build = next(b for b in at.button if b.label == "Build the report")
    assert build.disabled  # an invalid spec cannot be built
    at.button(key="bl.report-check-rm.1").click().run()
    assert not at.error
    # the picker offers exactly the figures of the draft's sections
    figures = at.selectbox(key="bl.report.check-figure").options
    assert any(f.endswith("(accuracy)") for f in figures)
    assert any(f.endswith("(projection.q_knn_error)") for f in figures)
    assert not any("faithfulness" in f for f in figures)
    at.selectbox(key="bl.report.check-figure").set_value("projection.q_knn_error")
    at.selectbox(key="bl.report.check-op").set_value("<")
    at.number_input(key="bl.report.check-value").set_value(0.1)
    at.button(key="bl.report-check-add").click().run()
    assert not at.error
    at.button(key="bl.report-down.1").click().run()  # overview below projection
    at.text_area(key="bl.report-fnote.2").input("The map is *faithful*.").run()
    spec = yaml.safe_load(at.code[0].value)
    assert [s["kind"] for s in spec["sections"]] == ["projection", "overview"]
    assert spec["sections"][0]["note"] == "The map is *faithful*." and spec["sections"][1]["note"] == "Look at *recall*."
    assert spec["model"] == "demo:bbc-finetuned" and spec["sample_size"] == 60 and spec["seed"] == 2
    assert spec["checks"] == ["accuracy >= 0.9", "projection.q_knn_error < 0.1"]
    # internal names read as words: the section's title and its settings
    assert any("Overview" in m.value and "from the Workspace page" in m.value for m in at.markdown)
    assert any(c.value == "normalize: yes" for c in at.caption)
    at.button(key="bl.report-rm.2").click().run()
    assert [s["kind"] for s in yaml.safe_load(at.code[0].value)["sections"]] == ["overview"]


def test_build_in_the_browser_matches_the_cli(demo_workspace, tmp_path):
    at = _page(_draft("accuracy >= 0.5\noverview.macro_f1 > 1.5"))
    at.toggle(key="bl.report.pdf").set_value(False).run()
    next(b for b in at.button if b.label == "Build the report").click().run()
    assert not at.exception, at.exception
    assert at.error and "FAIL" in at.error[0].value and "1 of 2" in at.error[0].value
    table = at.dataframe[0].value  # every check with its value, threshold and result
    row = table[table["check"] == "overview.macro_f1 > 1.5"].iloc[0]
    assert row["threshold"] == "> 1.5" and row["result"] == "✗ fail" and 0 < float(row["value"]) <= 1
    assert table[table["check"] == "accuracy >= 0.5"].iloc[0]["result"] == "✓ pass"
    labels = [b.label for b in at.get("download_button")]
    assert "Download HTML" in labels and "Download snapshot" in labels and "Download spec" in labels
    out = Path(at.session_state["bl.report.built"][0])
    snap = json.loads((out / "snapshot.json").read_text())
    assert snap["verdict"] == "fail" and [s["kind"] for s in snap["sections"]] == ["overview", "projection"]
    # the downloaded spec, built from the command line, gives the same figures and checks
    (tmp_path / "audit.yaml").write_text(at.code[0].value, "utf-8")
    env = {**os.environ, "PYTHONPATH": str(ROOT), "BACKBONE_LENS_CACHE": str(demo_workspace), "HF_HUB_OFFLINE": "1"}
    r = subprocess.run([sys.executable, "-m", "reports", "build", "audit.yaml", "--out", "cli", "--no-pdf"],
                       cwd=tmp_path, env=env, capture_output=True, text=True, timeout=600)
    assert r.returncode == 1, r.stderr  # the failing check gates the CLI too
    cli = json.loads((tmp_path / "cli" / "snapshot.json").read_text())
    assert cli["figures"] == snap["figures"] and cli["checks"] == snap["checks"]
    assert cli["provenance"]["dataset"]["sample_fingerprint"] == snap["provenance"]["dataset"]["sample_fingerprint"]
    # a changed draft does not pass off the last build as its own
    at.text_input(key="bl.report.title").input("Another title").run()
    assert not at.error and any("changed since the last build" in i.value for i in at.info)
