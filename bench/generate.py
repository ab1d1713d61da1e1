"""Deterministic generator of realistic `docker events --format '{{json .}}'` lines.

    python bench/generate.py OUT.jsonl [--events 1000000] [--containers 10000] [--days 30]
                             [--seed 1] [--start 2026-01-01T00:00:00Z] [--network-noise 0.0]
                             [--db PATH_OR_URL] [--host bench]
    python bench/generate.py OUTDIR --hosts 200 --containers 50 --days 365 --events 20000000
                             [--db PATH_OR_URL]

Same arguments, same bytes: every random choice comes from one seeded `random.Random`. The
lines look like the engine's (ENGINE.md, tests/data/events/): `status`/`id`/`from` beside
`Type`/`Action`/`Actor`, `time` in s and `timeNano` in ns, labels in `Actor.Attributes`.

Each container gets `create`, `start`, then episodes spread over the days until its share of the
events is used up:

- crash loop: `die` (exitCode 1) -> `start` after the engine's back-off (100 ms doubling), a few
  times, and at times a last `die` that stays down a while before a manual `start`;
- OOM: `oom` -> `die` (137) -> `start`;
- docker stop: `kill` (signal 15) -> `die` (143) -> `stop`, a later `start`;
- health: `health_status: healthy` / `health_status: unhealthy` transitions (containers with a
  health check), with their `exec_create`/`exec_start`/`exec_die` noise; a container with a
  health check also reports `healthy` 0.5-5 s after each `start`, as the engine does;
- `pause` -> `unpause`; `exec_*` noise from `docker exec`;

About 60% of containers carry compose project/service labels (several containers a service).
Lines are sorted by time: exactly `--events` container events, plus the network events
`--network-noise` asks for. With `--db`, the file is then
loaded with `docktally import` into that database (a path means SQLite).

With `--hosts N`, OUT is a directory: one such file per host (`host-001.jsonl`, ...), each
its engine's own `docker events`, `--containers` per host and `--events` in all (about: the
fleet's own episodes below are never cut), and `fleet.json` with what an events file does not
hold. Besides the episodes above, each host has:

- engine restarts (a few a year): every container of the host `kill` (15) -> `die` (143) ->
  `stop`, then `start` again when the engine is back 20 s-5 min later; kept in fleet.json as
  the gaps a collector would record (reason engine_restart);
- maintenance windows (about two a month): the containers of one of its services are stopped
  just after the window opens and started before it closes; kept in fleet.json as
  `docktally maintenance` windows of that service on that host.

With `--db`, each file is imported with `--host` its name, then the gaps and windows are
stored. Same arguments, same bytes here too.

Used by bench/bench_import.py and by the report and dashboard benchmarks:
`from bench.generate import generate_lines` yields the lines (str, no newline).
"""

from __future__ import annotations

import argparse
import heapq
import random
import sys
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import orjson

NS = 1_000_000_000
DEFAULT_START = "2026-01-01T00:00:00Z"
PROJECTS = ["shop", "billing", "search", "auth", "media", "ingest", "ops", "analytics"]
SERVICES = ["web", "api", "worker", "db", "cache", "queue", "cron", "proxy"]
IMAGES = [
    "nginx:1.27",
    "postgres:16",
    "redis:7",
    "python:3.12-slim",
    "node:22-alpine",
    "busybox:latest",
    "registry.local/app:2.4.1",
    "registry.local/worker:2.4.1",
]
HEALTH_CMD = "/bin/sh -c curl -fsS http://localhost/health || exit 1"


class _Container:
    __slots__ = ("attrs", "cid", "health", "image")

    def __init__(self, rng: random.Random, n: int) -> None:
        self.cid = rng.getrandbits(256).to_bytes(32, "big").hex()
        self.image = rng.choice(IMAGES)
        self.health = rng.random() < 0.3
        attrs: dict[str, str] = {"image": self.image}
        if rng.random() < 0.6:
            project = rng.choice(PROJECTS)
            service = rng.choice(SERVICES)
            number = str(1 + n % 5)
            attrs.update(
                {
                    "com.docker.compose.project": project,
                    "com.docker.compose.service": service,
                    "com.docker.compose.container-number": number,
                    "com.docker.compose.version": "2.29.1",
                }
            )
            attrs["name"] = f"{project}-{service}-{number}-{n}"
        else:
            attrs["name"] = f"app{n}"
        self.attrs = attrs


