"""What the live benches measure beside event-to-commit latency: how long the collector's
write transactions took, how far SQLite's checkpoints lagged behind its WAL, and whether two
arms' pooled p99s differ by more than which phases were put in which arm can explain."""

from __future__ import annotations

import contextlib
import itertools
import os
import statistics
import struct
import threading
import time
from pathlib import Path
from typing import Any

from sqlalchemy import Engine, event


class CommitTimes:
    """The writer's transactions on `store`: when each began and when COMMIT was called, by
    thread (SQLAlchemy's begin and commit events); the on_commit hook reads them for the
    transaction it follows."""

    def __init__(self, store: Engine) -> None:
        self._local = threading.local()
        # Per committed batch: (committed ns, transaction ns, COMMIT call ns).
        self.commits: list[tuple[int, int, int]] = []
        event.listen(store, "begin", self._begin)
        event.listen(store, "commit", self._commit)

    def _begin(self, _conn: Any) -> None:
        self._local.begin = time.time_ns()

    def _commit(self, _conn: Any) -> None:
        self._local.commit = time.time_ns()

    def on_commit(self, committed_ns: int) -> None:
        begin = getattr(self._local, "begin", committed_ns)
        commit = getattr(self._local, "commit", committed_ns)
        self.commits.append((committed_ns, committed_ns - begin, committed_ns - commit))

    def since(self, t_ns: int) -> str:
        got = [c for c in self.commits if c[0] >= t_ns]
        if not got:
            return "no commits"
        tx = sorted(c[1] / 1e6 for c in got)
        call = sorted(c[2] / 1e6 for c in got)
        return (
            f"{len(got)} commits: transaction p50 {pick(tx, 50):.1f} p99 {pick(tx, 99):.1f} max "
            f"{tx[-1]:.1f} ms, of it COMMIT p50 {pick(call, 50):.1f} p99 {pick(call, 99):.1f} "
            f"max {call[-1]:.1f} ms"
        )


def pick(ordered: list[float], p: float) -> float:
    return ordered[min(len(ordered) - 1, round(p / 100 * (len(ordered) - 1)))]


class WalWatch(threading.Thread):
    """SQLite's WAL of `db_path`, sampled every 50 ms from the wal-index (the -shm file's
    header, as sqlite3.c lays it out): frames in the WAL (mxFrame) and frames already copied
    into the database (nBackfill). Their difference is what the checkpoints have not caught
    up with: a reader's snapshot keeps them from copying past it."""

    def __init__(self, db_path: Path) -> None:
        super().__init__(daemon=True)
        self.shm = Path(f"{db_path}-shm")
        self.wal = Path(f"{db_path}-wal")
        self.samples: list[tuple[int, int, int, int]] = []  # ns, mxFrame, nBackfill, WAL bytes
        self.done = threading.Event()

    def run(self) -> None:
        # Opened once and never closed: this process is the collector's, and closing any
        # descriptor of a file drops every POSIX lock the process holds on it (SQLite's locks
        # on the -shm file: a watcher that closed it after each read corrupted the store).
        fd = None
        while not self.done.wait(0.05):
            with contextlib.suppress(OSError, struct.error):
                if fd is None:
                    fd = os.open(self.shm, os.O_RDONLY)
                head = os.pread(fd, 136, 0)
                mx = struct.unpack_from("=I", head, 16)[0]
                backfill = struct.unpack_from("=I", head, 96)[0]
                self.samples.append((time.time_ns(), mx, backfill, self.wal.stat().st_size))

    def since(self, t_ns: int) -> str:
        got = [s for s in self.samples if s[0] >= t_ns]
        if not got:
            return "WAL not sampled"
        lag = sorted(mx - bf for _, mx, bf, _ in got)
        # The WAL starts over (mxFrame falls) after a checkpoint copied every frame and no
        # reader was left on the old ones.
        resets = sum(1 for a, b in itertools.pairwise(got) if b[1] < a[1])
        return (
            f"WAL frames not checkpointed median {pick(lag, 50):.0f} max {lag[-1]}, frames max "
            f"{max(s[1] for s in got)}, {resets} restarts, file max "
            f"{max(s[3] for s in got) / 1e6:.0f} MB"
        )


