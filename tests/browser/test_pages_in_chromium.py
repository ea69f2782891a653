"""End to end: ``streamlit run app.py`` + headless Chromium (Playwright), as a user sees it."""
from __future__ import annotations

import os
import re
import socket
import subprocess
import sys
import time
import urllib.request
from contextlib import contextmanager
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]
ARTIFACTS = ROOT / "artifacts"
CHROMIUM = "/usr/bin/chromium"
CHROMIUM_ARGS = ["--headless", "--no-sandbox", "--disable-gpu", "--no-first-run", "--disable-background-networking",
                 "--disable-component-update", "--disable-sync"]

pytestmark = pytest.mark.browser


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def _wait_for_server(url: str, proc: subprocess.Popen, timeout: float = 180) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if proc.poll() is not None:
            raise RuntimeError(f"streamlit exited early with code {proc.returncode}")
        try:
            with urllib.request.urlopen(url + "_stcore/health", timeout=5) as r:
                if r.status == 200:
                    return
        except OSError:
            time.sleep(1)
    raise TimeoutError(f"streamlit did not answer at {url} within {timeout} s")


@pytest.fixture
def server(demo_workspace):
    if not Path(CHROMIUM).exists():
        pytest.skip(f"no Chromium at {CHROMIUM}")
    port = _free_port()
    env = {**os.environ, "BACKBONE_LENS_CACHE": str(demo_workspace), "HF_HUB_OFFLINE": "1"}
    ARTIFACTS.mkdir(exist_ok=True)
    log = open(ARTIFACTS / "streamlit-browser-test.log", "w")
    proc = subprocess.Popen(
        [sys.executable, "-m", "streamlit", "run", str(ROOT / "app.py"), "--server.port", str(port),
         "--server.address", "127.0.0.1", "--server.headless", "true", "--browser.gatherUsageStats", "false"],
        cwd=ROOT, env=env, stdout=log, stderr=subprocess.STDOUT)
    try:
        url = f"http://127.0.0.1:{port}/"
        _wait_for_server(url, proc)
        yield url
    finally:
        proc.terminate()
        try:
            proc.wait(timeout=20)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait()
        log.close()


@contextmanager
def _workspace_page(server: str, height: int):
    """A headless Chromium page on the dashboard's Workspace page (closed afterwards)."""
    from playwright.sync_api import expect, sync_playwright

    # assertions wait as long as actions: a cold cache embeds and evaluates while the test watches
    expect.set_options(timeout=240_000)
    with sync_playwright() as p:
        browser = p.chromium.launch(executable_path=CHROMIUM, args=CHROMIUM_ARGS)
        try:
            page = browser.new_page(viewport={"width": 1400, "height": height})
            page.set_default_timeout(240_000)
            page.goto(server, timeout=240_000)
            expect(page.get_by_role("heading", name="Workspace")).to_be_visible()
            yield page
        finally:
            browser.close()


def test_workspace_in_chromium(server):
    from playwright.sync_api import expect

    with _workspace_page(server, 2400) as page:
        # model: the fine-tuned BBC demo classifier
        page.get_by_test_id("stSelectbox").filter(has=page.get_by_text("Model", exact=True)).click()
        page.get_by_role("option", name=re.compile(r"^demo:bbc-finetuned")).click()
        # dataset: bundled BBC News, 200 examples
        page.get_by_test_id("stSelectbox").filter(has=page.get_by_text("Dataset", exact=True)).click()
        page.get_by_role("option", name=re.compile(r"^bundled:bbc")).click()
        n = page.get_by_role("spinbutton", name="Sample size n")
        n.fill("200")
        n.press("Enter")

        evaluated = page.get_by_test_id("stMetric").filter(has_text="Examples evaluated")
        expect(evaluated).to_contain_text(re.compile(r"Examples evaluated\s*\d+"))
        # wait for the rerun with n = 200 to finish before reading the numbers
        page.wait_for_function("() => !document.querySelector('[data-testid=stStatusWidget]')")
        expect(page.get_by_test_id("stMetric").filter(has_text="Examples in sample")).to_contain_text("200")
        accuracy = page.get_by_test_id("stMetric").filter(has_text=re.compile(r"^Accuracy"))
        expect(accuracy).to_contain_text(re.compile(r"\d{1,3}\.\d%"))
        value = float(re.search(r"(\d{1,3}\.\d)%", accuracy.inner_text()).group(1))
        assert 0.0 < value <= 100.0
        assert page.get_by_test_id("stException").count() == 0
        # charts and tables render lazily: wait for the three charts before the screenshot
        expect(page.locator(".vega-embed")).to_have_count(3)
        page.wait_for_timeout(2000)
        ARTIFACTS.mkdir(exist_ok=True)
        page.screenshot(path=str(ARTIFACTS / "workspace.png"), full_page=True)


