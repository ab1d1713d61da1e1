"""The spool keeps what the database did not take, in order, in memory then in a 0600 file,
across a restart; the replay judge names why nobody read when the buffer overflowed; and a
session that started while the database was away is judged, named and opened when its start
is written."""

from __future__ import annotations

import stat
from collections.abc import Iterator
from pathlib import Path

import pytest
from sqlalchemy import Engine, select

from docktally.collector.identity import engine_key
from docktally.collector.normalize import normalize_event
from docktally.collector.runner import ENGINE_EVENT_BUFFER, Collector, _judge_replay
from docktally.collector.storeview import PreviousCoverage
from docktally.store import db, writes
from docktally.store.schema import coverage, events, gaps
from docktally.store.spool import Spool, default_spool_path


def batch(i: int, n: int = 3) -> dict[str, object]:
    return {"host": "h", "rows": [{"i": i, "j": j} for j in range(n)], "checkpoint": True}


def drain(spool: Spool) -> list[object]:
    out = []
    while (item := spool.peek()) is not None:
        out.append(item["rows"][0]["i"] if "rows" in item else item["close"])
        spool.pop()
    return out


def test_memory_then_file_in_order_and_the_file_is_0600(tmp_path: Path) -> None:
    path = tmp_path / "sub" / "s.sqlite"
    spool = Spool(path, memory_rows=5)
    spool.push(batch(0))
    assert not path.exists()  # within the bound: memory only
    for i in range(1, 6):
        spool.push(batch(i))
    assert spool.in_memory == 1 and len(spool) == 6
    assert stat.S_IMODE(path.stat().st_mode) == 0o600
    spool.pop()  # the memory head is written: new items still follow the file's
    spool.push(batch(6))
    assert drain(spool) == [1, 2, 3, 4, 5, 6]
    assert len(spool) == 0


def test_close_keeps_memory_items_ahead_of_the_file_for_the_next_start(tmp_path: Path) -> None:
    path = tmp_path / "s.sqlite"
    spool = Spool(path, memory_rows=4)
    for i in range(4):
        spool.push(batch(i, 2))
    spool.push({"close": [7, 123, "stopped"]})
    assert spool.in_memory == 2
    spool.close()
    again = Spool(path)
    assert len(again) == 5
    assert drain(again) == [0, 1, 2, 3, [7, 123, "stopped"]]
    again.close()
    assert len(Spool(path)) == 0


def test_events_counts_the_rows_waiting_in_memory_and_in_the_file(tmp_path: Path) -> None:
    path = tmp_path / "s.sqlite"
    spool = Spool(path, memory_rows=4)
    spool.push(batch(0, 2))
    spool.push({"close": [7, 123, "stopped"]})  # no event in it
    spool.push(batch(1, 3))  # past the bound: the file
    spool.push(batch(2, 5))
    assert spool.in_memory == 2 and spool.events == 10
    spool.pop()
    spool.pop()
    assert spool.events == 8
    spool.pop()  # the file's first item
    assert spool.events == 5
    spool.push(batch(3, 1))
    spool.close()
    # A file left by an earlier run: its events counted when it is opened.
    again = Spool(path)
    assert again.events == 6
    assert drain(again) == [2, 3] and again.events == 0
    again.close()


def test_an_unwritable_file_keeps_items_in_memory(tmp_path: Path) -> None:
    blocker = tmp_path / "not_a_dir"
    blocker.write_text("")
    spool = Spool(blocker / "s.sqlite", memory_rows=1)
    for i in range(3):
        spool.push(batch(i))
    assert spool.file_error is not None
    assert drain(spool) == [0, 1, 2]


