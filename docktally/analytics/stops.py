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
    # Categoricals compared and taken as they are: astype(str) made a string per row (~0.4 s
    # of a 1M-event report).
    ev = events[events["kind"].isin(["kill", "die", "start", "restart"])]
    if ev.empty:
        return pd.DataFrame(columns=STOP_COLUMNS)
    ev = ev.sort_values(["host", "container_id", "time_ns"], kind="stable")
    k = np.asarray(ev["kind"], dtype=object)
    host = np.asarray(ev["host"], dtype=object)
    cid = np.asarray(ev["container_id"], dtype=object)
    t = ev["time_ns"].to_numpy(dtype=np.int64)
    sig = ev["signal"].astype("Float64").fillna(-1).to_numpy(dtype=np.float64)
    ends = (k == "die") | (k == "start") | (k == "restart")
    # A run of rows: the kills since the last start or die, closed by the next one.
    new = np.ones(len(k), dtype=bool)
    new[1:] = ends[:-1] | (host[1:] != host[:-1]) | (cid[1:] != cid[:-1])
    run = np.cumsum(new)
    term_t = np.where((k == "kill") & (sig == SIGTERM), t, np.iinfo(np.int64).max)
    first_term = pd.Series(term_t).groupby(run).transform("min").to_numpy()
    killed = (k == "kill") & (sig == SIGKILL) & (t >= first_term)
    any_kill9 = pd.Series(killed).groupby(run).transform("max").to_numpy(dtype=bool)
    die = (k == "die") & (first_term != np.iinfo(np.int64).max)
    code = ev["exit_code"].astype("Int64").array[die]
    forced = any_kill9[die] & (code.fillna(-1).to_numpy(dtype=np.int64) == FORCED_EXIT)
    return pd.DataFrame(
        {
            "host": host[die],
            "container_id": cid[die],
            "name": ev["name"].to_numpy(dtype=object)[die],
            "term_ns": first_term[die],
            "die_ns": t[die],
            "duration_s": (t[die] - first_term[die]) / 1e9,
            "exit_code": code,
            "forced": forced.astype(bool),
        },
        columns=STOP_COLUMNS,
    ).reset_index(drop=True)


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