def test_projection_in_chromium(server):
    from playwright.sync_api import expect

    with _workspace_page(server, 1800) as page:
        page.get_by_test_id("stSidebarNavLink").filter(has_text="Projection").click()
        expect(page.get_by_role("heading", name="Projection")).to_be_visible()

        # a small sample keeps the first projection (embeddings + distance graph) quick
        n = page.get_by_role("spinbutton", name="Sample size")
        n.fill("200")
        n.press("Enter")
        # on a cold cache this embeds the texts and computes the distance graph first (progress bar)
        expect(page.get_by_test_id("stCaptionContainer").filter(has_text="How it was computed")).to_contain_text(
            "200 texts", timeout=300_000)
        page.wait_for_function("() => !document.querySelector('[data-testid=stStatusWidget]')")
        for label, pattern in (("Q_kNN error", r"\d{1,3}\.\d%"), ("Q_data", r"\d{1,3}\.\d%"),
                               ("Trustworthiness", r"[01]\.\d{3}"), ("Continuity", r"[01]\.\d{3}")):
            expect(page.get_by_test_id("stMetric").filter(has_text=label)).to_contain_text(re.compile(pattern))
        assert page.get_by_test_id("stException").count() == 0
        assert page.get_by_test_id("stAlertContentError").count() == 0

        # the map draws (canvas or SVG); a box dragged over the whole plot lists the selected texts
        chart = page.locator(".vega-embed").first
        expect(chart.locator("canvas, svg").first).to_be_visible()
        plot = chart.locator("g.mark-image image").first  # the decision background fills the plot area
        box = plot.bounding_box() if plot.count() else chart.bounding_box()
        assert box and box["width"] > 300 and box["height"] > 300
        page.mouse.move(box["x"] + 3, box["y"] + 3)
        page.mouse.down()
        page.mouse.move(box["x"] + box["width"] - 3, box["y"] + box["height"] - 3, steps=12)
        page.mouse.up()
        expect(page.get_by_text("Text to open in later pages")).to_be_visible(timeout=60_000)
        expect(page.get_by_test_id("stDataFrame")).to_be_visible()
        page.wait_for_function("() => !document.querySelector('[data-testid=stStatusWidget]')")
        # one of them becomes the focus text of later pages
        page.get_by_role("button", name="Open in later pages").click()
        expect(page.get_by_text("Focus text for later pages")).to_be_visible(timeout=60_000)
        assert page.get_by_test_id("stException").count() == 0
        page.wait_for_timeout(2000)
        ARTIFACTS.mkdir(exist_ok=True)
        page.screenshot(path=str(ARTIFACTS / "projection.png"), full_page=True)


def _idle(page) -> None:
    """Wait until the app has finished running (the status widget shows while a script runs)."""
    page.wait_for_timeout(500)
    page.wait_for_function("() => !document.querySelector('[data-testid=stStatusWidget]')")


def _choose(page, label: str, option: str, tries: int = 3) -> None:
    """Pick the option starting with ``option`` in the selectbox ``label``; a click that lands while the app
    reruns can be lost on a busy machine, so check it took and retry."""
    from playwright.sync_api import expect

    box = page.get_by_test_id("stSelectbox").filter(has=page.get_by_text(label, exact=True))
    chosen = re.compile("^" + re.escape(option))
    for attempt in range(tries):
        _idle(page)
        box.click()
        page.get_by_role("option", name=chosen).click()
        try:
            expect(page.get_by_role("combobox", name=label)).to_have_value(chosen, timeout=10_000)
            _idle(page)
            expect(page.get_by_role("combobox", name=label)).to_have_value(chosen, timeout=5_000)
            return
        except AssertionError:
            if attempt == tries - 1:
                raise


def _set_number(page, box, value: int, tries: int = 3) -> None:
    """Type ``value`` into the number input ``box`` and commit it; retried when a rerun overwrote it."""
    from playwright.sync_api import expect

    for attempt in range(tries):
        _idle(page)
        box.fill(str(value))
        box.press("Enter")
        try:
            _idle(page)
            expect(box).to_have_value(str(value), timeout=5_000)
            return
        except AssertionError:
            if attempt == tries - 1:
                raise


