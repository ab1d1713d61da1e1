"""The collector's summarizer builds the complete days by itself, and builds a day again once a
late event marked it dirty: no `db summarize` by hand."""

from __future__ import annotations

import threading
import time
from pathlib import Path

from sqlalchemy import Engine, text

from bench.generate import write_file
from docktally.cli import main
from docktally.collector.summarizer import start_summarizer
from docktally.store import writes

DAY_NS = 86_400 * 10**9
T0 = (time.time_ns() // DAY_NS - 4) * DAY_NS


def _days(store: Engine, dirty: bool) -> int:
    with store.connect() as conn:
        q = "SELECT count(*) FROM summary_days WHERE dirty = :d"
        return int(conn.execute(text(q), {"d": dirty}).scalar() or 0)


def _until(check: object, timeout_s: float = 120.0) -> bool:
    end = time.monotonic() + timeout_s
    while time.monotonic() < end:
        if check():  # type: ignore[operator]
            return True
        time.sleep(0.2)
    return False


def test_the_summarizer_keeps_the_days_built(db_url: str, store: Engine, tmp_path: Path) -> None:
    f = tmp_path / "h1.jsonl"
    write_file(f, events=600, containers=8, days=2, seed=3, start_ns=T0)
    assert main(["import", "--db", db_url, "--host", "h1", str(f)]) == 0
    stop = threading.Event()
    lines: list[str] = []
    t = start_summarizer(store, stop, every_s=0.5, first_s=0.0, log=lines.append)
    try:
        # The days from the first event's to yesterday (complete an hour after they end).
        assert _until(lambda: _days(store, False) >= 3), lines
        with store.begin() as conn:
            cid = conn.execute(text("SELECT container_id FROM containers")).scalar()
            writes.insert_events(
                conn,
                [{"host": "h1", "container_id": cid, "time_ns": T0 + DAY_NS + 5, "action": "die",
                  "kind": "die", "exit_code": 3, "source": "import", "raw": None}],
            )  # fmt: skip
        assert _until(lambda: _days(store, True) == 0 and _days(store, False) >= 3), lines
        with store.connect() as conn:
            rows = conn.execute(
                text("SELECT count(*) FROM day_service_summaries WHERE day_ns = :d"),
                {"d": T0 + DAY_NS},
            ).scalar()
        assert rows, "the services' parts of the rebuilt day"
    finally:
        stop.set()
        t.join(timeout=30)
    assert not t.is_alive()
    assert any("built" in line for line in lines)


def test_one_builder_at_a_time_on_postgresql(pg_url: str, tmp_path: Path) -> None:
    """A fleet's collectors share the database: while one builds the days, the others' passes
    build nothing (each would build the same days), and build once the first is done."""
    from docktally.store import db
    from docktally.store.summaries import BUILD_LOCK, refresh_store

    store = db.connect(pg_url)
    f = tmp_path / "h1.jsonl"
    write_file(f, events=300, containers=4, days=2, seed=5, start_ns=T0)
    assert main(["import", "--db", pg_url, "--host", "h1", str(f)]) == 0
    try:
        with store.connect() as other:  # another collector, building
            other.exec_driver_sql(f"SELECT pg_advisory_lock({BUILD_LOCK})")
            assert refresh_store(store, time.time_ns()) == []
            assert _days(store, False) == 0
            other.exec_driver_sql(f"SELECT pg_advisory_unlock({BUILD_LOCK})")
            other.commit()
        assert refresh_store(store, time.time_ns())
        assert _days(store, False) >= 3
    finally:
        store.dispose()
