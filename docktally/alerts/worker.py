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

Delivery runs here too, in a thread of its own at normal priority (it records each message
sent at once, holding the write lock as briefly): Apprise's work, ~1 ms of CPU per message,
would otherwise hold the collector's GIL. Its log lines go back with the next Reply.

Protocol, pickles over stdin and stdout: first (store URL, Config, whether to deliver),
answered by None once the process is ready; then per evaluation the time to evaluate at (ns),
answered by a Reply; stdin closed: the process ends (after the message being sent, if any).
"""

from __future__ import annotations

import contextlib
import dataclasses
import pickle
import signal
import sys
import threading
import time
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from typing import BinaryIO

from sqlalchemy import Engine

from docktally.alerts.delivery import Deliverer, Target, targets
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
    said: tuple[str, ...] = ()  # the delivery's log lines since the last Reply


class Delivery:
    """The delivery thread, started once the store is open; its log lines kept for a Reply."""

    def __init__(self, config: Config, to: list[Target]) -> None:
        self.config, self.to = config, to
        self.lines: list[str] = []
        self.stop = threading.Event()
        self.deliverer: Deliverer | None = None
        self.thread: threading.Thread | None = None

    def start(self, store: Engine) -> None:
        if self.deliverer is not None:
            return
        self.deliverer = Deliverer(store, self.to, self.config.delivery, log=self.lines.append)
        self.thread = threading.Thread(
            target=self.deliverer.run, args=(self.stop,), name="alerts deliver", daemon=True
        )
        self.thread.start()

    def wake(self) -> None:
        if self.deliverer is not None:
            self.deliverer.wake.set()

    def said(self) -> tuple[str, ...]:
        n = len(self.lines)  # appended to by the delivery thread meanwhile: kept for the next
        out, self.lines[:n] = tuple(self.lines[:n]), []
        return out

    def close(self) -> None:
        self.stop.set()
        if self.deliverer is not None and self.thread is not None:
            self.deliverer.wake.set()
            self.thread.join()
        for line in self.said():  # no Reply to carry them any more
            print(line, file=sys.stderr, flush=True)


def serve(
    url: str, config: Config, requests: BinaryIO, replies: BinaryIO, deliver: bool = True
) -> None:
    from docktally.store import db

    to = targets(config.targets)
    # The first read at once: here it holds no other thread back.
    evaluator = Evaluator(config)
    delivery = Delivery(config, to)
    store = None
    with contextlib.suppress(Exception):  # tried again at the first evaluation
        store = db.connect(url, migrate=False)
    if store is not None and deliver:
        delivery.start(store)
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
            if deliver:
                delivery.start(store)
            decisions, rows = idle.submit(evaluator.decide, store, to, int(now_ns)).result()
            enqueue(store, rows)
            if rows:
                delivery.wake()
            lines = tuple(f"{d.kind} {d.rule.name}: {d.key} on {d.host}" for d in decisions)
            reply = Reply(lines, len(decisions), evaluator.warming, time.process_time() - cpu)
        except Exception as exc:  # reported by the collector's side, which goes on
            reply = Reply((), 0, evaluator.warming, time.process_time() - cpu, _said(exc))
        try:
            pickle.dump(dataclasses.replace(reply, said=delivery.said()), replies)
            replies.flush()
        except BrokenPipeError:  # the collector is gone
            break
    idle.shutdown()
    delivery.close()


def _said(exc: BaseException) -> str:
    return f"{type(exc).__name__}: {exc}"


def main() -> None:
    requests, replies = sys.stdin.buffer, sys.stdout.buffer
    sys.stdout = sys.stderr  # stdout carries the replies alone
    # A Ctrl-C reaches the whole process group: the collector stops, then closes our stdin.
    signal.signal(signal.SIGINT, signal.SIG_IGN)
    url, config, deliver = pickle.load(requests)
    serve(url, config, requests, replies, deliver)