def _line(c: _Container, t_ns: int, action: str, extra: dict[str, str] | None = None) -> bytes:
    attrs = dict(c.attrs)
    if extra:
        attrs.update(extra)
    return orjson.dumps(
        {
            "status": action,
            "id": c.cid,
            "from": c.image,
            "Type": "container",
            "Action": action,
            "Actor": {"ID": c.cid, "Attributes": attrs},
            "scope": "local",
            "time": t_ns // NS,
            "timeNano": t_ns,
        }
    )


def _network_line(c: _Container, t_ns: int, action: str) -> bytes:
    return orjson.dumps(
        {
            "Type": "network",
            "Action": action,
            "Actor": {
                "ID": "0" * 52 + "0123456789ab",
                "Attributes": {"container": c.cid, "name": "bridge", "type": "bridge"},
            },
            "scope": "local",
            "time": t_ns // NS,
            "timeNano": t_ns,
        }
    )


def _episode(rng: random.Random, c: _Container, t: int) -> list[tuple[int, bytes]]:
    """One burst of events starting at t (container running before and after)."""
    out: list[tuple[int, bytes]] = []

    def add(dt_ns: int, action: str, extra: dict[str, str] | None = None) -> None:
        nonlocal t
        t += dt_ns
        out.append((t, _line(c, t, action, extra)))

    def ms(lo: float, hi: float) -> int:
        return int(rng.uniform(lo, hi) * 1_000_000)

    def start(dt_ns: int) -> None:
        # As the engine does: a health check reports healthy again after each start.
        add(dt_ns, "start")
        if c.health:
            add(ms(500, 5000), "health_status: healthy")

    r = rng.random()
    if r < 0.20:  # crash loop
        backoff = 100
        for _ in range(rng.randint(1, 6)):
            add(ms(50, 30_000), "die", {"exitCode": "1"})
            start(backoff * 1_000_000 + ms(1, 50))
            backoff = min(backoff * 2, 60_000)
        if rng.random() < 0.3:  # gives up; an operator starts it again later
            add(ms(50, 5000), "die", {"exitCode": rng.choice(["1", "2", "139"])})
            start(ms(60_000, 3_600_000))
    elif r < 0.28:  # OOM
        add(0, "oom")
        add(ms(5, 60), "die", {"exitCode": "137"})
        start(ms(100, 2000))
    elif r < 0.43:  # docker stop, later started again
        add(0, "kill", {"signal": "15"})
        add(ms(5, 3000), "die", {"exitCode": "143"})
        add(ms(5, 50), "stop")
        start(ms(10_000, 7_200_000))
    elif r < 0.50:
        add(0, "pause")
        add(ms(1000, 600_000), "unpause")
    elif r < 0.80 and c.health:  # health transition, with the probe's exec noise
        for status in ("unhealthy", "healthy"):
            add(ms(1, 1000), f"exec_create: {HEALTH_CMD}")
            add(0, f"exec_start: {HEALTH_CMD}")
            add(ms(5, 200), "exec_die", {"exitCode": "1" if status == "unhealthy" else "0"})
            add(ms(1, 5), f"health_status: {status}")
            if status == "unhealthy":
                t += ms(30_000, 900_000)
    else:  # docker exec noise
        cmd = rng.choice(["sh", "ls /app", "cat /etc/hostname", "ps aux"])
        add(0, f"exec_create: {cmd}")
        add(ms(1, 5), f"exec_start: {cmd}")
        add(ms(10, 60_000), "exec_die", {"exitCode": "0"})
    return out


