"""`docktally collect`: watch the Docker engine and record every container event."""

from __future__ import annotations

import argparse
from typing import Any

from docktally.cli.common import add_db, not_yet


def register(sub: Any) -> None:
    p: argparse.ArgumentParser = sub.add_parser(
        "collect",
        help="watch the Docker engine and record every container event",
        description="watch the Docker engine and record every container event",
    )
    add_db(p)
    p.set_defaults(func=not_yet)
