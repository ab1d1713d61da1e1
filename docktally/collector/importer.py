"""`docker events --format '{{json .}}'` lines -> `events` rows -> the store.

No docker SDK and no clock: the caller passes the lines, the connection (and so owns the
transaction) and a progress callback. Rows are what normalize.normalize_event makes, as the live
collector's are, with the raw JSON being the line exactly as read.

SQLite takes a fast path, built for 100,000 events/s on two cores:

- parsing (orjson) turns each line into a few columns: the container's `containers.ref`
  (assigned here for new containers: the import holds SQLite's write lock from the start, so
  nobody else can), time, action, and exit code, signal, kind and health where they are not
  implied by the action. Events of the engine's usual shape take `_fast_columns`, anything
  else goes through normalize_event itself (tests/test_import_fast.py checks the stored rows
  are equal);
- each chunk's raw lines are compressed into one raw_chunks row;
- the columns go into an index-free TEMP table with one executemany, then into `events` with
  one INSERT ... SELECT sorted by (container_ref, time_ns): the natural-key index is then
  updated in key order, not at random;
- with `workers=1` (the CLI, reading a file) a forked process does the parsing and the
  compression while this one writes: the two run on two cores.

PostgreSQL goes through normalize_event and store.writes.insert_events, chunk by chunk.
"""

from __future__ import annotations

import gc
import marshal
import queue
from collections.abc import Callable, Iterable, Iterator, Sequence
from dataclasses import dataclass, field
from itertools import islice
from typing import Any

import orjson
from sqlalchemy import Connection, select

from docktally.collector.normalize import (
    COMPOSE_PROJECT,
    COMPOSE_SERVICE,
    InvalidEvent,
    _int_or_none,
    normalize_event,
    parse_signal,
)
from docktally.store import writes
from docktally.store.schema import containers, coverage

SOURCE = "import"
CHUNK_ROWS = 20_000


class InvalidLine(ValueError):
    """A line that is not a storable event: `line_no` (1-based) and the reason."""

    def __init__(self, line_no: int, reason: str) -> None:
        super().__init__(f"line {line_no}: {reason}")
        self.line_no = line_no
        self.reason = reason


@dataclass
class ImportResult:
    read: int = 0  # non-blank lines
    new: int = 0  # rows written
    already_stored: int = 0  # container events whose natural key was there already
    not_container: int = 0  # valid events about something else (network, image, ...)
    invalid: list[InvalidLine] = field(default_factory=list)  # with skip_invalid only
    first_ns: int | None = None
    last_ns: int | None = None
    coverage_id: int | None = None

    @property
    def skipped(self) -> int:
        return self.not_container + len(self.invalid)

    def summary(self) -> str:
        parts = [
            f"{self.read:,} read",
            f"{self.new:,} new",
            f"{self.already_stored:,} already stored",
            f"{self.skipped:,} skipped",
        ]
        detail = []
        if self.not_container:
            detail.append(f"{self.not_container:,} not about a container")
        if self.invalid:
            detail.append(f"{len(self.invalid):,} invalid")
        return ", ".join(parts) + (f" ({'; '.join(detail)})" if detail else "")


def parse_line(line: bytes | str, line_no: int, *, host: str) -> dict[str, Any] | None:
    """One line -> an `events` row, or None for an event that is not about a container.

    Raises InvalidLine naming what is wrong.
    """
    try:
        payload = orjson.loads(line)
    except orjson.JSONDecodeError as exc:
        raise InvalidLine(line_no, f"not JSON ({exc})") from None
    if not isinstance(payload, dict):
        raise InvalidLine(line_no, f"not a JSON object (a {_json_type(payload)})")
    raw = line.decode("utf-8") if isinstance(line, bytes) else line
    try:
        return normalize_event(payload, host=host, source=SOURCE, raw=raw.rstrip("\r\n"))
    except InvalidEvent as exc:
        raise InvalidLine(line_no, str(exc)) from None


def _json_type(value: object) -> str:
    if isinstance(value, list):
        return "list"
    if isinstance(value, str):
        return "string"
    if value is None:
        return "null"
    if isinstance(value, bool):
        return "boolean"
    return "number"


Descriptor = tuple[Any, Any, Any, Any]  # name, image, compose project, compose service


