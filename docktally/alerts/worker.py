"""The alert evaluations in a process of their own, beside a collector (alerts/service.py).

In the collector's process, an evaluation slowed the collector's writes: its Python and pandas
work holds the GIL, which each of the collector's threads waits for after every socket read and
commit, and what it allocates sets off the cyclic GC's full collections, which walk every object
of the process (the collector's and the evaluation cache's) with the GIL held, 0.2-0.8 s each
on a loaded machine, 4-5 during the first read of a 100,000-event day (bench/README.md).

The evaluation (reads and pandas) runs in a thread at SCHED_IDLE: only on CPU nobody else
wants. Its outbox write stays in the main thread at normal priority, while the evaluation
thread waits: a starved process that holds SQLite's write lock would hold the collector's
writer back (a niced child did, bench/README.md), and only that write takes the lock.

Protocol, pickles over stdin and stdout: first (store URL, Config), answered by None once the
process is ready; then per evaluation the time to evaluate at (ns), answered by a Reply; stdin
closed: the process ends.
"""

from __future__ import annotations

import contextlib
import pickle
import signal
import sys
import time
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from typing import BinaryIO

from docktally.alerts.delivery import targets
from docktally.alerts.evaluate import Evaluator, enqueue
from docktally.alerts.rules import Config
from docktally.priority import idle_priority


@dataclass(frozen=True)
class Reply:
    lines: tuple[str, ...]  # a line to log per decision
    decided: int  # decisions enqueued
    warming: bool  # the first read of every container is still to come
    cpu_s: float  # the evaluation's CPU time
    error: str | None = None  # what stopped the evaluation


def serve(url: str, config: Config, requests: BinaryIO, replies: BinaryIO) -> None:
    from docktally.store import db

    to = targets(config.targets)
    # The first read at once: here it holds no other thread back.
    evaluator = Evaluator(config)
    store = None
    with contextlib.suppress(Exception):  # tried again at the first evaluation
        store = db.connect(url, migrate=False)
    # Ready: an evaluation's time must be when it reads, not before this process started (the
    # events written meanwhile would count as read).
    pickle.dump(None, replies)
    replies.flush()
    idle = ThreadPoolExecutor(1, "alerts evaluate", initializer=idle_priority)
    while True:
        try:
            now_ns = pickle.load(requests)
        except EOFError:
            break
        cpu = time.process_time()
        try:
            if store is None:  # a central database may be away at start: tried again
                store = db.connect(url, migrate=False)
            decisions, rows = idle.submit(evaluator.decide, store, to, int(now_ns)).result()
            enqueue(store, rows)
            lines = tuple(f"{d.kind} {d.rule.name}: {d.key} on {d.host}" for d in decisions)
            reply = Reply(lines, len(decisions), evaluator.warming, time.process_time() - cpu)
        except Exception as exc:  # reported by the collector's side, which goes on
            reply = Reply((), 0, evaluator.warming, time.process_time() - cpu, _said(exc))
        try:
            pickle.dump(reply, replies)
            replies.flush()
        except BrokenPipeError:  # the collector is gone
            break
    idle.shutdown()


def _said(exc: BaseException) -> str:
    return f"{type(exc).__name__}: {exc}"


def main() -> None:
    requests, replies = sys.stdin.buffer, sys.stdout.buffer
    sys.stdout = sys.stderr  # stdout carries the replies alone
    # A Ctrl-C reaches the whole process group: the collector stops, then closes our stdin.
    signal.signal(signal.SIGINT, signal.SIG_IGN)
    url, config = pickle.load(requests)
    serve(url, config, requests, replies)
