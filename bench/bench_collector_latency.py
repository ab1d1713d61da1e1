"""Event-to-commit latency of the live collector while containers churn as fast as the engine
allows. Starts its own private engine (tests/private_engine.py); needs root, docker.io and
busybox-static.

    .venv/bin/python -m bench.bench_collector_latency [--seconds 30] [--churners 3] [--db URL]
                                                      [--alerts-history EVENTS]

Churners are separate processes looping create/start/wait/remove of `sh -c "exit 1"` (four
events per container), each as fast as the engine answers.

Measured: for every event, the commit time of the transaction that stored it (read from the
clock right after COMMIT returned, through Collector's `on_commit` hook) minus the engine's own
`timeNano` for the event. Engine and collector share the host clock. Target: p99 <= 250 ms.

With --alerts-history N, the run has two halves of --seconds each: the collector alone, then
the collector with the alert threads that `docktally collect --notify` starts (default rules,
a json:// target on a closed loopback port), evaluating over N generated events of the last
day already in the database (another host's): each half's latency, side by side.
"""

from __future__ import annotations

import argparse
import statistics
import subprocess
import sys
import tempfile
import threading
import time
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any

from bench.generate import write_file
from docktally.alerts.rules import default_config
from docktally.alerts.service import AlertService
from docktally.cli import main as cli
from docktally.collector.runner import Collector
from docktally.store import db
from tests.private_engine import IMAGE, PrivateEngine

# Churners run in their own processes, so their client work does not share the collector's GIL.
CHURN = """
import sys, docker
api = docker.APIClient(base_url=sys.argv[1], version="auto")
hc = api.create_host_config(network_mode="none")
while True:
    c = api.create_container(sys.argv[2], ["sh", "-c", "exit 1"], host_config=hc)
    api.start(c["Id"])
    api.wait(c["Id"], timeout=30)
    api.remove_container(c["Id"])
"""


def pct(values: list[float], p: float) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, round(p / 100 * (len(ordered) - 1)))]


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--seconds", type=float, default=30.0)
    ap.add_argument("--churners", type=int, default=3)
    ap.add_argument("--db", default=None)
    ap.add_argument("--alerts-history", type=int, default=0)
    args = ap.parse_args()
    tmp = tempfile.mkdtemp(prefix="dktbench")
    url = args.db or f"sqlite:///{tmp}/bench.db"
    eng = PrivateEngine()
    eng.start()
    latencies_ms: list[float] = []
    # Each alert evaluation: wall s, its CPU s (in the worker), whether it was the first read.
    took: list[tuple[float, float, bool]] = []
    read_all: list[int] = []  # when the alerts' first read was done

    committed: list[int] = []  # beside latencies_ms: when each was committed

    def on_commit(rows: Sequence[Mapping[str, Any]], committed_ns: int) -> None:
        latencies_ms.extend((committed_ns - int(r["time_ns"])) / 1e6 for r in rows)
        committed.extend(committed_ns for _ in rows)

    if args.alerts_history:
        history = Path(tmp) / "history.jsonl"
        day_ago = time.time_ns() - 86_400 * 10**9
        write_file(history, events=args.alerts_history, containers=1000, days=1, start_ns=day_ago)
        assert cli(["import", "--db", url, "--host", "history", str(history)]) == 0
    try:
        store = db.connect(url)
        stop_collector = threading.Event()
        col = Collector(store=store, engine_url=eng.url, on_commit=on_commit, log=print)
        t = threading.Thread(target=col.run, args=(stop_collector,), daemon=True)
        t.start()
        while col.sessions < 1:
            time.sleep(0.05)
        churners = [
            subprocess.Popen([sys.executable, "-c", CHURN, eng.url, IMAGE])
            for _ in range(args.churners)
        ]
        t0 = time.monotonic()
        time.sleep(args.seconds)
        if args.alerts_history:
            alone = list(latencies_ms)
            latencies_ms.clear()
            committed.clear()
            service = AlertService(store, default_config(["json://127.0.0.1:9/"]))
            evaluate = service.evaluate

            def timed() -> None:
                first_read = service.warming
                if not first_read and not read_all:
                    read_all.append(time.time_ns())
                wall = time.perf_counter()
                evaluate()
                took.append((time.perf_counter() - wall, service.cpu_s, first_read))

            service.evaluate = timed  # type: ignore[method-assign]
            halves = [time.time_ns()]
            alerts = service.start(stop_collector)
            time.sleep(args.seconds)
            halves.append(time.time_ns())
        for c in churners:
            c.terminate()
        for c in churners:
            c.wait(10)
        elapsed = time.monotonic() - t0
        time.sleep(1.0)
        stop_collector.set()
        t.join(10)
        if args.alerts_history:
            for a in alerts:
                a.join(10)
    finally:
        eng.destroy()
    if args.alerts_history:
        report("collector alone", alone, args.seconds)
        report("with the alert threads", latencies_ms, args.seconds)
        if read_all:
            # The half split where the alerts' first read of every container ended.
            cut = read_all[0]
            during = [v for v, t in zip(latencies_ms, committed, strict=True) if t < cut]
            after = [v for v, t in zip(latencies_ms, committed, strict=True) if t >= cut]
            if during:
                report(
                    "  while the alerts first read the lookback", during, (cut - halves[0]) / 1e9
                )
            if after:
                report("  after that", after, (halves[1] - cut) / 1e9)
        for what, runs in (
            ("first read (slices)", [t for t in took if t[2]]),
            ("then", [t for t in took if not t[2]]),
        ):
            if runs:
                print(
                    f"evaluations, {what}: {len(runs)}; wall ms median "
                    f"{statistics.median(w for w, _, _ in runs) * 1000:.0f} max "
                    f"{max(w for w, _, _ in runs) * 1000:.0f}; CPU ms median "
                    f"{statistics.median(c for _, c, _ in runs) * 1000:.0f} max "
                    f"{max(c for _, c, _ in runs) * 1000:.0f}"
                )
        print(f"p99 with alerts / alone: {pct(latencies_ms, 99) / pct(alone, 99):.2f}")
        return
    n = len(latencies_ms)
    print(f"backend: {url.split(':')[0]}; churners: {args.churners}; {elapsed:.1f}s")
    print(f"events: {n} ({n / elapsed:.1f}/s)")
    print(
        "event-to-commit latency ms: "
        f"p50 {statistics.median(latencies_ms):.1f}  p95 {pct(latencies_ms, 95):.1f}  "
        f"p99 {pct(latencies_ms, 99):.1f}  max {max(latencies_ms):.1f}"
    )
    print("target p99 <= 250 ms:", "PASS" if pct(latencies_ms, 99) <= 250 else "FAIL")


def report(what: str, values: list[float], seconds: float) -> None:
    print(
        f"{what}: {len(values)} events ({len(values) / seconds:.1f}/s); latency ms p50 "
        f"{statistics.median(values):.1f}  p95 {pct(values, 95):.1f}  p99 {pct(values, 99):.1f}"
        f"  max {max(values):.1f}"
    )


if __name__ == "__main__":
    main()