class _Refs:
    """containers.ref of every container id of the import's host, assigning new ones, and each
    container's latest name, image and compose labels (with the time they were seen)."""

    def __init__(self, host: str, rows: Iterable[tuple[Any, ...]], next_ref: int) -> None:
        self.host = host
        self.ids: dict[str, int] = {}
        self.desc: dict[int, tuple[Descriptor, int | None]] = {}
        for ref, cid, name, image, project, service, seen_ns in rows:
            self.ids[cid] = int(ref)
            self.desc[int(ref)] = ((name, image, project, service), seen_ns)
        self.next_ref = next_ref
        self.new: list[tuple[Any, ...]] = []  # (ref, host, cid): created since the last take
        self.changed: dict[int, tuple[Descriptor, int]] = {}

    @classmethod
    def load(cls, conn: Connection, host: str) -> _Refs:
        c = containers.c
        rows = conn.execute(
            select(
                c.ref, c.container_id, c.name, c.image, c.compose_project, c.compose_service,
                c.seen_ns,
            ).where(c.host == host)
        ).fetchall()  # fmt: skip
        top = conn.execute(select(c.ref).order_by(c.ref.desc()).limit(1)).scalar()
        return cls(host, rows, int(top or 0) + 1)

    def ref(self, cid: str, desc: Descriptor, time_ns: int) -> int:
        ref = self.ids.get(cid)
        if ref is None:
            ref = self.ids[cid] = self.next_ref
            self.next_ref += 1
            self.new.append((ref, self.host, cid))
            self.desc[ref] = ((None, None, None, None), None)
        old, seen = self.desc[ref]
        # The newest event that says anything of the container describes it (whatever order
        # the lines come in: an older one never overwrites).
        if desc != old and desc != (None, None, None, None) and (seen is None or time_ns >= seen):
            self.desc[ref] = (desc, time_ns)
            self.changed[ref] = (desc, time_ns)
        return ref

    def take(self) -> tuple[list[tuple[Any, ...]], list[tuple[Any, ...]]]:
        """(new containers, changed descriptors as update rows) since the last take."""
        new, self.new = self.new, []
        changed = [(*d, t, ref) for ref, (d, t) in self.changed.items()]
        self.changed = {}
        return new, changed


@dataclass
class _Chunk:
    """What a chunk of lines became: event columns, containers and raw, and the counts."""

    refs: list[int] = field(default_factory=list)
    times: list[int] = field(default_factory=list)
    actions: list[str] = field(default_factory=list)
    kinds: list[str | None] = field(default_factory=list)  # None: the action itself
    exits: list[int | None] = field(default_factory=list)
    signals: list[int | None] = field(default_factory=list)
    healths: list[str | None] = field(default_factory=list)
    raw: bytes = b""  # writes.pack_raw of the rows' lines, in row order
    new_containers: list[tuple[Any, ...]] = field(default_factory=list)
    changed: list[tuple[Any, ...]] = field(default_factory=list)
    read: int = 0
    not_container: int = 0
    invalid: list[tuple[int, str]] = field(default_factory=list)  # (line_no, reason)
    first: int | None = None
    last: int | None = None

    def columns(self) -> tuple[list[Any], ...]:
        return (self.refs, self.times, self.actions, self.kinds, self.exits, self.signals,
                self.healths)  # fmt: skip


def _kind_health(action: str) -> tuple[str | None, str | None]:
    """(kind unless it is the action itself, health) as normalize_event splits the action."""
    if ":" not in action and action == action.strip():
        return None, None
    kind, _, arg = action.partition(":")
    kind = kind.strip()
    health = arg.strip() or None if kind == "health_status" else None
    return (None if kind == action else kind), health


