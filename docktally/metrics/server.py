"""Serve /metrics from the store (`docktally metrics`, and the child that `collect --metrics`
and `up` start, see endpoint.py). The store's series are computed (pandas) and rendered
(prometheus_client) in one thread of their own, at most once per refresh interval and only
after a scrape; a scrape sends the latest rendering, with the collector's own health fetched
then when beside a collector, so it never waits on pandas."""

from __future__ import annotations

import sys
import threading
import time
from collections.abc import Callable

import pandas as pd
from sqlalchemy import Engine

from docktally.metrics.address import DEFAULT_ADDRESS, DEFAULT_PORT
from docktally.metrics.collector import (
    CONTAINER_FAMILIES,
    INCIDENT,
    StoreHealthCollector,
    container_rows,
    incident_rows,
)
from docktally.metrics.endpoint import Http, fetch, render
from docktally.metrics.summary import Snapshot, StoreTotals
from docktally.metrics.text import KeptText
from docktally.priority import idle_priority

REFRESH_S = 15.0
# A refresh may take at most this share of one core's time: big stores refresh less often.
# Any CPU it takes beside a busy collector delays the collector's wake-ups, whatever its
# priority (bench/README.md, Metrics endpoint): at 10,000 containers every 15-35 s.
REFRESH_SHARE = 0.02


class MetricsServer:
    def __init__(
        self,
        store: Engine,
        *,
        address: str = DEFAULT_ADDRESS,
        port: int = DEFAULT_PORT,
        refresh_s: float = REFRESH_S,
        health_from: str | None = None,
        clock_ns: Callable[[], int] = time.time_ns,
        option: str = "--metrics",
        store_ready: Callable[[], None] | None = None,
        idle_refresh: bool = False,
    ) -> None:
        self.totals = StoreTotals(store, clock_ns=clock_ns)
        # Each refresh renders only what changed since the last.
        self.text = KeptText(CONTAINER_FAMILIES)
        self.incidents = KeptText((INCIDENT,))
        # Raises while the database is away or behind head (store.db.connect_when_up).
        self.store_ready = store_ready
        self._failed: str | None = None  # the last refresh's error, said once
        self.idle_refresh = idle_refresh
        # Where a collector serves its own health (endpoint.CollectorMetrics), added to each
        # scrape.
        self.health_from = health_from
        self.refresh_s = refresh_s
        # The latest refresh's text in parts, replaced whole: nothing until the first refresh.
        self.rendered: tuple[bytes, ...] = ()
        self._scraped = threading.Event()
        self._stop = threading.Event()
        # For the benchmark: the last refresh's wall and CPU (this thread's) time, how many.
        self.last_refresh_s = 0.0
        self.last_refresh_cpu_s = 0.0
        self.refreshes = 0
        self._http = Http(address, port, self.scrape, option)
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
        self._scraped.set()
        self._http.close()
        if self._refresher.is_alive():
            self._refresher.join()  # a refresh under way ends before the store is closed

    def refresh(self) -> None:
        """Recompute the container series from the store and render them."""
        started, cpu = time.monotonic(), time.thread_time()
        if self.store_ready is not None:
            self.store_ready()
        snapshot = self.totals.refresh()
        self.rendered = self.render(snapshot, container_rows(snapshot))
        self.last_refresh_s = time.monotonic() - started
        self.last_refresh_cpu_s = time.thread_time() - cpu
        self.refreshes += 1

    def render(self, snapshot: Snapshot, rows: pd.DataFrame) -> tuple[bytes, ...]:
        """The text of the snapshot and its series rows, one part per family: the containers',
        the incidents', the store's health. Never joined: a family that did not change is the
        last refresh's part, and joining them copied ~30 MB (~10 ms) at each refresh."""
        parts = self.text.render_parts(rows)
        parts += self.incidents.render_parts(incident_rows(rows, snapshot.now_ns))
        parts.append(render(StoreHealthCollector(snapshot)))
        return tuple(parts)

    def scrape(self) -> tuple[bytes, ...]:
        """The text in parts, sent one after the other: joined, each scrape copied ~30 MB."""
        self._scraped.set()
        if self.health_from is None:
            return self.rendered
        return *self.rendered, fetch(self.health_from)

    def _refresh_loop(self) -> None:
        if self.idle_refresh:
            idle_priority()
        # After a scrape, at most once per refresh_s: the next scrape finds values at most
        # refresh_s (plus one refresh) old, and nobody scraping costs nothing.
        while True:
            self._scraped.wait()
            if self._stop.is_set():
                return
            self._scraped.clear()
            try:
                self.refresh()
                self._failed = None
            except Exception as exc:  # a bad moment of the store must not end the endpoint
                # Once, not at every scrape of a database that stays away (the collector
                # says it is spooling).
                said = (str(exc).splitlines() or [type(exc).__name__])[0]
                if said != self._failed:
                    print(f"docktally metrics: refresh failed: {said}", file=sys.stderr, flush=True)
                self._failed = said
            # The first refresh reads all history (seconds at 10,000 containers): the budget
            # is for the tail refreshes that follow, or the series would wait minutes.
            busy = self.last_refresh_cpu_s / REFRESH_SHARE if self.refreshes > 1 else 0.0
            if self._stop.wait(max(self.refresh_s, busy)):
                return
