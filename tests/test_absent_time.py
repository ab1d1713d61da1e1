"""Time a container did not exist is drawn nowhere (the Timeline's bars)."""

from __future__ import annotations

from docktally.analytics.failures import find_failures
from docktally.analytics.intervals import build_intervals
from docktally.analytics.model import Window
from docktally.analytics.sample import history_from_rows, ns
from docktally.dashboard import charts


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
