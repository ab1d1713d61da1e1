"""Alerts end to end: real containers on the private engine, the real collector, and a real
local HTTP receiver behind Apprise's `json://127.0.0.1:PORT` target."""

from __future__ import annotations

import contextlib
import os
import signal
import subprocess
import sys
import threading
import time
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest
from sqlalchemy import Engine

from docktally.alerts.rules import parse_config
from docktally.alerts.service import AlertService
from docktally.collector.runner import Collector
from docktally.store import alerts as outbox
from docktally.store import db, reads, writes
from tests.alert_receiver import Receiver
from tests.private_engine import PrivateEngine

pytestmark = pytest.mark.engine

REPO = Path(__file__).parent.parent
S = 1_000_000_000
# A shell that crashes (exit 3) on its first three runs and then stays up: the container's
# file system outlives its restarts.
CRASH_THREE_TIMES = (
    "n=$(cat /tmp/n 2>/dev/null || echo 0); n=$((n+1)); echo $n > /tmp/n; "
    'echo "boom $n"; if [ $n -le 3 ]; then exit 3; fi; exec sleep 300'
)
HOSTILE = '<b>web</b> & "friends" <script>alert(1)</script>'


def wait_until(pred: Callable[[], bool], timeout_s: float = 60.0, what: str = "condition") -> None:
    deadline = time.monotonic() + timeout_s
    while time.monotonic() < deadline:
        if pred():
            return
        time.sleep(0.1)
    raise AssertionError(f"timed out waiting for {what}")


def rules(receiver: Receiver, extra: str = "") -> str:
    return f"""
notify = ["{receiver.url}"]
dashboard = "http://dash.example:8501"
stable = "2s"
evaluate_every = "200ms"
reminder = "off"
[delivery]
retry_min = "300ms"
retry_max = "1s"
{extra}
"""


@contextlib.contextmanager
def watching(store: Engine, url: str, config_text: str) -> Iterator[AlertService]:
    """The collector and the alerts in threads, as `docktally collect --alerts` runs them."""
    lines: list[str] = []
    collector = Collector(store=store, engine_url=url, log=lines.append)
    service = AlertService(store, parse_config(config_text), log=lines.append)
    stop = threading.Event()
    threads = [threading.Thread(target=collector.run, args=(stop,), daemon=True)]
    threads[0].start()
    wait_until(lambda: collector.sessions >= 1, 20, "the collector to subscribe")
    threads += service.start(stop)
    try:
        yield service
    finally:
        stop.set()
        for t in threads:
            t.join(15)
        assert not any(t.is_alive() for t in threads), lines


def evaluations_after(service: AlertService, n: int = 5) -> None:
    """Let the alerts look `n` more times (what they did not send by then, they do not send)."""
    target = service.evaluations + n
    wait_until(lambda: service.evaluations >= target, 30, f"{n} more evaluations")
    time.sleep(0.5)  # the worker's delivery thread wakes at each message enqueued


def events_of(store: Engine, name: str) -> list[str]:
    with store.connect() as conn:
        return list(reads.list_events(conn, container=name)["action"])


@pytest.fixture
def receiver() -> Iterator[Receiver]:
    r = Receiver().start()
    yield r
    r.stop()


def test_crash_loop_one_firing_one_resolved_with_the_right_fields(
    clean_engine: PrivateEngine, store: Engine, receiver: Receiver
) -> None:
    with watching(store, clean_engine.url, rules(receiver)) as service:
        c = clean_engine.run(
            "sh", "-c", CRASH_THREE_TIMES, name="looper", restart_policy={"Name": "always"}
        )
        wait_until(lambda: len(receiver.messages) >= 2, 60, "firing and resolved")
        evaluations_after(service)
    titles = receiver.titles()
    assert titles == [
        "[CRITICAL] crash loop: looper on " + receiver.messages[0]["title"].rsplit(" on ", 1)[1],
        "[RESOLVED CRITICAL] crash loop: looper on "
        + receiver.messages[1]["title"].rsplit(" on ", 1)[1],
    ]
    firing, resolved = (m["message"] for m in receiver.messages)
    assert receiver.messages[0]["type"] == "failure"
    assert receiver.messages[1]["type"] == "success"
    assert "container: looper" in firing
    assert "cause: crash x3" in firing
    assert "exit code: 3 (" in firing
    assert "restart policy: always" in firing
    assert "back-off: " in firing
    assert "last log line: boom " in firing
    assert "http://dash.example:8501/incidents?incident=inc-" in firing
    assert "recovered: " in resolved and "alert open for: " in resolved
    assert c.reload() is None and c.status == "running"
    with store.connect() as conn:
        rows = outbox.list_outbox(db.ConnectionReader(conn))
    assert sorted((r["kind"], r["status"]) for r in rows) == [
        ("firing", "sent"),
        ("resolved", "sent"),
    ]


