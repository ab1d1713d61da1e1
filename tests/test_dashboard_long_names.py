"""The dashboard with the long names a compose fleet has (80-character containers, services
and projects) in Chromium at 1,400 px: every table fits its box, so no column hides behind a
sideways scroll, and the page itself fits the window.

The seed is tests/test_dashboard_seed.py's, renamed. Screenshots go to
test-artifacts/long-names-*.png."""

from __future__ import annotations

import re
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from tests.test_dashboard_browser import (  # noqa: F401 - fixtures
    browser,
    full_page_screenshot,
    page,
    serve_dashboard,
    wait_rendered,
    wide_grids,
)
from tests.test_dashboard_seed import seed

pytestmark = pytest.mark.browser

WIDTH = 1400
LONG = {
    "worker": "acme-payments-platform-production-reconciliation-batch-exporter-worker-eu-west-1",
    "db": "acme-payments-platform-production-postgresql-primary-with-a-rather-long-name-1",
    "web": "webserverwithanamethathasnohyphensorspacessoitcannotbewrappedanywhereatall_really",
}


@pytest.fixture(scope="module")
def long_served(tmp_path_factory: pytest.TempPathFactory) -> Iterator[str]:
    url = f"sqlite:///{tmp_path_factory.mktemp('long-names') / 'long.db'}"
    seed(url, time.time_ns(), names=LONG)
    yield from serve_dashboard(url)


def _open(pg: Any, url: str, heading: str, grids: int) -> None:
    pg.goto(url)
    pg.get_by_role("heading", name=heading, exact=True).wait_for()
    pg.locator('[data-testid="stDataFrame"]').nth(grids - 1).wait_for()
    wait_rendered(pg)
    assert pg.locator('[data-testid="stException"]').count() == 0, heading


@pytest.mark.parametrize(
    ("path", "heading", "grids"),
    [
        ("incidents", "Incidents", 3),  # the list, the postmortem's timeline, its failures
        ("fleet", "Fleet", 2),
        ("collector", "Collector", 2),
    ],
)
def test_tables_fit_at_1400_px(
    long_served: str,
    page: Any,  # noqa: F811 - the fixture
    artifacts_dir: Path,
    path: str,
    heading: str,
    grids: int,
) -> None:
    _open(page, f"{long_served}{path}?range=24h", heading, grids)
    assert page.viewport_size["width"] == WIDTH
    assert wide_grids(page) == [], wide_grids(page)
    assert page.evaluate("document.documentElement.scrollWidth") <= WIDTH
    full_page_screenshot(page, artifacts_dir / f"long-names-{path}.png")


def test_overview_keeps_its_names_in_bounds(
    long_served: str,
    page: Any,  # noqa: F811 - the fixture
    artifacts_dir: Path,
) -> None:
    """Every table fits its box, Every container too (its last column, the ids, was cut
    behind a sideways scroll: they are in the Containers table), and the page fits."""
    _open(page, f"{long_served}?range=24h", "Overview", 3)
    assert wide_grids(page) == [], wide_grids(page)
    assert page.evaluate("document.documentElement.scrollWidth") <= WIDTH
    full_page_screenshot(page, artifacts_dir / "long-names-overview.png")


def cut_metrics(pg: Any) -> list[str]:
    """The metric values shown cut short (ending in "…"): wider than their box."""
    found: list[str] = pg.evaluate(
        """() => [...document.querySelectorAll('[data-testid="stMetricValue"]')]
            .filter(v => [v, ...v.querySelectorAll('*')]
                .some(e => e.scrollWidth > e.clientWidth + 1))
            .map(v => v.innerText)"""
    )
    return found


@pytest.mark.parametrize(
    ("path", "heading"), [("", "Overview"), ("fleet", "Fleet"), ("incidents", "Postmortem")]
)
def test_metrics_are_whole_at_1024_px(
    long_served: str,
    page: Any,  # noqa: F811 - the fixture
    artifacts_dir: Path,
    path: str,
    heading: str,
) -> None:
    page.set_viewport_size({"width": 1024, "height": 1000})
    _open(page, f"{long_served}{path}?range=24h", heading, 1)
    page.locator('[data-testid="stMetricValue"]').first.wait_for()
    assert page.locator('[data-testid="stMetricValue"]').count() >= 4
    assert cut_metrics(page) == [], cut_metrics(page)
    page.screenshot(path=str(artifacts_dir / f"long-names-1024-{path or 'overview'}.png"))


def _charts_at(pg: Any, width: int, url: str, heading: str, charts: int) -> None:
    """The page at `width` px, once its first `charts` charts are drawn."""
    pg.set_viewport_size({"width": width, "height": 1000})
    _open(pg, url, heading, 1)
    pg.locator('[data-testid="stVegaLiteChart"]').nth(charts - 1).wait_for()
    wait_rendered(pg)


