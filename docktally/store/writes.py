"""Repository writes. Each takes a Connection; the caller owns the transaction.

Inserts are idempotent on the natural key, so replays and re-imports write nothing twice.
"""

from __future__ import annotations

import contextlib
import functools
import zlib
from collections.abc import Iterable, Iterator, Mapping, Sequence
from itertools import accumulate, compress, filterfalse, islice, repeat
from operator import add, eq, gt, itemgetter, le, ne
from typing import Any

from sqlalchemy import (
    BigInteger,
    Boolean,
    Connection,
    Integer,
    Table,
    bindparam,
    func,
    or_,
    select,
    text,
    update,
)
from sqlalchemy.dialects import postgresql, sqlite

from docktally.errors import StoreError
from docktally.store.rows import (
    CONTAINER_FIELDS,
    EVENT_FIELDS,
    REQUIRED_FIELDS,
    ROW_FIELDS,
    EventRow,
)
from docktally.store.schema import (
    checkpoints,
    container_facts,
    containers,
    coverage,
    events,
    gaps,
    health_probes,
    log_tails,
    maintenance,
    raw_chunks,
    runs,
    summary_days,
)

RAW_COMPRESS_LEVEL = 1  # zlib's fastest: JSON this repetitive shrinks ~10x even so

_FACT_FIELDS = [c.name for c in container_facts.c if c.name not in ("observed_ns",)]
_FACT_CHARS = {  # the length of each text column that is not part of the key
    c.name: int(c.type.length)  # type: ignore[attr-defined]
    for c in container_facts.c
    if not c.primary_key and getattr(c.type, "length", None)
}


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
Descriptor = tuple[Any, Any, Any, Any]  # CONTAINER_FIELDS' values
_NO_DESCRIPTOR: Descriptor = (None, None, None, None)
# Longer names, images and labels are cut to their column's length when stored (the raw event
# keeps them whole): PostgreSQL refuses longer text, and one 50 MB name must not reach a report.
CONTAINER_FIELD_CHARS = tuple(
    int(containers.c[f].type.length)  # type: ignore[attr-defined]
    for f in CONTAINER_FIELDS
)


def storable_text(text: str | None, max_chars: int | None = None) -> str | None:
    """Text as a text column takes it on every backend: a NUL (which PostgreSQL cannot store)
    becomes U+FFFD, and anything past `max_chars` is cut."""
    if text is None:
        return None
    if "\x00" in text:
        text = text.replace("\x00", "\ufffd")
    return text if max_chars is None else text[:max_chars]


def _storable_descriptor(desc: Descriptor) -> Descriptor:
    a, b, c, d = (
        storable_text(None if v is None else str(v), n)
        for v, n in zip(desc, CONTAINER_FIELD_CHARS, strict=True)
    )
    return a, b, c, d


_SELECT_CONTAINERS = select(
    containers.c.ref,
    containers.c.container_id,
    containers.c.seen_ns,
    *[containers.c[f] for f in CONTAINER_FIELDS],
).where(
    containers.c.host == bindparam("host"),
    containers.c.container_id.in_(bindparam("ids", expanding=True)),
)


_NOTHING_STORED = -(1 << 63)  # below any time_ns (int8)
# Each container's newest stored event: one descent of the natural-key index per container.
_NEWEST_STORED = select(
    containers.c.ref,
    select(func.max(events.c.time_ns))
    .where(events.c.container_ref == containers.c.ref)
    .scalar_subquery(),
).where(containers.c.ref.in_(bindparam("refs", expanding=True)))


