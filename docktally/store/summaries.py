"""Per-day summaries (schema.day_summaries): built for complete UTC days from the events,
marked dirty when late or inferred events or maintenance change a day, and read back as
analytics.daily.Parts for reports over long windows.

A day is complete an hour (reads.LOOKBACK_NS) after it ends; today's partial day always comes
from the events. Days are built in chunks of CHUNK_DAYS from one timeline each, cut at the
midnights: the state a container carries into a chunk comes from the events before it as the
report's own window start does (reads.load_events).
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import TYPE_CHECKING, Any

import numpy as np
import pandas as pd

from docktally.analytics.daily import (
    COUNT_SUMS,
    DAY_NS,
    DESCRIPTORS,
    DETAIL_COLUMNS,
    EDGE_COLUMNS,
    OPEN_COLUMNS,
    ROW_COLUMNS,
    SERVICE_ROW_COLUMNS,
    SERVICE_SCOPES,
    STATE_SUMS,
    Parts,
    concat_parts,
    piece_parts,
)
from docktally.analytics.model import Window
from docktally.analytics.select import filter_history, without_lab
from docktally.store import reads

if TYPE_CHECKING:  # a report reads the summaries without loading SQLAlchemy (test_store_arrow)
    from sqlalchemy import Connection, Engine

    from docktally.store.db import Reader

CHUNK_DAYS = 31
# Events read before a piece of the window, for the state each container carries into it: a
# day more than the report's own hour (reads.LOOKBACK_NS), so that a crash's cause and the
# state after a stop come from their events, not from the last one alone.
CONTEXT_NS = 86_400 * 1_000_000_000
SETTLE_NS = reads.LOOKBACK_NS
SUM_COLUMNS = [c for c in ROW_COLUMNS if c not in ("host", "container_id", *DESCRIPTORS)]
SUM_COLUMNS.remove("start_ns")
SERVICE_SUM_COLUMNS = [c for c in SUM_COLUMNS if c != "lead"] + EDGE_COLUMNS


def _day(t: int) -> int:
    return (int(t) // DAY_NS) * DAY_NS


# --- building ----------------------------------------------------------------------------------


def days_to_build(reader: Reader, now_ns: int) -> list[int]:
    """Complete days from the first stored event's that are not built or are dirty."""
    lo = reader.table("SELECT min(time_ns) AS t FROM events").column(0)[0].as_py()
    if lo is None:
        return []
    end = _day(now_ns - SETTLE_NS)
    built = reader.table("SELECT day_ns, CAST(dirty AS INTEGER) AS dirty FROM summary_days")
    fresh = {
        int(d)
        for d, x in zip(built.column(0).to_pylist(), built.column(1).to_pylist(), strict=True)
        if not x
    }
    return [d for d in range(_day(lo), end, DAY_NS) if d not in fresh]


def _runs(days: Sequence[int], chunk_days: int) -> list[tuple[int, int]]:
    """Consecutive days as [start, end) runs of at most chunk_days."""
    out: list[tuple[int, int]] = []
    for d in days:
        if out and out[-1][1] == d and (d - out[-1][0]) < chunk_days * DAY_NS:
            out[-1] = (out[-1][0], d + DAY_NS)
        else:
            out.append((d, d + DAY_NS))
    return out


def runs_of(days: Sequence[int], chunk_days: int = CHUNK_DAYS) -> list[tuple[int, int]]:
    return _runs(days, chunk_days)


def build(reader: Reader, start: int, end: int) -> Parts:
    """The parts of the days in [start, end), one timeline over them (lab runs left out)."""
    history = without_lab(reads.load_history(reader, start - CONTEXT_NS, end))
    return piece_parts(history, Window(start, end))


def refresh(
    engine: Engine, reader: Reader, now_ns: int, chunk_days: int = CHUNK_DAYS
) -> list[tuple[int, int]]:
    """Build the days days_to_build names, reading through `reader` and writing through
    `engine`; returns the [start, end) runs built."""
    runs = _runs(days_to_build(reader, now_ns), chunk_days)
    for start, end in runs:
        parts = build(reader, start, end)
        with engine.begin() as conn:
            write_days(conn, parts, start, end, now_ns)
    return runs


