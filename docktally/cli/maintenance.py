"""`docktally maintenance`: declare, list, edit and remove maintenance (or deploy) windows.

Downtime inside a window counts as planned time in reports. Every row keeps who declared it,
when and why.
"""

from __future__ import annotations

import argparse
import getpass
import json
import os
from typing import Any

import pandas as pd

from docktally.cli.common import add_db, add_duration, now_ns, open_db, open_reader, write_output
from docktally.errors import UsageError
from docktally.reports.csvout import frame_csv
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
    ls.add_argument("--all", action="store_true", help="also the removed windows")
    ls.add_argument("--format", choices=("table", "json", "csv"), default="table")
    ls.add_argument("--out", metavar="FILE", help="write to FILE instead of standard output")
    ls.set_defaults(func=run_list)

    ed = msub.add_parser(
        "edit",
        help="change a window",
        description="Change a declared window; who, when and why is kept with it.",
    )
    ed.add_argument("id", type=int, help="the window's id (maintenance list)")
    add_db(ed)
    ed.add_argument("--start", help="its new start: ISO time, or a duration before now")
    new_end = ed.add_mutually_exclusive_group()
    new_end.add_argument("--end", help="its new end: ISO time, or a duration before now")
    add_duration(new_end, "--duration", help="its new length from its start")
    ed.add_argument("--kind", choices=KINDS, help="its new kind")
    ed.add_argument("--why", required=True, help="why it changes (kept with the window)")
    ed.add_argument("--who", help="who changes it (default: $USER)")
    ed.set_defaults(func=run_edit)

    rm = msub.add_parser(
        "remove",
        help="withdraw a window",
        description="Withdraw a declared window: it no longer makes time planned. The row "
        "stays (maintenance list --all) with who removed it, when and why.",
    )
    rm.add_argument("id", type=int, help="the window's id (maintenance list)")
    add_db(rm)
    rm.add_argument("--why", required=True, help="why it is removed (kept with the window)")
    rm.add_argument("--who", help="who removes it (default: $USER)")
    rm.set_defaults(func=run_remove)


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


def _change(args: argparse.Namespace, what: str) -> int:
    if not args.why.strip():
        raise UsageError("--why: say why (it is kept with the window)")
    now = now_ns()
    note = f"{what} by {_who(args)} at {ns_to_iso(now)}: {args.why}"
    engine = open_db(args)
    try:
        with engine.begin() as conn:
            row = writes.maintenance_row(conn, args.id)
            if row is None:
                raise UsageError(f"no maintenance window #{args.id} (see maintenance list)")
            # A removed window ends at its start: it covers nothing, and its row keeps who
            # declared it, who removed it and why.
            changes = _edited(args, row, now) if what == "edited" else {"end_ns": row["start_ns"]}
            writes.edit_maintenance(conn, args.id, changes, note)
    finally:
        engine.dispose()
    print(f"maintenance #{args.id} {note}")
    return 0


def _edited(args: argparse.Namespace, row: dict[str, Any], now: int) -> dict[str, Any]:
    out: dict[str, Any] = {}
    start = int(row["start_ns"])
    if args.start is not None:
        start = out["start_ns"] = parse_instant_ns(args.start, now_ns=now, what="--start")
    if args.duration_ns is not None:
        out["end_ns"] = start + args.duration_ns
    elif args.end is not None:
        out["end_ns"] = parse_instant_ns(args.end, now_ns=now, what="--end")
    if args.kind is not None:
        out["kind"] = args.kind
    if not out:
        raise UsageError("nothing to change: give --start, --end, --duration or --kind")
    if out.get("end_ns", row["end_ns"]) <= start:
        raise UsageError("--end must be after --start")
    return out


def run_edit(args: argparse.Namespace) -> int:
    return _change(args, "edited")


def run_remove(args: argparse.Namespace) -> int:
    return _change(args, "removed")


def run_list(args: argparse.Namespace) -> int:
    with open_reader(args) as reader:
        df = reads.load_maintenance(reader)
    if not args.all:
        df = df[df["end_ns"] > df["start_ns"]].reset_index(drop=True)
    if args.format == "json":
        recs = [
            {k: (None if pd.isna(v) else v) for k, v in r.items()}
            for r in _frame_for_output(df).to_dict("records")
        ]
        text = json.dumps(recs, indent=2, default=int)
    elif args.format == "csv":
        text = frame_csv(_frame_for_output(df))
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
