"""End to end: the Training page in headless Chromium, as a user trains a tiny model on their own CSV files."""
from __future__ import annotations

import os
import re
import subprocess
import sys

import pytest

from tests.browser.test_pages_in_chromium import ARTIFACTS, CHROMIUM, CHROMIUM_ARGS, ROOT, _free_port, _wait_for_server
from tests.unit.test_training_data import mean_pooled, news_rows, write_csv

pytestmark = pytest.mark.browser


@pytest.fixture
def training_server(tmp_path):
    """``streamlit run app.py`` with a cache of its own (the page needs no demo workspace)."""
    if not os.path.exists(CHROMIUM):
        pytest.skip(f"no Chromium at {CHROMIUM}")
    port = _free_port()
    env = {**os.environ, "BACKBONE_LENS_CACHE": str(tmp_path / "cache"), "HF_HUB_OFFLINE": "1"}
    ARTIFACTS.mkdir(exist_ok=True)
    with open(ARTIFACTS / "streamlit-training-test.log", "w") as log:
        proc = subprocess.Popen(
            [sys.executable, "-m", "streamlit", "run", str(ROOT / "app.py"), "--server.port", str(port),
             "--server.address", "127.0.0.1", "--server.headless", "true", "--browser.gatherUsageStats", "false"],
            cwd=ROOT, env=env, stdout=log, stderr=subprocess.STDOUT)
        try:
            url = f"http://127.0.0.1:{port}/"
            _wait_for_server(url, proc)
            yield url, tmp_path
        finally:
            proc.terminate()
            try:
                proc.wait(timeout=20)
            except subprocess.TimeoutExpired:
                proc.kill()
                proc.wait()


def _settle(page) -> None:
    """Wait for the rerun to finish and its stale elements to go."""
    page.wait_for_timeout(600)
    page.wait_for_function("() => !document.querySelector('[data-testid=stStatusWidget]')")
    page.wait_for_timeout(600)


def _type(page, label: str, value: str) -> None:
    _settle(page)
    box = page.get_by_label(label, exact=True)
    box.fill(value)
    box.press("Enter")
    _settle(page)


def test_training_page_in_chromium(training_server, tiny_model_dir):
    from playwright.sync_api import expect, sync_playwright

    url, tmp = training_server
    base = mean_pooled(tiny_model_dir("bert-mlm"), tmp / "tiny-mean")
    train = write_csv(tmp / "train.csv", news_rows(500, 0))
    test = write_csv(tmp / "test.csv", news_rows(120, 2))
    expect.set_options(timeout=180_000)
    with sync_playwright() as p:
        browser = p.chromium.launch(executable_path=CHROMIUM, args=CHROMIUM_ARGS)
        try:
            page = browser.new_page(viewport={"width": 1400, "height": 2200})
            page.set_default_timeout(180_000)
            page.goto(url + "training", timeout=180_000)
            expect(page.get_by_role("heading", name="Training")).to_be_visible()
            page.get_by_text("Local folder", exact=True).click()
            _type(page, "Model folder", str(base))
            _type(page, "Training file: path on this machine", str(train))
            page.get_by_text(re.compile(r"^Validation and test files")).click()
            _settle(page)
            _type(page, "Test file: path on this machine", str(test))
            page.get_by_text(re.compile(r"^Columns and labels")).click()
            _settle(page)
            _type(page, "Label names", "apple,train,piano,goal")
            _type(page, "Model name", "browser-news")
            _type(page, "CPU threads (0 = auto)", "1")
            expect(page.get_by_text("read as 1-based ids of the 4 label names")).to_be_visible()  # the plan is read
            page.get_by_role("button", name="Train", exact=True).click()
            expect(page.get_by_role("heading", name="Result")).to_be_visible()
            expect(page.get_by_text(re.compile(r"is now the selected model"))).to_contain_text("user:browser-news")
            expect(page.get_by_text(re.compile(r"^Threads: 1 thread, as asked"))).to_be_visible()
            expect(page.locator(".vega-embed")).to_have_count(1)  # the validation curve
            assert page.get_by_test_id("stException").count() == 0 and page.get_by_test_id("stAlertContentError"
                                                                                            ).count() == 0
            assert (tmp / "cache" / "models" / "browser-news" / "backbone_lens.json").exists()
            page.wait_for_timeout(1500)
            page.screenshot(path=str(ARTIFACTS / "training.png"), full_page=True)
        finally:
            browser.close()