# PostgreSQL's advisory lock key for building summaries (any fixed number: "dock" in ASCII).
BUILD_LOCK = 0x646F636B


def refresh_store(engine: Engine, now_ns: int, wait: bool = False) -> list[tuple[int, int]]:
    """refresh through the engine's own reader; the [start, end) runs built. On PostgreSQL one
    process builds at a time (a collector per host shares the database): another returns at
    once with nothing built, or with `wait` builds what is left once the first is done."""
    from sqlalchemy.exc import IntegrityError

    from docktally.store import db

    runs: list[tuple[int, int]] = []
    if engine.dialect.name == "sqlite":
        # One SQLite file, one driver in this process (see db.ArrowReader): reads go through
        # the engine's own connections.
        with engine.connect() as conn:
            days = days_to_build(db.ConnectionReader(conn), now_ns)
        for start, end in runs_of(days):
            with engine.connect() as conn:
                parts = build(db.ConnectionReader(conn), start, end)
            with engine.begin() as conn:
                write_days(conn, parts, start, end, now_ns)
            runs.append((start, end))
        return runs
    # One builder at a time in a fleet: the collectors of 200 hosts would otherwise each build
    # the same days against the central database, all but one for nothing. A session lock: it
    # goes with the connection if the builder dies.
    with engine.connect() as lock:
        if wait:  # `db summarize`: after the builder at work, whose days are then done
            lock.exec_driver_sql(f"SELECT pg_advisory_lock({BUILD_LOCK})")
        elif not lock.exec_driver_sql(f"SELECT pg_try_advisory_lock({BUILD_LOCK})").scalar():
            return runs  # another process is building; the next pass looks again
        try:
            # A reader of its own: open_reader disposes the engine it is given.
            url = engine.url.render_as_string(hide_password=False)
            with db.open_reader(db.connect(url, migrate=False)) as reader:
                for start, end in runs_of(days_to_build(reader, now_ns)):
                    parts = build(reader, start, end)
                    try:
                        with engine.begin() as conn:
                            write_days(conn, parts, start, end, now_ns)
                    except IntegrityError:  # written meanwhile by an older release's builder
                        continue
                    runs.append((start, end))
        finally:
            lock.exec_driver_sql(f"SELECT pg_advisory_unlock({BUILD_LOCK})")
            lock.commit()
    return runs


def write_days(conn: Connection, parts: Parts, start: int, end: int, now_ns: int) -> None:
    """Replace the days in [start, end) by these parts (a day without rows is built too)."""
    from sqlalchemy import delete, insert

    from docktally.store.schema import (
        day_service_details,
        day_service_summaries,
        day_summaries,
        day_summary_details,
        summary_days,
    )

    for table in (
        day_summaries, day_summary_details, day_service_summaries, day_service_details,
        summary_days,
    ):  # fmt: skip
        conn.execute(delete(table).where(table.c.day_ns >= start, table.c.day_ns < end))
    rows = parts.rows.rename(columns={"start_ns": "day_ns"})
    cols = ["day_ns", "host", "container_id", *DESCRIPTORS, *SUM_COLUMNS]
    _insert(conn, day_summaries, rows[cols])
    det = parts.details.rename(columns={"start_ns": "day_ns"})
    _insert(conn, day_summary_details, det[["day_ns", *DETAIL_COLUMNS[:2], *DETAIL_COLUMNS[3:]]])
    for scope, sp in parts.services.items():
        srows = sp.rows.rename(columns={"start_ns": "day_ns"}).assign(scope=scope)
        _insert(conn, day_service_summaries, srows[["day_ns", "scope", "host", "service",
                                                    *SERVICE_SUM_COLUMNS]])  # fmt: skip
        sdet = sp.details.rename(columns={"start_ns": "day_ns", "container_id": "service"})
        sdet = sdet.assign(scope=scope)
        _insert(conn, day_service_details, sdet[["day_ns", "scope", "host", "service", "part",
                                                 "code", "value"]])  # fmt: skip
    hosts = "\n".join(sorted(parts.hosts))
    conn.execute(
        insert(summary_days),
        [
            {"day_ns": d, "built_ns": int(now_ns), "dirty": False, "hosts": hosts}
            for d in range(start, end, DAY_NS)
        ],
    )


