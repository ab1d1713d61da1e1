"""`docktally dashboard`: serve the Streamlit dashboard."""

from __future__ import annotations

import argparse
from typing import Any

from docktally.cli.common import add_db, not_yet


def register(sub: Any) -> None:
    p: argparse.ArgumentParser = sub.add_parser(
        "dashboard",
        help="serve the Streamlit dashboard",
        description="serve the Streamlit dashboard",
    )
    add_db(p)
    p.set_defaults(func=not_yet)
