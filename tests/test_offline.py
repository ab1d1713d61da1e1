"""Works offline: every dashboard page, the HTML report and the postmortem HTML load in Chromium
with every request to another machine blocked, and none was even attempted (a favicon, a font,
a script from a CDN would each show up here). Full-page screenshots go to test-artifacts/."""

from __future__ import annotations

import json
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

import pytest

from tests.test_dashboard_browser import CHROMIUM, CHROMIUM_ARGS, LOAD_TIMEOUT_MS, wait_rendered
from tests.test_dashboard_seed import seed
from tests.test_up import free_port, spawn, wait_for_http

pytestmark = pytest.mark.browser

PAGES = {
    "overview": "Overview",
    "timeline": "Timeline",
    "reliability": "Reliability",
    "policies": "Restart policies",
    "incidents": "Postmortem",
    "collector": "Collector",
}


# A page has rendered its data once one of these shows.
CONTENT = '[data-testid="stDataFrame"], [data-testid="stVegaLiteChart"]'


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


def is_local(url: str) -> bool:
    parts = urlsplit(url)
    if parts.scheme in ("data", "blob", "about", "file"):
        return True
    return parts.hostname in ("127.0.0.1", "localhost", "::1")


@pytest.fixture(scope="module")
def seeded(tmp_path_factory: pytest.TempPathFactory) -> str:
    path = tmp_path_factory.mktemp("offline") / "seeded.db"
    url = f"sqlite:///{path}"
    seed(url, time.time_ns())
    return url


@pytest.fixture(scope="module")
def served(seeded: str) -> Iterator[str]:
    port = free_port()
    proc = spawn("dashboard", "--db", seeded, "--port", str(port))
    base = f"http://127.0.0.1:{port}/"
    try:
        wait_for_http(base, proc)
        yield base
    finally:
        proc.terminate()
        proc.wait(timeout=30)


@pytest.fixture(scope="module")
def offline_page() -> Iterator[tuple[Any, list[str]]]:
    """A page whose every non-local request is recorded, then aborted."""
    from playwright.sync_api import sync_playwright

    attempted: list[str] = []

    def route(r: Any) -> None:
        if is_local(r.request.url):
            r.continue_()
        else:
            attempted.append(r.request.url)
            r.abort("internetdisconnected")

    with sync_playwright() as pw:
        browser = pw.chromium.launch(executable_path=CHROMIUM, args=CHROMIUM_ARGS)
        context = browser.new_context(viewport={"width": 1400, "height": 1000})
        context.route("**/*", route)
        pg = context.new_page()
        pg.set_default_timeout(LOAD_TIMEOUT_MS)
        # Requests the router never sees (a service worker's, a websocket) still fire this.
        pg.on("request", lambda req: None if is_local(req.url) else attempted.append(req.url))
        try:
            yield pg, attempted
        finally:
            browser.close()


def test_every_dashboard_page_loads_offline(
    served: str, offline_page: tuple[Any, list[str]], artifacts_dir: Path
) -> None:
    page, attempted = offline_page
    for path, heading in PAGES.items():
        page.goto(served + ("" if path == "overview" else path))
        page.get_by_role("heading", name=heading).first.wait_for()
        page.locator(CONTENT).first.wait_for()
        wait_rendered(page)
        # Late requests (fonts, the favicon) come after the first render.
        page.wait_for_load_state("networkidle")
        assert page.locator('[data-testid="stException"]').count() == 0, path
        full_page_screenshot(page, artifacts_dir / f"dashboard-{path}.png")
    assert attempted == []


def _cli(*args: str) -> str:
    return subprocess.run(
        [sys.executable, "-m", "docktally", *args],
        check=True,
        timeout=300,
        capture_output=True,
        text=True,
    ).stdout


def test_html_report_and_postmortem_load_offline(
    seeded: str, offline_page: tuple[Any, list[str]], artifacts_dir: Path
) -> None:
    page, attempted = offline_page
    report = artifacts_dir / "report.html"
    _cli("report", "--db", seeded, "--since", "7d", "--format", "html", "--out", str(report))
    listed = json.loads(_cli("incidents", "--db", seeded, "--since", "7d", "--format", "json"))
    # The crash loop: the longest postmortem of the seed.
    first = next(i["id"] for i in listed["incidents"] if i["key"] == "worker")
    postmortem = artifacts_dir / "postmortem.html"
    _cli(
        "postmortem",
        first,
        "--db",
        seeded,
        "--since",
        "7d",
        "--format",
        "html",
        "--out",
        str(postmortem),
    )
    for path in (report, postmortem):
        page.goto(path.as_uri())
        page.wait_for_load_state("networkidle")
        page.screenshot(path=str(artifacts_dir / f"{path.stem}.png"), full_page=True)
    assert attempted == []
