"""`docktally maintenance`: declare and list maintenance (or deploy) windows.

Downtime inside a window counts as planned time in reports. Every row keeps who declared it,
when and why.
"""

from __future__ import annotations

import argparse
import getpass
import io
import json
import os
from typing import Any

import pandas as pd

from docktally.cli.common import add_db, add_duration, now_ns, open_db, open_reader, write_output
from docktally.errors import UsageError
from docktally.reports.tables import text_table
from docktally.store import reads, writes
from docktally.timespec import ns_to_iso, parse_instant_ns

KINDS = ("maintenance", "deploy")


def register(sub: Any) -> None:
    p: argparse.ArgumentParser = sub.add_parser(
        "maintenance",
        help="declare and list maintenance windows",
        description="Declare maintenance or deploy windows (ahead of time or after the fact) "
        "and list them. Downtime inside a window is reported as planned.",
    )
    msub = p.add_subparsers(dest="maintenance_command", metavar="ACTION")
    msub.required = True

    a = msub.add_parser(
        "add",
        help="declare a window",
        description="Declare a maintenance/deploy window for a container or a service.",
        epilog="example: docktally maintenance add --service shop/web --start 2026-11-28T02:00 "
        "--duration 30m --reason 'db migration'",
    )
    add_db(a)
    target = a.add_mutually_exclusive_group(required=True)
    target.add_argument("--container", metavar="NAME", help="the container's name")
    target.add_argument("--service", metavar="PROJECT/SERVICE", help="a compose service or name")
    a.add_argument("--start", required=True, help="ISO time, or a duration before now (2h)")
    end = a.add_mutually_exclusive_group(required=True)
    end.add_argument("--end", help="ISO time, or a duration before now")
    add_duration(end, "--duration", help="length of the window")
    a.add_argument("--reason", required=True, help="why (kept with the window)")
    a.add_argument("--kind", default="maintenance", help="maintenance|deploy (default maintenance)")
    a.add_argument("--host", help="only on this host (default: any host)")
    a.add_argument("--who", help="who declares it (default: $USER)")
    a.set_defaults(func=run_add)

    ls = msub.add_parser("list", help="list windows", description="List declared windows.")
    add_db(ls)
    ls.add_argument("--format", choices=("table", "json", "csv"), default="table")
    ls.add_argument("--out", metavar="FILE", help="write to FILE instead of standard output")
    ls.set_defaults(func=run_list)


def _who(args: argparse.Namespace) -> str:
    if args.who:
        return str(args.who)
    user = os.environ.get("USER") or os.environ.get("LOGNAME")
    if user:
        return user
    try:
        return getpass.getuser()
    except (KeyError, OSError):
        return "unknown"


def run_add(args: argparse.Namespace) -> int:
    if args.kind not in KINDS:
        raise UsageError(f"--kind: {args.kind!r} is not one of {', '.join(KINDS)}")
    if not args.reason.strip():
        raise UsageError("--reason: say why (it is kept with the window)")
    now = now_ns()
    start = parse_instant_ns(args.start, now_ns=now, what="--start")
    if args.duration_ns is not None:
        end = start + args.duration_ns
    else:
        end = parse_instant_ns(args.end, now_ns=now, what="--end")
    if end <= start:
        raise UsageError("--end must be after --start")
    row = {
        "host": args.host,
        "target_kind": "container" if args.container else "service",
        "target": args.container or args.service,
        "start_ns": start,
        "end_ns": end,
        "kind": args.kind,
        "reason": args.reason,
        "created_by": _who(args),
        "created_ns": now,
    }
    engine = open_db(args)
    try:
        with engine.begin() as conn:
            mid = writes.add_maintenance(conn, row)
    finally:
        engine.dispose()
    print(
        f"maintenance #{mid}: {row['target_kind']} {row['target']} "
        f"{ns_to_iso(start)} .. {ns_to_iso(end)} ({args.kind}, by {row['created_by']})"
    )
    return 0


def _frame_for_output(df: pd.DataFrame) -> pd.DataFrame:
    out = df.copy()
    for col in ("start_ns", "end_ns", "created_ns"):
        out[col.replace("_ns", "")] = [ns_to_iso(int(v)) for v in out[col]]
    return out


def run_list(args: argparse.Namespace) -> int:
    with open_reader(args) as reader:
        df = reads.load_maintenance(reader)
    if args.format == "json":
        recs = [
            {k: (None if pd.isna(v) else v) for k, v in r.items()}
            for r in _frame_for_output(df).to_dict("records")
        ]
        text = json.dumps(recs, indent=2, default=int)
    elif args.format == "csv":
        buf = io.StringIO()
        _frame_for_output(df).to_csv(buf, index=False, lineterminator="\n")
        text = buf.getvalue()
    elif df.empty:
        text = "no maintenance windows declared"
    else:
        v = _frame_for_output(df)
        v["host"] = v["host"].fillna("*")
        text = text_table(
            v[
                [
                    "id",
                    "target_kind",
                    "target",
                    "host",
                    "start",
                    "end",
                    "kind",
                    "reason",
                    "created_by",
                ]
            ]
        )
    write_output(text, args.out)
    return 0
