"""PostgreSQL with several writers of events (two collectors, an import beside a collector):
event ids become visible in the order they were taken, so the readers that read "what was
stored since id N" (store.collection.NewestEvents, store.reads.events_written_since) never
skip a row that committed late. Real connections, real threads, one real database."""

from __future__ import annotations

import threading
import time
from collections.abc import Iterator
from typing import Any

import pytest
from sqlalchemy import Engine, func, select
from sqlalchemy.exc import OperationalError

from docktally.collector.importer import import_lines
from docktally.store import collection, db, reads, writes
from docktally.store.schema import events

pytestmark = pytest.mark.postgres

T0 = 1_700_000_000_000_000_000
A, B = "a" * 64, "b" * 64
# How long a writer that should wait for its turn is seen to wait before the test goes on.
WAITING_S = 1.0


def row(host: str, cid: str, n: int) -> dict[str, Any]:
    return {"host": host, "container_id": cid, "time_ns": T0 + n, "action": "die",
            "kind": "die", "exit_code": 1, "inferred": False, "source": "test"}  # fmt: skip


@pytest.fixture
def pg(pg_url: str) -> Iterator[Engine]:
    eng = db.connect(pg_url)
    yield eng
    eng.dispose()


class Writer(threading.Thread):
    """insert_events of `rows` in a transaction of its own, in a thread: `done` once
    committed, `error` if it failed, and the transaction's lock_timeout after the insert."""

    def __init__(self, pg: Engine, rows: list[dict[str, Any]]) -> None:
        super().__init__(daemon=True)
        self.pg, self.rows = pg, rows
        self.done = threading.Event()
        self.error: BaseException | None = None
        self.lock_timeout = ""

    def run(self) -> None:
        try:
            with self.pg.begin() as conn:
                writes.insert_events(conn, self.rows)
                self.lock_timeout = str(conn.exec_driver_sql("SHOW lock_timeout").scalar_one())
            self.done.set()
        except BaseException as exc:
            self.error = exc


def count(pg: Engine) -> int:
    with pg.connect() as conn:
        return int(conn.execute(select(func.count()).select_from(events)).scalar_one())


def test_a_row_that_commits_late_is_read_by_the_readers_of_new_ids(pg: Engine) -> None:
    """The first writer takes its id and stays open; the second stores and commits (without
    turns: first, with a larger id); the readers read; then the first commits. Their next read
    must have the first's event, as a read from scratch has."""
    newest = collection.NewestEvents()
    first = pg.connect()
    tx = first.begin()
    writes.insert_events(first, [row("h1", A, 1)])  # id 1, not committed
    second = Writer(pg, [row("h2", B, 2)])
    second.start()
    second.done.wait(WAITING_S)
    with pg.connect() as conn:
        newest.read(conn)
        top = reads.top_event_id(db.ConnectionReader(conn))
    tx.commit()
    first.close()
    second.join(writes.TURN_WAIT_S + 5)
    assert second.error is None and second.done.is_set()

    with pg.connect() as conn:
        fresh = collection.NewestEvents().read(conn)
        assert fresh == {"h1": T0 + 1, "h2": T0 + 2}
        incremental = newest.read(conn)
        written = reads.events_written_since(db.ConnectionReader(conn), top)
    assert (incremental, sorted(written["host"])) == (fresh, ["h1", "h2"])


def test_the_second_writer_waits_for_the_first_to_commit(pg: Engine) -> None:
    first = pg.connect()
    tx = first.begin()
    writes.insert_events(first, [row("h1", A, 1)])
    second = Writer(pg, [row("h2", B, 2)])
    second.start()
    assert not second.done.wait(WAITING_S)  # its turn comes with the first's commit
    assert count(pg) == 0
    tx.commit()
    first.close()
    second.join(writes.TURN_WAIT_S + 5)
    assert second.error is None and count(pg) == 2
    assert second.lock_timeout == "0"  # its wait's, not kept for the rest of the transaction
    with pg.connect() as conn:
        ids = conn.execute(select(events.c.time_ns).order_by(events.c.id)).scalars().all()
    assert ids == [T0 + 1, T0 + 2]  # ids in commit order


def test_a_collector_waits_for_an_import_at_most_turn_wait(
    pg: Engine, monkeypatch: pytest.MonkeyPatch
) -> None:
    """An import keeps the turn until it commits: a collector's write beside it fails after
    TURN_WAIT_S (its batch stays in the collector's spool) and goes through after the
    import."""
    monkeypatch.setattr(writes, "TURN_WAIT_S", 0.3)
    lines = [
        f'{{"Type":"container","Action":"die","Actor":{{"ID":"{A}"}},"timeNano":{T0 + n}}}'
        for n in range(4)
    ]
    with pg.connect() as conn, conn.begin():
        assert import_lines(conn, lines, host="h1", chunk_rows=2).new == 4
        collector = Writer(pg, [row("h2", B, 9)])
        started = time.monotonic()
        collector.start()
        collector.join(5)
        assert isinstance(collector.error, OperationalError)
        assert "lock timeout" in str(collector.error)
        assert 0.3 <= time.monotonic() - started < 3
    retried = Writer(pg, [row("h2", B, 9)])
    retried.start()
    retried.join(5)
    assert retried.error is None and count(pg) == 5


def test_an_import_waits_for_a_collectors_batch(pg: Engine) -> None:
    collector = pg.connect()
    tx = collector.begin()
    writes.insert_events(collector, [row("h2", B, 9)])
    done = threading.Event()

    def run_import() -> None:
        line = f'{{"Type":"container","Action":"die","Actor":{{"ID":"{A}"}},"timeNano":{T0}}}'
        with pg.begin() as conn:
            import_lines(conn, [line], host="h1")
        done.set()

    importer = threading.Thread(target=run_import, daemon=True)
    importer.start()
    assert not done.wait(WAITING_S)
    tx.commit()
    collector.close()
    importer.join(10)
    assert done.is_set() and count(pg) == 2
