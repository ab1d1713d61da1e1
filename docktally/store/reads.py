"""Reads: the store's rows as the frames docktally.analytics.model names.

The analysis reads (a window's History for the report, incidents, policies, postmortems, the
dashboard and the metrics, and the dashboard's collector tables) are SQL run by a store.db
Reader, which returns Arrow columns: an ArrowReader (ADBC) on SQLite and PostgreSQL alike, no
Python object per value; in a process that also writes (the collector's metrics), a
ConnectionReader on its SQLAlchemy connection. The event listing (`docktally events`) and
raw-JSON lookups return few rows and use SQLAlchemy Core, imported by those functions alone: a
report loads no SQLAlchemy (store.arrow).
"""

from __future__ import annotations

import warnings
from collections.abc import Iterable, Sequence
from typing import TYPE_CHECKING, Any

import numpy as np
import pandas as pd
import pyarrow as pa
import pyarrow.compute as pc

from docktally.analytics.model import (
    COVERAGE_COLUMNS,
    ENGINE_RESTART_COLUMNS,
    EVENT_COLUMNS,
    FACT_COLUMNS,
    MAINTENANCE_COLUMNS,
    History,
)
from docktally.analytics.states import LIFECYCLE_KIND_ORDER
from docktally.store.arrow import Reader

if TYPE_CHECKING:
    from sqlalchemy import Connection, Select, Subquery

# Events this long before the window are loaded too: a `kill` just before the window explains a
# `die` just inside it, and incidents need the run-up.
LOOKBACK_NS = 3600 * 1_000_000_000

# The per-container strings of EVENT_COLUMNS, from `containers` through each event's ref.
CONTAINER_STRINGS = ("host", "container_id", "name", "image", "compose_project", "compose_service")


def _is_text(col: pa.ChunkedArray) -> bool:
    return bool(pa.types.is_string(col.type) or pa.types.is_large_string(col.type))


# Whether pandas makes a column of Python strings `str` (Arrow-backed: pandas 3) or leaves it
# object (before), and that dtype.
_TEXT_DTYPE = pd.Series(["x"]).dtype
_TEXT_IS_ARROW = isinstance(_TEXT_DTYPE, pd.StringDtype)


def _frame(table: pa.Table) -> pd.DataFrame:
    """An Arrow table as a DataFrame: text as pandas makes Python strings (object before pandas
    3, missing as None; `str` from 3, missing as NaN), numbers as numpy (integers with a
    missing value as float64 NaN); callers set the column types."""
    cols: dict[str, Any] = {}
    for name, col in zip(table.column_names, table.columns, strict=True):
        if _is_text(col) and _TEXT_IS_ARROW and col.null_count < len(col):
            # Straight from Arrow: through Python strings, pandas 3 turned them back into
            # Arrow at ~0.35 s per million values.
            cols[name] = pd.array(col, dtype=_TEXT_DTYPE)
        elif _is_text(col) or col.null_count == len(col):
            cols[name] = np.array(col.to_pylist(), dtype=object)
        else:
            cols[name] = col.to_numpy()
    return pd.DataFrame(cols, columns=table.column_names)


def query(reader: Reader, sql: str, params: tuple[Any, ...] = ()) -> pd.DataFrame:
    """Any read's rows as a DataFrame (text as object columns, numbers as numpy)."""
    return _frame(reader.table(sql, params))


def _ints(values: Sequence[Any]) -> str:
    """`(1, 2, 3)` of integers, formatted in: the only values these statements hold."""
    return "(" + ", ".join(str(int(v)) for v in values) + ")" if len(values) else "(NULL)"


# --- a window's events --------------------------------------------------------------------------

_KINDS = "(" + ", ".join(f"'{k}'" for k in sorted(LIFECYCLE_KIND_ORDER)) + ")"
_CONTAINERS_SQL = f"SELECT ref, {', '.join(CONTAINER_STRINGS)} FROM containers"
# Mostly-NULL text comes as '' (SQLite's driver types a column from its first batch; '' is
# never a stored health or hint): taken back to missing below.
_EVENT_SQL_COLUMNS = (
    "container_ref, time_ns, action, kind, exit_code, signal, coalesce(health, '') AS health, "
    "CAST(inferred AS INTEGER) AS inferred, coalesce(cause_hint, '') AS cause_hint"
)
_TEXT = ("action", "kind", "health", "cause_hint")


