"""One incident as a postmortem draft: Markdown, or self-contained HTML with a timeline figure.

Rendering only: the numbers come from analytics.incidents (timeline, recovery breakdown).
Every name, label and log line goes through html.escape in HTML and reports.safe_text in
Markdown and the figure's labels; the figure is built with
matplotlib.figure.Figure (never pyplot: this may run inside a server) and embedded as SVG.
"""

from __future__ import annotations

import base64
import html
import io
from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

import pandas as pd

from docktally.analytics.backoff import retries_exhausted
from docktally.analytics.incidents import (
    DEFAULT_BUDGET_PERIOD_S,
    incident_failures,
    incident_timeline,
    recovery_breakdown,
)
from docktally.analytics.model import Window
from docktally.analytics.policies import classify_recoveries
from docktally.analytics.states import exit_code_meaning, signal_name
from docktally.analytics.stops import ADVICE, find_stops, stop_summary
from docktally.reports import humane
from docktally.reports.postmortem_incidents import incident_dicts, period_text
from docktally.reports.safe_text import NAME_CSS, chart_label, html_name
from docktally.reports.safe_text import markdown as _md
from docktally.timespec import parse_rfc3339_ns

if TYPE_CHECKING:
    from matplotlib.figure import Figure

NS_PER_S = 1_000_000_000
# Log tails captured this long before the first failure are shown too.
LOG_LEAD_NS = 60 * NS_PER_S
LOG_LINES = 20  # per failure


@dataclass
class LogTail:
    container: str
    die_time_ns: int
    lines: list[str]
    truncated: bool


@dataclass
class HealthProbe:
    """A failed health-check probe, as the engine kept it (store.reads.load_health_probes)."""

    container: str
    start_ns: int
    exit_code: int | None
    output: str


@dataclass
class Postmortem:
    incident: dict[str, Any]  # from reports.postmortem_incidents.incident_dicts
    timeline: pd.DataFrame  # analytics.incidents.TIMELINE_COLUMNS
    breakdown: dict[str, Any]  # analytics.incidents.recovery_breakdown
    # (container, rel start s, rel end s or None while down at the end, "down" | "unhealthy")
    down_spans: list[tuple[str, float, float | None, str]]
    window_end_rel_s: float  # "now": where an open incident is drawn to
    # Each container's log lines, each line once (a tail read after each die repeats the lines
    # of the tails before it).
    logs: list[LogTail] = field(default_factory=list)
    related: list[dict[str, Any]] = field(default_factory=list)
    budget_period_s: float = DEFAULT_BUDGET_PERIOD_S
    slo_percent: float | None = None
    stops: pd.DataFrame | None = None  # analytics.stops.stop_summary of its containers
    gave_up: str | None = None  # why the restart policy stopped restarting, if it did
    probes: list[HealthProbe] = field(default_factory=list)  # failed ones, oldest first


_s = humane.duration
_at = humane.instant


def _summary_lines(pm: Postmortem) -> list[tuple[str, str]]:
    inc = pm.incident
    codes = ", ".join(
        f"{c} ({inc['exit_meanings'].get(c, '')}) x{n}"
        for c, n in sorted(inc["exit_codes"].items())
    )
    causes = ", ".join(f"{c} x{n}" for c, n in sorted(inc["causes"].items()))
    budget = inc["slo_budget_spent_ratio"]
    period = period_text(pm.budget_period_s)
    target = f" at {pm.slo_percent:g}%" if pm.slo_percent is not None else ""
    subject = {"container": "Container", "service": "Service", "engine": "What"}
    return [
        ("Incident", inc["id"]),
        ("Host", str(inc["host"])),
        (subject.get(str(inc["scope"]), "Subject"), _subject(inc)),
        *_engine_lines(inc),
        # (a container's own incident names it once, above)
        *(
            [("Containers", ", ".join(inc["containers"]) or "-")]
            if inc["scope"] != "container"
            else []
        ),
        ("Restart policy", str(inc["policy"] or "-")),
        *([("Restart policy gave up", pm.gave_up)] if pm.gave_up else []),
        ("Start", _at(inc["start_ns"])),
        ("End", _at(inc["end_ns"]) if inc["end_ns"] is not None else "still open (drawn to now)"),
        (
            "Incident duration (first failure to last recovery)",
            _s(inc["time_to_recover_s"]) if not inc["open"] else "still open",
        ),
        ("Downtime (down or unhealthy within it)", _s(inc["downtime_s"])),
        ("Failures", str(inc["failures"])),
        ("Restarts", str(inc["restarts"])),
        ("Crash loop", "yes" if inc["crash_loop"] else "no"),
        ("Causes", causes or "-"),
        ("Exit codes", codes or "-"),
        *(
            [("Health check said (last failed probe)", probe_text(pm.probes[-1]))]
            if pm.probes
            else []
        ),
        (
            "SLO budget spent",
            "-" if budget is None else f"{100 * budget:.1f}% of the {period} error budget{target}",
        ),
    ]