def test_oom_kill_one_message_and_hostile_text_arrives_as_plain_text(
    clean_engine: PrivateEngine, store: Engine, receiver: Receiver
) -> None:
    labels = {"com.docker.compose.project": "shop", "com.docker.compose.service": HOSTILE}
    with watching(store, clean_engine.url, rules(receiver)) as service:
        c = clean_engine.run(
            "sh",
            "-c",
            # After a sleep: an OOM kill moments after the start can come with no `oom` event.
            f"echo '{HOSTILE}'; sleep 0.5; x=a; while true; do x=$x$x; done",
            name="hungry",
            mem_limit="8m",
            labels=labels,
        )
        assert c.wait(timeout=60)["StatusCode"] == 137
        wait_until(lambda: len(receiver.messages) >= 1, 60, "the OOM message")
        evaluations_after(service)
    assert len(receiver.messages) == 1
    msg = receiver.messages[0]
    assert msg["title"].startswith("[CRITICAL] OOM kill: hungry on ")
    body = msg["message"]
    assert "cause: oom x1" in body
    assert "exit code: 137 (" in body
    # Exactly the label's text: not escaped into HTML entities, not stripped.
    assert f"service: shop/{HOSTILE}" in body.splitlines()
    assert f"last log line: {HOSTILE}" in body.splitlines()


def test_unhealthy_shorter_than_d_sends_nothing(
    clean_engine: PrivateEngine, store: Engine, receiver: Receiver
) -> None:
    extra = '[[rules]]\nkind = "unhealthy"\nlonger_than = "30s"\n'
    with watching(store, clean_engine.url, rules(receiver, extra)) as service:
        clean_engine.run(
            "sh",
            "-c",
            "touch /tmp/ok; sleep 1; rm /tmp/ok; sleep 3; touch /tmp/ok; exec sleep 300",
            name="wobbly",
            healthcheck={
                "test": ["CMD", "test", "-f", "/tmp/ok"],
                "interval": 300_000_000,
                "timeout": 1_000_000_000,
                "retries": 1,
            },
        )

        def recovered() -> bool:
            actions = events_of(store, "wobbly")
            return "health_status: unhealthy" in actions and actions[-1] == "health_status: healthy"

        wait_until(recovered, 60, "unhealthy, then healthy again")
        evaluations_after(service, 10)
    assert receiver.messages == []


def test_maintenance_mutes_and_the_uptime_kuma_2846_case(
    clean_engine: PrivateEngine, store: Engine, receiver: Receiver
) -> None:
    extra = '[[rules]]\nkind = "unhealthy"\nlonger_than = "3s"\n[[rules]]\nkind = "job_failed"\n'
    with watching(store, clean_engine.url, rules(receiver, extra)) as service:
        # Unhealthy before the window, and still when it ends: nothing at its end.
        clean_engine.run(
            "sleep",
            "300",
            name="sick",
            healthcheck={
                "test": ["CMD", "test", "-f", "/tmp/never"],
                "interval": 300_000_000,
                "timeout": 1_000_000_000,
                "retries": 1,
            },
        )
        wait_until(
            lambda: "health_status: unhealthy" in events_of(store, "sick"), 60, "sick unhealthy"
        )
        # A long window, ended once the inside has been checked: a loaded machine that takes
        # seconds to run the job must not see the window end before the check.
        start = time.time_ns()
        ids = []
        with store.begin() as conn:
            for name in ("sick", "broke"):
                mid = writes.add_maintenance(
                    conn,
                    {
                        "host": None,
                        "target_kind": "container",
                        "target": name,
                        "start_ns": start,
                        "end_ns": start + 300 * S,
                        "kind": "maintenance",
                        "reason": "test window",
                        "created_by": "test",
                        "created_ns": start,
                    },
                )
                ids.append(mid)
        # A job failing inside the window and still failed at its end: one message, then.
        broke = clean_engine.run("sh", "-c", "echo broken; exit 2", name="broke")
        assert broke.wait(timeout=30)["StatusCode"] == 2
        evaluations_after(service)
        assert receiver.messages == []  # inside the window: nothing
        # Not before the unhealthy rule (3 s) triggered: that it did inside the window is the
        # case (a trigger after the window's end is news, and is sent).
        end = max(time.time_ns(), start + 4 * S) + S
        with store.begin() as conn:
            for mid in ids:
                assert writes.edit_maintenance(conn, mid, {"end_ns": end}, "ended by the test")
        wait_until(lambda: time.time_ns() > end, 20, "the window's end")
        wait_until(lambda: len(receiver.messages) >= 1, 30, "the message at the window's end")
        evaluations_after(service, 10)
    assert [m["title"].split(" on ")[0] for m in receiver.messages] == [
        "[WARNING] job failed: broke"
    ]
    with store.connect() as conn:
        rows = outbox.list_outbox(db.ConnectionReader(conn))
    assert len(rows) == 1 and rows[0]["created_ns"] >= end


