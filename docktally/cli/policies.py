"""`docktally policies`: compare restart policies: observed and what-if."""

from __future__ import annotations

import argparse
from typing import Any

from docktally.cli.common import add_db, not_yet


def register(sub: Any) -> None:
    p: argparse.ArgumentParser = sub.add_parser(
        "policies",
        help="compare restart policies: observed and what-if",
        description="compare restart policies: observed and what-if",
    )
    add_db(p)
    p.set_defaults(func=not_yet)
