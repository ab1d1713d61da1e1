"""`docktally report` starts reading a SQLite store before pandas and SQLAlchemy are imported
(store/window_reader.start_early): the same frames as the store's own loader, errors in the
reading child as one line, and every other store (missing, older, PostgreSQL) through store.db
as before."""

from __future__ import annotations

import json
import os
from pathlib import Path
from typing import Any

import pandas as pd
import pytest
from sqlalchemy import text

from docktally.cli import main
from docktally.errors import StoreError
from docktally.store import db, frames, reads, window_reader, writes
from docktally.timespec import ns_to_iso

NS = 1_000_000_000
HOUR = 3600 * NS
START = 100 * HOUR
END = 110 * HOUR
A, B, C = "a" * 64, "b" * 64, "c" * 64


def ev(cid: str, t_ns: int, action: str, host: str = "h", **extra: Any) -> dict[str, Any]:
    row: dict[str, Any] = {
        "host": host, "container_id": cid, "time_ns": t_ns, "action": action,
        "kind": action.split(":")[0], "name": {A: "web", B: "db", C: "job"}[cid],
        "inferred": False, "source": "test", "exit_code": None, "signal": None, "health": None,
        "cause_hint": None,
    }  # fmt: skip
    if action.startswith("health_status: "):
        row["health"] = action.split(": ")[1]
    row.update(extra)
    return row