class Containers:
    """The `containers` rows one transaction has looked up or created, and the newest
    descriptors (name, image, compose labels, with their event's time) its events gave.

    insert_event_rows looks each container up in the database once per Containers, not once a
    batch, and keeps descriptor changes here until flush() writes them, once per container.
    Valid for one transaction only: after a rollback its refs may not exist.
    """

    def __init__(self) -> None:
        # key -> [ref, stored descriptor, stored seen_ns, newest descriptor, its time]
        self._rows: dict[Key, list[Any]] = {}
        self._refs: dict[Key, int] = {}
        self._changed: set[Key] = set()
        # ref -> the newest time_ns stored for it (by anyone before, or by this transaction)
        self._newest: dict[int, int] = {}
        # The last batch's COPY, left open: see end_copy.
        self._copy: contextlib.ExitStack | None = None
        self.has_turn = False  # whether the transaction holds the events' turn (take_turn)

    def end_copy(self) -> None:
        """End the COPY of events that insert_event_rows left open (PostgreSQL): the server
        works through a batch's rows while the import parses the next one and takes it apart
        (its columns, raw chunk and descriptors), and the COPY is ended only when the connection
        is needed again. Raises what the COPY met."""
        copy, self._copy = self._copy, None
        if copy is not None:
            with _unique_violation_as_store_error():
                copy.close()

    def abandon_copy(self, exc: BaseException) -> None:
        """After `exc`: end the open COPY, if any, as failed (the server discards it), so
        that the caller can roll back."""
        copy, self._copy = self._copy, None
        if copy is not None:
            copy.__exit__(type(exc), exc, exc.__traceback__)

    def beyond_stored(
        self, conn: Connection, refs: Sequence[int], times: Sequence[int], actions: Iterable[str]
    ) -> bool:
        """Whether no row of the batch (these columns) can share its natural key with a stored
        row or another row of the batch: each is newer than its container's newest stored event,
        and no two are alike. Notes the batch's times as stored either way (it is about to be)."""
        newest = self._newest
        unknown = [r for r in set(refs) if r not in newest]
        if unknown:
            self.end_copy()
        for i in range(0, len(unknown), 1000):
            part = unknown[i : i + 1000]
            newest.update(dict.fromkeys(part, _NOTHING_STORED))
            for ref, t in conn.execute(_NEWEST_STORED, {"refs": part}):
                if t is not None:
                    newest[ref] = int(t)
        beyond = all(map(gt, times, map(newest.__getitem__, refs)))
        if beyond and _ascending(times):  # as a file in time order gives them
            beyond = _none_alike(refs, times, list(actions))
            if beyond:  # all new, and each container's last row is its newest
                newest.update(zip(refs, times, strict=True))
                return True
        elif beyond:
            beyond = len(set(zip(refs, times, actions, strict=True))) == len(refs)
        for ref, t in zip(refs, times, strict=True):
            if t > newest[ref]:
                newest[ref] = t
        return beyond

    def refs(
        self,
        conn: Connection,
        keys: Sequence[Key],
        times: Sequence[int],
        descriptors: Sequence[Descriptor],
    ) -> list[int]:
        """`containers.ref` for each row's key (host, container_id), creating missing rows, and
        noting each container's newest descriptors. The arguments are columns of one batch."""
        # Per container, its newest row that describes it: the last in time order (a stable
        # sort, so of equal times the later row).
        n = len(keys)
        ascending = _ascending(times)
        present: Iterable[Key]  # the batch's containers
        if ascending and _NO_DESCRIPTOR not in descriptors:  # the usual batch: one pass
            newest = present = dict(zip(keys, range(n), strict=True))
        else:
            order = range(n) if ascending else sorted(range(n), key=times.__getitem__)
            described = map(ne, map(descriptors.__getitem__, order), repeat(_NO_DESCRIPTOR))
            rows = list(compress(order, described))
            newest = dict(zip(map(keys.__getitem__, rows), rows, strict=True))
            present = dict.fromkeys(keys)
        missing = list(filterfalse(self._refs.__contains__, present))
        if missing:
            self.end_copy()
            self._load(conn, missing)
        for key, i in newest.items():
            row = self._rows[key]
            t = times[i]
            if row[4] is None or t >= row[4]:
                row[3], row[4] = descriptors[i], t
                self._changed.add(key)
        return list(map(self._refs.__getitem__, keys))

    def _load(self, conn: Connection, keys: list[Key]) -> None:
        def fetch(keys: list[Key]) -> None:
            by_host: dict[str, list[str]] = {}
            for host, cid in keys:
                by_host.setdefault(host, []).append(cid)
            for host, cids in by_host.items():
                for i in range(0, len(cids), 500):
                    params = {"host": host, "ids": cids[i : i + 500]}
                    for ref, cid, seen, *desc in conn.execute(_SELECT_CONTAINERS, params):
                        d = tuple(desc)
                        self._rows[(host, cid)] = [int(ref), d, seen, d, seen]
                        self._refs[(host, cid)] = int(ref)

        fetch(keys)
        new = [k for k in keys if k not in self._rows]
        if not new:
            return
        if conn.dialect.name == "postgresql":  # one statement, not one per row
            hosts: dict[str, list[str]] = {}
            for host, cid in new:
                hosts.setdefault(host, []).append(cid)
            for host, cids in hosts.items():
                conn.execute(_PG_NEW_CONTAINERS, {"host": host, "ids": cids})
        else:
            insert_ignoring_duplicates(
                conn, containers, [{"host": h, "container_id": c} for h, c in new]
            )
        fetch(new)

    def flush(self, conn: Connection) -> None:
        """Write the newest descriptors noted since the last flush; an older one never
        overwrites what a newer event said (also one another writer stored meanwhile)."""
        self.end_copy()
        params = []
        for key in self._changed:
            ref, stored, seen, desc, t = self._rows[key]
            if desc != stored or seen is None or t > seen:
                name, image, project, service = _storable_descriptor(desc)
                params.append({"r": ref, "n": name, "i": image, "p": project, "s": service,
                               "t": t})  # fmt: skip
                self._rows[key][1:3] = [desc, t]
        self._changed.clear()
        if params and conn.dialect.name == "postgresql":  # one statement, not one per row
            columns = {k: [p[k] for p in params] for k in ("r", "n", "i", "p", "s", "t")}
            conn.execute(_PG_NEWER_DESCRIPTORS, columns)
        elif params:
            conn.execute(
                update(containers)
                .where(containers.c.ref == bindparam("r"))
                .where(or_(containers.c.seen_ns.is_(None), containers.c.seen_ns <= bindparam("t")))
                .values(
                    name=bindparam("n"),
                    image=bindparam("i"),
                    compose_project=bindparam("p"),
                    compose_service=bindparam("s"),
                    seen_ns=bindparam("t"),
                ),
                params,
            )


