"""Charts as PNG bytes, drawn on matplotlib.figure.Figure (never pyplot: no global state)."""

from __future__ import annotations

import io
from typing import Any

import pandas as pd

from docktally.analytics.report import Report
from docktally.analytics.trends import fleet_per_period, group_names
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
    g = report.groups.sort_values("availability", na_position="first").head(MAX_BARS)
    labels = group_labels(report, g)
    values = [100 * (v if v == v else 0.0) for v in g["availability"]]
    fig = Figure(figsize=(8, max(2.0, 0.3 * len(labels) + 1)))
    ax = fig.add_subplot()
    ax.barh(range(len(labels)), values, color=STATE_COLOURS["up"])
    ax.set_yticks(range(len(labels)), labels=labels, fontsize=8)
    ax.set_xlabel("availability (%)")
    low = min(values, default=0.0)
    ax.set_xlim(max(0.0, min(low - 1.0, 99.0)), 100.0)
    if report.slo is not None:
        ax.axvline(report.slo, color="#555555", linestyle="--", label=f"SLO {report.slo:g}%")
        ax.legend(loc="lower right", fontsize=8)
    ax.set_title(f"Availability per {report.by} (lowest {len(labels)})")
    return _png(fig)


def downtime_by_cause_chart(report: Report) -> bytes:
    totals: dict[str, float] = {}
    for d in report.groups["downtime_by_cause_s"]:
        for k, v in d.items():
            totals[k] = totals.get(k, 0.0) + float(v)
    for k, v in report.time_by_class_s.items():
        if k.startswith("planned:") and v > 0:
            totals[k] = v
    items = sorted(totals.items(), key=lambda kv: -kv[1])
    fig = Figure(figsize=(8, max(2.0, 0.35 * len(items) + 1)))
    ax = fig.add_subplot()
    top = max((v for _, v in items), default=0.0)
    # The unit that makes the longest bar a number a person reads.
    unit, size = (
        ("hours", 3600) if top > 3 * 3600 else ("minutes", 60) if top > 120 else ("seconds", 1)
    )
    if items:
        ax.barh(
            [k for k, _ in items],
            [v / size for _, v in items],
            color=["#c62828" if not k.startswith("planned") else "#1565c0" for k, _ in items],
        )
    else:
        ax.text(0.5, 0.5, "no downtime", ha="center", va="center", transform=ax.transAxes)
    ax.set_xlabel(f"{unit} (container time)")
    ax.set_title("Downtime by cause (red) and planned time by reason (blue)")
    return _png(fig)


def availability_per_day_chart(report: Report) -> bytes:
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
        ax.bar(
            starts.dt.tz_localize(None),
            avail.to_numpy(),
            width=((ends - starts).dt.total_seconds() / 86400 * 0.8).to_numpy(),
            align="edge",
            color=STATE_COLOURS["up"],
        )
        # Bars start at 0: a zoomed axis would turn 75% into a sliver.
        ax.set_ylim(0.0, 100.0)
        if report.slo is not None:
            ax.axhline(report.slo, color="#555555", linestyle="--", label=f"SLO {report.slo:g}%")
            ax.legend(loc="lower right", fontsize=8)
        locator = AutoDateLocator()
        ax.xaxis.set_major_locator(locator)
        ax.xaxis.set_major_formatter(ConciseDateFormatter(locator))
    else:
        ax.text(0.5, 0.5, "no data", ha="center", va="center", transform=ax.transAxes)
    ax.set_ylabel("availability (%)")
    ax.set_title(f"Fleet availability per {every} (UTC)")
    return _png(fig)
