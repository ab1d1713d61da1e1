"""The live collector against a private real engine: stored events equal an independent
`docker events` recording; kill -9, SIGTERM, replay overflow and engine restart lose nothing
they do not record; only GET endpoints are used."""

from __future__ import annotations

import contextlib
import json
import os
import re
import signal
import subprocess
import sys
import threading
import time
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import docker
import docker.errors
import pytest
from sqlalchemy import Engine, select

from docktally.collector.normalize import without_exec_command
from docktally.collector.runner import Collector
from docktally.store import db, reads, writes
from docktally.store.schema import container_facts, coverage, gaps, log_tails
from docktally.timespec import parse_rfc3339_ns
from tests.private_engine import IMAGE, EventRecorder, PrivateEngine
from tests.readonly_proxy import ReadonlyProxy

pytestmark = pytest.mark.engine

REPO = Path(__file__).parent.parent
Key = tuple[str, int, str, int | None]


# --- helpers ------------------------------------------------------------------------------------
def wait_until(pred: Callable[[], bool], timeout_s: float = 30.0, what: str = "condition") -> None:
    deadline = time.monotonic() + timeout_s
    while time.monotonic() < deadline:
        if pred():
            return
        time.sleep(0.1)
    raise AssertionError(f"timed out waiting for {what}")


def recorded_keys(rec: EventRecorder) -> list[Key]:
    out = []
    for line in rec.lines():
        ev = json.loads(line)
        code = ev["Actor"]["Attributes"].get("exitCode")
        # The collector stores an exec event without its command line by default.
        action, _ = without_exec_command(ev["Action"], line)
        out.append((ev["Actor"]["ID"], ev["timeNano"], action, int(code) if code else None))
    return out


def stored_keys(store: Engine, inferred: bool = False) -> list[Key]:
    ev = reads.events_view()
    with store.connect() as conn:
        rows = conn.execute(
            select(ev.c.container_id, ev.c.time_ns, ev.c.action, ev.c.exit_code)
            .where(ev.c.inferred.is_(inferred))
            .order_by(ev.c.time_ns)
        ).fetchall()
    return [(r[0], int(r[1]), r[2], r[3]) for r in rows]


def inferred_rows(store: Engine) -> list[dict[str, Any]]:
    ev = reads.events_view()
    with store.connect() as conn:
        rows = conn.execute(select(ev).where(ev.c.inferred.is_(True))).fetchall()
    return [dict(r._mapping) for r in rows]


def table(store: Engine, t: Any) -> list[dict[str, Any]]:
    with store.connect() as conn:
        return [dict(r._mapping) for r in conn.execute(select(t)).fetchall()]


@contextlib.contextmanager
def collector_thread(store: Engine, url: str, **kwargs: Any) -> Iterator[Collector]:
    lines: list[str] = []
    col = Collector(store=store, engine_url=url, log=lines.append, **kwargs)
    stop = threading.Event()
    t = threading.Thread(target=col.run, args=(stop,), daemon=True)
    t.start()
    wait_until(lambda: col.sessions >= 1, 20, "the collector to subscribe")
    try:
        yield col
    finally:
        stop.set()
        t.join(10)
        assert not t.is_alive(), "the collector did not stop"


def start_cli(db_url: str, url: str, log: Path) -> subprocess.Popen[bytes]:
    return subprocess.Popen(
        [sys.executable, "-m", "docktally", "collect", "--db", db_url, "--engine", url],
        stderr=open(log, "ab"),
        cwd=REPO,
    )


def wait_subscribed(store: Engine, n_rows: int = 1) -> None:
    def ok() -> bool:
        with store.connect() as conn:
            return len(conn.execute(select(coverage.c.id)).fetchall()) >= n_rows

    wait_until(ok, 30, "the collector's coverage row")
    time.sleep(0.3)


def state_ns(ins: dict[str, Any], field: str) -> int:
    value = parse_rfc3339_ns(ins["State"][field])
    assert value is not None
    return value


def crash_loop(eng: PrivateEngine, retries: int = 4, name: str | None = None) -> Any:
    return eng.run(
        "sh",
        "-c",
        "echo crashing; exit 3",
        name=name,
        restart_policy={"Name": "on-failure", "MaximumRetryCount": retries},
    )


def wait_loop_done(eng: PrivateEngine, cid: str, retries: int) -> None:
    def done() -> bool:
        ins = eng.client.api.inspect_container(cid)
        st = ins["State"]
        return bool(ins["RestartCount"] == retries and not st["Running"] and not st["Restarting"])

    wait_until(done, 30, "the crash loop to give up")


