"""`docktally up`: migrate, collect and serve the dashboard together."""

from __future__ import annotations

import argparse
from typing import Any

from docktally.cli.common import add_db, not_yet


def register(sub: Any) -> None:
    p: argparse.ArgumentParser = sub.add_parser(
        "up",
        help="migrate, collect and serve the dashboard together",
        description="migrate, collect and serve the dashboard together",
    )
    add_db(p)
    p.set_defaults(func=not_yet)