def _stored_span(reader: Reader) -> tuple[int, int] | None:
    """The first and last stored event's time (None: no events), one statement each: SQLite
    and PostgreSQL answer a min() or a max() from an end of the time index."""
    lo = reader.table("SELECT min(time_ns) AS t FROM events").column(0)[0].as_py()
    hi = reader.table("SELECT max(time_ns) AS t FROM events").column(0)[0].as_py()
    return None if lo is None or hi is None else (int(lo), int(hi))


def _scan_is_cheaper(reader: Reader, span: tuple[int, int], start_ns: int, end_ns: int) -> bool:
    """Whether [start - lookback, end) spans most of the stored events' time range: then SQLite
    reads the table straight through faster than it follows the time index row by row (in
    time order, a row per random page when events were not stored in time order: 10M events
    of the bench took 10x as long). PostgreSQL's planner has the statistics to choose."""
    lo, hi = span
    if not reader.sqlite or hi <= lo:
        return False
    covered = min(int(end_ns), hi) - max(int(start_ns) - LOOKBACK_NS, lo)
    return covered > 0.3 * (hi - lo)


def _events_sql(
    start_ns: int,
    end_ns: int,
    refs: Sequence[int] | None,
    scan: bool,
    before: bool = True,
    lateral: bool = False,
) -> str:
    """Lifecycle events in [start - lookback, end), and (with `before`) each container's last
    event of each lifecycle kind before that: the state it was in when the window opened and
    its cause (the `oom` or `kill` before a `die`, the `start` since, a health check's last
    report) are then what the whole history says. Each "last one before" is a seek in the
    index (container_ref, kind, time_ns, action), one container at a time: milliseconds per thousand
    containers, where a window function over the table took ~20 s on 1M events, and the walk
    back along the natural key a container's whole history for a kind it never had. The
    action is still matched (the kind is the action before its `:`, store.writes' callers
    set both), so the rows are the action match's. `lateral` (PostgreSQL): each seek returns
    its row, where the ids found were looked up again by primary key (73,000 more index
    descents and heap visits for 10,000 containers, ~1/3 of the 7-day read there); SQLite has
    no LATERAL, and its seek is in the index alone."""
    horizon = int(start_ns) - LOOKBACK_NS
    t = "+time_ns" if scan else "time_ns"  # `+`: SQLite does not use the time index
    in_refs = "" if refs is None else f" AND container_ref IN {_ints(refs)}"
    window = (
        f"SELECT {_EVENT_SQL_COLUMNS} FROM events WHERE {t} >= {horizon} "
        f"AND {t} < {int(end_ns)} AND kind IN {_KINDS}{in_refs}"
    )
    if not before:
        return window
    of_refs = "" if refs is None else f" WHERE c.ref IN {_ints(refs)}"
    return f"{window} UNION ALL {_last_of_kind_sql(horizon, of_refs, lateral=lateral)}"


def _last_of_kind_sql(
    horizon: int,
    of_containers: str,
    since: int | None = None,
    with_id: bool = False,
    lateral: bool = False,
) -> str:
    """Each container's (of `of_containers`, a WHERE on containers c) last event of each
    lifecycle kind before `horizon` (at or after `since`, when given); `lateral`: see
    _events_sql."""
    columns = f"id, {_EVENT_SQL_COLUMNS}" if with_id else _EVENT_SQL_COLUMNS
    after = "" if since is None else f"AND i.time_ns >= {int(since)} "
    if lateral:
        return " UNION ALL ".join(
            f"SELECT e.* FROM containers c CROSS JOIN LATERAL (SELECT {columns} "
            f"FROM events i WHERE i.container_ref = c.ref AND i.kind = '{k}' "
            f"AND i.time_ns < {int(horizon)} {after}"
            f"AND (i.action = '{k}' OR i.action LIKE '{k}:%') "
            f"ORDER BY i.time_ns DESC, i.action DESC LIMIT 1) e{of_containers}"
            for k in sorted(LIFECYCLE_KIND_ORDER)
        )
    last_of_kind = " UNION ALL ".join(
        "SELECT (SELECT i.id FROM events i WHERE i.container_ref = c.ref "
        f"AND i.kind = '{k}' AND i.time_ns < {int(horizon)} {after}"
        f"AND (i.action = '{k}' OR i.action LIKE '{k}:%') "
        f"ORDER BY i.time_ns DESC, i.action DESC LIMIT 1) FROM containers c{of_containers}"
        for k in sorted(LIFECYCLE_KIND_ORDER)
    )
    return f"SELECT {columns} FROM events WHERE kind IN {_KINDS} AND id IN ({last_of_kind})"


