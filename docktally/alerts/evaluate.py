"""From the store to the alert engine and back: one evaluation reads the lookback window's
history, builds the engine's inputs with the public analytics functions, and writes what the
engine decided into the outbox (one row per target), in one transaction.

Incidents are computed without the maintenance windows (which analytics would turn into
planned time, hiding a failure that began inside one): the alert engine applies the windows
itself, as mutes.
"""

from __future__ import annotations

import dataclasses
import math
from collections.abc import Sequence
from typing import Any

import pandas as pd
from sqlalchemy import Engine

from docktally.alerts.delivery import Target
from docktally.alerts.engine import Decision, DownSpell, Failure, Incident, Mute, Notice, decide
from docktally.alerts.message import render
from docktally.alerts.rules import Config
from docktally.analytics.containers import container_table
from docktally.analytics.failures import failures_from_timeline
from docktally.analytics.incidents import group_incidents
from docktally.analytics.intervals import intervals_from_timeline
from docktally.analytics.model import History, Window
from docktally.analytics.services import service_key
from docktally.analytics.states import exit_code_meaning
from docktally.analytics.timeline import build_timeline
from docktally.store import alerts as outbox
from docktally.store import db, reads
from docktally.timespec import parse_rfc3339_ns


def _opt(value: Any) -> Any:
    if value is None or value is pd.NA or (isinstance(value, float) and math.isnan(value)):
        return None
    return value


def _service(project: Any, service: Any) -> str | None:
    project, service = _opt(project), _opt(service)
    if not service:
        return None
    return f"{project}/{service}" if project else str(service)


def inputs_from_history(
    history: History, window: Window, config: Config
) -> tuple[list[Incident], list[DownSpell], list[Mute]]:
    """The alert engine's inputs from a window's history (pure: frames in, dataclasses out)."""
    plain = dataclasses.replace(history, maintenance=history.maintenance.iloc[0:0])
    timeline = build_timeline(plain, window)
    failures = failures_from_timeline(timeline)
    intervals = intervals_from_timeline(timeline)
    frame = group_incidents(
        failures,
        window,
        scope=config.scope,
        stable_s=config.stable_ns / 1e9,
        exit_meaning=exit_code_meaning,
        intervals=intervals,
        engine_restarts=history.engine_restarts,
    )
    # Each failure once, by container: a lookup per incident, not a scan of every failure.
    by_container: dict[tuple[str, str], dict[int, Failure]] = {}
    for f in failures.to_dict("records"):
        by_container.setdefault((str(f["host"]), str(f["container_id"])), {})[int(f["time_ns"])] = (
            Failure(
                container_id=str(f["container_id"]),
                time_ns=int(f["time_ns"]),
                cause=str(f["cause"]),
                exit_code=None if _opt(f["exit_code"]) is None else int(f["exit_code"]),
                recovered_ns=None if _opt(f["recovered_ns"]) is None else int(f["recovered_ns"]),
            )
        )
    incidents = []
    for row in frame.to_dict("records"):
        host = str(row["host"])
        times = {int(t) for t in row["failure_times_ns"]}
        members = sorted(
            (
                f
                for cid in row["container_ids"]
                for t, f in by_container.get((host, str(cid)), {}).items()
                if t in times
            ),
            key=lambda f: (f.time_ns, f.container_id),
        )
        incidents.append(
            Incident(
                id=str(row["id"]),
                host=host,
                key=str(row["key"]),
                names=tuple(row["names"]),
                service=_service(row["compose_project"], row["compose_service"]),
                policy=_opt(row["policy"]),
                failures=tuple(members),
                exit_meanings={int(k): str(v) for k, v in row["exit_meanings"].items()},
                ended_ns=None if _opt(row["end_ns"]) is None else int(row["end_ns"]),
                open=bool(row["open"]),
            )
        )
    return incidents, _spells(history, intervals, config), _mutes(history.maintenance)