def _ascending(times: Sequence[int]) -> bool:
    return all(map(le, times, islice(times, 1, None)))


def _none_alike(refs: Sequence[int], times: Sequence[int], actions: Sequence[str]) -> bool:
    """Whether no two rows share (ref, time, action), for rows in time order: only rows of
    equal times can (3% of the bench's events, a container's `kill` and `die`)."""
    later = compress(range(1, len(times)), map(eq, islice(times, 1, None), times))
    tied = [(refs[j], times[j], actions[j]) for j in {j for i in later for j in (i - 1, i)}]
    return len(set(tied)) == len(tied)


# PostgreSQL: a batch's new containers, and the newest descriptors at the end of an import, in
# one statement each (an executemany of 10,000 rows is 10,000 statements parsed and planned).
_PG_NEW_CONTAINERS = text(
    "INSERT INTO containers (host, container_id) "
    "SELECT :host, unnest(CAST(:ids AS text[])) ON CONFLICT DO NOTHING"
)
_PG_NEWER_DESCRIPTORS = text(
    "UPDATE containers AS c "
    "SET name = v.n, image = v.i, compose_project = v.p, compose_service = v.s, seen_ns = v.t "
    "FROM unnest(CAST(:r AS bigint[]), CAST(:n AS text[]), CAST(:i AS text[]), "
    "CAST(:p AS text[]), CAST(:s AS text[]), CAST(:t AS bigint[])) AS v(r, n, i, p, s, t) "
    "WHERE c.ref = v.r AND (c.seen_ns IS NULL OR c.seen_ns <= v.t)"
)


def compress_raw(joined: bytes) -> bytes:
    """Lines joined by "\n" (a final "\n" allowed) -> a raw_chunks body, with zlib (in the
    standard library: the collector need not load Arrow for its small batches)."""
    return zlib.compress(joined, RAW_COMPRESS_LEVEL)


_ZSTD_TAG = b"z"  # a zlib stream starts with 0x78, never with this
_ZSTD_FROM_LINES = 1000  # batches this large are compressed with zstd


def compress_raw_zstd(joined: bytes) -> bytes:
    """As compress_raw, with Arrow's zstd: 5x faster than zlib's fastest level and ~30%
    smaller, for bulk imports. Tagged, with the uncompressed size Arrow wants back."""
    packed = _zstd().compress(joined, asbytes=True)
    return _ZSTD_TAG + len(joined).to_bytes(8, "little") + packed


@functools.cache
def _zstd() -> Any:
    """zstd's level 1: as small as Arrow's default level on engine events, ~20% faster."""
    import pyarrow as pa

    return pa.Codec("zstd", compression_level=1)


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


