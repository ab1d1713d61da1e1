"""The HTML report: one self-contained file, names escaped, charts that a real browser loads."""

from __future__ import annotations

import re
from pathlib import Path

import pytest

from docktally.analytics.model import Window
from docktally.analytics.report import build_report
from docktally.reports.html import render_html
from tests.sample import history_from_rows, ns

DAY = 86400
EVIL = "<script>alert(1)</script>"
CHROMIUM_ARGS = [
    "--no-sandbox",
    "--disable-gpu",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
    "--no-first-run",
]


def _report_html() -> str:
    svc = {"compose_project": "shop", "compose_service": EVIL}
    h = history_from_rows(
        events=[
            ("web", -10, "start", svc),
            ("web", DAY + 100, "die", {"exit_code": 139, **svc}),
            ("web", DAY + 160, "start", svc),
            ("db", -10, "start"),
            ("db", 2 * DAY, "oom"),
            ("db", 2 * DAY + 0.1, "die", {"exit_code": 137}),
            ("db", 2 * DAY + 900, "start"),
        ],
        coverage=[(-DAY, 4 * DAY)],
        maintenance=[{"target": "db", "start": 2 * DAY + 600, "end": 2 * DAY + 1200}],
    )
    report = build_report(h, Window(ns(0), ns(3 * DAY)), by="service", slo=99.5, every="day")
    return render_html(report)


def test_html_is_self_contained_and_escaped() -> None:
    text = _report_html()
    assert EVIL not in text and "&lt;script&gt;" in text
    assert len(re.findall(r'<img [^>]*src="data:image/png;base64,', text)) == 3
    # Nothing fetched from elsewhere: no external src/href.
    assert not re.search(r'(src|href)="(?!data:)', text)


@pytest.mark.browser
def test_charts_load_in_chromium(tmp_path: Path, artifacts_dir: Path) -> None:
    from playwright.sync_api import sync_playwright

    page_file = tmp_path / "report.html"
    page_file.write_text(_report_html(), encoding="utf-8")
    with sync_playwright() as p:
        browser = p.chromium.launch(executable_path="/usr/bin/chromium", args=CHROMIUM_ARGS)
        try:
            page = browser.new_page(viewport={"width": 1200, "height": 900})
            dialogs: list[str] = []
            page.on("dialog", lambda d: (dialogs.append(d.message), d.dismiss()))
            page.goto(page_file.as_uri())
            page.wait_for_load_state("load")
            widths = page.eval_on_selector_all(
                "img", "imgs => imgs.map(i => i.complete ? i.naturalWidth : 0)"
            )
            assert len(widths) == 3 and all(w > 0 for w in widths)
            assert "Uptime report by service" in page.inner_text("h1")
            assert EVIL in page.inner_text("body")  # shown as text, never run
            assert dialogs == []
            # A wide table scrolls in its box; the page itself fits the window.
            assert page.evaluate("document.documentElement.scrollWidth") <= 1200
            page.screenshot(path=str(artifacts_dir / "report_html.png"), full_page=True)
        finally:
            browser.close()
    assert (artifacts_dir / "report_html.png").stat().st_size > 0