def has_coverage(store: Engine) -> bool:
    with store.connect() as conn:
        return not reads.load_coverage_rows(db.ConnectionReader(conn)).empty


def _collect(
    db_url: str, engine: PrivateEngine, rules_path: Path, log: Path
) -> subprocess.Popen[bytes]:
    env = dict(os.environ)
    return subprocess.Popen(
        [
            sys.executable,
            "-m",
            "docktally",
            "collect",
            "--db",
            db_url,
            "--engine",
            engine.url,
            "--alerts",
            str(rules_path),
        ],
        stderr=open(log, "ab"),
        cwd=REPO,
        env=env,
    )


def test_receiver_down_collector_killed_9_then_sent_once_after_restart(
    clean_engine: PrivateEngine, db_url: str, tmp_path: Path
) -> None:
    receiver = Receiver()  # not listening: every attempt fails
    rules_path = tmp_path / "alerts.toml"
    rules_path.write_text(rules(receiver, '[[rules]]\nkind = "crash_loop"\n'))
    log = tmp_path / "collect.log"
    store = db.connect(db_url)
    proc = _collect(db_url, clean_engine, rules_path, log)
    try:
        wait_until(lambda: has_coverage(store), 30, "the collector's coverage row")
        clean_engine.run(
            "sh",
            "-c",
            "echo down; exit 3",
            name="crashy",
            restart_policy={"Name": "on-failure", "MaximumRetryCount": 3},
        )

        def tried() -> list[dict[str, Any]]:
            with store.connect() as conn:
                return [
                    r for r in outbox.list_outbox(db.ConnectionReader(conn)) if r["attempts"] >= 1
                ]

        wait_until(lambda: bool(tried()), 60, "a failed delivery attempt")
        proc.send_signal(signal.SIGKILL)
        proc.wait(10)
        (row,) = tried()
        assert row["status"] == "pending" and "Connection error" in row["last_error"]
        receiver.start()
        proc = _collect(db_url, clean_engine, rules_path, log)

        def sent() -> bool:
            with store.connect() as conn:
                return {r["status"] for r in outbox.list_outbox(db.ConnectionReader(conn))} == {
                    "sent"
                }

        wait_until(sent, 60, "the message sent after the restart")
        # The restarted collector's alerts evaluating (on a busy machine the killed one's
        # worker may have sent the message: it ends once the message in hand is sent), then a
        # few more evaluations: nothing decided or sent again.
        wait_until(lambda: log.read_text().count("docktally alerts: on:") == 2, 60, "alerts on")
        time.sleep(2)
        proc.send_signal(signal.SIGTERM)
        assert proc.wait(30) == 0
    finally:
        if proc.poll() is None:
            proc.kill()
        receiver.stop()
        with store.connect() as conn:
            rows = outbox.list_outbox(db.ConnectionReader(conn))
        store.dispose()
    assert len(receiver.messages) == 1, log.read_text()
    assert receiver.titles()[0].startswith("[CRITICAL] crash loop: crashy on ")
    assert len(rows) == 1 and rows[0]["attempts"] >= 2
