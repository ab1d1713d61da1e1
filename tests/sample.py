"""Build a History from a few literal rows, for the tests.

    history_from_rows(
        events=[("web", 0, "start"), ("web", 60, "die", {"exit_code": 1})],
        facts=[("web", 0, {"restart_policy": "always"})],
        coverage=[(0, 3600)],
    )

Times are seconds (int or float) from `t0_ns`; containers are named, ids derived from names.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping, Sequence
from typing import Any

import numpy as np
import pandas as pd

from docktally.analytics.model import (
    COVERAGE_COLUMNS,
    EVENT_COLUMNS,
    FACT_COLUMNS,
    MAINTENANCE_COLUMNS,
    History,
)

NS = 1_000_000_000
T0_NS = 1_767_225_600 * NS  # 2026-01-01T00:00:00Z
HOST = "local"


def cid(name: str) -> str:
    """A stable 64-hex id for a container name."""
    return (name.encode().hex() * 64)[:64]


def ns(seconds: float, t0_ns: int = T0_NS) -> int:
    return t0_ns + round(seconds * NS)


EventRow = tuple[Any, ...]


def events_frame(rows: Iterable[EventRow], t0_ns: int = T0_NS) -> pd.DataFrame:
    """(name, seconds, action[, {extra columns}]) -> EVENT_COLUMNS frame, sorted."""
    recs: list[dict[str, Any]] = []
    for row in rows:
        name, sec, action = row[0], row[1], row[2]
        extra: Mapping[str, Any] = row[3] if len(row) > 3 else {}
        kind, _, arg = action.partition(":")
        rec: dict[str, Any] = {
            "host": HOST,
            "container_id": cid(name),
            "name": name,
            "image": "img:1",
            "time_ns": ns(sec, t0_ns),
            "action": action,
            "kind": kind.strip(),
            "exit_code": None,
            "signal": None,
            "health": (arg.strip() or None) if kind.strip() == "health_status" else None,
            "inferred": False,
            "cause_hint": None,
            "compose_project": None,
            "compose_service": None,
        }
        rec.update(extra)
        recs.append(rec)
    df = pd.DataFrame.from_records(recs, columns=EVENT_COLUMNS)
    df["exit_code"] = df["exit_code"].astype("Int64")
    df["signal"] = df["signal"].astype("Int64")
    df["time_ns"] = df["time_ns"].astype(np.int64)
    df["inferred"] = df["inferred"].astype(bool)
    return df.sort_values(["host", "container_id", "time_ns"], kind="stable").reset_index(drop=True)


def facts_frame(
    rows: Iterable[tuple[str, float, Mapping[str, Any]]], t0_ns: int = T0_NS
) -> pd.DataFrame:
    recs = []
    for name, sec, extra in rows:
        rec: dict[str, Any] = {
            "host": HOST,
            "container_id": cid(name),
            "observed_ns": ns(sec, t0_ns),
            "name": name,
            "image": "img:1",
            "created_ns": None,
            "restart_policy": "no",
            "restart_max_retries": 0,
            "has_healthcheck": False,
            "stop_timeout_s": None,
            "memory_limit_bytes": None,
            "compose_project": None,
            "compose_service": None,
            "labels": "{}",
        }
        rec.update(extra)
        recs.append(rec)
    df = pd.DataFrame.from_records(recs, columns=FACT_COLUMNS)
    df["has_healthcheck"] = df["has_healthcheck"].astype(bool)
    df["stop_timeout_s"] = df["stop_timeout_s"].astype("Int64")
    return df


def coverage_frame(
    rows: Iterable[tuple[float, float]], host: str = HOST, t0_ns: int = T0_NS
) -> pd.DataFrame:
    recs = [(host, ns(s, t0_ns), ns(e, t0_ns), "collector") for s, e in rows]
    return pd.DataFrame.from_records(recs, columns=COVERAGE_COLUMNS)


def maintenance_frame(rows: Iterable[Mapping[str, Any]], t0_ns: int = T0_NS) -> pd.DataFrame:
    """{target_kind, target, start, end, kind?, host?, reason?} with start/end in seconds."""
    recs = []
    for i, r in enumerate(rows, start=1):
        recs.append(
            {
                "id": i,
                "host": r.get("host"),
                "target_kind": r.get("target_kind", "container"),
                "target": r["target"],
                "start_ns": ns(r["start"], t0_ns),
                "end_ns": ns(r["end"], t0_ns),
                "kind": r.get("kind", "maintenance"),
                "reason": r.get("reason", "test"),
                "created_by": "test",
                "created_ns": t0_ns,
            }
        )
    return pd.DataFrame.from_records(recs, columns=MAINTENANCE_COLUMNS)


def history_from_rows(
    events: Sequence[EventRow] = (),
    facts: Sequence[tuple[str, float, Mapping[str, Any]]] = (),
    coverage: Sequence[tuple[float, float]] = (),
    maintenance: Sequence[Mapping[str, Any]] = (),
    t0_ns: int = T0_NS,
) -> History:
    return History(
        events=events_frame(events, t0_ns),
        facts=facts_frame(facts, t0_ns),
        coverage=coverage_frame(coverage, t0_ns=t0_ns),
        maintenance=maintenance_frame(maintenance, t0_ns),
    )
