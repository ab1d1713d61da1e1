"""What a notification says: a title and a plain-text body from a Decision.

Pure. Names, labels and log lines are the containers' own text: they are sent as plain text
(never HTML or Markdown), with control characters shown as escapes so that a terminal or a
chat client shows them instead of obeying them.
"""

from __future__ import annotations

from dataclasses import dataclass

from docktally.alerts.engine import FIRING, REMINDER, RESOLVED, Decision, Incident
from docktally.reports.safe_text import visible
from docktally.timespec import ns_to_iso

NS_PER_S = 1_000_000_000
TITLE_MAX = 200
LINE_MAX = 500


@dataclass(frozen=True)
class Message:
    title: str
    body: str
    # Apprise's notify types: failure | warning | info | success.
    notify_type: str


def plain(text: object, limit: int = LINE_MAX) -> str:
    """Text as text (control characters written visibly, as every output does), one line,
    bounded."""
    out = visible(text)
    return out if len(out) <= limit else out[: limit - 1] + "…"


def seconds(ns: int) -> str:
    s = ns / NS_PER_S
    if s < 120:
        return f"{s:.1f} s"
    if s < 7200:
        return f"{s / 60:.1f} min"
    return f"{s / 3600:.1f} h"


def incident_link(dashboard: str | None, incident_id: str) -> str | None:
    return f"{dashboard}/incidents?incident={incident_id}" if dashboard else None


def render(d: Decision, dashboard: str | None = None) -> Message:
    what = {
        FIRING: "",
        RESOLVED: "RESOLVED ",
        REMINDER: "STILL OPEN ",
    }[d.kind]
    about = "" if d.rule.kind == "engine_restart" else f": {d.key}"
    title = plain(f"[{what}{d.rule.severity.upper()}] {d.rule.name}{about} on {d.host}")
    lines = [f"rule: {plain(d.rule.name)} ({d.rule.kind}, severity {d.rule.severity})"]
    if d.incident is not None and d.rule.kind == "engine_restart":
        lines += _engine_lines(d.incident, d, dashboard)
    elif d.incident is not None:
        lines += _incident_lines(d.incident, d, dashboard)
    elif d.burn_rate is not None:
        lines += _burn_lines(d)
    if d.kind == RESOLVED and d.fired_ns is not None:
        lines.append(f"alert open for: {seconds(d.time_ns - d.fired_ns)}")
    if d.kind == REMINDER:
        lines.append(f"reminder #{d.reminders}")
    ntype = "success" if d.kind == RESOLVED else {"critical": "failure"}.get(d.rule.severity, "")
    return Message(title[:TITLE_MAX], "\n".join(lines), ntype or d.rule.severity)


def _incident_lines(inc: Incident, d: Decision, dashboard: str | None) -> list[str]:
    fs = inc.failures
    last = fs[-1]
    lines = []
    if inc.service:
        lines.append(f"service: {plain(inc.service)}")
    lines.append(f"container: {plain(', '.join(inc.names) or inc.key)}")
    lines.append(f"host: {plain(inc.host)}")
    causes: dict[str, int] = {}
    for f in fs:
        causes[f.cause] = causes.get(f.cause, 0) + 1
    lines.append("cause: " + ", ".join(f"{c} x{n}" for c, n in causes.items()))
    if last.exit_code is not None:
        meaning = inc.exit_meanings.get(last.exit_code)
        lines.append(f"exit code: {last.exit_code}" + (f" ({plain(meaning)})" if meaning else ""))
    restarts = sum(1 for f in fs if f.recovered_ns is not None)
    lines.append(f"failures: {len(fs)}, restarts so far: {restarts}")
    if inc.policy:
        lines.append(f"restart policy: {plain(inc.policy)}")
    gaps = [f.recovered_ns - f.time_ns for f in fs if f.recovered_ns is not None]
    if gaps and d.kind != RESOLVED:
        lines.append(f"back-off: back up {seconds(gaps[-1])} after the last failure")
    elif d.kind != RESOLVED and last.recovered_ns is None:
        lines.append(f"back-off: down for {seconds(max(0, d.time_ns - last.time_ns))}, not back")
    if inc.last_log_line:
        lines.append(f"last log line: {plain(inc.last_log_line)}")
    lines.append(f"started: {ns_to_iso(inc.start_ns)}")
    if d.kind == RESOLVED and inc.end_ns is not None:
        lines.append(f"recovered: {ns_to_iso(inc.end_ns)} ({seconds(inc.end_ns - inc.start_ns)})")
    link = incident_link(dashboard, inc.id)
    lines.append(f"incident: {inc.id}" + (f" {link}" if link else ""))
    return lines


def _engine_lines(inc: Incident, d: Decision, dashboard: str | None) -> list[str]:
    names = list(inc.names)
    shown = ", ".join(plain(n, 80) for n in names[:20])
    more = f" and {len(names) - 20} more" if len(names) > 20 else ""
    back = sum(1 for f in inc.failures if f.recovered_ns is not None)
    lines = [
        f"host: {plain(inc.host)}",
        "cause: engine_restart (the Docker engine went down under its containers)",
        f"containers taken down: {len(names)}: {shown}{more}",
        f"back up so far: {back} of {len(inc.failures)}",
        f"started: {ns_to_iso(inc.start_ns)}",
    ]
    if d.kind == RESOLVED and inc.end_ns is not None:
        lines.append(f"recovered: {ns_to_iso(inc.end_ns)} ({seconds(inc.end_ns - inc.start_ns)})")
    link = incident_link(dashboard, inc.id)
    lines.append(f"incident: {inc.id}" + (f" {link}" if link else ""))
    return lines


def _burn_lines(d: Decision) -> list[str]:
    rule = d.rule
    budget_pct = (1 - rule.slo_ratio) * 100
    return [
        f"container or service: {plain(d.key)}",
        f"host: {plain(d.host)}",
        f"burn rate: {d.burn_rate:.1f}x over the last {seconds(rule.window_ns)} "
        f"(threshold {rule.burn_rate:g}x of a {budget_pct:g}% error budget, "
        f"SLO {rule.slo_ratio:.3%})",
    ]
