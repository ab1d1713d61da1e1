"""The report window's lifecycle events as plain columns, read by Arrow's SQLite driver in
forked children.

This module imports only the standard library: `docktally report` starts the read right after
parsing its arguments (`start_early`) and imports pandas, analytics and the renderers while the
children read. numpy, pyarrow and Arrow's driver are imported where they are used: in the
children when this process has one thread, before the fork when it has more (see `_fork`).

The children also do the frame's column work (unpacking `packed`, string codes, the sort by
host, container id and time), so this process only wraps finished arrays (store/frames.py).
"""

from __future__ import annotations

import contextlib
import functools
import mmap
import os
import pickle
import signal
import sqlite3
import struct
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import IO, Any
from urllib.parse import quote

from docktally.errors import StoreError
from docktally.store import locate
from docktally.store.arrow_sqlite import ArrowSqlite, Rows

# Events this long before the window are loaded too: a `kill` just before the window explains a
# `die` just inside it, and incidents need the run-up.
LOOKBACK_NS = 3600 * 1_000_000_000

# A container row as the loader reads it, and the events frame's per-container strings.
CONTAINER_COLUMNS = (
    "ref", "host", "container_id", "name", "image", "compose_project", "compose_service",
)  # fmt: skip
STRING_FIELDS = CONTAINER_COLUMNS[1:]
# The odd rows' columns, in order. Text columns that are mostly NULL are read as '' (Arrow's
# SQLite reader types a column from its first rows).
_FULL_COLS = [
    "container_ref",
    "time_ns",
    "action",
    "kind",
    "exit_code",
    "signal",
    "coalesce(health, '')",
    "CAST(inferred AS INTEGER)",
    "coalesce(cause_hint, '')",
]
_FULL_NAMES = ["ref", "time_ns", "action", "kind", "exit_code", "signal", "health", "inferred",
               "cause_hint"]  # fmt: skip
TEXT_FIELDS = ("action", "kind", "health", "cause_hint")


# Runs one statement (named parameters, `:name`) and returns its rows as tuples: the standard
# library's sqlite3 takes the statements as they are, a SQLAlchemy Connection through text().
Fetch = Callable[[str, dict[str, Any]], Rows]


def sqlite_fetch(con: sqlite3.Connection) -> Fetch:
    def fetch(sql: str, params: dict[str, Any]) -> Rows:
        return con.execute(sql, params).fetchall()

    return fetch


def in_list(name: str, values: Sequence[Any]) -> tuple[str, dict[str, Any]]:
    """`(:name_0, :name_1, ...)` and its parameters: named parameters read the same through
    sqlite3 and SQLAlchemy's text() on either backend."""
    params = {f"{name}_{i}": v for i, v in enumerate(values)}
    return "(" + ", ".join(f":{k}" for k in params) + ")", params


def host_rows_sql(
    table: str, columns: Sequence[str], order_by: str, hosts: Sequence[str] | None
) -> tuple[str, dict[str, Any]]:
    """`SELECT columns FROM table`, only the hosts' rows when given, in `order_by` order."""
    sql = f"SELECT {', '.join(columns)} FROM {table}"
    params: dict[str, Any] = {}
    if hosts:
        marks, params = in_list("host", hosts)
        sql += f" WHERE host IN {marks}"
    return f"{sql} ORDER BY {order_by}", params


def containers_sql(hosts: Sequence[str] | None) -> tuple[str, dict[str, Any]]:
    return host_rows_sql("containers", CONTAINER_COLUMNS, "ref", hosts)