def permutation_p(a: list[list[float]], b: list[list[float]], p: float = 99) -> float:
    """Of every way of putting these phases into two arms of the same sizes, the share whose
    pooled p-th percentile ratio (second arm over first) is at least the one observed: how
    often which phase went where alone gives such a ratio (exact, for a few phases each)."""

    def ratio(first: list[list[float]], second: list[list[float]]) -> float:
        one = sorted(itertools.chain.from_iterable(first))
        two = sorted(itertools.chain.from_iterable(second))
        return pick(two, p) / pick(one, p)

    seen = ratio(a, b)
    both = a + b
    splits = list(itertools.combinations(range(len(both)), len(b)))
    hits = 0
    for chosen in splits:
        second = [both[i] for i in chosen]
        first = [both[i] for i in range(len(both)) if i not in chosen]
        hits += ratio(first, second) >= seen - 1e-9
    return hits / len(splits)


def cpu_ticks() -> list[int]:
    """The machine's CPU time so far by kind (/proc/stat's first line: user, nice, system,
    idle, iowait, irq, softirq, steal), in clock ticks."""
    return [int(x) for x in Path("/proc/stat").read_text().split("\n", 1)[0].split()[1:9]]


def cpu_share(before: list[int], after: list[int]) -> str:
    """How the machine's CPU time went between two cpu_ticks(): idle (with iowait) and steal
    (the hypervisor running something else on our vCPUs), as shares of it all."""
    d = [b - a for a, b in zip(before, after, strict=True)]
    total = sum(d) or 1
    return f"idle {(d[3] + d[4]) / total:.0%}, steal {d[7] / total:.1%}"


def waited_s(pid: int) -> float:
    """Seconds the threads of process `pid` alive now have spent runnable but waiting for a
    CPU (run queue), so far (/proc/PID/task/TID/schedstat's second field)."""
    total = 0
    for task in Path(f"/proc/{pid}/task").iterdir():
        with contextlib.suppress(OSError, IndexError):
            total += int((task / "schedstat").read_text().split()[1])
    return total / 1e9


class Machine:
    """Since a phase began (`start`): how the machine's CPU time went and how long this process
    and the engine (`engine_pid`) waited for a core."""

    def __init__(self, engine_pid: int) -> None:
        self.engine_pid = engine_pid
        self.start()

    def start(self) -> None:
        self.ticks = cpu_ticks()
        self.waits = waited_s(os.getpid()), waited_s(self.engine_pid)

    def since(self) -> str:
        return (
            f"machine {cpu_share(self.ticks, cpu_ticks())}; run-queue waits s: collector process "
            f"{waited_s(os.getpid()) - self.waits[0]:.2f}, "
            f"engine {waited_s(self.engine_pid) - self.waits[1]:.2f}"
        )


def compare_arms(phases: dict[str, list[list[float]]]) -> list[str]:
    """Each arm after the first against the first: the pooled p99 ratio, the ratio of the
    phases' median p99s, and the permutation p."""
    arms = list(phases)
    first = sorted(itertools.chain.from_iterable(phases[arms[0]]))
    base = statistics.median(pick(sorted(x), 99) for x in phases[arms[0]])
    out = []
    for arm in arms[1:]:
        pooled = sorted(itertools.chain.from_iterable(phases[arm]))
        median = statistics.median(pick(sorted(x), 99) for x in phases[arm])
        out.append(
            f"{arm} / {arms[0]}: pooled p99 {pick(pooled, 99) / pick(first, 99):.2f}, median of "
            f"the phases' p99 {median / base:.2f}; permutation p "
            f"{permutation_p(phases[arms[0]], phases[arm]):.3f} (the share of splits of these "
            "phases into the two arms with a pooled p99 ratio at least this)"
        )
    return out
