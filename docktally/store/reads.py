"""Read queries into DataFrames with the columns docktally.analytics.model names."""

from __future__ import annotations

import os
import warnings
from collections.abc import Iterator
from pathlib import Path
from typing import Any
from urllib.parse import quote

import numpy as np
import pandas as pd
from sqlalchemy import Connection, Select, Subquery, func, or_, select, text

from docktally.analytics.model import (
    COVERAGE_COLUMNS,
    EVENT_COLUMNS,
    FACT_COLUMNS,
    MAINTENANCE_COLUMNS,
    History,
)
from docktally.errors import StoreError
from docktally.store import packing
from docktally.store.db import sqlite_file
from docktally.store.schema import (
    container_facts,
    containers,
    coverage,
    events,
    gaps,
    log_tails,
    maintenance,
    raw_chunks,
)
from docktally.store.writes import CONTAINER_FIELDS, unpack_raw

# Events this long before the window are loaded too: a `kill` just before the window explains a
# `die` just inside it, and incidents need the run-up.
LOOKBACK_NS = 3600 * 1_000_000_000


def _frame(
    conn: Connection, stmts: Select[Any] | list[Select[Any]], columns: list[str]
) -> pd.DataFrame:
    """The rows of one or more selects as one DataFrame; callers set the column types."""
    rows: list[Any] = []
    for stmt in stmts if isinstance(stmts, list) else [stmts]:
        result = conn.execute(stmt)
        # The DBAPI cursor's plain tuples: a SQLAlchemy Row per record, probed by pandas
        # attribute by attribute, cost ~15 s per million rows.
        cursor = result.cursor
        rows.extend(cursor.fetchall() if cursor is not None else [])
        result.close()
    # Object columns, not inferred string arrays: inference alone was ~1.5 s per million rows.
    # The option is deprecated in pandas 3 (pyproject keeps pandas < 4); where it is gone, the
    # frame is the same with str columns, only slower.
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        try:
            with pd.option_context("future.infer_string", False):
                return pd.DataFrame.from_records(rows, columns=columns)
        except (KeyError, ValueError):  # pragma: no cover - pandas without the option
            return pd.DataFrame.from_records(rows, columns=columns)


def events_view() -> Subquery:
    """`events` joined to `containers`: every event with its host, container id, and the
    container's (latest) name, image and compose labels, under the column names of the first
    schema. For listings and tests; the report's loader reads the tables itself."""
    return (
        select(
            events.c.id,
            containers.c.host,
            containers.c.container_id,
            containers.c.name,
            containers.c.image,
            containers.c.compose_project,
            containers.c.compose_service,
            events.c.container_ref,
            events.c.time_ns,
            events.c.action,
            events.c.kind,
            events.c.exit_code,
            events.c.signal,
            events.c.health,
            events.c.inferred,
            events.c.cause_hint,
            events.c.evidence,
            events.c.source,
            events.c.raw_chunk,
            events.c.raw_line,
        )
        .select_from(events.join(containers, containers.c.ref == events.c.container_ref))
        .subquery("ev")
    )


def load_raw(conn: Connection, event_ids: list[int]) -> dict[int, str]:
    """The raw JSON of stored events, by event id (inferred events have none)."""
    out: dict[int, str] = {}
    rows = conn.execute(
        select(events.c.id, events.c.raw_chunk, events.c.raw_line).where(
            events.c.id.in_(event_ids), events.c.raw_chunk.is_not(None)
        )
    ).fetchall()
    by_chunk: dict[int, list[tuple[int, int]]] = {}
    for eid, chunk, line in rows:
        by_chunk.setdefault(int(chunk), []).append((int(eid), int(line)))
    for chunk, wanted in by_chunk.items():
        body = conn.execute(select(raw_chunks.c.body).where(raw_chunks.c.id == chunk)).scalar()
        if body is None:
            continue
        lines = unpack_raw(bytes(body))
        for eid, line in wanted:
            if 0 <= line < len(lines):
                out[eid] = lines[line]
    return out


