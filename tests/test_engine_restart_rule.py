"""The engine-restart rule on events recorded from a real engine restart
(tests/data/engine_restart/events.jsonl: four containers that exit 0 on SIGTERM, policies
always, unless-stopped, on-failure and no; dockerd stopped with SIGTERM and started again), and
the collector's judgement of a replay. Pure: no engine, no database."""

from __future__ import annotations

import json
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import pandas as pd
import pytest

from docktally.analytics.failures import find_failures
from docktally.analytics.incidents import group_incidents
from docktally.analytics.model import (
    COVERAGE_COLUMNS,
    ENGINE_RESTART_COLUMNS,
    EVENT_COLUMNS,
    FACT_COLUMNS,
    MAINTENANCE_COLUMNS,
    History,
    Window,
)
from docktally.analytics.report import build_report
from docktally.collector.normalize import facts_from_inspect, normalize_event
from docktally.collector.runner import ENGINE_EVENT_BUFFER, _judge_replay
from docktally.collector.storeview import PreviousCoverage
from docktally.reports.jsonout import report_document
from docktally.timespec import parse_rfc3339_ns

DATA = Path(__file__).parent / "data" / "engine_restart"
NS = 1_000_000_000
HOST = "h"
PAYLOADS = [json.loads(ln) for ln in (DATA / "events.jsonl").read_text().splitlines()]
INSPECTS = {i["Name"].lstrip("/"): i for i in json.loads((DATA / "inspect.json").read_text())}
ROWS = [r for r in (normalize_event(p, host=HOST, source="stream") for p in PAYLOADS) if r]
# The old engine's events end with its last `stop`; the rest is the new engine's replay.
_LAST_OLD = max(i for i, r in enumerate(ROWS) if r["action"] == "stop")
OLD_END_NS = int(ROWS[_LAST_OLD]["time_ns"])
STREAM_END_NS = OLD_END_NS + 50_000_000  # the stream ends a moment after the last event
BACK_NS = min(int(p["timeNano"]) for p in PAYLOADS if int(p["timeNano"]) > OLD_END_NS)
START_NS = int(ROWS[0]["time_ns"]) - NS
END_NS = BACK_NS + 60 * NS
WINDOW = Window(START_NS, END_NS)


def state_ns(name: str, field: str) -> int:
    value = parse_rfc3339_ns(INSPECTS[name]["State"][field])
    assert value is not None
    return value


def history(
    rows: list[dict[str, Any]] = ROWS,
    restarts: Sequence[tuple[int, int, bool]] = (),
    coverage: list[tuple[int, int]] | None = None,
    stop_timeout_s: int | None = None,
) -> History:
    ev = pd.DataFrame.from_records(rows, columns=EVENT_COLUMNS)
    ev = ev.sort_values(["host", "container_id", "time_ns"], kind="stable").reset_index(drop=True)
    ev["exit_code"] = ev["exit_code"].astype("Int64")
    ev["signal"] = ev["signal"].astype("Int64")
    facts = pd.DataFrame.from_records(
        [facts_from_inspect(i, host=HOST, observed_ns=START_NS) for i in INSPECTS.values()],
        columns=FACT_COLUMNS,
    )
    if stop_timeout_s is not None:
        facts["stop_timeout_s"] = stop_timeout_s
    facts["stop_timeout_s"] = facts["stop_timeout_s"].astype("Int64")
    cov = coverage if coverage is not None else [(START_NS, STREAM_END_NS), (BACK_NS, END_NS)]
    return History(
        events=ev,
        facts=facts,
        coverage=pd.DataFrame(
            [(HOST, s, e, "collector") for s, e in cov], columns=COVERAGE_COLUMNS
        ),
        maintenance=pd.DataFrame(columns=MAINTENANCE_COLUMNS),
        engine_restarts=pd.DataFrame(
            [(HOST, s, e, w) for s, e, w in restarts], columns=ENGINE_RESTART_COLUMNS
        ),
    )


WATCHED = [(STREAM_END_NS, BACK_NS, True)]


def groups(h: History) -> dict[str, dict[str, Any]]:
    rep = report_document(build_report(h, WINDOW))
    return {g["key"]["container"]: g for g in rep["groups"]}


