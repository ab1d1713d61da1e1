"""`docktally events`: list stored events."""

from __future__ import annotations

import argparse
from typing import Any

from docktally.cli.common import add_db, not_yet


def register(sub: Any) -> None:
    p: argparse.ArgumentParser = sub.add_parser(
        "events", help="list stored events", description="list stored events"
    )
    add_db(p)
    p.set_defaults(func=not_yet)
