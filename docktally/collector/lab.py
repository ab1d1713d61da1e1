"""The restart-policy lab: one container per policy running the same failure workload, watched by
the ordinary (read-only) Collector, with the lab playing the person who restarts by hand what
the engine leaves down.

This is the only module that creates containers. The docker client, the store and the clock are
parameters; `docktally lab` passes the production ones.
"""

from __future__ import annotations

import contextlib
import json
import math
import random
import threading
import time
from collections.abc import Callable
from dataclasses import asdict, dataclass, field
from typing import Any

import docker
import docker.errors
from sqlalchemy import Engine

from docktally.analytics.backoff import RestartPolicy
from docktally.analytics.model import Window
from docktally.collector.runner import Collector
from docktally.errors import DocktallyError, EngineUnreachable
from docktally.store import writes
from docktally.timespec import parse_rfc3339_ns

NS_PER_S = 1_000_000_000
LABEL_RUN = "docktally.lab.run"
LABEL_POLICY = "docktally.lab.policy"
STATE_FILE = "/tmp/.docktally-lab-run"
OOM_MEMORY_LIMIT = "16m"
OOM_ALLOC = "64M"  # dd's block buffer: four times the limit
POLL_S = 0.25  # the person's reaction time; every poll inspects each container
MIN_SLEEP_S = 0.05


@dataclass(frozen=True)
class LabConfig:
    duration_s: float = 60.0
    crash_every_s: float = 5.0
    exit_code: int = 1
    oom: bool = False
    retries: int = 3
    seed: int = 1
    image: str = "busybox:latest"
    network: str = "none"
    manual_mttr_s: float = 30.0
    run_label: str = "lab"

    def policies(self) -> list[RestartPolicy]:
        return [
            RestartPolicy("no"),
            RestartPolicy("on-failure", self.retries),
            RestartPolicy("always"),
            RestartPolicy("unless-stopped"),
        ]


def workload_sleeps(seed: int, mean_s: float, duration_s: float) -> list[float]:
    """Exponential run lengths with the given mean, the same for every policy's container; enough
    of them to outlast the run (a container past the end of the list sleeps the mean)."""
    rng = random.Random(seed)
    count = min(2000, max(10, math.ceil(3 * duration_s / max(mean_s, 0.01)) + 10))
    return [max(MIN_SLEEP_S, round(rng.expovariate(1.0 / mean_s), 2)) for _ in range(count)]


def workload_command(sleeps: list[float], mean_s: float, exit_code: int, oom: bool) -> list[str]:
    """busybox `sh -c`: the n-th run (counted in a file that survives restarts of the same
    container) sleeps the n-th length, then exits with the code, or allocates past its memory
    limit."""
    fail = (
        f"echo 'docktally lab: allocating {OOM_ALLOC} past the limit'; "
        # exec: the allocating process is the container's main one, so the OOM kill ends the
        # container (137) as it does for a real service, not just a child of the shell.
        f"exec dd if=/dev/zero of=/dev/null bs={OOM_ALLOC} count=1"
        if oom
        else f"echo 'docktally lab: exiting {int(exit_code)}'; exit {int(exit_code)}"
    )
    script = (
        f"n=$(cat {STATE_FILE} 2>/dev/null || echo 0); echo $((n+1)) > {STATE_FILE}; "
        f"set -- {' '.join(f'{s:g}' for s in sleeps)}; "
        f'if [ "$n" -lt "$#" ]; then shift "$n"; d="$1"; else d={mean_s:g}; fi; '
        'echo "docktally lab: run $n, failing in ${d}s"; sleep "$d"; ' + fail
    )
    return ["sh", "-c", script]


@dataclass
class LabStatus:
    elapsed_s: float
    duration_s: float
    states: dict[str, str] = field(default_factory=dict)  # policy -> engine status
    restarts_by_hand: dict[str, int] = field(default_factory=dict)

    def line(self) -> str:
        parts = [
            f"{p}: {s}"
            + (
                f" (+{self.restarts_by_hand.get(p, 0)} by hand)"
                if p in self.restarts_by_hand
                else ""
            )
            for p, s in self.states.items()
        ]
        return f"lab {self.elapsed_s:5.1f}/{self.duration_s:.0f}s  " + " | ".join(parts)


@dataclass
class LabRun:
    label: str
    window: Window
    containers: dict[str, str]  # policy -> container id
    restarts_by_hand: dict[str, int]


