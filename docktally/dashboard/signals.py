"""Waiting until Ctrl-C or SIGTERM, as an Event the main loop polls instead of an exception that
could land anywhere."""

from __future__ import annotations

import signal
import threading
from collections.abc import Iterator
from contextlib import contextmanager
from types import FrameType
from typing import Any


@contextmanager
def stop_requested() -> Iterator[threading.Event]:
    """An Event set by SIGINT or SIGTERM while the block runs; old handlers come back after."""
    event = threading.Event()

    def handler(signum: int, _frame: FrameType | None) -> None:
        event.set()

    old: dict[signal.Signals, Any] = {}
    for sig in (signal.SIGINT, signal.SIGTERM):
        old[sig] = signal.signal(sig, handler)
    try:
        yield event
    finally:
        for sig, h in old.items():
            signal.signal(sig, h)