def test_saliency_in_chromium(server):
    from playwright.sync_api import expect

    with _workspace_page(server, 4000) as page:
        # the tweet classifier on tweets: short texts keep saliency and games quick
        _choose(page, "Dataset", "bundled:tweets")
        _choose(page, "Model", "demo:tweets-finetuned")

        page.get_by_test_id("stSidebarNavLink").filter(has_text="Saliency").click()
        expect(page.get_by_role("heading", name="Saliency")).to_be_visible()
        expect(page.get_by_test_id("stSidebar")).to_contain_text("demo:tweets-finetuned")
        expect(page.get_by_test_id("stSidebar")).to_contain_text("bundled:tweets")
        # the default methods side by side, on the first example of the dataset
        compare = page.locator(".bl-sal-compare")
        expect(compare).to_be_visible()
        for title in ("Decoded layer Grad-CAM", "Integrated Gradients", "Occlusion", "Attention rollout"):
            expect(compare).to_contain_text(title)
        assert page.locator(".bl-sal-compare span.bl-tok[style*='background-color']").count() > 0
        expect(page.get_by_text("Integrated Gradients completeness")).to_be_visible()
        assert page.get_by_test_id("stException").count() == 0
        assert page.get_by_test_id("stAlertContentError").count() == 0

        # the games on 10 tweets (the report section's minimum)
        _set_number(page, page.get_by_role("spinbutton", name="Texts").first, 10)
        page.get_by_role("button", name="Play the games").click()
        expect(page.get_by_test_id("stCaptionContainer").filter(has_text="How it was computed")).to_contain_text(
            "10 texts", timeout=300_000)
        page.wait_for_function("() => !document.querySelector('[data-testid=stStatusWidget]')")
        expect(page.locator(".vega-embed")).to_have_count(2)
        expect(page.get_by_test_id("stMetric").filter(has_text="Best decoded Grad-CAM layer")).to_contain_text(
            re.compile(r"layer\s*\d"))

        # class-representative tokens on 100 tweets
        _set_number(page, page.get_by_role("spinbutton", name="Texts").last, 100)
        page.get_by_role("button", name="Find class tokens").click()
        expect(page.get_by_test_id("stMetric").filter(has_text="Mean pairwise overlap")).to_contain_text(
            re.compile(r"\d\.\d of 10"), timeout=300_000)
        expect(page.get_by_test_id("stCaptionContainer").filter(has_text="grouped by predicted class")).to_contain_text(
            "100 texts")
        page.wait_for_function("() => !document.querySelector('[data-testid=stStatusWidget]')")
        assert page.get_by_test_id("stException").count() == 0
        assert page.get_by_test_id("stAlertContentError").count() == 0
        page.wait_for_timeout(2000)
        ARTIFACTS.mkdir(exist_ok=True)
        page.screenshot(path=str(ARTIFACTS / "saliency.png"), full_page=True)


def test_compare_in_chromium(server):
    """Compare the two BBC demo models on 40 texts, click a point on the linked maps, open it in Saliency."""
    from playwright.sync_api import expect

    with _workspace_page(server, 3000) as page:
        page.get_by_test_id("stSidebarNavLink").filter(has_text="Compare").click()
        expect(page.get_by_role("heading", name="Compare", exact=True)).to_be_visible()
        _set_number(page, page.get_by_role("spinbutton", name="Texts"), 40)
        page.get_by_role("button", name="Compare the models").click()
        for label, pattern in (("CKA (embeddings)", r"[01]\.\d{3}"), ("Prediction agreement", r"\d{1,3}\.\d%"),
                               ("Q_NN@10 embeddings", r"[01]\.\d{3}"), ("Q_NN@10 DeepView maps", r"[01]\.\d{3}")):
            expect(page.get_by_test_id("stMetric").filter(has_text=label)).to_contain_text(re.compile(pattern))
        _idle(page)
        assert page.get_by_test_id("stException").count() == 0
        assert page.get_by_test_id("stAlertContentError").count() == 0
        expect(page.get_by_text("Click a point on either map")).to_be_visible()

        # the linked maps: two views drawn as SVG; a click on a point of the first selects that text
        maps = page.locator(".vega-embed").nth(1)
        points = maps.locator("g.mark-symbol path")
        expect(points.first).to_be_visible()
        assert points.count() >= 2 * 40
        points.nth(5).click()
        expect(page.get_by_text("Text to explain")).to_be_visible(timeout=60_000)
        _idle(page)
        selected = page.get_by_test_id("stDataFrame").nth(1)
        expect(selected).to_be_visible()
        assert page.get_by_test_id("stException").count() == 0
        page.wait_for_timeout(1500)
        ARTIFACTS.mkdir(exist_ok=True)
        page.screenshot(path=str(ARTIFACTS / "compare.png"), full_page=True)

        # the chosen text opens on the Saliency page, explained by the chosen model
        page.get_by_role("button", name="Open in Saliency").click()
        expect(page.get_by_role("heading", name="Saliency")).to_be_visible()
        expect(page.get_by_text(re.compile(r"The focus text chosen on the Compare page"))).to_be_visible()
        expect(page.locator(".bl-sal-compare")).to_be_visible()
        assert page.get_by_test_id("stException").count() == 0


