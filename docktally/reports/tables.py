"""The uptime report as rows of display strings, and as an aligned text table."""

from __future__ import annotations

import math
from typing import Any

import pandas as pd

from docktally.analytics.report import Report
from docktally.reports.safe_text import visible
from docktally.timespec import ns_to_iso

NO_DATA = "no data: the database holds no container events for this window"


def fmt_duration(seconds: Any) -> str:
    """Seconds -> `3d 4h`, `12m 5s`, `0.4s`; '-' for none."""
    if seconds is None or (isinstance(seconds, float) and math.isnan(seconds)):
        return "-"
    s = float(seconds)
    if s < 10:
        return f"{s:.1f}s"
    s = round(s)
    d, rem = divmod(s, 86400)
    h, rem = divmod(rem, 3600)
    m, sec = divmod(rem, 60)
    if d:
        return f"{d}d {h}h"
    if h:
        return f"{h}h {m}m"
    if m:
        return f"{m}m {sec}s"
    return f"{sec}s"


def fmt_percent(ratio: Any, digits: int = 3) -> str:
    if ratio is None or (isinstance(ratio, float) and math.isnan(ratio)):
        return "-"
    return f"{100 * float(ratio):.{digits}f}%"


def fmt_counts(counts: dict[str, int]) -> str:
    return " ".join(f"{k}×{v}" for k, v in sorted(counts.items(), key=lambda kv: -kv[1])) or "-"


def fmt_rate(v: Any) -> str:
    if v is None or (isinstance(v, float) and math.isnan(v)):
        return "-"
    return f"{float(v):.2f}x"


def display_rows(report: Report, frame: pd.DataFrame | None = None) -> pd.DataFrame:
    """Human-readable columns for table, Markdown and HTML."""
    g = report.groups if frame is None else frame
    out = pd.DataFrame(index=g.index)
    if "period_start_ns" in g.columns:
        out["period"] = [ns_to_iso(int(v))[:10] for v in g["period_start_ns"]]
    for c in report.key_columns:
        if c == "container_id":
            continue
        out[c] = g[c].astype(str)
    out["availability"] = [fmt_percent(v) for v in g["availability"]]
    out["uptime"] = [fmt_duration(v) for v in g["uptime_s"]]
    out["downtime"] = [fmt_duration(v) for v in g["downtime_s"]]
    out["planned"] = [fmt_duration(v) for v in g["planned_s"]]
    out["unknown"] = [fmt_duration(v) for v in g["unknown_s"]]
    out["failures"] = g["failures"].astype(int).astype(str)
    out["restarts"] = g["restarts"].astype(int).astype(str)
    out["MTBF"] = [fmt_duration(v) for v in g["mtbf_s"]]
    out["MTBF 90% CI"] = [
        f"{fmt_duration(lo)}..{fmt_duration(hi) if hi == hi and hi is not None else '∞'}"
        for lo, hi in zip(g["mtbf_ci90_low_s"], g["mtbf_ci90_high_s"], strict=True)
    ]
    out["MTTR"] = [fmt_duration(v) for v in g["mttr_s"]]
    out["OOM"] = g["oom_kills"].astype(int).astype(str)
    out["exit codes"] = [fmt_counts(v) for v in g["exit_codes"]]
    if report.slo is not None and "budget_left_s" in g.columns:
        out["budget left"] = [
            ("-" if v < 0 else "") + fmt_duration(abs(v)) for v in g["budget_left_s"]
        ]
        out["burn 1h"] = [fmt_rate(v) for v in g["burn_rate_1h"]]
        out["burn 6h"] = [fmt_rate(v) for v in g["burn_rate_6h"]]
        out["burn 3d"] = [fmt_rate(v) for v in g["burn_rate_3d"]]
        out["alert"] = [v or "" for v in g["slo_alert"]]
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
    lines = [f"Uptime report by {report.by}: {ns_to_iso(w.start_ns)} .. {ns_to_iso(w.end_ns)}"]
    if report.slo is not None:
        lines.append(f"SLO target: {report.slo:g}% availability")
    return lines


def time_by_class_rows(report: Report) -> pd.DataFrame:
    items = [(k, v) for k, v in report.time_by_class_s.items() if v > 0 or "planned" not in k]
    return pd.DataFrame(
        {"class": [k for k, _ in items], "time": [fmt_duration(v) for _, v in items]}
    )


def render_table(report: Report) -> str:
    lines = header_lines(report)
    if report.empty:
        return "\n".join([*lines, "", NO_DATA]) + "\n"
    lines += ["", text_table(display_rows(report))]
    f = report.fleet
    lines += [
        "",
        f"Fleet: {f.get('containers', 0)} containers, availability "
        f"{fmt_percent(f.get('availability'))}, {f.get('failures', 0)} failures, "
        f"MTTR {fmt_duration(f.get('mttr_s'))}",
        "",
        "Time by class (container time):",
        text_table(time_by_class_rows(report)),
    ]
    if report.breakdown is not None:
        lines += ["", f"Per {report.every}:", text_table(display_rows(report, report.breakdown))]
    return "\n".join(lines) + "\n"
