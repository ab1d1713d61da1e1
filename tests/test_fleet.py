"""Two real engines, one database: one collector watching both, or one collector per engine.
Each engine's rows carry a host of their own (the two private daemons report the same engine ID
and name), the per-host numbers match each engine's own `docker events`, the names survive
restarts, and a host claimed by a live collector is refused in one line."""

from __future__ import annotations

import json
import signal
import subprocess
import sys
import threading
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest
from sqlalchemy import Engine, select

from docktally.collector.runner import Collector
from docktally.store import db
from docktally.store.schema import coverage
from tests.private_engine import EventRecorder, PrivateEngine

pytestmark = pytest.mark.engine

REPO = Path(__file__).resolve().parent.parent
DOCKTALLY = [sys.executable, "-m", "docktally"]
# Crash loops of different lengths on the two engines: (containers, retries) per engine.
LOOPS = ((1, 2), (2, 3))


def wait_until(pred: Callable[[], bool], timeout_s: float, what: str) -> None:
    deadline = time.monotonic() + timeout_s
    while time.monotonic() < deadline:
        if pred():
            return
        time.sleep(0.1)
    raise AssertionError(f"timed out waiting for {what}")


def start_collect(db_url: str, log: Path, *args: str) -> subprocess.Popen[bytes]:
    return subprocess.Popen(
        [*DOCKTALLY, "collect", "--db", db_url, "--no-logs", *args],
        stderr=open(log, "ab"),  # the child holds it
        cwd=REPO,
    )


def stop(proc: subprocess.Popen[bytes]) -> None:
    proc.send_signal(signal.SIGTERM)
    assert proc.wait(30) == 0


def open_hosts(store: Engine) -> dict[str, str]:
    """Engine URL -> host of the open coverage rows."""
    with store.connect() as conn:
        rows = conn.execute(
            select(coverage.c.engine_url, coverage.c.host).where(coverage.c.end_ns.is_(None))
        ).all()
    return {str(r[0]): str(r[1]) for r in rows}


def wait_watching(store: Engine, engines: list[PrivateEngine]) -> dict[str, str]:
    wait_until(
        lambda: set(open_hosts(store)) == {e.url for e in engines}, 60, "both engines watched"
    )
    time.sleep(0.3)
    return open_hosts(store)


def crash_loops(eng: PrivateEngine, n: int, retries: int) -> None:
    started = [
        eng.run(
            "sh",
            "-c",
            "exit 3",
            restart_policy={"Name": "on-failure", "MaximumRetryCount": retries},
        )
        for _ in range(n)
    ]

    def done() -> bool:
        for c in started:
            ins = eng.client.api.inspect_container(c.id)
            st = ins["State"]
            if ins["RestartCount"] != retries or st["Running"] or st["Restarting"]:
                return False
        return True

    wait_until(done, 60, "the crash loops to give up")


def failed_dies(recorder: EventRecorder) -> int:
    """Dies with a non-zero exit code in the engine's own `docker events`."""
    n = 0
    for line in recorder.lines():
        ev = json.loads(line)
        if ev.get("Action") == "die" and ev["Actor"]["Attributes"].get("exitCode") != "0":
            n += 1
    return n


def run_loops(engines: list[PrivateEngine], tmp_path: Path) -> list[int]:
    """Crash loops on both engines at once; what each engine said happened."""
    recorders = [EventRecorder(e, tmp_path / f"events-{i}.jsonl") for i, e in enumerate(engines)]
    for r in recorders:
        r.__enter__()
    try:
        loops = [
            threading.Thread(target=crash_loops, args=(e, n, retries))
            for e, (n, retries) in zip(engines, LOOPS, strict=True)
        ]
        for t in loops:
            t.start()
        for t in loops:
            t.join(90)
    finally:
        for r in recorders:
            r.__exit__()
    return [failed_dies(r) for r in recorders]


def report_by_host(db_url: str) -> dict[str, dict[str, Any]]:
    out = subprocess.run(
        [*DOCKTALLY, "report", "--db", db_url, "--by", "host", "--since", "1h", "--format", "json"],
        capture_output=True,
        check=True,
        cwd=REPO,
    )
    return {g["key"]["host"]: g for g in json.loads(out.stdout)["groups"]}