def _categorical(codes: np.ndarray, categories: Any) -> pd.Categorical:
    # The codes index these categories (made just above): no check.
    return pd.Categorical.from_codes(
        codes, categories=pd.Index(categories, dtype=object), validate=False
    )


def _text_codes(col: pa.ChunkedArray) -> tuple[np.ndarray, list[str]]:
    """A text column -> (codes, -1 for missing or ''; sorted categories), in C."""
    if not _is_text(col):  # no rows: the driver could not tell the type
        col = col.cast(pa.string())
    cats = sorted(v for v in pc.unique(col).to_pylist() if v)
    codes = pc.fill_null(pc.index_in(col, value_set=pa.array(cats, pa.string())), -1)
    return codes.to_numpy().astype(np.int32, copy=False), cats


def _nullable_ints(col: pa.ChunkedArray) -> pd.arrays.IntegerArray:
    col = col.cast(pa.int64())  # PostgreSQL's int32; no rows: null
    values = pc.fill_null(col, 0).to_numpy().astype(np.int64, copy=False)
    return pd.arrays.IntegerArray(values, col.is_null().to_numpy(zero_copy_only=False))


def load_events(
    reader: Reader,
    start_ns: int,
    end_ns: int,
    hosts: Sequence[str] | None = None,
    refs: Sequence[int] | None = None,
    earlier: pa.Table | None = None,
    containers: pd.DataFrame | None = None,
) -> pd.DataFrame:
    """Lifecycle events in [start - lookback, end), plus each container's last event of each
    kind before that; EVENT_COLUMNS, sorted by host, container_id, time_ns. Text columns are
    Categoricals with sorted categories; the per-container strings come from `containers`
    through each row's ref, never per row. `refs`: only these containers (containers.ref).
    `earlier`: those last events as LastEvents read them for this window (kept by the caller),
    not read again; `containers`: the containers table as KeptContainers read it, likewise.
    Events of a container written after its row was read wait for the next read (read in one
    snapshot, see db.read_snapshot, to have none)."""
    if containers is None:
        only = "" if refs is None else f" WHERE ref IN {_ints(refs)}"
        box = query(reader, f"{_CONTAINERS_SQL}{only} ORDER BY ref")
    else:
        box = containers if refs is None else containers[containers["ref"].isin(list(refs))]
    if hosts:
        box = box[box["host"].isin(list(hosts))].reset_index(drop=True)
        refs = box["ref"].tolist()
    span = _stored_span(reader)
    scan = span is not None and _scan_is_cheaper(reader, span, start_ns, end_ns)
    # Nothing stored before the window's look-back: no last events to look for (130,000
    # index probes for 10,000 containers, half of a whole-history report's read).
    before = span is not None and span[0] < int(start_ns) - LOOKBACK_NS
    lateral = not reader.sqlite
    ev = reader.table(
        _events_sql(start_ns, end_ns, refs, scan, before and earlier is None, lateral)
    )
    if earlier is not None and earlier.num_rows:
        # The window's rows first, as in the statement's UNION ALL; a column without a value
        # in one of them has no type there.
        ev = pa.concat_tables([ev, earlier.drop_columns(["id"])], promote_options="permissive")

    def pop(name: str) -> pa.ChunkedArray:
        # Each column leaves the Arrow table as it is converted: at 10M events the table and
        # the frame are ~0.7 GB each, and need not be whole at once.
        nonlocal ev
        col = ev.column(name)
        ev = ev.drop_columns([name])
        return col

    # Each row's container, as a position in `box` (-1: not there).
    crefs = box["ref"].to_numpy(dtype=np.int64)
    ref = pop("container_ref").to_numpy().astype(np.int64, copy=False)
    pos = np.full(len(ref), -1, dtype=np.int32)
    if len(crefs):
        p = np.minimum(np.searchsorted(crefs, ref), len(crefs) - 1)
        pos = np.where(crefs[p] == ref, p, -1).astype(np.int32)
        del p
    del ref
    per_container = {c: pd.factorize(box[c].to_numpy(dtype=object), sort=True)
                     for c in CONTAINER_STRINGS}  # fmt: skip

    # Sorted by host, container id, time: two stable sorts (time, then the container's rank
    # by (host, id), in the smallest type that holds it: radix-sorted below 2**16) keep the
    # read order of events that share a nanosecond.
    rank = np.empty(len(crefs), dtype=np.min_scalar_type(max(len(crefs) - 1, 0)))
    rank[np.lexsort((per_container["container_id"][0], per_container["host"][0]))] = np.arange(
        len(crefs)
    )
    time_ns = pop("time_ns").to_numpy().astype(np.int64, copy=False)
    if (pos >= 0).all():
        by_time = np.argsort(time_ns, kind="stable")
    else:
        rows = np.flatnonzero(pos >= 0)
        by_time = rows[np.argsort(time_ns[rows], kind="stable")]
    order = by_time[np.argsort(rank[pos[by_time]], kind="stable")]
    del by_time

    frame: dict[str, Any] = {}
    at = pos[order]
    for c in CONTAINER_STRINGS:
        codes, cats = per_container[c]
        frame[c] = _categorical(codes[at], cats)
    del at, pos
    frame["time_ns"] = time_ns[order]
    del time_ns
    for c in _TEXT:
        text_codes, text_cats = _text_codes(pop(c))
        frame[c] = _categorical(text_codes[order], text_cats)
    for c in ("exit_code", "signal"):
        frame[c] = _nullable_ints(pop(c))[order]
    frame["inferred"] = pop("inferred").to_numpy()[order] != 0
    return pd.DataFrame(frame, columns=EVENT_COLUMNS)


