"""`docker events --format '{{json .}}'` lines -> `events` rows -> the store.

No docker SDK and no clock: the caller passes the lines, the connection (and so owns the
transaction) and a progress callback. Rows are what normalize.normalize_event makes, as the live
collector's are, with the raw JSON being the line exactly as read.

SQLite takes a fast path, built for 100,000 events/s on two cores:

- a file is read in blocks of whole lines; this process runs the line loop (_scan.c, in C;
  scan_py is the same loop in Python) over each: a plain-JSON scanner reads the dozen values
  a usual line holds straight from its bytes, orjson reads the rest, and lines off the
  engine's usual shape go through normalize_event itself (tests/test_import_fast.py checks the
  stored rows are equal, and that the two loops agree). The loop gives typed columns: the
  container's `containers.ref` (assigned here for new containers: the writer holds SQLite's
  write lock from the start, so nobody else can), time, action, kind and health, exit code and
  signal, and `events.packed`;
- each chunk's raw lines are compressed into one raw_chunks body, and its columns sealed into
  an Arrow table sorted by (container_ref, time_ns), so that the natural-key index is updated
  in key order, not at random (half the writer's CPU of a time-ordered insert). Row ids then do
  not follow time: the report's loader reads wide windows straight through the table, in id
  slices;
- a forked process writes (_WriterProcess: why a process, see there), through Arrow's SQLite
  driver: the table is bound to one INSERT, executed once a row in C.
  Parsing and writing run on two cores; the writer is the slower of the two.

PostgreSQL goes through normalize_event and store.writes.insert_events, chunk by chunk.
"""

from __future__ import annotations

import gc
import queue
from array import array
from collections.abc import Callable, Iterable, Iterator, Sequence
from dataclasses import dataclass, field
from itertools import islice
from types import ModuleType
from typing import Any

import orjson
from sqlalchemy import Connection, select

from docktally.collector.normalize import (
    COMPOSE_PROJECT,
    COMPOSE_SERVICE,
    InvalidEvent,
    code_or_none,
    normalize_event,
    parse_signal,
    split_action,
)
from docktally.store import packing, writes
from docktally.store.arrow_sqlite import ArrowSqlite, bytes_array, int_array, params_table
from docktally.store.db import sqlite_file
from docktally.store.schema import coverage

_scan: ModuleType | None
try:  # the line loop in C (setup.py builds it; scan_py below is the same loop in Python)
    from docktally.collector import _scan
except ImportError:  # pragma: no cover - only where no compiler was at hand
    _scan = None

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

    rows: int = 0
    # What the line loop gives: the row columns ref, time_ns, exit_code, signal, packed as
    # int64 buffers (NONE: no exit code or signal), and action, kind (None: the action itself)
    # and health as int32 codes (-1: None) with the strings they stand for.
    ints: tuple[bytes, ...] = ()
    codes: tuple[tuple[bytes, list[str]], ...] = ()
    raw: bytes = b""  # the rows' raw lines, each ending in "\n"; compressed into body by seal()
    body: bytes = b""
    lines: int = 0  # lines seen, blank ones too
    new_containers: list[tuple[Any, ...]] = field(default_factory=list)
    changed: list[tuple[Any, ...]] = field(default_factory=list)
    read: int = 0
    not_container: int = 0
    invalid: list[tuple[int, str]] = field(default_factory=list)  # (line_no, reason)
    first: int | None = None
    last: int | None = None

    # Filled from the columns above by seal(): the rows as an Arrow IPC stream, what crosses
    # from the parsing process (a few buffers).
    ipc: bytes = b""

    def seal(self) -> None:
        """Columns -> `ipc`, the rows sorted by (ref, time_ns): the order of the natural-key
        index, which the writer then updates in order instead of at random. `raw` is
        compressed into `body`."""
        import numpy as np
        import pyarrow as pa
        import pyarrow.compute as pc

        ref, time_ns, exit_code, signal, packed = (np.frombuffer(b, np.int64) for b in self.ints)
        self.rows = len(time_ns)
        if self.rows:
            self.first, self.last = int(time_ns.min()), int(time_ns.max())

        def text(pair: tuple[bytes, list[str]]) -> Any:
            codes = np.frombuffer(pair[0], np.int32)
            return pa.DictionaryArray.from_arrays(
                int_array(codes, codes < 0, pa.int32()), bytes_array(pair[1], pa.string())
            ).dictionary_decode()

        action, kind, health = (text(pair) for pair in self.codes)
        table = pa.table(
            [
                int_array(ref),
                int_array(time_ns),
                action,
                pc.coalesce(kind, action),
                int_array(exit_code, exit_code == NONE),
                int_array(signal, signal == NONE),
                health,
                int_array(np.arange(self.rows, dtype=np.int32), None, pa.int32()),  # place in raw
                int_array(packed),
            ],
            schema=_stage_schema(),
        )
        table = table.take(pc.sort_indices(table, [("ref", "ascending"), ("time_ns", "ascending")]))
        sink = pa.BufferOutputStream()
        with pa.ipc.new_stream(sink, table.schema) as out:
            out.write_table(table)
        self.ipc = sink.getvalue().to_pybytes()
        # Compressed here, not by the writer: the writer is the import's bottleneck, and ~10x
        # fewer bytes cross to it.
        self.body, self.raw = writes.compress_raw_zstd(self.raw), b""
        self.ints, self.codes = (), ()

    def table(self) -> Any:
        import pyarrow as pa

        return pa.ipc.open_stream(self.ipc).read_all()


