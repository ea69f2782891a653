"""The auditor's path in headless Chromium: after switching the Workspace to another model and dataset, every
analysis page shows and uses the new pair; and the Workspace and Topics layouts keep every chart inside its column
at 1400×900 (bounding boxes measured in the page, not pixels compared). Screenshots go to ``artifacts/``."""
from __future__ import annotations

import re

import pytest

from tests.browser.test_pages_in_chromium import (ARTIFACTS, _choose, _idle, _set_number, _workspace_page,  # noqa: F401
                                                  server)

pytestmark = pytest.mark.browser

NEW_MODEL, NEW_DATA = "demo:tweets-finetuned", "bundled:tweets"
TRAINED_NOTE = re.compile(r"held-out test examples \(the model was trained on this dataset\)")

# every chart's drawn elements (texts, marks, legends) inside the column that holds it, and metric values not cut
LAYOUT_JS = """() => {
  const out = [];
  for (const col of document.querySelectorAll('[data-testid="stColumn"]')) {
    const c = col.getBoundingClientRect();
    for (const el of col.querySelectorAll('.vega-embed svg text, .vega-embed svg path, .vega-embed svg rect')) {
      const r = el.getBoundingClientRect();
      if (r.width === 0 && r.height === 0) continue;
      if (r.left < c.left - 1 || r.right > c.right + 1)
        out.push(`chart element <${el.tagName}> "${(el.textContent || '').slice(0, 30)}" at x ${r.left.toFixed(0)}–`
                 + `${r.right.toFixed(0)} leaves its column ${c.left.toFixed(0)}–${c.right.toFixed(0)}`);
    }
  }
  for (const m of document.querySelectorAll('[data-testid="stMetricValue"]')) {
    const range = document.createRange(); range.selectNodeContents(m);
    const t = range.getBoundingClientRect(), b = m.getBoundingClientRect();
    if (t.width > b.width + 1) out.push(`metric value "${m.innerText}" is cut (${t.width.toFixed(0)} > ${b.width.toFixed(0)} px)`);
  }
  for (const t of document.querySelectorAll('.vega-embed svg .role-legend-title text, .vega-embed svg .role-title text'))
    if ((t.textContent || '').endsWith('…')) out.push(`title cut short: "${t.textContent}"`);
  return out;
}"""

# boxes of the texts of the last text layer of the first chart whose layers include one (the cluster labels)
LABELS_JS = """() => {
  const groups = [...document.querySelectorAll('.vega-embed')[0].querySelectorAll('g.mark-text.role-mark')];
  const g = groups[groups.length - 1];
  return g ? [...g.querySelectorAll('text')].map(t => { const r = t.getBoundingClientRect();
    return {text: t.textContent, l: r.left, r: r.right, t: r.top, b: r.bottom}; }) : [];
}"""


def _overlaps(boxes: list[dict]) -> list[tuple[str, str]]:
    out = []
    for i, a in enumerate(boxes):
        for b in boxes[i + 1:]:
            if a["l"] < b["r"] - 1 and b["l"] < a["r"] - 1 and a["t"] < b["b"] - 1 and b["t"] < a["b"] - 1:
                out.append((a["text"], b["text"]))
    return out


def _page(page, name: str) -> None:
    from playwright.sync_api import expect

    _idle(page)
    page.get_by_test_id("stSidebarNavLink").filter(has_text=name).click()
    expect(page.get_by_role("heading", name=name, exact=True)).to_be_visible()
    _idle(page)


def _uses_new_pair(page, name: str) -> None:
    """The sidebar says which model and data the page uses: the new pair; no exception anywhere."""
    from playwright.sync_api import expect

    sidebar = page.get_by_test_id("stSidebar")
    expect(sidebar).to_contain_text("This page uses")
    expect(sidebar).to_contain_text(NEW_MODEL)
    expect(sidebar).to_contain_text(NEW_DATA)
    assert "demo:bbc" not in sidebar.inner_text().split("This page uses", 1)[1], name
    assert page.get_by_test_id("stException").count() == 0, name


