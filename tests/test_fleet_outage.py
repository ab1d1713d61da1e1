"""A fleet through a database outage (#12): two private engines, a `docktally collect` each,
one private PostgreSQL that is stopped for 30 s, and both collectors stopped (SIGTERM) and
started again while it is down, so they start without the database. Crash loops run on both
engines the whole time. Each engine's own `docker events` is the reference: every event is
stored once under its host, the per-host report and incidents match its crash loops, and the
coverage has no hole (the engines were watched throughout, so no time is unknown)."""

from __future__ import annotations

import itertools
import json
import os
import re
import signal
import stat
import subprocess
import sys
import threading
import time
from collections import Counter
from pathlib import Path
from typing import Any

import pytest
from sqlalchemy import Engine, func, select
from streamlit.testing.v1 import AppTest

from docktally.cli import main
from docktally.dashboard import data
from docktally.store import db, reads
from docktally.store.schema import coverage, gaps
from docktally.timespec import ns_to_iso
from tests.private_engine import EventRecorder, PrivateEngine
from tests.private_postgres import PrivatePostgres
from tests.test_dashboard import APP, TIMEOUT_S, frame_with, frames, texts

pytestmark = pytest.mark.engine

REPO = Path(__file__).resolve().parent.parent
DOCKTALLY = [sys.executable, "-m", "docktally"]
OUTAGE_S = 30.0
RETRIES = 2  # each crash loop: 3 failing runs, 2 restarts by the engine
Key = tuple[str, int, str, int | None]


def wait_until(pred: Any, timeout_s: float, what: str) -> None:
    deadline = time.monotonic() + timeout_s
    while time.monotonic() < deadline:
        if pred():
            return
        time.sleep(0.2)
    raise AssertionError(f"timed out waiting for {what}")


class CrashLoops(threading.Thread):
    """A new crash loop (`exit 3` under on-failure:2) on the engine every 1.5 s until stopped."""

    def __init__(self, eng: PrivateEngine) -> None:
        super().__init__(daemon=True)
        self.eng = eng
        self.done = threading.Event()
        self.errors: list[BaseException] = []

    def run(self) -> None:
        policy = {"Name": "on-failure", "MaximumRetryCount": RETRIES}
        try:
            while not self.done.wait(1.5):
                self.eng.run("sh", "-c", "exit 3", restart_policy=policy)
        except BaseException as exc:  # reported by the test
            self.errors.append(exc)

    def finish(self) -> None:
        self.done.set()
        self.join(30)
        assert not self.errors, self.errors

        def given_up() -> bool:
            for c in self.eng.client.api.containers(all=True):
                ins = self.eng.client.api.inspect_container(c["Id"])
                if ins["State"]["Running"] or ins["State"]["Restarting"]:
                    return False
            return True

        wait_until(given_up, 60, "the crash loops to give up")


def collect(env: dict[str, str], log: Path, eng: PrivateEngine, *args: str) -> Any:
    return subprocess.Popen(
        [*DOCKTALLY, "collect", "--engine", eng.url, "--no-logs", *args],
        stderr=open(log, "ab"),  # the child holds it
        cwd=REPO,
        env=env,
    )


def sigterm(proc: Any) -> None:
    proc.send_signal(signal.SIGTERM)
    assert proc.wait(30) == 0


def recorded(rec: EventRecorder) -> list[Key]:
    out = []
    for line in rec.lines():
        ev = json.loads(line)
        code = ev["Actor"]["Attributes"].get("exitCode")
        out.append((ev["Actor"]["ID"], ev["timeNano"], ev["Action"], int(code) if code else None))
    return sorted(out)


def stored(store: Engine, host: str) -> list[Key]:
    ev = reads.events_view()
    with store.connect() as conn:
        rows = conn.execute(
            select(ev.c.container_id, ev.c.time_ns, ev.c.action, ev.c.exit_code)
            .where(ev.c.host == host)
            .where(ev.c.inferred.is_(False))
        ).fetchall()
    return sorted((r[0], int(r[1]), r[2], r[3]) for r in rows)


def cli_json(capsys: pytest.CaptureFixture[str], url: str, *args: str) -> Any:
    capsys.readouterr()
    assert main([*args, "--db", url, "--since", "1h", "--format", "json"]) == 0
    return json.loads(capsys.readouterr().out)


class Seen:
    """One engine's crash loops as its own `docker events` recorded them, per container."""

    def __init__(self, rec: EventRecorder) -> None:
        events = [json.loads(line) for line in rec.lines()]
        self.dies = Counter(e["Actor"]["ID"] for e in events if e["Action"] == "die")
        self.starts = Counter(e["Actor"]["ID"] for e in events if e["Action"] == "start")
        self.names = {e["Actor"]["ID"]: e["Actor"]["Attributes"]["name"] for e in events}

    def restarts(self) -> int:
        return sum(n - 1 for n in self.starts.values())


