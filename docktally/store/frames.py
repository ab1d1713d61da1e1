"""The frames analytics takes (docktally.analytics.model), built from what the store read.

pandas, but not SQLAlchemy: `docktally report` reads a SQLite store at head with the standard
library's sqlite3 (store/window_reader.py), and store/reads.py runs the same statements through
a SQLAlchemy Connection on either backend. Statements use named parameters (`:name`), which
both take as they are.
"""

from __future__ import annotations

import warnings
from collections.abc import Sequence
from typing import Any

import numpy as np
import pandas as pd

from docktally.analytics.model import (
    COVERAGE_COLUMNS,
    ENGINE_RESTART_COLUMNS,
    EVENT_COLUMNS,
    FACT_COLUMNS,
    MAINTENANCE_COLUMNS,
    History,
)
from docktally.store.window_reader import (
    LOOKBACK_NS,
    STRING_FIELDS,
    Fetch,
    WindowRead,
    host_rows_sql,
)


def records_frame(rows: Sequence[tuple[Any, ...]], columns: list[str]) -> pd.DataFrame:
    """Rows (plain tuples) as one DataFrame; callers set the column types."""
    # Object columns, not inferred string arrays: inference alone was ~1.5 s per million rows.
    # The option is deprecated in pandas 3 (pyproject keeps pandas < 4); where it is gone, the
    # frame is the same with str columns, only slower.
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        try:
            with pd.option_context("future.infer_string", False):
                return pd.DataFrame.from_records(list(rows), columns=columns)
        except (KeyError, ValueError):  # pragma: no cover - pandas without the option
            return pd.DataFrame.from_records(list(rows), columns=columns)


def _categorical(codes: np.ndarray, cats: list[str]) -> pd.Categorical:
    # The codes were made against these categories (window_reader.window_columns): no check.
    return pd.Categorical.from_codes(codes, categories=pd.Index(cats, dtype=object), validate=False)


def events_frame(cols: dict[str, Any]) -> pd.DataFrame:
    """window_reader.window_columns' arrays -> EVENT_COLUMNS, sorted by host, container_id,
    time_ns. Strings are Categoricals with sorted categories; per-container strings (host,
    id, name, image, compose labels) come from the container rows through each row's `pos`."""
    pos = cols["pos"]
    frame: dict[str, Any] = {}
    for c in STRING_FIELDS:
        codes, cats = cols["containers"][c]
        frame[c] = _categorical(codes[pos], cats)
    frame["time_ns"] = cols["time_ns"]
    for c, (codes, cats) in cols["text"].items():
        frame[c] = _categorical(codes, cats)
    frame["exit_code"] = pd.arrays.IntegerArray(*cols["exit_code"])
    frame["signal"] = pd.arrays.IntegerArray(*cols["signal"])
    frame["inferred"] = cols["inferred"].astype(bool, copy=False)
    return pd.DataFrame(frame, columns=EVENT_COLUMNS)


def facts_sql(hosts: Sequence[str] | None = None) -> tuple[str, dict[str, Any]]:
    return host_rows_sql("container_facts", FACT_COLUMNS, "observed_ns", hosts)


def facts_frame(rows: Sequence[tuple[Any, ...]]) -> pd.DataFrame:
    df = records_frame(rows, FACT_COLUMNS)
    df["has_healthcheck"] = df["has_healthcheck"].astype(bool)
    df["stop_timeout_s"] = df["stop_timeout_s"].astype("Int64")
    return df


def _span(
    start_col: str, end_col: str, start_ns: int | None, end_ns: int | None
) -> tuple[str, dict[str, Any]]:
    """`WHERE` for rows overlapping [start_ns, end_ns) (either side open when None)."""
    where, params = [], {}
    if start_ns is not None:
        where.append(f"{end_col} > :start_ns")
        params["start_ns"] = int(start_ns)
    if end_ns is not None:
        where.append(f"{start_col} < :end_ns")
        params["end_ns"] = int(end_ns)
    return (" WHERE " + " AND ".join(where) if where else ""), params


