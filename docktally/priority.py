"""Background work beside the collector's writer, on CPU nobody else wants."""

from __future__ import annotations

import contextlib
import os


def idle_priority() -> None:
    """The calling thread runs only on CPU nobody else wants (Linux SCHED_IDLE): a thread that
    wakes, the collector's writer first, takes the core from it, where at nice 10 it could
    still finish its time slice first. Not always at once: with both cores busy, a waking
    thread still waited up to a 4 ms tick behind it now and then (bench/README.md, Metrics
    endpoint, session 9), less than behind nice 19. For this thread only, and for good: an
    unprivileged thread cannot leave SCHED_IDLE."""
    with contextlib.suppress(AttributeError, OSError):  # not Linux: nice 10 is all there is
        os.sched_setscheduler(0, os.SCHED_IDLE, os.sched_param(0))
