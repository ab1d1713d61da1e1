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


def _upgrade(args: argparse.Namespace) -> int:
    engine = db.connect(args.db, migrate=False)
    db.upgrade(engine)
    print(f"database {engine.url.render_as_string(hide_password=True)} is at the newest schema")
    return 0