def check_dashboard(url: str, until: str, seen: dict[str, Seen]) -> None:
    """The dashboard on the same database and range as the CLI checks, as a person goes through
    it in one session: the Fleet page has both hosts with each engine's failures and restarts
    (and no engine restart); then, with each host picked in the sidebar, the Overview and
    Incidents pages show its crash loops and nothing of the other host."""
    at = AppTest.from_file(str(APP), default_timeout=TIMEOUT_S)
    at.query_params.update({"range": "1h", "until": until})
    visit(at, "fleet")
    metrics = {m.label: m.value for m in at.metric}
    assert metrics["Hosts"] == str(len(seen)), metrics
    assert metrics["Failures"] == str(sum(s.dies.total() for s in seen.values())), metrics
    assert metrics["Engine restarts"] == "0", metrics
    assert metrics["Containers"] == str(sum(len(s.starts) for s in seen.values())), metrics
    hosts = frame_with(at, "engine_restarts").set_index("host")
    assert sorted(hosts.index) == sorted(seen)
    for host, s in seen.items():
        row = hosts.loc[host]
        assert row["failures"] == s.dies.total(), (host, row)
        assert row["restarts"] == s.restarts(), (host, row)
        assert row["containers"] == len(s.starts) and row["unknown_s"] == 0, (host, row)
        assert row["engine_restarts"] == 0 and row["engine_restart_failures"] == 0, (host, row)
    assert "s3cret" not in texts(at)

    for host, s in seen.items():
        others = [(h, o) for h, o in seen.items() if h != host]
        at.selectbox(key="host").set_value(host)
        visit(at, "overview")
        metrics = {m.label: m.value for m in at.metric}
        assert metrics["Failures"] == str(s.dies.total()), (host, metrics)
        groups = frame_with(at, "failures").set_index("container_id")
        assert set(groups["host"]) == {host}
        assert sorted(groups.index) == sorted(s.starts), host
        assert groups["failures"].to_dict() == dict(s.dies), host
        assert groups["restarts"].to_dict() == {c: n - 1 for c, n in s.starts.items()}, host
        nothing_of(at, others, s)

        visit(at, "incidents")
        inc = frame_with(at, "crash_loop")
        # One crash-loop incident per loop, each of its RETRIES + 1 failures with exit 3.
        assert set(inc["host"]) == {host}
        assert sorted(inc["key"]) == sorted(s.names[c] for c in s.starts), host
        assert list(inc["failures"]) == [RETRIES + 1] * len(s.starts), host
        assert all(inc["crash_loop"]) and set(inc["exit_codes"]) == {f"3: {RETRIES + 1}"}
        assert f" on {host}" in texts(at)  # the postmortem shown is this host's
        nothing_of(at, others, s)


def visit(at: AppTest, page: str) -> None:
    at.switch_page(f"views/{page}.py").run()
    assert not at.exception, [e.value for e in at.exception]
    assert at.title[0].value == page.capitalize()


def nothing_of(at: AppTest, others: list[tuple[str, Seen]], mine: Seen) -> None:
    """No table or text of the page names another host or one of its containers (by id, and
    by name unless a container here has the same random name)."""
    shown = "\n".join([texts(at), *(df.astype(str).to_string() for df in frames(at))])
    words = set(re.findall(r"[\w.-]+", shown))
    for host, s in others:
        assert host not in words, host
        assert not [c for c in s.names if c[:12] in shown], host
        assert not (set(s.names.values()) - set(mine.names.values())) & words, host