def _raw_body(raws: list[Any]) -> bytes:
    """Raw events (str or UTF-8 bytes) -> a raw_chunks body: one line each, a newline inside
    one (never from the engine) made a space so the chunk's framing holds."""
    try:
        lines = raws
        joined = b"\n".join(lines)
    except TypeError:  # text (the collector's), not bytes (the import's)
        lines = [r.encode("utf-8") if isinstance(r, str) else bytes(r) for r in raws]
        joined = b"\n".join(lines)
    if joined.count(b"\n") != len(lines) - 1:
        joined = b"\n".join(line.replace(b"\n", b" ") for line in lines)
    return compress_raw_zstd(joined) if len(lines) >= _ZSTD_FROM_LINES else compress_raw(joined)


def insert_events(
    conn: Connection, rows: Sequence[Mapping[str, Any]], known: Containers | None = None
) -> int:
    """Normalised rows as dicts (normalize.normalize_event's) -> insert_event_rows; a row may
    leave out the fields it does not know (None), not those of store.rows.REQUIRED_FIELDS."""
    try:
        tuples = list(map(_row_tuple, rows))
    except KeyError:
        tuples = [tuple(r[k] if k in REQUIRED_FIELDS else r.get(k) for k in ROW_FIELDS)
                  for r in rows]  # fmt: skip
    return insert_event_rows(conn, tuples, known)


def insert_event_rows(
    conn: Connection, rows: Sequence[EventRow], known: Containers | None = None
) -> int:
    """Normalised rows (tuples of store.rows.ROW_FIELDS) -> containers, raw_chunks and events;
    rows already stored (same natural key) are left alone. Returns rows written.

    The one way events are written, by the collector and the import. A bulk import passes one
    `known` for its whole transaction and flushes it at the end; without one, the containers'
    descriptors are written here.
    """
    if not rows:
        return 0
    # What needs no connection first: the server may still be storing the last batch's COPY
    # (Containers.end_copy), and does so meanwhile.
    batch = _Batch(rows)
    raws = [r for r in batch.raws if r is not None]
    body = _raw_body(raws) if raws else None
    cache = Containers() if known is None else known
    take_turn(conn, known)
    refs = cache.refs(conn, batch.keys, batch.times, batch.descriptors)
    cache.end_copy()
    chunk_id = store_raw_chunk(conn, body, len(raws)) if body is not None else None
    n = len(rows)
    tail: Iterable[tuple[Any, ...]]  # (container_ref, raw_chunk, raw_line) of each row
    if len(raws) == n:
        tail = zip(refs, repeat(chunk_id), range(n))
    else:  # the raw lines are numbered in the chunk in order, rows without one skipped
        has = [r is not None for r in batch.raws]
        before = accumulate(has, initial=0)  # raw lines before each row (one count extra)
        tail = (
            (ref, chunk_id, i) if h else (ref, None, None)
            for ref, i, h in zip(refs, before, has, strict=False)
        )
    # Each row's EVENT_COLUMNS, put together by C calls (itemgetter, zip, tuple +).
    params = list(map(add, map(_event_fields, batch.rows), tail))
    if conn.dialect.name == "postgresql":
        # A bulk import's batch beyond what is stored needs no conflict check (see _copy_events).
        actions = map(_ACTION, batch.rows)
        fresh = known is not None and known.beyond_stored(conn, refs, batch.times, actions)
        if fresh:  # all new, and its COPY may be left open: marked first
            mark_days_dirty(conn, int(min(batch.times)))
        written = _copy_events(conn, params, fresh, known)
    else:
        fresh = False
        columns = ", ".join(EVENT_COLUMNS)
        marks = ", ".join(["?"] * len(EVENT_COLUMNS))
        sql = f"INSERT INTO events ({columns}) VALUES ({marks}) ON CONFLICT DO NOTHING"
        written = int(conn.exec_driver_sql(sql, params).rowcount)
    if written and not fresh:
        mark_days_dirty(conn, int(min(batch.times)))
    if written == 0 and chunk_id is not None:
        # Everything was stored already (a replay): its raw is too, so keep no second copy.
        conn.execute(raw_chunks.delete().where(raw_chunks.c.id == chunk_id))
    if known is None:
        cache.flush(conn)
    return written


