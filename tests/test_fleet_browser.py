"""The Fleet page in a real browser (Chromium through Playwright): two hosts with their names,
engine restarts per host, and the sidebar's host filter narrowing a page, on the two-host seed
(tests/test_fleet_seed.py: no second engine needed).

Screenshots go to test-artifacts/."""

from __future__ import annotations

import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from tests.test_dashboard_browser import (  # noqa: F401 - fixtures
    browser,
    page,
    serve_dashboard,
    wait_rendered,
)
from tests.test_dashboard_seed import HOST
from tests.test_fleet_seed import EDGE, EDGE_ENGINE_RESTARTS, EDGE_FAILURES, seed_fleet

pytestmark = pytest.mark.browser


@pytest.fixture(scope="module")
def fleet_served(tmp_path_factory: pytest.TempPathFactory) -> Iterator[str]:
    path = tmp_path_factory.mktemp("fleet-browser") / "fleet.db"
    url = f"sqlite:///{path}"
    seed_fleet(url, time.time_ns())
    yield from serve_dashboard(url)


def metric(pg: Any, label: str) -> str:
    box = pg.locator('[data-testid="stMetric"]').filter(has_text=label).first
    return str(box.locator('[data-testid="stMetricValue"]').inner_text()).strip()


def test_fleet_page_shows_both_hosts_and_the_host_filter_narrows_pages(
    fleet_served: str,
    page: Any,  # noqa: F811 - the fixture
    artifacts_dir: Path,
) -> None:
    # Tall enough for the whole page in the screenshot (Streamlit scrolls inside the page).
    page.set_viewport_size({"width": 1400, "height": 2400})
    page.goto(fleet_served + "fleet")
    page.get_by_role("heading", name="Fleet").wait_for()
    page.get_by_role("heading", name="Engine restarts per host").wait_for()
    page.locator('[data-testid="stVegaLiteChart"]').first.wait_for()
    wait_rendered(page)
    assert page.locator('[data-testid="stException"]').count() == 0
    assert metric(page, "Hosts") == "2"
    assert metric(page, "Engine restarts") == str(EDGE_ENGINE_RESTARTS + 1)  # testhost's one
    # The hosts by name, in the hosts table (the grid keeps its cells as text for screen
    # readers) and drawn on the charts.
    grid = page.locator('[data-testid="stDataFrame"]').last
    for host in (HOST, EDGE):
        grid.get_by_text(host, exact=True).first.wait_for(state="attached")
    page.screenshot(path=str(artifacts_dir / "dashboard-fleet-two-hosts.png"), full_page=True)

    # The sidebar's host, kept in the URL, narrows the Fleet page and the Overview.
    page.goto(fleet_served + f"fleet?host={EDGE}")
    page.get_by_role("heading", name="Fleet").wait_for()
    wait_rendered(page)
    assert metric(page, "Hosts") == "1"
    assert metric(page, "Engine restarts") == str(EDGE_ENGINE_RESTARTS)
    assert f"host={EDGE}" in page.url

    page.goto(fleet_served + "?range=24h")
    page.get_by_role("heading", name="Overview").wait_for()
    wait_rendered(page)
    everyone = int(metric(page, "Failures"))
    page.goto(fleet_served + f"?range=24h&host={EDGE}")
    page.get_by_role("heading", name="Overview").wait_for()
    wait_rendered(page)
    assert int(metric(page, "Failures")) == EDGE_FAILURES < everyone
    page.screenshot(path=str(artifacts_dir / "dashboard-overview-one-host.png"), full_page=True)
