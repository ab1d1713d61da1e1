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
    # Time a collector covered reads as "watched" on every page (the Collector's table said
    # "Covered pct" and "Uncovered" beside the Overview's "Not watched").
    assert humane.header("covered_pct") == humane.header("watched_ratio") == "Share watched"
    assert humane.header("uncovered_s") == humane.header("unknown_s") == "Not watched"
    assert humane.header("planned_s") == "Planned"  # the Timeline's word, and narrower
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


def _incident(**kw: object) -> dict[str, object]:
    row: dict[str, object] = {
        "id": "inc-1",
        "host": "h",
        "key": "web",
        "start_ns": 10 * H,
        "end_ns": 11 * H,
        "open": False,
        "causes": {"crash": 2, "oom": 1},
        "failures": 3,
        "downtime_s": 60.0,
    }
    return {**row, **kw}


def test_incident_spans_run_an_open_one_to_the_end_and_name_its_main_cause() -> None:
    inc = pd.DataFrame(
        [
            _incident(),
            _incident(
                id="inc-2",
                key="db",
                start_ns=2 * H,
                end_ns=None,
                open=True,
                causes={"oom": 1},
                downtime_s=9000.0,
            ),
            # Began before the range: drawn from its start.
            _incident(id="inc-3", key="db", start_ns=-H, end_ns=H, causes={}),
            _incident(id="inc-4", key="web", host="other"),
        ]
    ).astype({"end_ns": "Int64"})
    spans, affected = trends.incident_spans(inc, Window(0, 24 * H))
    by_id = spans.set_index("id")
    assert by_id.loc["inc-1", "cause"] == "crash"  # 2 crashes, 1 OOM
    assert by_id.loc["inc-2", ["start_ns", "end_ns"]].tolist() == [2 * H, 24 * H]
    assert by_id.loc["inc-3", ["start_ns", "end_ns", "cause"]].tolist() == [0, H, "unknown"]
    # One name on two hosts: the host tells them apart.
    assert by_id.loc["inc-1", "label"] == "web on h"
    assert by_id.loc["inc-4", "label"] == "web on other"
    assert affected == 3
    top, affected = trends.incident_spans(inc, Window(0, 24 * H), limit=1)
    assert set(top["label"]) == {"db"} and affected == 3  # the most downtime


def test_forced_stops_and_mtbf_mttr_name_their_groups() -> None:
    groups = pd.DataFrame(
        {
            "host": ["h", "h", "h"],
            "container_id": ["a" * 64, "b" * 64, "c" * 64],
            "container": ["web", "db", "job"],
            "stops": [3, 1, 0],
            "forced_stops": [0, 1, 0],
            "stop_mean_s": [1.0, 10.0, None],
            "stop_max_s": [2.0, 10.0, None],
            "mtbf_s": [None, 100.0, None],
            "mttr_s": [None, 5.0, None],
        }
    )
    keys = ["host", "container_id", "container"]
    forced = trends.forced_stops(groups, keys)
    assert forced[["label", "forced_stops", "stop_max_s"]].values.tolist() == [["db", 1, 10.0]]
    assert trends.mtbf_mttr(groups, keys)["label"].tolist() == ["db"]


def test_a_chart_zooms_to_its_spans_within_the_range() -> None:
    spans = pd.DataFrame({"start_ns": [10 * H, 12 * H], "end_ns": [11 * H, 20 * H]})
    zoomed = trends.zoom_to(spans, Window(0, 24 * H))
    assert (zoomed.start_ns, zoomed.end_ns) == (10 * H - H // 2, 20 * H + H // 2)
    assert trends.zoom_to(spans, Window(11 * H, 21 * H)) == Window(11 * H, 20 * H + H // 2)
    seconds = pd.DataFrame({"start_ns": [H], "end_ns": [H + 1]})
    assert trends.zoom_to(seconds, Window(0, 2 * H)).start_ns == H - 10 * 1_000_000_000


def test_bars_over_time_are_short_on_a_short_range() -> None:
    # 7 bars or more on any range: an hour of hourly bars was one or two bars.
    day = 24 * H
    want = {
        H: "5 minutes",
        6 * H: "15 minutes",
        day: "hour",
        7 * day: "day",
        2 * day: "6 hours",
        30 * day: "day",
        90 * day: "week",
        365 * day: "month",
    }
    start = 1_764_950_700 * 1_000_000_000  # 2025-12-05 16:05 UTC: not on a period's boundary
    for span, every in want.items():
        window = Window(start, start + span)
        assert trends.bar_period(window) == every, span
        periods = calendar_periods(window, every)
        assert 7 <= len(periods) <= 60, (every, len(periods))
        assert periods[0][0] == window.start_ns and periods[-1][1] == window.end_ns
    # Fixed periods sit on UTC multiples of their length: 16:05, 16:10, ...
    five = calendar_periods(Window(start + 60 * 10**9, start + H), "5 minutes")
    assert [s % (5 * 60 * 10**9) for s, _ in five[1:]] == [0] * (len(five) - 1)