class LastEvents:
    """Each container's last event of each lifecycle kind before a horizon that moves forward
    (a window's start less the look-back: load_events' `earlier`), kept from one read to the
    next: the metrics' tail window, read every 15 s, starts at the same point for minutes, and
    looking these up for every container is most of its read (130,000 index seeks at 10,000
    containers). When the horizon moves, only the containers with events between the old and
    the new one are looked up, in that span: those found there replace what was kept. Events
    stored since the last read (ids above the newest then) with a time before the kept
    horizon (a replay, an import) mean the whole lookup again. (Ids become visible in the
    order they were taken on either backend, store.writes.take_turn: none commits below an id
    already read.)"""

    def __init__(self) -> None:
        self.horizon_ns: int | None = None
        self.top_id = 0  # the newest event id when the kept rows were read
        self.rows: pa.Table | None = None  # id, then the columns of _EVENT_SQL_COLUMNS
        self.reads = 0  # whole lookups, for the tests

    def before(self, reader: Reader, horizon_ns: int) -> pa.Table:
        top = top_event_id(reader)  # first: what is written meanwhile is looked at next time
        kept, was = self.rows, self.horizon_ns
        # Nothing kept (the first read starts before every event): the whole lookup, not
        # the containers with events since, which would be every event.
        if (
            kept is None
            or was is None
            or not kept.num_rows
            or horizon_ns < was
            or self._late(reader, was)
        ):
            rows = self._whole(reader, horizon_ns)
        elif horizon_ns > was:
            within = f" WHERE c.ref IN (SELECT container_ref FROM events WHERE time_ns >= {was} "
            within += f"AND time_ns < {int(horizon_ns)})"
            sql = _last_of_kind_sql(horizon_ns, within, was, True, not reader.sqlite)
            newer = reader.table(sql)
            rows = _replace_last(kept, newer)
        else:
            rows = kept
        self.rows, self.horizon_ns, self.top_id = rows, int(horizon_ns), top
        return rows

    def _whole(self, reader: Reader, horizon_ns: int) -> pa.Table:
        self.reads += 1
        span = _stored_span(reader)
        # Nothing stored before the horizon: no seeks (load_events' `before`).
        none = span is None or span[0] >= horizon_ns
        where = " WHERE 0 = 1" if none else ""
        sql = _last_of_kind_sql(horizon_ns, where, with_id=True, lateral=not reader.sqlite)
        return reader.table(sql).sort_by("id")  # as _replace_last keeps them

    def _late(self, reader: Reader, horizon_ns: int) -> bool:
        sql = (
            f"SELECT count(*) AS n FROM (SELECT 1 FROM events WHERE id > {int(self.top_id)} "
            f"AND time_ns < {int(horizon_ns)} AND kind IN {_KINDS} LIMIT 1) t"
        )
        return bool(reader.table(sql).column(0)[0].as_py())


