"""Vega-Lite charts (Altair) for the pages. Names reach the browser as data values, which Vega
draws as text: never as HTML."""

from __future__ import annotations

from typing import Any

import altair as alt
import pandas as pd

from docktally.reports import humane

# One colour per state, the same on every chart: green up, amber unhealthy, red down,
# blue planned, grey unknown.
STATE_COLOURS = {
    "up": "#2e7d32",
    "unhealthy": "#f9a825",
    "down": "#c62828",
    "planned": "#1565c0",
    "unknown": "#9e9e9e",
}


# What each colour means, in the legend itself.
STATE_MEANINGS = {
    "up": "up: running",
    "unhealthy": "unhealthy: running, health check failing",
    "down": "down: failed, not yet back",
    "planned": "planned: stopped by a person or maintenance",
    "unknown": "unknown: nobody was watching",
}
# A name axis cuts long names in the middle: two names that share a long prefix (one project's
# services) still differ where they end. ~6.4 px a character; labelLimit cuts what is wider.
PX_PER_CHAR = 6.4


def name_axis(limit_px: int) -> Any:
    chars = int(limit_px / PX_PER_CHAR)
    return alt.Axis(labelLimit=limit_px, labelExpr=f"truncate(datum.label, {chars}, 'center')")


# Times in UTC, on a 24-hour clock, whatever the browser's zone.
UTC = alt.Scale(type="utc")
# Hours where the range is short, the date at each midnight.
TIME_AXIS = alt.Axis(
    format="%H:%M",
    labelExpr="utcFormat(datum.value, '%H:%M') == '00:00' ? "
    "utcFormat(datum.value, '%b %d') : utcFormat(datum.value, '%H:%M')",
    labelOverlap=True,
)
TIME_FORMAT = "%Y-%m-%d %H:%M:%S UTC"
SECONDS_AXIS = alt.Axis(labelExpr="utcFormat(datum.value, '%H:%M:%S')", labelOverlap=True)
PERCENT = alt.Scale(domain=[0, 100])
DATE_AXIS = alt.Axis(format="%b %d", labelExpr="utcFormat(datum.value, '%b %d')", tickCount="day")


def time_title(start_ns: int, end_ns: int) -> str:
    """A time axis's title; with the day when the axis lies within one (its labels are hours,
    and a date shows only at midnight)."""
    first, last = humane.day(start_ns), humane.day(max(start_ns, end_ns - 1))
    return "time (UTC, 24-hour)" + (f" on {first}" if first == last else "")


def period_axis(every: str) -> Any:
    return TIME_AXIS if every == "hour" else DATE_AXIS


def _when(field: str, title: str) -> Any:
    return alt.Tooltip(f"{field}:T", title=title, format=TIME_FORMAT, formatType="utc")


def _label(df: pd.DataFrame) -> pd.Series:
    # The name alone; the short id only where two containers share a name (recreated, or on
    # two hosts).
    short = df["container_id"].astype(str).str[:12]
    name = df["name"].where(df["name"].notna(), short).astype(str)
    ids = df["container_id"].astype(str).groupby(name).transform("nunique")
    return name.where(ids <= 1, name + " (" + short + ")")


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
    iv["meaning"] = iv["state"].map(STATE_MEANINGS).fillna(iv["state"])
    rows = sorted(iv["container"].unique())
    span = (int(iv["start_ns"].min()), int(iv["end_ns"].max())) if len(iv) else (0, 0)
    # Seconds on the axis when the span is minutes (an incident's close-up).
    short = len(iv) and (span[1] - span[0]) < 30 * 60 * 10**9
    axis = SECONDS_AXIS if short else TIME_AXIS
    colour = alt.Color(
        "meaning:N",
        scale=alt.Scale(domain=list(STATE_MEANINGS.values()), range=list(STATE_COLOURS.values())),
        legend=alt.Legend(orient="top", title=None, columns=3, labelLimit=320),
    )
    y = alt.Y("container:N", sort=rows, title=None, axis=name_axis(320))
    bars = (
        alt.Chart(iv[["container", "start", "end", "state", "meaning", "cause"]])
        .mark_bar()
        .encode(
            x=alt.X("start:T", title=time_title(*span), scale=UTC, axis=axis),
            x2="end:T",
            y=y,
            color=colour,
            tooltip=[
                alt.Tooltip("container:N"),
                alt.Tooltip("meaning:N", title="state"),
                alt.Tooltip("cause:N"),
                _when("start", "from"),
                _when("end", "to"),
            ],
        )
    )
    layers: list[Any] = [bars]
    if len(failures):
        fl = failures.copy()
        fl["container"] = _label(fl) if "name" in fl.columns else fl["container_id"].str[:12]
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
                x=alt.X("time:T", scale=UTC),
                y=y,
                tooltip=[
                    _when("time", "failure"),
                    alt.Tooltip("cause:N"),
                    alt.Tooltip("exit_code:Q", title="exit code"),
                ],
            )
        )
        layers.append(ticks)
    return alt.layer(*layers).properties(height=timeline_height(len(rows), height_per_row))