def parse_chunk(
    lines: Sequence[bytes | str],
    first_line_no: int,
    *,
    refs: _Refs,
    skip_invalid: bool,
) -> _Chunk:
    """Lines (numbered from `first_line_no`) -> columns; raises InvalidLine unless
    skip_invalid."""
    out = _Chunk()
    ref_of = refs.ref
    a_ref, a_time, a_action = out.refs.append, out.times.append, out.actions.append
    a_kind, a_exit, a_sig, a_health = (
        out.kinds.append, out.exits.append, out.signals.append, out.healths.append
    )  # fmt: skip
    raws: list[bytes] = []
    a_raw = raws.append
    loads = orjson.loads
    decode_error = orjson.JSONDecodeError
    line_no = first_line_no - 1
    read = 0
    for line in lines:
        line_no += 1
        if not line.strip():
            continue
        read += 1
        raw = line if isinstance(line, bytes) else line.encode("utf-8")
        raw = raw.rstrip(b"\r\n")
        if b"\n" in raw:  # JSON whitespace, but the raw chunk's line separator
            raw = raw.replace(b"\n", b" ")
        try:
            payload = loads(raw)
        except decode_error:
            payload = None
        # --- the engine's usual shape, read without building a row dict ---------------------
        if type(payload) is dict and payload.get("Type") == "container":
            action = payload.get("Action")
            actor = payload.get("Actor")
            if type(action) is str and action and len(action) <= 128 and type(actor) is dict:
                cid = actor.get("ID")
                time_ns = payload.get("timeNano")
                attrs = actor.get("Attributes")
                if (
                    type(cid) is str
                    and 0 < len(cid) <= 64
                    and type(time_ns) is int
                    and 0 <= time_ns < 2**63
                    and type(attrs) is dict
                ):
                    desc = (
                        attrs.get("name"),
                        attrs.get("image") or payload.get("from"),
                        attrs.get(COMPOSE_PROJECT),
                        attrs.get(COMPOSE_SERVICE),
                    )
                    a_ref(ref_of(cid, desc, time_ns))
                    a_time(time_ns)
                    a_action(action)
                    kind, health = _kind_health(action)
                    a_kind(kind)
                    a_health(health)
                    exit_code = attrs.get("exitCode")
                    a_exit(None if exit_code is None else _int_or_none(exit_code))
                    sig = attrs.get("signal")
                    a_sig(None if sig is None else parse_signal(sig))
                    a_raw(raw)
                    continue
        # --- everything else (bad lines included) goes the shared way ------------------------
        try:
            row = parse_line(line, line_no, host=refs.host)
        except InvalidLine as exc:
            if not skip_invalid:
                raise
            out.invalid.append((exc.line_no, exc.reason))
            continue
        if row is None:
            out.not_container += 1
            continue
        desc = (row["name"], row["image"], row["compose_project"], row["compose_service"])
        a_ref(ref_of(row["container_id"], desc, row["time_ns"]))
        a_time(row["time_ns"])
        a_action(row["action"])
        a_kind(None if row["kind"] == row["action"] else row["kind"])
        a_health(row["health"])
        a_exit(row["exit_code"])
        a_sig(row["signal"])
        a_raw(raw)
    out.read = read
    if raws:
        out.raw = writes.pack_raw(raws)
        out.first, out.last = min(out.times), max(out.times)
    out.new_containers, out.changed = refs.take()
    return out


def _chunks(lines: Iterable[bytes | str], size: int) -> Iterator[tuple[int, list[bytes | str]]]:
    """(first line number, up to `size` lines) at a time."""
    it = iter(lines)
    start = 1
    while True:
        chunk = list(islice(it, size))
        if not chunk:
            return
        yield start, chunk
        start += len(chunk)