def window_sql(
    start_ns: int, end_ns: int, refs_clause: str, slices: list[tuple[int, int]] | None = None
) -> tuple[list[str], str]:
    """(statements for the packed rows, one per id slice, or one through the time index;
    the statement for the rest: each container's last event before the window, and the odd
    rows unless the slices' statements carry them).

    Most events are read as three integers: container_ref, time_ns and `packed`
    (store/packing.py), filtered by integer comparisons alone; the few lifecycle events that
    `packed` cannot say exactly are read whole by id (odd_rows_sql). The slices' statements
    give an odd row's -2 - id in place of `packed`, so the table is scanned once; through the
    time index, or for a few containers, a statement of their own reads the odd rows. The
    "last one before" walks the natural-key index (container_ref, time_ns, action) backwards
    one container at a time: milliseconds per thousand containers, where a window function
    over the table took ~20 s on 1M events. Only integers are formatted in.
    """
    from docktally.store import packing

    horizon = int(start_ns) - LOOKBACK_NS
    kinds = "(" + ", ".join(f"'{k}'" for k in packing.KINDS) + ")"
    prefixes = " OR ".join(f"i.action LIKE '{k}:%'" for k in packing.KINDS)
    full = ", ".join(_FULL_COLS)
    before = (
        f"SELECT {full} FROM events WHERE kind IN {kinds} AND id IN ("
        "SELECT (SELECT i.id FROM events i WHERE i.container_ref = c.ref "
        f"AND i.time_ns < {horizon} AND (i.action IN {kinds} OR {prefixes}) "
        "ORDER BY i.time_ns DESC, i.action DESC LIMIT 1) "
        f"FROM containers c WHERE 1=1{refs_clause.replace('container_ref', 'c.ref')})"
    )
    t = "time_ns"
    if slices:
        # `+time_ns` keeps SQLite off the time index: for a window that holds most of the
        # table, reading the table straight through beats an index lookup per row.
        t = "+time_ns"
    span = f"{t} >= {horizon} AND {t} < {int(end_ns)}{refs_clause}"
    plain = f"SELECT container_ref, time_ns, packed FROM events WHERE packed >= 0 AND {span}"
    odd = f"SELECT {full} FROM events WHERE packed = {packing.ODD} AND {span} UNION ALL {before}"
    if not slices:
        return [plain], odd
    if refs_clause:  # the natural-key index may serve: its order, as the odd rows' statement
        return [f"{plain} AND id >= {int(lo)} AND id < {int(hi)}" for lo, hi in slices], odd
    both = (
        f"SELECT container_ref, time_ns, CASE WHEN packed >= 0 THEN packed ELSE -2 - id END "
        f"FROM events WHERE packed >= {packing.ODD} AND {span}"
    )
    return [f"{both} AND id >= {int(lo)} AND id < {int(hi)}" for lo, hi in slices], before


def odd_rows_sql(ids: Sequence[int]) -> str:
    """The whole rows of these events, in id order (the order a table scan finds them)."""
    full = ", ".join(_FULL_COLS)
    return (
        f"SELECT {full} FROM events WHERE id IN ({','.join(str(int(i)) for i in ids)}) ORDER BY id"
    )


def id_slices(fetch: Fetch, start_ns: int, end_ns: int, parts: int = 2) -> list[tuple[int, int]]:
    """Id ranges splitting the table in `parts`, when [start - lookback, end) spans most of the
    stored events' time range; [] when the time index serves better (a narrow window)."""

    def one(sql: str) -> Any:
        return fetch(sql, {})[0][0]

    # One min() or max() a statement: SQLite answers each from an end of the index.
    lo = one("SELECT min(time_ns) FROM events")
    hi = one("SELECT max(time_ns) FROM events")
    if lo is not None and hi is not None and hi > lo:
        covered = min(int(end_ns), int(hi)) - max(int(start_ns) - LOOKBACK_NS, int(lo))
        if covered <= 0.3 * (int(hi) - int(lo)):
            return []
    first = one("SELECT min(id) FROM events")
    last = one("SELECT max(id) FROM events")
    if first is None or last is None:
        return []
    step = (int(last) - int(first)) // parts + 1
    return [(int(first) + i * step, int(first) + (i + 1) * step) for i in range(parts)]


# --- the columns ------------------------------------------------------------------------------


