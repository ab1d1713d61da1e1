"""Repository writes. Each takes a Connection; the caller owns the transaction.

Inserts are idempotent on the natural key, so replays and re-imports write nothing twice.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping, Sequence
from typing import Any

from sqlalchemy import Connection, Table, func, select, update
from sqlalchemy.dialects import postgresql, sqlite

from docktally.store.schema import (
    checkpoints,
    container_facts,
    coverage,
    events,
    gaps,
    log_tails,
    maintenance,
    runs,
)

_FACT_FIELDS = [c.name for c in container_facts.c if c.name not in ("observed_ns",)]


def insert_ignoring_duplicates(
    conn: Connection, table: Table, rows: Sequence[Mapping[str, Any]]
) -> int:
    """INSERT ... ON CONFLICT DO NOTHING on either backend. Returns rows written (-1: unknown)."""
    if not rows:
        return 0
    if conn.dialect.name == "postgresql":
        stmt: Any = postgresql.insert(table).on_conflict_do_nothing()
    else:
        stmt = sqlite.insert(table).on_conflict_do_nothing()
    # executemany binds the first row's keys for every row: group rows by their key set, so a
    # row with an extra column never loses its value silently.
    groups: dict[tuple[str, ...], list[Mapping[str, Any]]] = {}
    for row in rows:
        groups.setdefault(tuple(row), []).append(row)
    written = 0
    for group in groups.values():
        count = int(conn.execute(stmt, group).rowcount)
        written = -1 if count < 0 or written < 0 else written + count
    return written


def insert_events(conn: Connection, rows: Sequence[Mapping[str, Any]]) -> int:
    return insert_ignoring_duplicates(conn, events, rows)


def record_facts(conn: Connection, row: Mapping[str, Any]) -> bool:
    """Append the container's facts if they differ from the latest stored; True if written.

    Facts are a history, so "the restart policy in effect at the time" can be looked up.
    """
    latest = conn.execute(
        select(*[container_facts.c[f] for f in _FACT_FIELDS])
        .where(container_facts.c.host == row["host"])
        .where(container_facts.c.container_id == row["container_id"])
        .order_by(container_facts.c.observed_ns.desc())
        .limit(1)
    ).first()
    if latest is not None and all(latest._mapping[f] == row.get(f) for f in _FACT_FIELDS):
        return False
    insert_ignoring_duplicates(conn, container_facts, [row])
    return True


def open_coverage(
    conn: Connection,
    *,
    host: str,
    engine_url: str | None,
    engine_id: str | None,
    source: str,
    start_ns: int,
    run_label: str | None = None,
) -> int:
    result = conn.execute(
        coverage.insert().values(
            host=host,
            engine_url=engine_url,
            engine_id=engine_id,
            source=source,
            start_ns=start_ns,
            heartbeat_ns=start_ns,
            run_label=run_label,
        )
    )
    pk = result.inserted_primary_key
    assert pk is not None
    return int(pk[0])


def heartbeat_coverage(conn: Connection, coverage_id: int, now_ns: int) -> None:
    conn.execute(update(coverage).where(coverage.c.id == coverage_id).values(heartbeat_ns=now_ns))


def close_coverage(conn: Connection, coverage_id: int, end_ns: int, reason: str) -> None:
    conn.execute(
        update(coverage)
        .where(coverage.c.id == coverage_id)
        .values(end_ns=end_ns, heartbeat_ns=end_ns, closed_reason=reason)
    )


def close_abandoned_coverage(conn: Connection, *, host: str, engine_url: str | None) -> int:
    """A collector killed with -9 left its coverage open: it watched until its last heartbeat."""
    result = conn.execute(
        update(coverage)
        .where(coverage.c.host == host)
        .where(coverage.c.engine_url == engine_url)
        .where(coverage.c.end_ns.is_(None))
        .values(
            end_ns=func.coalesce(coverage.c.heartbeat_ns, coverage.c.start_ns),
            closed_reason="abandoned",
        )
    )
    return int(result.rowcount)


def load_checkpoint(conn: Connection, *, host: str, engine_url: str) -> dict[str, Any] | None:
    row = conn.execute(
        select(checkpoints)
        .where(checkpoints.c.host == host)
        .where(checkpoints.c.engine_url == engine_url)
    ).first()
    return dict(row._mapping) if row else None


def save_checkpoint(
    conn: Connection,
    *,
    host: str,
    engine_url: str,
    time_ns: int,
    container_id: str,
    action: str,
    updated_ns: int,
) -> None:
    values = {
        "time_ns": time_ns,
        "container_id": container_id,
        "action": action,
        "updated_ns": updated_ns,
    }
    stmt: Any
    if conn.dialect.name == "postgresql":
        stmt = postgresql.insert(checkpoints)
    else:
        stmt = sqlite.insert(checkpoints)
    stmt = stmt.values(host=host, engine_url=engine_url, **values).on_conflict_do_update(
        index_elements=["host", "engine_url"], set_=values
    )
    conn.execute(stmt)


def record_gap(
    conn: Connection,
    *,
    host: str,
    engine_url: str | None,
    start_ns: int,
    end_ns: int,
    reason: str,
    events_replayed: int | None,
    detail: str | None = None,
) -> None:
    conn.execute(
        gaps.insert().values(
            host=host,
            engine_url=engine_url,
            start_ns=start_ns,
            end_ns=end_ns,
            reason=reason,
            events_replayed=events_replayed,
            detail=detail,
        )
    )


def save_log_tail(
    conn: Connection,
    *,
    host: str,
    container_id: str,
    time_ns: int,
    captured_ns: int,
    lines: str,
    truncated: bool,
) -> None:
    insert_ignoring_duplicates(
        conn,
        log_tails,
        [
            {
                "host": host,
                "container_id": container_id,
                "time_ns": time_ns,
                "captured_ns": captured_ns,
                "lines": lines,
                "size_bytes": len(lines.encode("utf-8", "replace")),
                "truncated": truncated,
            }
        ],
    )


def add_maintenance(conn: Connection, row: Mapping[str, Any]) -> int:
    result = conn.execute(maintenance.insert().values(**row))
    pk = result.inserted_primary_key
    assert pk is not None
    return int(pk[0])


def start_run(conn: Connection, *, label: str, kind: str, started_ns: int, params: str) -> None:
    conn.execute(runs.insert().values(label=label, kind=kind, started_ns=started_ns, params=params))


def end_run(conn: Connection, *, label: str, ended_ns: int) -> None:
    conn.execute(update(runs).where(runs.c.label == label).values(ended_ns=ended_ns))


def chunks(rows: Iterable[Mapping[str, Any]], size: int) -> Iterable[list[Mapping[str, Any]]]:
    batch: list[Mapping[str, Any]] = []
    for row in rows:
        batch.append(row)
        if len(batch) >= size:
            yield batch
            batch = []
    if batch:
        yield batch