def assert_per_host(
    db_url: str, hosts: dict[str, str], engines: list[PrivateEngine], dies: list[int]
) -> None:
    expected = {hosts[e.url]: n for e, n in zip(engines, dies, strict=True)}
    # Each engine's own events: 1 x 3 and 2 x 4 failing dies.
    assert dies == [n * (retries + 1) for n, retries in LOOPS]
    groups = report_by_host(db_url)
    assert {h: g["failures"] for h, g in groups.items()} == expected
    assert {h: g["exit_codes"] for h, g in groups.items()} == {
        h: {"3": n} for h, n in expected.items()
    }


def test_one_collector_watches_two_engines_into_one_database(
    engines: list[PrivateEngine], db_url: str, tmp_path: Path
) -> None:
    store = db.connect(db_url)
    proc = start_collect(db_url, tmp_path / "collect.log", *(f"--engine={e.url}" for e in engines))
    try:
        hosts = wait_watching(store, engines)
        # The daemons report the same ID and name: still two hosts, one of them the plain name.
        names = [e.client.info()["Name"] for e in engines]
        assert names[0] == names[1]
        assert len(set(hosts.values())) == 2 and names[0] in hosts.values()
        dies = run_loops(engines, tmp_path)
        time.sleep(1.0)  # the last events reach the store
    finally:
        stop(proc)
    assert_per_host(db_url, hosts, engines, dies)
    store.dispose()


def test_two_collectors_one_database_and_names_that_survive_restarts(
    engines: list[PrivateEngine], db_url: str, tmp_path: Path
) -> None:
    store = db.connect(db_url)
    log = tmp_path / "collect.log"
    procs = [start_collect(db_url, log, f"--engine={e.url}") for e in engines]
    try:
        hosts = wait_watching(store, engines)
        assert len(set(hosts.values())) == 2
        dies = run_loops(engines, tmp_path)
        time.sleep(1.0)
    finally:
        for p in procs:
            stop(p)
    assert_per_host(db_url, hosts, engines, dies)

    # The collectors and one engine restart; started in the other order, each engine's rows
    # keep the host they had.
    engines[1].restart()
    procs = [start_collect(db_url, log, f"--engine={e.url}") for e in reversed(engines)]
    try:
        assert wait_watching(store, engines) == hosts
    finally:
        for p in procs:
            stop(p)
    store.dispose()


def test_a_host_claimed_twice_is_refused_but_a_lab_run_is_not(
    engines: list[PrivateEngine], sqlite_url: str, tmp_path: Path
) -> None:
    store = db.connect(sqlite_url)
    first = start_collect(sqlite_url, tmp_path / "first.log", f"--engine={engines[0].url}")
    lab_stop = threading.Event()
    lab_thread: threading.Thread | None = None
    try:
        wait_until(lambda: bool(open_hosts(store)), 60, "the first collector")
        host = open_hosts(store)[engines[0].url]
        claim = ["--host", host, "--no-logs", "--duration", "30s"]
        second = subprocess.run(
            [*DOCKTALLY, "collect", "--db", sqlite_url, f"--engine={engines[1].url}", *claim],
            capture_output=True,
            text=True,
            cwd=REPO,
            timeout=60,
        )
        assert second.returncode == 1
        errors = [ln for ln in second.stderr.splitlines() if "error" in ln]
        assert errors == [
            f"docktally: error: host {host!r} is being collected by another live collector "
            f"(engine {engines[0].url}); stop it, or name this engine ({engines[1].url}) "
            "with --host"
        ]
        # A lab run (its own labelled containers, a run label) beside it is no claim.
        lab = Collector(
            store=store, engine_url=engines[0].url, run_label="lab-1", log=lambda _l: None
        )
        lab_thread = threading.Thread(target=lab.run, args=(lab_stop,), daemon=True)
        lab_thread.start()
        wait_until(lambda: lab.sessions >= 1, 30, "the lab's collector")
        assert lab.failed is None and lab.host == host
        assert first.poll() is None
    finally:
        lab_stop.set()
        if lab_thread is not None:
            lab_thread.join(15)
        stop(first)
    store.dispose()
