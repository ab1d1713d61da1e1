"""What the dashboard's charts draw, derived from a report: the period that fits a range, the
fleet per period, the worst groups, groups named for people. Pure (pandas only)."""

from __future__ import annotations

import numpy as np
import pandas as pd

from docktally.analytics.model import Window
from docktally.analytics.periods import LENGTH_NS, PERIODS

HOUR_NS = 3600 * 1_000_000_000
# A line over time needs this many periods; with fewer, a chart shows the whole range per group.
MIN_PERIODS = 3
DAY_NS = 24 * HOUR_NS


def every_for(window: Window) -> str:
    """The breakdown that gives a range a readable number of points: hours up to two days
    (a 1-hour range is one point per hour, not one per day), days up to ~4 months, then weeks."""
    span = window.end_ns - window.start_ns
    if span <= 2 * DAY_NS:
        return "hour"
    if span <= 120 * DAY_NS:
        return "day"
    return "week"


# A chart over time shows at least this many bars (and, periods being 3-7x apart, at most ~50):
# a week in days. Not 12: the default 7d range would be cut in 6 hours, 4x the periods for the
# report to break down, for a page that opens on it.
MIN_BARS = 7


def bar_period(window: Window) -> str:
    """The period a range's bars are binned by: the longest that still gives MIN_BARS bars
    (1h: 5 minutes, 6h: 15 minutes, 24h: hour, 7d: day, 30d: day, 90d: week, a year: month),
    so a short range is not one or two hourly bars."""
    span = window.end_ns - window.start_ns
    fitting = [p for p in PERIODS if span >= MIN_BARS * LENGTH_NS[p]]
    return max(fitting, key=LENGTH_NS.__getitem__) if fitting else PERIODS[0]


def group_names(frame: pd.DataFrame, key_columns: list[str]) -> pd.Series:
    """One label per row for people: the container's name (its short id only where two share
    a name), the service (with its host where it runs on several), image, host or policy;
    never a full id."""
    if "container" in key_columns and "container" in frame.columns:
        short = frame["container_id"].astype(str).str[:12]
        name = frame["container"].where(frame["container"].notna(), short).astype(str)
        ids = frame["container_id"].astype(str).groupby(name).transform("nunique")
        return name.where(ids <= 1, name + " (" + short + ")")
    cols = [c for c in key_columns if c in frame.columns and c != "host"] or [
        c for c in key_columns if c in frame.columns
    ]
    if not cols:
        return pd.Series("all", index=frame.index)
    label = frame[cols].astype(str).agg(" / ".join, axis=1)
    if "host" in key_columns and "host" not in cols and "host" in frame.columns:
        # The same service on two hosts (--by host,service): the host tells the rows apart.
        hosts = frame["host"].astype(str)
        shared = hosts.groupby(label).transform("nunique") > 1
        label = label.where(~shared, label + " on " + hosts)
    return label


def fleet_per_period(breakdown: pd.DataFrame | None) -> pd.DataFrame:
    """The whole selection per period: availability (up / (up + down)), failures, downtime.
    The range's ends cut its first and last periods: their numbers hold only what is in it."""
    cols = ["period_start_ns", "period_end_ns", "availability", "failures", "downtime_s"]
    if breakdown is None or not len(breakdown):
        return pd.DataFrame(columns=cols)
    per = (
        breakdown.groupby(["period_start_ns", "period_end_ns"], sort=True)[
            ["uptime_s", "downtime_s", "failures"]
        ]
        .sum()
        .reset_index()
    )
    known = per["uptime_s"] + per["downtime_s"]
    per["availability"] = np.where(known > 0, per["uptime_s"] / known.where(known > 0), np.nan)
    return per[cols]


def worst(groups: pd.DataFrame, key_columns: list[str], limit: int = 10) -> pd.DataFrame:
    """The `limit` groups with the lowest availability that were down at all, named:
    label, availability, downtime_s, failures."""
    cols = ["label", "availability", "downtime_s", "failures"]
    if not len(groups):
        return pd.DataFrame(columns=cols)
    out = groups.assign(label=group_names(groups, key_columns))
    out = out[(out["downtime_s"] > 0) | (out["failures"] > 0)]
    out = out.sort_values(["availability", "downtime_s"], ascending=[True, False], kind="stable")
    return out[cols].head(limit).reset_index(drop=True)


def named_trend(breakdown: pd.DataFrame | None, key_columns: list[str]) -> pd.DataFrame:
    """MTBF and MTTR per period and group, groups named for people; periods with neither
    dropped."""
    cols = ["period_start_ns", "group", "mtbf_s", "mttr_s"]
    if breakdown is None or not len(breakdown):
        return pd.DataFrame(columns=cols)
    out = breakdown.assign(group=group_names(breakdown, key_columns))[cols]
    return out[out[["mtbf_s", "mttr_s"]].notna().any(axis=1)].reset_index(drop=True)