def _insert(conn: Connection, table: Any, frame: pd.DataFrame) -> None:
    from sqlalchemy import insert

    if frame.empty:
        return
    if conn.dialect.name == "postgresql":
        _copy(conn, table.name, frame)
        return
    records: list[dict[str, Any]] = [
        {str(k): (v.item() if isinstance(v, np.generic) else v) for k, v in r.items()}
        for r in frame.to_dict("records")
    ]
    conn.execute(insert(table), records)


def _copy(conn: Connection, name: str, frame: pd.DataFrame) -> None:
    """PostgreSQL: the rows through COPY (a year of a fleet's days is millions of rows, where
    an executemany of dicts took minutes a month)."""
    driver = conn.connection.driver_connection  # psycopg's connection, in conn's transaction
    assert driver is not None
    cols = [str(c) for c in frame.columns]
    values = [
        frame[c].astype(np.int64).tolist()
        if pd.api.types.is_numeric_dtype(frame[c])
        else frame[c].astype(object).where(frame[c].notna(), None).tolist()
        for c in cols
    ]
    with driver.cursor() as cur, cur.copy(f"COPY {name} ({', '.join(cols)}) FROM STDIN") as copy:
        for row in zip(*values, strict=True):
            copy.write_row(row)


# --- reading -----------------------------------------------------------------------------------


def fresh_days(reader: Reader, start_ns: int, end_ns: int) -> dict[int, list[str]]:
    """The built, clean days inside [start, end): day -> the hosts of its timeline."""
    t = reader.table(
        "SELECT day_ns, hosts FROM summary_days WHERE NOT dirty "
        f"AND day_ns >= {int(start_ns)} AND day_ns + {DAY_NS} <= {int(end_ns)} ORDER BY day_ns"
    )
    return {
        int(d): [h for h in (hs or "").split("\n") if h]
        for d, hs in zip(t.column(0).to_pylist(), t.column(1).to_pylist(), strict=True)
    }


def _buckets(days: list[int], periods: list[tuple[int, int]]) -> str:
    """A subquery of (ps, pe) rows: the periods, or one bucket for all the days."""
    spans = periods or [(days[0], days[-1] + DAY_NS)]
    return " UNION ALL ".join(f"SELECT {int(s)} AS ps, {int(e)} AS pe" for s, e in spans)


