"""Analytics give the same results whether string columns arrive as object/str arrays or as
pandas Categoricals (what the store hands over for speed): same report JSON, intervals and
failures."""

from __future__ import annotations

from typing import Any

import pandas as pd
import pytest
from hypothesis import given

from docktally.analytics.failures import find_failures
from docktally.analytics.intervals import build_intervals
from docktally.analytics.model import EVENT_COLUMNS, History, Window
from docktally.analytics.options import GROUP_BY
from docktally.analytics.report import build_report
from docktally.reports.jsonout import report_document
from tests.sample import coverage_frame, history_from_rows, ns
from tests.test_analytics_properties import SETTINGS, W, _history, histories

STRING_EVENT_COLUMNS = [
    "host",
    "container_id",
    "name",
    "image",
    "action",
    "kind",
    "health",
    "cause_hint",
    "compose_project",
    "compose_service",
]


def categorical(h: History) -> History:
    """The same history with every string column as a Categorical with str categories, and
    unused categories besides (a store's dictionary may hold more values than a window uses)."""
    ev = h.events.copy()
    for c in STRING_EVENT_COLUMNS:
        cat = ev[c].astype("category")
        ev[c] = cat.cat.add_categories([f"~unused-{c}"])
    facts = h.facts.copy()
    for c in ("host", "container_id"):
        facts[c] = facts[c].astype("category")
    return History(events=ev, facts=facts, coverage=h.coverage, maintenance=h.maintenance)


def _rich() -> History:
    svc = {"compose_project": "shop", "compose_service": "web"}
    h = history_from_rows(
        events=[
            ("web-1", -50, "create", svc),
            ("web-1", -40, "start", svc),
            ("web-1", 100, "health_status: healthy", svc),
            ("web-1", 200, "health_status: unhealthy", svc),
            ("web-1", 260, "health_status: healthy", svc),
            ("web-1", 300, "oom", svc),
            ("web-1", 300, "die", {**svc, "exit_code": 137}),
            ("web-1", 330, "start", svc),
            ("web-1", 500, "kill", {**svc, "signal": 15}),
            ("web-1", 501, "die", {**svc, "exit_code": 143}),
            ("web-1", 502, "stop", svc),
            ("web-2", 400, "create", svc),
            ("web-2", 410, "start", svc),
            ("db", -10, "start", {"image": "pg:16"}),
            ("db", 150, "die", {"exit_code": 1, "image": "pg:16"}),
            ("db", 180, "start", {"image": "pg:16"}),
            ("db", 600, "die", {"exit_code": 0, "image": "pg:16"}),
            ("job", 20, "start", {"name": None}),
            ("job", 40, "die", {"exit_code": 0}),
            ("lost", 50, "die", {"inferred": True, "cause_hint": "engine_restart"}),
            ("lost", 700, "start", {"inferred": True}),
            ("cli", 10, "start"),
            ("cli", 60, "die", {"exit_code": 127}),
        ],
        facts=[
            ("web-1", -50, {"restart_policy": "always", "has_healthcheck": True, **svc}),
            ("db", -20, {"restart_policy": "on-failure", "restart_max_retries": 3}),
            ("db", 400, {"restart_policy": "unless-stopped"}),
        ],
        coverage=[(-100, 650)],
        maintenance=[{"target": "db", "start": 140, "end": 160}],
    )
    # A second host with the same container name.
    other = history_from_rows(events=[("db", 5, "start"), ("db", 90, "die", {"exit_code": 2})])
    oev = other.events.assign(host="edge")
    events = pd.concat([h.events, oev], ignore_index=True)[EVENT_COLUMNS]
    cov = pd.concat([h.coverage, coverage_frame([(0, 400)], host="edge")], ignore_index=True)
    return History(events=events, facts=h.facts, coverage=cov, maintenance=h.maintenance)


def _same_everything(h: History, w: Window, **kw: Any) -> None:
    hc = categorical(h)
    for by in GROUP_BY:
        a = report_document(build_report(h, w, by=by, **kw))
        b = report_document(build_report(hc, w, by=by, **kw))
        assert a == b, by
    pd.testing.assert_frame_equal(build_intervals(h, w), build_intervals(hc, w))
    pd.testing.assert_frame_equal(find_failures(h, w), find_failures(hc, w))


@pytest.mark.parametrize("kw", [{}, {"slo": 99.5}, {"every": "day"}], ids=["plain", "slo", "every"])
def test_categorical_columns_give_the_same_report(kw: dict[str, Any]) -> None:
    h = _rich()
    hc = categorical(h)
    assert isinstance(hc.events["kind"].dtype, pd.CategoricalDtype)
    _same_everything(h, Window(ns(0), ns(1000)), **kw)
    doc = report_document(build_report(hc, Window(ns(0), ns(1000)), **kw))
    assert {g["key"]["host"] for g in doc["groups"]} == {"local", "edge"}


@SETTINGS
@given(histories)
def test_categorical_columns_give_the_same_report_on_random_histories(d: dict[str, Any]) -> None:
    _same_everything(_history(d), W)


@pytest.mark.parametrize(
    "kw",
    [
        {"service": "shop/web"},
        {"service": "web"},
        {"service": "db"},
        {"container": "db"},
        {"host": "edge"},
        {"service": "nothing"},
    ],
)
def test_filters_keep_the_same_rows_for_categorical_columns(kw: dict[str, str]) -> None:
    from docktally.analytics.select import filter_history

    h = _rich()
    a = filter_history(h, **kw).events
    b = filter_history(categorical(h), **kw).events
    assert list(a["container_id"]) == list(b["container_id"].astype(object))
    assert list(a["time_ns"]) == list(b["time_ns"])


def test_container_table_takes_fact_values_the_events_categoricals_lack() -> None:
    # A container known only from its facts (its events in no window read), and an image only
    # the facts give: values a Categorical of the events' strings does not hold. Filling them
    # in raised "Cannot setitem on a Categorical with a new category" (an alert evaluation
    # failed on it while the collector wrote a new container between its reads).
    from docktally.analytics.containers import container_table

    h = history_from_rows(
        events=[
            ("web", 10, "start", {"image": None}),
            ("web", 20, "die", {"exit_code": 1, "image": None}),
        ],
        facts=[
            ("web", 5, {"image": "nginx:1.27", "restart_policy": "always"}),
            ("newcomer", 30, {"image": "busybox", "restart_policy": "no"}),
        ],
    )
    plain, cat = container_table(h), container_table(categorical(h))
    pd.testing.assert_frame_equal(plain.astype(object), cat.astype(object))
    assert list(cat["name"]) == ["newcomer", "web"]
    assert list(cat["image"]) == ["busybox", "nginx:1.27"]
