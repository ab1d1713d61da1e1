"""One alert evaluation (store -> incidents -> decisions -> outbox) on generated events.

    .venv/bin/python -m bench.bench_alerts --events 100000 --containers 1000 --days 1
    .venv/bin/python -m bench.bench_alerts --churn 10 --steps 45

Generates a day of events (bench/generate.py), imports them into a fresh SQLite file, and times
the evaluations of one alerts.evaluate.Evaluator at the end of that day, 2 s apart, as the
collector's alert thread runs them (its first read at once here): the first reads every
container's lookback and decides (and enqueues) every open incident's firing; the next ones
read what changed (nothing, but the containers of still-notifiable incidents whose oldest
events leave the lookback) and decide nothing new. Times are the thread's CPU and wall clock.

With --churn N, the worker's work under churn, without an engine: every 2 s of simulated time,
N containers of another host ("churn") are created, started, exit 1 and are removed (a job
failed: bench_collector_latency's churners), written as the collector writes them; then the
Evaluator decides and enqueues, and a delivery Deliverer sends every due message to a local
HTTP receiver (tests/alert_receiver.py, its own process) through Apprise's json://. Process CPU
(process_time) of the evaluations and of the sending, apart, after the first read.
"""

from __future__ import annotations

import argparse
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

from bench.generate import write_file
from docktally.alerts.delivery import Deliverer, targets
from docktally.alerts.evaluate import Evaluator, enqueue
from docktally.alerts.rules import default_config
from docktally.cli import main as cli
from docktally.store import db, reads, writes

S = 1_000_000_000
STEP_NS = 2 * S  # the default evaluate_every

# The receiver in its own process: its HTTP handling is not counted as the sender's CPU.
RECEIVE = """
import sys, time
from tests.alert_receiver import Receiver
Receiver(int(sys.argv[1])).start()
print("ready", flush=True)
time.sleep(1e9)
"""


def run(events: int, containers: int, days: float, repeat: int) -> None:
    with tempfile.TemporaryDirectory() as tmp:
        lines = Path(tmp) / "events.jsonl"
        write_file(lines, events=events, containers=containers, days=days, seed=3)
        url = f"sqlite:///{Path(tmp) / 'bench.db'}"
        assert cli(["import", "--db", url, str(lines)]) == 0
        store = db.connect(url)
        with store.connect() as conn:
            end = int(reads.list_events(conn)["time_ns"].max())
        config = default_config(["json://127.0.0.1:9/"])
        to = targets(config.targets)
        evaluator = Evaluator(config)
        times = []
        for i in range(repeat):
            wall, cpu = time.perf_counter(), time.thread_time()
            decided = evaluator.evaluate(store, to, end + (i + 1) * 2_000_000_000)
            times.append((time.perf_counter() - wall, time.thread_time() - cpu))
            print(
                f"evaluation {i + 1}: {times[-1][0] * 1000:.0f} ms ({times[-1][1] * 1000:.0f} ms "
                f"CPU), {evaluator.analysed} containers read, {len(decided)} decisions"
            )
        rest = times[1:]
        print(
            f"the next ones: median {statistics.median(w for w, _ in rest) * 1000:.0f} ms "
            f"({statistics.median(c for _, c in rest) * 1000:.0f} ms CPU) over {len(rest)}"
        )
        store.dispose()