def load_service_parts(
    reader: Reader,
    days: list[int],
    periods: list[tuple[int, int]],
    scope: str,
    host: str | None,
    window: Window,
) -> Parts:
    """load_parts for the services of `scope` (per host with a host), with the failures at the
    window's edges taken out as the report does (analytics.daily's EDGE_COLUMNS): one at the
    window's first day's start is not the report's; one recovered at its last day's end is
    open. The rows' first_fail is 0 (done here)."""
    if not days:
        p = Parts.empty()
        p.rows = pd.DataFrame({c: pd.Series(dtype=object) for c in SERVICE_ROW_COLUMNS})
        return p
    ws, last = int(window.start_ns), int(window.end_ns) - DAY_NS
    in_days = f"s.day_ns IN ({', '.join(str(int(d)) for d in days)}) AND s.scope = '{scope}'"
    where = in_days + (" AND s.host = $1" if host else "")
    params: tuple[Any, ...] = (host,) if host else ()
    bucket = f"JOIN ({_buckets(days, periods)}) p ON s.day_ns >= p.ps AND s.day_ns < p.pe"
    first = f"s.day_ns = {ws} AND s.first_fail > 0"
    adjust = {
        "failures": f"CASE WHEN {first} THEN s.first_fail ELSE 0 END",
        "ttr_n": f"CASE WHEN {first} AND s.first_ttr_ns >= 0 THEN 1 ELSE 0 END"
        f" + CASE WHEN s.day_ns = {last} THEN s.end_rec_n ELSE 0 END",
        "ttr_ns": f"CASE WHEN {first} AND s.first_ttr_ns >= 0 THEN s.first_ttr_ns ELSE 0 END"
        f" + CASE WHEN s.day_ns = {last} THEN s.end_rec_ns ELSE 0 END",
        "open_n": f"CASE WHEN {first} AND s.first_ttr_ns < 0 THEN 1 ELSE 0 END",
    }
    sums = ", ".join(
        f"CAST(max(s.{c}) AS BIGINT) AS {c}" if c in ("real", "stop_max_ns")
        else f"CAST(sum(s.{c} - ({adjust[c]})) AS BIGINT) AS {c}" if c in adjust
        else f"CAST(sum(s.{c}) AS BIGINT) AS {c}"
        for c in [*STATE_SUMS, "real", *COUNT_SUMS, "stop_max_ns"]
    )  # fmt: skip
    rows = reads.query(
        reader,
        f"SELECT s.host, s.service AS container_id, min(s.day_ns) AS start_ns, {sums} "
        f"FROM day_service_summaries s {bucket} "
        f"WHERE {where} GROUP BY s.host, s.service, p.ps",
        params,
    )
    rows["container"] = None
    rows["service"] = rows["container_id"]
    rows["image"] = None
    rows["lead"] = 0
    rows["rec_ns"] = -1
    for c in EDGE_COLUMNS:
        rows[c] = 0
    details = reads.query(
        reader,
        f"SELECT s.host, s.service AS container_id, p.ps AS start_ns, s.part, s.code, "
        f"CAST(sum(s.value) AS BIGINT) AS value FROM day_service_details s {bucket} "
        f"WHERE {where} GROUP BY s.host, s.service, p.ps, s.part, s.code",
        params,
    )
    opens = reads.query(
        reader,
        f"SELECT s.host, s.service AS container_id, s.day_ns AS start_ns, "
        f"s.open_n - CASE WHEN {first} AND s.first_ttr_ns < 0 THEN 1 ELSE 0 END AS open_n, "
        "s.open_ns, s.rec_ns "
        f"FROM day_service_summaries s WHERE {where} AND (s.open_n > 0 OR s.rec_ns >= 0) "
        "AND EXISTS (SELECT 1 FROM day_service_summaries o WHERE o.host = s.host "
        f"AND o.service = s.service AND o.scope = s.scope AND o.open_n > 0 AND "
        f"{in_days.replace('s.', 'o.')})",
        params,
    )
    return _typed(rows, details, opens, SERVICE_ROW_COLUMNS)


def _typed(
    rows: pd.DataFrame, details: pd.DataFrame, opens: pd.DataFrame, row_columns: list[str]
) -> Parts:
    for frame, cols in ((rows, row_columns), (details, DETAIL_COLUMNS), (opens, OPEN_COLUMNS)):
        for c in cols:
            if c not in ("host", "container_id", *DESCRIPTORS):
                frame[c] = frame[c].astype(np.int64)
    return Parts(rows=rows[row_columns], details=details[DETAIL_COLUMNS], opens=opens[OPEN_COLUMNS])