def _code_type(n_categories: int) -> Any:
    """The integer type pandas keeps a Categorical's codes in (the smallest that holds them):
    codes made in it are taken as they are, not copied."""
    import numpy as np

    for t in (np.int8, np.int16, np.int32):
        if n_categories < np.iinfo(t).max:
            return t
    return np.int64


def _codes(values: Sequence[Any]) -> tuple[Any, list[str]]:
    """Values (None: missing) -> (codes, -1 for missing; sorted str categories)."""
    import numpy as np

    cats = sorted({str(v) for v in values if v is not None})
    index: dict[Any, int] = {v: i for i, v in enumerate(cats)}
    index[None] = -1
    try:  # the usual case: the values are the categories' own strings
        codes = np.fromiter(map(index.__getitem__, values), dtype=np.int64, count=len(values))
    except KeyError:
        codes = np.fromiter(
            (index[str(v) if v is not None else None] for v in values), np.int64, len(values)
        )
    return codes.astype(_code_type(len(cats))), cats


def _int64_na(values: Any) -> tuple[Any, Any]:
    """float64 with NaN -> (int64 values, 0 where missing; the missing mask): the parts of
    pandas' nullable Int64 array."""
    import numpy as np

    mask = np.isnan(values)
    return np.where(mask, 0, values).astype(np.int64), mask


def window_columns(
    containers: Rows, plain: Sequence[tuple[Any, Any, Any]], odd_rows: Rows
) -> dict[str, Any]:
    """The events frame's columns, sorted by host, container id and time, as numpy arrays:
    `pos` (each row's container, an index into `containers`), `time_ns`, `exit_code` and
    `signal` (int64 values, missing mask), `inferred`, and under "text" and "containers"
    (codes in pandas' own type for them, sorted categories) for the event and the
    per-container strings.

    `containers` are CONTAINER_COLUMNS rows sorted by ref; `plain` the (ref, time_ns, packed)
    arrays of the packed rows; `odd_rows` the rows read whole (_FULL_NAMES). Rows of a
    container not in `containers` (written after it was read) are left for next time. The
    rows are put in order first and `packed` taken apart after, so each derived column is
    made once, in order, instead of made and then permuted.
    """
    import numpy as np

    from docktally.store import packing

    empty = np.zeros(0, dtype=np.int64)

    def cat(parts: list[Any]) -> Any:
        return np.concatenate([np.asarray(p, dtype=np.int64) for p in parts]) if parts else empty

    m = len(odd_rows)
    oddc: dict[str, list[Any]] = {name: [] for name in _FULL_NAMES}
    if odd_rows:
        oddc = dict(zip(_FULL_NAMES, (list(c) for c in zip(*odd_rows, strict=True)), strict=True))
    ref = cat([p[0] for p in plain] + [oddc["ref"]])
    time_ns = cat([p[1] for p in plain] + [oddc["time_ns"]])
    packed = cat([p[2] for p in plain])
    n = len(packed)

    # Each row's container: an index into `containers` (-1: not there yet).
    crefs = np.array([r[0] for r in containers], dtype=np.int64)
    pos = np.full(len(ref), -1, dtype=np.int64)
    if len(crefs):
        p = np.minimum(np.searchsorted(crefs, ref), len(crefs) - 1)
        pos = np.where(crefs[p] == ref, p, -1)
        del p
    per_container = {
        f: _codes([r[i] for r in containers]) for i, f in enumerate(STRING_FIELDS, start=1)
    }
    # Sorted by host, container id, time: the containers' (host, id) order, then time. Stable
    # sorts, by time and then by the container's rank: lexsort's order, in half its time (a
    # rank below 2**16 sorts by radix).
    rank = np.empty(len(crefs), dtype=np.int64)
    rank[np.lexsort((per_container["container_id"][0], per_container["host"][0]))] = np.arange(
        len(crefs)
    )
    rows: Any = np.flatnonzero(pos >= 0)
    if len(rows) == len(pos):
        rows = None  # the usual case: every row's container is known
    t_rows = time_ns if rows is None else time_ns[rows]
    by_time = np.argsort(t_rows, kind="stable")
    del t_rows
    row_rank = rank[pos if rows is None else pos[rows]][by_time]
    if len(crefs) <= 1 << 16:
        row_rank = row_rank.astype(np.uint16)
    order = by_time[np.argsort(row_rank, kind="stable")]
    del by_time, row_rank
    if rows is not None:
        order = rows[order]  # indices into all rows
    del rows

    # The packed rows' fields, taken apart in order; the odd rows' put in their places.
    is_odd = order >= n
    u = packing.unpack(packed[np.where(is_odd, 0, order)] if n else np.zeros(len(order), np.int64))
    del packed
    at = np.flatnonzero(is_odd)  # where the odd rows went
    oi = order[at] - n  # and which they are
    del is_odd
    inferred, exit_code, signal = u.inferred, u.exit_code, u.signal
    if m:
        inferred[at] = np.asarray(oddc["inferred"], dtype=np.int64)[oi] != 0
        exit_code[at] = np.asarray(oddc["exit_code"], dtype=np.float64)[oi]
        signal[at] = np.asarray(oddc["signal"], dtype=np.float64)[oi]

    def text_col(codes: Any, values: list[str], name: str) -> tuple[Any, list[str]]:
        # Packed rows: codes into `values` (-1: missing); odd rows: their own strings ('' is
        # missing).
        odd = [v if v != "" else None for v in oddc[name]]
        cats = sorted({str(v) for v in values} | {str(v) for v in odd if v is not None})
        index = {v: i for i, v in enumerate(cats)}
        code = _code_type(len(cats))
        lut = np.array([index[str(v)] for v in values] + [-1], dtype=code)
        out = lut[np.where(codes >= 0, codes, len(values))]
        if m:
            out[at] = np.array([index[str(v)] if v is not None else -1 for v in odd], code)[oi]
        return out, cats

    kinds, healths = list(packing.KINDS), list(packing.HEALTHS)
    # A plain row's action is its kind, or "health_status: <health>".
    action_code = np.where(u.health_code > 0, len(kinds) + u.health_code - 1, u.kind_code)
    text = {
        "action": text_col(action_code, [*kinds, *(f"health_status: {h}" for h in healths)],
                           "action"),
        "kind": text_col(u.kind_code, kinds, "kind"),
        "health": text_col(u.health_code - 1, healths, "health"),
        "cause_hint": text_col(np.full(len(order), -1, dtype=np.int32), [], "cause_hint"),
    }  # fmt: skip
    del u, action_code
    return {
        "pos": pos[order].astype(np.int32),
        "time_ns": time_ns[order],
        "exit_code": _int64_na(exit_code),
        "signal": _int64_na(signal),
        "inferred": inferred,
        "text": text,
        "containers": per_container,
    }