# pg_advisory_xact_lock's key for writing events: any bigint no other application on the
# database uses, and not store.db's migration lock.
_PG_EVENTS_LOCK = 0x646F636B6576656E  # "dockeven"
# How long a collector's write waits for its turn (another collector's batch, or an import,
# which keeps the turn until it commits) before it fails as a busy SQLite database does after
# its busy_timeout (store.db): the batch stays in the collector's spool and is tried again.
TURN_WAIT_S = 10.0


def take_turn(conn: Connection, known: Containers | None = None) -> None:
    """PostgreSQL: wait until no other transaction writes events, and keep the turn until this
    one ends (a transaction-scoped advisory lock). Ids come from a sequence when a row is
    inserted, and a writer that took smaller ids could commit after one that took larger
    ones; a reader that read the larger (store.collection.NewestEvents, store.reads'
    LastEvents and events_written_since) would never read the smaller. Taken in turns, ids
    become visible in the order they were taken, as on SQLite, which writes one transaction
    at a time. Taken before the transaction's first event (its first id): insert_event_rows does.

    A bulk import (`known`) takes it once and waits as long as it must; the collector's
    writes wait TURN_WAIT_S at most (lock_timeout), then fail (a SQLAlchemy OperationalError).
    `docktally import` is one transaction for its whole file (all or nothing), so it keeps the
    turn from its first batch to its commit: 16-24 s for the 1M-event file of
    bench/bench_import.py on a 2-core machine; collectors' batches wait in their spools.
    No deadlock: writers take it before any row of `containers`, `events` or `summary_days`,
    the rows two writers of events may both want, and hold no other lock a holder waits for:
    the collector's facts and gap rows before it are its own host's, and store.hosts'
    naming lock, taken before it when a session opens, is never taken after it."""
    if conn.dialect.name != "postgresql" or (known is not None and known.has_turn):
        return
    key = {"k": _PG_EVENTS_LOCK}
    if not conn.execute(text("SELECT pg_try_advisory_xact_lock(:k)"), key).scalar():
        if known is None:  # lock_timeout for this wait only, the transaction's own after
            was = conn.execute(text("SELECT current_setting('lock_timeout')")).scalar()
            wait = {"v": f"{int(TURN_WAIT_S * 1000)}"}
            conn.execute(text("SELECT set_config('lock_timeout', :v, true)"), wait)
            conn.execute(text("SELECT pg_advisory_xact_lock(:k)"), key)
            conn.execute(text("SELECT set_config('lock_timeout', :v, true)"), {"v": was})
        else:
            conn.execute(text("SELECT pg_advisory_xact_lock(:k)"), key)
    if known is not None:
        known.has_turn = True


class _Batch:
    """What insert_event_rows reads of its rows, as columns, each taken by one C-level pass
    (itemgetter). `rows` are the rows with `inferred` a bool and `evidence` storable text."""

    def __init__(self, rows: Sequence[EventRow]) -> None:
        if set(map(type, map(_inferred, rows))) != {bool}:
            rows = [_with(r, _INFERRED, bool(r[_INFERRED])) for r in rows]
        if set(map(type, map(_evidence, rows))) != {type(None)}:
            rows = [
                r if r[_EVIDENCE] is None else _with(r, _EVIDENCE, storable_text(str(r[_EVIDENCE])))
                for r in rows
            ]
        self.rows = rows
        self.keys: list[Key] = list(map(_key, rows))
        self.times: list[int] = list(map(_time, rows))
        self.descriptors: list[Descriptor] = list(map(_descriptor, rows))
        self.raws: list[Any] = list(map(_raw, rows))


def _with(t: tuple[Any, ...], i: int, value: Any) -> tuple[Any, ...]:
    return (*t[:i], value, *t[i + 1 :])


# A bulk import's SQLite page cache. Its rows land all over the natural-key index, and with
# the default 2 MiB cache SQLite writes the same index pages out again and again.
BULK_CACHE_MIB = 256


@contextlib.contextmanager
def bulk_cache(conn: Connection) -> Iterator[None]:
    """A larger page cache on SQLite for the block's inserts, the connection's own after."""
    if conn.dialect.name != "sqlite":
        yield
        return
    before = conn.exec_driver_sql("PRAGMA cache_size").scalar_one()
    conn.exec_driver_sql(f"PRAGMA cache_size=-{BULK_CACHE_MIB * 1024}")
    try:
        yield
    finally:
        conn.exec_driver_sql(f"PRAGMA cache_size={int(before)}")


