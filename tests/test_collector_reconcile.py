"""Reconciliation rules on inspect payloads recorded from a real engine (tests/data/inspect)."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest

from docktally.collector.reconcile import SLACK_NS, Known, infer_transitions
from docktally.timespec import parse_rfc3339_ns

DATA = Path(__file__).parent / "data" / "inspect"
FAR = 2**62


def load(name: str) -> dict[str, Any]:
    return dict(json.loads((DATA / f"{name}.json").read_text()))


def known_from(events: list[dict[str, Any]], restart_count: int | None = None) -> Known:
    """What a collector that received `events` (and nothing after) has stored."""
    return Known(
        last_before_gap_ns=max((e["timeNano"] for e in events), default=None),
        starts_ns=tuple(e["timeNano"] for e in events if e["Action"] == "start"),
        dies_ns=tuple(e["timeNano"] for e in events if e["Action"] == "die"),
        restart_count=restart_count,
    )


def state_ns(ins: dict[str, Any], field: str) -> int:
    value = parse_rfc3339_ns(ins["State"][field])
    assert value is not None
    return value


def summary(rows: list[dict[str, Any]]) -> list[tuple[str, int, int | None, str | None]]:
    return [(r["action"], r["time_ns"], r["exit_code"], r["cause_hint"]) for r in rows]


def test_engine_restart_always_container_die_at_finishedat_real_start_kept() -> None:
    d = load("always_after_engine_restart")
    ins = d["inspect"]
    # The replay delivered the new daemon's `start`; the `die` was never delivered.
    k = known_from(d["events"])
    k = Known(
        last_before_gap_ns=k.last_before_gap_ns,
        starts_ns=(*k.starts_ns, *(e["timeNano"] for e in d["events_after_restart"])),
    )
    rows = infer_transitions(ins, k, host="h", horizon_ns=FAR, gap_reason="engine_restart")
    assert summary(rows) == [("die", state_ns(ins, "FinishedAt"), None, "engine_restart")]
    row = rows[0]
    assert row["inferred"] is True and row["source"] == "inspect" and row["kind"] == "die"
    assert row["container_id"] == ins["Id"] and row["name"] == "always"
    evidence = json.loads(row["evidence"])
    assert evidence["FinishedAt"] == ins["State"]["FinishedAt"]
    assert evidence["RestartCount"] == 0


def test_engine_restart_always_container_without_the_start_event_infers_both_exactly() -> None:
    d = load("always_after_engine_restart")
    ins = d["inspect"]
    rows = infer_transitions(
        ins, known_from(d["events"]), host="h", horizon_ns=FAR, gap_reason="engine_restart"
    )
    assert summary(rows) == [
        ("die", state_ns(ins, "FinishedAt"), None, "engine_restart"),
        ("start", state_ns(ins, "StartedAt"), None, "engine_restart"),
    ]


def test_engine_restart_no_policy_container_dies_at_finishedat_with_its_exit_code() -> None:
    d = load("no_after_engine_restart")
    ins = d["inspect"]
    rows = infer_transitions(
        ins, known_from(d["events"]), host="h", horizon_ns=FAR, gap_reason="engine_restart"
    )
    assert summary(rows) == [("die", state_ns(ins, "FinishedAt"), 137, "engine_restart")]


def test_oom_killed_container_never_seen_gets_its_die_hinted_oom() -> None:
    ins = load("oom_killed")["inspect"]
    assert ins["State"]["OOMKilled"] is True
    rows = infer_transitions(ins, Known(), host="h", horizon_ns=FAR, gap_reason=None)
    assert summary(rows) == [("die", state_ns(ins, "FinishedAt"), 137, "oom")]


@pytest.mark.parametrize(
    "name", ["oom_killed", "exited_crash", "onfailure_exhausted", "running_always"]
)
def test_nothing_is_inferred_when_every_event_was_stored(name: str) -> None:
    d = load(name)
    rows = infer_transitions(
        d["inspect"], known_from(d["events"]), host="h", horizon_ns=FAR, gap_reason="engine_restart"
    )
    assert rows == []


def test_overflow_during_a_crash_loop_infers_the_last_run_and_counts_restarts() -> None:
    d = load("onfailure_exhausted")
    ins = d["inspect"]
    # The database saw only create and the first start; the rest fell out of the buffer.
    seen = [e for e in d["events"] if e["Action"] in ("create",)] + [
        next(e for e in d["events"] if e["Action"] == "start")
    ]
    rows = infer_transitions(
        ins,
        known_from(seen, restart_count=0),
        host="h",
        horizon_ns=FAR,
        gap_reason="replay_overflow",
    )
    assert summary(rows) == [
        ("start", state_ns(ins, "StartedAt"), None, "replay_overflow"),
        ("die", state_ns(ins, "FinishedAt"), 2, "replay_overflow"),
    ]
    assert json.loads(rows[0]["evidence"])["RestartCountDelta"] == 2


def test_never_seen_running_container_gets_only_its_start() -> None:
    ins = load("running_always")["inspect"]
    rows = infer_transitions(ins, Known(), host="h", horizon_ns=FAR, gap_reason=None)
    assert summary(rows) == [("start", state_ns(ins, "StartedAt"), None, None)]


def test_never_seen_exited_container_gets_only_its_die() -> None:
    ins = load("exited_crash")["inspect"]
    rows = infer_transitions(ins, Known(), host="h", horizon_ns=FAR, gap_reason=None)
    assert summary(rows) == [("die", state_ns(ins, "FinishedAt"), 3, None)]


def test_created_but_never_started_container_has_nothing_to_infer() -> None:
    ins = load("created")["inspect"]
    assert infer_transitions(ins, Known(), host="h", horizon_ns=FAR, gap_reason=None) == []


def test_transitions_after_the_horizon_are_left_to_the_live_stream() -> None:
    d = load("always_after_engine_restart")
    ins = d["inspect"]
    horizon = state_ns(ins, "StartedAt") - 1
    rows = infer_transitions(
        ins, known_from(d["events"]), host="h", horizon_ns=horizon, gap_reason="engine_restart"
    )
    assert [r["action"] for r in rows] == ["die"]


def test_transitions_older_than_what_the_database_knew_are_not_inferred() -> None:
    ins = load("exited_crash")["inspect"]
    later = state_ns(ins, "FinishedAt") + 2 * SLACK_NS
    rows = infer_transitions(
        ins, Known(last_before_gap_ns=later), host="h", horizon_ns=FAR, gap_reason="replay_overflow"
    )
    assert rows == []
