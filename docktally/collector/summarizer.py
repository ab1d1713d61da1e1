"""The collector keeps the store's day summaries built: a thread that, every EVERY_S, builds
the complete days not built yet and the days marked dirty (store.summaries.refresh_store), so
that reports read summaries without anyone running `docktally db summarize`.

A report never depends on it for its numbers: the days not built or dirty are read from the
events. A failed pass is said in one line and tried again at the next.
"""

from __future__ import annotations

import sys
import threading
import time
from collections.abc import Callable

from sqlalchemy import Engine

EVERY_S = 900.0
# The first pass waits a little: a collector that starts has its engines to catch up first.
FIRST_S = 120.0


def start_summarizer(
    store: Engine,
    stop: threading.Event,
    *,
    every_s: float = EVERY_S,
    first_s: float = FIRST_S,
    log: Callable[[str], None] | None = None,
) -> threading.Thread:
    """Start the thread; it ends when `stop` is set."""

    def say(line: str) -> None:
        (log or (lambda text: print(text, file=sys.stderr, flush=True)))(line)

    def loop() -> None:
        from docktally.store.summaries import DAY_NS, refresh_store

        wait = first_s
        while not stop.wait(wait):
            wait = every_s
            try:
                runs = refresh_store(store, time.time_ns())
            except Exception as exc:  # the next pass tries again; the reports read events
                say(f"docktally collect: day summaries not built: {str(exc).splitlines()[0]}")
                continue
            n = sum((e - s) // DAY_NS for s, e in runs)
            if n:
                say(f"docktally collect: {n} day summar{'y' if n == 1 else 'ies'} built")

    t = threading.Thread(target=loop, name="summaries", daemon=True)
    t.start()
    return t