def _subject(inc: dict[str, Any]) -> str:
    eng = inc.get("engine_restart")
    if not eng:
        return str(inc["key"])
    return (
        f"The Docker engine on {inc['host']} restarted and took "
        f"{len(inc['containers'])} running container(s) down with it"
    )


def _engine_lines(inc: dict[str, Any]) -> list[tuple[str, str]]:
    """What the engine did: when it stopped and came back, and what became of each container."""
    eng = inc.get("engine_restart")
    if not eng:
        return []
    how = (
        "the first container its shutdown took down"
        if eng["watched"]
        else "the first container its shutdown took down, from inspect: no collector watched"
    )
    back = _at(eng.get("back_ns"))
    stream = (
        [("Engine's event stream ended", _at(eng["stream_end_ns"]))]
        if eng.get("stream_end_ns") is not None
        else []
    )
    return [
        ("Engine went down", f"{_at(eng['stopped_ns'])} ({how})"),
        *stream,
        ("Engine back", f"{back} (the restarted engine's first event)"),
        ("Engine down", _s(eng["down_s"])),
        ("Came back by themselves (restart policy)", ", ".join(eng["came_back"]) or "none"),
        ("Started by hand", ", ".join(eng["started_by_hand"]) or "none"),
        ("Stayed down", ", ".join(eng["stayed_down"]) or "none"),
    ]


_OUTCOME = {
    "came_back": "started again by the engine (restart policy)",
    "started_by_hand": "started by hand",
    "stayed_down": "still down at the end of the window",
}


def _engine_rows(inc: dict[str, Any]) -> list[tuple[str, str, str, str, str, str]]:
    """One row per container the engine restart took down."""
    eng = inc.get("engine_restart")
    if not eng:
        return []
    return [
        (
            str(m["name"]),
            str(m["policy"]),
            "-" if m["exit_code"] is None else str(m["exit_code"]),
            _at(m["died_ns"]),
            _at(m["back_ns"]),
            f"{_s(m['down_s'])}, {_OUTCOME[m['outcome']]}",
        )
        for m in eng["containers"]
    ]


_ENGINE_HEAD = ("Container", "Policy", "Exit", "Went down", "Back", "Down")


def _no_logs(inc: dict[str, Any]) -> str:
    if inc.get("engine_restart"):
        # The collector reads a log tail after each die; a stopping engine no longer answers.
        return "No log lines were captured: the engine was going down and answered no request."
    return "No log lines were captured for these failures."


def _title(inc: dict[str, Any]) -> str:
    if inc.get("engine_restart"):
        return f"engine restart on {inc['host']}"
    return str(inc["key"])


def _root_cause(inc: dict[str, Any], *, html: bool = False) -> str:
    """What the data says of the root cause, and what a person has to write."""
    if not inc.get("engine_restart"):
        return "To be written." if html else "_To be written._"
    todo = "to be written." if html else "_to be written._"
    return (
        f"The Docker engine (dockerd) on {inc['host']} stopped and started again "
        "(`systemctl restart docker`, an engine upgrade, or a host reboot): every running "
        f"container went down with it, whatever its code did. Why the engine restarted: {todo}"
    )