# --- reading ----------------------------------------------------------------------------------

_BATCH_ROWS = 65536  # Arrow's SQLite reader's default is 1,024: per-batch work adds up
_OK, _UNAVAILABLE, _FAILED = b"\x00", b"\x01", b"\x02"


_ALIGN = 64  # each array's offset in the shared file: aligned as numpy allocates them


def _send(out: IO[bytes], obj: Any, shm: int | None = None) -> None:
    """obj pickled, its numpy arrays' memory after it (pickle protocol 5): written as is into
    the pipe, or with `shm` (a memfd both processes hold) into that file, and only their sizes
    into the pipe: the receiver maps them where they are instead of copying them out of the
    pipe into fresh memory."""
    bufs: list[pickle.PickleBuffer] = []
    head = pickle.dumps(obj, protocol=5, buffer_callback=bufs.append)
    raws = [b.raw() for b in bufs]
    out.write(struct.pack("<QIB", len(head), len(raws), shm is not None))
    out.write(head)
    for raw in raws:
        out.write(struct.pack("<Q", raw.nbytes))
        if shm is None:
            out.write(raw)
            continue
        data = memoryview(raw).cast("B")
        pad = -data.nbytes % _ALIGN
        while len(data):
            data = data[os.write(shm, data) :]
        if pad:
            os.write(shm, bytes(pad))