def _spells(history: History, intervals: pd.DataFrame, config: Config) -> list[DownSpell]:
    bad = intervals[intervals["state"].isin(["down", "unhealthy"])]
    if bad.empty:
        return []
    who = {
        (str(c["host"]), str(c["container_id"])): c
        for c in container_table(history).to_dict("records")
    }
    out = []
    for host, cid, lo, hi in zip(
        bad["host"], bad["container_id"], bad["start_ns"], bad["end_ns"], strict=True
    ):
        info = who.get((str(host), str(cid)))
        if info is None:
            name, service, key = str(cid)[:12], None, str(cid)[:12]
        else:
            name = str(info["name"])
            service = _service(info["compose_project"], info["compose_service"])
            key = name
            if config.scope == "service":
                key = service_key(info["compose_project"], info["compose_service"], name, cid)
        out.append(DownSpell(str(host), key, (name,), service, int(lo), int(hi)))
    return out


def _mutes(maintenance: pd.DataFrame) -> list[Mute]:
    return [
        Mute(
            host=_opt(r["host"]),
            target_kind=str(r["target_kind"]),
            target=str(r["target"]),
            start_ns=int(r["start_ns"]),
            end_ns=int(r["end_ns"]),
        )
        for r in maintenance.to_dict("records")
    ]


def _with_log_line(conn: Any, d: Decision) -> Decision:
    inc = d.incident
    if inc is None:
        return d
    last = inc.failures[-1]
    tails = reads.load_log_tails(
        db.ConnectionReader(conn),
        host=inc.host,
        container_id=last.container_id,
        start_ns=inc.start_ns,
        end_ns=max(d.time_ns, last.time_ns),
    )
    if tails.empty:
        return d
    lines = [ln for ln in str(tails.iloc[-1]["lines"]).splitlines() if ln.strip()]
    if not lines:
        return d
    return dataclasses.replace(
        d, incident=dataclasses.replace(inc, last_log_line=without_timestamp(lines[-1]))
    )


def without_timestamp(line: str) -> str:
    """A captured line without the engine's timestamp (tails are captured with timestamps)."""
    stamp, _, rest = line.partition(" ")
    try:
        parse_rfc3339_ns(stamp)
    except ValueError:
        return line
    return rest


def outbox_rows(
    decisions: Sequence[Decision], targets: Sequence[Target], dashboard: str | None
) -> list[dict[str, Any]]:
    rows = []
    for d in decisions:
        msg = render(d, dashboard)
        for t in targets:
            rows.append(
                {
                    "dedupe_key": d.dedupe_key,
                    "target": t.id,
                    "target_label": t.label,
                    "alert_key": d.alert_key,
                    "rule": d.rule.name,
                    "kind": d.kind,
                    "severity": d.rule.severity,
                    "subject": d.subject,
                    "host": d.host,
                    "key": d.key,
                    "incident_id": d.incident.id if d.incident is not None else None,
                    "title": msg.title,
                    "body": msg.body,
                    "notify_type": msg.notify_type,
                    "created_ns": d.time_ns,
                }
            )
    return rows


def evaluate_once(
    store: Engine, config: Config, targets: Sequence[Target], now_ns: int
) -> list[Decision]:
    """Decide and enqueue what is due at `now_ns`; returns the decisions made."""
    window = Window(now_ns - config.lookback_ns, now_ns)
    with store.connect() as conn:
        # Through the collector's own connection: Arrow's SQLite driver must not open the file
        # in a process that writes it (see store.db.ArrowReader).
        history = reads.load_history(db.ConnectionReader(conn), window.start_ns, window.end_ns)
        past = [
            Notice(a, r, k, t, s)
            for a, r, k, t, s in outbox.notices(conn, now_ns - 2 * config.lookback_ns)
        ]
    incidents, spells, mutes = inputs_from_history(history, window, config)
    decisions = decide(config, incidents, spells, mutes, past, now_ns)
    if not decisions or not targets:
        return decisions
    with store.begin() as conn:
        decisions = [_with_log_line(conn, d) for d in decisions]
        outbox.enqueue(conn, outbox_rows(decisions, targets, config.dashboard))
    return decisions
