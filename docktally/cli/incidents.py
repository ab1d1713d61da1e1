"""`docktally incidents`: list incidents (failures without a stable up period between them)."""

from __future__ import annotations

import argparse
from dataclasses import dataclass
from typing import Any

import pandas as pd

from docktally.analytics.failures import failures_from_timeline
from docktally.analytics.incident_scopes import incidents_from_timeline
from docktally.analytics.incidents import (
    DEFAULT_STABLE_S,
    SCOPES,
    filter_incidents,
)
from docktally.analytics.model import History, Window
from docktally.analytics.select import without_lab
from docktally.analytics.states import exit_code_meaning
from docktally.analytics.timeline import build_timeline
from docktally.cli.common import (
    add_db,
    add_duration,
    add_include_lab,
    add_window,
    now_ns,
    open_reader,
    window_from_args,
    write_chunks,
    write_output,
)
from docktally.reports.postmortem_incidents import (
    incidents_csv,
    incidents_json,
    render_incidents,
)
from docktally.store import reads
from docktally.timespec import NS_PER_S

DEFAULT_SLO = "99.9"  # percent, as `docktally report --slo` takes it


@dataclass
class IncidentContext:
    window: Window
    history: History
    failures: pd.DataFrame
    incidents: pd.DataFrame
    slo_percent: float


def add_incident_options(p: argparse.ArgumentParser, default_since: str = "7d") -> None:
    add_db(p)
    add_window(p, default_since)
    add_duration(
        p,
        "--stable",
        default=f"{DEFAULT_STABLE_S:g}s",
        help="up this long between failures ends an incident",
        allow_zero=True,
    )
    p.add_argument(
        "--slo",
        default=DEFAULT_SLO,
        help=f"availability target in percent for the budget column (default: {DEFAULT_SLO})",
    )
    add_duration(
        p,
        "--budget-period",
        default="30d",
        help="the SLO's period: an incident's budget share is of the budget over this long "
        "(default: 30d), whatever the window",
    )
    p.add_argument(
        "--scope",
        choices=SCOPES,
        default="container",
        help="group failures per container or per compose service (default: container)",
    )
    add_include_lab(p)


def load_context(args: argparse.Namespace) -> IncidentContext:
    from docktally.cli.report import parse_slo

    slo_percent = parse_slo(args.slo)
    assert slo_percent is not None
    stable_s = args.stable_ns / NS_PER_S
    window = window_from_args(args, now_ns())
    with open_reader(args) as reader:
        history = reads.load_history(reader, window.start_ns, window.end_ns)
    if not args.include_lab:
        history = without_lab(history)
    # One timeline gives both the failures and the intervals that bound each one's downtime.
    timeline = build_timeline(history, window)
    failures = failures_from_timeline(timeline)
    incidents = incidents_from_timeline(
        timeline,
        scope=args.scope,
        stable_s=stable_s,
        slo=slo_percent / 100,
        exit_meaning=exit_code_meaning,
        engine_restarts=history.engine_restarts,
        budget_period_s=args.budget_period_ns / NS_PER_S,
    )
    return IncidentContext(window, history, failures, incidents, slo_percent)


def run(args: argparse.Namespace) -> int:
    ctx = load_context(args)
    inc = filter_incidents(
        ctx.incidents, container=args.container, service=args.service, cause=args.cause
    )
    period_s = args.budget_period_ns / NS_PER_S
    # Written as they are made: on a busy host over weeks they are gigabytes.
    if args.format == "json":
        write_chunks(incidents_json(inc, ctx.window), args.out)
    elif args.format == "csv":
        write_chunks(incidents_csv(inc), args.out)
    else:
        write_output(render_incidents(inc, ctx.window, args.format, period_s), args.out)
    return 0


def register(sub: Any) -> None:
    p: argparse.ArgumentParser = sub.add_parser(
        "incidents",
        help="list incidents",
        description=(
            "List incidents: failures of one container (or service) that follow each other "
            "without a stable up period between them. A crash loop is one incident."
        ),
    )
    add_incident_options(p)
    p.add_argument("--container", help="only incidents of this container (name or id prefix)")
    p.add_argument("--service", help="only incidents of this compose service (project/service)")
    p.add_argument("--cause", help="only incidents with a failure of this cause (e.g. oom)")
    p.add_argument("--format", choices=("table", "json", "csv"), default="table")
    p.add_argument("--out", metavar="FILE", help="write to FILE instead of standard output")
    p.set_defaults(func=run)