def _read_exactly(fh: IO[bytes], size: int) -> bytearray:
    buf = bytearray(size)
    view, got = memoryview(buf), 0
    while got < size:
        n = fh.readinto(view[got:])  # type: ignore[attr-defined]
        if not n:
            raise EOFError("the reader's pipe closed early")
        got += n
    return buf


def _receive(fh: IO[bytes], shm: int | None = None) -> Any:
    head_len, count, shared = struct.unpack("<QIB", _read_exactly(fh, 13))
    head = _read_exactly(fh, head_len)
    if not shared:
        bufs = []
        for _ in range(count):
            (size,) = struct.unpack("<Q", _read_exactly(fh, 8))
            bufs.append(_read_exactly(fh, size))
        return pickle.loads(head, buffers=bufs)
    assert shm is not None
    sizes = [struct.unpack("<Q", _read_exactly(fh, 8))[0] for _ in range(count)]
    total = sum(size + (-size % _ALIGN) for size in sizes)
    view = memoryview(mmap.mmap(shm, total) if total else bytearray())
    views, offset = [], 0
    for size in sizes:
        views.append(view[offset : offset + size])
        offset += size + (-size % _ALIGN)
    return pickle.loads(head, buffers=views)


def _import_reader_modules() -> None:
    import adbc_driver_manager  # noqa: F401
    import adbc_driver_sqlite  # noqa: F401
    import numpy  # noqa: F401
    import pyarrow  # noqa: F401

    from docktally.store import packing  # noqa: F401


class _Arrow:
    """Statements through Arrow's driver (store/arrow_sqlite.py), on one read-only
    connection."""

    def __init__(self, uri: str) -> None:
        self._db = ArrowSqlite(uri)

    def ints(self, sql: str) -> tuple[Any, ...]:
        """The three integer columns of a slice's statement as int64 arrays."""
        import numpy as np

        batches = self._db.batches(sql, batch_rows=_BATCH_ROWS)
        parts = [[_int64s(b.column(i)) for b in batches] for i in range(3)]
        return tuple(np.concatenate(p) if p else np.zeros(0, dtype=np.int64) for p in parts)

    def rows(self, sql: str) -> Rows:
        return self._db.rows(sql, batch_rows=_BATCH_ROWS)

    def close(self) -> None:
        self._db.close()


class _Here:
    """The same statements through `fetch`, in this process."""

    def __init__(self, fetch: Fetch) -> None:
        self._fetch = fetch

    def ints(self, sql: str) -> tuple[Any, ...]:
        import numpy as np

        arr = np.array(self._fetch(sql, {}), dtype=np.int64).reshape(-1, 3)
        return arr[:, 0], arr[:, 1], arr[:, 2]

    def rows(self, sql: str) -> Rows:
        return self._fetch(sql, {})

    def close(self) -> None:
        pass


def _read_slice(db: _Arrow | _Here, sql: str) -> tuple[tuple[Any, ...], Rows]:
    """One packed-rows statement: its (ref, time_ns, packed) arrays, and its odd rows whole."""
    import numpy as np

    ref, t, v = db.ints(sql)
    odd = v < 0
    if not odd.any():
        return (ref, t, v), []
    ids = np.sort(-2 - v[odd])
    rows: Rows = []
    for i in range(0, len(ids), 10_000):
        rows += db.rows(odd_rows_sql(ids[i : i + 10_000].tolist()))
    keep = ~odd
    return (ref[keep], t[keep], v[keep]), rows


def _int64s(arr: Any) -> Any:
    """An Arrow integer column as an int64 numpy array, read from its data buffer: pyarrow's
    own to_numpy imports pandas (~0.5 s in a child that needs none of it)."""
    import numpy as np
    import pyarrow as pa

    if arr.type == pa.int64() and arr.null_count == 0:
        return np.frombuffer(
            arr.buffers()[1], dtype=np.int64, count=len(arr), offset=arr.offset * 8
        )
    return np.array(arr.to_pylist(), dtype=np.int64)  # pragma: no cover - not what SQLite gives