def _breakdown_lines(pm: Postmortem) -> list[tuple[str, str]]:
    b = pm.breakdown
    n = b["recovered"] or 1
    return [
        ("Recoveries", str(b["recovered"])),
        ("MTTR (mean time to recover one failure)", _s(b["mttr_s"])),
        ("Waiting in the engine's back-off (mean)", _s(b["backoff_wait_s"] / n)),
        ("Waiting for a person / the engine to return (mean)", _s(b["manual_wait_s"] / n)),
        ("Starting (mean)", _s(b["start_s"] / n)),
        ("Becoming healthy (mean)", _s(b["to_healthy_s"] / n)),
    ]


def _timeline_rows(pm: Postmortem) -> list[tuple[str, str, str, str, str]]:
    """The events and the captured log lines in one list, by time."""
    t0 = int(pm.incident["start_ns"])
    rows: list[tuple[int, int, tuple[str, str, str, str, str]]] = []
    for i, (_, r) in enumerate(pm.timeline.iterrows()):
        t = int(r["time_ns"])
        rows.append(
            (
                t,
                i,
                (
                    _at(t, zone=False),
                    humane.offset(r["rel_s"]),
                    str(r["name"]),
                    str(r["what"]).replace("_", " "),  # health_status: an event, in words
                    str(r["detail"]),
                ),
            )
        )
    for p in pm.probes:
        rel = humane.offset((p.start_ns - t0) / NS_PER_S)
        row = (_at(p.start_ns, zone=False), rel, p.container, PROBE, probe_text(p))
        rows.append((p.start_ns, -1, row))
    for tail in pm.logs:
        for ln in tail.lines:
            t, text = _log_time(ln, tail.die_time_ns)
            rel = humane.offset((t - t0) / NS_PER_S)
            row = (_at(t, zone=False), rel, tail.container, "log", text)
            rows.append((t, -1, row))  # a line logged at a die's instant comes before it
    rows.sort(key=lambda r: (r[0], r[1]))
    return [r[2] for r in rows]


PROBE = "health check"  # the timeline's name of a failed probe


def probe_text(p: HealthProbe) -> str:
    """`exit 1: connection refused`; the output's lines joined (a table cell holds one)."""
    lines = [ln.strip() for ln in p.output.strip().split("\n") if ln.strip()]
    code = "exit ?" if p.exit_code is None else f"exit {p.exit_code}"
    return f"{code}: {' / '.join(lines)}" if lines else f"{code}, no output"


def _log_time(line: str, fallback_ns: int) -> tuple[int, str]:
    """A captured line's engine timestamp and its text; a line without one sits at its die."""
    stamp, _, rest = line.partition(" ")
    try:
        t = parse_rfc3339_ns(stamp)
    except ValueError:
        t = None
    return (fallback_ns, line) if t is None else (t, rest)


def _stop_rows(pm: Postmortem) -> list[tuple[str, str, str, str, str]]:
    if pm.stops is None:
        return []
    return [
        (
            str(r["name"]),
            str(int(r["stops"])),
            str(int(r["forced_stops"])),
            _s(None if pd.isna(r["mean_s"]) else float(r["mean_s"])),
            _s(None if pd.isna(r["max_s"]) else float(r["max_s"])),
        )
        for _, r in pm.stops.iterrows()
        if int(r["forced_stops"]) > 0
    ]


_STOP_HEAD = ("Container", "Stops", "Needed SIGKILL", "Forced stop (mean)", "Forced stop (longest)")
_TIMELINE_NOTE = (
    "Relative times are from the first failure. Events, the captured log lines (each line "
    "once, at the time the engine logged it) and the failed health-check probes (their output, "
    "as the engine kept it) are in one list."
)