ROWS = [
    ev(A, 10 * HOUR, "start"),  # before the look-back: the state A enters the window in
    ev(A, START - HOUR // 2, "die", exit_code=1),
    ev(A, START - HOUR // 4, "start"),
    ev(A, START + HOUR, "health_status: unhealthy"),
    ev(A, START + HOUR, "kill", signal=9),  # same nanosecond: the tie order is kept
    ev(A, START + 2 * HOUR, "die", exit_code=70_000),  # beyond the packed range: an odd row
    ev(A, START + 3 * HOUR, "exec_start: sh"),  # not lifecycle: never loaded
    ev(B, START + 1, "start", inferred=True),
    ev(B, START + 2, "die", exit_code=0, inferred=True, cause_hint="engine_restart"),  # odd
    ev(B, START + 3, "health_status: starting"),  # odd: a health without a packed code
    ev(C, START + 5, "start", host="h2"),
    ev(C, END + HOUR, "die", exit_code=137, host="h2"),  # after the window
]


@pytest.fixture
def path(tmp_path: Path) -> Path:
    file = tmp_path / "early.db"
    engine = db.connect(str(file))
    with engine.begin() as conn:
        writes.insert_events(conn, ROWS)
    engine.dispose()
    return file


def _early_history(path: Path, start: int, end: int, hosts: list[str] | None = None) -> Any:
    early = window_reader.start_early(str(path), start, end, hosts)
    assert early is not None
    try:
        return frames.history(early.fetch, early.read, start, end, hosts)
    finally:
        early.close()


def _assert_same_history(got: Any, want: Any) -> None:
    for name in ("events", "facts", "coverage", "maintenance"):
        pd.testing.assert_frame_equal(getattr(got, name), getattr(want, name))


@pytest.mark.parametrize("hosts", [None, ["h2"], ["nowhere"]])
@pytest.mark.parametrize("span", [(START, END), (50 * HOUR, 60 * HOUR)], ids=["wide", "narrow"])
def test_the_early_read_gives_the_stores_frames(
    path: Path, hosts: list[str] | None, span: tuple[int, int]
) -> None:
    """Wide windows read the table in id slices (odd rows by id), narrow ones through the time
    index: either way the same History as store.reads.load_history."""
    start, end = span
    got = _early_history(path, start, end, hosts)
    engine = db.connect(str(path), readonly=True)
    with engine.connect() as conn:
        want = reads.load_history(conn, start, end, hosts)
    engine.dispose()
    _assert_same_history(got, want)
    if span == (START, END) and hosts is None:
        assert len(got.events) == 10  # the exec and the die after the window stay out
        assert list(got.events["cause_hint"].dropna()) == ["engine_restart"]


def test_the_read_in_this_process_gives_the_same_columns(path: Path, monkeypatch: Any) -> None:
    """Where the child cannot open the file with Arrow's driver, this process reads it."""
    want = _early_history(path, START, END)

    class NoDriver:
        def __init__(self, uri: str) -> None:
            raise OSError("no driver here")

    monkeypatch.setattr(window_reader, "_Arrow", NoDriver)  # the child inherits the patch
    _assert_same_history(_early_history(path, START, END), want)


def test_an_error_in_the_reading_child_is_one_line(
    path: Path, monkeypatch: Any, capsys: pytest.CaptureFixture[str]
) -> None:
    real = window_reader.window_sql

    def broken(*args: Any) -> tuple[list[str], str]:
        plain, rest = real(*args)
        return plain, rest.replace("FROM events", "FROM no_such_table", 1)

    monkeypatch.setattr(window_reader, "window_sql", broken)
    early = window_reader.start_early(str(path), START, END)
    assert early is not None
    with pytest.raises(StoreError, match="no_such_table") as err:
        early.read.columns()
    early.close()
    assert len(str(err.value).splitlines()) == 1
    capsys.readouterr()
    code = main(["report", "--db", str(path), "--since", ns_to_iso(START),
                 "--until", ns_to_iso(END)])  # fmt: skip
    _, stderr = capsys.readouterr()
    assert code == StoreError.exit_code
    assert stderr.startswith("docktally: error: reading events failed:")
    assert len(stderr.strip().splitlines()) == 1


def test_other_stores_go_through_store_db(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    """No early read for a missing file, a URL only SQLAlchemy parses, PostgreSQL, or a
    database below the head revision; the report still creates or migrates it itself."""
    missing = tmp_path / "missing.db"
    assert window_reader.start_early(str(missing), START, END) is None
    assert window_reader.start_early(f"sqlite:///{missing}?mode=ro", START, END) is None
    assert window_reader.start_early("postgresql://u@127.0.0.1:1/x", START, END) is None

    old = tmp_path / "old.db"
    engine = db.connect(str(old), migrate=False)
    db.upgrade(engine, "0001")
    engine.dispose()
    assert window_reader.start_early(str(old), START, END) is None
    capsys.readouterr()
    assert main(["report", "--db", str(old), "--format", "json"]) == 0
    assert json.loads(capsys.readouterr().out)["groups"] == []
    engine = db.connect(str(old), readonly=True)
    with engine.connect() as conn:
        assert conn.execute(text("SELECT version_num FROM alembic_version")).scalar() == (
            db.HEAD_REVISION
        )
    engine.dispose()
    assert window_reader.start_early(str(old), START, END) is not None  # at head now

    assert main(["report", "--db", str(missing), "--format", "json"]) == 0
    assert missing.exists()


def test_the_report_through_the_early_read_matches_the_store_path(
    path: Path, capsys: pytest.CaptureFixture[str], monkeypatch: Any
) -> None:
    argv = ["report", "--db", str(path), "--since", ns_to_iso(START), "--until",
            ns_to_iso(END), "--format", "json", "--slo", "99"]  # fmt: skip
    capsys.readouterr()
    assert main(argv) == 0
    early = capsys.readouterr().out
    monkeypatch.setattr(window_reader, "start_early", lambda *a, **k: None)
    assert main(argv) == 0
    assert capsys.readouterr().out == early
    assert json.loads(early)["groups"]


def test_a_read_closed_before_its_columns_stops_its_child(path: Path) -> None:
    """A command failing between the start and the columns (an import, a bad option) closes
    the read: the child is stopped and reaped, nothing waits on it."""
    early = window_reader.start_early(str(path), START, END)
    assert early is not None and early.read._child is not None
    pid = early.read._child[0]
    early.close()
    with pytest.raises(ProcessLookupError):
        os.kill(pid, 0)  # reaped: no such process
    early.close()  # twice is fine


def test_the_columns_come_back_the_same_through_the_pipe(path: Path, monkeypatch: Any) -> None:
    """Without a memory file (not Linux) the columns travel through the pipe itself."""
    want = _early_history(path, START, END)
    monkeypatch.delattr(os, "memfd_create", raising=False)
    _assert_same_history(_early_history(path, START, END), want)