def _kind_health(action: str) -> tuple[str | None, str | None]:
    """(kind unless it is the action itself, health): normalize.split_action, with the kind
    left out where seal()'s coalesce(kind, action) gives it back."""
    kind, health = split_action(action)
    return (None if kind == action else kind), health


def _pack(
    action: str, kind: str | None, exit_code: int | None, signal: int | None, health: str | None
) -> int:
    """events.packed of an imported row (never inferred, no cause hint)."""
    return packing.pack(
        action=action,
        kind=action if kind is None else kind,
        exit_code=exit_code,
        signal=signal,
        health=health,
        inferred=False,
        cause_hint=None,
    )


def _frame(line: bytes) -> bytes:
    """The raw line as the raw chunk frames it: trailing "\\r" and "\\n" off, any other "\\n"
    made a space, one "\\n" added."""
    return line.rstrip(b"\r\n").replace(b"\n", b" ") + b"\n"


def _to_bytes(line: Any) -> bytes:
    return line.encode("utf-8") if isinstance(line, str) else bytes(line)


_KIND_CODES = {k: i for i, k in enumerate(packing.KINDS)}
NONE = -(2**63)  # no exit code or signal, in their int64 columns as the line loop gives them
# A row as the line loop collects it: ref, time_ns, action, kind, exit_code, signal, health,
# packed.
Row = tuple[int, int, str, str | None, int | None, int | None, str | None, int]

Lines = list[bytes | str] | bytes  # a list of lines, or a block of whole lines (split at "\n")


def parse_chunk(
    lines: Lines,
    first_line_no: int,
    *,
    refs: _Refs,
    skip_invalid: bool,
) -> _Chunk:
    """Lines (numbered from `first_line_no`) -> columns; raises InvalidLine unless
    skip_invalid."""
    out = _Chunk()
    ref_of = refs.ref

    def slow(line: bytes, line_no: int) -> Row | None:
        """A line off the engine's usual shape: normalize_event's row, or its error."""
        try:
            row = parse_line(line, line_no, host=refs.host)
        except InvalidLine as exc:
            if not skip_invalid:
                raise
            out.invalid.append((exc.line_no, exc.reason))
            return None
        if row is None:
            out.not_container += 1
            return None
        desc = (row["name"], row["image"], row["compose_project"], row["compose_service"])
        kind = None if row["kind"] == row["action"] else row["kind"]
        return (
            ref_of(row["container_id"], desc, row["time_ns"]),
            row["time_ns"],
            row["action"],
            kind,
            row["exit_code"],
            row["signal"],
            row["health"],
            _pack(row["action"], kind, row["exit_code"], row["signal"], row["health"]),
        )

    ctx = (
        orjson.loads,
        orjson.JSONDecodeError,
        refs.ids,
        refs.desc,
        ref_of,
        _KIND_CODES,
        code_or_none,
        parse_signal,
        _kind_health,
        _pack,
        slow,
        _to_bytes,
        COMPOSE_PROJECT,
        COMPOSE_SERVICE,
    )
    if not isinstance(lines, bytes | list):  # a tuple, a generator: the loops take lists
        lines = list(lines)
    loop = _scan.scan if _scan is not None else scan_py
    out.read, out.lines, out.raw, (out.ints, out.codes) = loop(lines, first_line_no, ctx)
    out.new_containers, out.changed = refs.take()
    out.seal()
    return out


