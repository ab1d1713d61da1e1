"""Serve /metrics from the store alone (`docktally metrics`, and the child that `collect
--metrics` and `up` start, see endpoint.py): the container series are computed and rendered in
a thread of their own after each scrape (at most every 5 s); a scrape sends the latest
rendering, so it costs the endpoint almost nothing."""

from __future__ import annotations

import sys
import threading
import time
from collections.abc import Callable

from sqlalchemy import Engine

from docktally.analytics.totals import empty_totals
from docktally.metrics.address import DEFAULT_ADDRESS, DEFAULT_PORT
from docktally.metrics.collector import (
    ContainerValues,
    IncidentCollector,
    StoreHealthCollector,
    container_rows,
)
from docktally.metrics.endpoint import Http, fetch, render
from docktally.metrics.exposition import render_containers
from docktally.metrics.summary import Snapshot, StoreHealth, StoreTotals

REFRESH_S = 5.0
# A refresh may take at most this share of one core's time: big stores refresh less often.
REFRESH_SHARE = 0.25
FIRST_WAIT_S = 10.0


class MetricsServer:
    def __init__(
        self,
        store: Engine,
        *,
        address: str = DEFAULT_ADDRESS,
        port: int = DEFAULT_PORT,
        refresh_s: float = REFRESH_S,
        clock_ns: Callable[[], int] = time.time_ns,
        health_from: str | None = None,
    ) -> None:
        self.totals = StoreTotals(store, clock_ns=clock_ns)
        # Where a collector's own health is served (endpoint.CollectorMetrics), added to each
        # scrape.
        self.health_from = health_from
        self.refresh_s = refresh_s
        # The snapshot and its rendering, swapped as one.
        self._current = (Snapshot(clock_ns(), empty_totals(), StoreHealth()), b"")
        self._ready = threading.Event()
        self._wake = threading.Event()
        self._stop = threading.Event()
        self._last_scrape = time.monotonic()
        # For the benchmark: the last refresh's wall and CPU (this thread's) time, how many.
        self.last_refresh_s = 0.0
        self.last_refresh_cpu_s = 0.0
        self.refreshes = 0
        self._http = Http(address, port, self.scrape)
        self.port = self._http.port
        self._refresher = threading.Thread(
            target=self._refresh_loop, name="docktally-metrics-refresh", daemon=True
        )

    def start(self) -> MetricsServer:
        self._http.thread.start()
        self._refresher.start()
        return self

    def close(self) -> None:
        self._stop.set()
        self._wake.set()
        self._http.close()
        self._refresher.join(timeout=5)

    def refresh(self) -> None:
        """Recompute the container series from the store and render them."""
        started, cpu = time.monotonic(), time.thread_time()
        snapshot = self.totals.refresh()
        rows = container_rows(snapshot)
        rendered = render_containers(ContainerValues.of(rows)) + render(
            IncidentCollector(rows, snapshot.now_ns), StoreHealthCollector(snapshot)
        )
        self._current = (snapshot, rendered)
        self.last_refresh_s = time.monotonic() - started
        self.last_refresh_cpu_s = time.thread_time() - cpu
        self.refreshes += 1
        self._ready.set()

    def wait_ready(self, timeout_s: float | None = None) -> bool:
        """True once the first refresh is done."""
        return self._ready.wait(timeout_s)

    def scrape(self) -> bytes:
        self._last_scrape = time.monotonic()
        self._wake.set()
        if not self._ready.is_set():
            self._ready.wait(FIRST_WAIT_S)
        rendered = self._current[1]
        return rendered + fetch(self.health_from) if self.health_from else rendered

    def _refresh_loop(self) -> None:
        # Refresh after each scrape (at most every refresh_s): the next scrape finds values as
        # old as the time between scrapes, and nobody scraping costs nothing.
        refreshed_at = float("-inf")
        while not self._stop.is_set():
            if not self._ready.is_set() or self._last_scrape > refreshed_at:
                refreshed_at = time.monotonic()
                try:
                    self.refresh()
                except Exception as exc:  # a bad moment of the store must not end the endpoint
                    print(f"docktally metrics: refresh failed: {exc}", file=sys.stderr, flush=True)
            pause = max(self.refresh_s, self.last_refresh_cpu_s / REFRESH_SHARE)
            self._stop.wait(pause)
            self._wake.wait()
            self._wake.clear()