def render_markdown(pm: Postmortem) -> str:
    inc = pm.incident
    md: list[str] = [
        f"# Postmortem: {_md(_title(inc))} ({_md(inc['id'])})",
        "",
        "## Summary and impact",
        "",
    ]
    md += ["| | |", "|---|---|"]
    md += [f"| {k} | {_md(v)} |" for k, v in _summary_lines(pm)]
    if _engine_rows(inc):
        md += ["", "## Containers the engine restart took down", ""]
        md += [f"| {' | '.join(_ENGINE_HEAD)} |", "|---|---|---|---|---|---|"]
        md += [f"| {' | '.join(_md(c) for c in row)} |" for row in _engine_rows(inc)]
    md += ["", "## Timeline", "", _TIMELINE_NOTE, ""]
    if not pm.logs:
        md += [_no_logs(inc), ""]
    md += ["| Time (UTC) | Relative | Container | Event | Detail |", "|---|---|---|---|---|"]
    md += [f"| {' | '.join(_md(c) for c in row)} |" for row in _timeline_rows(pm)]
    md += ["", "## Time to recover", ""]
    md += ["| | |", "|---|---|"] + [f"| {k} | {v} |" for k, v in _breakdown_lines(pm)]
    if _stop_rows(pm):
        md += ["", "## Stops that needed a SIGKILL", "", ADVICE, ""]
        md += [f"| {' | '.join(_STOP_HEAD)} |", "|---|---|---|---|---|"]
        md += [f"| {' | '.join(_md(c) for c in row)} |" for row in _stop_rows(pm)]
    md += ["", "## Related incidents", ""]
    if pm.related:
        md += ["Other incidents on the same host at the same time:", ""]
        md += [
            f"- {_md(r['id'])}: {_md(r['key'])} from {_at(r['start_ns'])} "
            f"({_md(', '.join(sorted(r['causes'])))})"
            for r in pm.related
        ]
    else:
        md += ["None on the same host at the same time."]
    md += [
        "",
        "## Root cause",
        "",
        _root_cause(inc),
        "",
        "## Action items",
        "",
        "- [ ] ",
        "",
    ]
    return "\n".join(md)


def timeline_figure(pm: Postmortem) -> Figure:
    """Containers as rows: down in red, unhealthy in amber, up in green, events as markers; an
    incident still open is drawn to now (a dashed line). When now is far past the events (a
    crash loop's seconds in an hour still open), a second panel shows the events up close."""
    # Imported on use: matplotlib costs about a second, and only HTML needs it.
    from matplotlib.figure import Figure

    names = list(dict.fromkeys([s[0] for s in pm.down_spans] + list(pm.timeline["name"])))
    rel = list(pm.timeline["rel_s"]) if len(pm.timeline) else []
    t_min = min([0.0, *rel])
    t_last = max([1.0, *rel])
    t_max = max(t_last, pm.window_end_rel_s) if pm.incident["open"] else t_last
    zoom = t_max - t_min > 5 * (t_last - t_min)
    row_h = 1.2 + 0.45 * max(1, len(names))
    fig = Figure(figsize=(10, row_h * (2 if zoom else 1)), layout="constrained")
    axes = fig.subplots(2, 1) if zoom else [fig.add_subplot()]
    _draw_panel(axes[0], pm, names, t_min, t_max, legend=True)
    if zoom:
        pad = 0.05 * (t_last - t_min)
        _draw_panel(
            axes[1], pm, names, t_min, t_max, legend=False, xlim=(t_min - pad, t_last + pad)
        )
        axes[1].set_title("up close: the events", fontsize=9, loc="left")
    return fig


