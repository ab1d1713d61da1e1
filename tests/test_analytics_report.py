"""The Report object: JSON shape (docs/report-json.md), SLO budgets and burn rates, breakdowns,
errors."""

from __future__ import annotations

import itertools
import json

import pytest

from docktally.analytics.model import History, Window
from docktally.analytics.report import build_report, mtbf_ci90
from docktally.analytics.states import exit_code_meaning, format_policy
from docktally.errors import UsageError
from docktally.reports.jsonout import report_document
from tests.sample import history_from_rows, ns

DAY = 86400


def _hist() -> History:
    return history_from_rows(
        events=[
            ("web", -10, "start"),
            ("web", 3 * DAY - 1800, "die", {"exit_code": 137}),
            ("web", 3 * DAY - 1500, "start"),
            ("db", -10, "start"),
        ],
        coverage=[(-10 * DAY, 10 * DAY)],
    )


W = Window(ns(0), ns(3 * DAY))


def test_json_has_the_design_shape() -> None:
    doc = report_document(build_report(_hist(), W))
    json.dumps(doc, allow_nan=False)
    assert set(doc["window"]) == {"start", "end"}
    assert doc["window"]["start"] == "2026-01-01T00:00:00Z"
    g = {x["key"]["container"]: x for x in doc["groups"]}
    web = g["web"]
    for k in (
        "uptime_s",
        "downtime_s",
        "planned_s",
        "unknown_s",
        "availability",
        "failures",
        "restarts",
        "mtbf_s",
        "mttr_s",
        "mtbf_ci90_s",
        "exit_codes",
        "oom_kills",
    ):
        assert k in web
    assert web["downtime_s"] == pytest.approx(300)
    assert web["exit_codes"] == {"137": 1} and web["failures"] == 1 and web["mttr_s"] == 300
    assert g["db"]["mtbf_ci90_s"][1] is None and g["db"]["mtbf_s"] is None
    assert "slo" not in doc and "breakdown" not in doc


def test_slo_budget_and_burn_rates() -> None:
    r = build_report(_hist(), W, slo=99.9)
    web = r.groups.set_index("container").loc["web"]
    known = 3 * DAY
    assert web["budget_s"] == pytest.approx(0.001 * known)
    assert web["budget_spent_s"] == pytest.approx(300)
    assert web["budget_left_s"] == pytest.approx(0.001 * known - 300)
    # 300 s down in the last hour: 1/12 bad over 1h -> 83.3x; over 6h 300/21600 -> 13.9x.
    assert web["burn_rate_1h"] == pytest.approx((300 / 3600) / 0.001)
    assert web["burn_rate_6h"] == pytest.approx((300 / 21600) / 0.001)
    assert web["burn_rate_3d"] == pytest.approx((300 / known) / 0.001)
    assert web["burn_rate_5m"] == pytest.approx(0.0)
    # 1h burns at 83x but the 5m window is clean again: no page; 6h at 13.9x with 30m at
    # 300/1800/0.001 = 166x: page by the 6x rule.
    assert web["slo_alert"].startswith("page: burn >= 6x over 6h")
    doc = report_document(r)
    assert doc["slo"]["target"] == 99.9
    gj = next(x for x in doc["groups"] if x["key"]["container"] == "web")
    assert gj["slo"]["budget_spent_s"] == pytest.approx(300)
    db = r.groups.set_index("container").loc["db"]
    assert db["slo_alert"] is None and db["budget_left_s"] == pytest.approx(0.001 * known)


@pytest.mark.parametrize("slo", [0, 100, -1, 150, float("nan")])
def test_slo_out_of_range_is_a_usage_error(slo: float) -> None:
    with pytest.raises(UsageError):
        build_report(_hist(), W, slo=slo)


def test_unknown_by_is_a_usage_error() -> None:
    with pytest.raises(UsageError):
        build_report(_hist(), W, by="colour")


def test_breakdown_per_day() -> None:
    r = build_report(_hist(), W, every="day")
    assert r.breakdown is not None
    web = r.breakdown[r.breakdown["container"] == "web"]
    assert len(web) == 3
    assert list(web["downtime_s"]) == pytest.approx([0, 0, 300])
    doc = report_document(r)
    assert doc["every"] == "day" and len(doc["breakdown"]) == 6
    assert doc["breakdown"][0]["period"]["start"] == "2026-01-01T00:00:00Z"


def test_empty_history_gives_an_empty_report() -> None:
    r = build_report(History.empty(), W)
    assert r.empty and report_document(r)["groups"] == []
    assert r.fleet["containers"] == 0


