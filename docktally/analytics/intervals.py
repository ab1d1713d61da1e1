"""Per-container state intervals: what `docktally report` sums and the dashboard draws."""

from __future__ import annotations

import numpy as np
import pandas as pd

from docktally.analytics.model import INTERVAL_COLUMNS, History, Window
from docktally.analytics.timeline import CAUSE_NAMES, STATE_NAMES, Timeline, build_timeline


def merged_segments(segments: pd.DataFrame) -> pd.DataFrame:
    """Join touching segments of the same container, state and cause (marker cuts vanish)."""
    if segments.empty:
        return segments
    ck = segments["ck"].to_numpy()
    st = segments["state"].to_numpy()
    ca = segments["cause"].to_numpy()
    s = segments["start_ns"].to_numpy()
    e = segments["end_ns"].to_numpy()
    new = np.ones(len(ck), dtype=bool)
    new[1:] = (ck[1:] != ck[:-1]) | (st[1:] != st[:-1]) | (ca[1:] != ca[:-1]) | (s[1:] != e[:-1])
    starts = np.flatnonzero(new)
    ends = np.append(starts[1:], len(ck)) - 1
    return pd.DataFrame(
        {
            "ck": ck[starts],
            "start_ns": s[starts],
            "end_ns": e[ends],
            "state": st[starts],
            "cause": ca[starts],
        }
    )


def intervals_from_timeline(tl: Timeline) -> pd.DataFrame:
    seg = tl.segments
    seg = seg[seg["start_ns"] >= tl.window.start_ns]
    m = merged_segments(seg)
    if m.empty:
        return pd.DataFrame({c: pd.Series(dtype=object) for c in INTERVAL_COLUMNS})
    ck = m["ck"].to_numpy()
    return pd.DataFrame(
        {
            "host": tl.containers["host"].to_numpy(dtype=object)[ck],
            "container_id": tl.containers["container_id"].to_numpy(dtype=object)[ck],
            "start_ns": m["start_ns"].to_numpy(dtype=np.int64),
            "end_ns": m["end_ns"].to_numpy(dtype=np.int64),
            "state": STATE_NAMES[m["state"].to_numpy()],
            "cause": CAUSE_NAMES[m["cause"].to_numpy()],
        }
    )[INTERVAL_COLUMNS]


def build_intervals(history: History, window: Window) -> pd.DataFrame:
    """One row per maximal interval of one state for one container, clipped exactly to the
    window; every container's rows tile the window (up + unhealthy + down + planned + unknown
    == window length). `cause` is set for down, unhealthy, planned and unknown rows."""
    return intervals_from_timeline(build_timeline(history, window))
