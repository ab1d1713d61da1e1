"""`docker events --format '{{json .}}'` lines -> `events` rows -> the store.

No docker SDK and no clock: the caller passes the lines, the connection (and so owns the
transaction) and a progress callback. Rows are what normalize.normalize_event makes, as the live
collector's are, with `raw` set to the line exactly as read: events of the engine's usual shape
take `_fast_row` (the same columns without building a dict; tests/test_import_fast.py checks the
stored rows are equal), anything else goes through normalize_event itself.

With `workers=1` (the CLI on SQLite), a forked process reads and parses the lines and hands the
row tuples over (marshalled) while this process inserts: the two run on two cores.

SQLite takes a fast path: `INSERT ... ON CONFLICT DO NOTHING` through the DBAPI cursor's
executemany in big chunks (one statement compiled once, no per-row SQLAlchemy work); PostgreSQL
goes through SQLAlchemy, with RETURNING to count what was new.
"""

from __future__ import annotations

import gc
import marshal
import queue
from collections.abc import Callable, Iterable, Iterator, Sequence
from dataclasses import dataclass, field
from itertools import islice
from operator import itemgetter
from typing import Any

import orjson
from sqlalchemy import Connection, select
from sqlalchemy.dialects import postgresql

from docktally.collector.normalize import (
    COMPOSE_PROJECT,
    COMPOSE_SERVICE,
    InvalidEvent,
    _int_or_none,
    normalize_event,
    parse_signal,
)
from docktally.store import writes
from docktally.store.schema import coverage, events

SOURCE = "import"
CHUNK_ROWS = 20_000
# The SQLite fast path binds only the columns that vary from event to event; what every row of
# an import shares (host, source, not inferred, no cause or evidence) goes into the statement as
# literals. Binding a parameter costs as much as storing it: this halves the insert's CPU time.
_CONSTANT = {"host", "inferred", "cause_hint", "evidence", "source"}
_VARYING = [c.name for c in events.c if c.name != "id" and c.name not in _CONSTANT]
_as_tuple = itemgetter(*_VARYING)


def _sqlite_insert_sql(host: str) -> str:
    def literal(text: str) -> str:
        return "'" + text.replace("'", "''") + "'"

    cols = [*_VARYING, "host", "inferred", "cause_hint", "evidence", "source"]
    values = ["?"] * len(_VARYING) + [literal(host), "0", "NULL", "NULL", literal(SOURCE)]
    return (
        f"INSERT INTO events ({', '.join(cols)}) VALUES ({', '.join(values)}) "
        "ON CONFLICT DO NOTHING"
    )


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


def _fast_row(payload: dict[str, Any], raw: str) -> tuple[Any, ...] | None:
    """The common shape of an engine event -> the varying columns, as normalize_event makes them.

    None when the payload is not in that shape (no Type, `status` instead of Action, ...):
    the caller then goes through normalize_event itself, so every row is what it would make.
    """
    if payload.get("Type") != "container":
        return None
    action = payload.get("Action")
    actor = payload.get("Actor")
    if type(action) is not str or not action or len(action) > 128 or type(actor) is not dict:
        return None
    cid = actor.get("ID")
    time_ns = payload.get("timeNano")
    attrs = actor.get("Attributes")
    if (
        type(cid) is not str
        or not 0 < len(cid) <= 64
        or type(time_ns) is not int
        or not 0 <= time_ns < 2**63
        or type(attrs) is not dict
    ):
        return None
    kind, _, arg = action.partition(":")
    kind = kind.strip()
    exit_code = attrs.get("exitCode")
    sig = attrs.get("signal")
    return (
        cid,
        time_ns,
        action,
        kind,
        attrs.get("name"),
        attrs.get("image") or payload.get("from"),
        None if exit_code is None else _int_or_none(exit_code),
        None if sig is None else parse_signal(sig),
        arg.strip() or None if kind == "health_status" else None,
        attrs.get(COMPOSE_PROJECT),
        attrs.get(COMPOSE_SERVICE),
        raw,
    )


@dataclass
class _Chunk:
    """What a chunk of lines became: the rows' varying columns (as _VARYING) and the counts."""

    rows: list[tuple[Any, ...]] = field(default_factory=list)
    read: int = 0
    not_container: int = 0
    invalid: list[tuple[int, str]] = field(default_factory=list)  # (line_no, reason)
    first: int | None = None
    last: int | None = None


