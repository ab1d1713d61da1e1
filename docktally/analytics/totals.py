"""Running totals per container for the Prometheus endpoint: what `docktally report` counts
(restarts, failures by cause, OOM kills, downtime, observed time), summed over consecutive
windows, and each container's state at the end of the last one. Pure.

Every count is the report's own (its groups, report.timeline_groups), so the totals of [a, b)
plus those of [b, c) are the report of [a, c): counters continued from the store agree with the
report over any range.
"""

from __future__ import annotations

from typing import Any

import numpy as np
import pandas as pd

from docktally.analytics.incidents import DEFAULT_STABLE_S
from docktally.analytics.intervals import merged_segments
from docktally.analytics.model import History, Window
from docktally.analytics.report import timeline_groups
from docktally.analytics.timeline import (
    ABSENT_CAUSES,
    CAUSE_NAMES,
    DOWN,
    STATE_NAMES,
    UNHEALTHY,
    UNKNOWN,
    build_timeline,
)

NS = 1_000_000_000
KEY = ["host", "container_id"]
LABELS = ["container", "service", "image", "policy"]
# The causes a failure can have (model.FAILURE_COLUMNS); user_stop is never a failure.
FAILURE_CAUSES = (
    "oom",
    "crash",
    "clean_exit",
    "start_failure",
    "engine_restart",
    "unhealthy",
    "redeploy",
)
FAILURE_COUNTS = [f"failures_{c}" for c in FAILURE_CAUSES]
COUNTERS = ["restarts", "oom_kills", "downtime_s", "observed_s", *FAILURE_COUNTS]
# A trailing unknown span shorter than this is a live collector's next heartbeat, not yet
# stored: the state before it is the container's state now.
UNKNOWN_GRACE_S = 30.0
TOTAL_COLUMNS = [
    *KEY,
    *LABELS,
    *COUNTERS,
    "state",  # str: STATE_NAMES, at the window's end
    "state_since_ns",  # int: start of that state
    "gone_ns",  # Int64: when the container was removed (null while it exists)
    "last_exit_code",  # Int64: the last `die`'s exit code (any cause)
    "last_exit_ns",  # Int64
    "last_failure_ns",  # Int64
]


def empty_totals() -> pd.DataFrame:
    return pd.DataFrame({c: pd.Series(dtype=_dtype(c)) for c in TOTAL_COLUMNS})


def _dtype(col: str) -> str:
    if col in ("downtime_s", "observed_s"):
        return "float64"
    if col in ("restarts", "oom_kills", "state_since_ns", *FAILURE_COUNTS):
        return "int64"
    if col in ("gone_ns", "last_exit_code", "last_exit_ns", "last_failure_ns"):
        return "Int64"
    return "object"


def container_totals(
    history: History, window: Window, unknown_grace_s: float = UNKNOWN_GRACE_S
) -> pd.DataFrame:
    """One row per container with time (or a failure) in the window: TOTAL_COLUMNS.

    observed_s is uptime + downtime (planned and unknown time count in neither, as in the
    report), so availability over any range is 1 - downtime / observed."""
    # The report's groups without what only a report shows (stops, fleet totals: ~20 ms at
    # 10,000 containers, at every metrics refresh).
    tl = build_timeline(history, window)
    groups = timeline_groups(tl, "container")
    if groups.empty:
        return empty_totals()
    c = tl.containers.reset_index(drop=True)
    ck_of = pd.Series(np.arange(len(c)), index=pd.MultiIndex.from_frame(c[KEY].astype(str)))
    ck = ck_of.reindex(pd.MultiIndex.from_frame(groups[KEY].astype(str))).to_numpy(np.int64)
    n_c = len(c)

    out = pd.DataFrame(
        {
            "host": groups["host"].astype(str).to_numpy(dtype=object),
            "container_id": groups["container_id"].astype(str).to_numpy(dtype=object),
            "container": _text(c["name"].to_numpy(dtype=object)[ck]),
            "service": _text(c["service"].to_numpy(dtype=object)[ck]),
            "image": _text(c["image"].to_numpy(dtype=object)[ck]),
            "policy": _text(c["policy"].to_numpy(dtype=object)[ck]),
            "restarts": groups["restarts"].to_numpy(dtype=np.int64),
            "oom_kills": groups["oom_kills"].to_numpy(dtype=np.int64),
            "downtime_s": groups["downtime_s"].to_numpy(dtype=np.float64),
            "observed_s": (groups["uptime_s"] + groups["downtime_s"]).to_numpy(dtype=np.float64),
        }
    )

    f = tl.failures
    ft = f["time_ns"].to_numpy(dtype=np.int64)
    inside = (ft >= window.start_ns) & (ft < window.end_ns)
    fck = f["ck"].to_numpy(dtype=np.int64)[inside]
    fcause = CAUSE_NAMES[f["cause"].to_numpy(dtype=np.int64)[inside]]
    for cause, col in zip(FAILURE_CAUSES, FAILURE_COUNTS, strict=True):
        out[col] = np.bincount(fck[fcause == cause], minlength=n_c)[ck].astype(np.int64)
    last_fail = np.full(n_c, -1, dtype=np.int64)
    np.maximum.at(last_fail, fck, ft[inside])
    out["last_failure_ns"] = _nullable(last_fail[ck])

    # The state at the window's end: each container's last (merged) segment, or the one before
    # it where the last is a short unknown span (the collector's next heartbeat not yet stored).
    seg = merged_segments(tl.segments[tl.segments["start_ns"] < window.end_ns])
    seg_ck = seg["ck"].to_numpy()
    is_last = np.append(seg_ck[1:] != seg_ck[:-1], True) if len(seg) else np.zeros(0, bool)
    last_i = np.flatnonzero(is_last)
    seg_state = seg["state"].to_numpy()
    seg_start = seg["start_ns"].to_numpy(dtype=np.int64)
    seg_end = np.minimum(seg["end_ns"].to_numpy(dtype=np.int64), window.end_ns)
    prev_i = np.maximum(last_i - 1, 0)
    pending = (
        (seg_state[last_i] == UNKNOWN)
        & (seg_end[last_i] - seg_start[last_i] < unknown_grace_s * NS)
        & (last_i > 0)
        & (seg_ck[prev_i] == seg_ck[last_i])
    )
    pick = np.where(pending, prev_i, last_i)
    last = seg.iloc[pick].set_index("ck")
    end_state = last["state"].reindex(ck).to_numpy()
    end_cause = last["cause"].reindex(ck).to_numpy()
    since = last["start_ns"].reindex(ck).to_numpy()
    has = ~pd.isna(end_state)
    codes = np.where(has, end_state, 0).astype(np.int64)
    out["state"] = np.where(has, STATE_NAMES[codes], "unknown")
    out["state_since_ns"] = np.where(has, since, window.start_ns).astype(np.int64)
    gone = has & np.isin(np.where(has, end_cause, 0), ABSENT_CAUSES)
    out["gone_ns"] = _nullable(np.where(gone, out["state_since_ns"], -1))

    exits = last_exits(history, window)
    out = out.merge(exits, on=KEY, how="left")
    for col in ("last_exit_code", "last_exit_ns"):
        out[col] = out[col].astype("Int64")
    return out[TOTAL_COLUMNS]