def run_oom(eng: PrivateEngine, name: str) -> Any:
    """A container that grows its memory past its 8 MB limit: the kernel OOM-kills it."""
    return eng.run("sh", "-c", "x=a; while true; do x=$x$x; done", name=name, mem_limit="8m")


def oom_flagged(api: Any, container_id: str) -> bool:
    """The engine sets OOMKilled from containerd's OOM event, which can come after the exit."""
    try:
        wait_until(lambda: api.inspect_container(container_id)["State"]["OOMKilled"], 10, "OOM")
    except AssertionError:
        return False
    return True


# --- stored == recorded -------------------------------------------------------------------------
def test_crash_loop_oom_stop_health_rm_equal_docker_events(
    clean_engine: PrivateEngine, db_url: str, tmp_path: Path
) -> None:
    eng = clean_engine
    api = eng.client.api
    store = db.connect(db_url)
    with EventRecorder(eng, tmp_path / "events.jsonl") as rec:
        with collector_thread(store, eng.url) as col:
            loop = crash_loop(eng, 4, name="loop")
            oom = run_oom(eng, "oom")
            sleeper = eng.run("sleep", "3600", name="sleeper")
            health = eng.run(
                "sh",
                "-c",
                "touch /tmp/ok; sleep 3600",
                name="health",
                healthcheck={
                    "test": ["CMD-SHELL", "test -f /tmp/ok"],
                    "interval": 500_000_000,
                    "timeout": 2_000_000_000,
                    "retries": 1,
                },
            )
            rm = eng.run("sh", "-c", "echo bye; exit 5", name="rm", auto_remove=True)

            def health_is(status: str) -> Callable[[], bool]:
                return lambda: (
                    api.inspect_container(health.id)["State"]["Health"]["Status"] == (status)
                )

            wait_until(health_is("healthy"), 30, "healthy")
            api.exec_start(api.exec_create(health.id, ["rm", "/tmp/ok"]))
            wait_until(health_is("unhealthy"), 30, "unhealthy")
            api.exec_start(api.exec_create(health.id, ["touch", "/tmp/ok"]))
            wait_until(health_is("healthy"), 30, "healthy again")
            sleeper.stop(timeout=1)
            for attempt in range(1, 4):
                assert oom.wait(timeout=60)["StatusCode"] == 137
                if oom_flagged(api, oom.id):
                    break
                # The engine missed containerd's OOM event (once in six full runs here): then
                # neither `docker events` nor docktally has an `oom` to compare; kill another.
                oom = run_oom(eng, f"oom-{attempt}")
            else:
                raise AssertionError("the engine flagged none of 3 OOM kills")
            wait_loop_done(eng, loop.id, 4)
            with contextlib.suppress(Exception):
                rm.wait(timeout=10)
            health.remove(force=True)
            time.sleep(0.3)
            expected_last = None

            def caught_up() -> bool:
                nonlocal expected_last
                return set(recorded_keys(rec)) <= set(stored_keys(store))

            wait_until(caught_up, 15, "the collector to store every recorded event")
            assert col.events_committed > 0
        recorded = recorded_keys(rec)
    stored = stored_keys(store)
    assert len(stored) == len(set(stored))
    assert sorted(stored) == sorted(recorded)
    actions = {a for _, _, a, _ in stored}
    assert {"oom", "kill", "stop", "destroy", "health_status: unhealthy"} <= actions
    assert [k[3] for k in stored if k[0] == loop.id and k[2] == "die"] == [3] * 5
    assert inferred_rows(store) == []
    facts = [f for f in table(store, container_facts) if f["container_id"] == loop.id]
    assert facts and facts[-1]["restart_policy"] == "on-failure"
    assert facts[-1]["restart_max_retries"] == 4
    tails = [t for t in table(store, log_tails) if t["container_id"] == loop.id]
    assert tails and all("crashing" in t["lines"] for t in tails)
    cov = table(store, coverage)
    assert len(cov) == 1 and cov[0]["closed_reason"] == "stopped" and cov[0]["end_ns"]
    store.dispose()