def _copy_events(
    conn: Connection, params: list[tuple[Any, ...]], fresh: bool, known: Containers | None
) -> int:
    """PostgreSQL: the rows through binary COPY. COPY cannot skip rows already stored, so a
    batch that may hold some goes into a temporary table first, then one INSERT ... SELECT ...
    ON CONFLICT DO NOTHING; a `fresh` one (Containers.beyond_stored) straight into events,
    which costs the server a third less (1M events: 3.7 against 5.5 s of its CPU), and with
    `known` its COPY is left open for the server to finish while the next batch is parsed
    (Containers.end_copy). Other writers of events wait for the import's commit (take_turn);
    the unique key still guards a fresh batch against one that does not (an older docktally):
    if it stored one of the batch's events meanwhile, the COPY fails and with it the import's
    transaction, and nothing is imported."""
    columns = ", ".join(EVENT_COLUMNS)
    driver = conn.connection.driver_connection  # psycopg's connection, in conn's transaction
    assert driver is not None
    cur = driver.cursor()
    if fresh:
        with _unique_violation_as_store_error(), contextlib.ExitStack() as copy:
            copy.callback(cur.close)
            _copy_rows(cur, "events", params, copy)
            if known is not None:
                known._copy = copy.pop_all()  # ended by known.end_copy, not here
        return len(params)
    try:
        cur.execute(
            f"CREATE TEMPORARY TABLE IF NOT EXISTS events_in AS SELECT {columns} FROM events "
            "WITH NO DATA"
        )
        with contextlib.ExitStack() as copy:
            _copy_rows(cur, "events_in", params, copy)
        cur.execute(
            f"INSERT INTO events ({columns}) SELECT {columns} FROM events_in ON CONFLICT DO NOTHING"
        )
        written = int(cur.rowcount)
        cur.execute("TRUNCATE events_in")
    finally:
        cur.close()
    return written


@contextlib.contextmanager
def _unique_violation_as_store_error() -> Iterator[None]:
    try:
        yield
    except Exception as exc:
        if getattr(exc, "sqlstate", None) != _UNIQUE_VIOLATION:
            raise
        raise StoreError(
            "another writer stored some of the same events while they were imported; "
            "nothing was imported: run the import again (it skips what is stored)"
        ) from None


def _copy_rows(
    cur: Any, table: str, params: list[tuple[Any, ...]], until: contextlib.ExitStack
) -> None:
    """Rows of EVENT_COLUMNS into `table` by binary COPY (client and server skip the text
    format: 40% less of the client's COPY time). The COPY ends when `until` closes."""
    sql = f"COPY {table} ({', '.join(EVENT_COLUMNS)}) FROM STDIN (FORMAT BINARY)"
    copy = until.enter_context(cur.copy(sql))
    copy.set_types(_PG_TYPES)
    for p in params:
        copy.write_row(p)


EVENT_COLUMNS = (*EVENT_FIELDS, "container_ref", "raw_chunk", "raw_line")
# Each column's PostgreSQL type, as binary COPY wants them named.
_PG_TYPES = [
    "int8" if isinstance(t, BigInteger)
    else "int4" if isinstance(t, Integer)
    else "bool" if isinstance(t, Boolean)
    else "text"
    for t in (events.c[c].type for c in EVENT_COLUMNS)
]  # fmt: skip
_UNIQUE_VIOLATION = "23505"
_row_tuple = itemgetter(*ROW_FIELDS)
_key = itemgetter(ROW_FIELDS.index("host"), ROW_FIELDS.index("container_id"))
_time = itemgetter(ROW_FIELDS.index("time_ns"))
_descriptor = itemgetter(*map(ROW_FIELDS.index, CONTAINER_FIELDS))
_raw = itemgetter(ROW_FIELDS.index("raw"))
_event_fields = itemgetter(slice(0, len(EVENT_FIELDS)))  # ROW_FIELDS begins with them
_ACTION = itemgetter(ROW_FIELDS.index("action"))
_INFERRED = ROW_FIELDS.index("inferred")
_EVIDENCE = ROW_FIELDS.index("evidence")
_inferred = itemgetter(_INFERRED)
_evidence = itemgetter(_EVIDENCE)


