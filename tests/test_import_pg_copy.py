"""The import on PostgreSQL: a batch beyond what is stored goes straight into events by COPY,
any other through the conflict check, and each event is stored once either way."""

from __future__ import annotations

import json
from collections.abc import Iterator
from typing import Any

import pytest
from psycopg.pq import TransactionStatus
from sqlalchemy import Engine, select

from docktally.collector.importer import import_lines
from docktally.collector.normalize import decode_event, normalize_event
from docktally.errors import StoreError
from docktally.store import db, writes
from docktally.store.schema import events

pytestmark = pytest.mark.postgres

T0 = 1_700_000_000_000_000_000
A, B = "a" * 64, "b" * 64


def line(cid: str, n: int, action: str = "die") -> str:
    return json.dumps(
        {
            "Type": "container",
            "Action": action,
            "Actor": {"ID": cid, "Attributes": {"name": cid[:3], "exitCode": "1"}},
            "timeNano": T0 + n,
        }
    )


@pytest.fixture
def pg(pg_url: str) -> Iterator[Engine]:
    eng = db.connect(pg_url)
    yield eng
    eng.dispose()


@pytest.fixture
def tables(monkeypatch: pytest.MonkeyPatch) -> list[str]:
    """The table each COPY of events rows went to, in order."""
    seen: list[str] = []
    copy_rows = writes._copy_rows

    def spy(cur: Any, table: str, params: list[tuple[Any, ...]], until: Any) -> None:
        seen.append(table)
        copy_rows(cur, table, params, until)

    monkeypatch.setattr(writes, "_copy_rows", spy)
    return seen


def stored(pg: Engine) -> list[tuple[int, str]]:
    with pg.connect() as conn:
        query = select(events.c.time_ns, events.c.action)
        rows = conn.execute(query.order_by(events.c.time_ns, events.c.action))
        return [(int(t) - T0, str(a)) for t, a in rows]


def imported(pg: Engine, lines: list[str], chunk_rows: int = 4) -> int:
    with pg.begin() as conn:
        return import_lines(conn, lines, host="h", chunk_rows=chunk_rows).new


def test_batches_beyond_what_is_stored_skip_the_conflict_check(
    pg: Engine, tables: list[str]
) -> None:
    first = [line(A, n) for n in range(8)] + [line(B, n) for n in range(4)]
    assert imported(pg, first) == 12
    assert tables == ["events"] * 3
    tables.clear()
    assert imported(pg, first) == 0  # again: every batch may hold stored events
    assert tables == ["events_in"] * 3
    tables.clear()
    # Older than what is stored for A (checked), then only newer (straight in).
    later = [line(A, 3), line(A, 20), line(B, 2), line(B, 9)] + [line(A, n) for n in (21, 22)]
    assert imported(pg, later) == 4
    assert tables == ["events_in", "events"]
    assert len(stored(pg)) == 16


def test_a_repeated_event_in_a_new_batch_is_checked(pg: Engine, tables: list[str]) -> None:
    # The same line twice in a batch of new containers; two actions at one instant are two
    # events, and a batch out of time order is still beyond what is stored.
    lines = [line(A, 1), line(A, 2), line(A, 2), line(B, 5, "kill"), line(B, 5, "die")]
    assert imported(pg, lines, chunk_rows=10) == 4
    assert tables == ["events_in"]
    more = [line(B, 6, "kill"), line(B, 6, "die"), line(A, 9), line(A, 8)]
    assert imported(pg, more, chunk_rows=10) == 4
    assert tables == ["events_in", "events"]
    assert stored(pg) == [(1, "die"), (2, "die"), (5, "die"), (5, "kill"), (6, "die"),
                          (6, "kill"), (8, "die"), (9, "die")]  # fmt: skip


def test_a_repeat_apart_from_its_twin_at_one_instant_is_checked(
    pg: Engine, tables: list[str]
) -> None:
    # In time order, with another container's event between the twins: only rows of equal
    # times are compared, and all of them are.
    lines = [line(B, 1), line(A, 2), line(B, 2), line(A, 2), line(A, 3)]
    assert imported(pg, lines, chunk_rows=10) == 4
    assert tables == ["events_in"]
    assert stored(pg) == [(1, "die"), (2, "die"), (2, "die"), (3, "die")]


def test_an_event_stored_by_another_writer_meanwhile_fails_the_import_whole(
    pg: Engine, tables: list[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    """docktally's other writers wait for the import's commit (test_store_event_order.py);
    one that does not take turns (an older docktally) is caught by the unique key."""
    assert imported(pg, [line(A, 0)]) == 1
    late = normalize_event(decode_event(line(A, 30)), host="h", source="collect", raw=line(A, 30))
    assert late is not None
    tables.clear()

    def other_writer_stores_it(_read: int) -> None:
        if len(tables) == 1:  # after the first batch: A's newest stored was looked up
            monkeypatch.setattr(writes, "take_turn", lambda *_a: None)
            with pg.begin() as other:
                writes.insert_events(other, [late])

    lines = [line(A, n) for n in range(10, 50, 10)]  # 10, 20 | 30, 40
    with pytest.raises(StoreError, match="nothing was imported"), pg.begin() as conn:
        import_lines(conn, lines, host="h", chunk_rows=2, on_progress=other_writer_stores_it)
    # The import's batches straight in, the other writer's (the collector's path) checked.
    assert tables == ["events", "events_in", "events"]
    assert stored(pg) == [(0, "die"), (30, "die")]
    assert imported(pg, lines, chunk_rows=2) == 3  # run again: the rest, once
    assert stored(pg) == [(0, "die"), (10, "die"), (20, "die"), (30, "die"), (40, "die")]


def test_a_batch_copy_is_left_open_while_the_next_is_parsed(pg: Engine) -> None:
    """The server works through a batch's rows while the import parses the next one: the
    COPY is still in progress when the batch has been handed over (after each batch, the
    progress callback), and ended before the connection is used again."""
    status: list[TransactionStatus] = []
    lines = [line(A, n) for n in range(6)]
    with pg.begin() as conn:
        driver = conn.connection.driver_connection
        assert driver is not None

        def note(_read: int) -> None:
            status.append(driver.pgconn.transaction_status)

        assert import_lines(conn, lines, host="h", chunk_rows=2, on_progress=note).new == 6
        assert driver.pgconn.transaction_status == TransactionStatus.INTRANS
    assert status == [TransactionStatus.ACTIVE] * 3
    assert stored(pg) == [(n, "die") for n in range(6)]


def test_a_batch_is_taken_apart_while_the_server_stores_the_last(
    pg: Engine, monkeypatch: pytest.MonkeyPatch
) -> None:
    """The next batch's raw chunk is compressed (the largest of the client's work that needs no
    connection) while the last batch's COPY is still in progress."""
    status: list[TransactionStatus] = []
    raw_body = writes._raw_body
    lines = [line(A, n) for n in range(6)]
    with pg.begin() as conn:
        driver = conn.connection.driver_connection
        assert driver is not None

        def spy(raws: list[Any]) -> bytes:
            status.append(driver.pgconn.transaction_status)
            return raw_body(raws)

        monkeypatch.setattr(writes, "_raw_body", spy)
        assert import_lines(conn, lines, host="h", chunk_rows=2).new == 6
    assert status[0] != TransactionStatus.ACTIVE  # no COPY yet before the first batch
    assert status[1:] == [TransactionStatus.ACTIVE] * 2
    assert stored(pg) == [(n, "die") for n in range(6)]
