"""The endpoint's running totals: the report's numbers, additive over consecutive windows."""

from __future__ import annotations

from typing import Any

import numpy as np
import pandas as pd
import pytest

from docktally.analytics.model import Window
from docktally.analytics.report import build_report
from docktally.analytics.totals import (
    COUNTERS,
    combine,
    container_totals,
    never_backwards,
    open_incidents,
    series,
)
from tests.sample import history_from_rows, ns

ALWAYS = {"restart_policy": "always"}
EVENTS: list[Any] = [
    ("web", -10, "start"),
    ("web", 100, "die", {"exit_code": 3}),
    ("web", 101, "start"),
    ("web", 300, "oom"),
    ("web", 300.01, "die", {"exit_code": 137}),
    ("web", 305, "start"),
    ("job", 50, "start"),
    ("job", 400, "kill", {"signal": 15}),
    ("job", 400.5, "die", {"exit_code": 143}),
    ("job", 400.6, "stop"),
    ("db", 20, "start"),
    ("db", 700, "die", {"exit_code": 1}),
]
FACTS = [("web", -500, ALWAYS), ("job", -500, {"restart_policy": "no"}), ("db", -500, ALWAYS)]
HISTORY = history_from_rows(events=EVENTS, facts=FACTS, coverage=[(-1000, 5000)])


def _by_name(frame: pd.DataFrame) -> pd.DataFrame:
    return frame.set_index("container").sort_index()


def test_totals_are_the_reports_numbers() -> None:
    window = Window(ns(0), ns(1000))
    totals = _by_name(container_totals(HISTORY, window))
    report = build_report(HISTORY, window).groups.set_index("container").sort_index()
    assert list(totals.index) == list(report.index) == ["db", "job", "web"]
    for name in totals.index:
        t, r = totals.loc[name], report.loc[name]
        failures = sum(int(t[c]) for c in COUNTERS if c.startswith("failures_"))
        assert failures == r["failures"]
        assert t["restarts"] == r["restarts"]
        assert t["oom_kills"] == r["oom_kills"]
        assert t["downtime_s"] == pytest.approx(r["downtime_s"])
        assert t["observed_s"] == pytest.approx(r["uptime_s"] + r["downtime_s"])
    assert totals.loc["web", "failures_crash"] == 1
    assert totals.loc["web", "failures_oom"] == 1
    assert totals.loc["web", "last_exit_code"] == 137
    assert totals.loc["job", "last_exit_code"] == 143  # a user stop's exit is still the last
    assert totals.loc["job", "state"] == "planned"
    assert totals.loc["db", "state"] == "down"
    assert totals.loc["web", "state"] == "up"
    assert totals.loc["web", "policy"] == "always"


def test_the_last_exit_is_kept_to_the_nanosecond() -> None:
    """Beside a container that never exited, an exit's time stays an integer: merged as int64
    with the rows of containers without one, it became float64, to the nearest 256 ns."""
    die = 100.000000001
    history = history_from_rows(
        events=[("idle", 5, "start"), ("web", 0, "start"), ("web", die, "die", {"exit_code": 3})],
        facts=[("idle", -500, ALWAYS), ("web", -500, ALWAYS)],
        coverage=[(-1000, 5000)],
    )
    totals = _by_name(container_totals(history, Window(ns(0), ns(1000))))
    assert pd.isna(totals.loc["idle", "last_exit_ns"])
    assert totals.loc["web", "last_exit_ns"] == ns(die) != int(float(ns(die)))


@pytest.mark.parametrize("cut_s", [0.5, 100, 100.005, 300.005, 400.55, 699.9, 999])
def test_consecutive_windows_add_up(cut_s: float) -> None:
    whole = _by_name(container_totals(HISTORY, Window(ns(0), ns(1000))))
    first = container_totals(HISTORY, Window(ns(0), ns(cut_s)))
    second = container_totals(HISTORY, Window(ns(cut_s), ns(1000)))
    joined = _by_name(combine(first, second))
    assert list(joined.index) == list(whole.index)
    np.testing.assert_allclose(
        joined[COUNTERS].to_numpy(dtype=float), whole[COUNTERS].to_numpy(dtype=float)
    )
    assert list(joined["state"]) == list(whole["state"])
    assert list(joined["last_exit_code"]) == list(whole["last_exit_code"])


def test_counters_never_go_backwards() -> None:
    window = Window(ns(0), ns(1000))
    now = container_totals(HISTORY, window)
    earlier = now.copy()
    earlier["downtime_s"] = earlier["downtime_s"] + 5
    kept = never_backwards(earlier, now)
    assert (kept["downtime_s"] == earlier["downtime_s"]).all()
    assert (kept["observed_s"] == now["observed_s"]).all()


def test_open_incident_while_down_or_just_failed() -> None:
    totals = container_totals(HISTORY, Window(ns(0), ns(1000)))
    totals["service"] = totals["container"]
    inc = open_incidents(totals, ns(1000)).set_index("service")["open"]
    assert inc.to_dict() == {"db": 1, "job": 0, "web": 0}
    inc = open_incidents(totals, ns(330)).set_index("service")["open"]
    assert inc["web"] == 1  # the OOM kill 30 s before: not yet stable


def test_series_add_up_a_recreated_container_and_age_out_removed_ones() -> None:
    events: list[Any] = [
        ("old", -10, "start"),
        ("old", 100, "die", {"exit_code": 1}),
        ("old", 200, "destroy"),
        ("new", 300, "start"),
        ("new", 400, "die", {"exit_code": 2}),
        ("new", 401, "start"),
        ("gone", 0, "start"),
        ("gone", 50, "kill", {"signal": 9}),
        ("gone", 50.1, "die", {"exit_code": 137}),
        ("gone", 50.2, "destroy"),
    ]
    history = history_from_rows(events=events, facts=FACTS, coverage=[(-1000, 100_000)])
    totals = container_totals(history, Window(ns(0), ns(1000)))
    # A container recreated under its name (so its service) and policy: "old" becomes "new".
    new_policy = totals.loc[totals["container"] == "new", "policy"].iloc[0]
    totals.loc[totals["container"] == "old", ["container", "service", "policy"]] = [
        "new",
        "new",
        new_policy,
    ]
    rows = series(totals, ns(1000), retain_s=3600).set_index("container")
    assert list(rows.index) == ["gone", "new"]
    assert rows.loc["new", "failures_crash"] == 2  # one of each container, summed
    assert rows.loc["new", "state"] == "up"  # the existing container's, not the removed one's
    assert rows.loc["new", "last_exit_code"] == 2
    assert rows.loc["gone", "state"] == "planned"
    later = series(totals, ns(50.2 + 3600 + 1), retain_s=3600)
    assert list(later["container"]) == ["new"]  # "gone" was removed over an hour before
