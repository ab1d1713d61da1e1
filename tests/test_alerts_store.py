"""Alerts on a real store (SQLite, and PostgreSQL when configured): recorded engine events in,
outbox rows out, each decided once; delivery retried until a real local receiver takes it."""

from __future__ import annotations

import time
from collections.abc import Iterator
from dataclasses import replace
from pathlib import Path
from typing import Any

import pytest
from sqlalchemy import Engine

from docktally.alerts.delivery import Deliverer, backoff_ns, targets
from docktally.alerts.evaluate import evaluate_once
from docktally.alerts.rules import Delivery, default_config
from docktally.cli import main
from docktally.store import alerts as outbox
from docktally.store import db, reads, writes
from tests.alert_receiver import Receiver
from tests.data import recorded

S = 1_000_000_000


@pytest.fixture
def loaded(db_url: str) -> Iterator[Engine]:
    for name in ("crash_loop", "oom", "health"):
        assert main(["import", "--db", db_url, "--host", "lab", str(recorded.path(name))]) == 0
    eng = db.connect(db_url)
    yield eng
    eng.dispose()


def last_event_ns(store: Engine) -> int:
    with store.connect() as conn:
        return int(reads.list_events(conn)["time_ns"].max())


def test_recorded_crash_loop_and_oom_fire_once_each(loaded: Engine) -> None:
    receiver = Receiver()
    config = default_config([receiver.url])
    to = targets(config.targets)
    now = last_event_ns(loaded) + S
    decisions = evaluate_once(loaded, config, to, now)
    assert sorted((d.rule.kind, d.key) for d in decisions) == [
        ("crash_loop", "crashy"),
        ("oom", "hungry"),
    ]
    with loaded.connect() as conn:
        rows = outbox.list_outbox(db.ConnectionReader(conn))
    assert len(rows) == 2 and {r["status"] for r in rows} == {"pending"}
    loop = next(r for r in rows if r["rule"] == "crash loop")
    assert loop["title"] == "[CRITICAL] crash loop: crashy on lab"
    # Decided once: the next evaluations, and a new process's, add nothing.
    assert evaluate_once(loaded, config, to, now + S) == []
    assert evaluate_once(loaded, config, to, now + 2 * S) == []
    with loaded.connect() as conn:
        assert len(outbox.list_outbox(db.ConnectionReader(conn))) == 2


def test_receiver_down_then_back_delivers_once(loaded: Engine) -> None:
    receiver = Receiver()  # not listening yet
    clock = [last_event_ns(loaded) + S]
    config = replace(
        default_config([receiver.url]),
        delivery=Delivery(retry_min_ns=10 * S, retry_max_ns=60 * S, give_up_after_ns=3600 * S),
    )
    to = targets(config.targets)
    log: list[str] = []
    deliverer = Deliverer(loaded, to, config.delivery, clock_ns=lambda: clock[0], log=log.append)
    evaluate_once(loaded, config, to, clock[0])
    assert deliverer.send_due() == 0
    with loaded.connect() as conn:
        rows = outbox.list_outbox(db.ConnectionReader(conn))
    # The target is tried once: the message behind the one that failed waits, untried.
    assert sorted((r["status"], r["attempts"]) for r in rows) == [("pending", 0), ("pending", 1)]
    assert [r["last_error"] is None for r in rows].count(True) == 1
    assert any("Connection error" in (r["last_error"] or "") for r in rows)
    assert any("(retry 2 later); 1 more message(s) wait for it" in line for line in log)
    # Not due again before the back-off.
    receiver.start()
    try:
        clock[0] += 5 * S
        assert deliverer.send_due() == 0
        assert receiver.messages == []
        clock[0] += 6 * S
        assert deliverer.send_due() == 2
        assert deliverer.send_due() == 0
        assert sorted(receiver.titles()) == [
            "[CRITICAL] OOM kill: hungry on lab",
            "[CRITICAL] crash loop: crashy on lab",
        ]
        with loaded.connect() as conn:
            assert {r["status"] for r in outbox.list_outbox(db.ConnectionReader(conn))} == {"sent"}
    finally:
        receiver.stop()


def test_gives_up_after_give_up_after(loaded: Engine) -> None:
    receiver = Receiver()
    clock = [last_event_ns(loaded) + S]
    config = replace(
        default_config([receiver.url]),
        delivery=Delivery(retry_min_ns=S, retry_max_ns=2 * S, give_up_after_ns=5 * S),
    )
    to = targets(config.targets)
    deliverer = Deliverer(loaded, to, config.delivery, clock_ns=lambda: clock[0], log=print)
    evaluate_once(loaded, config, to, clock[0])
    for _ in range(8):
        deliverer.send_due()
        clock[0] += 2 * S
    with loaded.connect() as conn:
        rows = outbox.list_outbox(db.ConnectionReader(conn))
    assert {r["status"] for r in rows} == {"failed"}
    assert main(["alerts", "list", "--db", str(loaded.url.render_as_string(False))]) == 0


