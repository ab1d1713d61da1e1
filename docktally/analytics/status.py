"""Where the fleet stands, from analytics' own results: the containers a filter selects, who is
down now, failures by exit code, downtime by cause, the containers with the most time not up,
the collectors watching now. Pure: frames and times in, frames out (the dashboard shows them).
"""

from __future__ import annotations

from typing import Any

import pandas as pd

from docktally.analytics.model import History
from docktally.analytics.states import exit_code_meaning

NS = 1_000_000_000
# A collector whose heartbeat is older than this is not watching any more.
STALE_HEARTBEAT_NS = 120 * NS
KEY = ["host", "container_id"]


def _keys(df: pd.DataFrame) -> pd.Series:
    return pd.Series(list(zip(df["host"], df["container_id"], strict=True)), index=df.index)


def matching_containers(
    table: pd.DataFrame,
    *,
    host: str = "",
    project: str = "",
    service: str = "",
    search: str = "",
    policy: str = "",
) -> set[tuple[str, str]]:
    """(host, container_id) of the container table's rows (analytics.containers) matching
    every filter given ("" is any); `search` is a case-blind part of the name or an id
    prefix."""
    mask = pd.Series(True, index=table.index)
    if host:
        mask &= table["host"] == host
    if project:
        mask &= table["compose_project"] == project
    if service:
        mask &= table["compose_service"] == service
    if policy:
        mask &= table["restart_policy"] == policy
    if search:
        needle = search.lower()
        named = table["name"].fillna("").str.lower().str.contains(needle, regex=False)
        mask &= named | table["container_id"].str.startswith(search)
    picked = table[mask]
    return set(zip(picked["host"], picked["container_id"], strict=True))


def rows_of(df: pd.DataFrame, keep: set[tuple[str, str]]) -> pd.DataFrame:
    """The rows of `df` (keyed by host and container_id) of the containers in `keep`."""
    if not len(df):
        return df
    return df[_keys(df).isin(keep).to_numpy()].reset_index(drop=True)


def of_host(df: pd.DataFrame, host: str) -> pd.DataFrame:
    """The rows of `df` on `host` ("" is any)."""
    if not host or not len(df):
        return df
    return df[df["host"].astype(str) == host].reset_index(drop=True)


def select_containers(history: History, keep: set[tuple[str, str]], host: str = "") -> History:
    """The history of the containers in `keep` (coverage and engine restarts of `host` only,
    when given)."""
    cov = history.coverage
    restarts = history.engine_restarts
    if host and len(cov):
        cov = cov[cov["host"] == host].reset_index(drop=True)
    if host and len(restarts):
        restarts = restarts[restarts["host"] == host].reset_index(drop=True)
    return History(
        events=rows_of(history.events, keep),
        facts=rows_of(history.facts, keep),
        coverage=cov,
        maintenance=history.maintenance,
        engine_restarts=restarts,
    )


def down_now(intervals: pd.DataFrame, end_ns: int) -> pd.DataFrame:
    """The containers whose last state in the window (ending at `end_ns`) is down or
    unhealthy, the longest first: host, container_id, state, cause, start_ns."""
    cols = ["host", "container_id", "state", "cause", "start_ns"]
    if not len(intervals):
        return pd.DataFrame(columns=cols)
    # A container's intervals tile the window, so its last state is the one row that ends at
    # the window's end.
    last = intervals[
        (intervals["end_ns"] == end_ns) & intervals["state"].isin(["down", "unhealthy"])
    ]
    return last.sort_values("start_ns", kind="stable")[cols].reset_index(drop=True)


def unknown_now(intervals: pd.DataFrame, end_ns: int) -> int:
    """How many containers' last state in the window is unknown (nobody watching): neither
    down nor up as far as anyone can say."""
    if not len(intervals):
        return 0
    last = intervals[(intervals["end_ns"] == end_ns) & (intervals["state"] == "unknown")]
    return len(last[["host", "container_id"]].drop_duplicates())


def exit_code_counts(failures: pd.DataFrame) -> pd.DataFrame:
    """Failures counted by exit code and cause, the most first, with what each code means."""
    if not len(failures):
        return pd.DataFrame(columns=["exit_code", "meaning", "cause", "failures"])
    counts = (
        failures.groupby(["exit_code", "cause"], dropna=False)
        .size()
        .reset_index(name="failures")
        .sort_values("failures", ascending=False, kind="stable")
    )
    meaning = [exit_code_meaning(None if pd.isna(c) else int(c)) for c in counts["exit_code"]]
    counts.insert(1, "meaning", meaning)
    return counts.reset_index(drop=True)


def downtime_by_cause(fleet: dict[str, Any], groups: pd.DataFrame) -> pd.DataFrame:
    """Seconds of downtime per cause over the whole selection, the most first: the fleet
    row's own when the report has it, else the groups' summed."""
    totals: dict[str, float] = {}
    fleet_causes = fleet.get("downtime_by_cause_s")
    sources = (
        [fleet_causes]
        if isinstance(fleet_causes, dict)
        else list(groups.get("downtime_by_cause_s", []))
    )
    for item in sources:
        for cause, secs in dict(item or {}).items():
            totals[str(cause)] = totals.get(str(cause), 0.0) + float(secs or 0.0)
    rows = sorted(((c, s) for c, s in totals.items() if s > 0), key=lambda r: -r[1])
    return pd.DataFrame(rows, columns=["cause", "downtime_s"])


def most_time_not_up(intervals: pd.DataFrame, limit: int) -> set[tuple[str, str]]:
    """At most `limit` containers: those with the most time not up, then the first others in
    the intervals' order."""
    keys = intervals[KEY].drop_duplicates()
    bad = intervals[intervals["state"] != "up"].assign(len_ns=lambda d: d["end_ns"] - d["start_ns"])
    worst = (
        bad.groupby(KEY)["len_ns"]
        .sum()
        .sort_values(ascending=False, kind="stable")
        .head(limit)
        .index
    )
    pick = set(worst)
    for h, c in zip(keys["host"], keys["container_id"], strict=True):
        if len(pick) >= limit:
            break
        pick.add((h, c))
    return pick


def watching(coverage_rows: pd.DataFrame, now_ns: int) -> pd.DataFrame:
    """Coverage rows (as stored) of collectors watching at `now_ns`: open, with a heartbeat
    newer than STALE_HEARTBEAT_NS."""
    if not len(coverage_rows):
        return coverage_rows
    cov = coverage_rows
    live = cov["end_ns"].isna() & (cov["heartbeat_ns"].fillna(0) >= now_ns - STALE_HEARTBEAT_NS)
    return cov[live].reset_index(drop=True)
