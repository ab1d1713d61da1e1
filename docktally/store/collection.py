"""What the store says about collection itself, per host: the first event, the newest event and
the recorded gaps (for the Prometheus endpoint's collector health)."""

from __future__ import annotations

from sqlalchemy import Connection, func, select

from docktally.store.schema import containers, events, gaps


def first_event_ns(conn: Connection) -> int | None:
    value = conn.execute(select(func.min(events.c.time_ns))).scalar()
    return None if value is None else int(value)


def last_event_ns_by_host(conn: Connection) -> dict[str, int]:
    stmt = (
        select(containers.c.host, func.max(events.c.time_ns))
        .select_from(events.join(containers, containers.c.ref == events.c.container_ref))
        .group_by(containers.c.host)
    )
    return {str(host): int(t) for host, t in conn.execute(stmt)}


def gaps_by_host(conn: Connection) -> dict[str, int]:
    stmt = select(gaps.c.host, func.count()).group_by(gaps.c.host)
    return {str(host): int(n) for host, n in conn.execute(stmt)}