def test_two_engines_through_a_30s_outage_with_collectors_restarted_meanwhile(
    engines: list[PrivateEngine],
    private_pg: PrivatePostgres,
    tmp_path: Path,
    capsys: pytest.CaptureFixture[str],
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    # A password in the URL (trust authentication ignores it) that no line may show.
    url = private_pg.url.replace("postgres@", "postgres:s3cret@")
    # The URL through the environment, as a fleet's unit gives it; the spools in the test's own
    # data directory, where a restarted collector finds its predecessor's.
    env = {**os.environ, "DOCKTALLY_DB": url, "XDG_DATA_HOME": str(tmp_path / "data")}
    store = db.connect(url)
    logs = [tmp_path / f"collect-{i}.log" for i in range(2)]
    # One engine named by the collector, the other with --host.
    extra: list[tuple[str, ...]] = [(), ("--host", "ci-runner")]

    def start_both() -> list[Any]:
        return [collect(env, logs[i], e, *extra[i]) for i, e in enumerate(engines)]

    recorders = [EventRecorder(e, tmp_path / f"events-{i}.jsonl") for i, e in enumerate(engines)]
    for r in recorders:
        r.__enter__()
    procs = start_both()
    loops = [CrashLoops(e) for e in engines]
    try:
        with store.connect() as conn:
            wait_until(
                lambda: len(conn.execute(select(coverage.c.id)).all()) == 2, 60, "both watching"
            )
        for t in loops:
            t.start()
        time.sleep(3)
        store.dispose()
        private_pg.stop()
        down_at = time.monotonic()
        time.sleep(6)  # the running collectors spool
        for p in procs:
            sigterm(p)
        time.sleep(3)  # nobody watches: the next start replays this from the engine
        procs = start_both()
        wait_until(
            lambda: all("is unreachable" in log.read_text() for log in logs), 30, "offline starts"
        )
        time.sleep(max(0.0, OUTAGE_S - (time.monotonic() - down_at)))
        private_pg.start()
        time.sleep(3)
        for t in loops:
            t.finish()
        hosts: dict[str, str] = {}

        def caught_up() -> bool:
            with store.connect() as conn:
                rows = conn.execute(select(coverage.c.engine_url, coverage.c.host)).all()
            hosts.update((str(u), str(h)) for u, h in rows)
            return len(hosts) == 2 and all(
                stored(store, hosts[e.url]) == recorded(r)
                for e, r in zip(engines, recorders, strict=True)
            )

        time.sleep(1)  # the recorders' last lines
        wait_until(caught_up, 60, "every event stored")
    finally:
        for p in procs:
            if p.poll() is None:
                sigterm(p)
        for t in loops:
            t.done.set()
        for r in recorders:
            r.__exit__()
    text = [log.read_text() for log in logs]
    assert not any("s3cret" in t or "Traceback" in t for t in text), text
    spools = sorted((tmp_path / "data" / "docktally" / "spool").glob("*.sqlite"))
    assert [stat.S_IMODE(p.stat().st_mode) for p in spools] == [0o600, 0o600]

    for i, (eng, rec) in enumerate(zip(engines, recorders, strict=True)):
        host = hosts[eng.url]
        # Every event, none twice: those of the first run's last seconds were only in its
        # spool file, those of the seconds between the runs only in the engine's buffer.
        assert stored(store, host) == recorded(rec), text[i]
        # The restarted collector said once that it spools, with the URL masked, and wrote
        # everything when the database came back.
        offline = [ln for ln in text[i].splitlines() if "is unreachable" in ln]
        assert len(offline) == 1 and "postgres:***@" in offline[0], text[i]
        assert "takes writes again" in text[i], text[i]

        # Coverage: one row per session, back to back. The first run was stopped; the second
        # started without the database and handed over to an online session when it returned.
        with store.connect() as conn:
            cov = conn.execute(
                select(coverage).where(coverage.c.host == host).order_by(coverage.c.start_ns)
            ).all()
        assert [c.closed_reason for c in cov] == ["stopped", "database_back", "stopped"], cov
        for before, after in itertools.pairwise(cov):
            assert after.start_ns <= before.end_ns, cov  # no hole: the time is known

    with store.connect() as conn:
        assert conn.execute(select(gaps)).all() == []
    ev = reads.events_view()
    with store.connect() as conn:
        assert conn.execute(select(ev.c.id).where(ev.c.inferred.is_(True))).all() == []

    # The fleet report and the incidents match each engine's own events, up to when the
    # collectors stopped (the exited containers live on unwatched after that).
    with store.connect() as conn:
        ends = select(func.max(coverage.c.end_ns)).group_by(coverage.c.host)
        until = ns_to_iso(min(conn.execute(ends).scalars()))
    report = cli_json(capsys, url, "report", "--by", "host", "--until", until)["groups"]
    by_host = {g["key"]["host"]: g for g in report}
    incidents = cli_json(capsys, url, "incidents", "--until", until)["incidents"]
    assert set(by_host) == set(hosts.values()) and "ci-runner" in by_host
    for eng, rec in zip(engines, recorders, strict=True):
        events = [json.loads(line) for line in rec.lines()]
        dies = [e for e in events if e["Action"] == "die"]
        starts = Counter(e["Actor"]["ID"] for e in events if e["Action"] == "start")
        assert dies and all(e["Actor"]["Attributes"]["exitCode"] == "3" for e in dies)
        g = by_host[hosts[eng.url]]
        assert g["failures"] == len(dies)
        assert g["exit_codes"] == {"3": len(dies)}
        assert g["restarts"] == sum(n - 1 for n in starts.values())
        assert g["unknown_s"] == 0.0
        mine = [i for i in incidents if i["host"] == hosts[eng.url]]
        # One incident per crash loop, each of its RETRIES + 1 failures.
        assert len(mine) == len(starts) and all(i["failures"] == RETRIES + 1 for i in mine)
    print(f"{sum(len(r.lines()) for r in recorders)} events through a {OUTAGE_S:.0f} s outage")

    # The dashboard, on the same database and range, as a person opens it.
    monkeypatch.setenv(data.DB_ENV, url)
    monkeypatch.delenv("DOCKTALLY_COLLECTOR_STATUS", raising=False)
    started, cpu = time.monotonic(), time.process_time()
    check_dashboard(
        url, until, {hosts[e.url]: Seen(r) for e, r in zip(engines, recorders, strict=True)}
    )
    took = time.monotonic() - started, time.process_time() - cpu
    print("dashboard checked in {:.1f} s ({:.1f} s CPU)".format(*took))
