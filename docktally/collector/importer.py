"""`docker events --format '{{json .}}'` lines -> `events` rows -> the store.

No docker SDK and no clock: the caller passes the lines, the connection (and so owns the
transaction) and a progress callback. Rows come from normalize.normalize_event, as the live
collector's do, with `raw` set to the line exactly as read.

SQLite takes a fast path: `INSERT ... ON CONFLICT DO NOTHING` through the DBAPI cursor's
executemany in big chunks (one statement compiled once, no per-row SQLAlchemy work); PostgreSQL
goes through SQLAlchemy, with RETURNING to count what was new.
"""

from __future__ import annotations

import gc
from collections.abc import Callable, Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from operator import itemgetter
from typing import Any

import orjson
from sqlalchemy import Connection, select
from sqlalchemy.dialects import postgresql

from docktally.collector.normalize import InvalidEvent, normalize_event
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


def import_lines(
    conn: Connection,
    lines: Iterable[bytes | str],
    *,
    host: str,
    skip_invalid: bool = False,
    covers: tuple[int, int] | None = None,
    on_progress: Callable[[int], None] | None = None,
    chunk_rows: int = CHUNK_ROWS,
) -> ImportResult:
    """Store every container event of `lines`; the caller owns (and commits) the transaction.

    Strict unless `skip_invalid`: the first bad line raises InvalidLine and the caller rolls
    back, so nothing is written. Coverage ("import") spans the first to the last event, or
    `covers` when given. `on_progress(lines_read)` is called after each chunk.
    """
    result = ImportResult()
    sqlite = conn.dialect.name == "sqlite"
    writer = _SqliteWriter(conn, host) if sqlite else _GenericWriter(conn)
    batch: list[dict[str, Any]] = []
    first = last = None
    # Millions of short-lived dicts: the cyclic GC would walk them over and over for nothing.
    gc_was_enabled = gc.isenabled()
    gc.disable()
    try:
        for line_no, line in enumerate(lines, start=1):
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
                continue
            t = row["time_ns"]
            if first is None or t < first:
                first = t
            if last is None or t > last:
                last = t
            batch.append(row)
            if len(batch) >= chunk_rows:
                writer.put(batch)
                result.already_stored += len(batch)
                batch = []
                if on_progress is not None:
                    on_progress(result.read)
        if batch:
            writer.put(batch)
            result.already_stored += len(batch)
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

    def __init__(self, conn: Connection) -> None:
        self.conn = conn
        self.new = 0
        self.stmt = postgresql.insert(events).on_conflict_do_nothing().returning(events.c.id)

    def put(self, rows: Sequence[Mapping[str, Any]]) -> None:
        self.new += len(self.conn.execute(self.stmt, list(rows)).all())

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

    def put(self, rows: Sequence[Mapping[str, Any]]) -> None:
        self.cur.executemany(self.sql, [_as_tuple(r) for r in rows])

    def finish(self) -> int:
        return int(self.dbapi.total_changes - self.before)

    def close(self) -> None:
        self.cur.close()