def last_exits(history: History, window: Window) -> pd.DataFrame:
    """Each container's last `die` before the window's end that carries an exit code."""
    ev = history.events
    cols = [*KEY, "last_exit_code", "last_exit_ns"]
    if ev.empty:
        return pd.DataFrame({c: pd.Series(dtype="object") for c in cols})
    dies = ev[(ev["kind"] == "die") & ev["exit_code"].notna() & (ev["time_ns"] < window.end_ns)]
    dies = dies.sort_values("time_ns", kind="stable").groupby(KEY, observed=True).tail(1)
    return pd.DataFrame(
        {
            "host": dies["host"].astype(str).to_numpy(dtype=object),
            "container_id": dies["container_id"].astype(str).to_numpy(dtype=object),
            # Nullable, not numpy: a left merge of int64 with a container without an exit
            # made them float64, ns since 1970 to the nearest 256.
            "last_exit_code": dies["exit_code"].astype("Int64").array,
            "last_exit_ns": dies["time_ns"].astype("Int64").array,
        }
    )


def combine(earlier: pd.DataFrame, later: pd.DataFrame) -> pd.DataFrame:
    """The totals of two consecutive windows: counters summed, labels and state from the later
    window where the container appears in it (where it has them), gone_ns from the later
    window, the newest exit (the later one at a tie) and failure kept. Rows: earlier's, then
    the containers new in later. Each frame has one row per container (KEY)."""
    if earlier.empty:
        return later.reset_index(drop=True)
    if later.empty:
        return earlier.reset_index(drop=True)
    # Positions, not a groupby: every refresh of the metrics combines ~10,000 containers.
    at = pd.MultiIndex.from_frame(earlier[KEY]).get_indexer(pd.MultiIndex.from_frame(later[KEY]))
    n = len(earlier)
    new, old = np.flatnonzero(at < 0), np.flatnonzero(at >= 0)
    both = pd.concat([earlier[TOTAL_COLUMNS], later[TOTAL_COLUMNS]], ignore_index=True)
    # Per row of the result, its row of `both` in the earlier and in the later window (the same
    # row where the container is in one window only).
    first = np.concatenate([np.arange(n), n + new])
    last = first.copy()
    last[at[old]] = n + old
    paired = first != last

    def take(col: str, rows: np.ndarray) -> Any:
        return both[col].array.take(rows)

    def newest_known(col: str) -> Any:
        known = both[col].notna().to_numpy()
        return take(col, np.where(known[last], last, first))

    def ints(col: str) -> tuple[np.ndarray, np.ndarray]:
        values = both[col].astype("Int64")
        return values.to_numpy(np.int64, na_value=0), values.notna().to_numpy()

    out: dict[str, Any] = {c: take(c, first) for c in KEY}
    out.update({c: newest_known(c) for c in [*LABELS, "state", "state_since_ns"]})
    for c in COUNTERS:
        values = np.nan_to_num(both[c].to_numpy()) if _dtype(c) == "float64" else both[c].to_numpy()
        out[c] = values[first] + np.where(paired, values[last], 0)
    out["gone_ns"] = take("gone_ns", last)
    exit_ns, has_exit = ints("last_exit_ns")
    later_exit = paired & has_exit[last] & (~has_exit[first] | (exit_ns[last] >= exit_ns[first]))
    exit_row = np.where(later_exit, last, first)
    out["last_exit_code"], out["last_exit_ns"] = (
        take("last_exit_code", exit_row),
        take("last_exit_ns", exit_row),
    )
    fail_ns, has_fail = ints("last_failure_ns")
    later_fail = paired & has_fail[last] & (~has_fail[first] | (fail_ns[last] > fail_ns[first]))
    out["last_failure_ns"] = take("last_failure_ns", np.where(later_fail, last, first))
    frame = pd.DataFrame(out, columns=TOTAL_COLUMNS)
    for col in ("gone_ns", "last_exit_code", "last_exit_ns", "last_failure_ns"):
        frame[col] = frame[col].astype("Int64")
    return frame


