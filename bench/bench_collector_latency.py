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

With --rounds N (since 2026-12-06, session 7), the alerts run throughout, delivering to a real
local HTTP receiver (tests/alert_receiver.py in a process of its own) through Apprise's json://
target, and `--seconds` phases alternate N times in one run (the machine's load drifts), each
arm's phase after the other's: A the alerts paused (neither deciding nor, then, sending: the
collector alone), B evaluating and delivering as shipped (the worker's evaluation thread at
SCHED_IDLE), C the same with that thread at normal priority (as before session 7). Besides the
churners, `--flappers` containers crash three times (a crash loop fires), then stay up
`--flap-up` seconds (past the default `stable`, so it is resolved), and so on, restarted by the
engine. The alerts' first read (of --alerts-history events, if any) is done before the phases.
Per phase: p50/p99, messages decided and sent, CPU seconds of the worker (of which its
delivery thread's) and of the collector's process, and the load average. Since session 9,
`--arms A,B,A2` picks the phases of a round (A2: A again, the bench's own noise), and each
phase also shows the collector's write transactions, the WAL's frames not yet checkpointed,
the machine's idle and steal and the run-queue waits (bench/commits.py); at the end, each arm
against the first: pooled p99, and the permutation p. `--churn-exit 0` (since session 10): the
churners' jobs succeed, so the collector's load is the same and only the flappers' crash
loops are sent (a fleet's rate of messages, not 10-50 a second).
"""

from __future__ import annotations

import argparse
import os
import statistics
import subprocess
import sys
import tempfile
import threading
import time
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any

from sqlalchemy import text

from bench.commits import CommitTimes, Machine, WalWatch, compare_arms
from bench.generate import write_file
from docktally.alerts.rules import default_config
from docktally.alerts.service import AlertService
from docktally.cli import main as cli
from docktally.collector.runner import Collector
from docktally.store import db
from tests.alert_receiver import free_port
from tests.private_engine import IMAGE, PrivateEngine

# Churners run in their own processes, so their client work does not share the collector's GIL.
CHURN = """
import sys, docker
api = docker.APIClient(base_url=sys.argv[1], version="auto")
hc = api.create_host_config(network_mode="none")
while True:
    code = sys.argv[3] if len(sys.argv) > 3 else "1"
    c = api.create_container(sys.argv[2], ["sh", "-c", f"exit {code}"], host_config=hc)
    api.start(c["Id"])
    api.wait(c["Id"], timeout=30)
    api.remove_container(c["Id"])
"""


# The receiver in its own process: its HTTP handling does not share the collector's GIL.
RECEIVE = """
import sys, time
from tests.alert_receiver import Receiver
Receiver(int(sys.argv[1])).start()
print("ready", flush=True)
time.sleep(1e9)
"""

# Crashes (exit 3) three times in a row, then stays up: a crash loop that fires, then is
# resolved once it has been up `stable`; the engine restarts it (restart policy always).
FLAP = (
    "n=$(cat /tmp/n 2>/dev/null || echo 0); n=$((n+1)); echo $n > /tmp/n; "
    'echo "boom $n"; if [ $((n % 4)) -ne 0 ]; then exit 3; fi; sleep {up}'
)

# The phases of a round: the alerts paused; evaluating (at SCHED_IDLE) and delivering; the
# same with the evaluation thread at normal priority; and, to see what the bench's own noise
# gives, a second arm with the alerts paused.
ARMS = ("A no alerts", "B alerts", "C alerts, eval normal", "A2 no alerts")
SHORT = {arm.split()[0]: arm for arm in ARMS}


def pct(values: list[float], p: float) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, round(p / 100 * (len(ordered) - 1)))]


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--seconds", type=float, default=30.0)
    ap.add_argument("--churners", type=int, default=3)
    ap.add_argument("--db", default=None)
    ap.add_argument("--alerts-history", type=int, default=0)
    ap.add_argument("--rounds", type=int, default=0, help="alternated A/B/C phases (see above)")
    ap.add_argument("--flappers", type=int, default=2)
    ap.add_argument("--flap-up", type=float, default=70.0)
    ap.add_argument(
        "--churn-exit",
        type=int,
        default=1,
        help="the churners' exit code (default 1: every one a failed job, alerted; 0: none)",
    )
    ap.add_argument(
        "--arms", default="A,B,C", help="phases of a round, of A, B, C, A2 (A again: the noise)"
    )
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
    if args.rounds:
        try:
            phases(args, url, eng)
        finally:
            eng.destroy()
        return
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
            ("first read", [t for t in took if t[2]]),
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


def cpu_s(pid: int, tid: int | None = None) -> float:
    """A process's (or one of its threads') user + system CPU seconds so far (proc(5))."""
    path = f"/proc/{pid}/task/{tid}/stat" if tid is not None else f"/proc/{pid}/stat"
    fields = Path(path).read_text().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


def idle_thread(pid: int) -> int | None:
    """The worker's evaluation thread: the one at SCHED_IDLE (alerts/worker.py)."""
    for task in Path(f"/proc/{pid}/task").iterdir():
        if os.sched_getscheduler(int(task.name)) == os.SCHED_IDLE:
            return int(task.name)
    return None


def delivery_cpu(pid: int, idle: int) -> float:
    """The worker's CPU seconds but its main thread's and its evaluation thread's: delivery."""
    return sum(
        cpu_s(pid, int(t.name))
        for t in Path(f"/proc/{pid}/task").iterdir()
        if int(t.name) not in (pid, idle)
    )


def outbox_counts(store: Any, since_ns: int) -> tuple[int, int]:
    """Messages decided since `since_ns`, and messages sent since then."""
    with store.connect() as conn:
        row = conn.execute(
            text(
                "SELECT SUM(CASE WHEN created_ns >= :t THEN 1 ELSE 0 END), "
                "SUM(CASE WHEN sent_ns >= :t THEN 1 ELSE 0 END) FROM alert_outbox"
            ),
            {"t": since_ns},
        ).one()
    return int(row[0] or 0), int(row[1] or 0)


def phases(args: argparse.Namespace, url: str, eng: PrivateEngine) -> None:
    """The collector, the churn and the alerts (delivering to a local receiver) throughout; the
    ARMS' phases in turn, `args.rounds` times."""
    assert eng.proc is not None
    machine = Machine(eng.proc.pid)  # dockerd's waits beside ours
    port = free_port()
    receiver = subprocess.Popen(
        [sys.executable, "-c", RECEIVE, str(port)], stdout=subprocess.PIPE, text=True
    )
    assert receiver.stdout is not None and receiver.stdout.readline().strip() == "ready"
    phase: list[list[float]] = [[]]

    def on_commit(rows: Sequence[Mapping[str, Any]], committed_ns: int) -> None:
        phase[-1].extend((committed_ns - int(r["time_ns"])) / 1e6 for r in rows)
        commits.on_commit(committed_ns)

    arms = [SHORT[a] for a in args.arms.split(",")]
    store = db.connect(url)
    commits = CommitTimes(store)
    wal = WalWatch(Path(url.removeprefix("sqlite:///")))
    stop = threading.Event()
    col = Collector(store=store, engine_url=eng.url, on_commit=on_commit, log=print)
    runner = threading.Thread(target=col.run, args=(stop,), daemon=True)
    procs: list[subprocess.Popen[bytes]] = []
    threads: list[threading.Thread] = []
    service = AlertService(store, default_config([f"json://127.0.0.1:{port}/"]), log=lambda _: None)
    # Paused (arm A): the evaluation thread does not ask the worker, so nothing new is decided
    # nor sent (the worker's delivery thread still looks at when the next message is due, once
    # a second at most).
    paused = threading.Event()
    evaluate = service.evaluate

    def gated_evaluate() -> None:
        if not paused.is_set():
            evaluate()

    service.evaluate = gated_evaluate  # type: ignore[method-assign]
    try:
        runner.start()
        wal.start()
        while col.sessions < 1:
            time.sleep(0.05)
        for i in range(args.flappers):
            eng.run(
                "sh",
                "-c",
                FLAP.format(up=args.flap_up),
                name=f"flapper-{i}",
                restart_policy={"Name": "always"},
            )
        procs = [
            subprocess.Popen([sys.executable, "-c", CHURN, eng.url, IMAGE, str(args.churn_exit)])
            for _ in range(args.churners)
        ]
        warm = time.time_ns()
        threads = service.start(stop)
        while service.warming or service.evaluations < 3 or service._worker is None:
            time.sleep(0.2)
        worker = service._worker.pid
        tid = idle_thread(worker)
        assert tid is not None
        print(
            f"warm-up (the alerts' first read, then 2 evaluations): {len(phase[-1])} events, "
            f"p99 {pct(phase[-1], 99):.0f} ms; worker CPU {cpu_s(worker):.2f} s; "
            f"{outbox_counts(store, warm)[0]} messages decided",
            flush=True,
        )
        lat: dict[str, list[float]] = {arm: [] for arm in arms}
        each: dict[str, list[list[float]]] = {arm: [] for arm in arms}
        for i in range(args.rounds * len(arms)):
            arm = arms[i % len(arms)]
            if arm.startswith("A"):
                paused.set()
            else:
                policy = os.SCHED_IDLE if arm == "B alerts" else os.SCHED_OTHER
                os.sched_setscheduler(tid, policy, os.sched_param(0))
                paused.clear()
            began = time.time_ns()
            phase.append([])
            load0, w0, own0 = os.getloadavg()[0], cpu_s(worker), time.process_time()
            d0 = delivery_cpu(worker, tid)
            machine.start()
            time.sleep(args.seconds)
            values = list(phase[-1])
            decided, sent = outbox_counts(store, began)
            lat[arm] += values
            each[arm].append(values)
            print(
                f"{arm:<22}: p50 {pct(values, 50):.0f} ms, p99 {pct(values, 99):.0f} ms, "
                f"{len(values)} events; messages decided {decided}, sent {sent}; CPU s: worker "
                f"{cpu_s(worker) - w0:.2f} (delivery {delivery_cpu(worker, tid) - d0:.2f}), "
                f"collector process {time.process_time() - own0:.2f}; load "
                f"{load0:.1f}-{os.getloadavg()[0]:.1f}",
                flush=True,
            )
            print(f"    {commits.since(began)}; {wal.since(began)}; {machine.since()}", flush=True)
        wal.done.set()
        for arm in arms:
            v = lat[arm]
            print(
                f"event-to-commit {arm}: p50 {pct(v, 50):.0f} ms, p95 {pct(v, 95):.0f} ms, "
                f"p99 {pct(v, 99):.0f} ms, max {max(v):.0f} ms over {len(v)} events; per phase "
                f"p99 {'/'.join(f'{pct(x, 99):.0f}' for x in each[arm])}"
            )
        for line in compare_arms(each):
            print(line)
    finally:
        stop.set()
        for t in threads:
            t.join(30)
        for p in procs:
            p.terminate()
        for p in procs:
            p.wait()
        runner.join(10)
        receiver.terminate()
        receiver.wait()
        store.dispose()


def report(what: str, values: list[float], seconds: float) -> None:
    print(
        f"{what}: {len(values)} events ({len(values) / seconds:.1f}/s); latency ms p50 "
        f"{statistics.median(values):.1f}  p95 {pct(values, 95):.1f}  p99 {pct(values, 99):.1f}"
        f"  max {max(values):.1f}"
    )


if __name__ == "__main__":
    main()
