"""The dashboard in a real browser: Debian's Chromium driven by Playwright against
`docktally dashboard` serving the seeded database.

Screenshots of the viewport go to test-artifacts/seeded-*.png (the `artifacts_dir` fixture);
tests/test_offline.py takes the full-page ones, on real activity."""

from __future__ import annotations

import re
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from tests.test_dashboard_seed import HOSTILE, HOSTILE_LABEL, seed
from tests.test_up import free_port, spawn, wait_for_http

pytestmark = pytest.mark.browser

CHROMIUM = "/usr/bin/chromium"
CHROMIUM_ARGS = [
    "--no-sandbox",
    "--disable-gpu",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
    "--no-first-run",
]
LOAD_TIMEOUT_MS = 90_000


def serve_dashboard(url: str) -> Iterator[str]:
    """`docktally dashboard` on `url` at a free port: its base URL until the generator ends."""
    port = free_port()
    proc = spawn("dashboard", "--db", url, "--address", str(port))
    base = f"http://127.0.0.1:{port}/"
    try:
        wait_for_http(base, proc)
        yield base
    finally:
        proc.terminate()
        proc.wait(timeout=30)


@pytest.fixture(scope="module")
def served(tmp_path_factory: pytest.TempPathFactory) -> Iterator[str]:
    url = f"sqlite:///{tmp_path_factory.mktemp('browser') / 'seeded.db'}"
    seed(url, time.time_ns())
    yield from serve_dashboard(url)


@pytest.fixture(scope="module")
def browser() -> Iterator[Any]:
    from playwright.sync_api import sync_playwright

    with sync_playwright() as pw:
        b = pw.chromium.launch(executable_path=CHROMIUM, args=CHROMIUM_ARGS)
        try:
            yield b
        finally:
            b.close()


@pytest.fixture
def page(browser: Any) -> Iterator[Any]:
    context = browser.new_context(viewport={"width": 1400, "height": 1000}, accept_downloads=True)
    pg = context.new_page()
    pg.set_default_timeout(LOAD_TIMEOUT_MS)
    dialogs: list[str] = []
    pg.on("dialog", lambda d: (dialogs.append(d.message), d.dismiss()))
    pg.dialogs = dialogs
    try:
        yield pg
    finally:
        assert dialogs == [], f"a script ran: dialog(s) {dialogs}"
        context.close()


def wait_rendered(page: Any) -> None:
    """Streamlit is done when its status widget stops saying it is running and no element is
    left over (faded) from the run before."""
    page.wait_for_selector('[data-testid="stApp"]')
    page.wait_for_function(
        "() => !document.querySelector('[data-testid=\"stStatusWidget\"]')"
        " && !document.querySelector('[data-stale=\"true\"]')",
        timeout=LOAD_TIMEOUT_MS,
    )


def full_page_screenshot(page: Any, path: Path) -> None:
    """The whole page: Streamlit scrolls inside its main section, not the document, so the
    viewport is made as tall as that section first."""
    height = page.evaluate(
        "() => document.querySelector('[data-testid=\"stMain\"]')?.scrollHeight ?? 1000"
    )
    page.set_viewport_size({"width": 1400, "height": max(1000, int(height))})
    page.wait_for_timeout(1500)  # charts redraw at the new size
    page.screenshot(path=str(path), full_page=True)
    page.set_viewport_size({"width": 1400, "height": 1000})


def wide_grids(page: Any) -> list[tuple[int, int]]:
    """(content width, visible width) of each table on the page wider than its box: its last
    columns hidden until scrolled to."""
    found: list[list[int]] = page.evaluate(
        """() => [...document.querySelectorAll('[data-testid="stDataFrame"] .dvn-scroller')]
            .map(s => [s.scrollWidth, s.clientWidth]).filter(([w, c]) => w > c + 1)"""
    )
    return [(w, c) for w, c in found]


