"""`docktally collect`: watch Docker engines and record every container event."""

from __future__ import annotations

import argparse
import signal
import sys
import threading
from types import FrameType
from typing import Any

from docktally.cli.alerts import add_alert_options, config_from_args, start_alerts
from docktally.cli.common import add_db, add_duration, add_keep_exec_commands, open_db
from docktally.cli.metrics import add_metrics_address
from docktally.timespec import NS_PER_S

# On the way out, a delivery in flight gets this long to finish (Apprise's own timeout bounds it).
ALERTS_JOIN_S = 12.0


def register(sub: Any) -> None:
    p: argparse.ArgumentParser = sub.add_parser(
        "collect",
        help="watch the Docker engine and record every container event",
        description=(
            "Watch Docker engines and record every container event, with coverage, gaps and "
            "transitions inferred from inspect where the engine lost events. Runs until "
            "SIGTERM/SIGINT or --duration. Uses only GET endpoints, so it works behind a "
            "read-only socket proxy."
        ),
    )
    add_db(p)
    p.add_argument(
        "--engine",
        metavar="URL",
        action="append",
        help="engine URL, e.g. unix:///var/run/docker.sock or tcp://host:2375; repeat for several "
        "(default: DOCKER_HOST as the docker CLI reads it, else the default socket)",
    )
    add_duration(p, "--duration", help="stop after this long (default: until a signal)")
    p.add_argument(
        "--no-logs", action="store_true", help="do not capture log tails of containers that die"
    )
    add_keep_exec_commands(p)
    p.add_argument(
        "--host-label",
        metavar="NAME",
        help="the host name stored with each event (default: the engine's own name from /info)",
    )
    add_metrics_address(p, "--metrics", None)
    p.add_argument("--run-label", metavar="NAME", help=argparse.SUPPRESS)
    add_alert_options(p)
    p.set_defaults(func=run)


def run(args: argparse.Namespace) -> int:
    # Imported here: only `collect` needs the docker SDK.
    from docktally.collector.engine_url import default_engine_url
    from docktally.collector.runner import Collector

    duration_s = None if args.duration_ns is None else args.duration_ns / NS_PER_S
    alerts = config_from_args(args)
    store = open_db(args)
    urls = args.engine or [default_engine_url()]
    stop = threading.Event()

    def on_signal(signum: int, _frame: FrameType | None) -> None:
        stop.set()

    metrics = health = None
    if args.metrics:
        from docktally.metrics.address import parse_address
        from docktally.metrics.endpoint import CollectorMetrics
        from docktally.metrics.health import CollectorHealth, sessions_of

        address, port = parse_address(args.metrics)
        health = CollectorHealth()
        db_url = store.url.render_as_string(hide_password=False)
        metrics = CollectorMetrics(db_url, health, address=address, port=port).start()
        print(
            f"docktally collect: metrics at http://{address}:{metrics.port}/metrics",
            file=sys.stderr,
            flush=True,
        )
    signal.signal(signal.SIGTERM, on_signal)
    signal.signal(signal.SIGINT, on_signal)
    threads = []
    for url in urls:
        collector = Collector(
            store=store,
            engine_url=url,
            host=args.host_label,
            capture_logs=not args.no_logs,
            keep_exec_commands=args.keep_exec_commands,
            run_label=args.run_label,
            on_commit=health.on_commit if health is not None else None,
        )
        if health is not None:
            health.watch_sessions(url, sessions_of(collector))
        print(
            f"docktally collect: watching {url}, writing to "
            f"{store.url.render_as_string(hide_password=True)}",
            file=sys.stderr,
            flush=True,
        )
        t = threading.Thread(
            target=collector.run, args=(stop, duration_s), name=f"collect {url}", daemon=True
        )
        t.start()
        threads.append(t)
    alert_threads = start_alerts(store, alerts, stop)
    while any(t.is_alive() for t in threads):
        for t in threads:
            t.join(timeout=0.1)
    stop.set()
    if metrics is not None:
        metrics.close()
    for t in alert_threads:
        t.join(timeout=ALERTS_JOIN_S)
    store.dispose()
    return 0
