"""Repository writes. Each takes a Connection; the caller owns the transaction.

Inserts are idempotent on the natural key, so replays and re-imports write nothing twice.
"""

from __future__ import annotations

import zlib
from collections.abc import Iterable, Mapping, Sequence
from typing import Any

from sqlalchemy import Connection, Table, func, select, tuple_, update
from sqlalchemy.dialects import postgresql, sqlite

from docktally.store import packing
from docktally.store.schema import (
    checkpoints,
    container_facts,
    containers,
    coverage,
    events,
    gaps,
    log_tails,
    maintenance,
    raw_chunks,
    runs,
)

# What an events row says about its container: stored once per container in `containers`.
CONTAINER_FIELDS = ("name", "image", "compose_project", "compose_service")
# The columns of `events` a normalised row fills directly.
EVENT_FIELDS = (
    "time_ns",
    "action",
    "kind",
    "exit_code",
    "signal",
    "health",
    "inferred",
    "cause_hint",
    "evidence",
    "source",
)
RAW_COMPRESS_LEVEL = 1  # zlib's fastest: JSON this repetitive shrinks ~10x even so

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


Key = tuple[str, str]  # (host, container_id)


def _latest_descriptors(rows: Iterable[Mapping[str, Any]]) -> dict[Key, dict[str, Any]]:
    """Per container, what its newest event that says anything of it says (name, image,
    compose labels; seen_ns is its time). Whatever the order rows come in, the newest wins."""
    out: dict[Key, dict[str, Any]] = {}
    for row in rows:
        key = (str(row["host"]), str(row["container_id"]))
        cur = out.setdefault(key, {"seen_ns": None, **dict.fromkeys(CONTAINER_FIELDS)})
        t = int(row["time_ns"])
        if any(row.get(f) is not None for f in CONTAINER_FIELDS) and (
            cur["seen_ns"] is None or t >= cur["seen_ns"]
        ):
            cur.update({f: row.get(f) for f in CONTAINER_FIELDS}, seen_ns=t)
    return out


def ensure_containers(
    conn: Connection, described: Mapping[Key, Mapping[str, Any]]
) -> dict[Key, int]:
    """`containers.ref` of each (host, container_id), creating missing rows, and bringing name,
    image and compose labels up to date when a newer event says otherwise."""
    refs: dict[Key, int] = {}
    keys = list(described)
    existing: dict[Key, Any] = {}
    for i in range(0, len(keys), 500):
        part = keys[i : i + 500]
        stmt = select(
            containers.c.ref,
            containers.c.host,
            containers.c.container_id,
            containers.c.seen_ns,
            *[containers.c[f] for f in CONTAINER_FIELDS],
        ).where(tuple_(containers.c.host, containers.c.container_id).in_(part))
        for row in conn.execute(stmt):
            existing[(row.host, row.container_id)] = row
    missing = [k for k in keys if k not in existing]
    if missing:
        insert_ignoring_duplicates(
            conn,
            containers,
            [{"host": h, "container_id": c, **described[(h, c)]} for h, c in missing],
        )
        for i in range(0, len(missing), 500):
            part = missing[i : i + 500]
            stmt = select(containers.c.ref, containers.c.host, containers.c.container_id).where(
                tuple_(containers.c.host, containers.c.container_id).in_(part)
            )
            for ref, host, cid in conn.execute(stmt):
                refs[(host, cid)] = int(ref)
    for key, row in existing.items():
        refs[key] = int(row.ref)
        new = described[key]
        if new.get("seen_ns") is None or (row.seen_ns is not None and new["seen_ns"] < row.seen_ns):
            continue
        changed = {f: new[f] for f in CONTAINER_FIELDS if new[f] != row._mapping[f]}
        if changed or row.seen_ns != new["seen_ns"]:
            conn.execute(
                update(containers)
                .where(containers.c.ref == row.ref)
                .values(**changed, seen_ns=new["seen_ns"])
            )
    return refs


def pack_raw(lines: Sequence[bytes]) -> bytes:
    """Raw event lines (none holding a newline) -> a raw_chunks body (see schema.raw_chunks)."""
    return compress_raw(b"\n".join(lines))


def compress_raw(joined: bytes) -> bytes:
    """Lines joined by "\n" (a final "\n" allowed) -> a raw_chunks body, with zlib (in the
    standard library: the collector need not load Arrow for its small batches)."""
    return zlib.compress(joined, RAW_COMPRESS_LEVEL)


_ZSTD_TAG = b"z"  # a zlib stream starts with 0x78, never with this