class KeptContainers:
    """The containers table as load_events reads it (ref, then CONTAINER_STRINGS, by ref), kept
    from one read to the next: reading it whole was an eighth of a metrics refresh at 10,000
    containers. A row is written only with events of its container (its descriptors are its
    newest event's, store.writes), so each read takes the containers new since the last and
    those with events stored since (ids above the newest then: see LastEvents)."""

    def __init__(self) -> None:
        self.rows: pa.Table | None = None
        self.frame = pd.DataFrame()
        self.top_id = 0
        self.reads = 0  # whole reads, for the tests

    def read(self, reader: Reader) -> pd.DataFrame:
        top = top_event_id(reader)  # first: what is written meanwhile is read next time
        kept = self.rows
        if kept is None:
            self.reads += 1
            rows = reader.table(f"{_CONTAINERS_SQL} ORDER BY ref")
        else:
            last_ref = pc.max(kept.column("ref")).as_py() or 0
            changed = reader.table(
                f"{_CONTAINERS_SQL} WHERE ref > {int(last_ref)} OR ref IN "
                f"(SELECT container_ref FROM events WHERE id > {int(self.top_id)}) ORDER BY ref"
            )
            rows = kept
            if changed.num_rows:
                gone = pc.is_in(kept.column("ref"), value_set=changed.column("ref"))
                rest = kept.filter(pc.invert(gone))
                rows = pa.concat_tables([rest, changed], promote_options="permissive")
                rows = rows.sort_by("ref")
        if rows is not kept:
            self.frame = _frame(rows.combine_chunks())
        self.rows, self.top_id = rows, top
        return self.frame


def _replace_last(kept: pa.Table, newer: pa.Table) -> pa.Table:
    """`kept` less the (container, kind) pairs `newer` has, plus `newer`, by id: the order the
    whole lookup returns them in on SQLite."""
    if not newer.num_rows:
        return kept
    key = ["container_ref", "kind"]
    replaced = pd.MultiIndex.from_frame(kept.select(key).to_pandas()).isin(
        pd.MultiIndex.from_frame(newer.select(key).to_pandas())
    )
    rows = pa.concat_tables([kept.filter(pa.array(~replaced)), newer], promote_options="permissive")
    return rows.sort_by("id")


# --- the small tables ---------------------------------------------------------------------------


def _overlapping(start_col: str, end_col: str, start_ns: int | None, end_ns: int | None) -> str:
    """`WHERE` for rows overlapping [start_ns, end_ns) (either side open when None)."""
    where = []
    if start_ns is not None:
        where.append(f"{end_col} > {int(start_ns)}")
    if end_ns is not None:
        where.append(f"{start_col} < {int(end_ns)}")
    return " WHERE " + " AND ".join(where) if where else ""


def load_facts(
    reader: Reader, hosts: Sequence[str] | None = None, refs: Sequence[int] | None = None
) -> pd.DataFrame:
    """FACT_COLUMNS, oldest first; `refs`: only these containers (containers.ref)."""
    cols = ", ".join(f"f.{c}" for c in FACT_COLUMNS)
    sql = f"SELECT {cols} FROM container_facts f"
    if refs is not None:
        sql += (
            " JOIN containers c ON c.host = f.host AND c.container_id = f.container_id"
            f" WHERE c.ref IN {_ints(refs)}"
        )
    df = query(reader, sql + " ORDER BY f.observed_ns")
    if hosts:
        df = df[df["host"].isin(list(hosts))].reset_index(drop=True)
    df["has_healthcheck"] = df["has_healthcheck"].astype(bool)
    df["stop_timeout_s"] = df["stop_timeout_s"].astype("Int64")
    return df


def load_coverage(
    reader: Reader, start_ns: int | None = None, end_ns: int | None = None
) -> pd.DataFrame:
    # An open row (a collector still running) ends at its last heartbeat.
    end = "coalesce(end_ns, heartbeat_ns, start_ns)"
    where = _overlapping("start_ns", end, start_ns, end_ns)
    sql = f"SELECT host, start_ns, {end} AS end_ns, source FROM coverage{where}"
    return query(reader, sql + " ORDER BY host, start_ns")[COVERAGE_COLUMNS]


