"""The report from per-day parts (analytics.daily) equals the report on the events, on random
histories: several hosts, a service on two hosts, events and crashes across midnight, OOMs,
health checks, maintenance, inferred events; one timeline per day (as the store builds them)
or one cut at the midnights. The pieces see the same history as the whole window; what the
store's reads of each piece load is tested in test_store_summaries."""

from __future__ import annotations

import itertools
import math
from typing import Any

import numpy as np
import pandas as pd
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from docktally.analytics.daily import (
    Parts,
    concat_parts,
    day_starts,
    piece_parts,
    report_from_parts,
    serves,
)
from docktally.analytics.fleet import fleet_overview, fleet_overview_from_parts
from docktally.analytics.model import History, Window
from docktally.analytics.report import Report, build_report
from tests.sample import (
    cid,
    coverage_frame,
    events_frame,
    facts_frame,
    maintenance_frame,
    ns,
)

DAY = 86_400
ACTIONS = [
    ("create", {}),
    ("start", {}),
    ("start", {}),
    ("die", {"exit_code": 0}),
    ("die", {"exit_code": 1}),
    ("die", {"exit_code": 137}),
    ("kill", {"signal": 15}),
    ("kill", {"signal": 9}),
    ("stop", {}),
    ("oom", {}),
    ("health_status: healthy", {}),
    ("health_status: unhealthy", {}),
    ("destroy", {}),
    ("restart", {}),
]
# (name, host, compose service): "api" runs on both hosts.
CONTAINERS = [("a", "h1", "api"), ("b", "h2", "api"), ("c", "h1", None), ("d", "h2", "db")]

