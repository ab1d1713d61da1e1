"""What the collector saw over a window, for the Collector page's charts: events per time bin,
and per host the spans somebody watched and the gaps between them. Pure (pandas only)."""

from __future__ import annotations

import numpy as np
import pandas as pd

from docktally.analytics.model import Window
from docktally.analytics.timeline import merge_coverage

MINUTE_NS = 60 * 1_000_000_000
HOUR_NS = 60 * MINUTE_NS
DAY_NS = 24 * HOUR_NS
# Bin sizes a person reads on an axis, smallest first; a range takes the first that gives it
# at most MAX_BINS bars (1h: minutes, 24h: hours, 7d: 6 hours, 30d: days, a year: weeks).
BINS = (
    (MINUTE_NS, "minute"),
    (5 * MINUTE_NS, "5 minutes"),
    (15 * MINUTE_NS, "15 minutes"),
    (HOUR_NS, "hour"),
    (6 * HOUR_NS, "6 hours"),
    (DAY_NS, "day"),
    (7 * DAY_NS, "week"),
)
MAX_BINS = 72

EVENT_BIN_COLUMNS = ["bin_start_ns", "bin_end_ns", "host", "events"]
WATCH_COLUMNS = ["host", "start_ns", "end_ns", "length_s", "watched"]


def bin_for(window: Window) -> tuple[int, str]:
    """The bin size (ns) and its name that fit the window: at most MAX_BINS bins."""
    span = window.end_ns - window.start_ns
    for size, name in BINS:
        if span <= size * MAX_BINS:
            return size, name
    return BINS[-1]


def events_per_bin(events: pd.DataFrame, window: Window) -> pd.DataFrame:
    """Events in the window counted per host and bin (bins of bin_for, on UTC multiples of
    their size, clipped to the window); bins without events are left out."""
    t = events["time_ns"].to_numpy(dtype=np.int64) if len(events) else np.zeros(0, np.int64)
    inside = (t >= window.start_ns) & (t < window.end_ns)
    if not inside.any():
        return pd.DataFrame(columns=EVENT_BIN_COLUMNS)
    size, _ = bin_for(window)
    start = t[inside] // size * size
    counts = (
        pd.DataFrame({"bin_start_ns": start, "host": events["host"].astype(str).to_numpy()[inside]})
        .groupby(["bin_start_ns", "host"], sort=True)
        .size()
        .rename("events")
        .reset_index()
    )
    counts["bin_end_ns"] = np.minimum(counts["bin_start_ns"] + size, window.end_ns)
    counts["bin_start_ns"] = np.maximum(counts["bin_start_ns"], window.start_ns)
    return counts[EVENT_BIN_COLUMNS]


def watched_spans(
    coverage: pd.DataFrame, window: Window, hosts: list[str] | tuple[str, ...] = ()
) -> pd.DataFrame:
    """Per host, the window cut into spans a collector (or an import) watched and the gaps
    nobody did, in order; `hosts` adds hosts with no coverage at all (one gap each)."""
    merged = merge_coverage(coverage[coverage["end_ns"].notna()]) if len(coverage) else {}
    rows: list[tuple[str, int, int, float, bool]] = []
    for host in sorted(set(merged) | {str(h) for h in hosts}):
        starts, ends = merged.get(host, (np.zeros(0, np.int64), np.zeros(0, np.int64)))
        at = window.start_ns
        for s, e in zip(starts.tolist(), ends.tolist(), strict=True):
            s, e = max(s, window.start_ns), min(e, window.end_ns)
            if e <= s:
                continue
            if s > at:
                rows.append((host, at, s, (s - at) / 1e9, False))
            rows.append((host, s, e, (e - s) / 1e9, True))
            at = e
        if at < window.end_ns:
            rows.append((host, at, window.end_ns, (window.end_ns - at) / 1e9, False))
    return pd.DataFrame(rows, columns=WATCH_COLUMNS)
