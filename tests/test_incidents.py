"""Incident grouping, as tables: failures (hand-built FAILURE_COLUMNS frames) -> incidents."""

from __future__ import annotations

from typing import Any

import pandas as pd
import pytest

from docktally.analytics.incidents import (
    INCIDENT_COLUMNS,
    filter_incidents,
    find_incident,
    group_incidents,
    incident_failures,
    incident_id,
)
from docktally.analytics.model import FAILURE_COLUMNS, Window

S = 1_000_000_000
T0 = 1_800_000_000 * S
WINDOW = Window(T0, T0 + 3600 * S)


def failure(
    at_s: float,
    ttr_s: float | None,
    *,
    cid: str = "c1",
    name: str | None = None,
    host: str = "h1",
    cause: str = "crash",
    code: int | None = 1,
    policy: str = "always",
    project: str | None = None,
    service: str | None = None,
) -> dict[str, Any]:
    t = T0 + int(at_s * S)
    return {
        "host": host,
        "container_id": cid,
        "name": name or f"name-{cid}",
        "image": "img",
        "compose_project": project,
        "compose_service": service,
        "policy": policy,
        "time_ns": t,
        "cause": cause,
        "exit_code": code,
        "inferred": False,
        "recovered_ns": None if ttr_s is None else t + int(ttr_s * S),
        "restarts": 0 if ttr_s is None or cause == "unhealthy" else 1,
        "ttr_s": ttr_s,
    }


def frame(rows: list[dict[str, Any]]) -> pd.DataFrame:
    df = pd.DataFrame.from_records(rows, columns=FAILURE_COLUMNS)
    df["exit_code"] = df["exit_code"].astype("Int64")
    df["recovered_ns"] = df["recovered_ns"].astype("Int64")
    return df


# (rows, stable_s, expected failures per incident, expected open flags)
GROUPING = [
    pytest.param([], 60, [], [], id="nothing"),
    pytest.param([failure(10, 1)], 60, [1], [False], id="one-failure"),
    pytest.param(
        [failure(10, 0.1), failure(11, 0.2), failure(13, 0.4), failure(15, 0.8)],
        60,
        [4],
        [False],
        id="crash-loop-is-one-incident",
    ),
    pytest.param(
        [failure(10, 1), failure(200, 1)], 60, [1, 1], [False, False], id="stable-gap-splits"
    ),
    pytest.param([failure(10, 1), failure(70.9, 1)], 60, [2], [False], id="up-59.9s-is-not-stable"),
    pytest.param([failure(10, 1), failure(71, 1)], 60, [1, 1], [False, False], id="up-60s-is"),
    pytest.param([failure(10, 1), failure(71, 1)], 120, [2], [False], id="stable-option"),
    pytest.param(
        [failure(10, 0.1), failure(12, 0.2), failure(14, None)],
        60,
        [3],
        [True],
        id="gave-up-is-open",
    ),
    pytest.param(
        [failure(10, 1, cid="a"), failure(11, 1, cid="b")],
        60,
        [1, 1],
        [False, False],
        id="two-containers-two-incidents",
    ),
    pytest.param(
        [failure(10, 1, host="h1"), failure(11, 1, host="h2")],
        60,
        [1, 1],
        [False, False],
        id="same-id-other-host",
    ),
]


@pytest.mark.parametrize(("rows", "stable_s", "sizes", "open_flags"), GROUPING)
def test_grouping(
    rows: list[dict[str, Any]], stable_s: float, sizes: list[int], open_flags: list[bool]
) -> None:
    inc = group_incidents(frame(rows), WINDOW, stable_s=stable_s)
    assert list(inc["failures"]) == sizes
    assert list(inc["open"]) == open_flags
    assert list(inc.columns) == INCIDENT_COLUMNS


def test_service_scope_joins_replacement_containers() -> None:
    rows = [
        failure(10, 5, cid="old", project="shop", service="web", cause="crash"),
        failure(20, 2, cid="new", project="shop", service="web", cause="oom", code=137),
    ]
    by_container = group_incidents(frame(rows), WINDOW, scope="container")
    by_service = group_incidents(frame(rows), WINDOW, scope="service")
    assert len(by_container) == 2
    assert len(by_service) == 1
    inc = by_service.iloc[0]
    assert inc["key"] == "shop/web"
    assert inc["container_ids"] == ["old", "new"]
    assert inc["causes"] == {"crash": 1, "oom": 1}


