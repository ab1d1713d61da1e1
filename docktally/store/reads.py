"""Read queries into DataFrames with the columns docktally.analytics.model names."""

from __future__ import annotations

import warnings
from typing import Any

import pandas as pd
from sqlalchemy import ColumnElement, Connection, Select, and_, func, or_, select

from docktally.analytics.model import (
    COVERAGE_COLUMNS,
    EVENT_COLUMNS,
    FACT_COLUMNS,
    MAINTENANCE_COLUMNS,
    History,
)
from docktally.collector.normalize import LIFECYCLE_KINDS
from docktally.store.schema import container_facts, coverage, events, gaps, log_tails, maintenance

# Events this long before the window are loaded too: a `kill` just before the window explains a
# `die` just inside it, and incidents need the run-up.
LOOKBACK_NS = 3600 * 1_000_000_000


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
    # Object columns, not inferred string arrays: inference alone was ~1.5 s per million rows.
    # The option is deprecated in pandas 3 (pyproject keeps pandas < 4); where it is gone, the
    # frame is the same with str columns, only slower.
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        try:
            with pd.option_context("future.infer_string", False):
                return pd.DataFrame.from_records(rows, columns=columns)
        except (KeyError, ValueError):  # pragma: no cover - pandas without the option
            return pd.DataFrame.from_records(rows, columns=columns)


def _event_frame(df: pd.DataFrame) -> pd.DataFrame:
    for col in ("exit_code", "signal"):
        df[col] = df[col].astype("Int64")
    df["time_ns"] = df["time_ns"].astype("int64")
    df["inferred"] = df["inferred"].astype(bool)
    return df.sort_values(["host", "container_id", "time_ns"], kind="stable").reset_index(drop=True)


def _lifecycle_action(table: Any) -> ColumnElement[bool]:
    # On `action`, which the natural-key index holds, rather than `kind`, which only the table
    # holds: the walk back through the index then never leaves it.
    kinds = sorted(LIFECYCLE_KINDS)
    return or_(table.c.action.in_(kinds), *[table.c.action.like(f"{k}:%") for k in kinds])


def load_events_for_window(
    conn: Connection, start_ns: int, end_ns: int, hosts: list[str] | None = None
) -> pd.DataFrame:
    """Lifecycle events in [start - lookback, end), plus each container's last one before that,
    which says what state it was in when the window opened.

    The "last one before" is found through the natural-key index one container at a time: on
    1M events that takes under a second, where a window function over the table took ~20 s.
    """
    cols = [events.c[c] for c in EVENT_COLUMNS]
    base: ColumnElement[bool] = events.c.kind.in_(sorted(LIFECYCLE_KINDS))
    if hosts:
        base = and_(base, events.c.host.in_(hosts))
    horizon = start_ns - LOOKBACK_NS
    inside = select(*cols).where(base, events.c.time_ns >= horizon, events.c.time_ns < end_ns)
    inner = events.alias("i")
    keys = select(events.c.host, events.c.container_id).distinct().subquery("c")
    last_id = (
        select(inner.c.id)
        .where(
            inner.c.host == keys.c.host,
            inner.c.container_id == keys.c.container_id,
            inner.c.time_ns < horizon,
            _lifecycle_action(inner),
        )
        .order_by(inner.c.time_ns.desc(), inner.c.action.desc())
        .limit(1)
        .scalar_subquery()
    )
    before = select(*cols).where(events.c.id.in_(select(last_id).select_from(keys)), base)
    return _event_frame(_frame(conn, [before, inside], EVENT_COLUMNS))


def count_events(conn: Connection) -> int:
    return int(conn.execute(select(func.count()).select_from(events)).scalar() or 0)


def last_events(conn: Connection, limit: int = 20) -> pd.DataFrame:
    """The newest stored events, newest first (for the collector's status view)."""
    cols = ["host", "name", "container_id", "action", "exit_code", "time_ns", "source"]
    stmt = select(*[events.c[c] for c in cols]).order_by(events.c.time_ns.desc()).limit(limit)
    df = _frame(conn, stmt, cols)
    df["exit_code"] = df["exit_code"].astype("Int64")
    return df


def load_facts(conn: Connection, hosts: list[str] | None = None) -> pd.DataFrame:
    stmt = select(*[container_facts.c[c] for c in FACT_COLUMNS])
    if hosts:
        stmt = stmt.where(container_facts.c.host.in_(hosts))
    df = _frame(conn, stmt.order_by(container_facts.c.observed_ns), FACT_COLUMNS)
    df["has_healthcheck"] = df["has_healthcheck"].astype(bool)
    df["stop_timeout_s"] = df["stop_timeout_s"].astype("Int64")
    return df


def load_coverage(
    conn: Connection, start_ns: int | None = None, end_ns: int | None = None
) -> pd.DataFrame:
    end_expr = func.coalesce(coverage.c.end_ns, coverage.c.heartbeat_ns, coverage.c.start_ns)
    stmt = select(coverage.c.host, coverage.c.start_ns, end_expr.label("end_ns"), coverage.c.source)
    if start_ns is not None:
        stmt = stmt.where(end_expr > start_ns)
    if end_ns is not None:
        stmt = stmt.where(coverage.c.start_ns < end_ns)
    return _frame(conn, stmt.order_by(coverage.c.host, coverage.c.start_ns), COVERAGE_COLUMNS)


def load_maintenance(
    conn: Connection, start_ns: int | None = None, end_ns: int | None = None
) -> pd.DataFrame:
    stmt = select(*[maintenance.c[c] for c in MAINTENANCE_COLUMNS])
    if start_ns is not None:
        stmt = stmt.where(maintenance.c.end_ns > start_ns)
    if end_ns is not None:
        stmt = stmt.where(maintenance.c.start_ns < end_ns)
    return _frame(conn, stmt.order_by(maintenance.c.start_ns), MAINTENANCE_COLUMNS)


def load_history(
    conn: Connection, start_ns: int, end_ns: int, hosts: list[str] | None = None
) -> History:
    return History(
        events=load_events_for_window(conn, start_ns, end_ns, hosts),
        facts=load_facts(conn, hosts),
        coverage=load_coverage(conn, start_ns - LOOKBACK_NS, end_ns),
        maintenance=load_maintenance(conn, start_ns - LOOKBACK_NS, end_ns),
    )


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
    stmt = select(*[events.c[c] for c in LIST_COLUMNS])
    if container:
        stmt = stmt.where(
            or_(events.c.name == container, events.c.container_id.startswith(container))
        )
    if action:
        stmt = stmt.where(or_(events.c.action == action, events.c.kind == action))
    if since_ns is not None:
        stmt = stmt.where(events.c.time_ns >= since_ns)
    if until_ns is not None:
        stmt = stmt.where(events.c.time_ns < until_ns)
    if host:
        stmt = stmt.where(events.c.host == host)
    stmt = stmt.order_by(events.c.time_ns, events.c.id)
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