def test_switch_model_and_dataset_reaches_every_page(server):  # noqa: F811 - the fixture
    from playwright.sync_api import expect

    with _workspace_page(server, 1600) as page:
        expect(page.get_by_role("combobox", name="Model").first).to_have_value(re.compile("^demo:bbc-finetuned"))
        # the pages with their own model pickers are visited first, so that they hold the old model
        for name in ("Heads & attention", "Topics", "Layers"):
            _page(page, name)
            expect(page.get_by_test_id("stSidebar")).to_contain_text("demo:bbc-finetuned")
        _page(page, "Workspace")
        _choose(page, "Dataset", NEW_DATA)
        _choose(page, "Model", NEW_MODEL)

        _page(page, "Projection")
        _set_number(page, page.get_by_role("spinbutton", name="Sample size"), 100)
        expect(page.get_by_test_id("stCaptionContainer").filter(has_text="How it was computed")).to_contain_text(
            "100 texts", timeout=600_000)
        _idle(page)
        _uses_new_pair(page, "Projection")
        expect(page.locator(".vega-embed").first).to_contain_text(f"{NEW_MODEL} · {NEW_DATA}")

        for name in ("Saliency", "Instance"):
            _page(page, name)
            _uses_new_pair(page, name)
            expect(page.get_by_test_id("stCaptionContainer").filter(has_text="Dataset row").first).to_contain_text(
                TRAINED_NOTE)

        _page(page, "Heads & attention")
        _uses_new_pair(page, "Heads & attention")
        expect(page.get_by_role("combobox", name="Model").first).to_have_value(re.compile("^" + NEW_MODEL))
        _set_number(page, page.get_by_role("spinbutton", name="Texts"), 8)
        page.get_by_role("button", name="Measure head importance").click()
        expect(page.get_by_test_id("stCaptionContainer").filter(has_text="How it was computed")).to_contain_text(
            TRAINED_NOTE, timeout=600_000)

        _page(page, "Topics")
        _uses_new_pair(page, "Topics")
        expect(page.get_by_role("combobox", name="Model").first).to_have_value(re.compile("^" + NEW_MODEL))
        _set_number(page, page.get_by_role("spinbutton", name="Texts"), 30)
        page.get_by_role("button", name="Find the topics").click()
        expect(page.locator(".vega-embed").first).to_contain_text(f"· {NEW_MODEL}", timeout=600_000)

        for name in ("Layers", "Compare"):
            _page(page, name)
            _uses_new_pair(page, name)
            expect(page.get_by_test_id("stSidebar")).to_contain_text("demo:tweets-pretrained")

        _page(page, "Adversarial")
        _uses_new_pair(page, "Adversarial")
        assert page.get_by_test_id("stAlertContentError").count() == 0
        ARTIFACTS.mkdir(exist_ok=True)
        page.screenshot(path=str(ARTIFACTS / "switch-adversarial.png"), full_page=True)


def test_workspace_and_topics_layouts_fit_their_columns(server):  # noqa: F811 - the fixture
    from playwright.sync_api import expect

    with _workspace_page(server, 900) as page:
        expect(page.locator(".vega-embed")).to_have_count(3)
        _idle(page)
        page.wait_for_timeout(1500)
        problems = page.evaluate(LAYOUT_JS)
        ARTIFACTS.mkdir(exist_ok=True)
        page.set_viewport_size({"width": 1400, "height": 3000})  # the whole page in the artefact
        page.wait_for_timeout(1500)
        page.screenshot(path=str(ARTIFACTS / "layout-workspace.png"), full_page=True)
        assert not problems, problems
        page.set_viewport_size({"width": 1400, "height": 900})

        _page(page, "Topics")
        _set_number(page, page.get_by_role("spinbutton", name="Texts"), 200)
        page.get_by_role("button", name="Find the topics").click()
        expect(page.locator(".vega-embed")).to_have_count(3, timeout=600_000)
        _idle(page)
        page.wait_for_timeout(1500)
        problems = page.evaluate(LAYOUT_JS)
        labels = page.evaluate(LABELS_JS)
        # the cluster legend stays clear of the map's controls beside it
        legend = page.locator(".vega-embed").first.locator(".role-legend").first.bounding_box()
        radio = page.get_by_test_id("stRadio").filter(has_text="Map").bounding_box()
        page.set_viewport_size({"width": 1400, "height": 2600})
        page.wait_for_timeout(1500)
        page.screenshot(path=str(ARTIFACTS / "layout-topics.png"), full_page=True)
        assert not problems, problems
        assert len(labels) >= 2 and not _overlaps(labels), _overlaps(labels)
        assert legend and radio and (legend["x"] + legend["width"] <= radio["x"]
                                     or legend["y"] >= radio["y"] + radio["height"]), (legend, radio)
