"""Stops and the ones that needed a SIGKILL.

A stop (`docker stop`, or the engine's own shutdown) sends SIGTERM (`kill` 15), waits the grace
period, then sends SIGKILL (`kill` 9): the container dies with exit 137. A stop that ends that
way means PID 1 ignored SIGTERM (no signal handling, a shell-form ENTRYPOINT, no `--init`), and
every deploy or engine restart waits the full grace period for it.

Pure: History.events in, one row per stop out.
"""

from __future__ import annotations

import numpy as np
import pandas as pd

STOP_COLUMNS = [
    "host",
    "container_id",
    "name",
    "term_ns",  # the first SIGTERM of the stop
    "die_ns",
    "duration_s",  # SIGTERM to die
    "exit_code",  # Int64 nullable
    "forced",  # bool: a SIGKILL after the SIGTERM, and exit 137
]
SIGTERM, SIGKILL = 15, 9
FORCED_EXIT = 128 + SIGKILL

ADVICE = (
    "PID 1 ignored SIGTERM, so the stop waited out its grace period and ended in SIGKILL "
    "(exit 137): handle SIGTERM in the program, use the exec form of ENTRYPOINT/CMD (a shell "
    "form makes sh PID 1, which does not pass the signal on), or run with --init."
)


def find_stops(events: pd.DataFrame) -> pd.DataFrame:
    """Every `die` that a SIGTERM asked for since the container's last start or die."""
    kind = events["kind"]
    is_kind = {k: (kind == k).to_numpy(dtype=bool) for k in ("kill", "die", "start", "restart")}
    rows = np.flatnonzero(is_kind["kill"] | is_kind["die"] | is_kind["start"] | is_kind["restart"])
    if not len(rows):
        return pd.DataFrame(columns=STOP_COLUMNS)
    # Integer codes, in the order of the values, stand for host and container: the rows are
    # compared (and sorted, unless they come sorted, as History.events does) as numbers.
    host, cid = _codes(events["host"])[rows], _codes(events["container_id"])[rows]
    t = events["time_ns"].to_numpy(dtype=np.int64)[rows]
    if not _sorted(host, cid, t):
        order = np.lexsort((t, cid, host))
        rows, host, cid, t = rows[order], host[order], cid[order], t[order]
    is_kill, is_die = is_kind["kill"][rows], is_kind["die"][rows]
    ends = is_die | is_kind["start"][rows] | is_kind["restart"][rows]
    sig = events["signal"].to_numpy(dtype=np.float64, na_value=-1)[rows]
    # A run of rows: the kills since the last start or die, closed by the next one.
    new = np.ones(len(t), dtype=bool)
    new[1:] = ends[:-1] | (host[1:] != host[:-1]) | (cid[1:] != cid[:-1])
    starts = np.flatnonzero(new)
    run_len = np.diff(np.append(starts, len(t)))
    never = np.iinfo(np.int64).max
    term_t = np.where(is_kill & (sig == SIGTERM), t, never)
    first_term = np.repeat(np.minimum.reduceat(term_t, starts), run_len)
    killed = is_kill & (sig == SIGKILL) & (t >= first_term)
    any_kill9 = np.repeat(np.maximum.reduceat(killed, starts), run_len)
    at = np.flatnonzero(is_die & (first_term != never))
    die_rows = rows[at]
    code = events["exit_code"].iloc[die_rows].astype("Int64").array
    forced = any_kill9[at] & (code.fillna(-1).to_numpy(dtype=np.int64) == FORCED_EXIT)
    return pd.DataFrame(
        {
            "host": events["host"].iloc[die_rows].to_numpy(dtype=object),
            "container_id": events["container_id"].iloc[die_rows].to_numpy(dtype=object),
            "name": events["name"].iloc[die_rows].to_numpy(dtype=object),
            "term_ns": first_term[at],
            "die_ns": t[at],
            "duration_s": (t[at] - first_term[at]) / 1e9,
            "exit_code": code,
            "forced": forced.astype(bool),
        },
        columns=STOP_COLUMNS,
    ).reset_index(drop=True)


def _codes(col: pd.Series) -> np.ndarray:
    """A column's values as integers in their sort order: a Categorical's codes when its
    categories are sorted (as store.reads makes them), else a sorted factorization."""
    if isinstance(col.dtype, pd.CategoricalDtype) and col.cat.categories.is_monotonic_increasing:
        return col.cat.codes.to_numpy(dtype=np.int64)
    return pd.factorize(col.astype(object).to_numpy(), sort=True)[0].astype(np.int64)


def _sorted(host: np.ndarray, cid: np.ndarray, t: np.ndarray) -> bool:
    """Whether the rows are in (host, container, time) order already."""
    same_host = host[1:] == host[:-1]
    same_c = same_host & (cid[1:] == cid[:-1])
    return bool(
        np.all(
            (host[1:] > host[:-1])
            | (same_host & (cid[1:] > cid[:-1]))
            | (same_c & (t[1:] >= t[:-1]))
        )
    )


def stop_summary(stops: pd.DataFrame) -> pd.DataFrame:
    """Per container: stops, forced stops, and the forced ones' mean and longest duration."""
    cols = ["host", "container_id", "name", "stops", "forced_stops", "mean_s", "max_s"]
    if stops.empty:
        return pd.DataFrame(columns=cols)
    g = stops.groupby(["host", "container_id"], sort=True)
    forced = stops[stops["forced"]].groupby(["host", "container_id"])["duration_s"]
    out = pd.DataFrame(
        {
            "name": g["name"].last(),
            "stops": g.size(),
            "forced_stops": g["forced"].sum().astype(int),
            "mean_s": forced.mean(),
            "max_s": forced.max(),
        }
    ).reset_index()
    return out[cols]
