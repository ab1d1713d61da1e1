"""Engine restarts on the private engine, end to end: dockerd stopped with SIGTERM and started
again under four containers (always, unless-stopped, on-failure, no), and the report, incidents
and postmortem read from what the collector stored. The numbers must equal what inspect says:
down from State.FinishedAt to State.StartedAt (or to the window's end for what stayed down)."""

from __future__ import annotations

import json
import signal
import subprocess
import sys
import threading
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

import pytest
from sqlalchemy import Engine, select

from docktally.cli import main
from docktally.collector.runner import Collector
from docktally.store import db
from docktally.store.schema import coverage, events, gaps
from docktally.timespec import ns_to_iso, parse_rfc3339_ns
from tests.private_engine import PrivateEngine
from tests.readonly_proxy import ReadonlyProxy

pytestmark = pytest.mark.engine

REPO = Path(__file__).parent.parent
NS = 1_000_000_000
# Exits 0 at once on SIGTERM, so the daemon stops fast (`wait` is interrupted by the trap).
POLITE = ["sh", "-c", "trap 'exit 0' TERM; while :; do sleep 1 & wait; done"]
POLICIES = {
    "always": {"Name": "always"},
    "unless": {"Name": "unless-stopped"},
    "onfail": {"Name": "on-failure"},
    "never": {"Name": "no"},
}
COME_BACK = {"always", "unless"}


def wait_until(pred: Callable[[], bool], timeout_s: float, what: str) -> None:
    deadline = time.monotonic() + timeout_s
    while time.monotonic() < deadline:
        if pred():
            return
        time.sleep(0.1)
    raise AssertionError(f"timed out waiting for {what}")


def count(store: Engine, table: Any) -> int:
    with store.connect() as conn:
        return len(conn.execute(select(table.c.id)).fetchall())


def closed(store: Engine) -> int:
    with store.connect() as conn:
        return len(conn.execute(select(coverage.c.id).where(coverage.c.end_ns.is_not(None))).all())


def rows(store: Engine, table: Any) -> list[dict[str, Any]]:
    with store.connect() as conn:
        return [dict(r._mapping) for r in conn.execute(select(table)).fetchall()]


@contextmanager
def collector_thread(store: Engine, url: str) -> Iterator[Collector]:
    col = Collector(store=store, engine_url=url, host="h", log=lambda _line: None)
    stop = threading.Event()
    t = threading.Thread(target=col.run, args=(stop,), daemon=True)
    t.start()
    wait_until(lambda: col.sessions >= 1, 20, "the collector to subscribe")
    try:
        yield col
    finally:
        stop.set()
        t.join(15)
        assert not t.is_alive()


def start_four(eng: PrivateEngine) -> dict[str, str]:
    return {n: eng.run(*POLITE, name=n, restart_policy=p).id for n, p in POLICIES.items()}


def inspect_all(eng: PrivateEngine, ids: dict[str, str]) -> dict[str, dict[str, Any]]:
    return {n: eng.client.api.inspect_container(cid) for n, cid in ids.items()}


def at(ins: dict[str, Any], field: str) -> int:
    value = parse_rfc3339_ns(ins["State"][field])
    assert value is not None
    return value


def wait_back(eng: PrivateEngine, ids: dict[str, str]) -> None:
    def running() -> bool:
        ins = inspect_all(eng, ids)
        return all(ins[n]["State"]["Running"] for n in COME_BACK)

    wait_until(running, 60, "the restarted engine to start always/unless-stopped")


def cli_json(args: list[str], capsys: pytest.CaptureFixture[str]) -> Any:
    assert main(args) == 0
    return json.loads(capsys.readouterr().out)


def check_report(
    url: str,
    ins: dict[str, dict[str, Any]],
    since_ns: int,
    until_ns: int,
    capsys: pytest.CaptureFixture[str],
) -> dict[str, dict[str, Any]]:
    """One engine_restart failure per container, down exactly as long as inspect says."""
    window = ["--db", url, "--since", ns_to_iso(since_ns), "--until", ns_to_iso(until_ns)]
    report = cli_json(["report", *window, "--format", "json"], capsys)
    groups = {g["key"]["container"]: g for g in report["groups"]}
    assert set(groups) == set(POLICIES)
    for name, g in sorted(groups.items()):
        died = at(ins[name], "FinishedAt")
        back = at(ins[name], "StartedAt") if name in COME_BACK else until_ns
        assert back > died
        assert g["failures"] == 1, (name, g)
        assert set(g["downtime_by_cause_s"]) == {"engine_restart"}, (name, g)
        assert abs(g["downtime_s"] - (back - died) / NS) < 1.0, (name, g, (back - died) / NS)
        assert g["restarts"] == (1 if name in COME_BACK else 0), (name, g)
    return groups


