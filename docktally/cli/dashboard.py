"""`docktally dashboard`: serve the Streamlit dashboard."""

from __future__ import annotations

import argparse
import sys
from typing import Any

from docktally.cli.common import add_db
from docktally.dashboard import server
from docktally.dashboard.signals import stop_requested
from docktally.errors import StoreError
from docktally.store import db


def add_serve_options(p: argparse.ArgumentParser) -> None:
    p.add_argument(
        "--address",
        default="127.0.0.1",
        help="address to listen on (default: 127.0.0.1, this machine only; the dashboard has "
        "no login, so any other address warns)",
    )
    p.add_argument("--port", type=int, default=8501, help="port to listen on (default: 8501)")


def register(sub: Any) -> None:
    p: argparse.ArgumentParser = sub.add_parser(
        "dashboard",
        help="serve the Streamlit dashboard",
        description="Serve the Streamlit dashboard. It reads the database through a read-only "
        "connection; Ctrl-C stops it.",
    )
    add_db(p)
    add_serve_options(p)
    p.set_defaults(func=_run)


def check_readable(url: str) -> None:
    """Fail early on a bad URL; a database not there yet is fine: the app says how to fill it."""
    try:
        db.connect(url, readonly=True).dispose()
    except StoreError as exc:
        print(f"docktally: note: {exc}", file=sys.stderr)


def _run(args: argparse.Namespace) -> int:
    url = db.resolve_db_url(args.db)
    check_readable(url)
    warning = server.exposure_warning(args.address, args.port)
    if warning:
        print(f"docktally dashboard: {warning}", file=sys.stderr, flush=True)
    proc = server.start(url, address=args.address, port=args.port)
    print(
        f"docktally dashboard: serving {server.url_for(args.address, args.port)} "
        f"({server.listen_line(args.address, args.port)}; database {server.safe_url(url)}); "
        "Ctrl-C stops it",
        file=sys.stderr,
        flush=True,
    )
    with stop_requested() as stopping:
        while proc.poll() is None and not stopping.wait(0.5):
            pass
    code = server.stop(proc)
    return 0 if stopping.is_set() else code
