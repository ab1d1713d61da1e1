"""`docktally dashboard`: serve the Streamlit dashboard."""

from __future__ import annotations

import argparse
import sys
from typing import Any

from docktally.cli.common import add_db
from docktally.dashboard import server
from docktally.dashboard.signals import stop_requested
from docktally.errors import StoreError
from docktally.listening import LOCAL, parse_listen
from docktally.store import db

DEFAULT_PORT = 8501


def add_serve_options(p: argparse.ArgumentParser) -> None:
    p.add_argument(
        "--address",
        metavar="HOST:PORT",
        default=f"{LOCAL}:{DEFAULT_PORT}",
        help=f"serve the dashboard at http://HOST:PORT/ (default: {LOCAL}:{DEFAULT_PORT}, this "
        f"machine only; a bare PORT binds {LOCAL}, a bare HOST port {DEFAULT_PORT}; the "
        "dashboard has no login, so any address other machines reach warns)",
    )


def serve_address(args: argparse.Namespace) -> tuple[str, int]:
    """The dashboard's (host, port) from --address; a one-line error naming it if malformed."""
    return parse_listen(args.address, "--address", DEFAULT_PORT)


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
    address, port = serve_address(args)
    url = db.resolve_db_url(args.db)
    check_readable(url)
    warning = server.exposure_warning(address, port)
    if warning:
        print(f"docktally dashboard: {warning}", file=sys.stderr, flush=True)
    proc = server.start(url, address=address, port=port)
    print(
        f"docktally dashboard: serving {server.url_for(address, port)} "
        f"({server.listen_line(address, port)}; database {server.safe_url(url)}); "
        "Ctrl-C stops it",
        file=sys.stderr,
        flush=True,
    )
    with stop_requested() as stopping:
        while proc.poll() is None and not stopping.wait(0.5):
            pass
    code = server.stop(proc)
    return 0 if stopping.is_set() else code
