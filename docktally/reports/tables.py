"""The uptime report as rows of display strings, and as an aligned text table."""

from __future__ import annotations

import textwrap

import pandas as pd

from docktally.analytics.report import Report
from docktally.analytics.stops import ADVICE
from docktally.reports import humane
from docktally.reports.safe_text import visible

NO_DATA = "no data: the database holds no container events for this window"


# The report's formats share the one formatting module (the dashboard uses it too).
fmt_duration = humane.duration
fmt_percent = humane.percent
fmt_counts = humane.counts
fmt_rate = humane.rate


def display_rows(report: Report, frame: pd.DataFrame | None = None) -> pd.DataFrame:
    """Human-readable columns for table, Markdown and HTML."""
    g = report.groups if frame is None else frame
    out = pd.DataFrame(index=g.index)
    if "period_start_ns" in g.columns:
        fmt = humane.when if report.every == "hour" else humane.day
        out["Period"] = [fmt(v) for v in g["period_start_ns"]]
    for c in report.key_columns:
        if c == "container_id":
            continue
        out[humane.header(c)] = g[c].astype(str)
    out["Availability"] = [fmt_percent(v) for v in g["availability"]]
    out["Uptime"] = [fmt_duration(v) for v in g["uptime_s"]]
    out["Downtime"] = [fmt_duration(v) for v in g["downtime_s"]]
    out["Planned"] = [fmt_duration(v) for v in g["planned_s"]]
    out["Unknown"] = [fmt_duration(v) for v in g["unknown_s"]]
    out["Failures"] = g["failures"].astype(int).astype(str)
    out["Restarts"] = g["restarts"].astype(int).astype(str)
    out["MTBF"] = [fmt_duration(v) for v in g["mtbf_s"]]
    out["MTBF 90% CI"] = [
        f"{fmt_duration(lo)}..{fmt_duration(hi) if hi == hi and hi is not None else '∞'}"
        for lo, hi in zip(g["mtbf_ci90_low_s"], g["mtbf_ci90_high_s"], strict=True)
    ]
    out["MTTR"] = [fmt_duration(v) for v in g["mttr_s"]]
    out["OOM kills"] = g["oom_kills"].astype(int).astype(str)
    out["Exit codes"] = [fmt_counts(v) for v in g["exit_codes"]]
    if report.slo is not None and "budget_left_s" in g.columns:
        out["Budget left"] = [
            ("-" if v < 0 else "") + fmt_duration(abs(v)) for v in g["budget_left_s"]
        ]
        out["Burn 1h"] = [fmt_rate(v) for v in g["burn_rate_1h"]]
        out["Burn 6h"] = [fmt_rate(v) for v in g["burn_rate_6h"]]
        out["Burn 3d"] = [fmt_rate(v) for v in g["burn_rate_3d"]]
        out["Alert"] = [v or "" for v in g["slo_alert"]]
    return out.reset_index(drop=True)


def text_table(df: pd.DataFrame) -> str:
    cols = [visible(c) for c in df.columns]
    rows = [[visible(v) for v in r] for r in df.itertuples(index=False)]
    widths = [max([len(c), *(len(r[i]) for r in rows)]) for i, c in enumerate(cols)]
    line = "  ".join(c.ljust(w) for c, w in zip(cols, widths, strict=True))
    sep = "  ".join("-" * w for w in widths)
    body = ["  ".join(v.ljust(w) for v, w in zip(r, widths, strict=True)) for r in rows]
    return "\n".join([line.rstrip(), sep, *(b.rstrip() for b in body)])


def header_lines(report: Report) -> list[str]:
    w = report.window
    lines = [
        f"Uptime report by {report.by}: "
        f"{humane.when(w.start_ns, seconds=True)} to {humane.when(w.end_ns, seconds=True)}"
    ]
    if report.slo is not None:
        lines.append(f"SLO target: {report.slo:g}% availability")
    return lines


FORCED_STOPS_TITLE = "Stops that needed a SIGKILL"


def forced_stop_rows(report: Report) -> pd.DataFrame:
    """The groups with a stop that needed a SIGKILL, for people: how many stops, how many of
    them were forced, how long stops took (SIGTERM to exit)."""
    g = report.groups[report.groups["forced_stops"] > 0]
    out = pd.DataFrame(index=g.index)
    for c in report.key_columns:
        if c != "container_id":
            out[humane.header(c)] = g[c].astype(str)
    out["Stops"] = g["stops"].astype(int).astype(str)
    out["Needed SIGKILL"] = g["forced_stops"].astype(int).astype(str)
    out["Stop (mean)"] = [humane.duration(v) for v in g["stop_mean_s"]]
    out["Stop (longest)"] = [humane.duration(v) for v in g["stop_max_s"]]
    return out.reset_index(drop=True)


def time_by_class_rows(report: Report) -> pd.DataFrame:
    items = [(k, v) for k, v in report.time_by_class_s.items() if v > 0 or "planned" not in k]
    return pd.DataFrame(
        {
            "Class": [humane.time_class(k) for k, _ in items],
            "Time": [fmt_duration(v) for _, v in items],
            "What it is": [humane.time_class_meaning(k) for k, _ in items],
        }
    )


# With --slo the terminal table trades these for the budget and burn-rate columns, to fit a
# terminal (it was ~230 characters wide); JSON, CSV, Markdown and HTML keep every column.
SLO_TERMINAL_DROPS = ("MTBF 90% CI", "Planned", "Unknown", "OOM kills", "Exit codes")


def _terminal_rows(report: Report, frame: pd.DataFrame | None = None) -> pd.DataFrame:
    rows = display_rows(report, frame)
    if report.slo is None:
        return rows
    return rows.drop(columns=[c for c in SLO_TERMINAL_DROPS if c in rows.columns])


def render_table(report: Report) -> str:
    lines = header_lines(report)
    if report.empty:
        return "\n".join([*lines, "", NO_DATA]) + "\n"
    lines += ["", text_table(_terminal_rows(report))]
    if report.slo is not None:
        lines.append(
            "(MTBF 90% CI, planned, unknown, OOM kills and exit codes: in --format json, csv, "
            "markdown or html)"
        )
    f = report.fleet
    lines += [
        "",
        f"Fleet: {humane.plural(int(f.get('containers', 0)), 'container')}, availability "
        f"{fmt_percent(f.get('availability'))}, "
        f"{humane.plural(int(f.get('failures', 0)), 'failure')}, "
        f"MTTR {fmt_duration(f.get('mttr_s'))}",
        "",
        "Time by class (container time):",
        text_table(time_by_class_rows(report)),
    ]
    forced = forced_stop_rows(report)
    if len(forced):
        lines += ["", f"{FORCED_STOPS_TITLE}:", textwrap.fill(ADVICE, 100), "", text_table(forced)]
    if report.breakdown is not None:
        lines += [
            "",
            f"Per {report.every}:",
            text_table(_terminal_rows(report, report.breakdown)),
        ]
    return "\n".join(lines) + "\n"