# --- delivered live -----------------------------------------------------------------------------
def test_recorded_live_restart_is_one_engine_restart_failure_each_down_as_inspect_says() -> None:
    h = history(restarts=WATCHED)
    f = find_failures(h, WINDOW).set_index("name")
    assert sorted(f.index) == ["always", "never", "onfail", "unless"]
    assert set(f["cause"]) == {"engine_restart"}
    for name in ("always", "unless"):
        want_s = (state_ns(name, "StartedAt") - state_ns(name, "FinishedAt")) / NS
        assert f.loc[name, "ttr_s"] == pytest.approx(want_s, abs=1.0)
    assert f.loc["never", "recovered_ns"] is pd.NA and f.loc["onfail", "recovered_ns"] is pd.NA
    g = groups(h)
    for name in ("never", "onfail"):
        # Down from the engine's shutdown to the end: the stop after the die is not planned.
        want_s = (END_NS - state_ns(name, "FinishedAt")) / NS
        assert g[name]["downtime_s"] == pytest.approx(want_s, abs=1.0)
    for name, grp in g.items():
        assert grp["failures"] == 1, name
        assert grp["unknown_s"] == 0, name  # the engine's downtime is known time
        assert grp["restarts"] == (1 if name in ("always", "unless") else 0)


def test_the_same_events_without_an_engine_restart_are_planned_stops() -> None:
    """A reconnect whose replay reached back (no gap): kill 15, die, stop is a `docker stop`."""
    h = history(coverage=[(START_NS, END_NS)])
    assert find_failures(h, WINDOW).empty
    for name, grp in groups(h).items():
        assert grp["downtime_s"] == 0 and grp["unknown_s"] == 0, name


def test_a_restart_nobody_watched_does_not_turn_earlier_stops_into_failures() -> None:
    """The collector was stopped (its coverage ended 'stopped'), then the engine restarted: the
    stops seconds before the collector stopped were a person's, and the gap is not known."""
    h = history(restarts=[(STREAM_END_NS, BACK_NS, False)])
    assert find_failures(h, WINDOW).empty
    assert all(g["unknown_s"] > 0 for g in groups(h).values())


def test_stops_longer_before_the_engine_stop_than_the_grace_stay_planned() -> None:
    late = [(STREAM_END_NS + 16 * NS, BACK_NS + 16 * NS, True)]  # default grace: 10 s + 5 s
    assert find_failures(history(restarts=late), WINDOW).empty
    # ... unless the container's own stop timeout makes the engine wait longer for it.
    f = find_failures(history(restarts=late, stop_timeout_s=30), WINDOW)
    assert len(f) == 4 and set(f["cause"]) == {"engine_restart"}


def test_inferred_dies_of_a_restart_are_failures_whatever_the_exit_code() -> None:
    """The inferred path: the collector saw no die; inspect's FinishedAt with the hint."""
    rows = [r for r in ROWS[: _LAST_OLD + 1] if r["kind"] not in ("kill", "die", "stop")]
    for name in INSPECTS:
        ins = INSPECTS[name]
        base = {**next(r for r in ROWS if r["name"] == name), "raw": None}
        rows.append(
            {
                **base,
                "time_ns": state_ns(name, "FinishedAt"),
                "action": "die",
                "kind": "die",
                "exit_code": ins["State"]["ExitCode"],
                "inferred": True,
                "cause_hint": "engine_restart",
            }
        )
    rows += ROWS[_LAST_OLD + 1 :]
    h = history(rows=rows, restarts=[(START_NS + NS, BACK_NS, False)])
    f = find_failures(h, WINDOW)
    assert len(f) == 4 and set(f["cause"]) == {"engine_restart"}


# --- incidents ----------------------------------------------------------------------------------
def test_one_incident_per_engine_restart_with_what_became_of_each_container() -> None:
    h = history(restarts=WATCHED)
    inc = group_incidents(find_failures(h, WINDOW), WINDOW, engine_restarts=h.engine_restarts)
    (row,) = inc.to_dict("records")
    assert row["scope"] == "engine" and row["key"] == "engine restart"
    assert row["failures"] == 4 and row["restarts"] == 2 and row["open"]
    eng = row["engine_restart"]
    assert eng["watched"] and eng["stream_end_ns"] == STREAM_END_NS
    assert eng["back_ns"] == BACK_NS
    assert eng["stopped_ns"] == min(int(r["time_ns"]) for r in ROWS if r["kind"] == "die")
    assert eng["came_back"] == ["always", "unless"]
    assert eng["stayed_down"] == ["never", "onfail"]
    assert eng["started_by_hand"] == []
    outcomes = {m["name"]: m["outcome"] for m in eng["containers"]}
    assert outcomes == {
        "always": "came_back",
        "unless": "came_back",
        "never": "stayed_down",
        "onfail": "stayed_down",
    }