def _child(
    out: IO[bytes],
    path: str,
    query: tuple[int, int, str, list[tuple[int, int]]],
    containers: Rows,
    shm: int | None,
) -> None:
    """The reading child: its helpers read the other id slices side by side; it reads the
    first and the rest, builds the columns and sends them, or what went wrong."""
    uri = "file:" + quote(str(Path(path).resolve())) + "?mode=ro"
    try:
        _Arrow(uri).close()
    except BaseException as exc:  # a database Arrow's driver may not open: the caller reads it
        out.write(_UNAVAILABLE + f"{type(exc).__name__}: {exc}".encode("utf-8", "replace"))
        return
    helpers: list[tuple[int, IO[bytes]]] = []
    try:
        plain, rest = window_sql(*query)
        # Forked before this process opens the file again: no connection crosses a fork.
        for sql in plain[1:]:
            helpers.append(_fork(functools.partial(_helper, uri=uri, sql=sql)))
        db = _Arrow(uri)
        try:
            part, odd_rows = _read_slice(db, plain[0])
            rest_rows = db.rows(rest)
        finally:
            db.close()
        parts = [part]
        for _, fh in helpers:
            if fh.read(1) != _OK:
                raise StoreError(fh.read().decode("utf-8", "replace") or "a reader died")
            part, odd = _receive(fh)
            parts.append(part)
            odd_rows += odd
        cols = window_columns(containers, parts, odd_rows + rest_rows)
        out.write(_OK)
        _send(out, cols, shm)
    except BaseException as exc:
        out.write(_FAILED + f"{type(exc).__name__}: {exc}".encode("utf-8", "replace"))
    finally:
        for pid, fh in helpers:
            fh.close()
            os.waitpid(pid, 0)


def _helper(out: IO[bytes], uri: str, sql: str) -> None:
    try:
        db = _Arrow(uri)
        try:
            result = _read_slice(db, sql)
        finally:
            db.close()
        out.write(_OK)
        _send(out, result)
    except BaseException as exc:
        out.write(_FAILED + f"{type(exc).__name__}: {exc}".encode("utf-8", "replace"))


def _fork(body: Callable[[IO[bytes]], None]) -> tuple[int, IO[bytes]]:
    """Run body(pipe) in a forked child; (its pid, the pipe's reading end) here.

    Arrow's driver reads in C, ~3x faster than sqlite3's tuples and with no Python object per
    value. It carries its own copy of SQLite, and two copies must never have one file open in
    one process (POSIX locks are per process: either copy's close drops the other's locks), so
    the reads run in children that only ever open the file through Arrow's copy. Every module
    the children need is imported before the fork, so a child never takes a lock (the import
    lock, a module's) that another thread (the dashboard's server's) held at the fork; this
    process needs numpy and pyarrow (pandas imports it) anyway, and importing them once here
    costs less than in each child.
    """
    _import_reader_modules()
    rfd, wfd = os.pipe()
    with contextlib.suppress(ImportError, AttributeError, OSError):  # Linux: 1 MiB, not 64 KiB
        import fcntl

        fcntl.fcntl(wfd, fcntl.F_SETPIPE_SZ, 1 << 20)
    pid = os.fork()
    if pid == 0:
        try:
            os.close(rfd)
            with os.fdopen(wfd, "wb") as out:
                body(out)
        finally:
            os._exit(0)
    os.close(wfd)
    return pid, os.fdopen(rfd, "rb")