def test_only_get_endpoints_through_a_readonly_proxy(
    clean_engine: PrivateEngine, tmp_path: Path
) -> None:
    eng = clean_engine
    store = db.connect(f"sqlite:///{tmp_path / 'd.db'}")
    with (
        ReadonlyProxy(eng.sock, Path(f"{eng.root}/ro.sock")) as proxy,
        EventRecorder(eng, tmp_path / "events.jsonl") as rec,
    ):
        with collector_thread(store, proxy.url):
            loop = crash_loop(eng, 2)
            wait_loop_done(eng, loop.id, 2)
            wait_until(lambda: set(recorded_keys(rec)) <= set(stored_keys(store)), 15, "all events")
        # The proxy really refuses writes.
        sdk = docker.APIClient(base_url=proxy.url, version="1.41")
        with pytest.raises(docker.errors.APIError) as info:
            sdk.create_container(IMAGE, ["true"])
        assert info.value.status_code == 403
        sdk.close()
    assert sorted(stored_keys(store)) == sorted(recorded_keys(rec))
    allowed = re.compile(
        r"^(/v[0-9.]+)?/(_ping|version|info|events|containers/json"
        r"|containers/[0-9a-f]{64}/(json|logs))(\?.*)?$"
    )
    collector_requests = [r for r in proxy.requests if r != ("POST", "/v1.41/containers/create")]
    assert collector_requests
    assert all(m == "GET" and allowed.match(p) for m, p in collector_requests), collector_requests
    used = {re.sub(r"[0-9a-f]{64}", "ID", p.split("?")[0]) for _, p in collector_requests}
    assert {"/v1.41/events", "/v1.41/containers/ID/json", "/v1.41/containers/ID/logs"} <= used
    store.dispose()


# --- kill -9, SIGTERM ---------------------------------------------------------------------------
def churn(eng: PrivateEngine, stop: threading.Event, errors: list[BaseException]) -> None:
    api = eng.client.api
    try:
        while not stop.is_set():
            c = api.create_container(
                IMAGE,
                ["sh", "-c", "exit 1"],
                host_config=api.create_host_config(network_mode="none"),
            )
            api.start(c["Id"])
            api.wait(c["Id"], timeout=30)
            api.remove_container(c["Id"])
    except BaseException as exc:  # reported by the test
        errors.append(exc)


def start_churn(
    eng: PrivateEngine,
) -> tuple[threading.Event, list[BaseException], threading.Thread]:
    """Containers created, crashed and removed in a loop until the event is set."""
    stop = threading.Event()
    errors: list[BaseException] = []
    t = threading.Thread(target=churn, args=(eng, stop, errors), daemon=True)
    t.start()
    return stop, errors, t


def test_kill_9_then_restart_loses_nothing_and_doubles_nothing(
    clean_engine: PrivateEngine, tmp_path: Path
) -> None:
    eng = clean_engine
    db_url = f"sqlite:///{tmp_path / 'd.db'}"
    store = db.connect(db_url)
    log = tmp_path / "collect.log"
    with EventRecorder(eng, tmp_path / "events.jsonl") as rec:
        proc = start_cli(db_url, eng.url, log)
        wait_subscribed(store)
        stop, errors, t = start_churn(eng)
        # Enough events on both sides of the kill, however slow a loaded machine churns.
        wait_until(lambda: len(rec.lines()) >= 12, 60, "churn before the kill")
        proc.send_signal(signal.SIGKILL)
        proc.wait(5)
        # The churn pauses while the collector is down: the engine keeps only 256 events, and
        # the wait below would let a fast machine churn past them (a true replay_overflow).
        stop.set()
        t.join(30)
        assert not errors, errors
        # Until its heartbeat is stale: a fresher open row could be another live collector's.
        time.sleep(writes.ABANDONED_AFTER_NS / 1e9 + 0.5)
        proc = start_cli(db_url, eng.url, log)
        wait_subscribed(store, 2)
        before = len(rec.lines())
        stop, errors, t = start_churn(eng)
        wait_until(lambda: len(rec.lines()) >= before + 12, 60, "churn after the restart")
        stop.set()
        t.join(30)
        assert not errors, errors
        try:
            # A liveness bound, not a timing claim: generous for a loaded CI machine.
            wait_until(lambda: set(recorded_keys(rec)) <= set(stored_keys(store)), 60, "catch-up")
        except AssertionError:
            missing = sorted(set(recorded_keys(rec)) - set(stored_keys(store)))
            raise AssertionError(
                f"missing {missing[:10]}; log: {log.read_text()[-3000:]}"
            ) from None
        proc.send_signal(signal.SIGTERM)
        assert proc.wait(10) == 0
    stored, recorded = stored_keys(store), recorded_keys(rec)
    assert len(recorded) > 20
    assert sorted(stored) == sorted(recorded), log.read_text()
    assert inferred_rows(store) == []
    assert table(store, gaps) == []
    cov = sorted(table(store, coverage), key=lambda r: r["start_ns"])
    assert [c["closed_reason"] for c in cov] == ["abandoned", "stopped"]
    assert cov[0]["end_ns"] == cov[0]["heartbeat_ns"]
    store.dispose()