def check_incident(
    url: str, since_ns: int, until_ns: int, capsys: pytest.CaptureFixture[str]
) -> dict[str, Any]:
    window = ["--db", url, "--since", ns_to_iso(since_ns), "--until", ns_to_iso(until_ns)]
    out = cli_json(["incidents", *window, "--format", "json"], capsys)
    (inc,) = out["incidents"]
    assert inc["scope"] == "engine" and inc["key"] == "engine restart"
    assert sorted(inc["containers"]) == sorted(POLICIES)
    assert inc["causes"] == {"engine_restart": 4}
    eng = inc["engine_restart"]
    assert eng["came_back"] == ["always", "unless"]
    assert eng["stayed_down"] == ["never", "onfail"]
    assert eng["started_by_hand"] == []
    assert inc["open"]  # two containers are still down
    assert 0 < eng["down_s"] < 60
    return dict(inc)


# --- delivered live: `docktally collect` watches the engine go down ------------------------------
def test_engine_restart_under_docktally_collect(
    fresh_engine: PrivateEngine,
    tmp_path: Path,
    capsys: pytest.CaptureFixture[str],
    artifacts_dir: Path,
) -> None:
    eng = fresh_engine
    url = f"sqlite:///{tmp_path / 'd.db'}"
    store = db.connect(url)
    log = tmp_path / "collect.log"
    since_ns = time.time_ns()
    proc = subprocess.Popen(
        [sys.executable, "-m", "docktally", "collect", "--db", url, "--engine", eng.url],
        stderr=open(log, "ab"),  # noqa: SIM115 - closed with the process
        cwd=REPO,
    )
    try:
        wait_until(lambda: count(store, coverage) >= 1, 30, "the collector's coverage")
        ids = start_four(eng)
        wait_until(lambda: count(store, events) >= 8, 20, "the creates and starts")
        time.sleep(1.0)
        eng.restart()
        wait_back(eng, ids)
        wait_until(lambda: count(store, gaps) >= 1, 60, "the collector to find the restart")
        time.sleep(1.5)
        ins = inspect_all(eng, ids)
        until_ns = time.time_ns()  # the collector still watches: no unknown time at the end
    finally:
        proc.send_signal(signal.SIGTERM)
        proc.wait(20)
    text = log.read_text()
    (gap,) = rows(store, gaps)
    assert gap["reason"] == "engine_restart", text
    lost = [c for c in rows(store, coverage) if c["closed_reason"] == "disconnected"]
    assert [c["end_ns"] for c in lost] == [gap["start_ns"]]  # the engine stopped answering then
    # The deaths arrived live, as for a `docker stop`, before the stream ended.
    with store.connect() as conn:
        live = conn.execute(
            select(events.c.kind, events.c.inferred).where(events.c.kind.in_(["die", "stop"]))
        ).fetchall()
    assert sorted(k for k, inf in live if not inf) == ["die"] * 4 + ["stop"] * 4, text

    groups = check_report(url, ins, since_ns, until_ns, capsys)
    for g in groups.values():
        assert g["unknown_s"] == 0  # the engine's downtime is known: everything was down
    inc = check_incident(url, since_ns, until_ns, capsys)
    assert inc["engine_restart"]["watched"]
    assert inc["engine_restart"]["stream_end_ns"] == gap["start_ns"]
    assert inc["engine_restart"]["back_ns"] == gap["end_ns"]

    window = ["--db", url, "--since", ns_to_iso(since_ns), "--until", ns_to_iso(until_ns)]
    assert main(["postmortem", inc["id"], *window]) == 0
    md = capsys.readouterr().out
    (artifacts_dir / "engine_restart_postmortem.md").write_text(md)
    assert md.startswith(f"# Postmortem: engine restart on {inc['host']}")
    assert "The Docker engine on" in md and "restarted and took 4 running container(s)" in md
    assert "| Came back by themselves (restart policy) | always, unless |" in md
    assert "| Stayed down | never, onfail |" in md
    assert "engine going down" in md and "engine stopped" in md and "engine back" in md
    assert md.count("still down at the end of the window") == 2
    assert md.count("started again by the engine (restart policy)") == 2
    # Markdown escapes the underscore (reports/safe_text.markdown); it renders as engine_restart.
    assert md.count(r"cause: engine\_restart") == 4
    assert "started by the restarted engine, as its restart policy says" in md
    assert "dockerd" in md.split("## Root cause", 1)[1]
    store.dispose()