def test_a_target_parsed_once_still_gets_a_new_plugin_per_message(
    loaded: Engine, monkeypatch: pytest.MonkeyPatch
) -> None:
    """The deliverer parses each target's URL once, but a kept Apprise plugin would throttle
    its requests (many plugins wait 5.5 s between two): the messages go out one after the
    other, as with a new Apprise per message."""
    from apprise.plugins.custom_json import NotifyJSON

    monkeypatch.setattr(NotifyJSON, "request_rate_per_sec", 3.0)
    receiver = Receiver().start()
    try:
        clock = [last_event_ns(loaded) + S]
        config = default_config([receiver.url])
        to = targets(config.targets)
        deliverer = Deliverer(loaded, to, config.delivery, clock_ns=lambda: clock[0], log=print)
        evaluate_once(loaded, config, to, clock[0])
        began = time.monotonic()
        assert deliverer.send_due() == 2
        assert time.monotonic() - began < 2.5
        assert sorted(receiver.titles()) == [
            "[CRITICAL] OOM kill: hungry on lab",
            "[CRITICAL] crash loop: crashy on lab",
        ]
    finally:
        receiver.stop()


def test_backoff_doubles_up_to_the_cap() -> None:
    d = Delivery(retry_min_ns=5 * S, retry_max_ns=60 * S)
    assert [backoff_ns(n, d) // S for n in range(1, 7)] == [5, 10, 20, 40, 60, 60]


def test_alerts_test_and_list(
    db_url: str, capsys: pytest.CaptureFixture[str], tmp_path: Path
) -> None:
    receiver = Receiver().start()
    down = Receiver()
    try:
        code = main(
            ["alerts", "test", "--db", db_url, "--notify", receiver.url, "--notify", down.url]
        )
    finally:
        receiver.stop()
    assert code == 1  # one target did not take it
    assert receiver.titles() == ["docktally test message"]
    out = capsys.readouterr().out
    assert f"127.0.0.1:{receiver.port}/: sent" in out and "FAILED" in out
    assert main(["alerts", "list", "--db", db_url]) == 0
    table = capsys.readouterr().out
    assert "sent" in table and "failed" in table and "Connection error" in table
    assert main(["alerts", "list", "--db", db_url, "--format", "json", "--status", "sent"]) == 0
    assert '"status": "sent"' in capsys.readouterr().out


def test_collect_with_a_bad_target_or_rule_is_one_line_exit_2(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    db_path = str(tmp_path / "x.db")
    assert main(["collect", "--db", db_path, "--notify", "bogus://x"]) == 2
    assert capsys.readouterr().err == (
        "docktally: error: --notify: 'bogus':// is not a notification URL Apprise knows\n"
    )
    rules = tmp_path / "alerts.toml"
    rules.write_text('notify = ["json://127.0.0.1:1"]\n[[rules]]\nkind = "oom"\nwithin = "5m"\n')
    assert main(["up", "--db", db_path, "--alerts", str(rules)]) == 2
    assert capsys.readouterr().err == (
        "docktally: error: alerts.toml: rules[0].within: not a setting of kind 'oom'\n"
    )
    assert not (tmp_path / "x.db").exists()  # nothing opened, nothing started


def test_an_evaluation_reads_one_snapshot_while_the_collector_writes(loaded: Engine) -> None:
    # The collector commits a new container (its row, an event, then its facts) between two
    # reads of one evaluation. Read without a snapshot, the facts read later held a container
    # the containers read before did not: "TypeError: Cannot setitem on a Categorical with a
    # new category" (seen beside a busy collector). In one snapshot the evaluation sees none of
    # it, and the next one reads it.
    from sqlalchemy import event

    from docktally.alerts.evaluate import Evaluator

    now = last_event_ns(loaded) + S
    newcomer = "f" * 64
    other = db.connect(str(loaded.url.render_as_string(hide_password=False)))
    done: list[bool] = []

    def write_between(conn: Any, cursor: Any, statement: str, *rest: Any) -> None:
        if "FROM containers" not in statement or done:
            return
        done.append(True)
        with other.begin() as w:
            writes.insert_events(w, [{
                "host": "lab", "container_id": newcomer, "time_ns": now - 5 * S,
                "action": "die", "kind": "die", "name": "newcomer", "inferred": False,
                "source": "collector", "exit_code": 1, "signal": None, "health": None,
            }])  # fmt: skip
            writes.record_facts(w, {
                "host": "lab", "container_id": newcomer, "observed_ns": now - 4 * S,
                "name": "newcomer", "image": "busybox", "restart_policy": "no",
                "has_healthcheck": False,
            })  # fmt: skip

    event.listen(loaded, "after_cursor_execute", write_between)
    try:
        config = default_config(["json://127.0.0.1:9/"])
        evaluator = Evaluator(config)
        first = evaluator.evaluate(loaded, [], now)
    finally:
        event.remove(loaded, "after_cursor_execute", write_between)
        other.dispose()
    assert done and f"lab\0{newcomer}" not in evaluator.cache.marks
    assert sorted(d.key for d in first) == ["crashy", "hungry"]
    second = evaluator.evaluate(loaded, [], now + S)
    assert evaluator.analysed == 1 and [d.key for d in second if d.key == "newcomer"]
