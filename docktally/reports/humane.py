"""Numbers as a person reads them: `2h 14m`, `2026-12-06 14:05 UTC`, `99.812%`, headers in
words. One module for the terminal table, Markdown, HTML and the dashboard, so the same value
looks the same everywhere. Pure: formatting only, no computation."""

from __future__ import annotations

import math
from datetime import UTC, datetime
from typing import Any

import pandas as pd

# Column names in frames -> what a table's header says.
HEADERS = {
    "name": "Container",
    "container": "Container",
    "container_id": "Container ID",
    "host": "Host",
    "image": "Image",
    "compose_project": "Project",
    "compose_service": "Service",
    "service": "Service",
    "project": "Project",
    "restart_policy": "Restart policy",
    "policy": "Restart policy",
    "availability": "Availability",
    "uptime_s": "Up",
    "downtime_s": "Down",
    "planned_s": "Planned",  # as the Timeline's legend and the report's time classes say
    "unknown_s": "Not watched",
    "failures": "Failures",
    "restarts": "Restarts",
    "mtbf_s": "MTBF",
    "mttr_s": "MTTR",
    "oom_kills": "OOM kills",
    "exit_codes": "Exit codes",
    "state": "State",
    "cause": "Cause",
    "since": "Since",
    "start": "Start",
    "end": "End",
    "open": "Open",
    "crash_loop": "Crash loop",
    "causes": "Causes",
    "key": "Affected",
    "id": "Incident",
    "time": "Time",
    "exit_code": "Exit code",
    "meaning": "Meaning",
    "count": "Count",
    "budget_left_s": "SLO budget left",
    "time_ns": "Time",
    "start_ns": "Start",
    "end_ns": "End",
    "recovered_ns": "Recovered",
    "heartbeat_ns": "Last heartbeat",
    "ttr_s": "Time to recover",
    "rel_s": "After first failure",
    "engine_url": "Engine",
    "run_label": "Run",
    # Coverage: "watched" as the Overview's "Not watched" and the Fleet page say it.
    "covered_s": "Watched",
    "covered_pct": "Share watched",
    "uncovered_s": "Not watched",
    "watched_ratio": "Share watched",
}


# The report's time classes (time_by_class_s keys) as words, and what each one is
# (docs/report-json.md says the same).
TIME_CLASSES = {
    "up": ("Up", "running (and healthy, with a health check): uptime"),
    "unhealthy": ("Unhealthy", "running, its health check failing: downtime"),
    "down": ("Down", "stopped by a failure nobody asked for: downtime"),
    "unknown": ("Unknown", "nobody watched and nothing proves a state: neither"),
    "planned:user_stop": ("Planned: stopped by a person", "docker stop or docker kill"),
    "planned:clean_exit": ("Planned: job finished", "exit 0 under restart policy no or on-failure"),
    "planned:paused": ("Planned: paused", "docker pause"),
    "planned:created": ("Planned: created, not started", "after docker create, before its start"),
    "planned:maintenance": ("Planned: maintenance", "inside a declared maintenance window"),
    "planned:deploy": ("Planned: deploy", "inside a declared deploy window"),
    "planned:redeploy": (
        "Planned: redeploy",
        "stopped to be replaced by another container of its service",
    ),
}
# Causes of downtime (downtime_by_cause_s keys) as words.
DOWNTIME_CAUSES = {
    "crash": "crash (exit code not 0)",
    "oom": "out of memory",
    "clean_exit": "exit 0 under restart policy always",
    "start_failure": "failed to start",
    "engine_restart": "engine restart",
    "unhealthy": "health check failing",
}


def time_class(key: str) -> str:
    """`planned:user_stop` -> `Planned: stopped by a person`; an unknown one made readable."""
    if key in TIME_CLASSES:
        return TIME_CLASSES[key][0]
    state, _, cause = key.partition(":")
    words = f"{state}: {cause}" if cause else state
    return words[:1].upper() + words[1:].replace("_", " ")


def time_class_meaning(key: str) -> str:
    return TIME_CLASSES[key][1] if key in TIME_CLASSES else ""


