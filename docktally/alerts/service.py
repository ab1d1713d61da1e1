"""The alerts beside a collector: an evaluation thread that has the alerts' worker process
(alerts/worker.py) decide every `evaluate_every`; the worker also sends (delivery). Neither
touches the collector's threads or connections, and the alerts' work, evaluating and sending,
is not done in the collector's process: it hands over the time and logs what it hears."""

from __future__ import annotations

import pickle
import subprocess
import sys
import threading
import time
from collections.abc import Callable

from sqlalchemy import Engine

from docktally.alerts.delivery import targets
from docktally.alerts.rules import Config
from docktally.alerts.worker import Reply

# The first read of every container rests twice its CPU time (a 100,000-event day: 1.4 s);
# the next evaluations take at most EVALUATE_SHARE of one core: any CPU beside a busy
# collector delays its wake-ups, whatever the priority (bench/README.md, Alerts).
BUSY_FACTOR = 2.0
EVALUATE_SHARE = 0.02


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
        # Whether the worker sends: from start(); an evaluate() alone (tests) only decides.
        self.deliver = False
        self.evaluations = 0
        self.warming = True  # the worker's first read of every container is still to come
        self.cpu_s = 0.0  # the last evaluation's CPU time, in the worker
        self._worker: subprocess.Popen[bytes] | None = None

    def _started_worker(self) -> subprocess.Popen[bytes]:
        """The worker process, started again if it is gone (its cache then read anew)."""
        w = self._worker
        if w is not None and w.poll() is None:
            return w
        w = subprocess.Popen(
            # Not `-m`: run as __main__, the module's Reply would not be the one unpickled here.
            [sys.executable, "-c", "from docktally.alerts.worker import main; main()"],
            stdin=subprocess.PIPE,
            stdout=subprocess.PIPE,
        )
        assert w.stdin is not None and w.stdout is not None
        url = self.store.url.render_as_string(hide_password=False)
        self._worker = w
        try:
            pickle.dump((url, self.config, self.deliver), w.stdin)
            w.stdin.flush()
            pickle.load(w.stdout)  # ready (imports done, the store opened)
        except (OSError, EOFError) as exc:
            w.kill()
            raise RuntimeError(f"the alerts' worker process ended (exit {w.wait()})") from exc
        self.warming = True
        return w

    def evaluate(self) -> None:
        w = self._started_worker()
        assert w.stdin is not None and w.stdout is not None
        try:
            pickle.dump(self.clock_ns(), w.stdin)
            w.stdin.flush()
            reply: Reply = pickle.load(w.stdout)
        except (OSError, EOFError) as exc:
            w.kill()
            raise RuntimeError(f"the alerts' worker process ended (exit {w.wait()})") from exc
        self.evaluations += 1
        self.warming, self.cpu_s = reply.warming, reply.cpu_s
        for line in reply.said:
            self.log(line)
        if reply.error is not None:
            raise RuntimeError(reply.error)
        for line in reply.lines:
            self.log(f"docktally alerts: {line}")

    def stop_worker(self) -> None:
        w, self._worker = self._worker, None
        if w is None:
            return
        assert w.stdin is not None
        try:
            w.stdin.close()  # the worker ends after its evaluation in progress
            w.wait(30)
        except (OSError, subprocess.TimeoutExpired):
            w.kill()
            w.wait()

    def _evaluate_loop(self, stop: threading.Event) -> None:
        every_s = self.config.evaluate_every_ns / 1e9
        try:
            while not stop.is_set():
                first = self.warming
                try:
                    self.evaluate()
                    if self.evaluations == 1:  # what is on, once it works
                        self.log(self._on_line())
                except Exception as exc:  # the collector must outlive any alerting trouble
                    self.log(f"docktally alerts: evaluation: {type(exc).__name__}: {exc}")
                # CPU time, not wall: on a busy machine the first read of a 100,000-event day
                # took 20-29 s for 1.4 s of CPU.
                busy = BUSY_FACTOR * self.cpu_s if first else self.cpu_s / EVALUATE_SHARE
                stop.wait(max(every_s, busy))
        finally:
            self.stop_worker()

    def _on_line(self) -> str:
        c = self.config
        rules, targets = len(c.rules), len(c.targets)
        return (
            f"docktally alerts: on: {rules} rule{'s' * (rules != 1)}, evaluated every "
            f"{c.evaluate_every_ns / 1e9:g}s, sending to {targets} target{'s' * (targets != 1)}"
        )

    def start(self, stop: threading.Event) -> list[threading.Thread]:
        self.deliver = True
        t = threading.Thread(
            target=self._evaluate_loop, args=(stop,), name="alerts evaluate", daemon=True
        )
        t.start()
        return [t]