def _split(block: bytes) -> list[bytes]:
    """A block's lines as reading a file gives them: split after each "\\n"."""
    lines = [part + b"\n" for part in block.split(b"\n")]
    last = lines.pop()[:-1]
    if last:
        lines.append(last)
    return lines


def scan_py(lines: Lines, first_line_no: int, ctx: tuple[Any, ...]) -> tuple[Any, ...]:
    """_scan.c's loop in Python, step for step (less its plain-JSON scanner, which reads what
    orjson reads): where the extension is not built, and for the test that the two agree.
    Returns (lines read, lines seen, the rows' raw lines, (int64 columns, coded columns)) as
    _Chunk takes them."""
    (loads, decode_error, known, desc_of, ref_of, kind_codes, code_or_none, parse_sig,
     kind_health, pack, slow, to_bytes, project_key, service_key) = ctx  # fmt: skip
    seen: list[Any] = _split(lines) if isinstance(lines, bytes) else lines
    rows: list[Row] = []
    known_ref, described, code_of = known.get, desc_of.__getitem__, kind_codes.get
    raws: list[bytes] = []
    read = 0
    for i, line in enumerate(seen):
        if type(line) is not bytes:
            line = to_bytes(line)
        try:
            payload = loads(line)  # orjson takes the line's trailing newline as whitespace
        except decode_error:
            if not line.strip():
                continue  # a blank line
            payload = None
        read += 1
        # --- the engine's usual shape, read without building a row dict ---------------------
        # Subscripts, not .get(): a missing key or a non-dict goes the shared way.
        try:
            usual = payload["Type"] == "container"
            action = payload["Action"]
            actor = payload["Actor"]
            cid = actor["ID"]
            time_ns = payload["timeNano"]
            attrs = actor["Attributes"]
        except (KeyError, TypeError, IndexError):
            usual = False
        if not (
            usual
            and type(payload) is dict
            and type(action) is str
            and 0 < len(action) <= 128
            and type(actor) is dict
            and type(cid) is str
            and 0 < len(cid) <= 64
            and type(time_ns) is int
            and 0 <= time_ns < 2**63
            and type(attrs) is dict
        ):
            row = slow(line, first_line_no + i)  # normalize_event, with its errors
            if row is not None:
                rows.append(row)
                raws.append(_frame(line))
            continue
        get = attrs.get
        desc = (get("name"), get("image") or payload.get("from"), get(project_key),
                get(service_key))  # fmt: skip
        ref = known_ref(cid)
        if ref is None or described(ref)[0] != desc:
            ref = ref_of(cid, desc, time_ns)
        exit_code = get("exitCode")
        exit_code = None if exit_code is None else code_or_none(exit_code)
        sig = get("signal")
        sig = None if sig is None else parse_sig(sig)
        kind = health = None
        if ":" in action or action != action.strip():
            kind, health = kind_health(action)
        code = code_of(action if kind is None else kind)
        if code is None:
            packed = packing.OTHER
        elif kind is None and health is None:
            packed = _pack_plain(code, exit_code, sig)
        else:
            packed = pack(action, kind, exit_code, sig, health)
        rows.append((ref, time_ns, action, kind, exit_code, sig, health, packed))
        raws.append(_frame(line))
    return read, len(seen), b"".join(raws), _typed(rows)


def _typed(rows: list[Row]) -> tuple[tuple[bytes, ...], tuple[tuple[bytes, list[str]], ...]]:
    """Rows -> the columns as _scan.c gives them (see _Chunk.ints and .codes)."""
    cols = list(zip(*rows, strict=True)) if rows else [()] * 8
    ints = tuple(
        array("q", (NONE if v is None else v for v in cols[i])).tobytes() for i in (0, 1, 4, 5, 7)
    )
    coded = []
    for i in (2, 3, 6):
        index: dict[str, int] = {}
        codes = array("i", (-1 if v is None else index.setdefault(v, len(index)) for v in cols[i]))
        coded.append((codes.tobytes(), list(index)))
    return ints, tuple(coded)


