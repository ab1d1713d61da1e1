"""`docktally up`: migrate, collect and serve the dashboard together."""

from __future__ import annotations

import argparse
import shutil
import sys
import tempfile
import threading
import time
from pathlib import Path
from typing import Any

from docktally.cli.alerts import add_alert_options, config_from_args, start_alerts
from docktally.cli.collect import add_capture, add_engines, add_hosts, engines_and_hosts, failure
from docktally.cli.common import add_db, open_db
from docktally.cli.dashboard import add_serve_options, serve_address
from docktally.cli.metrics import add_metrics_address, add_refresh
from docktally.dashboard import server
from docktally.dashboard.signals import stop_requested
from docktally.dashboard.status import STATUS_ENV, EngineStatus, write_status
from docktally.errors import UsageError
from docktally.listening import check_port_free
from docktally.metrics.address import DEFAULT_ADDRESS, DEFAULT_PORT, parse_address
from docktally.timespec import NS_PER_S

STATUS_EVERY_S = 1.0
COLLECTOR_JOIN_S = 10.0


def register(sub: Any) -> None:
    p: argparse.ArgumentParser = sub.add_parser(
        "up",
        help="migrate, collect and serve the dashboard together",
        description="Bring the database to the newest schema, watch the Docker engine and serve "
        "the dashboard, until Ctrl-C or SIGTERM. When the engine does not answer, the dashboard "
        "still serves and the collector keeps retrying.",
    )
    add_db(p)
    add_engines(p)
    add_hosts(p)
    add_serve_options(p)
    add_metrics_address(p, "--metrics", f"{DEFAULT_ADDRESS}:{DEFAULT_PORT}")
    add_refresh(p, "--metrics-refresh")
    add_capture(p)
    add_alert_options(p)
    p.set_defaults(func=run)


def run(args: argparse.Namespace) -> int:
    # Imported here: only commands that collect need the docker SDK.
    from docktally.collector.runner import Collector
    from docktally.metrics.endpoint import CollectorMetrics
    from docktally.metrics.health import CollectorHealth

    alerts = config_from_args(args)
    pairs = engines_and_hosts(args)
    address, port = serve_address(args)
    check_port_free(address, port, f"--address {args.address}")
    metrics_at = parse_address(args.metrics)
    warning = server.exposure_warning(address, port)
    if warning:
        print(f"docktally up: {warning}", file=sys.stderr, flush=True)
    store = open_db(args)  # migrates to head
    url = store.url.render_as_string(hide_password=False)
    health = CollectorHealth()
    metrics: CollectorMetrics | None = None
    try:
        metrics = CollectorMetrics(
            url,
            health,
            address=metrics_at[0],
            port=metrics_at[1],
            refresh_s=args.metrics_refresh_ns / NS_PER_S,
        )
    except UsageError as exc:
        # The dashboard and the collector are the main job: without the endpoint, say so.
        print(f"docktally up: metrics not served: {exc}", file=sys.stderr, flush=True)
    status_dir = Path(tempfile.mkdtemp(prefix="docktally-up-"))
    status_path = status_dir / "collector.json"
    stop = threading.Event()
    collectors: list[tuple[Any, EngineStatus, threading.Thread]] = []
    for engine_url, host in pairs:
        status = EngineStatus(engine_url, time.time_ns)

        def log(line: str, status: EngineStatus = status) -> None:
            status.note(line)
            print(line, file=sys.stderr, flush=True)

        collector = Collector(
            store=store,
            engine_url=engine_url,
            host=host,
            capture_logs=not args.no_logs,
            keep_exec_commands=args.keep_exec_commands,
            log=log,
            on_commit=health.on_commit,
        )
        health.watch(engine_url, collector)
        thread = threading.Thread(
            target=collector.run, args=(stop,), name=f"collect {engine_url}", daemon=True
        )
        collectors.append((collector, status, thread))

    def publish() -> None:
        engines = [s.refresh(int(c.sessions)) for c, s, _ in collectors]
        write_status(status_path, engines, time.time_ns())

    publish()
    proc = server.start(
        url,
        address=address,
        port=port,
        extra_env={STATUS_ENV: str(status_path)},
        quiet_stdout=True,
    )
    code = 0
    alert_threads: list[threading.Thread] = []
    try:
        with stop_requested() as stopping:
            for _, _, thread in collectors:
                thread.start()
            if metrics is not None:
                metrics.start()
                print(
                    f"docktally up: metrics at http://{metrics_at[0]}:{metrics.port}/metrics",
                    file=sys.stderr,
                    flush=True,
                )
            alert_threads = start_alerts(store, alerts, stop)
            from docktally.collector.summarizer import start_summarizer

            start_summarizer(store, stop)
            print(
                f"docktally up: dashboard at {server.url_for(address, port)} "
                f"({server.listen_line(address, port)})\n"
                f"docktally up: collecting from {', '.join(s.url for _, s, _ in collectors)} "
                f"into {server.safe_url(url)}\n"
                "docktally up: Ctrl-C stops both",
                file=sys.stderr,
                flush=True,
            )
            while not stopping.wait(STATUS_EVERY_S):
                publish()
                if proc.poll() is not None:
                    print(
                        f"docktally up: the dashboard exited (code {proc.returncode}); stopping",
                        file=sys.stderr,
                    )
                    code = 1
                    break
                failed = failure([c for c, _, _ in collectors])
                if failed is not None:
                    print(f"docktally up: error: {failed}", file=sys.stderr, flush=True)
                    code = failed.exit_code
                    break
    finally:
        print("docktally up: stopping", file=sys.stderr, flush=True)
        stop.set()
        server.stop(proc)
        if metrics is not None:
            metrics.close()
        for _, _, thread in collectors:
            if thread.is_alive():
                thread.join(timeout=COLLECTOR_JOIN_S)
        for thread in alert_threads:
            thread.join(timeout=COLLECTOR_JOIN_S)
        store.dispose()
        shutil.rmtree(status_dir, ignore_errors=True)
    return code