def downtime_cause(key: str) -> str:
    """`crash` -> `Down: crash (exit code not 0)`."""
    return "Down: " + DOWNTIME_CAUSES.get(key, key.replace("_", " "))


def header(column: str) -> str:
    """The words for a frame column (`mttr_s` -> `MTTR`); unknown ones made readable."""
    if column in HEADERS:
        return HEADERS[column]
    words = column.removesuffix("_s").removesuffix("_ns").replace("_", " ")
    return words[:1].upper() + words[1:]


def _missing(v: Any) -> bool:
    # pandas' NA and NaT (nullable columns) are neither None nor a float NaN.
    return v is None or v is pd.NA or v is pd.NaT or (isinstance(v, float) and math.isnan(v))


def duration(seconds: Any) -> str:
    """Seconds -> `3d 4h`, `2h 14m`, `12m 5s`, `8s`, `2.5s`, `0.31s`, `45ms`; '-' for none.
    Under a second two digits stay: a crash loop's restarts take 0.1 to 0.9 s."""
    if _missing(seconds):
        return "-"
    s = float(seconds)
    if s == 0:
        return "0s"
    if abs(s) < 0.1:
        return f"{1000 * s:.0f}ms"
    if abs(s) < 1:
        return f"{s:.2g}s"
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


def percent(ratio: Any, digits: int = 3) -> str:
    """A ratio (0.998) as `99.800%`; '-' for none."""
    if _missing(ratio):
        return "-"
    return f"{100 * float(ratio):.{digits}f}%"


def when(ns: Any, *, seconds: bool = False, zone: bool = True) -> str:
    """Epoch nanoseconds as a UTC date and 24-hour time: `2026-12-06 14:05 UTC`; `zone=False`
    leaves out ` UTC` (for a column whose header says it)."""
    if _missing(ns):
        return "-"
    t = datetime.fromtimestamp(int(ns) / 1e9, UTC)
    return t.strftime("%Y-%m-%d %H:%M:%S" if seconds else "%Y-%m-%d %H:%M") + (
        " UTC" if zone else ""
    )


def instant(ns: Any, *, zone: bool = True) -> str:
    """Epoch nanoseconds to the millisecond, `2026-12-05 10:11:12.123 UTC`: a crash loop's
    events are 100 ms apart. Truncated, not rounded, so times keep their order. `zone=False`
    leaves out ` UTC` (for a column whose header says it)."""
    if _missing(ns):
        return "-"
    secs, rest = divmod(int(ns), 1_000_000_000)
    t = datetime.fromtimestamp(secs, UTC).strftime("%Y-%m-%d %H:%M:%S")
    return f"{t}.{rest // 1_000_000:03d}" + (" UTC" if zone else "")


def offset(seconds: Any) -> str:
    """Seconds relative to a moment, signed: `+0.623s`, `-12.500s` to the millisecond under a
    minute, `+4m 12s` beyond."""
    if _missing(seconds):
        return "-"
    s = float(seconds)
    if abs(s) < 60:
        return f"{s:+.3f}s"
    return ("-" if s < 0 else "+") + duration(abs(s))


def day(ns: Any) -> str:
    """Epoch nanoseconds as the UTC date: `2026-12-06`."""
    if _missing(ns):
        return "-"
    return datetime.fromtimestamp(int(ns) / 1e9, UTC).strftime("%Y-%m-%d")


def counts(c: dict[Any, int]) -> str:
    """{"137": 3, "1": 1} -> `137×3 1×1`, most first."""
    return " ".join(f"{k}×{v}" for k, v in sorted(c.items(), key=lambda kv: -kv[1])) or "-"


def rate(v: Any) -> str:
    if _missing(v):
        return "-"
    return f"{float(v):.2f}x"


def plural(n: int, word: str, many: str | None = None) -> str:
    """`1 container`, `3 containers`."""
    return f"{n:,} {word if n == 1 else (many or word + 's')}"


def short_id(container_id: Any) -> str:
    """A container id the way `docker ps` shows it."""
    return str(container_id)[:12]
