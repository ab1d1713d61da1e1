"""`docktally report`: uptime report: availability, MTBF, MTTR."""

from __future__ import annotations

import argparse
from typing import Any

from docktally.cli.common import add_db, not_yet


def register(sub: Any) -> None:
    p: argparse.ArgumentParser = sub.add_parser(
        "report",
        help="uptime report: availability, MTBF, MTTR",
        description="uptime report: availability, MTBF, MTTR",
    )
    add_db(p)
    p.set_defaults(func=not_yet)