def load_containers(conn: Connection, hosts: list[str] | None = None) -> pd.DataFrame:
    """Every container row: ref, host, container_id, name, image, compose labels."""
    cols = ["ref", "host", "container_id", *CONTAINER_FIELDS]
    stmt = select(*[containers.c[c] for c in cols])
    if hosts:
        stmt = stmt.where(containers.c.host.in_(hosts))
    return _frame(conn, stmt.order_by(containers.c.ref), cols)


def _sorted_categorical(codes: np.ndarray, uniques: np.ndarray) -> pd.Categorical:
    """codes into `uniques` (-1: missing) -> a Categorical whose str categories are sorted, so
    code order is string order."""
    if not len(uniques):
        return pd.Categorical.from_codes(
            np.full(len(codes), -1, dtype=np.int32), categories=pd.Index([], dtype=object)
        )
    order = np.argsort(uniques.astype(str), kind="stable")
    rank = np.empty(len(order), dtype=np.int32)
    rank[order] = np.arange(len(order), dtype=np.int32)
    new = np.where(codes >= 0, rank[np.maximum(codes, 0)], -1).astype(np.int32)
    cats = pd.Index(uniques[order].astype(str).astype(object), dtype=object)
    return pd.Categorical.from_codes(new, categories=cats)


def _categorical(values: np.ndarray) -> pd.Categorical:
    """Strings (None for missing) -> a Categorical with sorted str categories."""
    codes, uniques = pd.factorize(values, use_na_sentinel=True)
    return _sorted_categorical(np.asarray(codes), np.asarray(uniques, dtype=object))


# The window loader reads most events as three integers: container_ref, time_ns and `packed`
# (store/packing.py), filtered by integer comparisons alone; the few lifecycle events that
# `packed` cannot say exactly are read whole by a second statement.
_KINDS = list(packing.KINDS)
_HEALTHS = packing.HEALTHS
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


def _lifecycle_sql() -> str:
    return "(" + ", ".join(f"'{k}'" for k in _KINDS) + ")"


def _window_sql(
    start_ns: int, end_ns: int, refs_clause: str, slices: list[tuple[int, int]] | None = None
) -> tuple[list[str], str]:
    """(statements for the packed rows, one per id slice, or one through the time index;
    the statement for the odd rows and each container's last event before the window).

    The "last one before" walks the natural-key index (container_ref, time_ns, action)
    backwards one container at a time: milliseconds per thousand containers, where a window
    function over the table took ~20 s on 1M events. Only integers are formatted in.
    """
    horizon = int(start_ns) - LOOKBACK_NS
    kinds = _lifecycle_sql()
    prefixes = " OR ".join(f"i.action LIKE '{k}:%'" for k in _KINDS)
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
    return [f"{plain} AND id >= {int(lo)} AND id < {int(hi)}" for lo, hi in slices], odd


def _slices(conn: Connection, start_ns: int, end_ns: int, parts: int = 2) -> list[tuple[int, int]]:
    """Id ranges splitting the table in `parts`, when [start - lookback, end) spans most of the
    stored events' time range; [] when the time index serves better (a narrow window)."""
    # One min() or max() a statement: SQLite answers each from an end of the index.
    lo = conn.execute(select(func.min(events.c.time_ns))).scalar()
    hi = conn.execute(select(func.max(events.c.time_ns))).scalar()
    if lo is not None and hi is not None and hi > lo:
        covered = min(int(end_ns), int(hi)) - max(int(start_ns) - LOOKBACK_NS, int(lo))
        if covered <= 0.3 * (int(hi) - int(lo)):
            return []
    first = conn.execute(select(func.min(events.c.id))).scalar()
    last = conn.execute(select(func.max(events.c.id))).scalar()
    if first is None or last is None:
        return []
    step = (int(last) - int(first)) // parts + 1
    return [(int(first) + i * step, int(first) + (i + 1) * step) for i in range(parts)]


_BATCH_ROWS = 65536  # Arrow's SQLite reader's default is 1,024: per-batch work adds up