def test_incident_fields() -> None:
    rows = [failure(10, 0.5, code=3), failure(12, 1.0, code=3), failure(20, 2.0, code=137)]
    meanings = {3: "application error", 137: "SIGKILL"}
    inc = group_incidents(frame(rows), WINDOW, slo=0.999, exit_meaning=lambda c: meanings[c]).iloc[
        0
    ]
    assert inc["id"] == incident_id("h1", "container", "c1", T0 + 10 * S)
    assert inc["id"].startswith("inc-") and len(inc["id"]) == 14
    assert inc["start_ns"] == T0 + 10 * S
    assert inc["end_ns"] == T0 + 22 * S
    assert inc["downtime_s"] == pytest.approx(3.5)
    assert inc["time_to_recover_s"] == pytest.approx(12.0)
    assert inc["restarts"] == 3
    assert inc["crash_loop"]
    assert inc["exit_codes"] == {"3": 2, "137": 1}
    assert inc["exit_meanings"] == {"3": "application error", "137": "SIGKILL"}
    # budget: 0.1% of the SLO's 30 days = 2,592 s, whatever the window
    assert inc["slo_budget_spent_ratio"] == pytest.approx(3.5 / 2592)
    assert inc["key"] == "name-c1"


def test_ids_are_stable_across_runs_and_input_order() -> None:
    rows = [failure(10, 1, cid="a"), failure(11, 1, cid="b"), failure(500, 1, cid="a")]
    one = group_incidents(frame(rows), WINDOW)
    two = group_incidents(frame(list(reversed(rows))), WINDOW)
    assert list(one["id"]) == list(two["id"])
    assert len(set(one["id"])) == 3


def test_open_incident_downtime_runs_to_window_end() -> None:
    inc = group_incidents(frame([failure(3000, None)]), WINDOW).iloc[0]
    assert inc["open"]
    assert pd.isna(inc["end_ns"])
    assert inc["downtime_s"] == pytest.approx(600)
    assert inc["time_to_recover_s"] is None


def test_engine_restart_is_one_incident_per_host() -> None:
    rows = [
        failure(100, 10, cid="a", cause="engine_restart", code=None),
        failure(100.2, 10.5, cid="b", cause="engine_restart", code=None),
        failure(100.1, 10, cid="c", host="h2", cause="engine_restart", code=None),
        failure(1000, 1, cid="a"),
    ]
    inc = group_incidents(frame(rows), WINDOW)
    by_cid = {tuple(sorted(r["container_ids"])): r for _, r in inc.iterrows()}
    ab, c = by_cid[("a", "b")], by_cid[("c",)]
    assert ab["scope"] == c["scope"] == "engine"
    assert ab["failures"] == 2 and c["host"] == "h2"
    assert ab["overlapping"] == [] and c["overlapping"] == []
    late = inc[inc["start_ns"] == T0 + 1000 * S].iloc[0]
    assert late["scope"] == "container" and late["overlapping"] == []


def test_filters_and_lookup() -> None:
    rows = [
        failure(10, 1, cid="aaaa1", name="web"),
        failure(300, 1, cid="bbbb2", name="db", cause="oom", code=137),
        failure(600, 1, cid="cccc3", name="api", project="p", service="api"),
    ]
    failures = frame(rows)
    inc = group_incidents(failures, WINDOW)
    assert list(filter_incidents(inc, container="web")["names"]) == [["web"]]
    assert list(filter_incidents(inc, container="bbbb")["names"]) == [["db"]]
    assert list(filter_incidents(inc, cause="oom")["names"]) == [["db"]]
    assert list(filter_incidents(inc, service="p/api")["names"]) == [["api"]]
    assert list(filter_incidents(inc, service="api")["names"]) == [["api"]]
    iid = inc.iloc[1]["id"]
    found = find_incident(inc, iid)
    assert found is not None and found["id"] == iid
    assert find_incident(inc, iid[:8] + "zz") is None
    assert find_incident(inc, "inc-") is None  # ambiguous prefix
    members = incident_failures(failures, found)
    assert list(members["container_id"]) == ["bbbb2"]


def test_table_counts_overlapping_incidents() -> None:
    from docktally.reports.postmortem_incidents import render_incidents

    rows = [failure(100, 10, cid=cid, cause="crash", code=1) for cid in ("a", "b", "c")]
    table = render_incidents(group_incidents(frame(rows), WINDOW), WINDOW, "table")
    header, *lines = table.splitlines()
    assert header.split()[-1] == "Overlaps"
    assert [line.split()[-1] for line in lines] == ["2", "2", "2"]