def _stop_start(rng: random.Random, c: _Container, t: int, back_ns: int) -> list[tuple[int, bytes]]:
    """`docker stop` at t (SIGTERM, die 143, stop), started again at back_ns (or just after the
    stop if that is later): an engine restart's or a maintenance window's."""
    out: list[tuple[int, bytes]] = []
    t += int(rng.uniform(0, 2000) * 1_000_000)
    out.append((t, _line(c, t, "kill", {"signal": "15"})))
    t += int(rng.uniform(5, 3000) * 1_000_000)
    out.append((t, _line(c, t, "die", {"exitCode": "143"})))
    t += int(rng.uniform(5, 50) * 1_000_000)
    out.append((t, _line(c, t, "stop")))
    t = max(back_ns, t + 1_000_000) + int(rng.uniform(500, 5000) * 1_000_000)
    out.append((t, _line(c, t, "start")))
    if c.health:
        t += int(rng.uniform(500, 5000) * 1_000_000)
        out.append((t, _line(c, t, "health_status: healthy")))
    return out


def _fleet_container_events(
    rng: random.Random,
    c: _Container,
    budget: int,
    start_ns: int,
    span_ns: int,
    fixed: list[tuple[int, int]],
) -> list[tuple[int, bytes]]:
    """As _container_events, with the host's own episodes `fixed` ((at, back) pairs: stopped
    at `at`, started at `back`) in time order among the random ones: a container busy in an
    episode at `at` is stopped when it is done. The random episodes stop at `budget` events."""
    created = start_ns + int(rng.random() * span_ns * 0.01)
    events = [(created, _line(c, created, "create"))]
    t = created + int(rng.uniform(0.1, 1.0) * NS)
    events.append((t, _line(c, t, "start")))
    if c.health:
        t2 = t + int(rng.uniform(1, 30) * NS)
        events.append((t2, _line(c, t2, "health_status: healthy")))
    n_episodes = max(1, int(budget / 3.9))
    span_end = start_ns + span_ns
    todo = [(created + int(rng.random() * (span_end - created)), -1) for _ in range(n_episodes)]
    todo += [(at, back) for at, back in fixed if at > created]
    todo.sort()
    random_n = len(events)
    last = events[-1][0]
    for at, back in todo:
        s = max(at, last + 1_000_000)
        if back >= 0:
            ep = _stop_start(rng, c, s, back)
        elif random_n >= budget:
            continue
        else:
            ep = _episode(rng, c, s)
            random_n += len(ep)
        events.extend(ep)
        last = events[-1][0]
    return events


def _container_events(
    rng: random.Random, c: _Container, budget: int, start_ns: int, span_ns: int
) -> list[tuple[int, bytes]]:
    created = start_ns + int(rng.random() * span_ns * 0.05)
    events = [(created, _line(c, created, "create"))]
    t = created + int(rng.uniform(0.1, 1.0) * NS)
    events.append((t, _line(c, t, "start")))
    if c.health:
        t2 = t + int(rng.uniform(1, 30) * NS)
        events.append((t2, _line(c, t2, "health_status: healthy")))
    # About 3.9 events an episode: enough episode starts to spread the budget over the span;
    # a short fall is made up by episodes appended at the end, an overshoot is cut.
    n_episodes = max(1, int((budget - len(events)) / 3.9))
    span_end = start_ns + span_ns
    starts = sorted(created + int(rng.random() * (span_end - created)) for _ in range(n_episodes))
    last = events[-1][0]
    for s in starts:
        if len(events) >= budget:
            break
        events.extend(_episode(rng, c, max(s, last + 1_000_000)))
        last = events[-1][0]
    while len(events) < budget:
        events.extend(_episode(rng, c, last + int(rng.uniform(1, 600) * NS)))
        last = events[-1][0]
    del events[budget:]
    return events


def generate_lines(
    events: int = 1_000_000,
    containers: int = 10_000,
    days: float = 30,
    seed: int = 1,
    start_ns: int | None = None,
    network_noise: float = 0.0,
) -> Iterator[bytes]:
    """`events` lines (bytes, no newline), sorted by time; deterministic for the same arguments."""
    from docktally.timespec import parse_rfc3339_ns

    rng = random.Random(seed)
    start = start_ns if start_ns is not None else parse_rfc3339_ns(DEFAULT_START)
    assert start is not None
    span = int(days * 86400 * NS)
    base, extra = divmod(events, containers)
    streams: list[list[tuple[int, bytes]]] = []
    for n in range(containers):
        c = _Container(rng, n)
        budget = base + (1 if n < extra else 0)
        if budget == 0:
            break
        evs = _container_events(rng, c, budget, start, span)
        if network_noise > 0:
            noise = []
            for t, _ in evs:
                if rng.random() < network_noise:
                    noise.append((t - 1000, _network_line(c, t - 1000, "connect")))
            evs = sorted(evs + noise, key=lambda e: e[0])
        streams.append(evs)
    for _t, line in heapq.merge(*streams, key=lambda e: e[0]):
        yield line


