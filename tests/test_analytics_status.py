"""Where the fleet stands (analytics/status.py), on small hand-built frames."""

from __future__ import annotations

import pandas as pd

from docktally.analytics import status
from docktally.analytics.model import INTERVAL_COLUMNS, History

NS = 1_000_000_000


def table() -> pd.DataFrame:
    return pd.DataFrame(
        {
            "host": ["h1", "h1", "h2"],
            "container_id": ["aaa1", "bbb2", "ccc3"],
            "name": ["Web", None, "db"],
            "compose_project": ["shop", "shop", None],
            "compose_service": ["web", "worker", None],
            "restart_policy": ["always", "no", "always"],
        }
    )


def test_matching_containers_takes_every_filter() -> None:
    t = table()
    assert status.matching_containers(t) == {("h1", "aaa1"), ("h1", "bbb2"), ("h2", "ccc3")}
    assert status.matching_containers(t, host="h1", policy="always") == {("h1", "aaa1")}
    assert status.matching_containers(t, project="shop", service="worker") == {("h1", "bbb2")}
    assert status.matching_containers(t, search="we") == {("h1", "aaa1")}  # case-blind name
    assert status.matching_containers(t, search="ccc") == {("h2", "ccc3")}  # id prefix
    assert status.matching_containers(t, search="b2") == set()  # not an id prefix


def test_select_containers_keeps_their_rows_and_the_hosts_coverage() -> None:
    ev = pd.DataFrame({"host": ["h1", "h2"], "container_id": ["aaa1", "ccc3"], "time_ns": [1, 2]})
    cov = pd.DataFrame({"host": ["h1", "h2"], "start_ns": [0, 0], "end_ns": [9, 9]})
    h = History(events=ev, facts=ev.iloc[0:0], coverage=cov, maintenance=cov.iloc[0:0])
    got = status.select_containers(h, {("h2", "ccc3")}, host="h2")
    assert got.events["container_id"].tolist() == ["ccc3"]
    assert got.coverage["host"].tolist() == ["h2"]
    assert got.facts.empty


def intervals() -> pd.DataFrame:
    rows = [
        ("h", "a", 0, 50, "up", None),
        ("h", "a", 50, 100, "down", "crash"),  # down at the end, since 50
        ("h", "b", 0, 20, "up", None),
        ("h", "b", 20, 100, "unhealthy", "unhealthy"),  # since 20: longer
        ("h", "c", 0, 60, "down", "oom"),
        ("h", "c", 60, 100, "up", None),  # recovered
    ]
    return pd.DataFrame(rows, columns=INTERVAL_COLUMNS)


def test_down_now_is_the_last_state_longest_first() -> None:
    got = status.down_now(intervals(), 100)
    assert got[["container_id", "state", "start_ns"]].values.tolist() == [
        ["b", "unhealthy", 20],
        ["a", "down", 50],
    ]
    assert status.down_now(intervals().iloc[0:0], 100).empty


def test_unknown_now_counts_the_containers_nobody_watches_at_the_end() -> None:
    iv = pd.concat(
        [
            intervals(),
            pd.DataFrame(
                [("h", "d", 0, 40, "down", "crash"), ("h", "d", 40, 100, "unknown", None)],
                columns=INTERVAL_COLUMNS,
            ),
        ]
    )
    assert status.unknown_now(iv, 100) == 1  # d: down, then nobody watching
    assert status.down_now(iv, 100)["container_id"].tolist() == ["b", "a"]
    assert status.unknown_now(intervals(), 100) == 0


def test_most_time_not_up_then_the_others_in_order() -> None:
    assert status.most_time_not_up(intervals(), 2) == {("h", "b"), ("h", "c")}
    assert status.most_time_not_up(intervals(), 3) == {("h", "a"), ("h", "b"), ("h", "c")}


def test_exit_code_counts_most_first_with_their_meaning() -> None:
    fl = pd.DataFrame(
        {
            "exit_code": pd.array([137, 1, 137, None], dtype="Int64"),
            "cause": ["oom", "crash", "oom", "unhealthy"],
        }
    )
    got = status.exit_code_counts(fl)
    assert got.columns.tolist() == ["exit_code", "meaning", "cause", "failures"]
    assert got.iloc[0][["cause", "failures"]].tolist() == ["oom", 2]
    assert got["failures"].sum() == 4
    assert got.loc[got["cause"] == "unhealthy", "meaning"].item() == "unknown exit code"


def test_downtime_by_cause_from_the_fleet_or_the_groups() -> None:
    groups = pd.DataFrame({"downtime_by_cause_s": [{"oom": 1.5, "crash": 0.0}, {"oom": 2.0}]})
    got = status.downtime_by_cause({}, groups)
    assert got.values.tolist() == [["oom", 3.5]]  # zero totals left out
    fleet = {"downtime_by_cause_s": {"crash": 4.0, "oom": 1.0}}
    assert status.downtime_by_cause(fleet, groups).values.tolist() == [["crash", 4.0], ["oom", 1.0]]


def test_watching_is_open_with_a_fresh_heartbeat() -> None:
    now = 1000 * NS
    cov = pd.DataFrame(
        {
            "host": ["live", "stale", "closed"],
            "end_ns": [None, None, now - NS],
            "heartbeat_ns": [now - 5 * NS, now - status.STALE_HEARTBEAT_NS - 1, now - NS],
        }
    )
    assert status.watching(cov, now)["host"].tolist() == ["live"]
