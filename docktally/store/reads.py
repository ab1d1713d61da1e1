"""Read queries into DataFrames with the columns docktally.analytics.model names."""

from __future__ import annotations

from typing import Any

import pandas as pd
from sqlalchemy import Connection, Select, Subquery, func, or_, select, text

from docktally.analytics.model import History
from docktally.store import frames
from docktally.store.db import sqlite_file
from docktally.store.schema import (
    containers,
    coverage,
    events,
    gaps,
    log_tails,
    raw_chunks,
)
from docktally.store.window_reader import LOOKBACK_NS as LOOKBACK_NS  # the dashboard's look-back
from docktally.store.window_reader import Fetch, Rows, WindowRead


def _frame(
    conn: Connection, stmts: Select[Any] | list[Select[Any]], columns: list[str]
) -> pd.DataFrame:
    """The rows of one or more selects as one DataFrame; callers set the column types."""
    rows: list[Any] = []
    for stmt in stmts if isinstance(stmts, list) else [stmts]:
        result = conn.execute(stmt)
        # The DBAPI cursor's plain tuples: a SQLAlchemy Row per record, probed by pandas
        # attribute by attribute, cost ~15 s per million rows.
        cursor = result.cursor
        rows.extend(cursor.fetchall() if cursor is not None else [])
        result.close()
    return frames.records_frame(rows, columns)


def fetcher(conn: Connection) -> Fetch:
    """Statements with named parameters (store/frames.py, store/window_reader.py) run through
    `conn`: plain tuples, as the DBAPI cursor gives them."""

    def fetch(sql: str, params: dict[str, Any]) -> Rows:
        result = conn.execute(text(sql), params)
        try:
            return [tuple(r) for r in result.cursor.fetchall()] if result.cursor else []
        finally:
            result.close()

    return fetch


def events_view() -> Subquery:
    """`events` joined to `containers`: every event with its host, container id, and the
    container's (latest) name, image and compose labels, under the column names of the first
    schema. For listings and tests; the report's loader reads the tables itself."""
    return (
        select(
            events.c.id,
            containers.c.host,
            containers.c.container_id,
            containers.c.name,
            containers.c.image,
            containers.c.compose_project,
            containers.c.compose_service,
            events.c.container_ref,
            events.c.time_ns,
            events.c.action,
            events.c.kind,
            events.c.exit_code,
            events.c.signal,
            events.c.health,
            events.c.inferred,
            events.c.cause_hint,
            events.c.evidence,
            events.c.source,
            events.c.raw_chunk,
            events.c.raw_line,
        )
        .select_from(events.join(containers, containers.c.ref == events.c.container_ref))
        .subquery("ev")
    )


def load_raw(conn: Connection, event_ids: list[int]) -> dict[int, str]:
    """The raw JSON of stored events, by event id (inferred events have none)."""
    out: dict[int, str] = {}
    rows = conn.execute(
        select(events.c.id, events.c.raw_chunk, events.c.raw_line).where(
            events.c.id.in_(event_ids), events.c.raw_chunk.is_not(None)
        )
    ).fetchall()
    by_chunk: dict[int, list[tuple[int, int]]] = {}
    for eid, chunk, line in rows:
        by_chunk.setdefault(int(chunk), []).append((int(eid), int(line)))
    for chunk, wanted in by_chunk.items():
        body = conn.execute(select(raw_chunks.c.body).where(raw_chunks.c.id == chunk)).scalar()
        if body is None:
            continue
        from docktally.store.writes import unpack_raw  # SQLAlchemy's dialects: not for reports

        lines = unpack_raw(bytes(body))
        for eid, line in wanted:
            if 0 <= line < len(lines):
                out[eid] = lines[line]
    return out


def window_read(
    conn: Connection, start_ns: int, end_ns: int, hosts: list[str] | None = None
) -> WindowRead:
    """The window's events being read (window_reader.WindowRead): on a SQLite file, by Arrow's
    driver in forked children; elsewhere, through `conn`."""
    return WindowRead(fetcher(conn), sqlite_file(conn), start_ns, end_ns, hosts)


def load_events_for_window(
    conn: Connection, start_ns: int, end_ns: int, hosts: list[str] | None = None
) -> pd.DataFrame:
    """Lifecycle events in [start - lookback, end), plus each container's last one before that,
    which says what state it was in when the window opened; EVENT_COLUMNS, sorted by host,
    container_id, time_ns. String columns are Categoricals: per-container strings (host, id,
    name, image, compose labels) come from `containers` through the row's ref, never per row.
    """
    return frames.events_frame(window_read(conn, start_ns, end_ns, hosts).columns())


