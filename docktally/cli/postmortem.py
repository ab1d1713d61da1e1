"""`docktally postmortem ID`: one incident as a postmortem draft (Markdown or HTML)."""

from __future__ import annotations

import argparse
from typing import Any

import pandas as pd

from docktally.analytics.incidents import (
    find_incident,
    incident_failures,
    incident_timeline,
    recovery_breakdown,
)
from docktally.analytics.policies import classify_recoveries
from docktally.analytics.states import exit_code_meaning, signal_name
from docktally.cli.common import open_db, write_output
from docktally.cli.incidents import add_incident_options, load_context
from docktally.errors import UsageError
from docktally.reports.postmortem import LogTail, Postmortem, render_html, render_markdown
from docktally.reports.postmortem_incidents import incident_dicts
from docktally.store import reads

NS_PER_S = 1_000_000_000


def run(args: argparse.Namespace) -> int:
    ctx = load_context(args)
    row = find_incident(ctx.incidents, args.id)
    if row is None:
        raise UsageError(
            f"no incident {args.id!r} between --since {args.since} and --until "
            f"{args.until or 'now'} (list them with `docktally incidents`)"
        )
    members = classify_recoveries(incident_failures(ctx.failures, row))
    events = ctx.history.events
    timeline = incident_timeline(
        events,
        row,
        members,
        ctx.window,
        exit_meaning=exit_code_meaning,
        signal_name=signal_name,
    )
    t0 = int(row["start_ns"])
    names = {str(c): str(n) for c, n in zip(events["container_id"], events["name"], strict=True)}
    spans = [
        (
            names.get(str(f["container_id"]), str(f["name"])),
            (int(f["time_ns"]) - t0) / NS_PER_S,
            None if pd.isna(f["recovered_ns"]) else (int(f["recovered_ns"]) - t0) / NS_PER_S,
        )
        for _, f in members.iterrows()
    ]
    logs: list[LogTail] = []
    engine = open_db(args, readonly=True)
    try:
        with engine.connect() as conn:
            for cid in row["container_ids"]:
                tails = reads.load_log_tails(
                    conn,
                    host=str(row["host"]),
                    container_id=str(cid),
                    start_ns=t0 - 60 * NS_PER_S,
                    end_ns=int(max(row["failure_times_ns"])) + NS_PER_S,
                )
                for _, t in tails.iterrows():
                    logs.append(
                        LogTail(
                            container=names.get(str(cid), str(cid)[:12]),
                            die_time_ns=int(t["time_ns"]),
                            lines=str(t["lines"]).splitlines(),
                            truncated=bool(t["truncated"]),
                        )
                    )
    finally:
        engine.dispose()
    related = incident_dicts(ctx.incidents[ctx.incidents["id"].isin(row["overlapping"])])
    (incident,) = incident_dicts(ctx.incidents[ctx.incidents["id"] == row["id"]])
    pm = Postmortem(
        incident=incident,
        timeline=timeline,
        breakdown=recovery_breakdown(events, members),
        down_spans=spans,
        window_end_rel_s=(ctx.window.end_ns - t0) / NS_PER_S,
        logs=sorted(logs, key=lambda lt: lt.die_time_ns),
        related=related,
    )
    text = render_html(pm) if args.format == "html" else render_markdown(pm)
    write_output(text, args.out)
    return 0


def register(sub: Any) -> None:
    p: argparse.ArgumentParser = sub.add_parser(
        "postmortem",
        help="one incident as a postmortem draft (Markdown or HTML)",
        description=(
            "One incident as a postmortem draft: summary and impact, the timeline (kills, OOMs, "
            "exits with their meaning, each restart with the engine's back-off), the captured "
            "log lines, MTTR split into waiting, starting and becoming healthy, related "
            "incidents, and empty Root cause / Action items sections."
        ),
    )
    p.add_argument("id", help="incident id from `docktally incidents` (a unique prefix works)")
    add_incident_options(p, default_since="30d")
    p.add_argument("--format", choices=("markdown", "html"), default="markdown")
    p.add_argument("--out", metavar="FILE", help="write to FILE instead of standard output")
    p.set_defaults(func=run)
