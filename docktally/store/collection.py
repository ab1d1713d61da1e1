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


class NewestEvents:
    """last_event_ns_by_host kept from one read to the next: events are never deleted, so a
    read needs only those stored since the last one (ids above the newest then, through the
    primary key), where the whole query reads every event (35 ms at 300,000, every refresh of
    the metrics). Ids become visible in the order they were taken on either backend (see
    store.writes.take_turn), so no row can commit below an id already read."""

    def __init__(self) -> None:
        self.top_id = 0
        self.by_host: dict[str, int] = {}

    def read(self, conn: Connection) -> dict[str, int]:
        stmt = (
            select(containers.c.host, func.max(events.c.time_ns), func.max(events.c.id))
            .select_from(events.join(containers, containers.c.ref == events.c.container_ref))
            .where(events.c.id > self.top_id)
            .group_by(containers.c.host)
        )
        for host, t, top in conn.execute(stmt).all():
            self.by_host[str(host)] = max(self.by_host.get(str(host), int(t)), int(t))
            self.top_id = max(self.top_id, int(top))
        return dict(self.by_host)


def gaps_by_host(conn: Connection) -> dict[str, int]:
    stmt = select(gaps.c.host, func.count()).group_by(gaps.c.host)
    return {str(host): int(n) for host, n in conn.execute(stmt)}
