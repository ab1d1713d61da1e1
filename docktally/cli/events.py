"""`docktally events`: list stored events."""

from __future__ import annotations

import argparse
import csv
import io
import json
import math
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import pandas as pd

from docktally.cli.common import add_db, add_format, add_window, now_ns, open_db, write_output
from docktally.errors import UsageError
from docktally.reports.safe_text import visible
from docktally.store import db, reads
from docktally.timespec import ns_to_iso, parse_instant_ns

FORMATS = ("table", "json", "csv")

# The events JSON of docs/cli.md, in its order; csv uses the same order.
FIELDS = [
    "container_id",
    "container",
    "action",
    "time_ns",
    "exit_code",
    "inferred",
    "host",
    "time",
    "signal",
    "health",
    "image",
    "compose_project",
    "compose_service",
    "cause_hint",
    "source",
]

# Table: (header, field), short ids like the docker CLI.
TABLE_COLUMNS = [
    ("TIME", "time"),
    ("HOST", "host"),
    ("CONTAINER", "container"),
    ("ID", "short_id"),
    ("ACTION", "action"),
    ("EXIT", "exit_code"),
    ("SIGNAL", "signal"),
    ("NOTE", "note"),
]

ACTION_WIDTH = 40
EMPTY_DB = "no events stored yet (load some with `docktally import` or `docktally collect`)"
NO_MATCH = "no stored event matches these filters"