def _arrow_batches(path: str, sqls: list[str]) -> Iterator[Any] | None:
    """The rows of the statements as (statement index, Arrow record batch), read by Arrow's
    SQLite driver in forked children, one per statement, side by side, through pipes; None
    where a child could not start reading (the caller then reads through store.db).

    Arrow's driver reads in C, ~3x faster than sqlite3's tuples and with no Python object per
    value. It carries its own copy of SQLite, and two copies must never have one file open in
    one process (POSIX locks are per process: either copy's close drops the other's locks), so
    the reads run in children that only ever open the file through Arrow's copy. A child runs
    only the driver, Arrow's IPC writer and os.write, with every module it needs imported
    before the fork: no lock another thread of this process might hold at the fork (the
    dashboard's server threads, an import on the side) is ever taken in the child. The first
    child streams as it reads; the others read their whole slice first (a pipe holds 64 KiB:
    a streaming child would wait for this process to get to it), so they all read at once.
    """
    if not hasattr(os, "fork"):
        return None
    import adbc_driver_sqlite.dbapi as adbc
    import pyarrow as pa
    import pyarrow.ipc  # imported before the fork, never in the child

    uri = "file:" + quote(str(Path(path).resolve())) + "?mode=ro"
    children: list[tuple[int, Any]] = []
    for n, sql in enumerate(sqls):
        rfd, wfd = os.pipe()
        pid = os.fork()
        if pid == 0:  # a child: its rows (or the error) into the pipe, then leave
            code = 1
            try:
                os.close(rfd)
                for _, other in children:
                    other.close()
                with os.fdopen(wfd, "wb") as out:
                    try:
                        with adbc.connect(uri) as aconn, aconn.cursor() as cur:
                            cur.adbc_statement.set_options(
                                **{"adbc.sqlite.query.batch_rows": str(_BATCH_ROWS)}
                            )
                            cur.execute(sql)
                            reader = cur.fetch_record_batch()
                            if n > 0:
                                reader = pa.Table.from_batches(list(reader), reader.schema)
                                reader = reader.to_reader()
                            out.write(b"\x00")
                            with pa.ipc.new_stream(out, reader.schema) as writer:
                                for batch in reader:
                                    writer.write_batch(batch)
                        code = 0
                    except BaseException as exc:
                        msg = f"{type(exc).__name__}: {exc}"
                        out.write(b"\x01" + msg.encode("utf-8", "replace"))
            finally:
                os._exit(code)
        os.close(wfd)
        children.append((pid, os.fdopen(rfd, "rb")))

    def reap(status_ok: bool = True) -> bool:
        ok = status_ok
        for pid, fh in children:
            fh.close()
            _, status = os.waitpid(pid, 0)
            ok = ok and status == 0
        return ok

    if children and children[0][1].read(1) != b"\x00":
        # Whatever kept the child from reading (say, a database it may not open read-only),
        # the slower reader in this process gives the same rows, or the real error.
        reap()
        return None

    def batches() -> Iterator[Any]:
        ok = False
        try:
            for i, (_, fh) in enumerate(children):
                if i > 0 and fh.read(1) != b"\x00":
                    raise StoreError("reading events through Arrow's SQLite driver failed")
                for batch in pa.ipc.open_stream(fh):
                    yield i, batch
            ok = True
        finally:
            ok = reap(ok)
        if not ok:
            raise StoreError("reading events through Arrow's SQLite driver failed")

    return batches()


class _Strings:
    """Parts of one text column -> one Categorical with sorted str categories: each part is
    codes (-1: missing) into its own list of values."""

    def __init__(self) -> None:
        self.parts: list[tuple[np.ndarray, list[Any]]] = []

    def add(self, codes: np.ndarray, values: list[Any]) -> None:
        self.parts.append((codes, values))

    def categorical(self) -> pd.Categorical:
        uniq = sorted({str(v) for _, values in self.parts for v in values if v is not None})
        index = {v: i for i, v in enumerate(uniq)}
        out = []
        for codes, values in self.parts:
            lut = np.array([index[str(v)] if v is not None else -1 for v in values] + [-1],
                           dtype=np.int32)  # fmt: skip
            out.append(lut[np.where(codes >= 0, codes, len(values))])
        codes = np.concatenate(out) if out else np.zeros(0, dtype=np.int32)
        return pd.Categorical.from_codes(codes, categories=pd.Index(uniq, dtype=object))