def count_events(conn: Connection) -> int:
    return int(conn.execute(select(func.count()).select_from(events)).scalar() or 0)


def last_events(conn: Connection, limit: int = 20) -> pd.DataFrame:
    """The newest stored events, newest first (for the collector's status view)."""
    cols = ["host", "name", "container_id", "action", "exit_code", "time_ns", "source"]
    ev = events_view()
    stmt = select(*[ev.c[c] for c in cols]).order_by(ev.c.time_ns.desc()).limit(limit)
    df = _frame(conn, stmt, cols)
    df["exit_code"] = df["exit_code"].astype("Int64")
    return df


def load_facts(conn: Connection, hosts: list[str] | None = None) -> pd.DataFrame:
    return frames.facts_frame(fetcher(conn)(*frames.facts_sql(hosts)))


def load_coverage(
    conn: Connection, start_ns: int | None = None, end_ns: int | None = None
) -> pd.DataFrame:
    return frames.coverage_frame(fetcher(conn)(*frames.coverage_sql(start_ns, end_ns)))


def load_maintenance(
    conn: Connection, start_ns: int | None = None, end_ns: int | None = None
) -> pd.DataFrame:
    return frames.maintenance_frame(fetcher(conn)(*frames.maintenance_sql(start_ns, end_ns)))


def history(
    conn: Connection,
    events: WindowRead,
    start_ns: int,
    end_ns: int,
    hosts: list[str] | None = None,
) -> History:
    """The window's History, its events from a read started with window_read (the caller can
    do other work while the children read)."""
    return frames.history(fetcher(conn), events, start_ns, end_ns, hosts)


def load_history(
    conn: Connection, start_ns: int, end_ns: int, hosts: list[str] | None = None
) -> History:
    return history(conn, window_read(conn, start_ns, end_ns, hosts), start_ns, end_ns, hosts)


LIST_COLUMNS = [
    "id",
    "host",
    "container_id",
    "name",
    "time_ns",
    "action",
    "kind",
    "exit_code",
    "signal",
    "health",
    "image",
    "compose_project",
    "compose_service",
    "inferred",
    "cause_hint",
    "evidence",
    "source",
]


def list_events(
    conn: Connection,
    *,
    container: str | None = None,
    action: str | None = None,
    since_ns: int | None = None,
    until_ns: int | None = None,
    host: str | None = None,
    limit: int | None = None,
) -> pd.DataFrame:
    """Stored events, oldest first. `container` matches a name or an id prefix."""
    ev = events_view()
    stmt = select(*[ev.c[c] for c in LIST_COLUMNS])
    if container:
        stmt = stmt.where(or_(ev.c.name == container, ev.c.container_id.startswith(container)))
    if action:
        stmt = stmt.where(or_(ev.c.action == action, ev.c.kind == action))
    if since_ns is not None:
        stmt = stmt.where(ev.c.time_ns >= since_ns)
    if until_ns is not None:
        stmt = stmt.where(ev.c.time_ns < until_ns)
    if host:
        stmt = stmt.where(ev.c.host == host)
    stmt = stmt.order_by(ev.c.time_ns, ev.c.id)
    if limit:
        stmt = stmt.limit(limit)
    df = _frame(conn, stmt, LIST_COLUMNS)
    for col in ("exit_code", "signal"):
        df[col] = df[col].astype("Int64")
    df["inferred"] = df["inferred"].astype(bool)
    return df


def load_log_tails(
    conn: Connection, *, host: str, container_id: str, start_ns: int, end_ns: int
) -> pd.DataFrame:
    cols = ["host", "container_id", "time_ns", "captured_ns", "lines", "truncated"]
    stmt = (
        select(*[log_tails.c[c] for c in cols])
        .where(log_tails.c.host == host, log_tails.c.container_id == container_id)
        .where(log_tails.c.time_ns >= start_ns, log_tails.c.time_ns <= end_ns)
        .order_by(log_tails.c.time_ns)
    )
    return _frame(conn, stmt, cols)


def load_gaps(conn: Connection) -> pd.DataFrame:
    cols = ["host", "engine_url", "start_ns", "end_ns", "reason", "events_replayed", "detail"]
    return _frame(conn, select(*[gaps.c[c] for c in cols]).order_by(gaps.c.start_ns), cols)


def load_coverage_rows(conn: Connection) -> pd.DataFrame:
    """Every coverage row as stored, for the collector status views."""
    cols = [
        "id",
        "host",
        "engine_url",
        "engine_id",
        "source",
        "start_ns",
        "end_ns",
        "heartbeat_ns",
        "closed_reason",
        "run_label",
    ]
    return _frame(conn, select(*[coverage.c[c] for c in cols]).order_by(coverage.c.start_ns), cols)