def register(sub: Any) -> None:
    p: argparse.ArgumentParser = sub.add_parser(
        "events",
        help="list stored events",
        description="List stored events, oldest first. Every filter narrows the list.",
        epilog="examples:\n"
        "  docktally events --container web --since 1d\n"
        "  docktally events --action die --format json\n"
        "  docktally events --action die,oom,kill --since 1d\n"
        "  docktally events --action '!health_status' --container web\n"
        "  docktally events --format csv --out events.csv",
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    add_db(p)
    p.add_argument("--container", metavar="NAME|ID", help="a container name or id prefix")
    p.add_argument(
        "--action",
        action="append",
        metavar="ACTION[,ACTION...]",
        help="an action as the engine spells it (`health_status: unhealthy`) or its kind "
        "(`die`, `health_status`); several separated by commas or given again (any of them); "
        "`!ACTION` leaves that one out",
    )
    add_window(p, default_since=None)
    p.add_argument("--host", help="only events of this host label")
    p.add_argument("--limit", type=int, metavar="N", help="at most N events (the oldest)")
    add_format(p, choices=FORMATS)
    p.set_defaults(func=run)


def split_actions(values: list[str]) -> tuple[list[str], list[str]]:
    """`--action die,oom --action '!exec_start'` -> (["die", "oom"], ["exec_start"])."""
    wanted: list[str] = []
    unwanted: list[str] = []
    for value in values:
        for item in (v.strip() for v in value.split(",")):
            if item.startswith("!") and item[1:].strip():
                unwanted.append(item[1:].strip())
            elif item and item != "!":
                wanted.append(item)
            else:
                raise UsageError(f"--action {value!r}: an empty action")
    return wanted, unwanted


def run(args: argparse.Namespace) -> int:
    now = now_ns()
    since = parse_instant_ns(args.since, now_ns=now, what="--since") if args.since else None
    until = parse_instant_ns(args.until, now_ns=now, what="--until") if args.until else None
    if since is not None and until is not None and until <= since:
        raise UsageError(f"--since {args.since!r} is not before --until {args.until!r}")
    if args.limit is not None and args.limit < 1:
        raise UsageError(f"--limit: {args.limit} is not a positive number")
    wanted, unwanted = split_actions(args.action or [])
    if _sqlite_file_missing(args.db):
        # Nothing collected or imported yet: an empty listing, not an error.
        return _write(args, [], empty_db=True)
    engine = open_db(args, readonly=True)
    try:
        with engine.connect() as conn:
            df = reads.list_events(
                conn,
                container=args.container,
                actions=wanted,
                not_actions=unwanted,
                since_ns=since,
                until_ns=until,
                host=args.host,
                limit=args.limit,
            )
            empty_db = df.empty and reads.list_events(conn, limit=1).empty
    finally:
        engine.dispose()
    return _write(args, to_records(df), empty_db=empty_db)


def _sqlite_file_missing(url: str | None) -> bool:
    resolved = db.resolve_db_url(url)
    prefix = "sqlite:///"
    return resolved.startswith(prefix) and not Path(resolved[len(prefix) :]).exists()


def _write(args: argparse.Namespace, records: list[dict[str, Any]], *, empty_db: bool) -> int:
    if args.format == "json":
        write_output(json.dumps(records, indent=1) + "\n", args.out)
    elif args.format == "csv":
        write_output(render_csv(records), args.out)
    elif not records:
        write_output(EMPTY_DB if empty_db else NO_MATCH, args.out)
    else:
        write_output(render_table(records), args.out)
    return 0


def _nullable(value: Any) -> Any:
    if value is None or value is pd.NA:
        return None
    if isinstance(value, float) and math.isnan(value):
        return None
    return value


def to_records(df: pd.DataFrame) -> list[dict[str, Any]]:
    """The listing as plain JSON-ready dicts, in FIELDS order."""
    out = []
    for row in df.to_dict("records"):
        exit_code = _nullable(row["exit_code"])
        sig = _nullable(row["signal"])
        time_ns = int(row["time_ns"])
        out.append(
            {
                "container_id": row["container_id"],
                "container": _nullable(row["name"]),
                "action": row["action"],
                "time_ns": time_ns,
                "exit_code": None if exit_code is None else int(exit_code),
                "inferred": bool(row["inferred"]),
                "host": row["host"],
                "time": ns_to_iso(time_ns),
                "signal": None if sig is None else int(sig),
                "health": _nullable(row["health"]),
                "image": _nullable(row["image"]),
                "compose_project": _nullable(row["compose_project"]),
                "compose_service": _nullable(row["compose_service"]),
                "cause_hint": _nullable(row["cause_hint"]),
                "source": row["source"],
            }
        )
    return out


def render_csv(records: Sequence[dict[str, Any]]) -> str:
    buf = io.StringIO()
    w = csv.DictWriter(buf, fieldnames=FIELDS, lineterminator="\n")
    w.writeheader()
    for r in records:
        w.writerow({k: _csv_cell(r[k]) for k in FIELDS})
    return buf.getvalue()


def _csv_cell(value: Any) -> Any:
    if value is None:
        return ""
    return visible(value) if isinstance(value, str) else value


def _note(r: dict[str, Any]) -> str:
    notes = []
    if r["inferred"]:
        notes.append(f"inferred ({r['cause_hint']})" if r["cause_hint"] else "inferred")
    if r["compose_project"] and r["compose_service"]:
        notes.append(f"{r['compose_project']}/{r['compose_service']}")
    return ", ".join(notes)


def render_table(records: Sequence[dict[str, Any]]) -> str:
    """Aligned columns for a terminal; times to the millisecond, ids shortened to 12."""
    rows = []
    for r in records:
        cells = {k: visible(v) if isinstance(v, str) else v for k, v in r.items()}
        cells["time"] = r["time"][:23] + "Z" if len(r["time"]) > 20 else r["time"]
        cells["short_id"] = cells["container_id"][:12]
        cells["note"] = visible(_note(r))
        # exec_* actions carry the whole command line: keep the column readable.
        if len(cells["action"]) > ACTION_WIDTH:
            cells["action"] = cells["action"][: ACTION_WIDTH - 1] + "…"
        rows.append(["" if cells[f] is None else str(cells[f]) for _, f in TABLE_COLUMNS])
    headers = [h for h, _ in TABLE_COLUMNS]
    widths = [max(len(h), *(len(row[i]) for row in rows)) for i, h in enumerate(headers)]
    lines = ["  ".join(h.ljust(w) for h, w in zip(headers, widths, strict=True)).rstrip()]
    for row in rows:
        lines.append("  ".join(c.ljust(w) for c, w in zip(row, widths, strict=True)).rstrip())
    return "\n".join(lines) + "\n"
