"""Serve /metrics: the container series are computed from the store and rendered in a thread of
their own, every few seconds while someone scrapes; a scrape sends the latest rendering and the
collector's health, rendered then. The collector's event-to-commit path never waits on either.
"""

from __future__ import annotations

import sys
import threading
import time
from collections.abc import Callable
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any

from prometheus_client.exposition import CONTENT_TYPE_LATEST, generate_latest
from prometheus_client.registry import CollectorRegistry
from sqlalchemy import Engine

from docktally.analytics.totals import empty_totals
from docktally.errors import UsageError
from docktally.metrics.address import DEFAULT_ADDRESS, DEFAULT_PORT
from docktally.metrics.collector import (
    ContainerValues,
    HealthCollector,
    IncidentCollector,
    container_rows,
)
from docktally.metrics.exposition import render_containers
from docktally.metrics.health import CollectorHealth
from docktally.metrics.summary import Snapshot, StoreHealth, StoreTotals

REFRESH_S = 5.0
# A refresh may take at most this share of one core: big stores refresh less often.
REFRESH_SHARE = 0.25
# Nobody scraped for this long: stop refreshing until someone does.
IDLE_S = 300.0
FIRST_WAIT_S = 10.0


class MetricsServer:
    def __init__(
        self,
        store: Engine,
        *,
        address: str = DEFAULT_ADDRESS,
        port: int = DEFAULT_PORT,
        health: CollectorHealth | None = None,
        refresh_s: float = REFRESH_S,
        clock_ns: Callable[[], int] = time.time_ns,
    ) -> None:
        self.totals = StoreTotals(store, clock_ns=clock_ns)
        self.health = health
        self.refresh_s = refresh_s
        # The snapshot and its rendering, swapped as one.
        self._current = (Snapshot(clock_ns(), empty_totals(), StoreHealth()), b"")
        self._ready = threading.Event()
        self._wake = threading.Event()
        self._stop = threading.Event()
        self._last_scrape = time.monotonic()
        self.last_refresh_s = 0.0
        try:
            self.httpd = ThreadingHTTPServer((address, port), _handler(self))
        except OSError as exc:
            raise UsageError(f"--metrics {address}:{port}: {exc.strerror}") from None
        self.httpd.daemon_threads = True
        self.port = int(self.httpd.server_address[1])
        self._threads = [
            threading.Thread(
                target=self.httpd.serve_forever, name="docktally-metrics", daemon=True
            ),
            threading.Thread(
                target=self._refresh_loop, name="docktally-metrics-refresh", daemon=True
            ),
        ]

    def start(self) -> MetricsServer:
        for t in self._threads:
            t.start()
        return self

    def close(self) -> None:
        self._stop.set()
        self._wake.set()
        self.httpd.shutdown()
        self.httpd.server_close()
        for t in self._threads:
            t.join(timeout=5)

    def refresh(self) -> None:
        """Recompute the container series from the store and render them."""
        started = time.monotonic()
        snapshot = self.totals.refresh()
        rows = container_rows(snapshot)
        registry = CollectorRegistry(auto_describe=False)
        registry.register(IncidentCollector(rows, snapshot.now_ns))
        rendered = render_containers(ContainerValues.of(rows)) + generate_latest(registry)
        self._current = (snapshot, rendered)
        self.last_refresh_s = time.monotonic() - started
        self._ready.set()

    def wait_ready(self, timeout_s: float | None = None) -> bool:
        """True once the first refresh is done."""
        return self._ready.wait(timeout_s)

    def scrape(self) -> bytes:
        self._last_scrape = time.monotonic()
        if not self._ready.is_set():
            self._wake.set()
            self._ready.wait(FIRST_WAIT_S)
        snapshot, rendered = self._current
        registry = CollectorRegistry(auto_describe=False)
        registry.register(
            HealthCollector(snapshot, self.health.view() if self.health is not None else None)
        )
        return rendered + generate_latest(registry)

    def _refresh_loop(self) -> None:
        while not self._stop.is_set():
            if not self._ready.is_set() or time.monotonic() - self._last_scrape < IDLE_S:
                try:
                    self.refresh()
                except Exception as exc:  # a bad moment of the store must not end the endpoint
                    print(f"docktally metrics: refresh failed: {exc}", file=sys.stderr, flush=True)
            pause = max(self.refresh_s, self.last_refresh_s / REFRESH_SHARE)
            self._wake.wait(pause)
            self._wake.clear()


def _handler(server: MetricsServer) -> type[BaseHTTPRequestHandler]:
    class Handler(BaseHTTPRequestHandler):
        def do_GET(self) -> None:
            if self.path.split("?")[0] not in ("/metrics", "/"):
                self.send_error(404)
                return
            body = server.scrape()
            self.send_response(200)
            self.send_header("Content-Type", CONTENT_TYPE_LATEST)
            self.send_header("Content-Length", str(len(body)))
            self.end_headers()
            self.wfile.write(body)

        def log_message(self, format: str, *args: Any) -> None:
            pass  # one line per scrape would bury the collector's own messages

    return Handler