def timeline_height(rows: int, height_per_row: int = 40) -> int:
    return max(120, height_per_row * rows)


def _hours_or_minutes(seconds: pd.Series) -> tuple[pd.Series, str]:
    """A duration axis a person reads: hours when the largest is over 3 hours, minutes over
    2 minutes, else seconds."""
    top = float(seconds.max()) if len(seconds) else 0.0
    if top > 3 * 3600:
        return seconds / 3600, "hours"
    if top > 120:
        return seconds / 60, "minutes"
    return seconds, "seconds"


def over_time(trend: pd.DataFrame, metric: str, title: str, every: str) -> Any:
    """One metric per period, one line per group (groups named, see analytics.trends)."""
    df = trend.copy()
    df["period"] = pd.to_datetime(df["period_start_ns"], unit="ns", utc=True)
    df["group"] = df["group"].astype(str)
    values, unit = _hours_or_minutes(df[metric].astype(float))
    df["value"] = values
    df["shown"] = [humane.duration(v) for v in df[metric]]
    return (
        alt.Chart(df[["period", "group", "value", "shown"]])
        .mark_line(point=True)
        .encode(
            x=alt.X("period:T", title=f"{every} (UTC)", scale=UTC, axis=period_axis(every)),
            y=alt.Y("value:Q", title=f"{title} ({unit})"),
            color=alt.Color("group:N", title=None, legend=alt.Legend(labelLimit=240)),
            tooltip=[
                _when("period", every),
                alt.Tooltip("group:N"),
                alt.Tooltip("shown:N", title=title),
            ],
        )
        .properties(height=260)
    )


def downtime_by_cause(df: pd.DataFrame) -> Any:
    """Bars long enough to read, one per cause, the longest first, each labelled."""
    d = df.copy()
    d["value"], unit = _hours_or_minutes(d["downtime_s"].astype(float))
    d["shown"] = [humane.duration(v) for v in d["downtime_s"]]
    base = alt.Chart(d[["cause", "value", "shown"]]).encode(
        y=alt.Y("cause:N", sort="-x", title=None, axis=alt.Axis(labelLimit=240)),
        x=alt.X("value:Q", title=f"downtime ({unit}, container time)", axis=alt.Axis(tickCount=6)),
        tooltip=[alt.Tooltip("cause:N"), alt.Tooltip("shown:N", title="downtime")],
    )
    bars = base.mark_bar(color=STATE_COLOURS["down"], size=22)
    text = base.mark_text(align="left", dx=4).encode(text="shown:N")
    return (bars + text).properties(height=alt.Step(BAR_STEP))


# A chart over time: its plot's height, and the element's with the title and axes around it
# (st.altair_chart is given that height: it squeezes a chart that has none), whose time axis
# has a title of two lines.
PLOT_HEIGHT = 200
ELEMENT_HEIGHT = PLOT_HEIGHT + 125

# Pixels per bar of a horizontal bar chart: room for the bar and its label.
BAR_STEP = 30


# At most a tick per TICK_PX pixels of a chart of bars over time: Vega's own count (one per
# 40 px) put 3-hour ticks on a day at 1,024 px and hid every other label (15:00, 21:00, ...).
TICK_PX = 70
# The width of the y axis's labels on the Overview's two charts side by side: the same on both,
# so their plots are as wide, and so are their ticks.
Y_EXTENT = 40


def window_x(
    field: str, start_ns: int, end_ns: int, title: str | list[str], *, tick_px: int | None = None
) -> Any:
    """A time axis that spans the whole range [start_ns, end_ns): seconds on minutes, hours on
    a day or two, dates on a longer one; with `tick_px`, a tick per that many pixels at most."""
    span = [pd.Timestamp(start_ns, unit="ns", tz="UTC"), pd.Timestamp(end_ns, unit="ns", tz="UTC")]
    # No padding: Vega-Lite pads the time scale of a vertical bar (the failures' bars) by a
    # bar's width each side, so that axis ran 19 minutes past both ends of a 24h range.
    scale = alt.Scale(type="utc", domain=[t.isoformat() for t in span], padding=0)
    span_s = (end_ns - start_ns) / 1e9
    axis = SECONDS_AXIS if span_s < 30 * 60 else TIME_AXIS if span_s <= 2 * 86400 else DATE_AXIS
    if tick_px:
        axis = axis.copy()
        axis.tickCount = alt.ExprRef(f"ceil(width / {tick_px})")
    return alt.X(f"{field}:T", title=title, scale=scale, axis=axis)