def test_time_by_class() -> None:
    h = history_from_rows(
        events=[
            ("c", -10, "start"),
            ("c", 100, "die", {"exit_code": 1}),
            ("c", 400, "start"),
            ("c", 500, "pause"),
            ("c", 600, "unpause"),
        ],
        coverage=[(-100, 900)],
        maintenance=[{"target": "c", "start": 200, "end": 300}],
    )
    r = build_report(h, Window(ns(0), ns(1000)))
    t = r.time_by_class_s
    assert t["up"] == pytest.approx(100 + 100 + 300)
    assert t["down"] == pytest.approx(200)
    assert t["planned:maintenance"] == pytest.approx(100)
    assert t["planned:paused"] == pytest.approx(100)
    assert t["unknown"] == pytest.approx(100)


@pytest.mark.parametrize(
    ("code", "meaning"),
    [
        (0, "clean exit"),
        (137, "SIGKILL"),
        (139, "SIGSEGV"),
        (143, "SIGTERM"),
        (127, "not found"),
        (126, "not executable"),
        (125, "engine"),
        (130, "SIGINT"),
        (129, "SIGHUP"),
        (3, "exit 3"),
        (None, "unknown"),
    ],
)
def test_exit_code_meaning(code: int | None, meaning: str) -> None:
    assert meaning in exit_code_meaning(code)


@pytest.mark.parametrize(
    ("policy", "retries", "want"),
    [
        ("on-failure", 3, "on-failure:3"),
        ("on-failure", 0, "on-failure"),
        (None, None, "no"),
        ("always", 0, "always"),
        ("unless-stopped", 5, "unless-stopped"),
    ],
)
def test_format_policy(policy: str | None, retries: int | None, want: str) -> None:
    assert format_policy(policy, retries) == want


def test_mtbf_ci90_has_no_upper_bound_without_failures() -> None:
    low, high = mtbf_ci90(1000.0, 0)
    assert high is None and low == pytest.approx(2000 / 5.991464547107979)


@pytest.mark.parametrize(
    ("every", "want"),
    [
        ("day", ["2026-01-30T05:00:00Z", "2026-01-31T00:00:00Z", "2026-02-01T00:00:00Z"]),
        ("week", ["2026-01-30T05:00:00Z", "2026-02-02T00:00:00Z", "2026-02-09T00:00:00Z"]),
        ("month", ["2026-01-30T05:00:00Z", "2026-02-01T00:00:00Z", "2026-03-01T00:00:00Z"]),
    ],
)
def test_calendar_periods_are_utc_and_clipped(every: str, want: list[str]) -> None:
    from docktally.analytics.periods import calendar_periods
    from docktally.timespec import ns_to_iso, parse_instant_ns

    w = Window(
        parse_instant_ns("2026-01-30T05:00", now_ns=0),
        parse_instant_ns("2026-03-02T01:00", now_ns=0),
    )
    periods = calendar_periods(w, every)
    assert [ns_to_iso(s) for s, _ in periods[:3]] == want
    assert periods[-1][1] == w.end_ns
    assert all(a[1] == b[0] for a, b in itertools.pairwise(periods))


def test_filter_history_by_container_service_and_host() -> None:
    from docktally.analytics.select import filter_history

    svc = {"compose_project": "shop", "compose_service": "web"}
    h = history_from_rows(
        events=[("web-1", 0, "start", svc), ("db", 0, "start")],
        facts=[("web-1", 0, {}), ("db", 0, {})],
        coverage=[(-10, 10)],
    )
    assert set(filter_history(h, container="db").events["name"]) == {"db"}
    assert set(filter_history(h, service="shop/web").events["name"]) == {"web-1"}
    assert set(filter_history(h, service="web").facts["name"]) == {"web-1"}
    assert filter_history(h, host="other").events.empty
    assert filter_history(h) is h


@pytest.mark.parametrize(
    ("by", "slo", "every"),
    [("container", None, None), ("container", None, "day"), ("service", 99.9, None)],
)
def test_build_report_with_timeline_returns_the_timeline_of_the_report(
    by: str, slo: float | None, every: str | None
) -> None:
    from docktally.analytics.intervals import build_intervals, intervals_from_timeline
    from docktally.analytics.report import build_report_with_timeline

    r, tl = build_report_with_timeline(_hist(), W, by=by, slo=slo, every=every)
    assert report_document(r) == report_document(
        build_report(_hist(), W, by=by, slo=slo, every=every)
    )
    assert tl.window == W
    # Period cuts and the SLO look-back change nothing in the intervals.
    assert intervals_from_timeline(tl).equals(build_intervals(_hist(), W))
