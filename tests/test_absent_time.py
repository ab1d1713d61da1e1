"""Time a container did not exist is drawn nowhere (the Timeline's bars) and has no row in a
report's per-period breakdown."""

from __future__ import annotations

import pytest

from docktally.analytics.failures import find_failures
from docktally.analytics.intervals import build_intervals
from docktally.analytics.model import Window
from docktally.analytics.report import build_report
from docktally.dashboard import charts
from docktally.reports.html import render_html
from tests.sample import history_from_rows, ns


def test_timeline_draws_no_bar_before_create_or_after_destroy() -> None:
    w = Window(ns(0), ns(1000))
    h = history_from_rows(
        events=[("c", 100, "create"), ("c", 200, "start"), ("c", 700, "destroy")],
        coverage=[(-5000, 5000)],
    )
    iv = build_intervals(h, w).assign(name="c")
    assert {"absent", "removed"} <= set(iv["cause"])  # the intervals still tile the window
    data = charts.timeline(iv, find_failures(h, w)).to_dict()["datasets"]
    (rows,) = [r for r in data.values() if r and "state" in r[0]]
    assert sorted((r["state"], r["cause"]) for r in rows) == [
        ("planned", "created"),
        ("up", ""),
    ]


DAY = 86400


@pytest.mark.parametrize("by", ["container", "service"])
def test_the_per_period_breakdown_has_no_row_before_a_container_existed(by: str) -> None:
    """A container created on day 2 of 4 and removed on day 3: rows for days 2 and 3 only (as
    the groups leave out a container the window never saw exist); one running throughout has a
    row every day."""
    svc = {"compose_project": "shop", "compose_service": "late"}
    old = {"compose_project": "shop", "compose_service": "old"}
    h = history_from_rows(
        events=[
            ("old", -10, "start", old),
            ("late", DAY + 100, "create", svc),
            ("late", DAY + 200, "start", svc),
            ("late", 2 * DAY + 300, "die", {"exit_code": 0, **svc}),
            ("late", 2 * DAY + 400, "destroy", svc),
        ],
        coverage=[(-DAY, 5 * DAY)],
    )
    r = build_report(h, Window(ns(0), ns(4 * DAY)), by=by, every="day")
    assert r.breakdown is not None
    key = "container" if by == "container" else "service"
    days = r.breakdown.groupby(r.breakdown[key].astype(str))["period_start_ns"].apply(list)
    assert days["late" if by == "container" else "shop/late"] == [ns(DAY), ns(2 * DAY)]
    assert len(days["old" if by == "container" else "shop/old"]) == 4
    page = render_html(r)
    assert page.count("<td>2026-01-01</td>") == 1  # day 1: the old container's row only