def test_two_restarts_on_one_host_are_two_incidents() -> None:
    h = history(restarts=WATCHED)
    f = find_failures(h, WINDOW)
    later = f.assign(time_ns=f["time_ns"] + 600 * NS, recovered_ns=f["recovered_ns"] + 600 * NS)
    both = pd.concat([f, later], ignore_index=True)
    spans = pd.DataFrame(
        [
            (HOST, STREAM_END_NS, BACK_NS, True),
            (HOST, STREAM_END_NS + 600 * NS, BACK_NS + 600 * NS, True),
        ],
        columns=ENGINE_RESTART_COLUMNS,
    )
    wide = Window(START_NS, END_NS + 700 * NS)
    inc = group_incidents(both, wide, engine_restarts=spans)
    assert list(inc["failures"]) == [4, 4]
    assert len(set(inc["id"])) == 2


# --- the collector's judgement of a replay ------------------------------------------------------
CP = {"time_ns": OLD_END_NS, "container_id": ROWS[_LAST_OLD]["container_id"], "action": "stop"}
OLD = [p for p in PAYLOADS if int(p["timeNano"]) <= OLD_END_NS]
NEW = [p for p in PAYLOADS if int(p["timeNano"]) > OLD_END_NS]
LOST = PreviousCoverage(end_ns=STREAM_END_NS, lost_stream=True)
STOPPED = PreviousCoverage(end_ns=STREAM_END_NS, lost_stream=False)
UNTIL = BACK_NS + 5 * NS


def test_a_replay_that_returns_the_checkpoint_is_a_reconnect() -> None:
    assert _judge_replay([OLD[-1], *NEW], CP, LOST, UNTIL) is None  # `since` is inclusive


def test_a_short_replay_without_the_checkpoint_is_a_restarted_engine() -> None:
    gap = _judge_replay(NEW, CP, LOST, UNTIL)
    assert gap is not None and gap.reason == "engine_restart"
    # From the stream's end (the collector watched) to the new engine's first event.
    assert (gap.start_ns, gap.end_ns) == (STREAM_END_NS, BACK_NS)
    unwatched = _judge_replay(NEW, CP, STOPPED, UNTIL)
    assert unwatched is not None and unwatched.start_ns == max(OLD_END_NS, STREAM_END_NS)
    empty = _judge_replay([], CP, LOST, UNTIL)
    assert empty is not None and empty.end_ns == UNTIL


def test_network_events_count_toward_the_engine_buffer() -> None:
    """256 events, most of them network ones, without the checkpoint: an overflow, even though
    fewer than 256 are about containers."""
    net = next(p for p in PAYLOADS if p["Type"] == "network")
    replay = [dict(net, timeNano=OLD_END_NS + i) for i in range(ENGINE_EVENT_BUFFER - len(NEW))]
    replay += NEW
    assert sum(1 for p in replay if p["Type"] == "container") < ENGINE_EVENT_BUFFER
    gap = _judge_replay(replay, CP, LOST, UNTIL)
    assert gap is not None and gap.reason == "replay_overflow"
    assert gap.end_ns == UNTIL


def test_the_postmortem_names_the_engine_restart() -> None:
    from docktally.reports.postmortem import build_postmortem, render

    h = history(restarts=WATCHED)
    failures = find_failures(h, WINDOW)
    inc = group_incidents(failures, WINDOW, engine_restarts=h.engine_restarts)
    pm = build_postmortem(h.events, failures, inc, inc.iloc[0], WINDOW, [])
    md = render(pm, "markdown")
    assert md.startswith(f"# Postmortem: engine restart on {HOST} (inc-")
    assert f"The Docker engine on {HOST} restarted and took 4 running container(s)" in md
    assert "## Containers the engine restart took down" in md
    assert "| Came back by themselves (restart policy) | always, unless |" in md
    assert "| Stayed down | never, onfail |" in md
    assert md.count("cause: engine\\_restart") == 4  # Markdown escapes the underscore
    assert md.count("reported by the engine's shutdown") == 4
    assert "user_stop" not in md
    html = render(pm, "html")
    assert "<h1>Postmortem: engine restart on h" in html
    assert "Containers the engine restart took down" in html


def test_an_engine_restart_incident_ends_when_what_stayed_down_is_removed() -> None:
    from docktally.analytics.intervals import build_intervals

    gone_ns = BACK_NS + 10 * NS
    removals = [
        {**next(r for r in ROWS if r["name"] == n), "time_ns": gone_ns, "action": "destroy"}
        for n in ("never", "onfail")
    ]
    for r in removals:
        r["kind"] = "destroy"
    h = history(rows=[*ROWS, *removals], restarts=WATCHED)
    inc = group_incidents(
        find_failures(h, WINDOW),
        WINDOW,
        engine_restarts=h.engine_restarts,
        intervals=build_intervals(h, WINDOW),
    )
    (row,) = inc.to_dict("records")
    assert not row["open"] and row["end_ns"] == gone_ns
    assert row["engine_restart"]["stayed_down"] == ["never", "onfail"]