def budget_left(groups: pd.DataFrame, key_columns: list[str]) -> pd.DataFrame:
    """Each group's SLO error budget left in the window (negative: overspent), the least
    first: label, budget_left_s. Empty without an SLO."""
    if "budget_left_s" not in groups.columns or not len(groups):
        return pd.DataFrame(columns=["label", "budget_left_s"])
    out = groups.assign(label=group_names(groups, key_columns))[["label", "budget_left_s"]]
    return out.sort_values("budget_left_s", kind="stable").reset_index(drop=True)


INCIDENT_SPAN_COLUMNS = [
    "id",
    "label",
    "start_ns",
    "end_ns",
    "open",
    "cause",
    "failures",
    "downtime_s",
]


def incident_spans(
    incidents: pd.DataFrame, window: Window, limit: int = 25
) -> tuple[pd.DataFrame, int]:
    """Each incident as a span to draw, clipped to the window (an open one runs to its end),
    with the cause most of its failures had; the incidents of the `limit` affected containers
    or services with the most downtime. Also how many were affected in all."""
    if not len(incidents):
        return pd.DataFrame(columns=INCIDENT_SPAN_COLUMNS), 0
    inc = incidents.reset_index(drop=True)
    label = inc["key"].astype(str)
    # The host only where one name is affected on two hosts.
    hosts = inc["host"].astype(str).groupby(label).transform("nunique")
    label = label.where(hosts <= 1, label + " on " + inc["host"].astype(str))
    worst = (
        inc["downtime_s"]
        .astype(float)
        .groupby(label)
        .sum()
        .sort_values(ascending=False, kind="stable")
    )
    keep = label.isin(set(worst.index[:limit]))
    start = np.maximum(inc["start_ns"].to_numpy(dtype=np.int64), window.start_ns)
    # An open incident (no end yet) is drawn to the end of the window.
    end = inc["end_ns"].astype("Float64").fillna(window.end_ns).to_numpy(dtype=np.int64)
    end = np.where(inc["open"].to_numpy(dtype=bool), window.end_ns, end)
    out = pd.DataFrame(
        {
            "id": inc["id"],
            "label": label,
            "start_ns": start,
            "end_ns": np.maximum(np.minimum(end, window.end_ns), start),
            "open": inc["open"].astype(bool),
            "cause": [_main_cause(c) for c in inc["causes"]],
            "failures": inc["failures"].astype(int),
            "downtime_s": inc["downtime_s"].astype(float),
        },
        columns=INCIDENT_SPAN_COLUMNS,
    )
    return out[keep.to_numpy()].reset_index(drop=True), len(worst)


def _main_cause(causes: object) -> str:
    counts = dict(causes) if isinstance(causes, dict) else {}
    if not counts:
        return "unknown"
    return str(min(counts, key=lambda c: (-counts[c], str(c))))


def forced_stops(groups: pd.DataFrame, key_columns: list[str]) -> pd.DataFrame:
    """The groups with stops that needed a SIGKILL (analytics.stops), named, the most forced
    first: label, stops, forced_stops, and the mean and longest time from SIGTERM to the end
    of their stops (stop_mean_s, stop_max_s)."""
    cols = ["label", "stops", "forced_stops", "stop_mean_s", "stop_max_s"]
    if "forced_stops" not in groups.columns or not len(groups):
        return pd.DataFrame(columns=cols)
    out = groups.assign(label=group_names(groups, key_columns))
    out = out[out["forced_stops"] > 0]
    out = out.sort_values(["forced_stops", "stop_max_s"], ascending=False, kind="stable")
    return out[cols].reset_index(drop=True)


def mtbf_mttr(groups: pd.DataFrame, key_columns: list[str]) -> pd.DataFrame:
    """MTBF and MTTR of each group over the whole range, named; groups with neither left out."""
    cols = ["label", "mtbf_s", "mttr_s"]
    if not len(groups):
        return pd.DataFrame(columns=cols)
    out = groups.assign(label=group_names(groups, key_columns))[cols]
    return out[out[["mtbf_s", "mttr_s"]].notna().any(axis=1)].reset_index(drop=True)


def zoom_to(spans: pd.DataFrame, window: Window, pad: float = 0.05) -> Window:
    """The part of the window the spans (start_ns, end_ns) take, with `pad` of it (at least
    10 s) either side: minutes of incidents on a 7-day range are drawn over minutes."""
    if not len(spans):
        return window
    start, end = int(spans["start_ns"].min()), int(spans["end_ns"].max())
    margin = max(int((end - start) * pad), 10 * 1_000_000_000)
    return Window(max(window.start_ns, start - margin), min(window.end_ns, end + margin))