def bar_title(every: str, start_ns: int, end_ns: int) -> list[str]:
    """The time axis of a chart of bars per period, saying how long each bar is: on two lines,
    as one it was cut at the edge of a chart half a 1,024 px window wide."""
    return [time_title(start_ns, end_ns), f"one bar per {every}"]


def fleet_trend(per: pd.DataFrame, every: str, start_ns: int, end_ns: int) -> Any:
    """The selection's availability and failures per period, each bar over the time its
    numbers hold (trends.fleet_per_period's periods: the range's ends cut the first and last,
    so those bars are narrower), on an axis over exactly the range [start_ns, end_ns), with the
    same ticks on both charts. Availability bars run from 0 to 100 %: green the share up, red
    the share down."""
    d = per.copy()
    d["period"] = pd.to_datetime(d["period_start_ns"], unit="ns", utc=True)
    d["period_end"] = pd.to_datetime(d["period_end_ns"], unit="ns", utc=True)
    d["up %"] = d["availability"].astype(float) * 100
    d["all %"] = 100.0
    d["shown"] = [humane.percent(v) for v in d["availability"]]
    x = window_x("period", start_ns, end_ns, bar_title(every, start_ns, end_ns), tick_px=TICK_PX)
    when = [_when("period", f"{every} from"), _when("period_end", "to")]
    tip = [*when, alt.Tooltip("shown:N", title="availability")]
    cols = ["period", "period_end", "up %", "all %", "shown", "failures"]
    base = alt.Chart(d[cols])

    def y(field: str) -> Any:
        return alt.Y(
            f"{field}:Q",
            title="availability (%)",
            scale=PERCENT,
            axis=alt.Axis(minExtent=Y_EXTENT, maxExtent=Y_EXTENT),
        )

    known = base.transform_filter("isValid(datum['up %'])")
    # y and y2 both given: a bar over [x, x2) is drawn upright, from y2 to y.
    down = known.mark_bar(color=STATE_COLOURS["down"], stroke="white", strokeWidth=0.5).encode(
        x=x, x2="period_end:T", y=y("all %"), y2="up %:Q", tooltip=tip
    )
    up = known.mark_bar(color=STATE_COLOURS["up"], stroke="white", strokeWidth=0.5).encode(
        x=x, x2="period_end:T", y=y("up %"), y2=alt.datum(0), tooltip=tip
    )
    # orient: a bar over [x, x2) is upright, not a horizontal bar at the height of y.
    fails = base.mark_bar(
        color=STATE_COLOURS["down"], stroke="white", strokeWidth=0.5, orient="vertical"
    ).encode(
        x=x,
        x2="period_end:T",
        y=alt.Y(
            "failures:Q",
            title="failures",
            axis=alt.Axis(tickMinStep=1, minExtent=Y_EXTENT, maxExtent=Y_EXTENT),
        ),
        tooltip=[*when, alt.Tooltip("failures:Q")],
    )
    return (down + up).properties(
        height=PLOT_HEIGHT, title="Availability (green up, red down)"
    ), fails.properties(height=PLOT_HEIGHT, title="Failures")