def load_maintenance(
    reader: Reader, start_ns: int | None = None, end_ns: int | None = None
) -> pd.DataFrame:
    where = _overlapping("start_ns", "end_ns", start_ns, end_ns)
    sql = f"SELECT {', '.join(MAINTENANCE_COLUMNS)} FROM maintenance{where} ORDER BY start_ns"
    return query(reader, sql)


# A collector saw the engine go down when containers died this shortly before its stream ended.
ENGINE_SHUTDOWN_LEAD_NS = 60_000_000_000


def load_engine_restarts(
    reader: Reader, start_ns: int | None = None, end_ns: int | None = None
) -> pd.DataFrame:
    """Gaps of reason engine_restart. Watched when the collector saw the engine go down: a
    coverage row of the same engine ended where the gap starts because the stream ended (the
    collector writes them so), and a container's `die` arrived live in the minute before (a
    mere cut of the collector's connection ends the stream too, with no deaths)."""
    where = _overlapping("g.start_ns", "g.end_ns", start_ns, end_ns)
    where = (where + " AND" if where else " WHERE") + " g.reason = 'engine_restart'"
    watched = (
        "CASE WHEN EXISTS (SELECT 1 FROM coverage c WHERE c.host = g.host "
        "AND c.engine_url = g.engine_url AND c.end_ns = g.start_ns "
        "AND c.closed_reason IN ('disconnected', 'engine_silent')) "
        "AND EXISTS (SELECT 1 FROM events e JOIN containers k ON k.ref = e.container_ref "
        "WHERE k.host = g.host AND e.kind = 'die' AND NOT e.inferred "
        f"AND e.time_ns >= g.start_ns - {ENGINE_SHUTDOWN_LEAD_NS} AND e.time_ns <= g.start_ns) "
        "THEN 1 ELSE 0 END"
    )
    sql = f"SELECT g.host, g.start_ns, g.end_ns, {watched} AS watched FROM gaps g{where}"
    df = query(reader, sql + " ORDER BY g.host, g.start_ns")[ENGINE_RESTART_COLUMNS]
    df["watched"] = df["watched"].astype(bool)
    return df


def load_history(
    reader: Reader,
    start_ns: int,
    end_ns: int,
    hosts: Sequence[str] | None = None,
    refs: Sequence[int] | None = None,
    earlier: pa.Table | None = None,
    containers: pd.DataFrame | None = None,
) -> History:
    """The window's History: its events (load_events) and the facts, coverage and maintenance
    that reach into [start - lookback, end). `refs`: the events and facts of only these
    containers (containers.ref); coverage, maintenance and engine restarts of every host.
    `earlier`, `containers`: see load_events."""
    lookback = start_ns - LOOKBACK_NS
    return History(
        events=load_events(reader, start_ns, end_ns, hosts, refs, earlier, containers),
        facts=load_facts(reader, hosts, refs),
        coverage=load_coverage(reader, lookback, end_ns),
        maintenance=load_maintenance(reader, lookback, end_ns),
        engine_restarts=load_engine_restarts(reader, lookback, end_ns),
    )


# --- what changed since a read (the alerts' incremental evaluation) ----------------------------


def top_event_id(reader: Reader) -> int:
    """The newest stored event's id (0: none)."""
    return int(reader.table("SELECT max(id) AS id FROM events").column(0)[0].as_py() or 0)


_WHO = "c.host, c.container_id, c.name, c.compose_project, c.compose_service"


def events_written_since(reader: Reader, after_id: int) -> pd.DataFrame:
    """Containers with lifecycle events stored after event `after_id`: ref, host, container_id,
    name, compose_project, compose_service, max_id (the newest such event's id) and last_ns (the
    latest time among them). Through the primary key: as cheap as the rows written since
    (grouped by e.container_ref, SQLite scanned every event by the index that orders them so:
    ~3.5 ms at 100,000 events, whatever was written)."""
    return query(
        reader,
        f"SELECT c.ref AS ref, {_WHO}, max(e.id) AS max_id, "
        "max(e.time_ns) AS last_ns FROM events e JOIN containers c ON c.ref = e.container_ref "
        f"WHERE e.id > {int(after_id)} AND e.kind IN {_KINDS} GROUP BY c.ref, {_WHO}",
    )


def container_refs(reader: Reader) -> pd.DataFrame:
    """Every container: ref, host, container_id, name, compose_project, compose_service."""
    return query(reader, f"SELECT c.ref, {_WHO} FROM containers c ORDER BY c.ref")