def _job(host: str, serial: int, t: int) -> tuple[list[dict[str, Any]], dict[str, Any]]:
    """A churner's container: created, started, exits 1, removed; and its facts."""
    cid = f"{serial:064x}"
    name = f"churn-{serial}"
    base = {
        "host": host, "container_id": cid, "name": name, "image": "busybox",
        "compose_project": None, "compose_service": None, "inferred": False,
        "source": "collector", "exit_code": None, "signal": None, "health": None,
    }  # fmt: skip
    rows = [
        {**base, "time_ns": t + dt, "action": a, "kind": a, **extra}
        for dt, a, extra in (
            (0, "create", {}),
            (S // 10, "start", {}),
            (S // 2, "die", {"exit_code": 1}),
            (S // 2 + S // 10, "destroy", {}),
        )
    ]
    facts = {
        "host": host, "container_id": cid, "observed_ns": t + S // 5, "name": name,
        "image": "busybox", "restart_policy": "no", "restart_max_retries": 0,
        "has_healthcheck": False, "compose_project": None, "compose_service": None,
        "labels": "{}",
    }  # fmt: skip
    return rows, facts


def churn(events: int, containers: int, per_step: int, steps: int) -> None:
    with tempfile.TemporaryDirectory() as tmp:
        lines = Path(tmp) / "events.jsonl"
        day_ago = time.time_ns() - 86_400 * S
        write_file(lines, events=events, containers=containers, days=1, start_ns=day_ago, seed=3)
        url = f"sqlite:///{Path(tmp) / 'bench.db'}"
        assert cli(["import", "--db", url, "--host", "history", str(lines)]) == 0
        store = db.connect(url)
        with store.connect() as conn:
            now = int(reads.list_events(conn)["time_ns"].max()) + S
        receiver = subprocess.Popen(
            [sys.executable, "-c", RECEIVE, str(port := _free_port())],
            stdout=subprocess.PIPE,
            text=True,
        )
        try:
            assert receiver.stdout is not None and receiver.stdout.readline().strip() == "ready"
            config = default_config([f"json://127.0.0.1:{port}/"])
            to = targets(config.targets)
            clock = [now]
            sender = Deliverer(store, to, config.delivery, clock_ns=lambda: clock[0], log=print)
            with store.begin() as conn:
                cov = writes.open_coverage(
                    conn, host="churn", engine_url="unix:///churn", engine_id="churn",
                    source="collector", start_ns=now - 60 * S,
                )  # fmt: skip
                writes.heartbeat_coverage(conn, cov, now)
            evaluator = Evaluator(config)
            cpu = time.process_time()
            _, rows = evaluator.decide(store, to, now)
            enqueue(store, rows)
            first = time.process_time() - cpu
            cpu = time.process_time()
            sent0 = _send_all(sender)
            print(
                f"first read: {first:.2f} s CPU, {len(rows)} messages; sending them "
                f"{time.process_time() - cpu:.2f} s CPU ({sent0} sent)"
            )
            evals: list[float] = []
            sending = 0.0
            sent = decided = 0
            serial = 0
            for _ in range(steps):
                prev, now = now, now + STEP_NS
                clock[0] = now
                batch: list[dict[str, Any]] = []
                facts = []
                for k in range(per_step):
                    serial += 1
                    rows_, f = _job("churn", serial, prev + k * (STEP_NS // (per_step + 1)))
                    batch += rows_
                    facts.append(f)
                with store.begin() as conn:
                    writes.insert_events(conn, batch)
                    for f in facts:
                        writes.record_facts(conn, f)
                    writes.heartbeat_coverage(conn, cov, now)
                cpu = time.process_time()
                _, rows = evaluator.decide(store, to, now)
                enqueue(store, rows)
                evals.append(time.process_time() - cpu)
                decided += len(rows)
                cpu = time.process_time()
                sent += _send_all(sender)
                sending += time.process_time() - cpu
            per_30s = 30 * S / STEP_NS / steps
            print(
                f"{steps} evaluations ({per_step} jobs each): CPU median "
                f"{statistics.median(evals) * 1000:.0f} ms, total {sum(evals):.2f} s; "
                f"{decided} messages decided, {sent} sent, sending {sending:.2f} s CPU "
                f"({sending / max(sent, 1) * 1000:.2f} ms a message); per 30 s of churn: "
                f"evaluations {sum(evals) * per_30s:.2f} s, sending {sending * per_30s:.2f} s"
            )
        finally:
            receiver.terminate()
            receiver.wait()
            store.dispose()


def _send_all(sender: Deliverer) -> int:
    n = 0
    while True:
        k = sender.send_due()
        if not k:
            return n
        n += k


def _free_port() -> int:
    from tests.alert_receiver import free_port

    return free_port()


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--events", type=int, default=100_000)
    p.add_argument("--containers", type=int, default=1_000)
    p.add_argument("--days", type=float, default=1.0)
    p.add_argument("--repeat", type=int, default=10)
    p.add_argument("--churn", type=int, default=0, help="jobs that fail per 2 s (see above)")
    p.add_argument("--steps", type=int, default=45, help="with --churn: evaluations")
    a = p.parse_args()
    if a.churn:
        churn(a.events, a.containers, a.churn, a.steps)
    else:
        run(a.events, a.containers, a.days, a.repeat)


if __name__ == "__main__":
    main()