def _draw_panel(
    ax: Any,
    pm: Postmortem,
    names: list[str],
    t_min: float,
    t_max: float,
    *,
    legend: bool,
    xlim: tuple[float, float] | None = None,
) -> None:
    from matplotlib.lines import Line2D
    from matplotlib.patches import Patch

    still_open = bool(pm.incident["open"])
    engine = pm.incident.get("engine_restart")
    t0 = int(pm.incident["start_ns"])
    for i, name in enumerate(names):
        if name == ENGINE_ROW:
            # The engine is no container: only its own down time (stop to return), in grey.
            if engine:
                back = engine["back_ns"]
                lo = (int(engine["stopped_ns"]) - t0) / NS_PER_S
                hi = t_max if back is None else (int(back) - t0) / NS_PER_S
                ax.broken_barh([(lo, hi - lo)], (i - 0.3, 0.6), color=_COLOURS["engine down"])
            continue
        ax.broken_barh([(t_min, t_max - t_min)], (i - 0.3, 0.6), color=_COLOURS["up"])
        for state in ("down", "unhealthy"):
            spans = [
                (lo, (hi if hi is not None else t_max) - lo)
                for c, lo, hi, st in pm.down_spans
                if c == name and st == state
            ]
            ax.broken_barh(spans, (i - 0.3, 0.6), color=_COLOURS[state])
    shown: dict[str, str] = {}
    for _, r in pm.timeline.iterrows():
        what = str(r["what"])
        m = _MARKERS.get(what) or _MARKERS.get(str(r["kind"]))
        if m and r["name"] in names:
            ax.plot([r["rel_s"]], [names.index(r["name"])], marker=m, color="black", ms=7, lw=0)
            shown.setdefault(what if what in _MARKERS else str(r["kind"]), m)
    if still_open and xlim is None:
        ax.axvline(pm.window_end_rel_s, color="#555", ls="--", lw=1)
        ax.annotate(
            "now (still open)",
            (pm.window_end_rel_s, len(names) - 0.5),
            xytext=(-4, 0),  # clear of the dashed line
            textcoords="offset points",
            ha="right",
            va="bottom",
            fontsize=8,
            color="#555",
        )
    ax.set_yticks(range(len(names)), labels=[chart_label(n) for n in names])
    ax.set_ylim(-0.6, len(names) - 0.4 + (0.3 if still_open else 0))
    span = t_max - t_min
    ax.set_xlim(*(xlim or (t_min - 0.02 * span, t_max + 0.02 * span)))
    ax.set_xlabel("seconds from the first failure")
    ax.grid(axis="x", alpha=0.3)
    if not legend:
        return
    states = ["up", "down", "unhealthy", *(["engine down"] if engine else [])]
    handles: list[Any] = [Patch(color=_COLOURS[s], label=s) for s in states]
    labels = {_MARKER_LABELS.get(k, k): m for k, m in shown.items()}
    handles += [Line2D([], [], marker=m, color="black", lw=0, label=k) for k, m in labels.items()]
    ax.legend(
        handles=handles, loc="upper left", bbox_to_anchor=(1.01, 1), fontsize=8, frameon=False
    )


_COLOURS = {"up": "#cfe8cf", "down": "#d9534f", "unhealthy": "#f0ad4e", "engine down": "#777777"}
ENGINE_ROW = "(engine)"  # analytics.incidents' name of the engine's own timeline rows
_MARKERS = {"die": "x", "start": "^", "restart": "^", "recovered": "*", "kill": "|", "oom": "v"}
_MARKER_LABELS = {
    "die": "exit",
    "start": "start / restart",
    "restart": "start / restart",
    "recovered": "recovered",
    "kill": "kill (signal)",
    "oom": "out of memory",
}


def figure_data_uri(fig: Figure) -> str:
    buf = io.BytesIO()
    fig.savefig(buf, format="svg")
    return "data:image/svg+xml;base64," + base64.b64encode(buf.getvalue()).decode("ascii")


_CSS = """
body{font-family:system-ui,sans-serif;max-width:1100px;margin:2em auto;padding:0 1em;color:#222}
table{border-collapse:collapse;margin:.5em 0}td,th{border:1px solid #ccc;padding:.25em .5em;
text-align:left;vertical-align:top}th{background:#f3f3f3}pre{background:#f6f6f6;padding:.5em;
overflow-x:auto}.todo{min-height:4em;border:1px dashed #aaa;padding:.5em;color:#777}
img{max-width:100%}table.timeline td:nth-child(-n+4){white-space:nowrap}
tr.log td{background:#f8f8f8}tr.log td:last-child{font-family:ui-monospace,monospace;
font-size:.9em;color:#333}
"""


def _html_row(cells: tuple[str, ...], *, name_at: int = 0, css: str | None = None) -> str:
    """A table row, escaped; the cell at `name_at` is a container name (kept on one line)."""
    tds = "".join(
        f"<td>{html_name(c) if i == name_at else html.escape(c)}</td>" for i, c in enumerate(cells)
    )
    return (f'<tr class="{css}">' if css else "<tr>") + tds + "</tr>"