def never_backwards(previous: pd.DataFrame, current: pd.DataFrame) -> pd.DataFrame:
    """`current` with no counter below its value in `previous`: time that turned from known to
    unknown, or down to planned, after it was counted (a late maintenance declaration) must
    not look like a counter reset to Prometheus."""
    if previous.empty or current.empty:
        return current
    prev = previous.set_index(KEY)[COUNTERS]
    cur = current.set_index(KEY)
    before = prev.reindex(cur.index)
    vals = np.fmax(cur[COUNTERS].to_numpy(dtype=np.float64), before.to_numpy(dtype=np.float64))
    for i, col in enumerate(COUNTERS):
        cur[col] = vals[:, i].astype(_dtype(col))
    cur = cur.reset_index()
    return cur[TOTAL_COLUMNS]


def open_incidents(
    totals: pd.DataFrame, now_ns: int, stable_s: float = DEFAULT_STABLE_S
) -> pd.DataFrame:
    """Per host and service: 1 while an incident is open, that is while one of its containers
    is down or unhealthy, or failed less than `stable_s` ago (a crash loop between restarts)."""
    if totals.empty:
        return pd.DataFrame({"host": [], "service": [], "open": []})
    failing = totals["state"].isin([STATE_NAMES[DOWN], STATE_NAMES[UNHEALTHY]]).to_numpy()
    last = totals["last_failure_ns"].to_numpy(dtype=np.float64, na_value=np.nan)
    recent = ~np.isnan(last) & (now_ns - last < stable_s * NS)
    frame = pd.DataFrame(
        {
            "host": totals["host"],
            "service": totals["service"],
            "open": (failing | recent).astype(np.int64),
        }
    )
    return frame.groupby(["host", "service"], as_index=False, sort=True).agg(open=("open", "max"))


def _text(values: np.ndarray) -> np.ndarray:
    return np.array(["" if v is None or v != v else str(v) for v in values], dtype=object)


def _nullable(values: np.ndarray) -> pd.arrays.IntegerArray:
    arr = pd.array(np.where(values >= 0, values, 0).astype(np.int64), dtype="Int64")
    arr[values < 0] = pd.NA
    return arr


SERIES_LABELS = ["host", *LABELS]
# A removed container's series stay this long after its removal, then leave the endpoint.
RETAIN_S = 3600.0


def series(totals: pd.DataFrame, now_ns: int, retain_s: float = RETAIN_S) -> pd.DataFrame:
    """One row per label set (host, container name, service, image, policy): containers that
    share them (a container recreated under its name) add up, so the counters stay monotonic;
    state and last exit come from the newest container. A label set whose containers were all
    removed more than `retain_s` ago is left out."""
    if totals.empty:
        return totals.drop(columns=["container_id"]).reset_index(drop=True)
    gone = totals["gone_ns"].to_numpy(dtype=np.float64, na_value=np.inf)
    # Newest last: existing containers after removed ones, then by when their state began.
    order = np.lexsort((totals["state_since_ns"].to_numpy(dtype=np.int64), gone))
    rows = totals.iloc[order]
    grouped = rows.groupby(SERIES_LABELS, sort=True)
    out = grouped[COUNTERS].sum()
    out[["state", "state_since_ns", "gone_ns"]] = grouped[
        ["state", "state_since_ns", "gone_ns"]
    ].last()
    exits = rows[rows["last_exit_ns"].notna()].sort_values("last_exit_ns", kind="stable")
    out = out.join(exits.groupby(SERIES_LABELS)[["last_exit_code", "last_exit_ns"]].last())
    out["last_failure_ns"] = grouped["last_failure_ns"].max()
    out = out.reset_index()
    gone_last = out["gone_ns"].to_numpy(dtype=np.float64, na_value=np.inf)
    out = out[gone_last > now_ns - retain_s * NS].reset_index(drop=True)
    for col in ("gone_ns", "last_exit_code", "last_exit_ns", "last_failure_ns"):
        out[col] = out[col].astype("Int64")
    return out[[c for c in TOTAL_COLUMNS if c != "container_id"]]
