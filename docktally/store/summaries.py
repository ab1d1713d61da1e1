"""Per-day summaries (schema.day_summaries): built for complete UTC days from the events,
marked dirty when late or inferred events or maintenance change a day, and read back as
analytics.daily.Parts for reports over long windows.

A day is complete an hour (reads.LOOKBACK_NS) after it ends; today's partial day always comes
from the events. Days are built in chunks of CHUNK_DAYS from one timeline each, cut at the
midnights: the state a container carries into a chunk comes from the events before it as the
report's own window start does (reads.load_events).

A calendar month whose days are all built and clean also has them summed (schema.month_summaries,
write_months): a report takes the months its window holds whole from those rows and its other
days from the day rows (whole_months says which), so that a year reads 12 rows per container.
"""

from __future__ import annotations

import calendar
from bisect import bisect_right
from collections.abc import Collection, Sequence
from datetime import UTC, datetime
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
NS = 1_000_000_000
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


def month_of(t_ns: int) -> tuple[int, int]:
    """[start, end) of the UTC calendar month holding t_ns."""
    d = datetime.fromtimestamp(int(t_ns) // NS, UTC).date().replace(day=1)
    e = d.replace(year=d.year + 1, month=1) if d.month == 12 else d.replace(month=d.month + 1)
    return (
        calendar.timegm(d.timetuple()) * NS,
        calendar.timegm(e.timetuple()) * NS,
    )


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
    with engine.begin() as conn:
        write_months(conn, months_to_build(reader))
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
        with engine.begin() as conn:
            write_months(conn, months_to_build(db.ConnectionReader(conn)))
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
                # The months of days built before the month rows existed.
                with engine.begin() as conn:
                    write_months(conn, months_to_build(reader))
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
    write_months(conn, sorted({month_of(d)[0] for d in range(start, end, DAY_NS)}))


# --- months ------------------------------------------------------------------------------------
# A month's rows (schema.month_summaries) sum its days' in SQL, in the transaction that wrote
# the days. The days' open failures that recover later in the month are counted recovered
# there: `nxt`, a day's next recovery in the month, is the recovery of the failures open at its
# end (analytics.daily._recovered_later does the same across the pieces it reads).

_NEXT_RECOVERY = (
    "min(CASE WHEN rec_ns >= 0 THEN rec_ns END) OVER (PARTITION BY {key} ORDER BY day_ns "
    "ROWS BETWEEN 1 FOLLOWING AND UNBOUNDED FOLLOWING)"
)
_MONTH_SUMS = {
    "day_ns": "min(day_ns)",
    "real": "max(real)",
    "stop_max_ns": "max(stop_max_ns)",
    "rec_ns": "coalesce(min(CASE WHEN rec_ns >= 0 THEN rec_ns END), -1)",
    "ttr_ns": "sum(ttr_ns + CASE WHEN nxt IS NULL THEN 0 "
    "ELSE open_n * (nxt - day_ns) - open_ns END)",
    "ttr_n": "sum(ttr_n + CASE WHEN nxt IS NULL THEN 0 ELSE open_n END)",
    "open_n": "sum(CASE WHEN nxt IS NULL THEN open_n ELSE 0 END)",
    # From the first day's start (the month row's day_ns).
    "open_ns": "sum(CASE WHEN nxt IS NULL THEN open_ns + open_n * (day_ns - d0) ELSE 0 END)",
    # A service's failure at its first day's start, with its time to recover in the month.
    "first_fail": "sum(CASE WHEN day_ns = d0 THEN first_fail ELSE 0 END)",
    "first_ttr_ns": "sum(CASE WHEN day_ns <> d0 THEN 0 WHEN first_fail > 0 AND first_ttr_ns < 0 "
    "AND nxt IS NOT NULL THEN nxt - day_ns ELSE first_ttr_ns END)",
    **{c: f"max(CASE WHEN day_ns = d1 THEN {c} END)" for c in DESCRIPTORS},  # its last day's
}


def _month_sql(month: Any, key: list[str], start: int, end: int) -> str:
    """INSERT the month [start, end)'s rows of the month table `month` from its day table's."""
    day_table = month.name.replace("month_", "day_", 1)
    keys = ", ".join(key)
    cols = [c.name for c in month.columns if c.name != "month_ns" and c.name not in key]
    if month.name.endswith("details"):
        sums = ", ".join(f"sum({c})" for c in cols)
        source = f"{day_table} WHERE day_ns >= {start} AND day_ns < {end}"
    else:
        sums = ", ".join(_MONTH_SUMS.get(c, "sum({c})").format(c=c) for c in cols)
        source = (
            f"(SELECT *, {_NEXT_RECOVERY.format(key=keys)} AS nxt, "
            f"min(day_ns) OVER (PARTITION BY {keys}) AS d0, "
            f"max(day_ns) OVER (PARTITION BY {keys}) AS d1 "
            f"FROM {day_table} WHERE day_ns >= {start} AND day_ns < {end}) d"
        )
    return (
        f"INSERT INTO {month.name} (month_ns, {keys}, {', '.join(cols)}) "
        f"SELECT {start}, {keys}, {sums} FROM {source} GROUP BY {keys}"
    )


def write_months(conn: Connection, months: Sequence[int]) -> None:
    """Sum the days of each month into its month rows; a month with a day not built or dirty
    gets none (reads take its days)."""
    from sqlalchemy import delete, insert, select, text

    from docktally.store.schema import (
        month_service_details,
        month_service_summaries,
        month_summaries,
        month_summary_details,
        summary_days,
        summary_months,
    )

    tables = (
        (month_summaries, ["host", "container_id"]),
        (month_summary_details, ["host", "container_id", "part", "code"]),
        (month_service_summaries, ["scope", "host", "service"]),
        (month_service_details, ["scope", "host", "service", "part", "code"]),
    )
    for m in months:
        start, end = month_of(m)
        for table, _ in tables:
            conn.execute(delete(table).where(table.c.month_ns == start))
        conn.execute(delete(summary_months).where(summary_months.c.month_ns == start))
        built = conn.execute(
            select(summary_days.c.built_ns).where(
                summary_days.c.day_ns >= start,
                summary_days.c.day_ns < end,
                summary_days.c.dirty.is_(False),
            )
        ).all()
        if len(built) < (end - start) // DAY_NS:
            continue
        for table, key in tables:
            conn.execute(text(_month_sql(table, key, start, end)))
        latest = max(int(b) for (b,) in built)
        conn.execute(insert(summary_months).values(month_ns=start, built_ns=latest))


def _pairs(t: Any) -> dict[int, int]:
    return {
        int(a): int(b)
        for a, b in zip(t.column(0).to_pylist(), t.column(1).to_pylist(), strict=True)
    }


def _latest_built(days: dict[int, int]) -> dict[int, int]:
    """Per month: the latest built_ns of these days (day -> built_ns)."""
    out: dict[int, int] = {}
    for d, b in days.items():
        m = month_of(d)[0]
        out[m] = max(out.get(m, b), b)
    return out


def month_stamps(engine: Engine) -> dict[int, int]:
    """Each summed month's start -> the built_ns of its latest day when it was summed (what
    `db summarize` compares before and after to say which months it summed)."""
    from docktally.store import db

    with engine.connect() as conn:
        t = db.ConnectionReader(conn).table("SELECT month_ns, built_ns FROM summary_months")
    return _pairs(t)


def months_to_build(reader: Reader) -> list[int]:
    """The months whose days are all built and clean and whose rows are missing or older than a
    day's (the days built before the month rows existed, or again without them)."""
    days = reader.table("SELECT day_ns, built_ns FROM summary_days WHERE NOT dirty")
    clean = _pairs(days)
    summed = _pairs(reader.table("SELECT month_ns, built_ns FROM summary_months"))
    return [
        m
        for m, latest in sorted(_latest_built(clean).items())
        if summed.get(m, -1) < latest and all(d in clean for d in range(m, month_of(m)[1], DAY_NS))
    ]


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


def whole_months(
    reader: Reader, days: list[int], window: Window, periods: list[tuple[int, int]]
) -> list[int]:
    """The months to read from their month rows: inside the window, not cut by a period, every
    day built and clean (in `days`) and their rows summed after the last of them was built."""
    cuts = [s for s, _ in periods[1:]]
    have = set(days)
    candidates = [
        m
        for m, e in sorted({month_of(d) for d in days})
        if window.start_ns <= m and e <= window.end_ns and not any(m < c < e for c in cuts)
        and all(d in have for d in range(m, e, DAY_NS))
    ]  # fmt: skip
    if not candidates:
        return []
    built = reader.table(
        f"SELECT day_ns, built_ns FROM summary_days WHERE day_ns >= {candidates[0]} "
        f"AND day_ns < {month_of(candidates[-1])[1]}"
    )
    latest = _latest_built(_pairs(built))
    summed = _pairs(
        reader.table(
            f"SELECT month_ns, built_ns FROM summary_months WHERE month_ns IN {_ints(candidates)}"
        )
    )
    return [m for m in candidates if summed.get(m, -1) >= latest[m]]


def _ints(values: Sequence[int]) -> str:
    return "(" + ", ".join(str(int(v)) for v in values) + ")"


def _bucket(window: Window, periods: list[tuple[int, int]]) -> str:
    """JOIN p: the period start p.ps of each row of s by its day_ns (a day, a month's first day
    or month_ns), one for the window without periods. By each day's, an equality the database
    hashes: a range join rescanned the rows once per period."""
    if not periods:
        return f"CROSS JOIN (SELECT {int(window.start_ns)} AS ps) p"
    starts = [int(ps) for ps, _ in periods]
    first = -(-int(window.start_ns) // DAY_NS) * DAY_NS  # the window's first midnight
    pairs = ", ".join(
        f"({d}, {starts[max(bisect_right(starts, d) - 1, 0)]})"
        for d in range(first, int(window.end_ns), DAY_NS)
    )
    return f"JOIN (SELECT column1 AS d, column2 AS ps FROM (VALUES {pairs}) v) p ON s.day_ns = p.d"


def _union(
    table: str,
    days: list[int],
    months: list[int],
    day_columns: str,
    month_columns: str,
    where: str = "",
) -> str:
    """The rows of `days` from day_<table> and of `months` from month_<table>, as one SELECT
    (`where`: more conditions on both, each starting with AND)."""
    selects = []
    if days:
        selects.append(
            f"SELECT {day_columns} FROM day_{table} WHERE day_ns IN {_ints(days)}{where}"
        )
    if months:
        selects.append(
            f"SELECT {month_columns} FROM month_{table} WHERE month_ns IN {_ints(months)}{where}"
        )
    return " UNION ALL ".join(selects)


def _opens_sql(union: str, key: str, open_n: str = "u.open_n") -> str:
    """The rows with an open failure or a recovery, of the containers (or services) with an
    open failure: those the recovery of open failures needs (analytics.daily.opens_of)."""
    return (
        f"WITH u AS ({union}) SELECT u.host, u.{key} AS container_id, u.day_ns AS start_ns, "
        f"{open_n} AS open_n, u.open_ns, u.rec_ns FROM u WHERE (u.open_n > 0 OR u.rec_ns >= 0) "
        f"AND (u.host, u.{key}) IN (SELECT host, {key} FROM u WHERE open_n > 0)"
    )


SUMMED = [*STATE_SUMS, "real", *COUNT_SUMS, "stop_max_ns"]


def _sums(adjust: dict[str, str] | None = None) -> str:
    """SUMMED summed over s's rows (real and stop_max_ns: the max), less `adjust`'s."""
    adjust = adjust or {}
    return ", ".join(
        f"CAST(max(s.{c}) AS BIGINT) AS {c}" if c in ("real", "stop_max_ns")
        else f"CAST(sum(s.{c} - ({adjust[c]})) AS BIGINT) AS {c}" if c in adjust
        else f"CAST(sum(s.{c}) AS BIGINT) AS {c}"
        for c in SUMMED
    )  # fmt: skip


def _details_where(details: Collection[int] | None) -> str:
    """WHERE of a details read: only the parts the caller shows (a report no failures by
    cause, a fifth of a year's ~1M details rows; the Fleet overview only those)."""
    if details is None:
        return ""
    return f" WHERE s.part IN ({', '.join(str(int(p)) for p in sorted(details)) or 'NULL'})"


def load_service_parts(
    reader: Reader,
    days: list[int],
    months: list[int],
    periods: list[tuple[int, int]],
    scope: str,
    host: str | None,
    window: Window,
    detail_parts: Collection[int] | None = None,
) -> Parts:
    """load_parts for the services of `scope` (per host with a host), with the failure at the
    window's start taken out as the report does (analytics.daily's EDGE_COLUMNS): it is not
    the report's. The rows' first_fail is 0 (done here). With `detail_parts`, only those parts
    of the details."""
    if not days and not months:
        p = Parts.empty()
        p.rows = pd.DataFrame({c: pd.Series(dtype=object) for c in SERVICE_ROW_COLUMNS})
        return p
    ws = int(window.start_ns)
    where = f" AND scope = '{scope}'" + (" AND host = $1" if host else "")
    params: tuple[Any, ...] = (host,) if host else ()
    bucket = _bucket(window, periods)
    # The edge, where the window has it: its first day's start (a month row's day_ns is the
    # service's first day in the month). A failure recovered at the window's end is open in its
    # last day's row already (analytics.daily: a piece is [start, end)).
    first = f"CASE WHEN day_ns = {ws} THEN first_fail ELSE 0 END AS first_fail, first_ttr_ns"
    cols = f"day_ns, host, service, {', '.join(SUMMED)}, rec_ns, {first}"
    union = _union("service_summaries", days, months, cols, cols, where)
    opened = "s.first_fail > 0 AND s.first_ttr_ns"
    adjust = {
        "failures": "s.first_fail",
        "ttr_n": f"CASE WHEN {opened} >= 0 THEN 1 ELSE 0 END",
        "ttr_ns": f"CASE WHEN {opened} >= 0 THEN s.first_ttr_ns ELSE 0 END",
        "open_n": f"CASE WHEN {opened} < 0 THEN 1 ELSE 0 END",
    }
    rows = reads.query(
        reader,
        f"SELECT s.host, s.service AS container_id, min(s.day_ns) AS start_ns, {_sums(adjust)} "
        f"FROM ({union}) s {bucket} GROUP BY s.host, s.service, p.ps",
        params,
    )
    rows["container"] = None
    rows["service"] = rows["container_id"]
    rows["image"] = None
    rows["lead"] = 0
    rows["rec_ns"] = -1
    for c in EDGE_COLUMNS:
        rows[c] = 0
    det = "host, service, part, code, value"
    month_det = f"month_ns AS day_ns, {det}"  # a month's details: in its bucket
    details = reads.query(
        reader,
        f"SELECT s.host, s.service AS container_id, p.ps AS start_ns, s.part, s.code, "
        f"CAST(sum(s.value) AS BIGINT) AS value "
        f"FROM ({_union('service_details', days, months, f'day_ns, {det}', month_det, where)}) s "
        f"{bucket}{_details_where(detail_parts)} GROUP BY s.host, s.service, p.ps, s.part, s.code",
        params,
    )
    open_n = "u.open_n - CASE WHEN u.first_fail > 0 AND u.first_ttr_ns < 0 THEN 1 ELSE 0 END"
    opens = reads.query(reader, _opens_sql(union, "service", open_n), params)
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
    reader: Reader,
    days: list[int],
    months: list[int],
    window: Window,
    periods: list[tuple[int, int]],
    host: str | None,
    detail_parts: Collection[int] | None = None,
) -> Parts:
    """The summaries of `days` and `months` (built, clean: whole_months), summed per container
    and period (or over the window without periods); the open failures' days (or months) as
    they are. With `detail_parts`, only those parts of the details."""
    if not days and not months:
        return Parts.empty()
    where = " AND host = $1" if host else ""
    params: tuple[Any, ...] = (host,) if host else ()
    bucket = _bucket(window, periods)
    cols = f"day_ns, host, container_id, {', '.join(SUMMED)}"
    rows = reads.query(
        reader,
        # start_ns: the container's first day in the period (analytics.daily's leads need it).
        f"SELECT s.host, s.container_id, min(s.day_ns) AS start_ns, {_sums()} "
        f"FROM ({_union('summaries', days, months, cols, cols, where)}) s {bucket} "
        "GROUP BY s.host, s.container_id, p.ps",
        params,
    )
    # A container's name, service and image: those of its latest day (a month row's are its
    # last day's).
    cols = f"day_ns, host, container_id, {', '.join(DESCRIPTORS)}"
    desc = reads.query(
        reader,
        f"WITH u AS ({_union('summaries', days, months, cols, cols, where)}) "
        f"SELECT u.host, u.container_id, {', '.join('u.' + c for c in DESCRIPTORS)} FROM u "
        "JOIN (SELECT host, container_id, max(day_ns) AS d FROM u GROUP BY host, container_id) l "
        "ON u.host = l.host AND u.container_id = l.container_id AND u.day_ns = l.d",
        params,
    )
    rows = rows.merge(desc, on=["host", "container_id"], how="left")
    rows["lead"] = 0
    rows["rec_ns"] = -1
    # The lead days from the day rows, the months' too (few: an index holds them).
    every_day = sorted({*days, *(d for m in months for d in range(m, month_of(m)[1], DAY_NS))})
    leads = reads.query(
        reader,
        "SELECT host, container_id, day_ns AS start_ns FROM day_summaries "
        f"WHERE day_ns IN {_ints(every_day)} AND lead = 1{where}",
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
    det = "host, container_id, part, code, value"
    month_det = f"month_ns AS day_ns, {det}"  # a month's details: in its bucket
    details = reads.query(
        reader,
        f"SELECT s.host, s.container_id, p.ps AS start_ns, s.part, s.code, "
        f"CAST(sum(s.value) AS BIGINT) AS value "
        f"FROM ({_union('summary_details', days, months, f'day_ns, {det}', month_det, where)}) s "
        f"{bucket}{_details_where(detail_parts)} GROUP BY s.host, s.container_id, p.ps, s.part, "
        "s.code",
        params,
    )
    cols = "day_ns, host, container_id, open_n, open_ns, rec_ns"
    opens = reads.query(
        reader, _opens_sql(_union("summaries", days, months, cols, cols, where), "container_id"),
        params,
    )  # fmt: skip
    return _typed(rows, details, opens, ROW_COLUMNS)


def report_parts(
    reader: Reader,
    window: Window,
    periods: list[tuple[int, int]],
    host: str | None,
    by: str = "container",
    *,
    detail_parts: Collection[int] | None = None,
) -> Parts | None:
    """The window's parts (and the services' for `by` service or host,service): built days
    from their summaries, the rest (edges, days not built or dirty) from the events, a timeline
    per run of them. None when no built day is inside. With `detail_parts`
    (analytics.daily's: REPORT_DETAILS for a report), the details hold only those parts."""
    fresh = fresh_days(reader, window.start_ns, window.end_ns)
    if not fresh:
        return None
    days = sorted(fresh)
    months = whole_months(reader, days, window, periods)
    in_months = {d for m in months for d in range(m, month_of(m)[1], DAY_NS)}
    rest = [d for d in days if d not in in_months]
    parts = [load_parts(reader, rest, months, window, periods, host, detail_parts)]
    parts[0].hosts = {h for hs in fresh.values() for h in hs if host is None or h == host}
    services = by in SERVICE_SCOPES
    if services:
        # Across hosts, unless one host's: its services are the per-host ones.
        scope = "host,service" if host else by
        sp = load_service_parts(reader, rest, months, periods, scope, host, window, detail_parts)
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
    out = concat_parts(parts)
    if detail_parts is not None:  # the edges' too: the same parts whatever their source
        out.details = _only(out.details, detail_parts)
        for sp in out.services.values():
            sp.details = _only(sp.details, detail_parts)
    return out


def _only(frame: pd.DataFrame, details: Collection[int]) -> pd.DataFrame:
    return frame[np.isin(frame["part"].to_numpy(), list(details))].reset_index(drop=True)