def import_lines(
    conn: Connection,
    lines: Iterable[bytes | str],
    *,
    host: str,
    skip_invalid: bool = False,
    covers: tuple[int, int] | None = None,
    on_progress: Callable[[int], None] | None = None,
    chunk_rows: int = CHUNK_ROWS,
    workers: int = 0,
) -> ImportResult:
    """Store every container event of `lines`; the caller owns (and commits) the transaction.

    Strict unless `skip_invalid`: the first bad line raises InvalidLine and the caller rolls
    back, so nothing is written. Coverage ("import") spans the first to the last event, or
    `covers` when given. `on_progress(lines_read)` is called after each chunk of `chunk_rows`
    lines. On SQLite, `workers=1` parses in a second process while this one writes.
    """
    result = ImportResult()
    first: int | None = None
    last: int | None = None
    # Millions of short-lived objects: the cyclic GC would walk them over and over for nothing.
    gc_was_enabled = gc.isenabled()
    gc.disable()
    try:
        if conn.dialect.name == "sqlite":
            writer = _SqliteWriter(conn)  # takes the write lock before the refs are read
            refs = _Refs.load(conn, host)
            parsed: Iterator[_Chunk]
            if workers > 0:
                parsed = _parse_in_worker(lines, chunk_rows, refs=refs, skip_invalid=skip_invalid)
            else:
                parsed = (
                    parse_chunk(c, n, refs=refs, skip_invalid=skip_invalid)
                    for n, c in _chunks(lines, chunk_rows)
                )
            try:
                for chunk in parsed:
                    result.read += chunk.read
                    result.not_container += chunk.not_container
                    result.invalid.extend(InvalidLine(n, why) for n, why in chunk.invalid)
                    if chunk.times:
                        writer.put(chunk)
                        result.already_stored += len(chunk.times)
                        assert chunk.first is not None and chunk.last is not None
                        first = chunk.first if first is None else min(first, chunk.first)
                        last = chunk.last if last is None else max(last, chunk.last)
                    if on_progress is not None:
                        on_progress(result.read)
                result.new = writer.finish()
            finally:
                writer.close()
        else:
            for n, chunk_lines in _chunks(lines, chunk_rows):
                rows = _normalized(
                    chunk_lines, n, host=host, skip_invalid=skip_invalid, result=result
                )
                if rows:
                    result.new += writes.insert_events(conn, rows)
                    result.already_stored += len(rows)
                    times = [int(r["time_ns"]) for r in rows]
                    first = min(times) if first is None else min(first, *times)
                    last = max(times) if last is None else max(last, *times)
                if on_progress is not None:
                    on_progress(result.read)
    finally:
        if gc_was_enabled:
            gc.enable()
    result.already_stored -= result.new
    result.first_ns, result.last_ns = first, last
    span = covers if covers is not None else (first, last) if first is not None else None
    if span is not None:
        assert span[0] is not None and span[1] is not None
        result.coverage_id = record_import_coverage(
            conn, host=host, start_ns=span[0], end_ns=span[1]
        )
    if on_progress is not None:
        on_progress(result.read)
    return result


def _normalized(
    lines: Sequence[bytes | str],
    first_line_no: int,
    *,
    host: str,
    skip_invalid: bool,
    result: ImportResult,
) -> list[dict[str, Any]]:
    """normalize_event's rows of the lines (the generic path); counts go into `result`."""
    rows = []
    for line_no, line in enumerate(lines, first_line_no):
        if not line.strip():
            continue
        result.read += 1
        try:
            row = parse_line(line, line_no, host=host)
        except InvalidLine as exc:
            if not skip_invalid:
                raise
            result.invalid.append(exc)
            continue
        if row is None:
            result.not_container += 1
        else:
            rows.append(row)
    return rows


_IN_FLIGHT = 3  # parsed chunks the worker may have ready before it waits for this process


def _worker_main(
    outq: Any, lines: Iterable[bytes | str], size: int, refs: _Refs, skip_invalid: bool
) -> None:
    gc.disable()
    try:
        for start, chunk_lines in _chunks(lines, size):
            chunk = parse_chunk(chunk_lines, start, refs=refs, skip_invalid=skip_invalid)
            # marshal, not pickle: no memo to keep for a million small objects, 3x faster.
            cols = marshal.dumps(chunk.columns())
            for name in ("refs", "times", "actions", "kinds", "exits", "signals", "healths"):
                setattr(chunk, name, [])
            outq.put(("ok", chunk, cols))
        outq.put(("end", None, b""))
    except InvalidLine as exc:
        outq.put(("invalid", (exc.line_no, exc.reason), b""))
    except Exception as exc:  # handed to the parent, which raises it
        outq.put(("error", f"{type(exc).__name__}: {exc}", b""))
    outq.close()
    outq.join_thread()


def _parse_in_worker(
    lines: Iterable[bytes | str], size: int, *, refs: _Refs, skip_invalid: bool
) -> Iterator[_Chunk]:
    """parse_chunk in a forked process, in order, a few chunks ahead of the caller.

    The child reads `lines` itself (it has its own copy of the iterator, and of the open file
    behind it: this process reads none of it), and owns `refs` from the fork on, so only the
    columns, new containers and the compressed raw cross over.
    """
    import multiprocessing

    ctx = multiprocessing.get_context("fork")
    outq: Any = ctx.Queue(maxsize=_IN_FLIGHT)
    proc = ctx.Process(
        target=_worker_main,
        args=(outq, lines, size, refs, skip_invalid),
        name="docktally-parse",
        daemon=True,
    )
    proc.start()
    try:
        while True:
            try:
                kind, value, cols = outq.get(timeout=1.0)
            except queue.Empty:
                if not proc.is_alive():
                    raise RuntimeError("the import's parsing process died") from None
                continue
            if kind == "end":
                return
            if kind == "invalid":
                raise InvalidLine(*value)
            if kind == "error":
                raise RuntimeError(f"the import's parsing process failed: {value}")
            assert isinstance(value, _Chunk)
            (value.refs, value.times, value.actions, value.kinds, value.exits, value.signals,
             value.healths) = marshal.loads(cols)  # fmt: skip
            yield value
    finally:
        if proc.is_alive():
            proc.terminate()
        proc.join(5)
        outq.close()
        outq.cancel_join_thread()