def test_adversarial_in_chromium(server):
    """A character attack on 12 held-out tweets (the report section's minimum, so its finding can be added):
    summary, detection charts, the readable diffs and the CSV button."""
    from playwright.sync_api import expect

    with _workspace_page(server, 3200) as page:
        _choose(page, "Dataset", "bundled:tweets")
        _choose(page, "Model", "demo:tweets-finetuned")
        page.get_by_test_id("stSidebarNavLink").filter(has_text="Adversarial").click()
        expect(page.get_by_role("heading", name="Adversarial", exact=True)).to_be_visible()
        _set_number(page, page.get_by_role("spinbutton", name="Texts"), 12)
        page.get_by_text("Character edits").click()
        _idle(page)
        page.get_by_role("button", name="Run the attack").click()
        expect(page.get_by_test_id("stMetric").filter(has_text="Success rate")).to_contain_text(
            re.compile(r"\d{1,3}%"), timeout=600_000)
        _idle(page)
        assert page.get_by_test_id("stException").count() == 0
        assert page.get_by_test_id("stAlertContentError").count() == 0
        expect(page.locator(".vega-embed")).to_have_count(2)  # the joint map and the detector scores
        expect(page.locator("table.bl-adv-diffs")).to_be_visible()
        assert page.locator("table.bl-adv-diffs .bl-diff-ins").count() >= 1
        expect(page.get_by_test_id("stDownloadButton")).to_contain_text("Download all rows (CSV)")
        expect(page.get_by_role("button", name="Explain in Saliency")).to_be_visible()
        page.wait_for_timeout(2000)
        ARTIFACTS.mkdir(exist_ok=True)
        page.screenshot(path=str(ARTIFACTS / "adversarial.png"), full_page=True)


def test_corpus_map_in_chromium(server):
    """600 held-out tweets through embed, predict and map on the local engine: the headline numbers, the corpus map,
    a box dragged over it lists that region's texts, and the cluster × error table."""
    from playwright.sync_api import expect

    with _workspace_page(server, 3000) as page:
        _choose(page, "Dataset", "bundled:tweets")
        _choose(page, "Model", "demo:tweets-finetuned")
        page.get_by_test_id("stSidebarNavLink").filter(has_text="Corpus").click()
        expect(page.get_by_role("heading", name="Corpus", exact=True)).to_be_visible()
        _set_number(page, page.get_by_role("spinbutton", name="Texts"), 600)
        page.get_by_role("button", name="Audit the corpus").click()
        expect(page.get_by_role("heading", name="Corpus map")).to_be_visible(timeout=600_000)
        _idle(page)
        assert page.get_by_test_id("stException").count() == 0
        assert page.get_by_test_id("stAlertContentError").count() == 0
        expect(page.get_by_test_id("stMetric").filter(has_text="Texts audited")).to_contain_text("600")
        chart = page.locator(".vega-embed").filter(has_text="Where the corpus lies").first
        plot = chart.locator("g.mark-image image").first  # the decision background fills the plot area
        expect(plot).to_be_attached()
        box = plot.bounding_box()
        assert box and box["width"] > 300 and box["height"] > 300
        page.mouse.move(box["x"] + box["width"] * 0.2, box["y"] + box["height"] * 0.2)
        page.mouse.down()
        page.mouse.move(box["x"] + box["width"] * 0.8, box["y"] + box["height"] * 0.8, steps=12)
        page.mouse.up()
        expect(page.get_by_text(re.compile(r"[\d,]+ texts in the box"))).to_be_visible(timeout=60_000)
        _idle(page)
        expect(page.get_by_text(re.compile(r"Clusters × errors"))).to_be_visible()
        assert page.get_by_test_id("stException").count() == 0
        page.wait_for_timeout(2000)
        ARTIFACTS.mkdir(exist_ok=True)
        page.screenshot(path=str(ARTIFACTS / "corpus.png"), full_page=True)
