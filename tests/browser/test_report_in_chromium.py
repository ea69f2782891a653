"""End to end in headless Chromium: Workspace → "Add to report" → Report page → build → downloaded HTML, PDF and
spec (the spec validates and builds from the command line)."""
from __future__ import annotations

import os
import re
import subprocess
import sys

import pytest

from tests.browser.test_pages_in_chromium import (ARTIFACTS, ROOT, _choose, _idle, _workspace_page,  # noqa: F401
                                                  server)

pytestmark = pytest.mark.browser


def test_add_to_report_build_and_download(server, tmp_path, demo_workspace):  # noqa: F811
    from playwright.sync_api import expect

    with _workspace_page(server, 1800) as page:
        page.get_by_test_id("stSelectbox").filter(has=page.get_by_text("Model", exact=True)).click()
        page.get_by_role("option", name=re.compile(r"^demo:bbc-finetuned")).click()
        page.get_by_test_id("stSelectbox").filter(has=page.get_by_text("Dataset", exact=True)).click()
        page.get_by_role("option", name=re.compile(r"^bundled:bbc")).click()
        n = page.get_by_role("spinbutton", name="Sample size n")
        n.fill("80")
        n.press("Enter")
        page.wait_for_function("() => !document.querySelector('[data-testid=stStatusWidget]')")
        expect(page.get_by_test_id("stMetric").filter(has_text="Examples in sample")).to_contain_text("80")

        # the finding, with a note that carries markup (it must come out as text)
        page.get_by_role("button", name=re.compile("Add to report")).first.click()
        page.get_by_role("textbox", name="Note for the report (Markdown)").fill("Accuracy is **high** <script>alert(1)</script>")
        page.get_by_role("button", name="Add", exact=True).click()
        expect(page.get_by_text(re.compile(r"Added to the report draft \(1 finding\)"))).to_be_visible()

        page.get_by_role("link", name="Report").click()
        expect(page.get_by_role("heading", name="Findings (1)")).to_be_visible()
        # two checks through the picker over the figures the draft publishes (figure, comparison, threshold)
        for figure, op in (("accuracy of the report model", ">="), ("Overview · macro f1", ">")):
            _choose(page, "Figure", figure)
            if op != ">=":  # the first comparison is the default; options ">=" and ">" share a prefix: pick exactly
                page.get_by_test_id("stSelectbox").filter(has=page.get_by_text("Is", exact=True)).click()
                page.get_by_role("option", name=op, exact=True).click()
                _idle(page)
            value = page.get_by_role("spinbutton", name="Threshold")
            value.fill("0.5")
            value.press("Enter")
            _idle(page)
            page.get_by_role("button", name="Add check").click()
            _idle(page)
        expect(page.get_by_text("accuracy >= 0.5", exact=True)).to_be_visible()
        expect(page.get_by_text("overview.macro_f1 > 0.5", exact=True)).to_be_visible()
        page.get_by_role("button", name=re.compile("Build the report")).click()
        expect(page.get_by_text(re.compile(r"PASS.*all 2 checks hold"))).to_be_visible()
        assert page.get_by_test_id("stException").count() == 0

        with page.expect_download() as dl:
            page.get_by_role("button", name=re.compile("Download HTML")).click()
        html_path = tmp_path / "report.html"
        dl.value.save_as(html_path)
        with page.expect_download() as dl:
            page.get_by_role("button", name=re.compile("Download PDF")).click()
        pdf_path = tmp_path / "report.pdf"
        dl.value.save_as(pdf_path)
        with page.expect_download() as dl:
            page.get_by_role("button", name=re.compile("Download spec")).click()
        spec_path = tmp_path / "audit.yaml"
        dl.value.save_as(spec_path)
        ARTIFACTS.mkdir(exist_ok=True)
        page.screenshot(path=str(ARTIFACTS / "report-page.png"), full_page=True)

    html = html_path.read_text("utf-8")
    assert "<strong>high</strong>" in html and "&lt;script&gt;alert(1)&lt;/script&gt;" in html
    assert "<script" not in html.lower()
    assert "all 2 checks hold" in html
    assert pdf_path.read_bytes().startswith(b"%PDF") and pdf_path.stat().st_size > 20_000
    spec = spec_path.read_text("utf-8")
    assert "kind: overview" in spec and "accuracy >= 0.5" in spec and "sample_size: 80" in spec
    env = {**os.environ, "PYTHONPATH": str(ROOT), "BACKBONE_LENS_CACHE": str(demo_workspace), "HF_HUB_OFFLINE": "1"}
    r = subprocess.run([sys.executable, "-m", "reports", "validate", str(spec_path)], cwd=tmp_path, env=env,
                       capture_output=True, text=True, timeout=120)
    assert r.returncode == 0 and "1 section: overview; 2 checks" in r.stdout, r.stderr