def record_facts(conn: Connection, row: Mapping[str, Any]) -> bool:
    """Append the container's facts if they differ from the latest stored; True if written.

    Facts are a history, so "the restart policy in effect at the time" can be looked up.
    Text is stored as storable_text makes it (names and labels cut to their column's length).
    """
    row = {
        f: storable_text(v, _FACT_CHARS.get(f)) if isinstance(v, str) else v for f, v in row.items()
    }
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


def begin_engine_restart_earlier(
    conn: Connection, *, host: str, engine_url: str | None, gap_start_ns: int, new_start_ns: int
) -> bool:
    """The engine-restart gap found at `gap_start_ns` began at `new_start_ns`, and so did the
    end of the coverage row that ran up to it. Only a gap that ends later than it starts: the
    next coverage starts at its end, so none of the restarted engine's events falls out."""
    moved = conn.execute(
        update(gaps)
        .where(gaps.c.host == host, gaps.c.engine_url == engine_url)
        .where(gaps.c.reason == "engine_restart", gaps.c.start_ns == gap_start_ns)
        .where(gaps.c.end_ns > gap_start_ns)
        .values(start_ns=new_start_ns)
    ).rowcount
    if not moved:
        return False
    conn.execute(
        update(coverage)
        .where(coverage.c.host == host, coverage.c.engine_url == engine_url)
        .where(coverage.c.source == "collector", coverage.c.end_ns == gap_start_ns)
        .values(end_ns=new_start_ns, heartbeat_ns=new_start_ns)
    )
    return True


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
                "lines": storable_text(lines),
                "size_bytes": len(lines.encode("utf-8", "replace")),
                "truncated": truncated,
            }
        ],
    )


# The engine cuts a probe's output at 4 KiB; a bound here too, whatever an engine sends.
MAX_PROBE_OUTPUT_CHARS = 4096


def save_health_probes(
    conn: Connection,
    *,
    host: str,
    container_id: str,
    event_ns: int,
    probes: Sequence[Mapping[str, Any]],
) -> int:
    """The probes (collector.normalize.health_probes_from_inspect) read after the unhealthy
    event at `event_ns`; a probe already stored (by its start) is kept as it was."""
    return insert_ignoring_duplicates(
        conn,
        health_probes,
        [
            {
                "host": host,
                "container_id": container_id,
                "start_ns": int(p["start_ns"]),
                "end_ns": p["end_ns"],
                "exit_code": p["exit_code"],
                "output": storable_text(str(p["output"]), MAX_PROBE_OUTPUT_CHARS) or "",
                "event_ns": event_ns,
            }
            for p in probes
        ],
    )


DAY_NS = 86_400 * 1_000_000_000


def mark_days_dirty(conn: Connection, start_ns: int, end_ns: int | None = None) -> None:
    """The built day summaries (store.summaries) of the days in [start, end) are built again:
    events stored at `start_ns` change its day and, through the state carried forward, every
    day after it (end None); a maintenance window changes the days it touches."""
    where = [summary_days.c.day_ns > int(start_ns) - DAY_NS, summary_days.c.dirty.is_(False)]
    if end_ns is not None:
        where.append(summary_days.c.day_ns < int(end_ns))
    conn.execute(update(summary_days).where(*where).values(dirty=True))


def add_maintenance(conn: Connection, row: Mapping[str, Any]) -> int:
    mark_days_dirty(conn, int(row["start_ns"]), int(row["end_ns"]))
    result = conn.execute(maintenance.insert().values(**row))
    pk = result.inserted_primary_key
    assert pk is not None
    return int(pk[0])


def maintenance_row(conn: Connection, mid: int) -> dict[str, Any] | None:
    """One maintenance window by id, or None."""
    row = conn.execute(select(maintenance).where(maintenance.c.id == mid)).mappings().first()
    return None if row is None else dict(row)


def edit_maintenance(conn: Connection, mid: int, changes: Mapping[str, Any], note: str) -> bool:
    """Change a window's fields; `note` (who, when, why) is appended to its reason, so the
    history of the row stays with it. False when no window has this id."""
    row = maintenance_row(conn, mid)
    if row is None:
        return False
    values = {**changes, "reason": f"{row['reason']}\n{note}"}
    new = {**row, **changes}
    for r in (row, new):  # the days it covered and the days it covers
        mark_days_dirty(conn, int(r["start_ns"]), int(r["end_ns"]))
    conn.execute(update(maintenance).where(maintenance.c.id == mid).values(**values))
    return True


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
