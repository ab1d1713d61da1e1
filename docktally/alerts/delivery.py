"""Delivery through Apprise (one URL per target: Slack, ntfy, email, JSON webhooks, ...).

The delivery thread sends the outbox's due messages, records each attempt, and retries a failed
one with a doubling back-off until it is sent or `give_up_after` has passed. It runs beside the
collector and never holds it up: its own thread, its own connections, short transactions.
"""

from __future__ import annotations

import hashlib
import logging
import sys
import threading
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import Any

import apprise
from sqlalchemy import Engine

from docktally.alerts.rules import Delivery
from docktally.errors import UsageError
from docktally.store import alerts as outbox

# Apprise waits this long for a target to answer; the thread is ours, but a hung target should
# not hold the messages behind it for long.
SEND_TIMEOUT_S = 10.0


@dataclass(frozen=True)
class Target:
    url: str
    # A hash of the URL (which may carry a token) names the target in the database.
    id: str
    # Apprise's own rendering with secrets masked: what `alerts list` shows.
    label: str


def target(url: str) -> Target:
    server = apprise.Apprise.instantiate(url)
    if server is None:
        raise UsageError(
            f"--notify: {url.split('://', 1)[0]!r}:// is not a notification URL Apprise knows"
        )
    label = str(server.url(privacy=True)).split("?", 1)[0]
    return Target(url, hashlib.sha256(url.encode()).hexdigest()[:16], label[:512])


def targets(urls: Sequence[str]) -> list[Target]:
    return [target(u) for u in urls]


def send(url: str, title: str, body: str, notify_type: str) -> str | None:
    """Send one message; None when the target took it, else why not (one line)."""
    ap = apprise.Apprise()
    if not ap.add(url):
        return "not a notification URL Apprise knows"
    with apprise.LogCapture(level=logging.WARNING) as logs:
        ok = ap.notify(
            body=body,
            title=title,
            notify_type=notify_type,
            body_format=apprise.NotifyFormat.TEXT,
            timeout=SEND_TIMEOUT_S,
        )
    if ok:
        return None
    lines = [ln.split(" - ", 2)[-1] for ln in str(logs.getvalue()).splitlines() if ln.strip()]
    return lines[-1] if lines else "the target did not accept the message"


def backoff_ns(attempts: int, delivery: Delivery) -> int:
    """Wait before attempt `attempts + 1`: retry_min doubling, at most retry_max."""
    return int(min(delivery.retry_max_ns, delivery.retry_min_ns * 2 ** max(0, attempts - 1)))


def _log_stderr(line: str) -> None:
    print(line, file=sys.stderr, flush=True)


class Deliverer:
    def __init__(
        self,
        store: Engine,
        to: Sequence[Target],
        delivery: Delivery,
        *,
        clock_ns: Callable[[], int] = time.time_ns,
        log: Callable[[str], None] = _log_stderr,
    ) -> None:
        self.store = store
        self.urls = {t.id: t.url for t in to}
        self.delivery = delivery
        self.clock_ns = clock_ns
        self.log = log
        self.wake = threading.Event()

    def send_due(self) -> int:
        """One pass over the due messages; returns how many were sent. A target that fails is
        not asked again in the same pass: its other due messages wait with the same error (a
        target that is down costs one try a pass, not one per message). Each sent message is
        recorded at once (never sent twice); the failed ones together, in one transaction."""
        with self.store.connect() as conn:
            rows = outbox.due(conn, self.clock_ns())
        sent = 0
        down: dict[str, str] = {}  # target -> the error it gave in this pass
        failed: list[tuple[dict[str, Any], str]] = []
        for row in rows:
            url = self.urls.get(row["target"])
            if url is None:
                error: str | None = "this target is no longer configured"
            elif row["target"] in down:
                error = down[row["target"]]
            else:
                error = send(url, row["title"], row["body"], row["notify_type"])
            if error is None:
                with self.store.begin() as conn:
                    outbox.mark_sent(conn, row["id"], self.clock_ns())
                sent += 1
                continue
            down[row["target"]] = error
            failed.append((row, error))
        if failed:
            self._failed(failed)
        return sent

    def _failed(self, failed: list[tuple[dict[str, Any], str]]) -> None:
        now = self.clock_ns()
        marks = []
        lines: dict[str, str] = {}
        held: dict[str, int] = {}
        for row, error in failed:
            attempts = int(row["attempts"]) + 1
            retry_at = now + backoff_ns(attempts, self.delivery)
            give_up = row["target"] not in self.urls or (
                retry_at - int(row["created_ns"]) > self.delivery.give_up_after_ns
            )
            marks.append((int(row["id"]), error, None if give_up else retry_at))
            label = str(row["target_label"])
            held[label] = held.get(label, 0) + 1
            lines.setdefault(
                label,
                f"docktally alerts: {label}: {error}"
                + (" (given up)" if give_up else f" (retry {attempts + 1} later)"),
            )
        with self.store.begin() as conn:
            outbox.mark_attempts_failed(conn, marks)
        for label, line in lines.items():
            more = held[label] - 1
            self.log(line + (f"; {more} more message(s) held back with it" if more else ""))

    def run(self, stop: threading.Event, idle_s: float = 1.0) -> None:
        """Send until `stop`; wakes early when `wake` is set (new messages)."""
        while not stop.is_set():
            try:
                self.send_due()
                with self.store.connect() as conn:
                    nxt = outbox.next_due_ns(conn)
            except Exception as exc:  # the collector must outlive any delivery trouble
                self.log(f"docktally alerts: delivery: {type(exc).__name__}: {exc}")
                nxt = None
            wait_s = idle_s
            if nxt is not None:
                wait_s = min(idle_s, max(0.0, (nxt - self.clock_ns()) / 1e9))
            self.wake.wait(wait_s)
            self.wake.clear()