def test_sigterm_with_events_in_flight_commits_everything_and_exits_0(
    clean_engine: PrivateEngine, tmp_path: Path
) -> None:
    eng = clean_engine
    db_url = f"sqlite:///{tmp_path / 'd.db'}"
    store = db.connect(db_url)
    log = tmp_path / "collect.log"
    with EventRecorder(eng, tmp_path / "events.jsonl") as rec:
        proc = start_cli(db_url, eng.url, log)
        wait_subscribed(store)
        stop, _errors, t = start_churn(eng)
        wait_until(lambda: len(rec.lines()) >= 10, 30, "churn")
        sent_ns = time.time_ns()
        t0 = time.monotonic()
        proc.send_signal(signal.SIGTERM)
        code = proc.wait(10)
        took_s = time.monotonic() - t0
        stop.set()
        t.join(30)
    print(f"collector exited {code} {took_s:.2f}s after SIGTERM")
    assert code == 0, log.read_text()
    stored = set(stored_keys(store))
    before = {k for k in recorded_keys(rec) if k[1] <= sent_ns}
    assert len(before) > 5
    assert before <= stored
    assert stored <= set(recorded_keys(rec))
    cov = table(store, coverage)
    assert len(cov) == 1 and cov[0]["closed_reason"] == "stopped"
    assert "watching" in log.read_text()
    store.dispose()


# --- overflow and engine restart ----------------------------------------------------------------
def test_more_than_256_events_while_down_records_a_gap_and_reconciles(
    clean_engine: PrivateEngine, tmp_path: Path
) -> None:
    eng = clean_engine
    api = eng.client.api
    store = db.connect(f"sqlite:///{tmp_path / 'd.db'}")
    with collector_thread(store, eng.url):
        pauser = eng.run("sleep", "3600", name="pauser", stop_signal="SIGKILL")
        dies_later = eng.run("sh", "-c", "sleep 1; exit 4", name="dies_later")
        wait_until(lambda: len(stored_keys(store)) >= 4, 10, "the first events")
    # The collector is down: one container dies, three are born and die, and the pause loop
    # pushes all of it out of the engine's 256-event buffer.
    assert dies_later.wait(timeout=30)["StatusCode"] == 4
    born = [eng.run("sh", "-c", "exit 6", name=f"born{i}") for i in range(3)]
    for c in born:
        c.wait(timeout=30)
    done = 0
    for _ in range(600):
        if done >= 280:
            break
        for op in (api.pause, api.unpause):
            # Under load the engine now and then answers "is not paused": not our business.
            with contextlib.suppress(docker.errors.APIError):
                op(pauser.id)
                done += 1
    assert done >= 280
    with collector_thread(store, eng.url):
        wait_until(lambda: len(inferred_rows(store)) >= 4, 15, "inferred rows")
    gap_rows = table(store, gaps)
    assert len(gap_rows) == 1
    assert gap_rows[0]["reason"] == "replay_overflow"
    assert gap_rows[0]["events_replayed"] >= 256
    inferred = {(r["container_id"], r["action"]): r for r in inferred_rows(store)}
    for c, code in [(dies_later, 4)] + [(b, 6) for b in born]:
        ins = api.inspect_container(c.id)
        row = inferred[(c.id, "die")]
        assert row["time_ns"] == state_ns(ins, "FinishedAt")
        assert row["exit_code"] == code
        assert row["source"] == "inspect"
        assert json.loads(row["evidence"])["FinishedAt"] == ins["State"]["FinishedAt"]
    assert not [k for k in inferred if k[0] == pauser.id]
    store.dispose()


class Started:
    def __init__(self, cid: str) -> None:
        self.id = cid


def run_low_level(eng: PrivateEngine, **host_config: Any) -> Started:
    """`sleep 3600` with StopTimeout 1 s, so the daemon's shutdown does not wait 10 s for it."""
    api = eng.client.api
    c = api.create_container(
        IMAGE,
        ["sleep", "3600"],
        stop_timeout=1,
        host_config=api.create_host_config(network_mode="none", **host_config),
    )
    api.start(c["Id"])
    return Started(c["Id"])