@dataclass
class Host:
    name: str
    lines: list[bytes]
    # (start_ns, end_ns) of each engine restart: the gap a collector would record.
    engine_restarts: list[tuple[int, int]]
    # (service "project/service", start_ns, end_ns, kind) of each maintenance window.
    maintenance: list[tuple[str, int, int, str]]


def generate_hosts(
    hosts: int,
    containers: int,
    events: int,
    days: float = 365,
    seed: int = 1,
    start_ns: int | None = None,
) -> Iterator[Host]:
    """Per host (`host-001`, ...): its `containers` containers' lines, sorted by time (about
    events / hosts of them), its engine restarts and its maintenance windows."""
    from docktally.timespec import parse_rfc3339_ns

    rng = random.Random(seed)
    start = start_ns if start_ns is not None else parse_rfc3339_ns(DEFAULT_START)
    assert start is not None
    span = int(days * 86400 * NS)
    per_c, extra = divmod(events, hosts * containers)
    n = 0
    width = len(str(hosts))
    for h in range(hosts):
        cs = [_Container(rng, n + i) for i in range(containers)]
        n += containers
        restarts = []
        for _ in range(rng.randint(1, max(1, int(days / 60)))):
            at = start + int(rng.uniform(0.02, 1.0) * span)
            restarts.append((at, at + int(rng.uniform(20, 300) * NS)))
        services = sorted(
            {
                f"{c.attrs['com.docker.compose.project']}/{c.attrs['com.docker.compose.service']}"
                for c in cs
                if "com.docker.compose.project" in c.attrs
            }
        )
        windows = []
        for _ in range(int(days / 15) if services else 0):
            at = start + int(rng.uniform(0.02, 0.99) * span)
            windows.append(
                (
                    rng.choice(services),
                    at,
                    at + int(rng.uniform(600, 7200) * NS),
                    rng.choice(["maintenance", "deploy"]),
                )
            )
        streams = []
        for i, c in enumerate(cs):
            key = (
                f"{c.attrs['com.docker.compose.project']}/{c.attrs['com.docker.compose.service']}"
                if "com.docker.compose.project" in c.attrs
                else None
            )
            fixed = [(at, back) for at, back in restarts]
            # Stopped a minute into its service's window at most, back 1-10 min before its end.
            fixed += [
                (ws + int(rng.uniform(1, 60) * NS), we - int(rng.uniform(60, 600) * NS))
                for svc, ws, we, _ in windows
                if svc == key
            ]
            fixed.sort()
            budget = per_c + (1 if h * containers + i < extra else 0)
            streams.append(_fleet_container_events(rng, c, budget, start, span, fixed))
        lines = [line for _t, line in heapq.merge(*streams, key=lambda e: e[0])]
        yield Host(f"host-{h + 1:0{width}d}", lines, sorted(restarts), sorted(windows))


def write_fleet(out: Path, **kwargs: Any) -> tuple[int, list[Path]]:
    """The hosts of generate_hosts as OUT/<host>.jsonl and OUT/fleet.json; (lines, files)."""
    out.mkdir(parents=True, exist_ok=True)
    n, files, meta = 0, [], []
    for host in generate_hosts(**kwargs):
        path = out / f"{host.name}.jsonl"
        part = path.with_suffix(".part")  # renamed when whole: a reader may import it meanwhile
        with open(part, "wb") as fh:
            for i in range(0, len(host.lines), 10_000):
                fh.write(b"\n".join(host.lines[i : i + 10_000]) + b"\n")
        part.rename(path)
        n += len(host.lines)
        files.append(path)
        meta.append(
            {
                "host": host.name,
                "engine_restarts": host.engine_restarts,
                "maintenance": host.maintenance,
            }
        )
    (out / "fleet.json").write_bytes(orjson.dumps(meta))
    return n, files


