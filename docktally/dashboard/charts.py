"""Vega-Lite charts (Altair) for the pages. Names reach the browser as data values, which Vega
draws as text: never as HTML."""

from __future__ import annotations

from typing import Any

import altair as alt
import pandas as pd

# One colour per state, the same on every chart: green up, amber unhealthy, red down,
# blue planned, grey unknown.
STATE_COLOURS = {
    "up": "#2e7d32",
    "unhealthy": "#f9a825",
    "down": "#c62828",
    "planned": "#1565c0",
    "unknown": "#9e9e9e",
}


def _label(df: pd.DataFrame) -> pd.Series:
    # Distinct rows for containers that share a name (recreated, or on two hosts).
    short = df["container_id"].astype(str).str[:12]
    name = df["name"].fillna(short).astype(str)
    return name + " (" + short + ")"


def is_absent(intervals: pd.DataFrame) -> pd.Series:
    """Rows of time a container did not exist (planned, cause absent or removed)."""
    return (intervals["state"] == "planned") & intervals["cause"].isin(["absent", "removed"])


def timeline(intervals: pd.DataFrame, failures: pd.DataFrame, height_per_row: int = 40) -> Any:
    """Each container's states as bars over time; failures as black ticks on top."""
    # Before its create and after its destroy a container did not exist: no bar at all, not a
    # blue "stopped by a person" one.
    iv = intervals[~is_absent(intervals)].copy()
    iv["container"] = _label(iv)
    iv["start"] = pd.to_datetime(iv["start_ns"], unit="ns", utc=True)
    iv["end"] = pd.to_datetime(iv["end_ns"], unit="ns", utc=True)
    iv["cause"] = iv["cause"].fillna("")
    rows = sorted(iv["container"].unique())
    colour = alt.Color(
        "state:N",
        scale=alt.Scale(domain=list(STATE_COLOURS), range=list(STATE_COLOURS.values())),
        legend=alt.Legend(orient="top", title=None),
    )
    y = alt.Y("container:N", sort=rows, title=None, axis=alt.Axis(labelLimit=320))
    bars = (
        alt.Chart(iv[["container", "start", "end", "state", "cause"]])
        .mark_bar()
        .encode(
            x=alt.X("start:T", title="time (UTC)"),
            x2="end:T",
            y=y,
            color=colour,
            tooltip=[
                alt.Tooltip("state:N"),
                alt.Tooltip("cause:N"),
                alt.Tooltip("start:T", format="%Y-%m-%d %H:%M:%S"),
                alt.Tooltip("end:T", format="%Y-%m-%d %H:%M:%S"),
            ],
        )
    )
    layers: list[Any] = [bars]
    if len(failures):
        fl = failures.copy()
        fl["container"] = _label(fl)
        fl["time"] = pd.to_datetime(fl["time_ns"], unit="ns", utc=True)
        fl["cause"] = fl["cause"].fillna("")
        fl["exit_code"] = (
            fl["exit_code"].astype("Float64").astype(object).where(fl["exit_code"].notna(), None)
        )
        fl = fl[fl["container"].isin(rows)]
        ticks = (
            alt.Chart(fl[["container", "time", "cause", "exit_code"]])
            .mark_tick(color="black", thickness=2, size=20)
            .encode(
                x="time:T",
                y=y,
                tooltip=[
                    alt.Tooltip("time:T", title="failure", format="%Y-%m-%d %H:%M:%S"),
                    alt.Tooltip("cause:N"),
                    alt.Tooltip("exit_code:Q"),
                ],
            )
        )
        layers.append(ticks)
    return alt.layer(*layers).properties(height=timeline_height(len(rows), height_per_row))


def timeline_height(rows: int, height_per_row: int = 40) -> int:
    return max(120, height_per_row * rows)


def over_time(breakdown: pd.DataFrame, metric: str, title: str) -> Any:
    """One metric per period, one line per group."""
    df = breakdown.copy()
    df["period"] = pd.to_datetime(df["period_start_ns"], unit="ns", utc=True)
    df["group"] = df["group"].astype(str)
    return (
        alt.Chart(df[["period", "group", metric]])
        .mark_line(point=True)
        .encode(
            x=alt.X("period:T", title="day (UTC)"),
            y=alt.Y(f"{metric}:Q", title=title),
            color=alt.Color("group:N", title=None, legend=alt.Legend(labelLimit=240)),
            tooltip=["period:T", "group:N", alt.Tooltip(f"{metric}:Q", format=".1f")],
        )
        .properties(height=260)
    )


def downtime_by_cause(df: pd.DataFrame) -> Any:
    return (
        alt.Chart(df)
        .mark_bar()
        .encode(
            x=alt.X("downtime_s:Q", title="downtime (s)"),
            y=alt.Y("cause:N", sort="-x", title=None),
            tooltip=["cause:N", alt.Tooltip("downtime_s:Q", format=".1f")],
        )
        .properties(height=max(80, 28 * len(df)))
    )