def coverage_sql(
    start_ns: int | None = None, end_ns: int | None = None
) -> tuple[str, dict[str, Any]]:
    # An open row (a collector still running) ends at its last heartbeat.
    end = "coalesce(end_ns, heartbeat_ns, start_ns)"
    where, params = _span("start_ns", end, start_ns, end_ns)
    sql = f"SELECT host, start_ns, {end} AS end_ns, source FROM coverage{where}"
    return sql + " ORDER BY host, start_ns", params


def coverage_frame(rows: Sequence[tuple[Any, ...]]) -> pd.DataFrame:
    return records_frame(rows, COVERAGE_COLUMNS)


# A collector saw the engine go down when containers died this shortly before its stream ended.
ENGINE_SHUTDOWN_LEAD_NS = 60_000_000_000


def engine_restarts_sql(
    start_ns: int | None = None, end_ns: int | None = None
) -> tuple[str, dict[str, Any]]:
    """Gaps of reason engine_restart. Watched when the collector saw the engine go down: a
    coverage row of the same engine ended where the gap starts because the stream ended (the
    collector writes them so), and a container's `die` arrived live in the minute before (a
    mere cut of the collector's connection ends the stream too, with no deaths)."""
    where, params = _span("g.start_ns", "g.end_ns", start_ns, end_ns)
    where = (where + " AND" if where else " WHERE") + " g.reason = 'engine_restart'"
    params["lead_ns"] = ENGINE_SHUTDOWN_LEAD_NS
    watched = (
        "EXISTS (SELECT 1 FROM coverage c WHERE c.host = g.host AND c.engine_url = g.engine_url"
        " AND c.end_ns = g.start_ns AND c.closed_reason IN ('disconnected', 'engine_silent'))"
        " AND EXISTS (SELECT 1 FROM events e JOIN containers k ON k.ref = e.container_ref"
        " WHERE k.host = g.host AND e.kind = 'die' AND NOT e.inferred"
        " AND e.time_ns >= g.start_ns - :lead_ns AND e.time_ns <= g.start_ns)"
    )
    sql = f"SELECT g.host, g.start_ns, g.end_ns, {watched} AS watched FROM gaps g{where}"
    return sql + " ORDER BY g.host, g.start_ns", params


def engine_restarts_frame(rows: Sequence[tuple[Any, ...]]) -> pd.DataFrame:
    df = records_frame(rows, ENGINE_RESTART_COLUMNS)
    df["watched"] = df["watched"].astype(bool)
    return df


def maintenance_sql(
    start_ns: int | None = None, end_ns: int | None = None
) -> tuple[str, dict[str, Any]]:
    where, params = _span("start_ns", "end_ns", start_ns, end_ns)
    sql = f"SELECT {', '.join(MAINTENANCE_COLUMNS)} FROM maintenance{where}"
    return sql + " ORDER BY start_ns", params


def maintenance_frame(rows: Sequence[tuple[Any, ...]]) -> pd.DataFrame:
    return records_frame(rows, MAINTENANCE_COLUMNS)


def history(
    fetch: Fetch,
    events: WindowRead,
    start_ns: int,
    end_ns: int,
    hosts: Sequence[str] | None = None,
) -> History:
    """The window's History: `events` being read, the small tables through `fetch`."""
    lookback = start_ns - LOOKBACK_NS
    try:
        facts = facts_frame(fetch(*facts_sql(hosts)))
        coverage = coverage_frame(fetch(*coverage_sql(lookback, end_ns)))
        maintenance = maintenance_frame(fetch(*maintenance_sql(lookback, end_ns)))
        restarts = engine_restarts_frame(fetch(*engine_restarts_sql(lookback, end_ns)))
        columns = events.columns()
    finally:
        events.close()  # stops and reaps a child still reading if something above failed
    return History(
        events=events_frame(columns),
        facts=facts,
        coverage=coverage,
        maintenance=maintenance,
        engine_restarts=restarts,
    )
