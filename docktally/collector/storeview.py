"""The collector's own read queries. Each takes a Connection; the caller owns the transaction."""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass

from sqlalchemy import Connection, func, select

from docktally.collector.reconcile import SLACK_NS, Known
from docktally.store.schema import containers, coverage, events

# Coverage closed for these reasons ended because the engine's stream ended under a watching
# collector: its end is when the engine stopped answering.
STREAM_LOST = ("disconnected", "engine_silent")


@dataclass(frozen=True)
class PreviousCoverage:
    end_ns: int  # how far the previous collector of this host and engine watched
    lost_stream: bool  # it ended because the engine's stream ended, not because it was stopped


def previous_coverage(conn: Connection, *, host: str, engine_url: str) -> PreviousCoverage | None:
    """The latest coverage row of this host and engine (closed, or as far as its heartbeat)."""
    end = func.coalesce(coverage.c.end_ns, coverage.c.heartbeat_ns, coverage.c.start_ns)
    row = conn.execute(
        select(end, coverage.c.closed_reason)
        .where(coverage.c.host == host)
        .where(coverage.c.engine_url == engine_url)
        .where(coverage.c.source == "collector")
        .order_by(end.desc(), coverage.c.id.desc())
        .limit(1)
    ).first()
    if row is None or row[0] is None:
        return None
    return PreviousCoverage(end_ns=int(row[0]), lost_stream=row[1] in STREAM_LOST)


def last_received(conn: Connection, *, host: str, at_ns: int) -> int | None:
    """When the newest event of this host received (not inferred) at or before `at_ns` happened."""
    last = conn.execute(
        select(func.max(events.c.time_ns))
        .select_from(events.join(containers, events.c.container_ref == containers.c.ref))
        .where(containers.c.host == host, events.c.time_ns <= at_ns)
        .where(events.c.inferred.is_(False))
    ).scalar()
    return int(last) if last is not None else None


def load_known(
    conn: Connection,
    *,
    host: str,
    container_ids: Iterable[str],
    gap_start_ns: int | None,
    restart_counts: dict[str, int] | None = None,
) -> dict[str, Known]:
    """What the database knows of each container, for `reconcile.infer_transitions`."""
    restart_counts = restart_counts or {}
    out: dict[str, Known] = {}
    ids = list(container_ids)
    refs: dict[str, int] = {}
    for i in range(0, len(ids), 500):
        stmt = select(containers.c.container_id, containers.c.ref).where(
            containers.c.host == host, containers.c.container_id.in_(ids[i : i + 500])
        )
        refs.update((str(c), int(r)) for c, r in conn.execute(stmt))
    for cid in ids:
        mine = (events.c.container_ref == refs.get(cid, -1),)
        last_q = select(func.max(events.c.time_ns)).where(*mine)
        if gap_start_ns is not None:
            last_q = last_q.where(events.c.time_ns <= gap_start_ns)
        last = conn.execute(last_q).scalar()
        q = select(events.c.time_ns, events.c.kind).where(
            *mine, events.c.kind.in_(["start", "die"])
        )
        if last is not None:
            q = q.where(events.c.time_ns >= int(last) - SLACK_NS)
        rows = conn.execute(q.order_by(events.c.time_ns.desc()).limit(2000)).fetchall()
        out[cid] = Known(
            last_before_gap_ns=int(last) if last is not None else None,
            starts_ns=tuple(int(t) for t, k in rows if k == "start"),
            dies_ns=tuple(int(t) for t, k in rows if k == "die"),
            restart_count=restart_counts.get(cid),
        )
    return out
