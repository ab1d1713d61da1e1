"""The store's engine-restart frame on SQLite and PostgreSQL: which engine_restart gaps the
collector watched (its stream ended under it with containers dying just before) and which not."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from sqlalchemy import Engine, select

from docktally.collector import storeview
from docktally.collector.normalize import normalize_event
from docktally.store import db, reads, writes
from docktally.store.schema import coverage, gaps

NS = 1_000_000_000
URL = "unix:///engine.sock"
EVENTS = Path(__file__).parent / "data" / "engine_restart" / "events.jsonl"
PAYLOADS = [json.loads(ln) for ln in EVENTS.read_text().splitlines()]


def stored(store: Engine, host: str, closed: str, *, deaths: bool) -> tuple[int, int]:
    """The recorded restart's old-engine events (with or without its deaths), a coverage row
    closed `closed` a moment after them, and an engine_restart gap from there. (start, end)."""
    rows = [r for r in (normalize_event(p, host=host, source="stream") for p in PAYLOADS) if r]
    last_old = max(i for i, r in enumerate(rows) if r["action"] == "stop")
    old = [r for r in rows[: last_old + 1] if deaths or r["kind"] not in ("kill", "die", "stop")]
    stream_end = int(rows[last_old]["time_ns"]) + NS // 20
    back = int(rows[last_old + 1]["time_ns"])
    with store.begin() as conn:
        writes.insert_events(conn, old)
        cov = writes.open_coverage(
            conn,
            host=host,
            engine_url=URL,
            engine_id=None,
            source="collector",
            start_ns=int(rows[0]["time_ns"]) - NS,
        )
        writes.close_coverage(conn, cov, stream_end, closed)
        writes.record_gap(
            conn,
            host=host,
            engine_url=URL,
            start_ns=stream_end,
            end_ns=back,
            reason="engine_restart",
            events_replayed=3,
            detail="test",
        )
    return stream_end, back


@pytest.mark.parametrize(
    ("closed", "deaths", "watched"),
    [
        ("disconnected", True, True),  # the engine went down under the collector
        ("engine_silent", True, True),
        ("disconnected", False, False),  # the connection was cut first: no deaths arrived
        ("stopped", True, False),  # a person stopped the collector after stopping containers
    ],
)
def test_which_engine_restarts_were_watched(
    store: Engine, closed: str, deaths: bool, watched: bool
) -> None:
    start, end = stored(store, "h", closed, deaths=deaths)
    with db.open_reader(store) as reader:
        history = reads.load_history(reader, start - 60 * NS, end + 60 * NS)
    rows = history.engine_restarts.to_dict("records")
    assert rows == [{"host": "h", "start_ns": start, "end_ns": end, "watched": watched}]


def test_only_engine_restart_gaps_in_the_window_are_read(store: Engine) -> None:
    start, end = stored(store, "h", "disconnected", deaths=True)
    with store.begin() as conn:
        writes.record_gap(
            conn,
            host="h",
            engine_url=URL,
            start_ns=end + 10 * NS,
            end_ns=end + 20 * NS,
            reason="replay_overflow",
            events_replayed=256,
            detail="test",
        )
    with db.open_reader(store) as reader:
        inside = reads.load_history(reader, start - 60 * NS, end + 60 * NS).engine_restarts
        later = reads.load_history(reader, end + 7200 * NS, end + 9000 * NS).engine_restarts
    assert list(inside["start_ns"]) == [start]
    assert later.empty


@pytest.mark.parametrize("gap_ends_later", [True, False])
def test_an_engine_restart_gap_begins_earlier(store: Engine, gap_ends_later: bool) -> None:
    """What the collector does when inspect proves deaths the cut stream never delivered: the
    gap and the coverage before it begin at the first, the newest event received is found,
    and a gap that does not end after its start (the collector noticed only after the engine
    was back: the next coverage begins where the last ended) is left alone."""
    start, _ = stored(store, "h", "disconnected", deaths=False)
    received = [r for r in (normalize_event(p, host="h", source="stream") for p in PAYLOADS) if r]
    old = [r for r in received if int(r["time_ns"]) < start]
    newest = max(int(r["time_ns"]) for r in old if r["kind"] not in ("kill", "die", "stop"))
    died = start - NS // 50
    with store.begin() as conn:
        if not gap_ends_later:
            conn.execute(gaps.update().values(end_ns=start))
        assert storeview.last_received(conn, host="h", at_ns=start) == newest
        assert storeview.last_received(conn, host="other", at_ns=start) is None
        moved = writes.begin_engine_restart_earlier(
            conn, host="h", engine_url=URL, gap_start_ns=start, new_start_ns=died
        )
    assert moved == gap_ends_later
    want = died if gap_ends_later else start
    with store.connect() as conn:
        assert [r.start_ns for r in conn.execute(select(gaps))] == [want]
        assert [(r.end_ns, r.heartbeat_ns) for r in conn.execute(select(coverage))] == [
            (want, want)
        ]
