"""`docker events --format '{{json .}}'` lines -> normalised rows -> the store.

No docker SDK and no clock: the caller passes the lines, the connection (and so owns the
transaction) and a progress callback. Each line is decoded by msgspec into
normalize.EngineEvent and made a row by normalize.event_row, as the live collector's events
are, with the raw JSON being the line exactly as read. Rows go to
store.writes.insert_event_rows a chunk at a time, all in the caller's one transaction: a strict
import that meets a bad line raises, and the caller's rollback leaves nothing of it.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Iterator
from dataclasses import dataclass, field
from itertools import islice
from typing import Any

from sqlalchemy import Connection, select

from docktally.collector.normalize import InvalidEvent, decode_event, event_row
from docktally.store import writes
from docktally.store.rows import ROW_FIELDS
from docktally.store.schema import coverage

SOURCE = "import"
_TIME = ROW_FIELDS.index("time_ns")
CHUNK_ROWS = 20_000
BLOCK_BYTES = 8 << 20  # a file is read this much at a time, in whole lines
# Invalid lines kept to be listed (--skip-invalid); the rest are only counted, so that a file
# of a million bad lines costs neither memory nor a million lines of output.
LISTED_INVALID = 20


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
    invalid: list[InvalidLine] = field(default_factory=list)  # the first LISTED_INVALID
    invalid_count: int = 0  # all of them (with skip_invalid only)
    first_ns: int | None = None
    last_ns: int | None = None
    coverage_id: int | None = None

    @property
    def skipped(self) -> int:
        return self.not_container + self.invalid_count

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
        if self.invalid_count:
            detail.append(f"{self.invalid_count:,} invalid")
        return ", ".join(parts) + (f" ({'; '.join(detail)})" if detail else "")

    def add_invalid(self, exc: InvalidLine) -> None:
        self.invalid_count += 1
        if len(self.invalid) < LISTED_INVALID:
            self.invalid.append(exc)


def _check_utf8(data: bytes) -> None:
    try:
        data.decode("utf-8")
    except UnicodeDecodeError as exc:
        raise InvalidEvent(f"not UTF-8 text (byte {exc.start})") from None


def _is_utf8(data: bytes) -> bool:
    if data.isascii():
        return True
    try:
        data.decode("utf-8")
    except UnicodeDecodeError:
        return False
    return True


Piece = tuple[list[bytes], bool]  # lines (each maybe ending in "\r"), all known to be UTF-8


def _pieces(lines: Any, chunk_rows: int) -> Iterator[Piece]:
    """A binary file (anything with .read) in blocks of whole lines, else `chunk_rows` lines
    at a time; each line as bytes without its "\\n"."""
    if hasattr(lines, "read"):
        for block in _blocks(lines):
            split = block.split(b"\n")
            if split[-1] == b"":  # the block ended with its last line's "\n"
                split.pop()
            yield split, _is_utf8(block)
        return
    it = iter(lines)
    while chunk := list(islice(it, chunk_rows)):
        data = [ln.encode("utf-8") if isinstance(ln, str) else bytes(ln) for ln in chunk]
        # A line given with its newline keeps no "\n" (an "\n" inside one stays: insert_event_rows
        # frames it).
        data = [ln[:-1] if ln.endswith(b"\n") else ln for ln in data]
        yield data, _is_utf8(b"".join(data))


def _blocks(fh: Any, size: int = BLOCK_BYTES) -> Iterator[bytes]:
    """A binary file in blocks of whole lines (the last may lack its newline)."""
    while block := fh.read(size):
        if isinstance(block, str):
            block = block.encode("utf-8")
        if not block.endswith(b"\n"):
            rest = fh.readline()
            block += rest.encode("utf-8") if isinstance(rest, str) else rest
        yield block


def import_lines(
    conn: Connection,
    lines: Iterable[bytes | str] | Any,
    *,
    host: str,
    skip_invalid: bool = False,
    covers: tuple[int, int] | None = None,
    on_progress: Callable[[int], None] | None = None,
    chunk_rows: int = CHUNK_ROWS,
    keep_exec_commands: bool = False,
) -> ImportResult:
    """Store every container event of `lines` (an iterable of lines, or a binary file).

    Strict unless `skip_invalid`: the first bad line raises InvalidLine, and the caller's
    rollback leaves nothing written. Coverage ("import") spans the first to the last event, or
    `covers` when given. `on_progress(lines_read)` is called after each chunk. Runs in `conn`'s
    transaction, which the caller commits.
    """
    known = writes.Containers()
    try:
        with writes.bulk_cache(conn):
            result = _import(conn, known, lines, host, skip_invalid, on_progress, chunk_rows,
                             keep_exec_commands)  # fmt: skip
    except BaseException as exc:
        known.abandon_copy(exc)  # a COPY left open would keep the caller from rolling back
        raise
    span = covers if covers is not None else _span(result)
    if span is not None:
        result.coverage_id = record_import_coverage(
            conn, host=host, start_ns=span[0], end_ns=span[1]
        )
    return result


def _import(
    conn: Connection,
    known: writes.Containers,
    lines: Iterable[bytes | str] | Any,
    host: str,
    skip_invalid: bool,
    on_progress: Callable[[int], None] | None,
    chunk_rows: int,
    keep_exec_commands: bool,
) -> ImportResult:
    result = ImportResult()
    line_no = 0
    for piece, utf8 in _pieces(lines, chunk_rows):
        rows = []
        for line in piece:
            line_no += 1
            if not line or line.isspace():
                continue
            result.read += 1
            text = line.rstrip(b"\r")
            try:
                if not utf8:
                    _check_utf8(text)
                row = event_row(
                    decode_event(text),
                    host=host,
                    source=SOURCE,
                    raw=text,
                    keep_exec_commands=keep_exec_commands,
                )
            except InvalidEvent as exc:
                if not skip_invalid:
                    raise InvalidLine(line_no, str(exc)) from None
                result.add_invalid(InvalidLine(line_no, str(exc)))
                continue
            if row is None:
                result.not_container += 1
            else:
                rows.append(row)
        if rows:
            result.new += writes.insert_event_rows(conn, rows, known)
            result.already_stored += len(rows)
            times = [r[_TIME] for r in rows]
            result.first_ns = _min(result.first_ns, min(times))
            result.last_ns = _max(result.last_ns, max(times))
        if on_progress is not None:
            on_progress(result.read)
    known.flush(conn)
    result.already_stored -= result.new
    return result


def _min(a: int | None, b: int) -> int:
    return b if a is None else min(a, b)


def _max(a: int | None, b: int) -> int:
    return b if a is None else max(a, b)


def _span(result: ImportResult) -> tuple[int, int] | None:
    if result.first_ns is None or result.last_ns is None:
        return None
    return result.first_ns, result.last_ns


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