def _pack_plain(code: int, exit_code: int | None, signal: int | None) -> int:
    """packed of a row whose action is its kind, with no health (as _scan.c's pack_plain)."""
    return _pack(packing.KINDS[code], None, exit_code, signal, None)


def _stage_schema() -> Any:
    """A sealed chunk's Arrow schema, in the order the writer's INSERT binds it (built on
    first use: pyarrow is heavy to import)."""
    import pyarrow as pa

    return pa.schema(
        [
            ("ref", pa.int64()),
            ("time_ns", pa.int64()),
            ("action", pa.string()),
            ("kind", pa.string()),
            ("exit_code", pa.int64()),
            ("signal", pa.int64()),
            ("health", pa.string()),
            ("line", pa.int32()),
            ("packed", pa.int64()),
        ]
    )


def _chunks(lines: Iterable[bytes | str], size: int) -> Iterator[list[bytes | str]]:
    """Up to `size` lines at a time."""
    it = iter(lines)
    while chunk := list(islice(it, size)):
        yield chunk


BLOCK_BYTES = 8 << 20


def _blocks(fh: Any, size: int = BLOCK_BYTES) -> Iterator[bytes]:
    """A binary file in blocks of whole lines (the last may lack its newline). Reading blocks
    instead of lines saves a bytes object per line: ~1.5 us a line of the import's time here."""
    while block := fh.read(size):
        if isinstance(block, str):
            block = block.encode("utf-8")
        if not block.endswith(b"\n"):
            rest = fh.readline()
            block += rest.encode("utf-8") if isinstance(rest, str) else rest
        yield block


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
    """Store every container event of `lines`.

    Strict unless `skip_invalid`: the first bad line raises InvalidLine and nothing is written.
    Coverage ("import") spans the first to the last event, or `covers` when given.
    `on_progress(lines_read)` is called after each chunk: `chunk_rows` lines, or a block of
    BLOCK_BYTES of a file (an object with .read).

    On a SQLite file the import is its own transaction on its own connection (Arrow's driver,
    see _SqliteWriter), committed here: `conn` must not hold SQLite's write lock. Elsewhere
    (PostgreSQL) it runs in `conn`'s transaction, which the caller commits.
    """
    result = ImportResult()
    span: tuple[int, int] | None = None
    # Millions of short-lived objects: the cyclic GC would walk them over and over for nothing.
    gc_was_enabled = gc.isenabled()
    gc.disable()
    try:
        path = sqlite_file(conn)
        if path is not None:
            # A file is read in blocks that the line loop splits itself; anything else by lines.
            pieces: Iterable[Lines] = (
                _blocks(lines) if hasattr(lines, "read") else _chunks(lines, chunk_rows)
            )
            line_no = 1
            with _WriterProcess(path, host) as writer:
                refs = writer.refs
                for piece in pieces:
                    chunk = parse_chunk(piece, line_no, refs=refs, skip_invalid=skip_invalid)
                    line_no += chunk.lines
                    _count(result, chunk.read, chunk.not_container)
                    result.invalid.extend(InvalidLine(n, why) for n, why in chunk.invalid)
                    if chunk.rows:
                        writer.put(chunk)
                        result.already_stored += chunk.rows
                        assert chunk.first is not None and chunk.last is not None
                        result.first_ns = _min(result.first_ns, chunk.first)
                        result.last_ns = _max(result.last_ns, chunk.last)
                    if on_progress is not None:
                        on_progress(result.read)
                span = _span(result, covers)
                result.new, result.coverage_id = writer.finish(span)
        else:
            line_no = 1
            for chunk_lines in _chunks(lines, chunk_rows):
                rows = _normalized(
                    chunk_lines, line_no, host=host, skip_invalid=skip_invalid, result=result
                )
                line_no += len(chunk_lines)
                if rows:
                    result.new += writes.insert_events(conn, rows)
                    result.already_stored += len(rows)
                    times = [int(r["time_ns"]) for r in rows]
                    result.first_ns = _min(result.first_ns, min(times))
                    result.last_ns = _max(result.last_ns, max(times))
                if on_progress is not None:
                    on_progress(result.read)
            span = _span(result, covers)
            if span is not None:
                result.coverage_id = record_import_coverage(
                    conn, host=host, start_ns=span[0], end_ns=span[1]
                )
    finally:
        if gc_was_enabled:
            gc.enable()
    result.already_stored -= result.new
    if on_progress is not None:
        on_progress(result.read)
    return result


