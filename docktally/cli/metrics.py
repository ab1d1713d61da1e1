"""`docktally metrics`: serve the Prometheus endpoint from the database alone (a fleet's
central store), with no collector in this process."""

from __future__ import annotations

import argparse
import os
import sys
import time
from typing import Any

from docktally.cli.common import add_db, add_duration, open_db
from docktally.metrics.address import DEFAULT_ADDRESS, DEFAULT_PORT
from docktally.timespec import NS_PER_S

PARENT_CHECK_S = 0.5
CHILD_NICE = 10
# Matches Prometheus' usual scrape interval; see docs/metrics.md (Freshness).
REFRESH = "15s"

EPILOG = """examples:
  docktally metrics                                   # http://127.0.0.1:9486/metrics
  docktally metrics --db postgresql://u:p@db/docktally --address 0.0.0.0:9486
"""


def add_metrics_address(p: argparse.ArgumentParser, flag: str, default: str | None) -> None:
    shown = default or "off"
    p.add_argument(
        flag,
        metavar="HOST:PORT",
        default=default,
        help=f"serve Prometheus metrics at http://HOST:PORT/metrics (default: {shown}; "
        f"a bare PORT binds {DEFAULT_ADDRESS}, a bare HOST port {DEFAULT_PORT}, docktally's own)",
    )


def add_refresh(p: argparse.ArgumentParser, flag: str) -> None:
    add_duration(
        p,
        flag,
        default=REFRESH,
        help="recompute the container series at most this often, after a scrape "
        "(longer on a big store: refreshing takes at most 2%% of one core)",
    )


def register(sub: Any) -> None:
    p: argparse.ArgumentParser = sub.add_parser(
        "metrics",
        help="serve Prometheus metrics from the database",
        description="Serve /metrics in the Prometheus text format from the database alone: "
        "restarts, failures by cause, OOM kills, downtime and observed time per container, "
        "container states, open incidents, the collectors' gaps. Runs until SIGTERM/SIGINT "
        "(or --duration). See docs/metrics.md.",
        epilog=EPILOG,
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    add_db(p)
    add_metrics_address(p, "--address", f"{DEFAULT_ADDRESS}:{DEFAULT_PORT}")
    add_refresh(p, "--refresh")
    add_duration(p, "--duration", help="stop after this long (default: until a signal)")
    # `collect --metrics` and `up` run this command as a child: it ends with its parent, adds
    # the parent's health to each scrape and leaves the messages to the parent.
    p.add_argument("--parent-pid", type=int, help=argparse.SUPPRESS)
    p.add_argument("--health-from", metavar="URL", help=argparse.SUPPRESS)
    p.set_defaults(func=run)


def run(args: argparse.Namespace) -> int:
    from docktally.dashboard.signals import stop_requested
    from docktally.metrics.address import exposure_warning, parse_address
    from docktally.metrics.server import MetricsServer

    address, port = parse_address(args.address, "--address")
    store_ready = None
    if args.parent_pid is not None:
        from docktally.store import db

        # Beside a collector, on a busy machine the collector's writer goes first.
        os.nice(CHILD_NICE)
        # The collector may run while its central database is away (it spools): the endpoint
        # serves its health meanwhile, and the store's series once the database answers.
        store, store_ready = db.connect_when_up(args.db, readonly=True)
    else:
        store = open_db(args, readonly=True)
    duration_s = None if args.duration_ns is None else args.duration_ns / NS_PER_S
    server = MetricsServer(
        store,
        store_ready=store_ready,
        # Beside a collector: the refresh takes only CPU that nothing else wants.
        idle_refresh=args.parent_pid is not None,
        address=address,
        port=port,
        refresh_s=args.refresh_ns / NS_PER_S,
        health_from=args.health_from,
        option="--address",
    ).start()
    warning = exposure_warning("--address", address, server.port)
    if args.parent_pid is None:
        if warning:
            print(f"docktally metrics: {warning}", file=sys.stderr, flush=True)
        print(
            f"docktally metrics: serving http://{address}:{server.port}/metrics",
            file=sys.stderr,
            flush=True,
        )
    deadline = None if duration_s is None else time.monotonic() + duration_s
    try:
        with stop_requested() as stopping:
            while not stopping.wait(PARENT_CHECK_S):
                if args.parent_pid is not None and os.getppid() != args.parent_pid:
                    break  # the collector that started this endpoint is gone
                if deadline is not None and time.monotonic() >= deadline:
                    break
    finally:
        server.close()
        store.dispose()
    return 0
