"""The alerts' incremental evaluation decides exactly what a read of the whole lookback decides.

A random world is written into a real store step by step, as collectors would: crash loops, OOM
kills, health checks, jobs, people stopping, removing and recreating containers, facts that
arrive a step after their events, a collector's moving heartbeat and its reconnection, an engine
restart, a maintenance window, events replayed late and events from a clock ahead. At every
step one long-lived Evaluator (which analyses only what changed) decides and enqueues; its
decisions must equal a new Evaluator's (which reads everything) and those of the plain path:
load_history, inputs_from_history, decide.
"""

from __future__ import annotations

import dataclasses
import random
from typing import Any

from sqlalchemy import Engine

from docktally.alerts.delivery import targets
from docktally.alerts.engine import Decision, Notice, decide
from docktally.alerts.evaluate import Evaluator
from docktally.alerts.inputs import inputs_from_history
from docktally.alerts.rules import Config, parse_config
from docktally.analytics.model import Window
from docktally.store import alerts as outbox
from docktally.store import db, reads, writes

S = 1_000_000_000
T0 = 1_770_000_000 * S
STEPS = 32
RULES = """
notify = ["json://127.0.0.1:9/"]
stable = "30s"
reminder = "6m"
lookback = "12m"
scope = "{scope}"
[[rules]]
kind = "crash_loop"
failures = 3
within = "2m"
[[rules]]
kind = "oom"
[[rules]]
kind = "unhealthy"
longer_than = "40s"
[[rules]]
kind = "job_failed"
[[rules]]
kind = "engine_restart"
[[rules]]
kind = "slo_burn"
slo = 99
window = "5m"
burn_rate = 3
"""