def compress_raw_zstd(joined: bytes) -> bytes:
    """As compress_raw, with Arrow's zstd: 3x faster than zlib's fastest level and ~30%
    smaller, for bulk imports. Tagged, with the uncompressed size Arrow wants back."""
    import pyarrow as pa

    packed = pa.compress(joined, codec="zstd", asbytes=True)
    return _ZSTD_TAG + len(joined).to_bytes(8, "little") + packed


def unpack_raw(body: bytes) -> list[str]:
    """A raw_chunks body (either codec) -> its lines."""
    if body[:1] == _ZSTD_TAG:
        import pyarrow as pa

        size = int.from_bytes(body[1:9], "little")
        data = pa.decompress(body[9:], decompressed_size=size, codec="zstd", asbytes=True)
    else:
        data = zlib.decompress(body)
    text = data.decode("utf-8")
    return text[:-1].split("\n") if text.endswith("\n") else text.split("\n")


def store_raw_chunk(conn: Connection, body: bytes, lines: int) -> int:
    result = conn.execute(raw_chunks.insert().values(body=body, lines=lines))
    pk = result.inserted_primary_key
    assert pk is not None
    return int(pk[0])


def insert_events(conn: Connection, rows: Sequence[Mapping[str, Any]]) -> int:
    """Normalised rows (normalize.normalize_event's dicts) -> containers, raw_chunks and events;
    rows already stored (same natural key) are left alone. Returns rows written."""
    if not rows:
        return 0
    refs = ensure_containers(conn, _latest_descriptors(rows))
    raws = [r for r in rows if r.get("raw") is not None]
    chunk_id: int | None = None
    raw_line: dict[int, int] = {}
    if raws:
        lines = []
        for i, r in enumerate(raws):
            text = str(r["raw"])
            if "\n" in text:  # never from the engine; keep the chunk's framing sound anyway
                text = text.replace("\n", " ")
            lines.append(text.encode("utf-8"))
            raw_line[id(r)] = i
        chunk_id = store_raw_chunk(conn, pack_raw(lines), len(lines))
    params = []
    for r in rows:
        p = {f: r.get(f) for f in EVENT_FIELDS}
        p["inferred"] = bool(p["inferred"])
        p["packed"] = packing.pack(
            action=str(p["action"]),
            kind=str(p["kind"]),
            exit_code=p["exit_code"],
            signal=p["signal"],
            health=p["health"],
            inferred=bool(p["inferred"]),
            cause_hint=p["cause_hint"],
        )
        p["container_ref"] = refs[(str(r["host"]), str(r["container_id"]))]
        line = raw_line.get(id(r))
        p["raw_chunk"] = chunk_id if line is not None else None
        p["raw_line"] = line
        params.append(p)
    if conn.dialect.name == "postgresql":
        stmt = postgresql.insert(events).on_conflict_do_nothing().returning(events.c.id)
        written = len(conn.execute(stmt, params).all())
    else:
        written = int(conn.execute(sqlite.insert(events).on_conflict_do_nothing(), params).rowcount)
    if written == 0 and chunk_id is not None:
        # Everything was stored already (a replay): its raw is too, so keep no second copy.
        conn.execute(raw_chunks.delete().where(raw_chunks.c.id == chunk_id))
    return written


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


# An open coverage row whose heartbeat is older than this belongs to a collector that is gone
# (a live one heartbeats every 0.5 s); a fresher one is another collector's, still watching.
ABANDONED_AFTER_NS = 10 * 1_000_000_000


def close_abandoned_coverage(
    conn: Connection, *, host: str, engine_url: str | None, now_ns: int
) -> int:
    """A collector killed with -9 left its coverage open: it watched until its last heartbeat.
    Only rows whose heartbeat is stale are closed: a second collector on the same host and
    engine (`lab` beside `up`, two `collect`) must not end the first one's live coverage."""
    last_beat = func.coalesce(coverage.c.heartbeat_ns, coverage.c.start_ns)
    result = conn.execute(
        update(coverage)
        .where(coverage.c.host == host)
        .where(coverage.c.engine_url == engine_url)
        .where(coverage.c.end_ns.is_(None))
        .where(last_beat < now_ns - ABANDONED_AFTER_NS)
        .values(end_ns=last_beat, closed_reason="abandoned")
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


def run_label_taken(conn: Connection, label: str) -> bool:
    """Whether a run of this label is stored: a lab checks before it starts anything."""
    return conn.execute(select(runs.c.label).where(runs.c.label == label)).first() is not None


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