def test_overview_navigation_incident_and_download(
    served: str, page: Any, artifacts_dir: Path
) -> None:
    page.goto(served)
    page.get_by_role("heading", name="Overview").wait_for()
    page.locator('[data-testid="stDataFrame"]').first.wait_for()
    page.get_by_text("Down now").wait_for()
    wait_rendered(page)
    page.screenshot(path=str(artifacts_dir / "seeded-overview.png"))

    # The hostile container's labels, picked on the overview, show as the literal characters.
    box = page.locator('[data-testid="stSelectbox"]').filter(has_text="Labels of")
    box.wait_for()
    if HOSTILE not in box.inner_text():  # names sort with "<" first, so it is usually picked
        box.click()
        page.keyboard.type("img src")
        page.keyboard.press("Enter")
    page.get_by_text(HOSTILE_LABEL, exact=False).filter(visible=True).first.wait_for()
    assert page.locator("img[src='x']").count() == 0
    wait_rendered(page)
    page.screenshot(path=str(artifacts_dir / "seeded-hostile-label.png"))

    nav = page.locator('[data-testid="stSidebarNav"]')
    nav.get_by_role("link", name="Timeline").click()
    page.get_by_role("heading", name="Timeline").wait_for()
    page.locator('[data-testid="stVegaLiteChart"]').first.wait_for()
    wait_rendered(page)
    assert re.search(r"/timeline", page.url)
    page.screenshot(path=str(artifacts_dir / "seeded-timeline.png"))

    for title in ("Reliability", "Restart policies", "Collector"):
        nav.get_by_role("link", name=title).click()
        page.get_by_role("heading", name=title).wait_for()
        wait_rendered(page)
        assert page.locator('[data-testid="stException"]').count() == 0, title
        # A chart on every page.
        page.locator('[data-testid="stVegaLiteChart"]').first.wait_for()
        if title == "Reliability":
            page.get_by_text("PID 1 ignored SIGTERM", exact=False).wait_for()
        if title == "Restart policies":
            # Every column in view: the last ones were cut off behind a horizontal scroll.
            assert wide_grids(page) == [], wide_grids(page)

    nav.get_by_role("link", name="Incidents").click()
    page.get_by_role("heading", name="Postmortem").wait_for()
    wait_rendered(page)
    page.get_by_role("heading", name="When, how long, and why").wait_for()
    page.locator('[data-testid="stVegaLiteChart"]').nth(1).wait_for()  # incidents, timeline
    # The newest incident is the hostile container's: its name shows as the literal characters.
    # (The data grid also keeps hidden copies of its cells for screen readers: look at what
    # is visible.)
    page.get_by_text(HOSTILE, exact=False).filter(visible=True).first.wait_for()
    assert page.locator("img[src='x']").count() == 0
    page.screenshot(path=str(artifacts_dir / "seeded-incident.png"))

    with page.expect_download() as md_info:
        page.get_by_role("button", name="Postmortem (Markdown)").click()
    md_path = artifacts_dir / "dashboard-postmortem.md"
    md_info.value.save_as(str(md_path))
    text = md_path.read_text(encoding="utf-8")
    assert "inc-" in text

    with page.expect_download() as html_info:
        page.get_by_role("button", name="Postmortem (HTML)").click()
    html_path = artifacts_dir / "dashboard-postmortem.html"
    html_info.value.save_as(str(html_path))
    html = html_path.read_text(encoding="utf-8")
    assert "<img src=x" not in html  # escaped in the file as well

    # Open the worker's crash loop through the selector: its log lines are shown.
    page.locator('[data-testid="stSelectbox"]').filter(has_text="Incident").click()
    page.get_by_role("option", name=re.compile(r"worker")).click()
    page.get_by_text("panic: cannot connect to queue").wait_for()
    assert "incident=inc-" in page.url
    wait_rendered(page)
    page.screenshot(path=str(artifacts_dir / "seeded-crash-loop.png"))


def test_filters_are_kept_in_the_url(served: str, page: Any, artifacts_dir: Path) -> None:
    page.goto(served + "?q=worker&range=24h")
    page.get_by_role("heading", name="Overview").wait_for()
    page.locator('[data-testid="stDataFrame"]').first.wait_for()
    wait_rendered(page)
    search = page.get_by_role("textbox", name="Container", exact=True)
    assert search.input_value() == "worker"
    assert "q=worker" in page.url and "range=24h" in page.url
    page.screenshot(path=str(artifacts_dir / "seeded-filtered.png"))