def test_open_incident_downtime_stops_where_the_container_stopped_being_down() -> None:
    # Never recovered; removed 100 s after the failure, and nothing is known after that.
    rows = [failure(600, None, cid="c1")]
    iv = pd.DataFrame(
        [
            ("h1", "c1", T0, T0 + 600 * S, "up", None),
            ("h1", "c1", T0 + 600 * S, T0 + 700 * S, "down", "crash"),
            ("h1", "c1", T0 + 700 * S, T0 + 3600 * S, "planned", "removed"),
        ],
        columns=["host", "container_id", "start_ns", "end_ns", "state", "cause"],
    )
    without = group_incidents(frame(rows), WINDOW).iloc[0]
    bounded = group_incidents(frame(rows), WINDOW, intervals=iv).iloc[0]
    assert without["downtime_s"] == pytest.approx(3000)
    assert bounded["downtime_s"] == pytest.approx(100)
    # The removal ends it: not "still down" forever, and not a recovery.
    assert not bounded["open"] and bounded["end_ns"] == T0 + 700 * S
    assert bounded["time_to_recover_s"] is None


# --- through the timeline: events -> failures -> incidents (and the postmortem) -----------------


def _incidents_of(h: Any, w: Window, scope: str = "container") -> tuple[pd.DataFrame, Any]:
    from docktally.analytics.failures import failures_from_timeline
    from docktally.analytics.intervals import intervals_from_timeline
    from docktally.analytics.timeline import build_timeline

    tl = build_timeline(h, w)
    f = failures_from_timeline(tl)
    return f, group_incidents(f, w, scope=scope, intervals=intervals_from_timeline(tl))


def test_an_unhealthy_spell_that_ends_by_itself_is_no_restart() -> None:
    from docktally.analytics.report import build_report
    from docktally.reports.postmortem import build_postmortem, render_markdown
    from tests.sample import history_from_rows, ns

    h = history_from_rows(
        events=[
            ("c", -10, "start"),
            ("c", -5, "health_status: healthy"),
            ("c", 100, "health_status: unhealthy"),
            ("c", 130, "health_status: healthy"),
            ("c", 300, "die", {"exit_code": 1}),
            ("c", 301, "start"),
            ("c", 305, "health_status: healthy"),
        ],
        facts=[("c", -20, {"has_healthcheck": True, "restart_policy": "always"})],
        coverage=[(-50, 1000)],
    )
    w = Window(ns(0), ns(1000))
    f, inc = _incidents_of(h, w)
    assert list(f["restarts"]) == [0, 1]
    assert list(inc["restarts"]) == [0, 1]
    assert build_report(h, w).groups["restarts"].sum() == 1
    row = inc.iloc[0]
    pm = build_postmortem(h.events, f, inc, row, w, [])
    assert pm.incident["restarts"] == 0
    assert "| Restarts | 0 |" in render_markdown(pm)


def test_a_removed_containers_incident_ends_at_its_removal() -> None:
    from tests.sample import history_from_rows, ns

    h = history_from_rows(
        events=[("c", -10, "start"), ("c", 100, "die", {"exit_code": 1}), ("c", 400, "destroy")],
        coverage=[(-50, 1000)],
    )
    w = Window(ns(0), ns(1000))
    _, inc = _incidents_of(h, w)
    row = inc.iloc[0]
    assert not row["open"] and row["end_ns"] == ns(400)
    assert row["downtime_s"] == pytest.approx(300)
    assert row["restarts"] == 0 and row["time_to_recover_s"] is None


def test_a_persons_stop_after_a_failure_ends_the_incident() -> None:
    # A crash under `always`, then `docker stop` during the back-off: out of service on purpose,
    # not "still down".
    from tests.sample import history_from_rows, ns

    h = history_from_rows(
        events=[
            ("c", -10, "start"),
            ("c", 100, "die", {"exit_code": 2}),
            ("c", 102, "kill", {"signal": 15}),
            ("c", 102.1, "stop"),
        ],
        coverage=[(-50, 1000)],
    )
    w = Window(ns(0), ns(1000))
    _, inc = _incidents_of(h, w)
    row = inc.iloc[0]
    assert not row["open"] and row["end_ns"] == ns(102.1)
    assert row["downtime_s"] == pytest.approx(2.1)


def test_incident_end_keeps_nanoseconds() -> None:
    # An open incident beside a recovered one: a column of ints and nulls went through float.
    end = T0 + 21 * S + 331_209_917  # a float64 keeps only 256 ns steps here
    f = frame([failure(10, None, cid="a"), failure(20, 1, cid="b")])
    f["recovered_ns"] = pd.array([None, end], dtype="Int64")
    inc = group_incidents(f, Window(T0, end + S))
    ends = {tuple(r["container_ids"]): r["end_ns"] for _, r in inc.iterrows()}
    assert ends[("b",)] == end
    assert pd.isna(ends[("a",)])
    from docktally.reports.postmortem_incidents import incident_dicts

    assert {d["end_ns"] for d in incident_dicts(inc)} == {None, end}


