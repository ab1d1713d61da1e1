"""`docktally events`: filters, formats, the JSON contract, the empty store."""

from __future__ import annotations

import csv
import io
import json
from pathlib import Path
from typing import Any

import pytest
from sqlalchemy import Engine

from docktally.cli import main
from docktally.collector.importer import import_lines
from docktally.store import db, writes
from tests.data import recorded


@pytest.fixture
def url(tmp_path: Path) -> str:
    u = f"sqlite:///{tmp_path / 'd.db'}"
    eng = db.connect(u)
    with eng.begin() as conn:
        for name in ("crash_loop", "oom", "stop", "health", "rename"):
            import_lines(conn, recorded.lines(name), host="h1")
        import_lines(conn, recorded.lines("kill"), host="h2")
    eng.dispose()
    return u


def run(capsys: pytest.CaptureFixture[str], *args: str) -> tuple[int, str, str]:
    code = main(["events", *args])
    out = capsys.readouterr()
    return code, out.out, out.err


def as_json(capsys: pytest.CaptureFixture[str], *args: str) -> list[dict[str, Any]]:
    code, out, _ = run(capsys, *args, "--format", "json")
    assert code == 0
    data = json.loads(out)
    assert isinstance(data, list)
    return data


def test_json_contract_oldest_first(url: str, capsys: pytest.CaptureFixture[str]) -> None:
    data = as_json(capsys, "--db", url)
    assert len(data) == sum(
        len(recorded.container_payloads(n))
        for n in ("crash_loop", "oom", "stop", "health", "rename", "kill")
    )
    times = [e["time_ns"] for e in data]
    assert times == sorted(times)
    for e in data:
        assert {"container_id", "container", "action", "time_ns", "exit_code", "inferred"} <= set(e)
        assert isinstance(e["time_ns"], int) and isinstance(e["inferred"], bool)
        assert len(e["container_id"]) == 64
        assert e["time"].endswith("Z") and e["host"] in ("h1", "h2")
    oom_die = next(e for e in data if e["container"] == "hungry" and e["action"] == "die")
    assert (
        oom_die["exit_code"] == 137 and oom_die["signal"] is None and oom_die["inferred"] is False
    )
    kill = next(e for e in data if e["action"] == "kill" and e["container"] == "victim")
    assert kill["signal"] == 9 and kill["exit_code"] is None


def test_filters(url: str, capsys: pytest.CaptureFixture[str]) -> None:
    crashy = as_json(capsys, "--db", url, "--container", "crashy")
    assert {e["container"] for e in crashy} == {"crashy"}
    prefix = crashy[0]["container_id"][:6]
    assert as_json(capsys, "--db", url, "--container", prefix) == crashy
    dies = as_json(capsys, "--db", url, "--action", "die")
    assert {e["action"] for e in dies} == {"die"} and len(dies) == 4 + 1 + 2 + 1 + 1 + 1
    health = as_json(capsys, "--db", url, "--action", "health_status")
    assert [e["health"] for e in health] == ["healthy", "unhealthy"]
    exact = as_json(capsys, "--db", url, "--action", "health_status: unhealthy")
    assert [e["health"] for e in exact] == ["unhealthy"]
    assert {e["host"] for e in as_json(capsys, "--db", url, "--host", "h2")} == {"h2"}
    assert len(as_json(capsys, "--db", url, "--limit", "3")) == 3
    # A window: from the OOM container's first event to its last (exclusive).
    hungry = as_json(capsys, "--db", url, "--container", "hungry")
    since, until = hungry[0]["time"], hungry[-1]["time"]
    inside = as_json(capsys, "--db", url, "--since", since, "--until", until)
    assert [e["action"] for e in inside] == ["create", "start", "oom"]
    assert as_json(capsys, "--db", url, "--container", "nobody") == []


