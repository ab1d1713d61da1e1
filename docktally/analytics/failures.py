"""Failures (up -> down/unhealthy that nobody asked for) and their recoveries."""

from __future__ import annotations

from typing import Any

import numpy as np
import pandas as pd

from docktally.analytics.model import FAILURE_COLUMNS, History, Window
from docktally.analytics.timeline import CAUSE_NAMES, Timeline, build_timeline


def outcome_columns(f: pd.DataFrame) -> dict[str, Any]:
    """exit_code, recovered_ns and ttr_s of failure rows (exit_code NaN when none,
    recovered_ns -1 while not recovered) as nullable columns, NA where unknown."""
    t = f["time_ns"].to_numpy(dtype=np.int64)
    rec = f["recovered_ns"].to_numpy(dtype=np.int64)
    code = f["exit_code"].to_numpy(dtype=np.float64)
    recovered = pd.array(np.where(rec >= 0, rec, 0), dtype="Int64")
    recovered[rec < 0] = pd.NA
    ttr = pd.array(np.where(rec >= 0, (rec - t) / 1e9, np.nan), dtype="Float64")
    ttr[rec < 0] = pd.NA
    exit_code = pd.array(np.where(np.isnan(code), 0, code).astype(np.int64), "Int64")
    exit_code[np.isnan(code)] = pd.NA
    return {"exit_code": exit_code, "recovered_ns": recovered, "ttr_s": ttr}


def failures_from_timeline(tl: Timeline) -> pd.DataFrame:
    f = tl.failures
    c = tl.containers
    ck = f["ck"].to_numpy(dtype=np.int64)
    out = pd.DataFrame(
        {
            "host": c["host"].to_numpy(dtype=object)[ck],
            "container_id": c["container_id"].to_numpy(dtype=object)[ck],
            "name": c["name"].to_numpy(dtype=object)[ck],
            "image": c["image"].to_numpy(dtype=object)[ck],
            "compose_project": c["compose_project"].to_numpy(dtype=object)[ck],
            "compose_service": c["compose_service"].to_numpy(dtype=object)[ck],
            "policy": tl.policies[f["pcode"].to_numpy(dtype=np.int64)],
            "time_ns": f["time_ns"].to_numpy(dtype=np.int64),
            "cause": CAUSE_NAMES[f["cause"].to_numpy(dtype=np.int64)],
            "inferred": f["inferred"].to_numpy(dtype=bool),
            "restarts": f["restarts"].to_numpy(dtype=np.int64),
            **outcome_columns(f),
        }
    )
    return out.sort_values(["time_ns", "host", "container_id"], kind="stable").reset_index(
        drop=True
    )[FAILURE_COLUMNS]


def find_failures(history: History, window: Window) -> pd.DataFrame:
    """One row per failure inside the window (FAILURE_COLUMNS), oldest first.

    Failures inside a declared maintenance window of their container are left out: that work
    was planned. recovered_ns is the next start (or healthy, with a health check), possibly
    after the window end; ttr_s is NA while not recovered.
    """
    return failures_from_timeline(build_timeline(history, window))