# --- one definition of a service failure: report --by service and incidents --scope service ----


def _two_replicas(second_down_at: float | None) -> Any:
    from tests.sample import history_from_rows

    api = {"compose_project": "shop", "compose_service": "api"}
    events: list[tuple[Any, ...]] = [
        ("api-1", -10, "start", api),
        ("api-2", -10, "start", api),
    ]
    # api-1 crash-loops: four failures, and it stays down after the last.
    for t in (100, 160, 220, 280):
        events.append(("api-1", t, "die", {"exit_code": 1, **api}))
        if t < 280:
            events.append(("api-1", t + 30, "start", api))
    if second_down_at is not None:
        events.append(("api-2", second_down_at, "die", {"exit_code": 2, **api}))
        events.append(("api-2", second_down_at + 50, "start", api))
    return history_from_rows(events=events, coverage=[(-50, 1000)])


@pytest.mark.parametrize("second_down_at", [None, 600.0])
def test_service_incidents_count_what_report_by_service_counts(
    second_down_at: float | None,
) -> None:
    from docktally.analytics.incident_scopes import incidents_from_timeline
    from docktally.analytics.report import build_report
    from docktally.analytics.timeline import build_timeline
    from tests.sample import ns

    h = _two_replicas(second_down_at)
    w = Window(ns(0), ns(1000))
    svc = build_report(h, w, by="service").groups.iloc[0]
    inc = incidents_from_timeline(build_timeline(h, w), scope="service")
    assert int(inc["failures"].sum()) == svc["failures"]
    assert float(inc["downtime_s"].sum()) == pytest.approx(svc["downtime_s"])
    assert list(inc["key"]) == ["shop/api"] * len(inc)
    if second_down_at is None:
        # One replica of two crashing is not a service failure.
        assert svc["failures"] == 0 and svc["availability"] == 1.0
        assert inc.empty
    else:
        assert svc["failures"] == 1 and svc["downtime_s"] == pytest.approx(50)
        row = inc.iloc[0]
        assert (row["failures"], row["restarts"], row["open"]) == (1, 1, False)
        assert row["start_ns"] == ns(600) and row["end_ns"] == ns(650)
        assert row["container_ids"] == [
            h.events["container_id"][h.events["name"] == "api-2"].iloc[0]
        ]
    by_container = incidents_from_timeline(build_timeline(h, w), scope="container")
    assert int(by_container["failures"].sum()) == 4 + (second_down_at is not None)


def test_incidents_cli_scope_service_agrees_with_report(
    tmp_path: Any, capsys: pytest.CaptureFixture[str]
) -> None:
    import copy
    import json

    from docktally.cli import main
    from docktally.timespec import ns_to_iso
    from tests.data import recorded

    # The recorded crash loop (compose shop/web), and a second replica of shop/web that stays up.
    loop = recorded.container_payloads("crash_loop")
    other = []
    for p in loop[:2]:  # its create and first start
        q = copy.deepcopy(p)
        q["id"] = q["Actor"]["ID"] = "f" * 64
        q["Actor"]["Attributes"]["name"] = "steady"
        other.append(q)
    f = tmp_path / "events.jsonl"
    f.write_text("".join(json.dumps(p) + "\n" for p in [*loop, *other]))
    db = str(tmp_path / "s.db")
    assert main(["import", "--db", db, "--host", "lab", str(f)]) == 0
    t = [int(p["timeNano"]) for p in loop]
    win = ["--since", ns_to_iso(min(t) - 10**9), "--until", ns_to_iso(max(t) + 10**9)]
    capsys.readouterr()
    assert main(["report", "--db", db, *win, "--by", "service", "--format", "json"]) == 0
    (web,) = json.loads(capsys.readouterr().out)["groups"]
    assert web["key"]["service"] == "shop/web" and web["failures"] == 0
    assert main(["incidents", "--db", db, *win, "--scope", "service", "--format", "json"]) == 0
    assert json.loads(capsys.readouterr().out)["incidents"] == []
    assert main(["incidents", "--db", db, *win, "--format", "json"]) == 0
    (crashy,) = json.loads(capsys.readouterr().out)["incidents"]
    assert crashy["key"] == "crashy" and crashy["failures"] == 4