def _read_columns(conn: Connection, plain: list[str], odd_sql: str) -> dict[str, Any]:
    """Run the loader's statements -> columns: text as sorted Categoricals (missing: NaN),
    nullable integers as float64 with NaN, the rest int64."""
    path = sqlite_file(conn)
    batches = _arrow_batches(path, [*plain, odd_sql]) if path is not None else None
    p_ref: list[np.ndarray] = []
    p_time: list[np.ndarray] = []
    p_packed: list[np.ndarray] = []
    odd_rows: list[tuple[Any, ...]] = []
    if batches is not None:
        for i, batch in batches:
            if i < len(plain):
                p_ref.append(batch.column(0).to_numpy(zero_copy_only=False).astype(np.int64))
                p_time.append(batch.column(1).to_numpy(zero_copy_only=False).astype(np.int64))
                p_packed.append(batch.column(2).to_numpy(zero_copy_only=False).astype(np.int64))
            else:
                odd_rows.extend(zip(*(c.to_pylist() for c in batch.columns), strict=True))
    else:
        for sql in plain:
            rows = conn.execute(text(sql)).fetchall()
            if rows:
                arr = np.array(rows, dtype=np.int64)
                p_ref.append(arr[:, 0])
                p_time.append(arr[:, 1])
                p_packed.append(arr[:, 2])
        odd_rows = [tuple(r) for r in conn.execute(text(odd_sql)).fetchall()]
    empty = np.zeros(0, dtype=np.int64)
    ref = np.concatenate(p_ref) if p_ref else empty
    time_ns = np.concatenate(p_time) if p_time else empty
    packed = np.concatenate(p_packed) if p_packed else empty
    del p_ref, p_time, p_packed
    n, m = len(packed), len(odd_rows)
    oddc: dict[str, list[Any]] = {name: [] for name in _FULL_NAMES}
    if odd_rows:
        oddc = dict(zip(_FULL_NAMES, (list(c) for c in zip(*odd_rows, strict=True)), strict=True))
    out: dict[str, Any] = {
        "ref": np.concatenate([ref, np.asarray(oddc["ref"], dtype=np.int64)]),
        "time_ns": np.concatenate([time_ns, np.asarray(oddc["time_ns"], dtype=np.int64)]),
    }
    del ref, time_ns
    u = packing.unpack(packed)
    del packed
    kind_code, health_code = u.kind_code, u.health_code
    out["inferred"] = np.concatenate(
        [u.inferred, np.asarray(oddc["inferred"], dtype=np.int64) != 0]
    )
    out["exit_code"] = np.concatenate(
        [u.exit_code, np.asarray(oddc["exit_code"], dtype=np.float64)]
    )
    out["signal"] = np.concatenate([u.signal, np.asarray(oddc["signal"], dtype=np.float64)])
    del u
    odd_idx = np.arange(m, dtype=np.int32)

    def text_col(plain_part: tuple[np.ndarray, list[Any]], name: str) -> pd.Categorical:
        col = _Strings()
        col.add(*plain_part)
        col.add(odd_idx, [v if v != "" else None for v in oddc[name]])
        return col.categorical()

    out["kind"] = text_col((kind_code, list(_KINDS)), "kind")
    # A plain row's action is its kind, or "health_status: <health>".
    action_code = np.where(health_code > 0, len(_KINDS) + health_code - 1, kind_code)
    actions = [*_KINDS, *(f"health_status: {h}" for h in _HEALTHS)]
    out["action"] = text_col((action_code.astype(np.int32), actions), "action")
    out["health"] = text_col((health_code - 1, list(_HEALTHS)), "health")
    out["cause_hint"] = text_col((np.full(n, -1, dtype=np.int32), []), "cause_hint")
    return out


def _int64_na(values: np.ndarray) -> pd.arrays.IntegerArray:
    mask = np.isnan(values)
    return pd.arrays.IntegerArray(np.where(mask, 0, values).astype(np.int64), mask)


