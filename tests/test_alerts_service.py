"""The alert evaluations run in their own process: the collector's process (here the test's)
does none of their work, they enqueue what an evaluation in-process decides, and a worker that
dies is started again without anything enqueued twice."""

from __future__ import annotations

import os
import threading
import time
from pathlib import Path

from sqlalchemy import Engine

from docktally.alerts.rules import parse_config
from docktally.alerts.service import AlertService
from tests.alert_receiver import Receiver, free_port
from tests.test_alerts_incremental import RULES, World, plain
from tests.test_alerts_live import wait_until


def queued(store: Engine) -> list[str]:
    """The outbox's messages, as their decisions' dedupe keys (one target)."""
    with store.connect() as conn:
        return sorted(r[0] for r in conn.exec_driver_sql("SELECT dedupe_key FROM alert_outbox"))


def _failing_world(store: Engine) -> World:
    """The incremental tests' world (seed 3) after 12 steps of 20 s: enough failures for the
    rules to decide on."""
    world = World(store, 3)
    for _ in range(12):
        world.step(20)
    return world


def test_evaluations_run_in_the_worker_and_enqueue_what_an_evaluation_decides(
    store: Engine,
) -> None:
    config = parse_config(RULES.format(scope="container"))
    world = _failing_world(store)
    expected = plain(store, config, world.now)
    assert expected  # the world gave the rules something to decide
    lines: list[str] = []
    service = AlertService(store, config, clock_ns=lambda: world.now, log=lines.append)
    try:
        spent = time.thread_time()
        service.evaluate()  # starts the worker; its first read of every container
        spent = time.thread_time() - spent
        # The work was the worker's: this process only handed over the time and the answer.
        assert service.cpu_s > 5 * spent, (service.cpu_s, spent)
        want = sorted(d.dedupe_key for d in expected)
        assert queued(store) == want
        assert len(lines) == len(expected)
        assert not service.warming

        # The worker gone: the next evaluation starts another, which reads everything again
        # and enqueues only what is due, not what the first sent.
        assert service._worker is not None
        first = service._worker.pid
        service._worker.kill()
        service._worker.wait()
        for _ in range(2):
            world.step(20)
            before = queued(store)
            due = plain(store, config, world.now)
            service.evaluate()
            assert queued(store) == sorted(before + [d.dedupe_key for d in due])
        assert service._worker is not None and service._worker.pid != first
    finally:
        service.stop_worker()
    assert service._worker is None


def policies(pid: int) -> dict[int, int]:
    """Each thread of a process -> its scheduling policy (proc(5): stat's 41st field)."""
    out = {}
    for task in Path(f"/proc/{pid}/task").iterdir():
        stat = (task / "stat").read_text()
        out[int(task.name)] = int(stat.rsplit(")", 1)[1].split()[38])
    return out


def test_the_worker_evaluates_at_idle_priority_and_writes_the_outbox_at_normal_priority(
    store: Engine,
) -> None:
    config = parse_config(RULES.format(scope="container"))
    world = _failing_world(store)
    service = AlertService(store, config, clock_ns=lambda: world.now, log=[].append)
    try:
        service.evaluate()
        assert queued(store)  # the main thread wrote what the idle thread decided
        assert service._worker is not None
        pid = service._worker.pid
        threads = policies(pid)
        assert threads[pid] == os.SCHED_OTHER, threads  # the main thread: the outbox write
        assert sorted(threads.values()).count(os.SCHED_IDLE) == 1, threads  # the evaluation
    finally:
        service.stop_worker()


def test_the_worker_delivers_and_its_delivery_log_reaches_the_collectors_log(
    store: Engine,
) -> None:
    port = free_port()
    # The world's messages are months old: not given up, retried at once.
    retries = '[delivery]\ngive_up_after = "1000d"\nretry_min = "200ms"\nretry_max = "500ms"\n'
    config = parse_config(RULES.format(scope="container").replace(":9/", f":{port}/") + retries)
    world = _failing_world(store)
    expected = plain(store, config, world.now)
    assert expected
    lines: list[str] = []
    service = AlertService(store, config, clock_ns=lambda: world.now, log=lines.append)
    stop = threading.Event()
    threads = service.start(stop)
    receiver = Receiver(port)
    try:
        # Nobody listening: the worker's failed attempt is said in this process's log.
        wait_until(lambda: any("(retry 2 later)" in ln for ln in lines), 30, "a failed attempt")
        receiver.start()
        wait_until(lambda: len(receiver.messages) == len(expected), 60, "every message")
        # Sent by the worker: no thread of this process sends (Apprise's work would hold the
        # collector's GIL).
        assert [t.name for t in threading.enumerate() if "deliver" in t.name] == []
    finally:
        stop.set()
        for t in threads:
            t.join(30)
        receiver.stop()
    assert len(receiver.messages) == len(expected)  # each once


def test_steady_evaluations_take_at_most_two_percent_of_a_core(store: Engine) -> None:
    """Evaluated every 10 ms, the loop still rests 50 times a steady evaluation's CPU time (a
    busy collector would wait for that CPU), but only twice the first read's (alerts not blind
    for a minute after a start)."""
    config = parse_config('evaluate_every = "10ms"\n' + RULES.format(scope="container"))
    assert config.evaluate_every_ns == 10_000_000
    world = _failing_world(store)
    service = AlertService(store, config, clock_ns=lambda: world.now, log=lambda _: None)
    # (when each evaluation began and ended, its CPU): the rest is from one's end to the
    # next's beginning (an evaluation's wall time on a loaded machine is many times its CPU).
    seen: list[tuple[float, float, float]] = []
    evaluate = service.evaluate

    def timed() -> None:
        began = time.monotonic()
        evaluate()
        seen.append((began, time.monotonic(), service.cpu_s))

    service.evaluate = timed  # type: ignore[method-assign]
    stop = threading.Event()
    threads = service.start(stop)
    try:
        wait_until(lambda: len(seen) >= 3, 60, "three evaluations")
    finally:
        stop.set()
        for t in threads:
            t.join(30)
    (_, end0, first), (began1, end1, steady), (began2, _, _) = seen[:3]
    assert first > 0 and steady > 0
    assert 2 * first <= began1 - end0 < 10 * first + 0.5, (began1 - end0, first)
    assert began2 - end1 >= 50 * steady - 0.02, (began2 - end1, steady)
