"""Exec command lines (which carry passwords: `mysql -phunter2`) are not stored unless asked for
with --keep-exec-commands: neither in the action nor in the raw event."""

from __future__ import annotations

import json
import threading
from pathlib import Path

import pytest
from sqlalchemy import Engine, text

from docktally.cli import main
from docktally.collector.normalize import decode_event, normalize_event
from docktally.collector.runner import Collector
from docktally.store import db
from docktally.store.writes import unpack_raw
from tests.data import recorded
from tests.private_engine import PrivateEngine
from tests.test_postmortem import wait_until

SECRET = "hunter2"


def exec_lines() -> list[str]:
    """The recorded health check's exec events, with a password in the command."""
    return [
        ln.replace("test -f /tmp/ok", f"mysql -p{SECRET} -e 'select 1'")
        for ln in recorded.lines("health")
        if '"exec_' in ln
    ]


@pytest.mark.parametrize("keep", [False, True])
def test_normalize_drops_the_command_from_action_and_raw(keep: bool) -> None:
    lines = exec_lines()
    assert any("exec_start: /bin/sh" in ln for ln in lines)
    for ln in lines:
        for payload, raw in ((decode_event(ln), ln), (json.loads(ln), None)):
            row = normalize_event(
                payload, host="h", source="import", raw=raw, keep_exec_commands=keep
            )
            assert row is not None
            stored = row["action"] + str(row["raw"])
            assert (SECRET in stored) is (keep and row["kind"] != "exec_die")
            if not keep:
                assert row["action"] == row["kind"]
                assert json.loads(row["raw"])["Action"] == row["kind"]


def test_a_long_command_line_is_not_an_invalid_event() -> None:
    ln = exec_lines()[0].replace("select 1", "x" * 500)
    row = normalize_event(decode_event(ln), host="h", source="import", raw=ln)
    assert row is not None and row["action"] == "exec_create"


def _stored_text(url: str) -> str:
    """Every action and raw event the store holds, as one text."""
    eng = db.connect(url)
    try:
        with eng.connect() as conn:
            actions = [r[0] for r in conn.execute(text("SELECT action FROM events"))]
            bodies = [bytes(r[0]) for r in conn.execute(text("SELECT body FROM raw_chunks"))]
    finally:
        eng.dispose()
    raws = [line for body in bodies for line in unpack_raw(body)]
    return "\n".join(actions + raws)


@pytest.mark.parametrize("keep", [False, True])
def test_import_stores_commands_only_when_asked(
    db_url: str, tmp_path: Path, keep: bool, capsys: pytest.CaptureFixture[str]
) -> None:
    f = tmp_path / "events.jsonl"
    f.write_text("".join(ln + "\n" for ln in recorded.lines("health")).replace("test -f", SECRET))
    argv = ["import", str(f), "--db", db_url, "--host", "h"]
    assert main([*argv, "--keep-exec-commands"] if keep else argv) == 0
    stored = _stored_text(db_url)
    assert (SECRET in stored) is keep
    assert main(["events", "--db", db_url, "--action", "exec_start", "--format", "json"]) == 0
    listed = json.loads(capsys.readouterr().out)
    assert listed and all((r["action"] == "exec_start") is not keep for r in listed)


def test_the_collector_does_not_store_a_real_exec_command(
    engine: PrivateEngine, tmp_path: Path
) -> None:
    engine.remove_all_containers()
    url = f"sqlite:///{tmp_path / 'exec.db'}"
    store: Engine = db.connect(url)
    col = Collector(store=store, engine_url=engine.url, host="h", log=lambda _l: None)
    stop = threading.Event()
    thread = threading.Thread(target=col.run, args=(stop,), daemon=True)
    thread.start()
    try:
        wait_until(lambda: col.sessions >= 1, 20, "the collector to subscribe")
        c = engine.run("sleep", "30", name="db-client")
        c.exec_run(["sh", "-c", f"true mysql -p{SECRET}"])
        with store.connect() as conn:
            wait_until(
                lambda: (
                    conn.execute(
                        text("SELECT count(*) FROM events WHERE kind = 'exec_die'")
                    ).scalar()
                    == 1
                ),
                15,
                "the exec to be stored",
            )
    finally:
        stop.set()
        thread.join(15)
        store.dispose()
        engine.remove_all_containers()
    stored = _stored_text(url)
    assert "exec_start" in stored and "exec_create" in stored
    assert SECRET not in stored