def load_events_for_window(
    conn: Connection, start_ns: int, end_ns: int, hosts: list[str] | None = None
) -> pd.DataFrame:
    """Lifecycle events in [start - lookback, end), plus each container's last one before that,
    which says what state it was in when the window opened; EVENT_COLUMNS, sorted by host,
    container_id, time_ns. String columns are Categoricals: per-container strings (host, id,
    name, image, compose labels) come from `containers` through the row's ref, never per row.
    """
    cont = load_containers(conn, hosts)
    refs_clause = ""
    if hosts:
        refs_clause = " AND container_ref IN (" + ",".join(str(int(r)) for r in cont["ref"]) + ")"
        if not len(cont):
            refs_clause = " AND 0"
    plain, odd = _window_sql(start_ns, end_ns, refs_clause, _slices(conn, start_ns, end_ns))
    cols = _read_columns(conn, plain, odd)
    crefs = cont["ref"].to_numpy(dtype=np.int64)
    pos = np.minimum(np.searchsorted(crefs, cols["ref"]), max(len(crefs) - 1, 0))
    known = (crefs[pos] == cols["ref"]) if len(crefs) else np.zeros(len(pos), dtype=bool)
    if not known.all():  # an event of a container row not visible yet: left for next time
        pos = pos[known]
        cols = {k: v[known] for k, v in cols.items()}
    # Sorted by host, container id, time: the containers' (host, id) order, then time; each
    # column permuted on its own, so at most one extra column is alive at a time.
    per_container = {
        c: _categorical(cont[c].to_numpy(dtype=object)) for c in ("host", "container_id")
    }
    rank = np.empty(len(cont), dtype=np.int64)
    rank[
        np.lexsort(
            (
                np.asarray(per_container["container_id"].codes),
                np.asarray(per_container["host"].codes),
            )
        )
    ] = np.arange(len(cont))
    order = np.lexsort((cols["time_ns"], rank[pos]))
    pos = pos[order]
    frame: dict[str, Any] = {}
    for c in ("host", "container_id", *CONTAINER_FIELDS):
        cat = per_container.get(c)
        if cat is None:
            cat = _categorical(cont[c].to_numpy(dtype=object))
        frame[c] = pd.Categorical.from_codes(np.asarray(cat.codes)[pos], categories=cat.categories)
    del pos
    frame["time_ns"] = cols.pop("time_ns")[order]
    for c in ("action", "kind", "health", "cause_hint"):
        cat = cols.pop(c)
        frame[c] = pd.Categorical.from_codes(
            np.asarray(cat.codes)[order], categories=cat.categories
        )
    frame["exit_code"] = _int64_na(cols.pop("exit_code")[order])
    frame["signal"] = _int64_na(cols.pop("signal")[order])
    frame["inferred"] = cols.pop("inferred")[order].astype(bool)
    return pd.DataFrame(frame, columns=EVENT_COLUMNS)


def count_events(conn: Connection) -> int:
    return int(conn.execute(select(func.count()).select_from(events)).scalar() or 0)


def last_events(conn: Connection, limit: int = 20) -> pd.DataFrame:
    """The newest stored events, newest first (for the collector's status view)."""
    cols = ["host", "name", "container_id", "action", "exit_code", "time_ns", "source"]
    ev = events_view()
    stmt = select(*[ev.c[c] for c in cols]).order_by(ev.c.time_ns.desc()).limit(limit)
    df = _frame(conn, stmt, cols)
    df["exit_code"] = df["exit_code"].astype("Int64")
    return df


def load_facts(conn: Connection, hosts: list[str] | None = None) -> pd.DataFrame:
    stmt = select(*[container_facts.c[c] for c in FACT_COLUMNS])
    if hosts:
        stmt = stmt.where(container_facts.c.host.in_(hosts))
    df = _frame(conn, stmt.order_by(container_facts.c.observed_ns), FACT_COLUMNS)
    df["has_healthcheck"] = df["has_healthcheck"].astype(bool)
    df["stop_timeout_s"] = df["stop_timeout_s"].astype("Int64")
    return df


def load_coverage(
    conn: Connection, start_ns: int | None = None, end_ns: int | None = None
) -> pd.DataFrame:
    end_expr = func.coalesce(coverage.c.end_ns, coverage.c.heartbeat_ns, coverage.c.start_ns)
    stmt = select(coverage.c.host, coverage.c.start_ns, end_expr.label("end_ns"), coverage.c.source)
    if start_ns is not None:
        stmt = stmt.where(end_expr > start_ns)
    if end_ns is not None:
        stmt = stmt.where(coverage.c.start_ns < end_ns)
    return _frame(conn, stmt.order_by(coverage.c.host, coverage.c.start_ns), COVERAGE_COLUMNS)