def _count(result: ImportResult, read: int, not_container: int) -> None:
    result.read += read
    result.not_container += not_container


def _min(a: int | None, b: int) -> int:
    return b if a is None else min(a, b)


def _max(a: int | None, b: int) -> int:
    return b if a is None else max(a, b)


def _span(result: ImportResult, covers: tuple[int, int] | None) -> tuple[int, int] | None:
    if covers is not None:
        return covers
    if result.first_ns is None or result.last_ns is None:
        return None
    return result.first_ns, result.last_ns


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


_IN_FLIGHT = 3  # parsed chunks that may wait for the writing process before parsing waits


class _WriterProcess:
    """_SqliteWriter in a forked process, fed parsed chunks through a queue.

    Why a process: Arrow's SQLite driver carries its own copy of SQLite. Two copies of SQLite in
    one process must never open the same file (POSIX locks are per process, so each copy's
    close drops the other's locks; SQLite's docs warn this corrupts databases), and the caller
    holds store.db's connections. In a child only one copy has the file open. It also puts the
    writing on the second core while this process parses.
    """

    def __init__(self, path: str, host: str) -> None:
        import multiprocessing

        # What both processes use, imported once before the fork instead of once in each
        # (~0.35 s here): the writer then starts at once, and the parser waits for it less.
        import adbc_driver_manager  # noqa: F401
        import adbc_driver_sqlite  # noqa: F401
        import numpy  # noqa: F401
        import pyarrow.compute  # noqa: F401

        ctx = multiprocessing.get_context("fork")
        self.inq: Any = ctx.Queue(maxsize=_IN_FLIGHT)
        self.outq: Any = ctx.Queue()
        self.proc = ctx.Process(
            target=_writer_main,
            args=(path, host, self.inq, self.outq),
            name="docktally-import-writer",
            daemon=True,
        )
        self.proc.start()
        _, rows, next_ref = self._get("refs")
        self.refs = _Refs(host, rows, next_ref)
        self.done = False

    def _get(self, want: str) -> tuple[Any, ...]:
        while True:
            try:
                msg = self.outq.get(timeout=1.0)
            except queue.Empty:
                if not self.proc.is_alive():
                    raise RuntimeError("the import's writing process died") from None
                continue
            if msg[0] == "error":
                raise RuntimeError(f"the import's writing process failed: {msg[1]}")
            assert msg[0] == want, msg
            return tuple(msg)

    def _check(self) -> None:
        """Raise the writer's error as soon as it has one, not at the end."""
        try:
            msg = self.outq.get_nowait()
        except queue.Empty:
            return
        if msg[0] == "error":
            raise RuntimeError(f"the import's writing process failed: {msg[1]}")

    def put(self, chunk: _Chunk) -> None:
        self._check()
        while True:
            try:
                self.inq.put(("chunk", chunk), timeout=1.0)
                return
            except queue.Full:
                if not self.proc.is_alive():
                    self._check()
                    raise RuntimeError("the import's writing process died") from None

    def finish(self, span: tuple[int, int] | None) -> tuple[int, int | None]:
        """Record the coverage and commit: (events written, coverage id)."""
        self.inq.put(("end", span))
        _, new, coverage_id = self._get("done")
        self.done = True
        return int(new), coverage_id

    def __enter__(self) -> _WriterProcess:
        return self

    def __exit__(self, *exc: object) -> None:
        if not self.done and self.proc.is_alive():
            try:
                self.inq.put(("abort",), timeout=5.0)
            except queue.Full:
                self.proc.terminate()
        self.proc.join(30)
        if self.proc.is_alive():
            self.proc.terminate()
            self.proc.join(5)
        for q in (self.inq, self.outq):
            q.close()
            q.cancel_join_thread()