def load_parts(
    reader: Reader, days: list[int], periods: list[tuple[int, int]], host: str | None
) -> Parts:
    """The summaries of `days` (built, clean), summed per container and period (or over all the
    days without periods); the open failures' days as they are."""
    if not days:
        return Parts.empty()
    in_days = f"s.day_ns IN ({', '.join(str(int(d)) for d in days)})"
    where = in_days + (" AND s.host = $1" if host else "")
    params: tuple[Any, ...] = (host,) if host else ()
    bucket = f"JOIN ({_buckets(days, periods)}) p ON s.day_ns >= p.ps AND s.day_ns < p.pe"
    sums = ", ".join(
        f"CAST(max(s.{c}) AS BIGINT) AS {c}" if c in ("real", "stop_max_ns")
        else f"CAST(sum(s.{c}) AS BIGINT) AS {c}"
        for c in [*STATE_SUMS, "real", *COUNT_SUMS, "stop_max_ns"]
    )  # fmt: skip
    rows = reads.query(
        reader,
        # start_ns: the container's first day in the period (analytics.daily's leads need it).
        f"SELECT s.host, s.container_id, min(s.day_ns) AS start_ns, {sums} "
        f"FROM day_summaries s {bucket} "
        f"WHERE {where} GROUP BY s.host, s.container_id, p.ps",
        params,
    )
    # A container's name, service and image: those of its latest day.
    desc = reads.query(
        reader,
        f"SELECT s.host, s.container_id, {', '.join('s.' + c for c in DESCRIPTORS)} "
        "FROM day_summaries s JOIN (SELECT host, container_id, max(day_ns) AS d FROM "
        f"day_summaries s WHERE {where} GROUP BY host, container_id) l "
        "ON s.host = l.host AND s.container_id = l.container_id AND s.day_ns = l.d",
        params,
    )
    rows = rows.merge(desc, on=["host", "container_id"], how="left")
    rows["lead"] = 0
    rows["rec_ns"] = -1
    leads = reads.query(
        reader,
        f"SELECT s.host, s.container_id, s.day_ns AS start_ns FROM day_summaries s "
        f"WHERE {where} AND s.lead = 1",
        params,
    )
    if len(leads):
        zero = leads.merge(desc, on=["host", "container_id"], how="left")
        for c in SUM_COLUMNS:
            zero[c] = 0
        zero["lead"] = 1
        zero["stop_max_ns"] = -1
        zero["rec_ns"] = -1
        rows = pd.concat([rows, zero], ignore_index=True)
    details = reads.query(
        reader,
        f"SELECT s.host, s.container_id, p.ps AS start_ns, s.part, s.code, "
        f"CAST(sum(s.value) AS BIGINT) AS value FROM day_summary_details s {bucket} "
        f"WHERE {where} GROUP BY s.host, s.container_id, p.ps, s.part, s.code",
        params,
    )
    opens = reads.query(
        reader,
        f"SELECT s.host, s.container_id, s.day_ns AS start_ns, s.open_n, s.open_ns, s.rec_ns "
        f"FROM day_summaries s WHERE {where} AND (s.open_n > 0 OR s.rec_ns >= 0) "
        "AND EXISTS (SELECT 1 FROM day_summaries o WHERE o.host = s.host "
        f"AND o.container_id = s.container_id AND o.open_n > 0 AND {in_days.replace('s.', 'o.')})",
        params,
    )
    return _typed(rows, details, opens, ROW_COLUMNS)


def report_parts(
    reader: Reader,
    window: Window,
    periods: list[tuple[int, int]],
    host: str | None,
    by: str = "container",
) -> Parts | None:
    """The window's parts (and the services' for `by` service or host,service): built days
    from their summaries, the rest (edges, days not built or dirty) from the events, a timeline
    per run of them. None when no built day is inside."""
    fresh = fresh_days(reader, window.start_ns, window.end_ns)
    if not fresh:
        return None
    days = sorted(fresh)
    parts = [load_parts(reader, days, periods, host)]
    parts[0].hosts = {h for hs in fresh.values() for h in hs if host is None or h == host}
    services = by in SERVICE_SCOPES
    if services:
        # Across hosts, unless one host's: its services are the per-host ones.
        scope = "host,service" if host else by
        sp = load_service_parts(reader, days, periods, scope, host, window)
        parts[0].services = {by: sp, ("service" if by != "service" else "host,service"): sp}
    cuts = [window.start_ns]
    for d in days:
        cuts += [d, d + DAY_NS]
    cuts.append(window.end_ns)
    hosts = [host] if host else None
    for s, e in zip(cuts[::2], cuts[1::2], strict=True):
        if e > s:
            history = reads.load_history(reader, s - CONTEXT_NS, e, hosts)
            history = without_lab(filter_history(history, host=host))
            part = piece_parts(history, Window(s, e), services=services)
            if services and host:  # one host's services across hosts are its per-host ones
                part.services = {by: part.services["host,service"],
                                 "host,service": part.services["host,service"]}  # fmt: skip
            parts.append(part)
    return concat_parts(parts)