def render_html(pm: Postmortem) -> str:
    e = html.escape
    inc = pm.incident
    h: list[str] = [
        "<!DOCTYPE html>",
        '<html lang="en"><head><meta charset="utf-8">',
        f"<title>Postmortem {e(inc['id'])}: {e(_title(inc))}</title>",
        f"<style>{_CSS}{NAME_CSS}</style></head><body>",
        f"<h1>Postmortem: {e(_title(inc))} <small>({e(inc['id'])})</small></h1>",
        "<h2>Summary and impact</h2><table>",
    ]
    h += [f"<tr><th>{e(k)}</th><td>{e(v)}</td></tr>" for k, v in _summary_lines(pm)]
    h.append("</table>")
    if _engine_rows(inc):
        h.append("<h2>Containers the engine restart took down</h2><table><tr>")
        h += [f"<th>{e(c)}</th>" for c in _ENGINE_HEAD]
        h.append("</tr>")
        h += [_html_row(r) for r in _engine_rows(inc)]
        h.append("</table>")
    h += ["<h2>Timeline</h2>"]
    h.append(
        f'<img alt="timeline of {e(str(inc["key"]))}" src="{figure_data_uri(timeline_figure(pm))}">'
    )
    h.append(f"<p>{e(_TIMELINE_NOTE)}</p>")
    if not pm.logs:
        h.append(f"<p>{e(_no_logs(inc))}</p>")
    h += [
        '<table class="timeline"><tr><th>Time (UTC)</th><th>Relative</th><th>Container</th>'
        "<th>Event</th><th>Detail</th></tr>"
    ]
    h += [
        _html_row(row, name_at=2, css="log" if row[3] in ("log", PROBE) else None)
        for row in _timeline_rows(pm)
    ]
    h += ["</table>", "<h2>Time to recover</h2><table>"]
    h += [f"<tr><th>{e(k)}</th><td>{e(v)}</td></tr>" for k, v in _breakdown_lines(pm)]
    h.append("</table>")
    if _stop_rows(pm):
        h += ["<h2>Stops that needed a SIGKILL</h2>", f"<p>{e(ADVICE)}</p><table><tr>"]
        h += [f"<th>{e(c)}</th>" for c in _STOP_HEAD]
        h.append("</tr>")
        h += [_html_row(r) for r in _stop_rows(pm)]
        h.append("</table>")
    h.append("<h2>Related incidents</h2>")
    if pm.related:
        h.append("<ul>")
        h += [
            f"<li>{e(r['id'])}: {html_name(r['key'])} from {e(_at(r['start_ns']))} "
            f"({e(', '.join(sorted(r['causes'])))})</li>"
            for r in pm.related
        ]
        h.append("</ul>")
    else:
        h.append("<p>None on the same host at the same time.</p>")
    h += [
        f'<h2>Root cause</h2><div class="todo">{e(_root_cause(inc, html=True))}</div>',
        '<h2>Action items</h2><div class="todo">To be written.</div>',
        "</body></html>",
    ]
    return "\n".join(h) + "\n"


def evidence_span(row: Any) -> tuple[int, int]:
    """The time whose log tails and probes belong in an incident's postmortem: from a minute
    before its first failure to a second after its last."""
    return int(row["start_ns"]) - LOG_LEAD_NS, int(max(row["failure_times_ns"])) + NS_PER_S