def test_several_actions_and_a_negation(url: str, capsys: pytest.CaptureFixture[str]) -> None:
    every = as_json(capsys, "--db", url)
    dies_ooms = as_json(capsys, "--db", url, "--action", "die,oom")
    assert {e["action"] for e in dies_ooms} == {"die", "oom"}
    assert len(dies_ooms) == sum(e["action"] in ("die", "oom") for e in every)
    # Given again: the same as with a comma.
    assert as_json(capsys, "--db", url, "--action", "die", "--action", "oom") == dies_ooms
    # A negation leaves out an action or a whole kind, and narrows what the others select.
    no_health = as_json(capsys, "--db", url, "--action", "!health_status")
    assert len(no_health) == len(every) - 2
    assert all(not e["action"].startswith("health_status") for e in no_health)
    only_healthy = as_json(capsys, "--db", url, "--action", "!health_status: unhealthy")
    assert [e["health"] for e in only_healthy if e["health"]] == ["healthy"]
    crashy_no_die = as_json(capsys, "--db", url, "--container", "crashy", "--action", "!die")
    assert crashy_no_die and "die" not in {e["action"] for e in crashy_no_die}


def test_table_is_aligned_and_readable(url: str, capsys: pytest.CaptureFixture[str]) -> None:
    code, out, _ = run(capsys, "--db", url, "--container", "stubborn")
    assert code == 0
    lines = out.splitlines()
    assert lines[0].split() == [
        "TIME",
        "HOST",
        "CONTAINER",
        "ID",
        "ACTION",
        "EXIT",
        "SIGNAL",
        "NOTE",
    ]
    assert [ln.split()[4] for ln in lines[1:]] == ["create", "start", "kill", "kill", "die", "stop"]
    col = lines[0].index("ACTION")
    assert all(ln[col - 2 : col] == "  " for ln in lines[1:])
    assert lines[1].startswith("20") and "Z" in lines[1].split()[0]


def test_csv_to_a_file(url: str, tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    out_file = tmp_path / "ev.csv"
    code, out, err = run(capsys, "--db", url, "--format", "csv", "--out", str(out_file))
    assert code == 0 and out == "" and str(out_file) in err
    rows = list(csv.DictReader(io.StringIO(out_file.read_text())))
    assert rows[0]["container_id"] and rows[0]["inferred"] == "False"
    assert len(rows) == len(as_json(capsys, "--db", url))


def test_inferred_rows_are_marked(
    store: Engine, db_url: str, capsys: pytest.CaptureFixture[str]
) -> None:
    with store.begin() as conn:
        writes.insert_events(
            conn,
            [
                {
                    "host": "h",
                    "container_id": "c" * 64,
                    "time_ns": 5_000_000_000,
                    "action": "die",
                    "kind": "die",
                    "name": "web",
                    "exit_code": 137,
                    "inferred": True,
                    "cause_hint": "engine_restart",
                    "evidence": "State.FinishedAt",
                    "source": "reconcile",
                }
            ],
        )
    [event] = as_json(capsys, "--db", db_url)
    assert event["inferred"] is True and event["cause_hint"] == "engine_restart"
    assert event["time"] == "1970-01-01T00:00:05Z"
    _, out, _ = run(capsys, "--db", db_url)
    assert "inferred (engine_restart)" in out


def test_empty_store_says_so(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    u = f"sqlite:///{tmp_path / 'empty.db'}"
    db.connect(u).dispose()
    code, out, _ = run(capsys, "--db", u)
    assert code == 0 and out.startswith("no events stored yet")
    assert as_json(capsys, "--db", u) == []


def test_no_match_is_not_an_empty_store(url: str, capsys: pytest.CaptureFixture[str]) -> None:
    code, out, _ = run(capsys, "--db", url, "--container", "nobody")
    assert code == 0 and out.startswith("no stored event matches")


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (["--since", "soon"], "--since"),
        (["--since", "1h", "--until", "2h"], "is not before"),
        (["--limit", "0"], "--limit"),
        (["--action", "die,,oom"], "--action"),
        (["--action", "!"], "--action"),
    ],
)
def test_usage_errors(
    url: str, args: list[str], message: str, capsys: pytest.CaptureFixture[str]
) -> None:
    code, _, err = run(capsys, "--db", url, *args)
    assert code == 2 and message in err and err.count("\n") == 1


def test_events_help() -> None:
    with pytest.raises(SystemExit) as exit_:
        main(["events", "--help"])
    assert exit_.value.code == 0


def test_missing_database_is_an_empty_listing(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    missing = tmp_path / "never.db"
    code, out, _ = run(capsys, "--db", str(missing))
    assert code == 0 and out.startswith("no events stored yet")
    assert as_json(capsys, "--db", str(missing)) == []
    assert not missing.exists()
