"""Numbers for people (reports.humane) and what the dashboard's charts draw
(analytics.trends): pure functions, checked on values a person can read."""

from __future__ import annotations

import math

import pandas as pd

from docktally.analytics import trends
from docktally.analytics.model import Window
from docktally.analytics.periods import calendar_periods
from docktally.reports import humane

H = 3600 * 1_000_000_000


def test_durations_read_as_hours_and_minutes() -> None:
    assert humane.duration(2 * 3600 + 14 * 60 + 5) == "2h 14m"
    assert humane.duration(3 * 86400 + 4 * 3600) == "3d 4h"
    assert humane.duration(12 * 60 + 5) == "12m 5s"
    assert humane.duration(0.4) == "0.4s"
    assert humane.duration(0) == "0s"
    assert humane.duration(None) == humane.duration(math.nan) == humane.duration(pd.NA) == "-"


def test_times_are_utc_dates_on_a_24_hour_clock() -> None:
    ns = 1_764_950_700 * 1_000_000_000  # 2025-12-05 16:05:00 UTC
    assert humane.when(ns) == "2025-12-05 16:05 UTC"
    assert humane.when(ns, seconds=True) == "2025-12-05 16:05:00 UTC"
    assert humane.day(ns) == "2025-12-05"
    assert humane.when(pd.NaT) == "-"


def test_headers_and_grammar() -> None:
    assert humane.header("mttr_s") == "MTTR"
    assert humane.header("compose_service") == "Service"
    assert humane.header("backoff_wait_s") == "Backoff wait"
    assert humane.plural(1, "container") == "1 container"
    assert humane.plural(3, "container") == "3 containers"
    assert humane.percent(0.998) == "99.800%"


def test_a_short_range_is_drawn_per_hour_a_week_per_day() -> None:
    assert trends.every_for(Window(0, H)) == "hour"
    assert trends.every_for(Window(0, 7 * 24 * H)) == "day"
    assert trends.every_for(Window(0, 365 * 24 * H)) == "week"
    assert len(calendar_periods(Window(0, 3 * H), "hour")) == 3


def test_fleet_per_period_sums_the_groups() -> None:
    bd = pd.DataFrame(
        {
            "period_start_ns": [0, 0, H, H],
            "period_end_ns": [H, H, 2 * H, 2 * H],
            "uptime_s": [3600.0, 1800.0, 0.0, 0.0],
            "downtime_s": [0.0, 1800.0, 0.0, 0.0],
            "failures": [0, 2, 0, 0],
        }
    )
    per = trends.fleet_per_period(bd)
    assert list(per["failures"]) == [2, 0]
    assert per["availability"].iloc[0] == 0.75
    assert math.isnan(per["availability"].iloc[1])  # nobody up or down: no number, not 0%


def test_groups_are_named_and_ids_only_tell_apart_a_shared_name() -> None:
    g = pd.DataFrame(
        {
            "host": ["h", "h", "h"],
            "container_id": ["a" * 64, "b" * 64, "c" * 64],
            "container": ["web", "web", "db"],
        }
    )
    names = trends.group_names(g, ["host", "container_id", "container"])
    assert list(names) == ["web (aaaaaaaaaaaa)", "web (bbbbbbbbbbbb)", "db"]