def build_postmortem(
    events: pd.DataFrame,
    failures: pd.DataFrame,
    incidents: pd.DataFrame,
    row: pd.Series,
    window: Window,
    log_tails: list[pd.DataFrame],
    *,
    budget_period_s: float = DEFAULT_BUDGET_PERIOD_S,
    slo_percent: float | None = None,
    health_probes: Sequence[pd.DataFrame] = (),
) -> Postmortem:
    """Everything the postmortem of incident `row` shows. `events` are History.events,
    `failures` find_failures' frame, `incidents` group_incidents' frame (for related incidents),
    `log_tails` frames of store.reads.load_log_tails and `health_probes` of
    store.reads.load_health_probes for the incident's containers. The window's end is "now":
    an open incident is drawn to it."""
    members = classify_recoveries(incident_failures(failures, row))
    timeline = incident_timeline(
        events, row, members, window, exit_meaning=exit_code_meaning, signal_name=signal_name
    )
    t0 = int(row["start_ns"])
    names = {str(c): str(n) for c, n in zip(events["container_id"], events["name"], strict=True)}
    spans = [
        (
            names.get(str(f["container_id"]), str(f["name"])),
            (int(f["time_ns"]) - t0) / NS_PER_S,
            None if pd.isna(f["recovered_ns"]) else (int(f["recovered_ns"]) - t0) / NS_PER_S,
            "unhealthy" if str(f["cause"]) == "unhealthy" else "down",
        )
        for _, f in members.iterrows()
    ]
    tails = [
        LogTail(
            container=names.get(str(t["container_id"]), str(t["container_id"])[:12]),
            die_time_ns=int(t["time_ns"]),
            lines=lines_before(_log_lines(str(t["lines"])), int(t["time_ns"])),
            truncated=bool(t["truncated"]),
        )
        for frame in log_tails
        for _, t in frame.iterrows()
    ]
    (incident,) = incident_dicts(incidents[incidents["id"] == row["id"]])
    ids = set(map(str, row["container_ids"]))
    stops = find_stops(events[events["container_id"].astype(str).isin(ids)])
    still_down = (
        bool(incident["open"]) and not members.empty and pd.isna(members["recovered_ns"].iloc[-1])
    )
    return Postmortem(
        incident=incident,
        timeline=timeline,
        breakdown=recovery_breakdown(events, members),
        down_spans=spans,
        window_end_rel_s=(window.end_ns - t0) / NS_PER_S,
        logs=_once(tails),
        related=incident_dicts(incidents[incidents["id"].isin(row["overlapping"])]),
        budget_period_s=budget_period_s,
        slo_percent=slo_percent,
        stops=stop_summary(stops),
        gave_up=retries_exhausted(incident["policy"], int(incident["restarts"]), still_down),
        probes=_failed_probes(health_probes, names, ids),
    )


def _failed_probes(
    frames: Sequence[pd.DataFrame], names: dict[str, str], ids: set[str]
) -> list[HealthProbe]:
    """The probes of the incident's containers (`ids`) that failed (exit code not 0), each
    once, oldest first."""
    seen: dict[tuple[str, int], HealthProbe] = {}
    for frame in frames:
        for r in frame.to_dict("records"):
            code = None if pd.isna(r["exit_code"]) else int(r["exit_code"])
            if code == 0:
                continue
            cid, start = str(r["container_id"]), int(r["start_ns"])
            if cid not in ids:
                continue
            name = names.get(cid, cid[:12])
            seen.setdefault((cid, start), HealthProbe(name, start, code, str(r["output"])))
    return sorted(seen.values(), key=lambda p: p.start_ns)


def _once(tails: list[LogTail]) -> list[LogTail]:
    """Each container's tails, oldest first, each keeping only the lines no earlier tail of
    that container showed: the collector reads a tail after every die, and each one repeats
    the lines of the runs before it."""
    seen: dict[str, set[str]] = {}
    out = []
    for tail in sorted(tails, key=lambda lt: lt.die_time_ns):
        known = seen.setdefault(tail.container, set())
        fresh = [ln for ln in tail.lines if ln not in known]
        known.update(fresh)
        if fresh:
            out.append(LogTail(tail.container, tail.die_time_ns, fresh, tail.truncated))
    return out


def _log_lines(text: str) -> list[str]:
    """Lines split on newlines only (str.splitlines also splits on CR, \x1c-\x1e and U+2028,
    which a log line may hold and the postmortem shows escaped)."""
    return text.removesuffix("\n").split("\n") if text else []


def lines_before(lines: list[str], die_ns: int, keep: int = LOG_LINES) -> list[str]:
    """The last `keep` lines logged up to the die: a tail captured late also holds lines of the
    next run. Lines without the engine's timestamp are kept."""
    return [ln for ln in lines if _log_time(ln, die_ns)[0] <= die_ns][-keep:]


def render(pm: Postmortem, fmt: str) -> str:
    """`markdown` or `html`."""
    if fmt == "html":
        return render_html(pm)
    if fmt == "markdown":
        return render_markdown(pm)
    raise ValueError(f"postmortem format {fmt!r} is not markdown or html")
