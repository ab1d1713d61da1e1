"""Which engine a host name belongs to, and who is collecting it now, read from coverage rows.

A collector's coverage rows carry the engine key (engine ID and data root) in `engine_id`, so
the name an engine was given is found again after any restart, and a name is never handed to a
second engine. Rows written before the key existed hold the bare engine ID.
"""

from __future__ import annotations

from dataclasses import dataclass

from sqlalchemy import Connection, false, func, select, text, update

from docktally.store.schema import coverage

COLLECTOR = "collector"
# Any constant: PostgreSQL's transaction-scoped advisory lock that serialises naming.
_NAMING_LOCK = 0x646B746C


def host_of_engine(
    conn: Connection, *, engine_key: str, engine_id: str, engine_url: str
) -> str | None:
    """The host name this engine was last collected under, if any."""
    newest = (
        select(coverage.c.host)
        .where(coverage.c.source == COLLECTOR)
        .order_by(coverage.c.start_ns.desc(), coverage.c.id.desc())
        .limit(1)
    )
    host = conn.execute(newest.where(coverage.c.engine_id == engine_key)).scalar()
    if host is None:
        # Before the key: the bare ID, which only the same URL makes this engine's.
        host = conn.execute(
            newest.where(coverage.c.engine_id == engine_id).where(
                coverage.c.engine_url == engine_url
            )
        ).scalar()
    return None if host is None else str(host)


def engine_keys_of_host(conn: Connection, host: str) -> set[tuple[str, str | None]]:
    """(engine key, engine URL) of every collector that wrote under `host`."""
    rows = conn.execute(
        select(coverage.c.engine_id, coverage.c.engine_url)
        .distinct()
        .where(coverage.c.source == COLLECTOR)
        .where(coverage.c.host == host)
        .where(coverage.c.engine_id.is_not(None))
    )
    return {(str(r[0]), r[1]) for r in rows}


@dataclass(frozen=True)
class LiveCoverage:
    id: int
    engine_url: str | None
    engine_key: str | None
    heartbeat_ns: int


def open_collector_coverage(conn: Connection, host: str) -> list[LiveCoverage]:
    """Open coverage of `host` by full collectors (a lab run, with its run label, collects only
    its own containers and claims nothing)."""
    beat = func.coalesce(coverage.c.heartbeat_ns, coverage.c.start_ns)
    rows = conn.execute(
        select(coverage.c.id, coverage.c.engine_url, coverage.c.engine_id, beat)
        .where(coverage.c.host == host)
        .where(coverage.c.source == COLLECTOR)
        .where(coverage.c.end_ns.is_(None))
        .where(coverage.c.run_label.is_(None))
    )
    return [LiveCoverage(int(r[0]), r[1], r[2], int(r[3])) for r in rows]


def close_stalled(conn: Connection, coverage_id: int, heartbeat_ns: int) -> None:
    """A row whose heartbeat stood still was left by a collector that died: it watched until
    its last heartbeat."""
    conn.execute(
        update(coverage)
        .where(coverage.c.id == coverage_id)
        .where(coverage.c.end_ns.is_(None))
        .values(end_ns=heartbeat_ns, closed_reason="abandoned")
    )


def naming_lock(conn: Connection) -> None:
    """Serialise naming until `conn`'s transaction ends: PostgreSQL's advisory lock, SQLite's
    one writer (a write that changes nothing still takes it), so a second collector naming an
    engine at the same moment waits, then sees the first one's coverage row."""
    if conn.dialect.name == "postgresql":
        conn.execute(text("SELECT pg_advisory_xact_lock(:k)"), {"k": _NAMING_LOCK})
    else:
        conn.execute(update(coverage).where(false()).values(host=coverage.c.host))