def availability_bars(d: pd.DataFrame, name: str, tooltip: list[Any] | None = None) -> Any:
    """One bar per row of `d` (label, availability, downtime_s), in its order, from 0 to
    100 %: green the share up, red the share down, grey where nothing was known; each
    labelled inside its end with its availability and downtime. The Overview's groups and
    the Fleet page's hosts and services all look like this. `name` titles the label in the
    tooltip; `tooltip` adds to it."""
    d = d.copy()
    known = d["availability"].notna()
    d["up %"] = d["availability"].astype(float) * 100
    d["all %"] = 100.0
    d["shown"] = [
        f"{humane.percent(a)}, down {humane.duration(s)}" if k else "nothing known (not watched)"
        for a, s, k in zip(d["availability"], d["downtime_s"], known, strict=True)
    ]
    d["rest"] = known.map({True: STATE_COLOURS["down"], False: STATE_COLOURS["unknown"]})
    extra = list(tooltip or [])
    fields = [str(t.to_dict()["field"]) for t in extra]
    base = alt.Chart(d[["label", "up %", "all %", "shown", "rest", *fields]]).encode(
        y=alt.Y("label:N", sort=None, title=None, axis=name_axis(320)),
        tooltip=[
            alt.Tooltip("label:N", title=name),
            alt.Tooltip("shown:N", title="availability"),
            *extra,
        ],
    )

    def x(field: str) -> Any:
        return alt.X(
            f"{field}:Q",
            title="availability (%): green up, red down",
            scale=alt.Scale(domain=[0, 100]),
            axis=alt.Axis(values=[0, 25, 50, 75, 100]),
        )

    rest = base.mark_bar(size=20).encode(x=x("all %"), color=alt.Color("rest:N", scale=None))
    up = base.mark_bar(color=STATE_COLOURS["up"], size=20).encode(x=x("up %"))
    # Inside the bar's end, white on green or red: always within the chart.
    text = base.mark_text(align="right", dx=-6, color="white", fontWeight="bold").encode(
        x=x("all %"), text="shown:N"
    )
    return (rest + up + text).properties(height=alt.Step(BAR_STEP))


def worst(df: pd.DataFrame) -> Any:
    """Groups' availability (trends.worst), the first row on top."""
    return availability_bars(df, "name", [alt.Tooltip("failures:Q")])


def budget_left(df: pd.DataFrame) -> Any:
    """Each group's SLO error budget left: green bars, red where it is overspent."""
    d = df.copy()
    d["value"], unit = _hours_or_minutes(d["budget_left_s"].abs().astype(float))
    d["value"] = d["value"].where(d["budget_left_s"] >= 0, -d["value"])
    d["shown"] = [
        ("overspent " if v < 0 else "") + humane.duration(abs(v)) for v in d["budget_left_s"]
    ]
    d["spent"] = d["budget_left_s"] < 0
    base = alt.Chart(d[["label", "value", "shown", "spent"]]).encode(
        y=alt.Y("label:N", sort=None, title=None, axis=name_axis(240)),
        x=alt.X("value:Q", title=f"error budget left ({unit})"),
        tooltip=[alt.Tooltip("label:N", title="name"), alt.Tooltip("shown:N", title="left")],
    )
    bars = base.mark_bar(size=18).encode(
        color=alt.Color(
            "spent:N",
            scale=alt.Scale(
                domain=[False, True], range=[STATE_COLOURS["up"], STATE_COLOURS["down"]]
            ),
            legend=None,
        )
    )
    return bars.properties(height=alt.Step(BAR_STEP))


def per_group(df: pd.DataFrame, metric: str, title: str) -> Any:
    """One metric of each group over the whole range, as labelled bars (for a range too short
    for a line per period)."""
    d = df[df[metric].notna()].copy()
    d["value"], unit = _hours_or_minutes(d[metric].astype(float))
    d["shown"] = [humane.duration(v) for v in d[metric]]
    base = alt.Chart(d[["label", "value", "shown"]]).encode(
        y=alt.Y("label:N", sort="-x", title=None, axis=name_axis(240)),
        x=alt.X("value:Q", title=f"{title} ({unit})", axis=alt.Axis(tickCount=5)),
        tooltip=[alt.Tooltip("label:N", title="name"), alt.Tooltip("shown:N", title=title)],
    )
    bars = base.mark_bar(color="#1565c0", size=20)
    text = base.mark_text(align="left", dx=4).encode(text="shown:N")
    return (bars + text).properties(height=alt.Step(BAR_STEP), title=title)


# A colour per failure cause, the same wherever causes are drawn.
CAUSE_COLOURS = {
    "crash": STATE_COLOURS["down"],
    "oom": "#6a1b9a",
    "unhealthy": STATE_COLOURS["unhealthy"],
    "start_failure": "#8d6e63",
    "engine_restart": "#37474f",
    "redeploy": "#00838f",
    "clean_exit": "#1565c0",
    "unknown": STATE_COLOURS["unknown"],
}