class World:
    """Containers on two hosts, written into the store as time goes by."""

    def __init__(self, store: Engine, seed: int) -> None:
        self.store = store
        self.rng = random.Random(seed)
        self.now = T0
        self.rows: list[dict[str, Any]] = []
        self.facts_later: list[dict[str, Any]] = []
        self.later: list[tuple[int, str, int]] = []  # (time, action, container index)
        self.boxes: list[dict[str, Any]] = []
        self.serial = 0
        self.rows_facts: list[dict[str, Any]] = []
        with store.begin() as conn:
            self.coverage = {
                h: writes.open_coverage(
                    conn, host=h, engine_url=f"unix:///{h}", engine_id=h, source="collector",
                    start_ns=T0 - 3600 * S,
                )
                for h in ("h1", "h2")
            }  # fmt: skip
        for i in range(11):
            self.create(
                host="h1" if i < 7 else "h2",
                name=f"c{i}",
                policy=["always", "no", "on-failure", "unless-stopped"][i % 4],
                health=i % 3 == 0,
                crashy=i in (2, 7),
                compose=("shop", "web") if i in (4, 5) else None,
                t=T0 - 600 * S + i * S,
            )
        self.flush()

    # --- writing -----------------------------------------------------------------------------

    def event(self, i: int, t: int, action: str, **extra: Any) -> None:
        c = self.boxes[i]
        project, service = c["compose"] or (None, None)
        row = {
            "host": c["host"],
            "container_id": c["cid"],
            "time_ns": t,
            "action": action,
            "kind": action.split(":")[0],
            "name": c["name"],
            "image": "busybox",
            "compose_project": project,
            "compose_service": service,
            "inferred": False,
            "source": "collector",
            "exit_code": None,
            "signal": None,
            "health": action.split(": ")[1] if action.startswith("health_status: ") else None,
        }
        row.update(extra)
        self.rows.append(row)

    def facts(self, i: int, t: int) -> dict[str, Any]:
        c = self.boxes[i]
        project, service = c["compose"] or (None, None)
        return {
            "host": c["host"],
            "container_id": c["cid"],
            "observed_ns": t,
            "name": c["name"],
            "image": "busybox",
            "restart_policy": c["policy"],
            "restart_max_retries": 0,
            "has_healthcheck": c["health"],
            "compose_project": project,
            "compose_service": service,
            "labels": "{}",
        }

    def create(self, *, t: int, **how: Any) -> None:
        self.serial += 1
        cid = f"{self.serial:064x}"
        self.boxes.append({**how, "cid": cid, "state": "up", "tries": 0})
        i = len(self.boxes) - 1
        self.event(i, t, "create")
        self.event(i, t + S // 10, "start")
        if how["health"]:
            self.event(i, t + S, "health_status: healthy")
        f = self.facts(i, t + S // 5)
        # Facts come from inspect after the event: sometimes only in a later step.
        (self.facts_later if self.rng.random() < 0.4 else self.rows_facts).append(f)

    def flush(self) -> None:
        with self.store.begin() as conn:
            if self.rows:
                writes.insert_events(conn, self.rows)
            for f in self.rows_facts:
                writes.record_facts(conn, f)
            for cov in self.coverage.values():
                writes.heartbeat_coverage(conn, cov, self.now - self.rng.randrange(S))
        self.rows, self.rows_facts = [], []

    # --- time going by -------------------------------------------------------------------------

    def die(self, i: int, t: int, code: int, oom: bool = False) -> None:
        c = self.boxes[i]
        if oom:
            self.event(i, t, "oom")
        self.event(i, t + 1000, "die", exit_code=code)
        c["state"] = "down"
        policy = c["policy"]
        restarts = policy in ("always", "unless-stopped") or (policy == "on-failure" and code)
        if restarts:
            c["tries"] += 1
            back = min(100 * 2 ** c["tries"], 20_000) * 1_000_000
            self.later.append((t + back, "start", i))

    def step(self, seconds: float) -> None:
        rng = self.rng
        prev, self.now = self.now, self.now + int(seconds * S)
        self.rows_facts, self.facts_later = self.facts_later, []
        due = [x for x in self.later if x[0] <= self.now]
        self.later = [x for x in self.later if x[0] > self.now]
        for t, action, i in sorted(due):
            c = self.boxes[i]
            if c["state"] == "gone":
                continue
            if action == "start" and c["state"] != "up":
                self.event(i, t, "start")
                c["state"] = "up"
            elif action == "healthy" and c["state"] == "up":
                self.event(i, t, "health_status: healthy")
        for i, c in enumerate(list(self.boxes)):
            t = prev + rng.randrange(1, int(seconds * S))
            r = rng.random()
            if c["state"] == "up":
                if r < (0.5 if c["crashy"] else 0.06):
                    self.die(i, t, rng.choice([1, 1, 2, 0]))
                elif r < 0.09:
                    self.die(i, t, 137, oom=True)
                elif r < 0.13 and c["health"]:
                    self.event(i, t, "health_status: unhealthy")
                    self.later.append((t + rng.randrange(20, 150) * S, "healthy", i))
                elif r < 0.15:
                    self.event(i, t, "kill", signal=15)
                    self.event(i, t + S // 2, "die", exit_code=143)
                    self.event(i, t + S // 2 + 1000, "stop")
                    c["state"] = "stopped"
                elif r < 0.17:  # removed and created again under the same name
                    self.event(i, t, "kill", signal=15)
                    self.event(i, t + S // 2, "die", exit_code=143)
                    self.event(i, t + S, "destroy")
                    c["state"] = "gone"
                    how = {k: c[k] for k in ("host", "name", "policy", "health", "crashy")}
                    self.create(t=t + 2 * S, compose=c["compose"], **how)
                else:
                    c["tries"] = 0
            elif c["state"] in ("down", "stopped") and r < 0.12:
                self.event(i, t, "start")
                c["state"] = "up"
        if rng.random() < 0.15:  # an event replayed late, minutes after it happened
            i = rng.randrange(len(self.boxes))
            if self.boxes[i]["state"] == "up":
                self.event(i, self.now - rng.randrange(60, 500) * S, "kill", signal=10)
        if rng.random() < 0.08:  # an engine whose clock is ahead
            i = rng.randrange(len(self.boxes))
            if self.boxes[i]["state"] == "up":
                self.event(i, self.now + rng.randrange(5, 40) * S, "health_status: healthy")
        self.flush()

    def reconnect(self, host: str) -> None:
        """The collector lost the engine for a while and came back (a new coverage row)."""
        with self.store.begin() as conn:
            writes.close_coverage(conn, self.coverage[host], self.now - 40 * S, "disconnected")
            self.coverage[host] = writes.open_coverage(
                conn, host=host, engine_url=f"unix:///{host}", engine_id=host,
                source="collector", start_ns=self.now,
            )  # fmt: skip

    def engine_restart(self, host: str) -> None:
        """The engine stops under its containers (they die live, the stream ends) and comes
        back 20 s later; containers with a restart policy start again."""
        down = self.now - 30 * S
        for i, c in enumerate(self.boxes):
            if c["host"] == host and c["state"] == "up":
                self.event(i, down - 2 * S, "die", exit_code=0)
                c["state"] = "down"
                if c["policy"] in ("always", "unless-stopped"):
                    self.later.append((down + 20 * S + S // 10, "start", i))
        self.flush()
        with self.store.begin() as conn:
            writes.close_coverage(conn, self.coverage[host], down, "disconnected")
            writes.record_gap(
                conn, host=host, engine_url=f"unix:///{host}", start_ns=down,
                end_ns=down + 20 * S, reason="engine_restart", events_replayed=0,
            )  # fmt: skip
            self.coverage[host] = writes.open_coverage(
                conn, host=host, engine_url=f"unix:///{host}", engine_id=host,
                source="collector", start_ns=down + 20 * S,
            )  # fmt: skip

    def maintenance(self, name: str, minutes: float) -> None:
        with self.store.begin() as conn:
            writes.add_maintenance(
                conn,
                {
                    "host": None,
                    "target_kind": "container",
                    "target": name,
                    "start_ns": self.now - 60 * S,
                    "end_ns": self.now + int(minutes * 60 * S),
                    "kind": "maintenance",
                    "reason": "test",
                    "created_by": "test",
                    "created_ns": self.now,
                },
            )


def plain(store: Engine, config: Config, now: int) -> list[Decision]:
    """The decisions of the straight path: the whole lookback read, every incident decided on."""
    window = Window(now - config.lookback_ns, now)
    with db.read_snapshot(store) as conn:
        history = reads.load_history(db.ConnectionReader(conn), window.start_ns, now)
        past = [Notice(*n) for n in outbox.notices(conn, now - 2 * config.lookback_ns)]
    incidents, spells, mutes = inputs_from_history(history, window, config)
    return decide(config, incidents, spells, mutes, past, now)


def same(d: Decision) -> Decision:
    """A decision without the log line the enqueuing evaluation adds."""
    if d.incident is None:
        return d
    return dataclasses.replace(d, incident=dataclasses.replace(d.incident, last_log_line=None))


def check(store: Engine, scope: str, seed: int) -> None:
    config = parse_config(RULES.format(scope=scope))
    world = World(store, seed)
    to = targets(config.targets)
    # The world goes on a while first (a few seconds at a time), then the first evaluation reads
    # every container, and decides what a full read decides.
    for _ in range(-(-len(world.boxes) // 3)):
        world.step(world.rng.uniform(1, 5))
    evaluator = Evaluator(config)
    straight = plain(store, config, world.now)
    got = [same(d) for d in evaluator.evaluate(store, to, world.now)]
    assert got == straight
    assert not evaluator.warming
    kinds = {f"{d.rule.kind} {d.kind}" for d in got}
    analysed = []
    for n in range(STEPS):
        world.step(world.rng.uniform(10, 45))
        if n == 8:
            world.maintenance("c3", 4)
        if n == 14:
            world.reconnect("h1")
        if n == 22:
            world.engine_restart("h2")
        # Decided on the same store first: the long-lived evaluator enqueues what it decides.
        straight = plain(store, config, world.now)
        fresh = Evaluator(config).evaluate(store, [], world.now) if n % 8 == 0 else straight
        got = [same(d) for d in evaluator.evaluate(store, to, world.now)]
        analysed.append(evaluator.analysed)
        assert got == straight, f"step {n}"
        assert got == fresh, f"step {n}"
        kinds |= {f"{d.rule.kind} {d.kind}" for d in got}
    # The world gave the rules something to do; the evaluator never read it all again.
    assert {"crash_loop firing", "job_failed firing", "slo_burn firing"} <= kinds, kinds
    assert {"crash_loop resolved", "slo_burn resolved"} & kinds, kinds
    assert max(analysed) < len(world.boxes) and sum(analysed) / STEPS < len(world.boxes) / 2


def test_incremental_decides_what_a_full_read_decides(store: Engine) -> None:
    check(store, "container", 1)


def test_incremental_decides_what_a_full_read_decides_by_service(sqlite_url: str) -> None:
    store = db.connect(sqlite_url)
    try:
        check(store, "service", 2)
    finally:
        store.dispose()


def test_an_evaluation_reads_only_the_containers_written_since_the_last(store: Engine) -> None:
    config = parse_config(RULES.format(scope="container"))
    world = World(store, 5)
    evaluator = Evaluator(config)
    evaluator.evaluate(store, [], world.now)
    assert evaluator.analysed == len(world.boxes)  # the first read: every container
    world.now += 2 * S
    evaluator.evaluate(store, [], world.now)
    assert evaluator.analysed == 0  # nothing written since
    world.event(6, world.now - S, "kill", signal=1)
    world.flush()
    world.now += 2 * S
    evaluator.evaluate(store, [], world.now)
    assert evaluator.analysed == 1
    assert evaluator.cache.marks[f"h1\0{world.boxes[6]['cid']}"].read_ns == world.now


def test_facts_written_after_their_events_are_read_at_the_next_evaluation(store: Engine) -> None:
    """A job's facts (its restart policy: "no") stored an evaluation after its last events,
    nothing else written: the evaluation after them reads the container again, and decides
    what a full read decides (the job failed)."""
    config = parse_config(RULES.format(scope="container"))
    world = World(store, 7)
    evaluator = Evaluator(config)
    world.now += 2 * S
    evaluator.evaluate(store, [], world.now)
    world.serial += 1
    job = {"host": "h1", "name": "job", "policy": "no", "health": False, "crashy": False}
    world.boxes.append({**job, "compose": None, "cid": f"{world.serial:064x}", "state": "up"})
    i = len(world.boxes) - 1
    t = world.now + S
    world.event(i, t, "create")
    world.event(i, t + S // 10, "start")
    world.event(i, t + S // 2, "die", exit_code=1)
    world.flush()  # the events alone
    world.now += 2 * S
    assert [same(d) for d in evaluator.evaluate(store, [], world.now)] == plain(
        store, config, world.now
    )
    with store.begin() as conn:
        writes.record_facts(conn, world.facts(i, t + S // 5))
    world.now += 2 * S
    straight = plain(store, config, world.now)
    assert [(d.rule.kind, d.key) for d in straight] == [("job_failed", "job")]
    assert [same(d) for d in evaluator.evaluate(store, [], world.now)] == straight
