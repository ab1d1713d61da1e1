"""`docktally postmortem`: one incident as a postmortem draft (Markdown or HTML)."""

from __future__ import annotations

import argparse
from typing import Any

from docktally.cli.common import add_db, not_yet


def register(sub: Any) -> None:
    p: argparse.ArgumentParser = sub.add_parser(
        "postmortem",
        help="one incident as a postmortem draft (Markdown or HTML)",
        description="one incident as a postmortem draft (Markdown or HTML)",
    )
    add_db(p)
    p.set_defaults(func=not_yet)
