"""Counters continued from the store: each container's totals since its first stored event.

A settled base (everything before `now - settle`) is computed once and folded forward every
`settle` seconds; the recent tail is recomputed on each refresh. The tail is long enough for
late rows (the collector's last heartbeat, events of a replay) to have arrived before it is
folded, so the counters are the report's numbers and survive a restart of the collector or of
this process: they are computed again from the same stored events.
"""

from __future__ import annotations

import threading
import time
from collections.abc import Callable
from dataclasses import dataclass, field

import pandas as pd
from sqlalchemy import Connection, Engine

from docktally.analytics.model import Window
from docktally.analytics.totals import combine, container_totals, empty_totals, never_backwards
from docktally.store import collection, db, reads

NS = 1_000_000_000
SETTLE_S = 120.0


@dataclass(frozen=True)
class StoreHealth:
    """What the store knows about collection, per host."""

    gaps: dict[str, int] = field(default_factory=dict)
    last_event_ns: dict[str, int] = field(default_factory=dict)


@dataclass(frozen=True)
class Snapshot:
    now_ns: int
    totals: pd.DataFrame  # analytics.totals.TOTAL_COLUMNS
    health: StoreHealth


class StoreTotals:
    """Snapshots of the totals, one refresh at a time (callers may share it across threads)."""

    def __init__(
        self,
        store: Engine,
        *,
        clock_ns: Callable[[], int] = time.time_ns,
        settle_s: float = SETTLE_S,
    ) -> None:
        self.store = store
        self.clock_ns = clock_ns
        self.settle_ns = int(settle_s * NS)
        self._lock = threading.Lock()
        self._base = empty_totals()
        self._base_end_ns: int | None = None
        self._last = empty_totals()
        # Each container's last events before the windows' look-back: kept, not looked up at
        # every refresh (the base's fold and the tail start at the same point for minutes).
        self._earlier = reads.LastEvents()
        self._containers = reads.KeptContainers()  # the containers table, likewise
        self._newest = collection.NewestEvents()  # each host's newest event, kept likewise

    def refresh(self) -> Snapshot:
        with self._lock:
            now = self.clock_ns()
            with self.store.connect() as conn:
                if self._base_end_ns is None:
                    first = collection.first_event_ns(conn)
                    if first is None:
                        return Snapshot(now, empty_totals(), self._health(conn))
                    self._base_end_ns = first
                fold_to = now - self.settle_ns
                if fold_to - self._base_end_ns >= self.settle_ns:
                    self._base = combine(self._base, self._window(conn, self._base_end_ns, fold_to))
                    self._base_end_ns = fold_to
                tail = (
                    self._window(conn, self._base_end_ns, now)
                    if now > self._base_end_ns
                    else empty_totals()
                )
                health = self._health(conn)
            totals = never_backwards(self._last, combine(self._base, tail))
            self._last = totals
            return Snapshot(now, totals, health)

    def _health(self, conn: Connection) -> StoreHealth:
        return StoreHealth(
            gaps=collection.gaps_by_host(conn), last_event_ns=self._newest.read(conn)
        )

    def _window(self, conn: Connection, start_ns: int, end_ns: int) -> pd.DataFrame:
        # The collector's own connection: this process writes the store (store.db.Reader).
        reader = db.ConnectionReader(conn)
        earlier = self._earlier.before(reader, start_ns - reads.LOOKBACK_NS)
        box = self._containers.read(reader)
        history = reads.load_history(reader, start_ns, end_ns, earlier=earlier, containers=box)
        return container_totals(history, Window(start_ns, end_ns))