def facts_marks_since(reader: Reader, after_id: int) -> pd.DataFrame:
    """For the containers with lifecycle events stored after event `after_id` (those of
    events_written_since): ref, host, container_id, facts (how many rows) and observed_ns (the
    newest), through the primary keys."""
    return query(
        reader,
        "SELECT c.ref, c.host, c.container_id, count(*) AS facts, "
        "max(f.observed_ns) AS observed_ns FROM containers c JOIN container_facts f "
        "ON f.host = c.host AND f.container_id = c.container_id WHERE c.ref IN "
        f"(SELECT e.container_ref FROM events e WHERE e.id > {int(after_id)} "
        f"AND e.kind IN {_KINDS}) GROUP BY c.ref, c.host, c.container_id",
    )


def coverage_marks(reader: Reader, start_ns: int, end_ns: int) -> pd.DataFrame:
    """The coverage rows load_coverage(start_ns, end_ns) reads, as stored: host, start_ns and
    end_ns (null while a collector still watches: its heartbeat moves, the row stays)."""
    end = "coalesce(end_ns, heartbeat_ns, start_ns)"
    where = _overlapping("start_ns", end, start_ns, end_ns)
    return query(
        reader, f"SELECT host, start_ns, end_ns FROM coverage{where} ORDER BY host, start_ns"
    )


def count_events(reader: Reader) -> int:
    return int(reader.table("SELECT count(*) AS n FROM events").column(0)[0].as_py() or 0)


def last_events(reader: Reader, limit: int = 20, host: str = "") -> pd.DataFrame:
    """The newest stored events, newest first (of `host` only, when given), for the
    collector's status view."""
    where, params = ("WHERE c.host = $1 ", (host,)) if host else ("", ())
    df = query(
        reader,
        "SELECT c.host, c.name, c.container_id, e.action, e.exit_code, e.time_ns, e.source "
        f"FROM events e JOIN containers c ON c.ref = e.container_ref {where}"
        f"ORDER BY e.time_ns DESC LIMIT {int(limit)}",
        params,
    )
    df["exit_code"] = df["exit_code"].astype("Int64")
    return df


def load_log_tails(
    reader: Reader, *, host: str, container_id: str, start_ns: int, end_ns: int
) -> pd.DataFrame:
    df = query(
        reader,
        "SELECT host, container_id, time_ns, captured_ns, lines, truncated FROM log_tails "
        f"WHERE host = $1 AND container_id = $2 AND time_ns >= {int(start_ns)} "
        f"AND time_ns <= {int(end_ns)} ORDER BY time_ns",
        (host, container_id),
    )
    df["truncated"] = df["truncated"].astype(bool)
    return df


HEALTH_PROBE_COLUMNS = ["host", "container_id", "start_ns", "end_ns", "exit_code", "output"]


def load_health_probes(
    reader: Reader, *, host: str, container_id: str, start_ns: int, end_ns: int
) -> pd.DataFrame:
    """The health-check probes stored for unhealthy events in [start_ns, end_ns], oldest
    first (HEALTH_PROBE_COLUMNS; exit_code nullable Int64)."""
    df = query(
        reader,
        f"SELECT {', '.join(HEALTH_PROBE_COLUMNS)} FROM health_probes "
        f"WHERE host = $1 AND container_id = $2 AND event_ns >= {int(start_ns)} "
        f"AND event_ns <= {int(end_ns)} ORDER BY start_ns",
        (host, container_id),
    )
    df["exit_code"] = df["exit_code"].astype("Int64")
    return df


def load_incident_evidence(
    reader: Reader, *, host: str, container_ids: Iterable[str], start_ns: int, end_ns: int
) -> tuple[list[pd.DataFrame], list[pd.DataFrame]]:
    """An incident's log tails and failed health probes, one frame per container, for the
    postmortem; probes are stored under the unhealthy event they were read at."""
    ids = [str(cid) for cid in container_ids]
    tails = [
        load_log_tails(reader, host=host, container_id=cid, start_ns=start_ns, end_ns=end_ns)
        for cid in ids
    ]
    probes = [
        load_health_probes(reader, host=host, container_id=cid, start_ns=start_ns, end_ns=end_ns)
        for cid in ids
    ]
    return tails, probes


