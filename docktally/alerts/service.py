"""The alerts beside a collector: an evaluation thread that decides every `evaluate_every`,
and a delivery thread that sends. Neither touches the collector's threads or connections."""

from __future__ import annotations

import sys
import threading
import time
from collections.abc import Callable

from sqlalchemy import Engine

from docktally.alerts.delivery import Deliverer, targets
from docktally.alerts.evaluate import Evaluator
from docktally.alerts.rules import Config

BUSY_FACTOR = 2.0
# Containers read a slice for the first time per evaluation (alerts/evaluate.Evaluator).
FIRST_READ_SLICE = 100


def _log_stderr(line: str) -> None:
    print(line, file=sys.stderr, flush=True)


class AlertService:
    def __init__(
        self,
        store: Engine,
        config: Config,
        *,
        clock_ns: Callable[[], int] = time.time_ns,
        log: Callable[[str], None] = _log_stderr,
    ) -> None:
        self.store = store
        self.config = config
        self.targets = targets(config.targets)
        self.clock_ns = clock_ns
        self.log = log
        self.deliverer = Deliverer(store, self.targets, config.delivery, clock_ns=clock_ns, log=log)
        self.evaluator = Evaluator(config, slice_containers=FIRST_READ_SLICE)
        self.evaluations = 0

    def evaluate(self) -> None:
        decisions = self.evaluator.evaluate(self.store, self.targets, self.clock_ns())
        self.evaluations += 1
        for d in decisions:
            self.log(f"docktally alerts: {d.kind} {d.rule.name}: {d.key} on {d.host}")
        if decisions:
            self.deliverer.wake.set()

    def _evaluate_loop(self, stop: threading.Event) -> None:
        every_s = self.config.evaluate_every_ns / 1e9
        while not stop.is_set():
            began = time.monotonic()
            try:
                self.evaluate()
            except Exception as exc:  # the collector must outlive any alerting trouble
                self.log(f"docktally alerts: evaluation: {type(exc).__name__}: {exc}")
            # Resting at least twice as long as an evaluation took keeps the alerts to a
            # third of a core, however busy the store.
            stop.wait(max(every_s, BUSY_FACTOR * (time.monotonic() - began)))

    def start(self, stop: threading.Event) -> list[threading.Thread]:
        threads = [
            threading.Thread(
                target=self._evaluate_loop, args=(stop,), name="alerts evaluate", daemon=True
            ),
            threading.Thread(
                target=self.deliverer.run, args=(stop,), name="alerts deliver", daemon=True
            ),
        ]
        for t in threads:
            t.start()
        return threads
