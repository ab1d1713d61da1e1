"""The spool keeps what the database did not take, in order, in memory then in a 0600 file,
across a restart; and the replay judge names why nobody read when the buffer overflowed."""

from __future__ import annotations

import stat
from pathlib import Path

import pytest

from docktally.collector.runner import ENGINE_EVENT_BUFFER, _judge_replay
from docktally.collector.storeview import PreviousCoverage
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