def load_log_tails_of(
    reader: Reader, containers: Sequence[tuple[str, str]], start_ns: int, end_ns: int
) -> pd.DataFrame:
    """The log tails of these (host, container_id) captured for deaths in [start_ns, end_ns],
    oldest first: host, container_id, time_ns, lines."""
    by_host: dict[str, list[str]] = {}
    for host, cid in containers:
        by_host.setdefault(host, []).append(cid)
    if not by_host:
        return pd.DataFrame({"host": [], "container_id": [], "time_ns": [], "lines": []})
    params: list[str] = []
    ors = []
    for host, cids in sorted(by_host.items()):
        params.append(host)
        at = len(params)
        uniq = sorted(set(cids))
        marks = ", ".join(f"${at + i}" for i in range(1, len(uniq) + 1))
        params += uniq
        ors.append(f"(host = ${at} AND container_id IN ({marks}))")
    return query(
        reader,
        "SELECT host, container_id, time_ns, lines FROM log_tails "
        f"WHERE ({' OR '.join(ors)}) AND time_ns >= {int(start_ns)} "
        f"AND time_ns <= {int(end_ns)} ORDER BY time_ns",
        tuple(params),
    )


def load_gaps(reader: Reader) -> pd.DataFrame:
    cols = "host, engine_url, start_ns, end_ns, reason, events_replayed, detail"
    return query(reader, f"SELECT {cols} FROM gaps ORDER BY start_ns")


def load_coverage_rows(reader: Reader) -> pd.DataFrame:
    """Every coverage row as stored, for the collector status views."""
    cols = (
        "id, host, engine_url, engine_id, source, start_ns, end_ns, heartbeat_ns, "
        "closed_reason, run_label"
    )
    return query(reader, f"SELECT {cols} FROM coverage ORDER BY start_ns")


# --- listing (SQLAlchemy Core) -----------------------------------------------------------------


def _listing(conn: Connection, stmt: Select[Any], columns: list[str]) -> pd.DataFrame:
    result = conn.execute(stmt)
    # The DBAPI cursor's plain tuples: pandas probes a SQLAlchemy Row attribute by attribute.
    rows = result.cursor.fetchall() if result.cursor is not None else []
    result.close()
    # Text as object columns (None for missing), as the analysis reads give it. The option is
    # deprecated in pandas 3; where it is gone, the frame is the same with str columns.
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        try:
            with pd.option_context("future.infer_string", False):
                return pd.DataFrame.from_records(list(rows), columns=columns)
        except (KeyError, ValueError):  # pragma: no cover - pandas without the option
            return pd.DataFrame.from_records(list(rows), columns=columns)


def events_view() -> Subquery:
    """`events` joined to `containers`: every event with its host, container id, and the
    container's (latest) name, image and compose labels, under the column names of the first
    schema. For listings and tests."""
    from sqlalchemy import select

    from docktally.store.schema import containers, events

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
    from sqlalchemy import select

    from docktally.store.schema import events, raw_chunks
    from docktally.store.writes import unpack_raw

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
    actions: Sequence[str] = (),
    not_actions: Sequence[str] = (),
) -> pd.DataFrame:
    """Stored events, oldest first. `container` matches a name or an id prefix; `action` and
    each of `actions` an action or its kind (any of them), `not_actions` ones to leave out."""
    from sqlalchemy import or_, select

    ev = events_view()
    stmt = select(*[ev.c[c] for c in LIST_COLUMNS])
    if container:
        stmt = stmt.where(or_(ev.c.name == container, ev.c.container_id.startswith(container)))
    wanted = [*([action] if action else []), *actions]
    if wanted:
        stmt = stmt.where(or_(ev.c.action.in_(wanted), ev.c.kind.in_(wanted)))
    if not_actions:
        stmt = stmt.where(
            ~ev.c.action.in_(not_actions), or_(ev.c.kind.is_(None), ~ev.c.kind.in_(not_actions))
        )
    if since_ns is not None:
        stmt = stmt.where(ev.c.time_ns >= since_ns)
    if until_ns is not None:
        stmt = stmt.where(ev.c.time_ns < until_ns)
    if host:
        stmt = stmt.where(ev.c.host == host)
    stmt = stmt.order_by(ev.c.time_ns, ev.c.id)
    if limit:
        stmt = stmt.limit(limit)
    df = _listing(conn, stmt, LIST_COLUMNS)
    for col in ("exit_code", "signal"):
        df[col] = df[col].astype("Int64")
    df["inferred"] = df["inferred"].astype(bool)
    return df