def incidents(spans: pd.DataFrame, start_ns: int, end_ns: int) -> Any:
    """Each incident a bar from its first failure to its recovery (an open one to the end of
    the range), one row per affected container or service, coloured by its main cause; a
    diamond marks each start, so an incident of seconds shows on a range of days."""
    d = spans.copy()
    d["start"] = pd.to_datetime(d["start_ns"], unit="ns", utc=True)
    d["end"] = pd.to_datetime(d["end_ns"], unit="ns", utc=True)
    d["state"] = d["open"].map({True: "open, still down", False: "recovered"})
    d["down"] = [humane.duration(v) for v in d["downtime_s"]]
    rows = list(dict.fromkeys(d["label"]))
    causes = [c for c in CAUSE_COLOURS if c in set(d["cause"])] + sorted(
        set(d["cause"]) - set(CAUSE_COLOURS)
    )
    colour = alt.Color(
        "cause:N",
        scale=alt.Scale(
            domain=causes, range=[CAUSE_COLOURS.get(c, STATE_COLOURS["unknown"]) for c in causes]
        ),
        legend=alt.Legend(orient="top", title="main cause"),
    )
    x = window_x("start", start_ns, end_ns, time_title(start_ns, end_ns))
    y = alt.Y("label:N", sort=rows, title=None, axis=name_axis(320))
    base = alt.Chart(d[["id", "label", "start", "end", "state", "cause", "failures", "down"]])
    tip = [
        alt.Tooltip("label:N", title="affected"),
        alt.Tooltip("id:N", title="incident"),
        alt.Tooltip("cause:N", title="main cause"),
        alt.Tooltip("failures:Q"),
        alt.Tooltip("down:N", title="downtime"),
        alt.Tooltip("state:N"),
        _when("start", "from"),
        _when("end", "to"),
    ]
    bars = base.mark_bar(size=14).encode(x=x, x2="end:T", y=y, color=colour, tooltip=tip)
    marks = base.mark_point(shape="diamond", filled=True, size=90, opacity=1).encode(
        x=x, y=y, color=colour, tooltip=tip
    )
    # A step per row, not a fixed height: Streamlit squeezes a layered chart of fixed height.
    return (bars + marks).properties(height=alt.Step(BAR_STEP))


def events_over_time(bins: pd.DataFrame, bin_name: str, start_ns: int, end_ns: int) -> Any:
    """Events stored per bin, a bar as wide as its bin, one colour per host."""
    d = bins.copy()
    d["start"] = pd.to_datetime(d["bin_start_ns"], unit="ns", utc=True)
    d["end"] = pd.to_datetime(d["bin_end_ns"], unit="ns", utc=True)
    return (
        alt.Chart(d[["start", "end", "host", "events"]])
        .mark_bar(stroke="white", strokeWidth=0.5, orient="vertical")
        .encode(
            x=window_x("start", start_ns, end_ns, bar_title(bin_name, start_ns, end_ns)),
            x2="end:T",
            y=alt.Y("events:Q", title="events", stack="zero", axis=alt.Axis(tickMinStep=1)),
            color=alt.Color("host:N", title="host", legend=alt.Legend(orient="top")),
            tooltip=[_when("start", bin_name), alt.Tooltip("host:N"), alt.Tooltip("events:Q")],
        )
        .properties(height=PLOT_HEIGHT)
    )


WATCHED = {
    True: "watched by a collector or an import",
    False: "nobody watching (counts as unknown)",
}


def watched(spans: pd.DataFrame, start_ns: int, end_ns: int) -> Any:
    """Per host, the range as a strip: green where somebody watched, grey where nobody did."""
    d = spans.copy()
    d["start"] = pd.to_datetime(d["start_ns"], unit="ns", utc=True)
    d["end"] = pd.to_datetime(d["end_ns"], unit="ns", utc=True)
    d["what"] = d["watched"].map(WATCHED)
    d["length"] = [humane.duration(v) for v in d["length_s"]]
    hosts = sorted(set(d["host"]))
    return (
        alt.Chart(d[["host", "start", "end", "what", "length"]])
        .mark_bar(size=22)
        .encode(
            x=window_x("start", start_ns, end_ns, time_title(start_ns, end_ns)),
            x2="end:T",
            y=alt.Y("host:N", sort=hosts, title=None, axis=name_axis(240)),
            color=alt.Color(
                "what:N",
                scale=alt.Scale(
                    domain=list(WATCHED.values()),
                    range=[STATE_COLOURS["up"], STATE_COLOURS["unknown"]],
                ),
                legend=alt.Legend(orient="top", title=None, labelLimit=320),
            ),
            tooltip=[
                alt.Tooltip("host:N"),
                alt.Tooltip("what:N", title="time"),
                alt.Tooltip("length:N"),
                _when("start", "from"),
                _when("end", "to"),
            ],
        )
        .properties(height=alt.Step(BAR_STEP))
    )
