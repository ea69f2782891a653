"""Every page's "Add to report" under AppTest: the finding is a section of the page's own kind, a finding the report
could not build is refused where it is offered (with the section's reason), and the findings of every page together
build with ``python -m reports build``, the command-line path of the Report page."""
from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest
import yaml
from streamlit.testing.v1 import AppTest

from tests.app.test_multitask_apptest import OTHER, tiny_multitask  # noqa: F401 - the tiny two-task model fixture
from ui import report_draft as rd
from ui.state import DatasetChoice, ProjectionControls

ROOT = Path(__file__).resolve().parents[2]
APP = str(ROOT / "app.py")
TIMEOUT = 900
MODEL = "demo:tweets-finetuned"
TWEETS = DatasetChoice(ref="bundled:tweets", n=60)

pytestmark = pytest.mark.app

# page file, widget state, buttons to click (in order), the "Add to report" keys and the kind each must add
PAGES = [
    ("workspace", {}, [], {"workspace.overview": "overview"}),
    ("projection", {"bl.projection": ProjectionControls(n=100)}, [], {"projection.map": "projection"}),
    ("saliency", {"bl.w.sal.methods": ["layer_gradcam", "occlusion"], "bl.w.sal.g.n": 10,
                  "bl.w.sal.g.methods": ["layer_gradcam", "occlusion"], "bl.w.sal.g.sweep": False},
     ["Play the games"], {"saliency.one": "saliency_examples", "saliency.games": "faithfulness"}),
    ("instance", {"bl.w.inst.ig_steps": 10, "bl.w.inst.steps": 8, "bl.w.inst.tokens": 3, "bl.w.inst.n": 20,
                  "bl.w.inst.study_steps": 5},
     ["Explain this text", "Run the entropy study"], {"instance.one": "instance", "instance.study": "instance"}),
    ("heads", {"bl.w.heads.n": 8, "bl.w.heads.steps": 2, "bl.w.heads.compare": False},
     ["Measure head importance"], {"heads.importance": "heads", "heads.map": "attention"}),
    ("layers", {"bl.w.lay.n": 20}, ["Compute the layer curves"], {"layers.curves": "layers"}),
    ("topics", {"bl.w.top.n": 30}, ["Find the topics"], {"topics.clusters": "topics"}),
    ("compare", {"bl.w.cmp.n": 24, "bl.w.cmp.ks": "5, 10"}, ["Compare the models"], {"compare.models": "comparison"}),
    ("adversarial", {"bl.w.adv.n": 12, "bl.w.adv.attack": "char"}, ["Run the attack"],
     {"adversarial.attack": "adversarial"}),
]


def _run(page: str, state: dict, clicks: list[str], draft: rd.Draft | None) -> AppTest:
    at = AppTest.from_file(APP, default_timeout=TIMEOUT)
    at.session_state["bl.model_ref"] = MODEL
    at.session_state["bl.dataset_choice"] = TWEETS
    if draft is not None:
        at.session_state[rd.DRAFT_KEY] = draft
    for k, v in state.items():
        at.session_state[k] = v
    at.switch_page(f"pages/{page}.py")
    at.run()
    assert not at.exception, at.exception
    for label in clicks:
        next(b for b in at.button if b.label == label).click().run()
        assert not at.exception, (page, label, at.exception)
    return at


def _add(at: AppTest, key: str) -> None:
    add = at.button(key=f"bl.report-add.{key}")
    assert not add.disabled, [e.value for e in at.error]
    add.click().run()
    assert not at.exception, at.exception


