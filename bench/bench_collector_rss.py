"""Resident memory of the collector after 10,000 events. Starts its own private engine.

    .venv/bin/python -m bench.bench_collector_rss [--events 10000]

Two collectors watch the same engine, each in its own process with its own SQLite file:
- `lean`: a process that runs docktally.collector.runner.Collector and nothing else (what the
  collector itself costs);
- `cli`: `python -m docktally collect`, as a user runs it (includes whatever the CLI imports).
Events come from pause/unpause loops on a few long-running containers (two events per loop).
VmRSS and VmHWM are read from /proc/PID/status once both databases hold the target count.
Target: <= 80 MB.
"""

from __future__ import annotations

import argparse
import signal
import subprocess
import sys
import tempfile
import threading
import time
from pathlib import Path

import docker.errors
from sqlalchemy import func, select

from docktally.store import db
from docktally.store.schema import coverage, events
from tests.private_engine import PrivateEngine

REPO = Path(__file__).parent.parent
LEAN = """
import signal, sys, threading
from docktally.collector.runner import Collector
from docktally.store import db
stop = threading.Event()
signal.signal(signal.SIGTERM, lambda *a: stop.set())
Collector(store=db.connect(sys.argv[1]), engine_url=sys.argv[2]).run(stop)
"""


def mem_kb(pid: int) -> dict[str, int]:
    out = {}
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        key, _, value = line.partition(":")
        if key in ("VmRSS", "VmHWM"):
            out[key] = int(value.split()[0])
    return out


def count(url: str) -> int:
    store = db.connect(url, migrate=False)
    try:
        with store.connect() as conn:
            return int(conn.execute(select(func.count()).select_from(events)).scalar() or 0)
    finally:
        store.dispose()


def covered(url: str) -> bool:
    store = db.connect(url, migrate=False)
    try:
        with store.connect() as conn:
            return conn.execute(select(func.count()).select_from(coverage)).scalar() != 0
    finally:
        store.dispose()


def pauser(eng: PrivateEngine, cid: str, stop: threading.Event) -> None:
    api = eng.client.api
    while not stop.is_set():
        try:
            api.pause(cid)
            api.unpause(cid)
        except docker.errors.APIError:
            time.sleep(0.05)  # "is not paused": the engine was still settling; go on


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--events", type=int, default=10_000)
    ap.add_argument("--pausers", type=int, default=4)
    args = ap.parse_args()
    tmp = Path(tempfile.mkdtemp(prefix="dktbench"))
    urls = {"lean": f"sqlite:///{tmp}/lean.db", "cli": f"sqlite:///{tmp}/cli.db"}
    eng = PrivateEngine()
    eng.start()
    procs: dict[str, subprocess.Popen[bytes]] = {}
    try:
        for url in urls.values():
            db.connect(url).dispose()
        procs["lean"] = subprocess.Popen(
            [sys.executable, "-c", LEAN, urls["lean"], eng.url], cwd=REPO
        )
        procs["cli"] = subprocess.Popen(
            [
                sys.executable,
                "-m",
                "docktally",
                "collect",
                "--db",
                urls["cli"],
                "--engine",
                eng.url,
            ],
            cwd=REPO,
        )
        # The CLI's own imports finish before its coverage row appears.
        while not all(covered(u) for u in urls.values()):
            time.sleep(0.5)
        time.sleep(1)
        base = {k: mem_kb(p.pid) for k, p in procs.items()}
        containers = [eng.run("sleep", "3600", stop_signal="SIGKILL") for _ in range(args.pausers)]
        stop = threading.Event()
        threads = [
            threading.Thread(target=pauser, args=(eng, c.id, stop), daemon=True) for c in containers
        ]
        t0 = time.monotonic()
        for t in threads:
            t.start()
        while min(count(u) for u in urls.values()) < args.events:
            time.sleep(1)
        stop.set()
        for t in threads:
            t.join(10)
        elapsed = time.monotonic() - t0
        time.sleep(1)
        after = {k: mem_kb(p.pid) for k, p in procs.items()}
        counts = {k: count(u) for k, u in urls.items()}
    finally:
        for p in procs.values():
            p.send_signal(signal.SIGTERM)
        for p in procs.values():
            p.wait(10)
        eng.destroy()
    print(f"events generated in {elapsed:.1f}s; stored: {counts}")
    for k in procs:
        print(
            f"{k:5s} RSS at start {base[k]['VmRSS'] / 1024:.1f} MB; after {counts[k]} events: "
            f"RSS {after[k]['VmRSS'] / 1024:.1f} MB, peak {after[k]['VmHWM'] / 1024:.1f} MB"
        )
    print("target lean RSS <= 80 MB:", "PASS" if after["lean"]["VmRSS"] <= 80 * 1024 else "FAIL")


if __name__ == "__main__":
    main()