def load_fleet(out: Path, db: str) -> int:
    """Import OUT/<host>.jsonl files (each with --host its name), then store fleet.json's
    engine-restart gaps and maintenance windows."""
    from docktally.cli import main as cli_main

    meta = orjson.loads((out / "fleet.json").read_bytes())
    for m in meta:
        rc = cli_main(["import", str(out / f"{m['host']}.jsonl"), "--db", db, "--host", m["host"]])
        if rc:
            return rc
    store_fleet(out, db)
    return 0


def store_fleet(out: Path, db: str) -> None:
    """Store OUT/fleet.json's engine-restart gaps and maintenance windows."""
    from docktally.store import db as store_db
    from docktally.store import writes

    meta = orjson.loads((out / "fleet.json").read_bytes())
    engine = store_db.connect(db)
    try:
        with engine.begin() as conn:
            for m in meta:
                for s, e in m["engine_restarts"]:
                    writes.record_gap(
                        conn, host=m["host"], engine_url=None, start_ns=s, end_ns=e,
                        reason="engine_restart", events_replayed=0,
                    )  # fmt: skip
                for svc, s, e, kind in m["maintenance"]:
                    writes.add_maintenance(
                        conn,
                        {
                            "host": m["host"], "target_kind": "service", "target": svc,
                            "start_ns": s, "end_ns": e, "kind": kind,
                            "reason": "bench/generate.py", "created_by": "bench", "created_ns": e,
                        },
                    )  # fmt: skip
    finally:
        engine.dispose()


def write_file(path: Path, **kwargs: float) -> int:
    n = 0
    with open(path, "wb") as fh:
        buf = []
        for line in generate_lines(**kwargs):  # type: ignore[arg-type]
            buf.append(line)
            if len(buf) >= 10_000:
                fh.write(b"\n".join(buf) + b"\n")
                n += len(buf)
                buf = []
        if buf:
            fh.write(b"\n".join(buf) + b"\n")
            n += len(buf)
    return n


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(
        description="Write N realistic `docker events --format '{{json .}}'` lines to OUT.",
    )
    p.add_argument("out", type=Path, help="output file (.jsonl)")
    p.add_argument("--events", type=int, default=1_000_000, help="lines (default 1,000,000)")
    p.add_argument("--containers", type=int, default=10_000, help="containers (default 10,000)")
    p.add_argument("--days", type=float, default=30, help="span in days (default 30)")
    p.add_argument("--seed", type=int, default=1, help="random seed (default 1)")
    p.add_argument(
        "--start", default=DEFAULT_START, help=f"first instant (default {DEFAULT_START})"
    )
    p.add_argument(
        "--network-noise",
        type=float,
        default=0.0,
        help="fraction of container events preceded by a network event (default 0)",
    )
    p.add_argument("--db", help="then import the file into this database (path or URL)")
    p.add_argument("--host", default="bench", help="host label for --db (default: bench)")
    p.add_argument(
        "--hosts",
        type=int,
        help="OUT is a directory: this many hosts' files of --containers each (see above)",
    )
    args = p.parse_args(argv)
    from docktally.timespec import parse_rfc3339_ns

    if args.hosts:
        n, files = write_fleet(
            args.out,
            hosts=args.hosts,
            containers=args.containers,
            events=args.events,
            days=args.days,
            seed=args.seed,
            start_ns=parse_rfc3339_ns(args.start),
        )
        print(f"wrote {n:,} events of {len(files)} hosts to {args.out}/", file=sys.stderr)
        return load_fleet(args.out, args.db) if args.db else 0

    n = write_file(
        args.out,
        events=args.events,
        containers=args.containers,
        days=args.days,
        seed=args.seed,
        start_ns=parse_rfc3339_ns(args.start),  # type: ignore[arg-type]
        network_noise=args.network_noise,
    )
    print(f"wrote {n:,} events to {args.out}", file=sys.stderr)
    if args.db:
        from docktally.cli import main as cli_main

        return cli_main(["import", str(args.out), "--db", args.db, "--host", args.host])
    return 0


if __name__ == "__main__":
    sys.exit(main())
