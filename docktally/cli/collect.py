"""`docktally collect`: watch Docker engines and record every container event."""

from __future__ import annotations

import argparse
import signal
import sys
import threading
from types import FrameType
from typing import Any

from docktally.cli.alerts import add_alert_options, config_from_args, start_alerts
from docktally.cli.common import add_db, add_duration, add_keep_exec_commands
from docktally.cli.metrics import add_metrics_address, add_refresh
from docktally.errors import DocktallyError, UsageError
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
    add_engines(p)
    add_duration(p, "--duration", help="stop after this long (default: until a signal)")
    add_capture(p)
    add_hosts(p, "--host-label")  # its older spelling
    add_metrics_address(p, "--metrics", None)
    add_refresh(p, "--metrics-refresh")
    p.add_argument("--run-label", metavar="NAME", help=argparse.SUPPRESS)
    add_alert_options(p)
    p.set_defaults(func=run)


def add_engines(p: argparse.ArgumentParser) -> None:
    p.add_argument(
        "--engine",
        metavar="URL",
        action="append",
        help="engine URL, e.g. unix:///var/run/docker.sock or tcp://host:2375; repeat for several "
        "(default: DOCKER_HOST as the docker CLI reads it, else the default socket)",
    )


def add_capture(p: argparse.ArgumentParser) -> None:
    p.add_argument(
        "--no-logs",
        action="store_true",
        help="do not capture log tails of containers that die, nor health-check output",
    )
    add_keep_exec_commands(p)


def add_hosts(p: argparse.ArgumentParser, *aliases: str) -> None:
    p.add_argument(
        "--host",
        *aliases,
        dest="hosts",
        metavar="NAME",
        action="append",
        help="the host name stored with each event; repeat once per --engine, in the same "
        "order (default: the engine's own name from /info, made unique per engine)",
    )


def engines_and_hosts(args: argparse.Namespace) -> list[tuple[str, str | None]]:
    """--engine and --host pair by position: the first --host names the first --engine."""
    from docktally.collector.engine_url import default_engine_url

    urls: list[str] = args.engine or [default_engine_url()]
    names: list[str] = args.hosts or []
    if len(set(urls)) != len(urls):
        raise UsageError("--engine: the same engine is named twice")
    if names and len(names) != len(urls):
        raise UsageError(
            f"--host: {len(names)} name(s) for {len(urls)} engine(s): give one --host per "
            "--engine (they pair in order), or none"
        )
    if len(set(names)) != len(names):
        raise UsageError("--host: two engines cannot share a host name")
    return [(url, names[i] if names else None) for i, url in enumerate(urls)]


def failure(collectors: list[Any]) -> DocktallyError | None:
    """The first collector that gave up, if any."""
    return next((c.failed for c in collectors if c.failed is not None), None)


def run(args: argparse.Namespace) -> int:
    # Imported here: only `collect` needs the docker SDK.
    from docktally.collector.runner import Collector

    duration_s = None if args.duration_ns is None else args.duration_ns / NS_PER_S
    alerts = config_from_args(args)
    pairs = engines_and_hosts(args)
    from docktally.store import db

    # A central database that is away does not stop the collector: it watches the engines and
    # spools until the database answers (each collector says so in one line).
    store, store_ready = db.connect_when_up(args.db)
    stop = threading.Event()

    def on_signal(signum: int, _frame: FrameType | None) -> None:
        stop.set()

    metrics = health = None
    if args.metrics:
        from docktally.metrics.address import exposure_warning, parse_address
        from docktally.metrics.endpoint import CollectorMetrics
        from docktally.metrics.health import CollectorHealth

        address, port = parse_address(args.metrics)
        health = CollectorHealth()
        db_url = store.url.render_as_string(hide_password=False)
        metrics = CollectorMetrics(
            db_url,
            health,
            address=address,
            port=port,
            refresh_s=args.metrics_refresh_ns / NS_PER_S,
        ).start()
        warning = exposure_warning("--metrics", address, metrics.port)
        if warning:
            print(f"docktally collect: {warning}", file=sys.stderr, flush=True)
        print(
            f"docktally collect: metrics at http://{address}:{metrics.port}/metrics",
            file=sys.stderr,
            flush=True,
        )
    signal.signal(signal.SIGTERM, on_signal)
    signal.signal(signal.SIGINT, on_signal)
    threads = []
    collectors = []
    for url, host in pairs:
        collector = Collector(
            store=store,
            engine_url=url,
            host=host,
            capture_logs=not args.no_logs,
            keep_exec_commands=args.keep_exec_commands,
            run_label=args.run_label,
            on_commit=health.on_commit if health is not None else None,
            store_ready=store_ready,
        )
        if health is not None:
            health.watch(url, collector)
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
        collectors.append(collector)
    alert_threads = start_alerts(store, alerts, stop)
    from docktally.collector.summarizer import start_summarizer

    start_summarizer(store, stop)
    while any(t.is_alive() for t in threads):
        if failure(collectors) is not None:
            stop.set()  # one engine's collector gave up: stop all, say why
        for t in threads:
            t.join(timeout=0.1)
    stop.set()
    if metrics is not None:
        metrics.close()
    for t in alert_threads:
        t.join(timeout=ALERTS_JOIN_S)
    store.dispose()
    failed = failure(collectors)
    if failed is not None:
        raise failed
    return 0
