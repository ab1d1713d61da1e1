"""`docktally db upgrade`: bring the database schema to head."""

from __future__ import annotations

import argparse
from typing import Any

from docktally.cli.common import add_db
from docktally.store import db


def register(sub: Any) -> None:
    p: argparse.ArgumentParser = sub.add_parser(
        "db", help="database maintenance", description="Database maintenance."
    )
    dbsub = p.add_subparsers(dest="db_command", metavar="ACTION")
    dbsub.required = True
    up = dbsub.add_parser(
        "upgrade", help="run migrations to the newest schema", description="Run migrations."
    )
    add_db(up)
    up.set_defaults(func=_upgrade)
    summ = dbsub.add_parser(
        "summarize",
        help="build the per-day summaries long reports read",
        description="Build the per-container daily summaries of every complete UTC day not "
        "built yet or changed since (late or inferred events, maintenance): `report` over "
        "long windows reads them instead of every event. Run it daily (e.g. from a timer).",
    )
    add_db(summ)
    summ.set_defaults(func=_summarize)


def _upgrade(args: argparse.Namespace) -> int:
    engine = db.connect(args.db, migrate=False)
    db.upgrade(engine)
    print(f"database {engine.url.render_as_string(hide_password=True)} is at the newest schema")
    return 0


def _summarize(args: argparse.Namespace) -> int:
    from docktally.cli.common import now_ns
    from docktally.store import summaries
    from docktally.timespec import ns_to_iso

    engine = db.connect(args.db)
    try:
        before = summaries.month_stamps(engine)
        runs = summaries.refresh_store(engine, now_ns(), wait=True)
        after = summaries.month_stamps(engine)
    finally:
        engine.dispose()
    n = sum((e - s) // summaries.DAY_NS for s, e in runs)
    where = ", ".join(f"{ns_to_iso(s)[:10]}..{ns_to_iso(e - 1)[:10]}" for s, e in runs)
    months = [ns_to_iso(m)[:7] for m, b in sorted(after.items()) if before.get(m) != b]
    print(
        f"{n} day(s) summarized" + (f": {where}" if runs else "")
        + (f"; {len(months)} month(s) summed: {', '.join(months)}" if months else "")
        + ("" if runs or months else " (all were up to date)")
    )  # fmt: skip
    return 0