def _writer_main(path: str, host: str, inq: Any, outq: Any) -> None:
    gc.disable()
    writer: _SqliteWriter | None = None
    try:
        writer = _SqliteWriter(path)
        rows, next_ref = writer.load_refs(host)
        outq.put(("refs", rows, next_ref))
        while True:
            msg = inq.get()
            if msg[0] == "chunk":
                writer.put(msg[1])
            elif msg[0] == "end":
                span = msg[1]
                cov = writer.record_coverage(host, *span) if span is not None else None
                writer.commit()
                outq.put(("done", writer.new, cov))
                break
            else:  # abort: close() rolls back
                break
    except Exception as exc:  # handed to the parent, which raises it
        outq.put(("error", f"{type(exc).__name__}: {exc}"))
    finally:
        if writer is not None:
            writer.close()
        outq.close()
        outq.join_thread()


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
    """Chunks -> containers, raw_chunks and events of a SQLite file, through Arrow's SQLite
    driver: each chunk's rows, sorted by the natural key, are bound from Arrow straight into
    one INSERT executed once a row in C. Its own connection and its own transaction (BEGIN
    IMMEDIATE: the write lock from the start, so the container refs read next stay ours),
    committed by commit() with the coverage, rolled back by close() otherwise.
    """

    def __init__(self, path: str) -> None:
        self.db = ArrowSqlite(path)
        for pragma in (
            "busy_timeout=30000",  # as store.db's connections wait for each other
            "synchronous=NORMAL",  # WAL: durable at checkpoints, never corrupt
            "cache_size=-131072",  # the natural-key index stays in memory
        ):
            self.db.rows(f"PRAGMA {pragma}")
        self.db.run("BEGIN IMMEDIATE")
        self.open = True
        self.new = 0

    def load_refs(self, host: str) -> tuple[list[tuple[Any, ...]], int]:
        """The host's containers (as _Refs takes them) and the next free ref."""
        rows = self.db.rows(
            "SELECT ref, container_id, name, image, compose_project, compose_service, seen_ns "
            "FROM containers WHERE host = ?",
            (host,),
        )
        top = self.db.one("SELECT coalesce(max(ref), 0) FROM containers")
        return rows, int(top) + 1

    def put(self, chunk: _Chunk) -> None:

        if chunk.new_containers:
            ref, host, cid = zip(*chunk.new_containers, strict=True)
            self.db.run(
                "INSERT INTO containers (ref, host, container_id) VALUES (?, ?, ?)",
                table=params_table([ref, host, cid]),
            )
        raw_id = int(self.db.one(
            "INSERT INTO raw_chunks (lines, body) VALUES (?, ?) RETURNING id",
            (chunk.rows, chunk.body),
        ))  # fmt: skip
        written = self.db.run(
            "INSERT INTO events (container_ref, time_ns, action, kind, exit_code, signal, "
            "health, raw_line, packed, inferred, cause_hint, evidence, source, raw_chunk) "
            f"VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, 0, NULL, NULL, '{SOURCE}', {raw_id}) "
            "ON CONFLICT DO NOTHING",
            table=chunk.table(),
        )
        self.new += written
        if written == 0:  # all stored before: so is their raw
            self.db.run(f"DELETE FROM raw_chunks WHERE id = {raw_id}")
        if chunk.changed:
            name, image, project, service, seen, ref = zip(*chunk.changed, strict=True)
            self.db.run(
                "UPDATE containers SET name = ?1, image = ?2, compose_project = ?3, "
                "compose_service = ?4, seen_ns = ?5 "
                "WHERE ref = ?6 AND (seen_ns IS NULL OR seen_ns <= ?5)",
                table=params_table([name, image, project, service, seen, ref]),
            )

    def record_coverage(self, host: str, start_ns: int, end_ns: int) -> int:
        """As record_import_coverage, in this transaction."""
        found = self.db.one(
            "SELECT id FROM coverage WHERE host = ? AND source = ? AND start_ns = ? AND end_ns = ?",
            (host, SOURCE, start_ns, end_ns),
        )
        if found is not None:
            return int(found)
        return int(self.db.one(
            "INSERT INTO coverage (host, source, start_ns, end_ns, heartbeat_ns, closed_reason) "
            "VALUES (?, ?, ?, ?, ?, ?) RETURNING id",
            (host, SOURCE, start_ns, end_ns, end_ns, SOURCE),
        ))  # fmt: skip

    def commit(self) -> None:
        self.db.run("COMMIT")
        self.open = False

    def close(self) -> None:
        try:
            if self.open:
                self.db.run("ROLLBACK")
        finally:
            self.db.close()
