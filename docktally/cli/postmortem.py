"""`docktally postmortem ID`: one incident as a postmortem draft (Markdown or HTML)."""

from __future__ import annotations

import argparse
from typing import Any

from docktally.analytics.incidents import find_incident
from docktally.cli.common import open_reader, write_output
from docktally.cli.incidents import add_incident_options, load_context
from docktally.errors import UsageError
from docktally.reports.postmortem import NS_PER_S, build_postmortem, evidence_span, render
from docktally.store import reads


def run(args: argparse.Namespace) -> int:
    ctx = load_context(args)
    row = find_incident(ctx.incidents, args.id)
    if row is None:
        raise UsageError(
            f"no incident {args.id!r} between --since {args.since} and --until "
            f"{args.until or 'now'} (list them with `docktally incidents`)"
        )
    start_ns, end_ns = evidence_span(row)
    with open_reader(args) as reader:
        tails, probes = reads.load_incident_evidence(
            reader,
            host=str(row["host"]),
            container_ids=row["container_ids"],
            start_ns=start_ns,
            end_ns=end_ns,
        )
    pm = build_postmortem(
        ctx.history.events,
        ctx.failures,
        ctx.incidents,
        row,
        ctx.window,
        tails,
        budget_period_s=args.budget_period_ns / NS_PER_S,
        slo_percent=ctx.slo_percent,
        health_probes=probes,
    )
    write_output(render(pm, args.format), args.out)
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