class Lab:
    def __init__(
        self,
        *,
        client: docker.DockerClient,
        store: Engine,
        engine_url: str,
        config: LabConfig,
        host: str | None = None,
        clock_ns: Callable[[], int] = time.time_ns,
        collector_log: Callable[[str], None] | None = None,
    ) -> None:
        self.client = client
        self.store = store
        self.engine_url = engine_url
        self.config = config
        self.host = host
        self.clock_ns = clock_ns
        self.collector_log = collector_log

    def prepare(self) -> None:
        """Check the run label is free and pull the image if the engine lacks it, before
        anything is written or started: a run that cannot start must leave no trace."""
        with self.store.connect() as conn:
            if writes.run_label_taken(conn, self.config.run_label):
                raise DocktallyError(
                    f"--run-label {self.config.run_label!r}: a run of that label is already "
                    "stored (choose another)"
                )
        image = self.config.image
        try:
            self.client.images.get(image)
            return
        except docker.errors.ImageNotFound:
            pass
        except docker.errors.APIError as exc:
            raise DocktallyError(f"--image {image!r}: {_explain(exc)}") from None
        try:
            self.client.images.pull(image)
        except docker.errors.APIError as exc:
            raise DocktallyError(
                f"--image {image!r}: not on the engine at {self.engine_url} and cannot be "
                f"pulled: {_explain(exc)}"
            ) from None

    def _create(self, policy: RestartPolicy, command: list[str]) -> Any:
        cfg = self.config
        kwargs: dict[str, Any] = {
            "name": f"dtlab-{cfg.run_label}-{policy}".replace(":", "-"),
            "labels": {LABEL_RUN: cfg.run_label, LABEL_POLICY: str(policy)},
            "network_mode": cfg.network,
            "detach": True,
        }
        if policy.name != "no":
            kwargs["restart_policy"] = {
                "Name": policy.name,
                "MaximumRetryCount": policy.max_retries,
            }
        if cfg.oom:
            kwargs["mem_limit"] = OOM_MEMORY_LIMIT
            kwargs["memswap_limit"] = OOM_MEMORY_LIMIT
        try:
            return self.client.containers.run(cfg.image, command, **kwargs)
        except docker.errors.APIError as exc:
            raise DocktallyError(
                f"cannot create the lab's {policy} container on {self.engine_url}: {_explain(exc)}"
            ) from None

    def run(
        self,
        progress: Callable[[LabStatus], None] | None = None,
        stop: threading.Event | None = None,
    ) -> LabRun:
        cfg = self.config
        stop = stop or threading.Event()
        self.prepare()
        started = self.clock_ns()
        collector = (
            Collector(
                store=self.store,
                engine_url=self.engine_url,
                host=self.host,
                capture_logs=True,
                run_label=cfg.run_label,
                log=self.collector_log,
            )
            if self.collector_log
            else Collector(
                store=self.store,
                engine_url=self.engine_url,
                host=self.host,
                capture_logs=True,
                run_label=cfg.run_label,
            )
        )
        col_stop = threading.Event()
        col_thread = threading.Thread(
            target=collector.run, args=(col_stop,), name="docktally-lab-collector", daemon=True
        )
        col_thread.start()
        containers: dict[str, Any] = {}
        by_hand: dict[str, int] = {}
        try:
            deadline = time.monotonic() + 30
            while collector.sessions < 1 and time.monotonic() < deadline and col_thread.is_alive():
                time.sleep(0.05)
            sleeps = workload_sleeps(cfg.seed, cfg.crash_every_s, cfg.duration_s)
            command = workload_command(sleeps, cfg.crash_every_s, cfg.exit_code, cfg.oom)
            t0 = self.clock_ns()
            for policy in cfg.policies():
                containers[str(policy)] = self._create(policy, command)
            # Recorded once its containers exist: a run that could not start leaves no row.
            with self.store.begin() as conn:
                writes.start_run(
                    conn,
                    label=cfg.run_label,
                    kind="lab",
                    started_ns=started,
                    params=json.dumps(asdict(cfg), sort_keys=True),
                )
            end_at = t0 + int(cfg.duration_s * NS_PER_S)
            last_progress = 0.0
            while self.clock_ns() < end_at and not stop.is_set():
                states, due_ns = self._act_as_person(containers, by_hand)
                if progress is not None and time.monotonic() - last_progress >= 1.0:
                    last_progress = time.monotonic()
                    progress(
                        LabStatus(
                            (self.clock_ns() - t0) / NS_PER_S, cfg.duration_s, states, dict(by_hand)
                        )
                    )
                # Wake up on time for the next restart by hand, so the person's MTTR is steady.
                wait_s = POLL_S if due_ns is None else (due_ns - self.clock_ns()) / NS_PER_S
                time.sleep(min(POLL_S, max(0.0, wait_s)))
            ended = self.clock_ns()
        finally:
            for c in containers.values():
                with contextlib.suppress(docker.errors.APIError):
                    c.remove(force=True)
            time.sleep(1.0)  # let the collector commit the last events and log tails
            col_stop.set()
            col_thread.join(15)
            with self.store.begin() as conn:
                writes.end_run(conn, label=cfg.run_label, ended_ns=self.clock_ns())
        return LabRun(
            label=cfg.run_label,
            window=Window(started, ended),
            containers={p: str(c.id) for p, c in containers.items()},
            restarts_by_hand=by_hand,
        )

    def _act_as_person(
        self, containers: dict[str, Any], by_hand: dict[str, int]
    ) -> tuple[dict[str, str], int | None]:
        """Start by hand any container the engine left exited for the manual MTTR. Returns the
        states seen and when the next restart by hand is due."""
        states: dict[str, str] = {}
        due_next: int | None = None
        now = self.clock_ns()
        for policy, c in containers.items():
            try:
                c.reload()
            except docker.errors.NotFound:
                states[policy] = "gone"
                continue
            state = c.attrs.get("State") or {}
            status = str(state.get("Status") or c.status)
            states[policy] = status
            if status != "exited":
                continue
            finished = parse_rfc3339_ns(str(state.get("FinishedAt") or ""))
            if finished is None:
                continue
            due = finished + int(self.config.manual_mttr_s * NS_PER_S)
            if now >= due:
                c.start()
                by_hand[policy] = by_hand.get(policy, 0) + 1
            else:
                due_next = due if due_next is None else min(due_next, due)
        return states, due_next


def _explain(exc: docker.errors.APIError) -> str:
    """The engine's own reason, on one line."""
    return " ".join(str(exc.explanation or exc).split())


def connect_engine(url: str) -> Any:
    """A docker client for the lab's own (writing) calls; the collector keeps its read-only one."""
    try:
        client = docker.DockerClient(base_url=url, version="auto", timeout=60)
        client.ping()
    except Exception as exc:
        raise EngineUnreachable(f"no Docker engine answers at {url}: {exc}") from None
    return client