# --- inferred: nobody watched the engine go down -------------------------------------------------
@pytest.mark.parametrize("how", ["collector_stopped", "connection_cut", "connection_hung"])
def test_engine_restart_the_collector_did_not_see(
    fresh_engine: PrivateEngine, tmp_path: Path, capsys: pytest.CaptureFixture[str], how: str
) -> None:
    """`collector_stopped`: no collector runs across the restart. `connection_cut`: the
    collector's path to the engine (a proxy) is cut first, so no die reaches it.
    `connection_hung`: the path goes dead without closing, and the collector notices only
    after the engine stopped its containers. Either way inspect's FinishedAt/StartedAt are the
    only record, and the numbers must be the same."""
    eng = fresh_engine
    url = f"sqlite:///{tmp_path / 'd.db'}"
    store = db.connect(url)
    proxy_sock = Path(f"{eng.root}/ro.sock")
    proxy = ReadonlyProxy(eng.sock, proxy_sock).start()
    since_ns = time.time_ns()
    with collector_thread(store, proxy.url):
        ids = start_four(eng)
        wait_until(lambda: count(store, events) >= 8, 20, "the creates and starts")
        time.sleep(0.5)
        if how == "connection_cut":
            proxy.stop()
            eng.restart()
            wait_back(eng, ids)
            proxy = ReadonlyProxy(eng.sock, proxy_sock).start()
            wait_until(lambda: count(store, gaps) >= 1, 60, "the collector to find the restart")
            time.sleep(1.0)
        if how == "connection_hung":
            proxy.hang()
            eng.stop()
            proxy.stop()  # only now does the collector's stream end
            wait_until(lambda: closed(store) >= 1, 20, "the collector to notice")
            eng.start()
            wait_back(eng, ids)
            proxy = ReadonlyProxy(eng.sock, proxy_sock).start()
            wait_until(lambda: count(store, gaps) >= 1, 60, "the collector to find the restart")
            time.sleep(1.0)
    if how == "collector_stopped":
        eng.restart()
        wait_back(eng, ids)
        with collector_thread(store, proxy.url):
            wait_until(lambda: count(store, gaps) >= 1, 60, "the collector to find the restart")
            time.sleep(1.0)
    proxy.stop()
    ins = inspect_all(eng, ids)
    until_ns = time.time_ns()
    (gap,) = rows(store, gaps)
    assert gap["reason"] == "engine_restart"
    with store.connect() as conn:
        dies = conn.execute(
            select(events.c.inferred, events.c.cause_hint).where(events.c.kind == "die")
        ).fetchall()
    assert sorted(dies) == [(True, "engine_restart")] * 4
    if how == "connection_hung":
        # Watched until the first death the stream did not deliver, not until it was noticed.
        first_death = min(at(i, "FinishedAt") for i in ins.values())
        assert gap["start_ns"] == first_death
        lost = [c["end_ns"] for c in rows(store, coverage) if c["closed_reason"] == "disconnected"]
        assert lost == [first_death]
    groups = check_report(url, ins, since_ns, until_ns, capsys)
    if how == "connection_hung":
        # Known but for the end, after the collector stopped, and the moments between the
        # first death and each other one. (After a cut noticed at once, the time between the
        # cut and the deaths is unknown too: however long the engine took to stop.)
        watched_until = max(int(c["end_ns"]) for c in rows(store, coverage))
        for g in groups.values():
            assert g["unknown_s"] < (until_ns - watched_until) / NS + 0.5, g
    inc = check_incident(url, since_ns, until_ns, capsys)
    # Nobody saw the engine go down: a cut connection ends the stream with no deaths.
    assert not inc["engine_restart"]["watched"]
    store.dispose()


# --- a person's stop next to a network blip of the collector -------------------------------------
def test_docker_stop_before_a_collector_reconnect_stays_planned(
    fresh_engine: PrivateEngine, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    """The engine keeps running; only the collector's connection drops seconds after a real
    `docker stop`. The replay reaches back to the checkpoint: no restart, a planned stop."""
    eng = fresh_engine
    url = f"sqlite:///{tmp_path / 'd.db'}"
    store = db.connect(url)
    proxy_sock = Path(f"{eng.root}/ro.sock")
    proxy = ReadonlyProxy(eng.sock, proxy_sock).start()
    since_ns = time.time_ns()
    with collector_thread(store, proxy.url) as col:
        c = eng.run(*POLITE, name="web", restart_policy={"Name": "always"})
        wait_until(lambda: count(store, events) >= 2, 20, "the create and start")
        c.stop(timeout=5)
        wait_until(lambda: count(store, events) >= 5, 20, "kill, die and stop")
        time.sleep(1.0)
        proxy.stop()  # the stream ends and nothing answers: it looks like an engine going down
        time.sleep(2.0)
        proxy = ReadonlyProxy(eng.sock, proxy_sock).start()
        wait_until(lambda: col.sessions >= 2, 60, "the collector to reconnect")
        time.sleep(0.5)
        until_ns = time.time_ns()
    proxy.stop()
    assert rows(store, gaps) == []
    reasons = sorted(str(r["closed_reason"]) for r in rows(store, coverage))
    assert reasons == ["disconnected", "stopped"]
    window = ["--db", url, "--since", ns_to_iso(since_ns), "--until", ns_to_iso(until_ns)]
    report = cli_json(["report", *window, "--format", "json"], capsys)
    (g,) = report["groups"]
    assert g["failures"] == 0 and g["downtime_s"] == 0
    assert g["planned_s"] > 3.0 and g["unknown_s"] == 0
    assert cli_json(["incidents", *window, "--format", "json"], capsys)["incidents"] == []
    store.dispose()