def load_maintenance(
    conn: Connection, start_ns: int | None = None, end_ns: int | None = None
) -> pd.DataFrame:
    stmt = select(*[maintenance.c[c] for c in MAINTENANCE_COLUMNS])
    if start_ns is not None:
        stmt = stmt.where(maintenance.c.end_ns > start_ns)
    if end_ns is not None:
        stmt = stmt.where(maintenance.c.start_ns < end_ns)
    return _frame(conn, stmt.order_by(maintenance.c.start_ns), MAINTENANCE_COLUMNS)


def load_history(
    conn: Connection, start_ns: int, end_ns: int, hosts: list[str] | None = None
) -> History:
    return History(
        events=load_events_for_window(conn, start_ns, end_ns, hosts),
        facts=load_facts(conn, hosts),
        coverage=load_coverage(conn, start_ns - LOOKBACK_NS, end_ns),
        maintenance=load_maintenance(conn, start_ns - LOOKBACK_NS, end_ns),
    )


LIST_COLUMNS = [
    "id",
    "host",
    "container_id",
    "name",
    "time_ns",
    "action",
    "kind",
    "exit_code",
    "signal",
    "health",
    "image",
    "compose_project",
    "compose_service",
    "inferred",
    "cause_hint",
    "evidence",
    "source",
]


def list_events(
    conn: Connection,
    *,
    container: str | None = None,
    action: str | None = None,
    since_ns: int | None = None,
    until_ns: int | None = None,
    host: str | None = None,
    limit: int | None = None,
) -> pd.DataFrame:
    """Stored events, oldest first. `container` matches a name or an id prefix."""
    ev = events_view()
    stmt = select(*[ev.c[c] for c in LIST_COLUMNS])
    if container:
        stmt = stmt.where(or_(ev.c.name == container, ev.c.container_id.startswith(container)))
    if action:
        stmt = stmt.where(or_(ev.c.action == action, ev.c.kind == action))
    if since_ns is not None:
        stmt = stmt.where(ev.c.time_ns >= since_ns)
    if until_ns is not None:
        stmt = stmt.where(ev.c.time_ns < until_ns)
    if host:
        stmt = stmt.where(ev.c.host == host)
    stmt = stmt.order_by(ev.c.time_ns, ev.c.id)
    if limit:
        stmt = stmt.limit(limit)
    df = _frame(conn, stmt, LIST_COLUMNS)
    for col in ("exit_code", "signal"):
        df[col] = df[col].astype("Int64")
    df["inferred"] = df["inferred"].astype(bool)
    return df


def load_log_tails(
    conn: Connection, *, host: str, container_id: str, start_ns: int, end_ns: int
) -> pd.DataFrame:
    cols = ["host", "container_id", "time_ns", "captured_ns", "lines", "truncated"]
    stmt = (
        select(*[log_tails.c[c] for c in cols])
        .where(log_tails.c.host == host, log_tails.c.container_id == container_id)
        .where(log_tails.c.time_ns >= start_ns, log_tails.c.time_ns <= end_ns)
        .order_by(log_tails.c.time_ns)
    )
    return _frame(conn, stmt, cols)


def load_gaps(conn: Connection) -> pd.DataFrame:
    cols = ["host", "engine_url", "start_ns", "end_ns", "reason", "events_replayed", "detail"]
    return _frame(conn, select(*[gaps.c[c] for c in cols]).order_by(gaps.c.start_ns), cols)


def load_coverage_rows(conn: Connection) -> pd.DataFrame:
    """Every coverage row as stored, for the collector status views."""
    cols = [
        "id",
        "host",
        "engine_url",
        "engine_id",
        "source",
        "start_ns",
        "end_ns",
        "heartbeat_ns",
        "closed_reason",
        "run_label",
    ]
    return _frame(conn, select(*[coverage.c[c] for c in cols]).order_by(coverage.c.start_ns), cols)