def test_every_page_adds_its_own_kind_and_the_findings_build(demo_workspace, tiny_multitask, tmp_path):  # noqa: F811
    draft = None
    for page, state, clicks, adds in PAGES:
        at = _run(page, state, clicks, draft)
        assert not at.error, (page, [e.value for e in at.error])
        for key, kind in adds.items():
            before = len(at.session_state[rd.DRAFT_KEY].findings) if rd.DRAFT_KEY in at.session_state else 0
            _add(at, key)
            d = at.session_state[rd.DRAFT_KEY]
            assert len(d.findings) == before + 1, (page, key)
            f = d.findings[-1]
            assert f.kind == kind and kind in rd.PAGE_KINDS[f.page], (page, key, f.kind, f.page)
        draft = at.session_state[rd.DRAFT_KEY]
    # the Multi-task page, on a tiny two-task model (its own model: the report's stays the tweet classifier)
    at = _run("multitask", {"bl.w.mt.model": OTHER, "bl.w.mt.folder": str(tiny_multitask["two"]), "bl.w.mt.n": 20},
              ["Measure the synergy"], draft)
    _add(at, "multitask.synergy")
    draft = at.session_state[rd.DRAFT_KEY]
    kinds = [f.kind for f in draft.findings]
    assert kinds == ["overview", "projection", "saliency_examples", "faithfulness", "instance", "instance", "heads",
                     "attention", "layers", "topics", "comparison", "adversarial", "multitask"]
    assert draft.model == MODEL and draft.dataset == TWEETS
    # the spec the Report page downloads builds from the command line, every section computed
    spec = rd.spec_yaml(draft)
    (tmp_path / "audit.yaml").write_text(spec, "utf-8")
    env = {**os.environ, "PYTHONPATH": str(ROOT), "BACKBONE_LENS_CACHE": str(demo_workspace), "HF_HUB_OFFLINE": "1"}
    r = subprocess.run([sys.executable, "-m", "reports", "build", "audit.yaml", "--out", "out", "--no-pdf"],
                       cwd=tmp_path, env=env, capture_output=True, text=True, timeout=3600)
    assert r.returncode == 0, r.stdout[-3000:] + r.stderr[-3000:]
    snap = json.loads((tmp_path / "out" / "snapshot.json").read_text())
    assert [s["kind"] for s in snap["sections"]] == kinds
    missing = [(s["kind"], s["data"].get("reason")) for s in snap["sections"] if s["data"].get("available") is False]
    assert not missing, missing
    assert [s["kind"] for s in yaml.safe_load(spec)["sections"]] == kinds


def test_a_finding_the_report_cannot_build_is_refused_where_it_is_added(demo_workspace):
    # 10 texts: the page can attack them, the report's adversarial section needs at least 12
    at = _run("adversarial", {"bl.w.adv.n": 10, "bl.w.adv.attack": "char"}, ["Run the attack"], None)
    add = at.button(key="bl.report-add.adversarial.attack")
    assert add.disabled
    assert any("Texts: the report's adversarial texts section needs a whole number ≥ 12, got 10" in e.value
               for e in at.error), [e.value for e in at.error]
    assert rd.DRAFT_KEY not in at.session_state or not at.session_state[rd.DRAFT_KEY].findings
    # a draft about another model: a projection section always shows the report's model, so it is refused
    bbc = rd.Draft(model="demo:bbc-finetuned", dataset=DatasetChoice(),
                   findings=(rd.Finding("overview", {"normalize": True}, "Workspace", uid=1),), next_uid=2)
    at = _run("projection", {"bl.projection": ProjectionControls(n=100)}, [], bbc)
    assert at.button(key="bl.report-add.projection.map").disabled
    assert any("reports on `demo:bbc-finetuned`" in e.value for e in at.error), [e.value for e in at.error]


def test_pages_add_only_their_own_kinds():
    """The declared map: a Projection finding is a projection section (never a saliency one), and so on."""
    assert rd.PAGE_KINDS["Projection"] == ("projection",)
    with pytest.raises(ValueError, match="the Projection page adds projection sections, not saliency_examples"):
        rd.check_finding("saliency_examples", {"texts": ["a"]}, page="Projection")


def test_one_decoding_head_per_report():
    """A saliency finding made with a decoding head sets the report's `mlm:`; one made with another head is refused
    with the reason, one with none or the same head is not."""
    d = rd.Draft(mlm="base-a")
    assert "decodes saliency through `base-a`" in rd._head_problem("base-b", d)
    assert rd._head_problem("base-a", d) is None and rd._head_problem(None, d) is None
    assert rd._head_problem("base-b", rd.Draft()) is None