def time_axes(pg: Any) -> list[dict[str, Any]]:
    """Each chart's time axis as drawn: its description (which ends with its domain's first
    and last values), the labels shown (not those hidden for overlapping), and its title's ends
    (px from the chart's left) beside the chart's width."""
    found: list[dict[str, Any]] = pg.evaluate(
        """() => [...document.querySelectorAll('[data-testid="stVegaLiteChart"] svg.marks')]
            .map(svg => [svg, svg.querySelector(
                'g.role-axis[aria-label^="X-axis"][aria-label*="utc scale"]')])
            .filter(([svg, axis]) => axis)
            .map(([svg, axis]) => {
                const left = svg.getBoundingClientRect().left;
                const title = axis.querySelector('.role-axis-title text');
                const box = title.getBoundingClientRect();
                return {
                    domain: axis.getAttribute('aria-label'),
                    labels: [...axis.querySelectorAll('.role-axis-label text')]
                        .filter(t => t.getAttribute('opacity') !== '0')
                        .map(t => t.textContent),
                    title: [box.left - left, box.right - left],
                    width: svg.getBoundingClientRect().width,
                };
            })"""
    )
    return found


@pytest.mark.parametrize("width", [1024, 1400])
def test_the_charts_over_time_share_their_ticks(
    long_served: str,
    page: Any,  # noqa: F811 - the fixture
    width: int,
) -> None:
    # At 1,024 px availability's axis read 15:00 21:00 03:00 09:00 15:00, the failures' beside
    # it 18:00 Dec 06 06:00 12:00, over the same range.
    _charts_at(page, width, f"{long_served}?range=24h", "Overview", 3)
    axes = time_axes(page)
    assert len(axes) == 2, axes  # availability, failures
    assert axes[0]["labels"] == axes[1]["labels"], axes
    assert len(axes[0]["labels"]) >= 3, axes
    # Over the range and no further: 24 hours from a time of day to the same.
    for axis in axes:
        ends = re.search(r"values from (\S+) to (\S+)$", axis["domain"])
        assert ends and ends[1] == ends[2], axis["domain"]


@pytest.mark.parametrize(("width", "rng"), [(1024, "24h"), (1024, "1h"), (1400, "24h")])
def test_the_time_axes_titles_fit_their_charts(
    long_served: str,
    page: Any,  # noqa: F811 - the fixture
    width: int,
    rng: str,
) -> None:
    # "time (UTC, 24-hour), one bar per hour" ran past the chart's right edge at 1,024 px.
    _charts_at(page, width, f"{long_served}?range={rng}", "Overview", 2)
    axes = time_axes(page)
    assert axes, axes
    for axis in axes:
        left, right = axis["title"]
        assert left >= 0 and right <= axis["width"], axis


def marks_out_of_bounds(pg: Any) -> list[str]:
    """The texts drawn in a chart (bar labels, not axes) that run past its right edge."""
    found: list[str] = pg.evaluate(
        """() => [...document.querySelectorAll('[data-testid="stVegaLiteChart"] svg.marks')]
            .flatMap(svg => [...svg.querySelectorAll('g.role-mark text')]
                .filter(t => t.getBoundingClientRect().right
                             > svg.getBoundingClientRect().right + 1)
                .map(t => t.textContent))"""
    )
    return found


@pytest.mark.parametrize("width", [1024, 1400])
def test_fleet_bar_labels_stay_in_their_charts(
    long_served: str,
    page: Any,  # noqa: F811 - the fixture
    width: int,
) -> None:
    # At 1,024 px "1 restart, 0 containers taken down" ran past the chart's edge.
    _charts_at(page, width, f"{long_served}fleet?range=24h", "Fleet", 2)  # engine restarts 2nd
    labels = page.evaluate(
        """() => [...document.querySelectorAll('[data-testid="stVegaLiteChart"] g.role-mark text')]
            .map(t => t.textContent)"""
    )
    assert "1 restart, 0 containers taken down" in labels, labels
    assert marks_out_of_bounds(page) == [], marks_out_of_bounds(page)


def test_long_names_are_cut_in_the_middle(
    long_served: str,
    page: Any,  # noqa: F811 - the fixture
) -> None:
    """The worker's and the database's names share 33 characters: cut at the end, both
    labels of the Overview's "Least available" began alike and ended in "…"."""
    _charts_at(page, 1024, f"{long_served}?range=24h", "Overview", 3)  # the bars are 3rd
    labels: list[str] = page.evaluate(
        """() => [...document.querySelectorAll(
                '[data-testid="stVegaLiteChart"] g.role-axis[aria-label^="Y-axis"] text')]
            .map(t => t.textContent)"""
    )
    for name in (LONG["worker"], LONG["db"]):
        shown = [s for s in labels if "…" in s and s.endswith(name[-8:])]
        assert shown and all(name.startswith(s.split("…")[0]) for s in shown), labels
