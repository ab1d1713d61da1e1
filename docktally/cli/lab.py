"""`docktally lab`: run a restart-policy experiment on the local engine."""

from __future__ import annotations

import argparse
from typing import Any

from docktally.cli.common import add_db, not_yet


def register(sub: Any) -> None:
    p: argparse.ArgumentParser = sub.add_parser(
        "lab",
        help="run a restart-policy experiment on the local engine",
        description="run a restart-policy experiment on the local engine",
    )
    add_db(p)
    p.set_defaults(func=not_yet)
