"""Delivery through Apprise (one URL per target: Slack, ntfy, email, JSON webhooks, ...).

The delivery thread sends the outbox's due messages, records each attempt, and retries a failed
one with a doubling back-off until it is sent or `give_up_after` has passed. It runs beside the
collector and never holds it up: its own thread, its own connections, short transactions.
"""

from __future__ import annotations

import copy
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
# With nothing due, the thread waits for the evaluation's wake (it enqueued), or for this long:
# looking at the outbox every second cost two reads a second for nothing. What another process
# enqueues (none does today) waits at most this long.
IDLE_S = 30.0
# After a failed pass (the database away): tried again this soon.
ERROR_WAIT_S = 1.0


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
    return _notify(ap, title, body, notify_type)


def _notify(ap: apprise.Apprise, title: str, body: str, notify_type: str) -> str | None:
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


class Sender:
    """`send` to one target, its URL parsed once: Apprise's parsing and its manager's set-up
    (a translation catalogue looked up per instance) were a third of a message's CPU. Each
    message still gets a new plugin, as with a new Apprise: a kept one throttles its requests
    (Apprise's request_rate_per_sec, 5.5 s by default), which would hold messages back."""

    def __init__(self, url: str) -> None:
        self.url = url
        self.asset = apprise.AppriseAsset()
        self.manager = apprise.Apprise(asset=self.asset)
        to_dict = getattr(apprise.plugins, "url_to_dict", None)
        # One URL (a string with several is split by Apprise.add): parsed here, else per message.
        parsed = to_dict(url, secure_logging=self.asset.secure_logging) if to_dict else None
        simple = url.count("://") == 1 and not any(c.isspace() for c in url)
        self.parsed: dict[str, Any] | None = parsed if simple else None

    def send(self, title: str, body: str, notify_type: str) -> str | None:
        if self.parsed is None:
            return send(self.url, title, body, notify_type)
        # instantiate fills the dict in, and a plugin may keep what it is given.
        plugin = apprise.Apprise.instantiate(copy.deepcopy(self.parsed), asset=self.asset)
        if plugin is None:
            return "not a notification URL Apprise knows"
        self.manager.clear()
        self.manager.add(plugin)
        return _notify(self.manager, title, body, notify_type)


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
        self.senders = {t.id: Sender(t.url) for t in to}
        self.delivery = delivery
        self.clock_ns = clock_ns
        self.log = log
        self.wake = threading.Event()
        # A target that failed -> when it is tried again (not before its message's retry).
        self.held: dict[str, int] = {}

    def send_due(self) -> int:
        """One pass over the due messages; returns how many were sent. A target that fails is
        held until its message's retry: the messages behind it are not tried, nor written, in
        the meantime (a target that is down costs one try per back-off, not one per message),
        and those older than `give_up_after` are given up. Each sent message is recorded at
        once (never sent twice)."""
        now = self.clock_ns()
        held = [t for t, until in self.held.items() if until > now]
        with self.store.connect() as conn:
            rows = outbox.due(conn, now, skip=held)
        sent = 0
        failed: list[tuple[dict[str, Any], str]] = []
        behind: dict[str, int] = {}  # held target -> its messages not tried in this pass
        down = set(held)
        for row in rows:
            target = row["target"]
            if target in down:
                behind[target] = behind.get(target, 0) + 1
                continue
            sender = self.senders.get(target)
            error = (
                sender.send(row["title"], row["body"], row["notify_type"])
                if sender is not None
                else "this target is no longer configured"
            )
            if error is None:
                with self.store.begin() as conn:
                    outbox.mark_sent(conn, row["id"], self.clock_ns())
                self.held.pop(target, None)
                sent += 1
                continue
            failed.append((row, error))
            down.add(target)
        if failed:
            self._failed(failed, behind)
        held = [t for t, until in self.held.items() if until > now]
        if held:
            with self.store.begin() as conn:
                outbox.give_up_waiting(conn, held, now - self.delivery.give_up_after_ns)
        return sent

    def _failed(self, failed: list[tuple[dict[str, Any], str]], behind: dict[str, int]) -> None:
        now = self.clock_ns()
        marks = []
        for row, error in failed:
            attempts = int(row["attempts"]) + 1
            retry_at = now + backoff_ns(attempts, self.delivery)
            give_up = row["target"] not in self.senders or (
                retry_at - int(row["created_ns"]) > self.delivery.give_up_after_ns
            )
            marks.append((int(row["id"]), error, None if give_up else retry_at))
            if row["target"] in self.senders:
                self.held[row["target"]] = retry_at
            more = behind.get(row["target"], 0)
            self.log(
                f"docktally alerts: {row['target_label']}: {error}"
                + (" (given up)" if give_up else f" (retry {attempts + 1} later)")
                + (f"; {more} more message(s) wait for it" if more else "")
            )
        with self.store.begin() as conn:
            outbox.mark_attempts_failed(conn, marks)

    def run(self, stop: threading.Event, idle_s: float = IDLE_S) -> None:
        """Send until `stop`; wakes early when `wake` is set (new messages)."""
        while not stop.is_set():
            wait_s = idle_s
            try:
                self.send_due()
                now = self.clock_ns()
                held = [t for t, until in self.held.items() if until > now]
                with self.store.connect() as conn:
                    nxt = outbox.next_due_ns(conn, skip=held)
                if held:
                    soonest = min(self.held[t] for t in held)
                    nxt = soonest if nxt is None else min(nxt, soonest)
                if nxt is not None:
                    wait_s = min(idle_s, max(0.0, (nxt - self.clock_ns()) / 1e9))
            except Exception as exc:  # the collector must outlive any delivery trouble
                self.log(f"docktally alerts: delivery: {type(exc).__name__}: {exc}")
                wait_s = min(idle_s, ERROR_WAIT_S)
            self.wake.wait(wait_s)
            self.wake.clear()