class WindowRead:
    """The window's events, being read: `columns()` waits for them (window_columns' dict).

    On a SQLite file (`path`), a forked child reads them; elsewhere, without fork, or where
    the child could not open the database with Arrow's driver (say, read-only where it would
    need to create the -shm file), this process reads them through `fetch`: the same columns,
    more slowly.
    """

    def __init__(
        self,
        fetch: Fetch,
        path: str | None,
        start_ns: int,
        end_ns: int,
        hosts: Sequence[str] | None = None,
    ) -> None:
        self._fetch = fetch
        self._containers = fetch(*containers_sql(hosts))
        self._refs_clause = ""
        if hosts:
            refs = ",".join(str(int(r[0])) for r in self._containers)
            self._refs_clause = f" AND container_ref IN ({refs})" if refs else " AND 0"
        self._query = (int(start_ns), int(end_ns), self._refs_clause,
                       id_slices(fetch, start_ns, end_ns))  # fmt: skip
        self._child: tuple[int, IO[bytes]] | None = None
        self._shm: int | None = None
        if path is not None and hasattr(os, "fork"):
            query, containers = self._query, self._containers
            # The columns come back through a memory file (Linux), else the pipe.
            with contextlib.suppress(AttributeError, OSError):
                self._shm = os.memfd_create("docktally-window")
            shm = self._shm
            self._child = _fork(lambda out: _child(out, path, query, containers, shm))

    def columns(self) -> dict[str, Any]:
        if self._child is not None:
            pid, fh = self._child
            self._child = None
            try:
                status = fh.read(1)
                if status == _OK:
                    return dict(_receive(fh, self._shm))
                msg = fh.read().decode("utf-8", "replace").strip()
            finally:
                fh.close()
                os.waitpid(pid, 0)
                self._close_shm()
            if status != _UNAVAILABLE:
                line = msg.splitlines()[0] if msg else "the reading process died"
                raise StoreError(f"reading events failed: {line}")
        return self._read_here()

    def _read_here(self) -> dict[str, Any]:
        plain, rest = window_sql(*self._query)
        db = _Here(self._fetch)
        parts, odd_rows = [], []
        for sql in plain:
            part, odd = _read_slice(db, sql)
            parts.append(part)
            odd_rows += odd
        return window_columns(self._containers, parts, odd_rows + db.rows(rest))

    def close(self) -> None:
        """Stop the read if it is still going (the caller failed on the way): the child is
        killed (it only reads) and reaped; its helpers see their pipes close and leave."""
        if self._child is not None:
            pid, fh = self._child
            self._child = None
            fh.close()
            with contextlib.suppress(ProcessLookupError):
                os.kill(pid, signal.SIGKILL)
            os.waitpid(pid, 0)
        self._close_shm()

    def _close_shm(self) -> None:
        # Arrays mapped from it keep their memory; the file goes with the last of them.
        if self._shm is not None:
            os.close(self._shm)
            self._shm = None


class EarlyRead:
    """A SQLite store at head, opened read-only with the standard library's sqlite3, and its
    window's events being read (`start_early`); `fetch` runs the other (small) reads on it."""

    def __init__(self, con: sqlite3.Connection, read: WindowRead) -> None:
        self.con = con
        self.read = read

        self.fetch = sqlite_fetch(con)

    def close(self) -> None:
        self.read.close()
        self.con.close()


def start_early(
    db_url: str | None, start_ns: int, end_ns: int, hosts: Sequence[str] | None = None
) -> EarlyRead | None:
    """Start reading [start - lookback, end) of the store `--db` names, before SQLAlchemy or
    pandas is imported; None unless it is a SQLite file already at the head revision (then the
    caller opens it through store.db, which creates or migrates it, or says what is wrong)."""
    path = locate.plain_sqlite_path(locate.resolve_db_url(db_url))
    if path is None or not path.is_file():
        return None
    uri = "file:" + quote(str(path.resolve())) + "?mode=ro"
    try:
        con = sqlite3.connect(uri, uri=True, check_same_thread=False)
    except sqlite3.Error:
        return None
    try:
        con.execute("PRAGMA busy_timeout=10000")
        revs = con.execute("SELECT version_num FROM alembic_version").fetchall()
        if revs != [(locate.HEAD_REVISION,)]:
            con.close()
            return None
        return EarlyRead(con, WindowRead(sqlite_fetch(con), str(path), start_ns, end_ns, hosts))
    except sqlite3.Error:
        con.close()
        return None