@pytest.mark.parametrize("path", ["direct", "proxy_down"])
def test_engine_restart_under_the_collector(
    fresh_engine: PrivateEngine, tmp_path: Path, path: str
) -> None:
    """`direct`: the collector watches the engine go down (this engine delivers the `die`s of a
    short stop timeout). `proxy_down`: the collector's path to the engine is cut while the engine
    restarts, so the `die`s are lost for sure and only inspect can tell when they happened."""
    eng = fresh_engine
    store = db.connect(f"sqlite:///{tmp_path / 'd.db'}")
    proxy_sock = Path(f"{eng.root}/ro.sock")
    proxy = ReadonlyProxy(eng.sock, proxy_sock).start()
    url = proxy.url if path == "proxy_down" else eng.url
    with collector_thread(store, url) as col:
        always = run_low_level(eng, restart_policy={"Name": "always"})
        never = run_low_level(eng)
        wait_until(lambda: len(stored_keys(store)) >= 4, 10, "the starts")
        if path == "proxy_down":
            proxy.stop()
        eng.restart()
        if path == "proxy_down":
            proxy = ReadonlyProxy(eng.sock, proxy_sock).start()
        wait_until(lambda: col.sessions >= 2, 60, "the collector to reconnect")
        wait_until(lambda: bool(table(store, gaps)), 20, "the gap row")
        time.sleep(0.5)
        api = eng.client.api
        ins_always = api.inspect_container(always.id)
        ins_never = api.inspect_container(never.id)
    proxy.stop()
    assert ins_always["State"]["Running"] and not ins_never["State"]["Running"]
    assert [g["reason"] for g in table(store, gaps)] == ["engine_restart"]
    reasons = [c["closed_reason"] for c in sorted(table(store, coverage), key=lambda c: c["id"])]
    assert reasons[0] == "disconnected" and reasons[-1] == "stopped"
    inferred = {(r["container_id"], r["action"]): r for r in inferred_rows(store)}
    real = stored_keys(store)
    for c, ins in ((always, ins_always), (never, ins_never)):
        finished = state_ns(ins, "FinishedAt")
        real_dies = [k for k in real if k[0] == c.id and k[2] == "die"]
        if path == "proxy_down":
            assert real_dies == []
        if (c.id, "die") in inferred:
            die = inferred[(c.id, "die")]
            assert die["time_ns"] == finished
            assert die["cause_hint"] == "engine_restart"
            assert real_dies == []
        else:
            # Delivered before the stream ended: kept as received, not doubled.
            assert [abs(t - finished) < 1_000_000_000 for _, t, _, _ in real_dies] == [True]
    if path == "proxy_down":
        assert inferred[(never.id, "die")]["exit_code"] == 137
    started = state_ns(ins_always, "StartedAt")
    starts_after = [
        t
        for cid, t, a, _ in real + stored_keys(store, inferred=True)
        if cid == always.id and a == "start" and t > state_ns(ins_always, "FinishedAt")
    ]
    # One start after the engine came back: the inferred one at StartedAt exactly, or the new
    # daemon's own event (replayed), a few ms after StartedAt.
    assert len(starts_after) == 1
    if (always.id, "start") in inferred:
        assert inferred[(always.id, "start")]["time_ns"] == started
    else:
        assert 0 <= starts_after[0] - started < 1_000_000_000
    store.dispose()


# --- the command line ---------------------------------------------------------------------------
def test_cli_unreachable_engine_one_line_then_retries_and_exits_0(tmp_path: Path) -> None:
    missing = f"unix://{tmp_path}/nope.sock"
    out = subprocess.run(
        [
            sys.executable,
            "-m",
            "docktally",
            "collect",
            "--db",
            str(tmp_path / "d.db"),
            "--engine",
            missing,
            "--duration",
            "1.5",
        ],
        capture_output=True,
        text=True,
        timeout=60,
        cwd=REPO,
        env={**os.environ},
    )
    assert out.returncode == 0, out.stderr
    lines = out.stderr.strip().splitlines()
    assert any(missing in ln and "cannot reach" in ln for ln in lines), lines
    assert not any("Traceback" in ln for ln in lines)


def test_cli_bad_db_url_is_one_line_exit_2(tmp_path: Path) -> None:
    out = subprocess.run(
        [sys.executable, "-m", "docktally", "collect", "--db", "mysql://x/y", "--duration", "1"],
        capture_output=True,
        text=True,
        timeout=60,
        cwd=REPO,
    )
    assert out.returncode == 2
    assert len(out.stderr.strip().splitlines()) == 1