def parse_chunk(
    lines: Sequence[bytes | str], first_line_no: int, *, host: str, skip_invalid: bool
) -> _Chunk:
    """Lines (numbered from `first_line_no`) -> rows; raises InvalidLine unless skip_invalid."""
    out = _Chunk()
    rows = out.rows
    append = rows.append
    loads = orjson.loads
    decode_error = orjson.JSONDecodeError
    line_no = first_line_no - 1
    read = 0
    for line in lines:
        line_no += 1
        if not line.strip():
            continue
        read += 1
        try:
            payload = loads(line)
        except decode_error:
            row = None
        else:
            if type(payload) is dict:
                raw = line.decode("utf-8") if isinstance(line, bytes) else line
                row = _fast_row(payload, raw.rstrip("\r\n"))
            else:
                row = None
        if row is None:
            # Everything off the common path (bad lines included) goes the shared way.
            try:
                full = parse_line(line, line_no, host=host)
            except InvalidLine as exc:
                if not skip_invalid:
                    raise
                out.invalid.append((exc.line_no, exc.reason))
                continue
            if full is None:
                out.not_container += 1
                continue
            row = _as_tuple(full)
        append(row)
    out.read = read
    if rows:
        times = [r[1] for r in rows]
        out.first, out.last = min(times), max(times)
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
    sqlite = conn.dialect.name == "sqlite"
    writer = _SqliteWriter(conn, host) if sqlite else _GenericWriter(conn, host)
    first: int | None = None
    last: int | None = None
    # Millions of short-lived objects: the cyclic GC would walk them over and over for nothing.
    gc_was_enabled = gc.isenabled()
    gc.disable()
    try:
        parsed: Iterator[_Chunk]
        if workers > 0 and sqlite:
            parsed = _parse_in_worker(lines, chunk_rows, host=host, skip_invalid=skip_invalid)
        else:
            parsed = (
                parse_chunk(c, n, host=host, skip_invalid=skip_invalid)
                for n, c in _chunks(lines, chunk_rows)
            )
        for chunk in parsed:
            result.read += chunk.read
            result.not_container += chunk.not_container
            result.invalid.extend(InvalidLine(n, why) for n, why in chunk.invalid)
            if chunk.rows:
                writer.put(chunk.rows)
                result.already_stored += len(chunk.rows)
                assert chunk.first is not None and chunk.last is not None
                first = chunk.first if first is None else min(first, chunk.first)
                last = chunk.last if last is None else max(last, chunk.last)
            if on_progress is not None:
                on_progress(result.read)
        result.new = writer.finish()
    finally:
        writer.close()
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


_IN_FLIGHT = 3  # parsed chunks the worker may have ready before it waits for this process


def _worker_main(
    outq: Any, lines: Iterable[bytes | str], size: int, host: str, skip_invalid: bool
) -> None:
    gc.disable()
    try:
        for start, chunk_lines in _chunks(lines, size):
            chunk = parse_chunk(chunk_lines, start, host=host, skip_invalid=skip_invalid)
            # marshal, not pickle: no memo to keep for a million small objects, 3x faster.
            rows = marshal.dumps(chunk.rows)
            chunk.rows = []
            outq.put(("ok", chunk, rows))
        outq.put(("end", None, b""))
    except InvalidLine as exc:
        outq.put(("invalid", (exc.line_no, exc.reason), b""))
    except Exception as exc:  # handed to the parent, which raises it
        outq.put(("error", f"{type(exc).__name__}: {exc}", b""))
    outq.close()
    outq.join_thread()


def _parse_in_worker(
    lines: Iterable[bytes | str], size: int, *, host: str, skip_invalid: bool
) -> Iterator[_Chunk]:
    """parse_chunk in a forked process, in order, a few chunks ahead of the caller.

    The child reads `lines` itself (it has its own copy of the iterator, and of the open file
    behind it: this process reads none of it), so only the row tuples cross over, marshalled.
    The caller's SQLite work and the parsing then run on two cores.
    """
    import multiprocessing

    ctx = multiprocessing.get_context("fork")
    outq: Any = ctx.Queue(maxsize=_IN_FLIGHT)
    proc = ctx.Process(
        target=_worker_main,
        args=(outq, lines, size, host, skip_invalid),
        name="docktally-parse",
        daemon=True,
    )
    proc.start()
    try:
        while True:
            try:
                kind, value, rows = outq.get(timeout=1.0)
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
            value.rows = marshal.loads(rows)
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


class _GenericWriter:
    """Rows through SQLAlchemy (PostgreSQL), chunk by chunk.

    INSERT ... ON CONFLICT DO NOTHING RETURNING id: psycopg's executemany cannot say how many
    rows it wrote, the returned ids can.
    """

    def __init__(self, conn: Connection, host: str) -> None:
        self.conn = conn
        self.new = 0
        self.stmt = postgresql.insert(events).on_conflict_do_nothing().returning(events.c.id)
        self.constants = {
            "host": host,
            "inferred": False,
            "cause_hint": None,
            "evidence": None,
            "source": SOURCE,
        }

    def put(self, rows: Sequence[tuple[Any, ...]]) -> None:
        params = [{**dict(zip(_VARYING, r, strict=True)), **self.constants} for r in rows]
        self.new += len(self.conn.execute(self.stmt, params).all())

    def finish(self) -> int:
        return self.new

    def close(self) -> None:
        pass


class _SqliteWriter:
    """executemany on the DBAPI cursor, in the caller's transaction.

    A writer thread was tried (parse the next chunk while SQLite writes this one): it cost more
    CPU and gained no time, the two threads handing the GIL back and forth on every row.
    """

    def __init__(self, conn: Connection, host: str) -> None:
        self.sql = _sqlite_insert_sql(host)
        dbapi = conn.connection.dbapi_connection
        assert dbapi is not None
        self.dbapi: Any = dbapi
        self.cur = dbapi.cursor()
        # A bigger page cache keeps the natural-key index in memory while a big file goes in.
        self.cur.execute("PRAGMA cache_size=-131072")
        self.before = dbapi.total_changes

    def put(self, rows: Sequence[tuple[Any, ...]]) -> None:
        self.cur.executemany(self.sql, rows)

    def finish(self) -> int:
        return int(self.dbapi.total_changes - self.before)

    def close(self) -> None:
        self.cur.close()