event = st.tuples(
    st.integers(0, len(CONTAINERS) - 1),
    st.integers(-DAY // 2, 3 * DAY + DAY // 2),
    st.sampled_from(range(len(ACTIONS))),
    st.booleans(),
)
histories = st.fixed_dictionaries(
    {
        "events": st.lists(event, min_size=1, max_size=60),
        # Bursts near midnights: crash loops and recoveries across the day's end.
        "near_midnight": st.lists(
            st.tuples(
                st.integers(0, len(CONTAINERS) - 1),
                st.integers(0, 3),
                st.integers(-120, 120),
                st.sampled_from(range(len(ACTIONS))),
            ),
            max_size=20,
        ),
        # Crashes just before a midnight, recovered just or long after it.
        "crossing": st.lists(
            st.tuples(
                st.integers(0, len(CONTAINERS) - 1),
                st.integers(0, 3),
                st.integers(1, 600),
                st.sampled_from([0, 5, 3600, DAY + 60]),
            ),
            max_size=3,
        ),
        "coverage": st.lists(
            st.tuples(
                st.sampled_from(["h1", "h2"]), st.integers(-DAY, 3 * DAY), st.integers(1, 2 * DAY)
            ),
            max_size=4,
        ),
        "policy": st.sampled_from(["no", "always", "on-failure", "unless-stopped"]),
        "hc": st.lists(st.booleans(), min_size=4, max_size=4),
        "maint": st.lists(
            st.tuples(
                st.sampled_from(["a", "c", "api"]), st.integers(-DAY, 3 * DAY), st.integers(1, DAY)
            ),
            max_size=2,
        ),
    }
)  # fmt: skip
SETTINGS = settings(max_examples=12, deadline=None, suppress_health_check=[HealthCheck.too_slow])


def _history(d: dict[str, Any], created: bool = False) -> History:
    """With `created`, every container's first event is its create (no lead)."""
    rows = []
    times = [(ci, t, ai, inf) for ci, t, ai, inf in d["events"]]
    if created:
        times += [(ci, -DAY, 0, False) for ci in range(len(CONTAINERS))]
    times += [(ci, day * DAY + off, ai, False) for ci, day, off, ai in d["near_midnight"]]
    for ci, day, before, after in d["crossing"]:
        m = day * DAY
        times += [
            (ci, m - before - 30, 1, False),
            (ci, m - before, 4, False),
            (ci, m + after, 1, False),
        ]
    for ci, t, ai, inferred in times:
        name, host, svc = CONTAINERS[ci]
        action, extra = ACTIONS[ai]
        inferred = inferred and action in ("start", "die")
        rows.append(
            (name, t, action, {**extra, "host": host, "compose_service": svc,
                           "compose_project": "p" if svc else None, "inferred": inferred})
        )  # fmt: skip
    facts = [
        (name, -2 * DAY, {"host": host, "restart_policy": d["policy"], "has_healthcheck": hc,
                          "compose_service": svc, "compose_project": "p" if svc else None})
        for (name, host, svc), hc in zip(CONTAINERS, d["hc"], strict=True)
    ]  # fmt: skip
    cov = [coverage_frame([(-2 * DAY, -DAY)], host=h) for h in ("h1", "h2")]
    cov += [coverage_frame([(s, s + n)], host=h) for h, s, n in d["coverage"]]
    maint = [
        {"target": t, "target_kind": "service" if t == "api" else "container",
         "start": s, "end": s + n}
        for t, s, n in d["maint"]
    ]  # fmt: skip
    return History(
        events=events_frame(rows),
        facts=facts_frame(facts),
        coverage=pd.concat(cov, ignore_index=True),
        maintenance=maintenance_frame(maint),
    )


def _pieces(h: History, w: Window) -> Parts:
    """As the report reads them: one timeline per whole day, and per partial day at the
    edges."""
    bounds = [w.start_ns, *day_starts(w).tolist(), w.end_ns]
    return concat_parts([piece_parts(h, Window(s, e)) for s, e in itertools.pairwise(bounds)])


def _same(a: Any, b: Any, what: str) -> None:
    if isinstance(a, dict):
        assert isinstance(b, dict) and set(a) == set(b), f"{what}: {a} != {b}"
        for k in a:
            _same(a[k], b[k], f"{what}[{k}]")
        return
    fa = None if a is None else float(a)
    fb = None if b is None else float(b)
    if fa is None or math.isnan(fa):
        assert fb is None or math.isnan(fb), f"{what}: {a} != {b}"
        return
    assert fb is not None and fb == pytest.approx(fa, rel=1e-9, abs=1e-9), f"{what}: {a} != {b}"


def _frames_same(
    a: pd.DataFrame | None, b: pd.DataFrame | None, keys: list[str], what: str
) -> None:
    if a is None or b is None:
        assert a is None and b is None, what
        return
    assert len(a) == len(b), f"{what}: {len(a)} rows != {len(b)}"
    for col in a.columns:
        if col in keys or col.startswith("period_"):
            assert list(a[col].astype(str)) == list(b[col].astype(str)), f"{what}.{col}"
            continue
        for i, (x, y) in enumerate(zip(a[col], b[col], strict=True)):
            _same(x, y, f"{what}.{col}[{i}]")


def assert_reports_equal(want: Report, got: Report) -> None:
    keys = want.key_columns
    assert list(got.groups.columns) == list(want.groups.columns)
    _frames_same(want.groups, got.groups, keys, "groups")
    _frames_same(want.breakdown, got.breakdown, keys, "breakdown")
    _same(want.time_by_class_s, got.time_by_class_s, "time_by_class")
    _same(want.fleet, got.fleet, "fleet")


W_DAYS = Window(ns(0), ns(3 * DAY))
W_EDGES = Window(ns(DAY // 3), ns(3 * DAY - 5000))


@SETTINGS
@given(histories, st.sampled_from(["container", "host", "image"]))
def test_parts_of_days_give_the_report(d: dict[str, Any], by: str) -> None:
    h = _history(d)
    for w in (W_DAYS, W_EDGES):
        want = build_report(h, w, by=by)
        assert_reports_equal(want, report_from_parts(_pieces(h, w), w, by=by))


@SETTINGS
@given(histories, st.sampled_from(["day", "week", "month"]))
def test_parts_give_the_breakdowns(d: dict[str, Any], every: str) -> None:
    h = _history(d)
    w = W_EDGES
    want = build_report(h, w, every=every)
    assert_reports_equal(want, report_from_parts(_pieces(h, w), w, every=every))
    # One timeline cut at the midnights gives the same parts.
    assert_reports_equal(want, report_from_parts(piece_parts(h, w), w, every=every))


def _recovered_days_later(die_s: float, start_s: float) -> History:
    """web fails at `die_s` (policy no) and is started again at `start_s`, days later."""
    rows = [
        ("web", 10, "start"),
        ("web", die_s, "die", {"exit_code": 1}),
        ("web", start_s, "start"),
    ]
    return History(
        events=events_frame(rows),
        facts=facts_frame([("web", 0, {"restart_policy": "no"})]),
        coverage=coverage_frame([(0, 4 * DAY)]),
        maintenance=maintenance_frame([]),
    )


def test_a_failure_recovered_days_later_counts_in_the_mttr() -> None:
    h = _recovered_days_later(DAY - 60, 2 * DAY + 3600)
    w = Window(ns(0), ns(3 * DAY))
    got = report_from_parts(_pieces(h, w), w)
    assert got.groups.loc[0, "mttr_s"] == pytest.approx(DAY + 3660)
    assert_reports_equal(build_report(h, w), got)
    # Per day: the failure's day ends before its recovery, so no MTTR there.
    daily = report_from_parts(_pieces(h, w), w, every="day").breakdown
    assert daily is not None and np.isnan(daily.loc[0, "mttr_s"])
    assert cid("web") in set(got.groups["container_id"])


def test_a_recovery_days_later_is_kept_to_the_nanosecond() -> None:
    # The later recovery's time was carried as float64: rounded to 256 ns at this epoch, so
    # the MTTR from the store's days differed from the one over the events.
    die_s, start_s = DAY - 60.000000001, 2 * DAY + 3600.000000077
    h = _recovered_days_later(die_s, start_s)
    w = Window(ns(0), ns(3 * DAY))
    want = build_report(h, w).groups.loc[0, "mttr_s"]
    assert want == (ns(start_s) - ns(die_s)) / 1e9
    assert report_from_parts(_pieces(h, w), w).groups.loc[0, "mttr_s"] == want


def _services_equal(h: History, w: Window, by: str, every: str | None) -> None:
    want = build_report(h, w, by=by, every=every)
    assert_reports_equal(want, report_from_parts(_pieces(h, w), w, by=by, every=every))
    assert_reports_equal(want, report_from_parts(piece_parts(h, w), w, by=by, every=every))


@settings(max_examples=10, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(
    histories,
    st.sampled_from(["service", "host,service"]),
    st.sampled_from([None, "day", "month"]),
    st.sampled_from([W_DAYS, W_EDGES]),
    st.booleans(),
)
def test_service_parts_give_the_service_report(
    d: dict[str, Any], by: str, every: str | None, w: Window, created: bool
) -> None:
    h = _history(d, created=created)
    parts = _pieces(h, w)
    if not serves(parts, by):  # a container's first event is not its create
        assert not created and (parts.rows["lead"] > 0).any()
        return
    _services_equal(h, w, by, every)


def test_a_service_failure_at_midnight_counts_only_inside_the_window() -> None:
    """The replica's crash at a midnight takes the service down there: a failure of the
    window that holds the time before it, not of one that starts at it."""
    rows = [
        ("web", -10, "create", {"compose_service": "web", "compose_project": "p"}),
        ("web", 10, "start", {"compose_service": "web", "compose_project": "p"}),
        ("web", DAY, "die", {"exit_code": 1, "compose_service": "web", "compose_project": "p"}),
        ("web", DAY + 30, "start", {"compose_service": "web", "compose_project": "p"}),
        ("web", 2 * DAY - 5, "die", {"exit_code": 1, "compose_service": "web",
                                     "compose_project": "p"}),
        ("web", 2 * DAY, "start", {"compose_service": "web", "compose_project": "p"}),
    ]  # fmt: skip
    h = History(
        events=events_frame(rows),
        facts=facts_frame([("web", -20, {"restart_policy": "no"})]),
        coverage=coverage_frame([(-20, 4 * DAY)]),
        maintenance=maintenance_frame([]),
    )
    for w in (
        Window(ns(0), ns(3 * DAY)),
        Window(ns(DAY), ns(2 * DAY)),
        Window(ns(DAY), ns(3 * DAY)),
    ):
        for every in (None, "day"):
            _services_equal(h, w, "service", every)


@settings(max_examples=6, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(histories, st.sampled_from([W_DAYS, W_EDGES]))
def test_the_fleet_overview_from_parts_is_the_one_from_events(d: dict[str, Any], w: Window) -> None:
    h = _history(d, created=True)
    want = fleet_overview(h, w)
    got = fleet_overview_from_parts(_pieces(h, w), w, h.coverage, h.engine_restarts)
    _frames_same(want.hosts, got.hosts, ["host"], "hosts")
    _frames_same(want.services, got.services, ["service", "host_names"], "services")
    _same(want.totals, got.totals, "totals")
