"""Works offline, and looked at: every dashboard page, the HTML report and the postmortem HTML
load in Chromium with every request to another machine blocked, and none was even attempted (a
favicon, a font, a script from a CDN would each show up here). The database holds real
container activity from the private engine (a crash loop the engine gives up on, a service
that crashes and comes back, a job, a forced stop); full-page screenshots of each page go to
test-artifacts/, for a person to look at."""

from __future__ import annotations

import json
import re
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

import pytest

from docktally.cli import main
from docktally.collector.normalize import facts_from_inspect
from docktally.store import db, writes
from tests.private_engine import EventRecorder, PrivateEngine
from tests.test_dashboard import wait_for_dashboard_now
from tests.test_dashboard_browser import (
    CHROMIUM,
    CHROMIUM_ARGS,
    LOAD_TIMEOUT_MS,
    full_page_screenshot,
    wait_rendered,
)
from tests.test_report_engine import wait_until
from tests.test_up import free_port, spawn, wait_for_http

pytestmark = [pytest.mark.browser, pytest.mark.engine]

PAGES = {
    "overview": "Overview",
    "fleet": "Fleet",
    "timeline": "Timeline",
    "reliability": "Reliability",
    "policies": "Restart policies",
    "incidents": "Postmortem",
    "collector": "Collector",
}


# A page has rendered its data once one of these shows.
CONTENT = '[data-testid="stDataFrame"], [data-testid="stVegaLiteChart"]'


def is_local(url: str) -> bool:
    parts = urlsplit(url)
    if parts.scheme in ("data", "blob", "about", "file"):
        return True
    return parts.hostname in ("127.0.0.1", "localhost", "::1")


CRASH_LOOP = "payments-api"


@pytest.fixture(scope="module")
def seeded(tmp_path_factory: pytest.TempPathFactory, engine: PrivateEngine) -> str:
    """Real activity on the private engine, recorded with its events and imported."""
    tmp = tmp_path_factory.mktemp("offline")
    rec_file = tmp / "events.jsonl"
    engine.remove_all_containers()
    inspects = []
    try:
        with EventRecorder(engine, rec_file):
            loop = engine.run(
                "sh",
                "-c",
                "echo 'connecting to ledger...'; sleep 0.5; "
                "echo 'fatal: ledger refused connection' >&2; exit 1",
                name=CRASH_LOOP,
                restart_policy={"Name": "on-failure", "MaximumRetryCount": 3},
            )
            flaky = engine.run(
                "sh",
                "-c",
                "sleep 1.5; exit 2",
                name="search-indexer",
                restart_policy={"Name": "always"},
            )
            steady = engine.run("sleep", "600", name="web-frontend")
            db_ = engine.run("sleep", "600", name="orders-db")
            job = engine.run("sh", "-c", "sleep 0.5; exit 0", name="nightly-backup")

            def gave_up() -> bool:
                loop.reload()
                return loop.status == "exited" and loop.attrs["RestartCount"] == 3

            wait_until(gave_up, 90, "the engine to give up on the crash loop")
            job.wait(timeout=30)
            flaky.stop(timeout=1)
            db_.stop(timeout=1)  # busybox sleep ignores SIGTERM: a forced stop
            db_.start()
            time.sleep(1)
            for c in (loop, flaky, steady, db_, job):
                c.reload()
                inspects.append(c.attrs)
    finally:
        engine.remove_all_containers()
    last_event_ns = time.time_ns()
    url = f"sqlite:///{tmp / 'real.db'}"
    assert main(["import", "--db", url, "--host", "prod-1", str(rec_file)]) == 0
    store = db.connect(url)
    with store.begin() as conn:
        for ins in inspects:
            writes.record_facts(conn, facts_from_inspect(ins, host="prod-1", observed_ns=0))
    store.dispose()
    # The Overview's "state unknown" holds only once the range ends after the last event.
    wait_for_dashboard_now(last_event_ns)
    return url


@pytest.fixture(scope="module")
def served(seeded: str) -> Iterator[str]:
    port = free_port()
    proc = spawn("dashboard", "--db", seeded, "--address", str(port))
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
        # The last hour: the activity fills it, drawn per hour.
        page.goto(served + ("" if path == "overview" else path) + "?range=1h")
        page.get_by_role("heading", name=heading).first.wait_for()
        page.locator(CONTENT).first.wait_for()
        wait_rendered(page)
        # Late requests (fonts, the favicon) come after the first render.
        page.wait_for_load_state("networkidle")
        assert page.locator('[data-testid="stException"]').count() == 0, path
        # Every page answers at a glance: with a chart.
        page.locator('[data-testid="stVegaLiteChart"]').first.wait_for()
        if path == "overview":
            # The import's coverage ends at its last event: nothing is known to be down now,
            # nor up (the crash loop's incident is open).
            page.get_by_text("their state is unknown", exact=False).wait_for()
        if path == "incidents":
            # The worst incident's postmortem (the README shows it): the crash loop's.
            page.locator('[data-testid="stSelectbox"]').filter(has_text="Incident").click()
            page.get_by_role("option", name=re.compile(CRASH_LOOP)).click()
            page.get_by_text("crash loop: yes", exact=False).wait_for()
            # on-failure:3 made its three restarts and left it down: the page says so.
            page.get_by_text("on-failure:3 exhausted", exact=False).wait_for()
            wait_rendered(page)
            page.evaluate("() => document.activeElement?.blur()")  # no focus ring in the picture
        if path == "reliability":
            # `orders-db` (busybox sleep) ignored SIGTERM: its stop is named, with the advice.
            page.get_by_text("Stops that needed a SIGKILL").wait_for()
            page.get_by_text("PID 1 ignored SIGTERM", exact=False).wait_for()
            # (The grid's cells, as its screen-reader copy holds them.)
            forced = page.locator('[data-testid="stDataFrame"]').last
            forced.locator("td", has_text="orders-db").wait_for(state="attached")
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
    _cli("report", "--db", seeded, "--since", "1h", "--format", "html", "--out", str(report))
    listed = json.loads(_cli("incidents", "--db", seeded, "--since", "1h", "--format", "json"))
    first = next(i["id"] for i in listed["incidents"] if i["key"] == CRASH_LOOP)
    postmortem = artifacts_dir / "postmortem.html"
    _cli(
        "postmortem",
        first,
        "--db",
        seeded,
        "--since",
        "1h",
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
