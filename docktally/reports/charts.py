"""Charts as PNG bytes, drawn on matplotlib.figure.Figure (never pyplot: no global state)."""

from __future__ import annotations

import io
from typing import Any

import pandas as pd

from docktally.analytics.report import Report
from docktally.analytics.trends import fleet_per_period, group_names
from docktally.reports import humane
from docktally.reports.safe_text import chart_label

STATE_COLOURS = {"up": "#2e7d32", "unhealthy": "#f9a825", "down": "#c62828"}
MAX_BARS = 40


def Figure(**kwargs: Any) -> Any:
    # Imported on use: matplotlib costs about a second to import, and only HTML needs it.
    from matplotlib.figure import Figure as _Figure

    return _Figure(**kwargs)


def _png(fig: Any) -> bytes:
    buf = io.BytesIO()
    fig.savefig(buf, format="png", dpi=96, bbox_inches="tight")
    return buf.getvalue()


def group_labels(report: Report, frame: pd.DataFrame) -> list[str]:
    return [chart_label(v) for v in group_names(frame, report.key_columns)]


def availability_chart(report: Report) -> bytes:
    return _png(availability_figure(report))


def downtime_by_cause_chart(report: Report) -> bytes:
    return _png(downtime_by_cause_figure(report))


def availability_per_day_chart(report: Report) -> bytes:
    return _png(availability_per_period_figure(report))


def _colours(percents: list[float], slo: float | None) -> list[str]:
    """Under the SLO in the colour of downtime: what missed it stands out."""
    return [
        STATE_COLOURS["down"] if slo is not None and v < slo else STATE_COLOURS["up"]
        for v in percents
    ]


def availability_figure(report: Report) -> Any:
    """The least available groups, the worst on top, each bar labelled with its number; the
    axis starts at 0 (a zoomed one drew 22% as a sliver beside 100%)."""
    g = report.groups.sort_values("availability", na_position="first").head(MAX_BARS)
    labels = group_labels(report, g)
    ratios = list(g["availability"])
    values = [100 * (v if v == v else 0.0) for v in ratios]
    fig = Figure(figsize=(8, max(2.0, 0.3 * len(labels) + 1)))
    ax = fig.add_subplot()
    slo = report.slo
    ax.barh(range(len(labels)), values, color=_colours(values, slo))
    ax.set_yticks(range(len(labels)), labels=labels, fontsize=8)
    ax.invert_yaxis()
    for y, (v, r) in enumerate(zip(values, ratios, strict=True)):
        inside = v > 25  # white on the bar's end, or black just past a short bar
        ax.text(
            v - 1 if inside else v + 1,
            y,
            humane.percent(r),
            ha="right" if inside else "left",
            va="center",
            fontsize=8,
            color="white" if inside else "black",
        )
    ax.set_xlabel("availability (%)")
    ax.set_xlim(0.0, 100.0)
    if slo is not None:
        ax.axvline(slo, color="#555555", linestyle="--", label=f"SLO {slo:g}% (red: missed)")
        # Beside the plot: inside it, it hid the labels of the bars at 100%.
        ax.legend(loc="upper left", bbox_to_anchor=(1.01, 1), fontsize=8, frameon=False)
    ax.set_title(f"Availability per {report.by} (lowest {len(labels)})")
    return fig


def downtime_by_cause_figure(report: Report) -> Any:
    """Downtime by cause (red) and planned time by reason (blue), in words, the largest on top,
    each bar labelled with its duration."""
    totals: dict[str, float] = {}
    for d in report.groups["downtime_by_cause_s"]:
        for k, v in d.items():
            totals[k] = totals.get(k, 0.0) + float(v)
    for k, v in report.time_by_class_s.items():
        if k.startswith("planned:") and v > 0:
            totals[k] = v
    items = sorted(totals.items(), key=lambda kv: -kv[1])
    names = [
        humane.time_class(k) if k.startswith("planned:") else humane.downtime_cause(k)
        for k, _ in items
    ]
    fig = Figure(figsize=(8, max(2.0, 0.35 * len(items) + 1)))
    ax = fig.add_subplot()
    top = max((v for _, v in items), default=0.0)
    # The unit that makes the longest bar a number a person reads.
    unit, size = (
        ("hours", 3600) if top > 3 * 3600 else ("minutes", 60) if top > 120 else ("seconds", 1)
    )
    if items:
        ax.barh(
            range(len(items)),
            [v / size for _, v in items],
            color=["#c62828" if not k.startswith("planned") else "#1565c0" for k, _ in items],
        )
        ax.set_yticks(range(len(items)), labels=names)
        ax.invert_yaxis()  # the largest on top
        for y, (_, v) in enumerate(items):
            ax.text(v / size, y, " " + humane.duration(v), va="center", fontsize=8)
        ax.set_xlim(0, top / size * 1.15)  # room for the longest bar's label
    else:
        ax.text(0.5, 0.5, "no downtime", ha="center", va="center", transform=ax.transAxes)
    ax.set_xlabel(f"{unit} (container time)")
    ax.set_title("Downtime by cause (red) and planned time by reason (blue)")
    return fig


def availability_per_period_figure(report: Report) -> Any:
    """The fleet's availability per period as bars on a date axis spanning the window (one
    period is one bar, not a dot on an axis of years); periods nobody was up or down are gaps."""
    from matplotlib.dates import AutoDateLocator, ConciseDateFormatter

    every = report.every or "day"
    fig = Figure(figsize=(8, 3))
    ax = fig.add_subplot()
    per = fleet_per_period(report.breakdown)
    if len(per):
        starts = pd.to_datetime(per["period_start_ns"].astype("int64"), unit="ns", utc=True)
        ends = pd.to_datetime(per["period_end_ns"].astype("int64"), unit="ns", utc=True)
        avail = 100 * per["availability"].astype(float)
        # In the middle of its period, a tenth of it free on each side: a bar from the start
        # left the period's last fifth blank, which read as time nobody watched.
        ax.bar(
            (starts + (ends - starts) / 2).dt.tz_localize(None),
            avail.to_numpy(),
            width=((ends - starts).dt.total_seconds() / 86400 * 0.8).to_numpy(),
            align="center",
            color=_colours(avail.fillna(100.0).tolist(), report.slo),
        )
        # Bars start at 0: a zoomed axis would turn 75% into a sliver.
        ax.set_ylim(0.0, 100.0)
        if report.slo is not None:
            ax.axhline(
                report.slo,
                color="#555555",
                linestyle="--",
                label=f"SLO {report.slo:g}% (red: missed)",
            )
            ax.legend(loc="upper left", bbox_to_anchor=(1.01, 1), fontsize=8, frameon=False)
        # The whole window, not only the periods that have bars.
        w = report.window
        ax.set_xlim(
            pd.Timestamp(w.start_ns, unit="ns").to_datetime64(),
            pd.Timestamp(w.end_ns, unit="ns").to_datetime64(),
        )
        locator = AutoDateLocator()
        ax.xaxis.set_major_locator(locator)
        ax.xaxis.set_major_formatter(ConciseDateFormatter(locator))
    else:
        ax.text(0.5, 0.5, "no data", ha="center", va="center", transform=ax.transAxes)
    ax.set_ylabel("availability (%)")
    ax.set_title(f"Fleet availability per {every} (UTC)")
    return fig