def test_default_path_is_in_the_data_dir_and_hides_the_urls(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("XDG_DATA_HOME", str(tmp_path))
    p = default_spool_path("postgresql://u:secret@db/x", "unix:///run/docker.sock")
    assert p.parent == tmp_path / "docktally" / "spool"
    assert "secret" not in str(p)


def _ev(t: int, action: str = "pause") -> dict[str, object]:
    return {"Type": "container", "Action": action, "id": "c", "timeNano": t}


def test_an_overflowed_replay_names_why_nobody_read() -> None:
    cp = {"time_ns": 100, "container_id": "c", "action": "start"}
    prev = PreviousCoverage(end_ns=150, lost_stream=False)
    full = [_ev(1000 + i) for i in range(ENGINE_EVENT_BUFFER)]
    for lost, reason in (
        (None, "replay_overflow"),
        ("stall", "stall"),
        ("database_outage", "database_outage"),
    ):
        gap = _judge_replay(full, cp, prev, 5000, lost=lost)
        assert gap is not None and (gap.reason, gap.start_ns, gap.end_ns) == (reason, 150, 5000)
    # A replay that reaches back loses nothing, whatever stalled.
    assert _judge_replay([_ev(100, "start"), *full], cp, prev, 5000, lost="stall") is None
    # A short replay without the checkpoint is a restarted engine, stall or not.
    short = _judge_replay(full[:10], cp, prev, 5000, lost="stall")
    assert short is not None and short.reason == "engine_restart"


def test_events_after_the_replay_s_end_count_toward_the_buffer() -> None:
    # Under churn the engine takes in events between /info's time and the replay's read: they
    # push the oldest out, so 240 replayed without the checkpoint is still an overflow when the
    # buffer held 256 or more.
    cp = {"time_ns": 100, "container_id": "c", "action": "start"}
    prev = PreviousCoverage(end_ns=150, lost_stream=False)
    replay = [_ev(1000 + i) for i in range(240)]
    gap = _judge_replay(replay, cp, prev, 5000, lost="stall", held=262)
    assert gap is not None and gap.reason == "stall"
    restart = _judge_replay(replay, cp, prev, 5000, lost="stall", held=245)
    assert restart is not None and restart.reason == "engine_restart"


def test_durable_items_and_notes_survive_a_restart(tmp_path: Path) -> None:
    # An offline session's start goes straight to the file (a kill -9 keeps it), the batches
    # after it follow it there, and what writing it taught (its host, its coverage row) is
    # noted in the same transaction as its pop.
    path = tmp_path / "s.sqlite"
    spool = Spool(path, memory_rows=100)
    spool.push(batch(0))
    spool.push({"start": {"session": "s1"}}, durable=True)
    spool.push(batch(1))
    assert spool.in_memory == 1 and len(spool) == 3
    spool.pop()
    assert spool.peek() == {"start": {"session": "s1"}}
    spool.pop(("s1", ["web-1", 7]))
    del spool  # a kill -9: no close
    again = Spool(path)
    assert again.notes() == {"s1": ["web-1", 7]}
    assert drain(again) == [1]
    again.note("s1", None)
    assert again.notes() == {}


def test_notes_without_a_usable_file_are_kept_in_memory(tmp_path: Path) -> None:
    blocker = tmp_path / "not_a_dir"
    blocker.write_text("")
    spool = Spool(blocker / "s.sqlite")
    spool.note("s1", ["h", 1])
    assert spool.notes() == {"s1": ["h", 1]} and spool.file_error is not None


# --- an offline session's start, written when the database is back ------------------------------
URL = "unix:///run/docker-test.sock"
INFO = {"ID": "ENGINE", "Name": "box", "DockerRootDir": "/var/lib/docker"}
CID = "c" * 64
S = 1_000_000_000


def _container_event(t: int, action: str) -> dict[str, object]:
    attrs = {"name": "web", "image": "busybox"}
    return {"Type": "container", "Action": action, "Actor": {"ID": CID, "Attributes": attrs},
            "id": CID, "time": t // S, "timeNano": t}  # fmt: skip


def _offline_start(replay: list[dict[str, object]], until: int) -> dict[str, object]:
    rows = [normalize_event(ev, host="", source="replay") for ev in replay]
    return {
        "start": {
            "session": "s1",
            "host": None,
            "engine": INFO,
            "until_ns": until,
            "now_ns": until + S,
            "replayed": [[ev["timeNano"], CID, ev["Action"]] for ev in replay],
            "held": len(replay),
            "lost": None,
        },
        "rows": [r for r in rows if r is not None],
    }


@pytest.fixture
def stopped_before(tmp_path: Path) -> Iterator[tuple[Engine, Collector]]:
    """A store where this engine was collected as `box` until 20 s, its checkpoint a die at
    10 s; a collector whose spool holds what an offline session kept."""
    store = db.connect(f"sqlite:///{tmp_path / 'd.db'}")
    with store.begin() as conn:
        cov = writes.open_coverage(
            conn, host="box", engine_url=URL, engine_id=engine_key(INFO), source="collector",
            start_ns=1 * S,
        )  # fmt: skip
        writes.close_coverage(conn, cov, 20 * S, "stopped")
        writes.save_checkpoint(
            conn, host="box", engine_url=URL, time_ns=10 * S, container_id=CID, action="die",
            updated_ns=20 * S,
        )  # fmt: skip
    col = Collector(store=store, engine_url=URL, spool=Spool(None), log=lambda _line: None)
    yield store, col
    store.dispose()


def test_an_offline_start_that_reaches_the_checkpoint_continues_the_coverage(
    stopped_before: tuple[Engine, Collector],
) -> None:
    store, col = stopped_before
    replay = [_container_event(5 * S, "start"), _container_event(10 * S, "die"),
              _container_event(25 * S, "start")]  # fmt: skip
    col.spool.push(_offline_start(replay, 30 * S), durable=True)
    col.spool.push({"host": None, "rows": [], "coverage": "s1", "at": 40 * S})
    col.spool.push({"close": ["s1", 50 * S, "stopped"]})
    assert col._drain(force=True)
    with store.connect() as conn:
        cov = conn.execute(select(coverage).order_by(coverage.c.start_ns)).all()
        ev = conn.execute(select(events.c.time_ns)).scalars().all()
        assert conn.execute(select(gaps)).all() == []
    # Named as before; watched from where the last run stopped; only what followed the
    # checkpoint stored (the 5 s start is older history).
    assert [(c.host, c.start_ns, c.end_ns, c.closed_reason) for c in cov] == [
        ("box", 1 * S, 20 * S, "stopped"),
        ("box", 20 * S, 50 * S, "stopped"),
    ]
    assert sorted(ev) == [10 * S, 25 * S]
    assert col._offline == {} and col._gap_due is None


def test_an_offline_start_past_an_overflow_records_the_gap(
    stopped_before: tuple[Engine, Collector],
) -> None:
    store, col = stopped_before
    replay = [_container_event((30 + i) * S, "exec_start") for i in range(ENGINE_EVENT_BUFFER)]
    until = 400 * S
    col.spool.push(_offline_start(replay, until), durable=True)
    assert col._drain(force=True)
    with store.connect() as conn:
        (gap,) = conn.execute(select(gaps)).all()
        cov = conn.execute(select(coverage).order_by(coverage.c.start_ns)).all()
    assert (gap.host, gap.reason, gap.start_ns, gap.end_ns) == (
        "box",
        "replay_overflow",
        20 * S,
        until,
    )
    assert [(c.start_ns, c.end_ns) for c in cov] == [(1 * S, 20 * S), (until + S, None)]
    # The session's batches now find their host and coverage row; the next online session
    # reconciles from inspect for the gap.
    assert col._offline == {"s1": ["box", cov[1].id]}
    assert col._gap_due == ("replay_overflow", 20 * S)


def test_a_second_process_on_the_same_file_keeps_its_items_in_memory(tmp_path: Path) -> None:
    # Two collectors of one engine and database on one machine, started while the database was
    # away (no claim could refuse the second): they must not pop each other's items.
    path = tmp_path / "s.sqlite"
    first = Spool(path)
    first.push(batch(0), durable=True)
    second = Spool(path)
    second.push(batch(1), durable=True)
    assert second.file_error is not None and "in use" in second.file_error
    assert drain(second) == [1]
    first.close()
    assert drain(Spool(path)) == [0]