def record_import_coverage(conn: Connection, *, host: str, start_ns: int, end_ns: int) -> int:
    """Coverage for an import, once: importing the same span again adds no second row."""
    existing = conn.execute(
        select(coverage.c.id).where(
            coverage.c.host == host,
            coverage.c.source == SOURCE,
            coverage.c.start_ns == start_ns,
            coverage.c.end_ns == end_ns,
        )
    ).first()
    if existing is not None:
        return int(existing[0])
    cov_id = writes.open_coverage(
        conn, host=host, engine_url=None, engine_id=None, source=SOURCE, start_ns=start_ns
    )
    writes.close_coverage(conn, cov_id, end_ns, SOURCE)
    return cov_id


class _SqliteWriter:
    """Chunks -> containers, raw_chunks, a TEMP staging table, events; in the caller's
    transaction, through the DBAPI cursor (no per-row SQLAlchemy work)."""

    def __init__(self, conn: Connection) -> None:
        dbapi = conn.connection.dbapi_connection
        assert dbapi is not None
        self.dbapi: Any = dbapi
        self.cur: Any = dbapi.cursor()
        # A bigger page cache keeps the natural-key index in memory while a big file goes in.
        self.cur.execute("PRAGMA cache_size=-131072")
        self.cur.execute(
            "CREATE TEMP TABLE IF NOT EXISTS import_stage (ref INTEGER, time_ns INTEGER, "
            "action TEXT, kind TEXT, exit_code INTEGER, signal INTEGER, health TEXT)"
        )
        self.cur.execute("DELETE FROM temp.import_stage")
        # A write first: SQLite's write lock from here on, so the refs read next stay ours.
        self.cur.execute("UPDATE containers SET ref = ref WHERE ref < 0")
        self.new = 0

    def put(self, chunk: _Chunk) -> None:
        cur = self.cur
        if chunk.new_containers:
            cur.executemany(
                "INSERT INTO containers (ref, host, container_id) VALUES (?, ?, ?)",
                chunk.new_containers,
            )
        cur.execute(
            "INSERT INTO raw_chunks (lines, body) VALUES (?, ?)", (len(chunk.times), chunk.raw)
        )
        raw_id = cur.lastrowid
        cur.executemany("INSERT INTO temp.import_stage VALUES (?, ?, ?, ?, ?, ?, ?)",
                        zip(*chunk.columns(), strict=True))  # fmt: skip
        before = self.dbapi.total_changes
        # Staging rowids are consecutive in insertion order (one executemany into an empty
        # table), so rowid - min(rowid) is the row's line in the raw chunk.
        cur.execute(
            "INSERT INTO events (container_ref, time_ns, action, kind, exit_code, signal, "
            "health, inferred, cause_hint, evidence, source, raw_chunk, raw_line) "
            "SELECT ref, time_ns, action, coalesce(kind, action), exit_code, signal, health, "
            f"0, NULL, NULL, '{SOURCE}', ?, rowid - (SELECT min(rowid) FROM temp.import_stage) "
            "FROM temp.import_stage WHERE 1 ORDER BY ref, time_ns ON CONFLICT DO NOTHING",
            (raw_id,),
        )
        written = self.dbapi.total_changes - before
        self.new += written
        cur.execute("DELETE FROM temp.import_stage")
        if written == 0:  # all stored before: so is their raw
            cur.execute("DELETE FROM raw_chunks WHERE id = ?", (raw_id,))
        if chunk.changed:
            cur.executemany(
                "UPDATE containers SET name = ?, image = ?, compose_project = ?, "
                "compose_service = ?, seen_ns = ? WHERE ref = ? "
                "AND (seen_ns IS NULL OR seen_ns <= ?)",
                [(*row, row[4]) for row in chunk.changed],
            )

    def finish(self) -> int:
        return self.new

    def close(self) -> None:
        self.cur.close()
