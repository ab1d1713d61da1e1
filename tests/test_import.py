"""`docktally import`: recorded payloads into the store, strictness, idempotency, coverage."""

from __future__ import annotations

import io
import json
from collections.abc import Iterator
from pathlib import Path

import pytest
from sqlalchemy import Engine, func, select

from docktally.cli import main
from docktally.cli.import_events import parse_covers, progress_printer
from docktally.collector.importer import InvalidLine, import_lines
from docktally.errors import UsageError
from docktally.store import db, reads
from docktally.store.schema import containers, coverage, events
from tests.data import recorded

NS = 1_000_000_000


@pytest.fixture(scope="module")
def sqlite_store(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Engine]:
    eng = db.connect(f"sqlite:///{tmp_path_factory.mktemp('reasons') / 'docktally.db'}")
    yield eng
    eng.dispose()


def all_lines() -> list[str]:
    return [ln for name in recorded.SCENARIOS for ln in recorded.lines(name)]


def n_container(lines: list[str]) -> int:
    return sum(1 for ln in lines if json.loads(ln).get("Type") == "container")


def count(store: Engine) -> int:
    with store.connect() as conn:
        return int(conn.execute(select(func.count()).select_from(events)).scalar_one())


def write(tmp_path: Path, lines: list[str], name: str = "events.jsonl") -> Path:
    p = tmp_path / name
    p.write_text("".join(ln + "\n" for ln in lines))
    return p


def test_import_lines_stores_every_container_event_once(store: Engine) -> None:
    lines = all_lines()
    with store.begin() as conn:
        r = import_lines(conn, lines, host="h1")
    assert r.read == len(lines)
    assert r.new == n_container(lines) == count(store)
    assert r.not_container == len(lines) - r.new and r.not_container > 0
    with store.begin() as conn:
        again = import_lines(conn, reversed(lines), host="h1")
    assert (again.new, again.already_stored) == (0, r.new)
    assert count(store) == r.new


def test_host_with_a_quote(store: Engine) -> None:
    with store.begin() as conn:
        r = import_lines(conn, recorded.lines("kill"), host="o'brien; --")
    with store.connect() as conn:
        assert set(reads.list_events(conn)["host"]) == {"o'brien; --"}
    assert r.new == count(store) > 0


def test_small_chunks_and_duplicates_within_a_file(store: Engine) -> None:
    lines = recorded.lines("crash_loop")
    with store.begin() as conn:
        r = import_lines(conn, lines + lines, host="h1", chunk_rows=3)
    n = n_container(lines)
    assert (r.new, r.already_stored) == (n, n)
    assert count(store) == n


def test_rows_keep_the_raw_line_and_normalised_columns(store: Engine) -> None:
    with store.begin() as conn:
        import_lines(conn, recorded.lines("oom"), host="h1")
    with store.connect() as conn:
        df = reads.list_events(conn)
    assert list(df["action"]) == ["create", "start", "oom", "die"]
    die = df.iloc[-1]
    assert die["exit_code"] == 137 and die["source"] == "import" and die["host"] == "h1"
    with store.connect() as conn:
        die_id = conn.execute(select(events.c.id).where(events.c.action == "die")).scalar_one()
        raw = reads.load_raw(conn, [die_id])[die_id]
    assert raw in recorded.lines("oom")


def named(cid: str, n: int, name: str) -> str:
    attrs = {"name": name, "image": f"{name}:1"}
    return json.dumps({"Type": "container", "Action": "start", "timeNano": n * NS,
                       "Actor": {"ID": cid, "Attributes": attrs}})  # fmt: skip


def test_a_container_keeps_the_name_of_its_newest_event(store: Engine) -> None:
    a, b = "a" * 64, "b" * 64
    with store.begin() as conn:  # batches of two, a's out of time order
        lines = [named(a, 5, "new-a"), named(a, 1, "old-a"), named(b, 1, "old-b"),
                 named(b, 5, "new-b")]  # fmt: skip
        import_lines(conn, lines, host="h", chunk_rows=2)
    with store.begin() as conn:  # an older file imported after
        import_lines(conn, [named(a, 3, "mid-a"), named(b, 3, "mid-b")], host="h")
    with store.begin() as conn:  # a newer one for b only
        import_lines(conn, [named(b, 7, "newest-b")], host="h")
    with store.connect() as conn:
        names = conn.execute(
            select(containers.c.container_id, containers.c.name, containers.c.image)
        )
        assert sorted(names) == [(a, "new-a", "new-a:1"), (b, "newest-b", "newest-b:1")]


def test_same_events_under_another_host_are_other_events(store: Engine) -> None:
    lines = recorded.lines("kill")
    with store.begin() as conn:
        a = import_lines(conn, lines, host="h1")
        b = import_lines(conn, lines, host="h2")
    assert a.new == b.new == count(store) // 2


def test_coverage_spans_first_to_last_event_and_is_recorded_once(store: Engine) -> None:
    lines = recorded.lines("stop")
    times = [json.loads(ln)["timeNano"] for ln in lines if '"Type":"container"' in ln]
    for _ in range(2):
        with store.begin() as conn:
            import_lines(conn, lines, host="h1")
    with store.connect() as conn:
        rows = conn.execute(select(coverage)).mappings().all()
    assert len(rows) == 1
    row = rows[0]
    assert (row["host"], row["source"], row["start_ns"], row["end_ns"]) == (
        "h1",
        "import",
        min(times),
        max(times),
    )
    assert row["closed_reason"] == "import"


def test_covers_overrides_the_span(store: Engine) -> None:
    with store.begin() as conn:
        import_lines(conn, recorded.lines("kill"), host="h1", covers=(10, 20))
    with db.open_reader(store) as reader:
        rows = reads.load_coverage(reader)
    assert rows[["start_ns", "end_ns"]].values.tolist() == [[10, 20]]


def test_strict_import_raises_on_the_first_bad_line(store: Engine) -> None:
    lines = [*recorded.lines("kill"), "{not json", *recorded.lines("pause")]
    with pytest.raises(InvalidLine) as err, store.begin() as conn:
        import_lines(conn, lines, host="h1", chunk_rows=2)
    assert err.value.line_no == len(recorded.lines("kill")) + 1
    assert count(store) == 0  # rolled back, though chunks had been written


def test_skip_invalid_keeps_the_rest_and_lists_the_bad_ones(store: Engine) -> None:
    good = recorded.lines("kill")
    lines = ["[1]", *good, '{"Type":"container","Action":"die"}', "", "nope"]
    with store.begin() as conn:
        r = import_lines(conn, lines, host="h1", skip_invalid=True)
    assert [(e.line_no, e.reason.split(" (")[0]) for e in r.invalid] == [
        (1, "not a JSON object"),
        (len(good) + 2, "no container id"),
        (len(good) + 4, "not JSON"),
    ]
    assert r.new == n_container(good) == count(store)
    assert r.read == len(lines) - 1  # the blank line is not counted


@pytest.mark.parametrize(
    ("line", "reason"),
    [
        ("{", "not JSON"),
        ("[]", "not a JSON object (got array)"),
        ('"die"', "not a JSON object (got str)"),
        ("null", "not a JSON object (got null)"),
        ('{"Type":"container","id":"a","time":1}', "no Action"),
        ('{"Type":"container","Action":"die","time":1}', "no container id"),
        ('{"Type":"container","Action":"die","id":"a"}', "no timeNano or time"),
        (b"\xff\xfe", "not UTF-8"),
        (b'{"Type":"container","Action":"die","id":"a","time":1,"x":"\xff"}', "not UTF-8"),
        ('{"Type":"container","Action":"die\\u0000","id":"a","time":1}', "NUL character"),
        ('{"Type":"container","Action":5,"id":"a","time":1}', "got `int` - at `$.Action`"),
    ],
)
def test_invalid_line_reasons(sqlite_store: Engine, line: str | bytes, reason: str) -> None:
    lines = [b""] * 6 + [line]  # blank lines count: the bad one is line 7
    with pytest.raises(InvalidLine) as err, sqlite_store.begin() as conn:
        import_lines(conn, lines, host="h")
    assert reason in err.value.reason and err.value.line_no == 7


def test_other_types_are_skipped_and_line_ends_stripped(store: Engine) -> None:
    net = next(ln for ln in recorded.lines("kill") if '"Type":"network"' in ln)
    raw = json.dumps(recorded.container_payloads("kill")[0], separators=(",", ":"))
    with store.begin() as conn:
        r = import_lines(conn, [net + "\n", (raw + "\r\n").encode()], host="h")
    assert (r.not_container, r.new) == (1, 1)
    with store.connect() as conn:
        event_id = conn.execute(select(events.c.id)).scalar_one()
        assert reads.load_raw(conn, [event_id])[event_id] == raw


def test_parse_covers() -> None:
    now = 1_800_000_000 * NS
    start, end = parse_covers("1h..now", now)
    assert (start, end) == (now - 3600 * NS, now)
    assert parse_covers("2h..", now) == (now - 7200 * NS, now)
    a, b = parse_covers("2026-01-01T00:00:00Z..2026-01-02T00:00:00Z", now)
    assert b - a == 86400 * NS
    for bad in ("7d", "..now", "now..1h", "x..y"):
        with pytest.raises(UsageError):
            parse_covers(bad, now)


# --- the command ------------------------------------------------------------------------------


def test_cli_import_twice_and_summary(
    tmp_path: Path, db_url: str, capsys: pytest.CaptureFixture[str]
) -> None:
    lines = all_lines()
    f = write(tmp_path, lines)
    n = n_container(lines)
    assert main(["import", str(f), "--db", db_url, "--host", "h1"]) == 0
    err = capsys.readouterr().err
    assert f"{len(lines)} read, {n} new, 0 already stored, {len(lines) - n} skipped" in err
    assert err.count("\n") == 1  # not a terminal: the summary line only
    assert main(["import", str(f), "--db", db_url, "--host", "h1"]) == 0
    assert f"0 new, {n} already stored" in capsys.readouterr().err
    eng = db.connect(db_url)
    assert count(eng) == n
    eng.dispose()


def test_cli_default_host_is_this_machine(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    import socket

    url = f"sqlite:///{tmp_path / 'd.db'}"
    assert main(["import", str(write(tmp_path, recorded.lines("kill"))), "--db", url]) == 0
    eng = db.connect(url)
    with eng.connect() as conn:
        assert set(reads.list_events(conn)["host"]) == {socket.gethostname()}
    eng.dispose()


def test_cli_strict_error_names_file_and_line_and_writes_nothing(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    url = f"sqlite:///{tmp_path / 'd.db'}"
    lines = [*recorded.lines("kill"), '{"Type":"container","Action":"die","time":5}']
    f = write(tmp_path, lines, "bad.jsonl")
    assert main(["import", str(f), "--db", url]) == 2
    err = capsys.readouterr().err.strip()
    assert err.startswith(f"docktally: error: {f}:{len(lines)}: no container id")
    assert "nothing was imported" in err and "\n" not in err
    eng = db.connect(url)
    assert count(eng) == 0
    with db.open_reader(eng) as reader:
        assert reads.load_coverage(reader).empty


def test_cli_skip_invalid_lists_skipped_lines(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    url = f"sqlite:///{tmp_path / 'd.db'}"
    f = write(tmp_path, ["oops", *recorded.lines("kill")], "some.jsonl")
    assert main(["import", str(f), "--db", url, "--skip-invalid"]) == 0
    err = capsys.readouterr().err.splitlines()
    assert err[0].startswith(f"{f}:1: skipped: not JSON")
    assert "1 invalid" in err[-1]


def test_cli_reads_standard_input(
    tmp_path: Path, capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    import io
    import sys

    url = f"sqlite:///{tmp_path / 'd.db'}"
    data = "".join(ln + "\n" for ln in recorded.lines("pause")).encode()
    monkeypatch.setattr(sys, "stdin", io.TextIOWrapper(io.BytesIO(data)))
    assert main(["import", "-", "--db", url, "--host", "h"]) == 0
    assert capsys.readouterr().err.startswith("<stdin>: ")


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (["missing.jsonl"], "missing.jsonl: no such file"),
        (["."], "is a directory"),
        (["x", "--covers", "yesterday"], "--covers"),
        (["x", "--covers", "1h..2h"], "is not before"),
    ],
)
def test_cli_usage_errors(
    tmp_path: Path,
    args: list[str],
    message: str,
    capsys: pytest.CaptureFixture[str],
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.chdir(tmp_path)
    assert main(["import", *args, "--db", str(tmp_path / "d.db")]) == 2
    err = capsys.readouterr().err
    assert message in err and err.count("\n") == 1


def test_cli_covers_is_recorded(tmp_path: Path) -> None:
    url = f"sqlite:///{tmp_path / 'd.db'}"
    f = write(tmp_path, recorded.lines("kill"))
    rc = main(["import", str(f), "--db", url, "--covers", "2026-01-01T00:00:00Z..2026-01-02"])
    assert rc == 0
    eng = db.connect(url)
    with db.open_reader(eng) as reader:
        cov = reads.load_coverage(reader)
    assert (cov["end_ns"] - cov["start_ns"]).tolist() == [86400 * NS]


def test_import_help() -> None:
    with pytest.raises(SystemExit) as exit_:
        main(["import", "--help"])
    assert exit_.value.code == 0


class FakeTty(io.StringIO):
    def isatty(self) -> bool:
        return True


def test_progress_is_rate_limited_on_a_terminal() -> None:
    stream = FakeTty()
    clock = iter([0.0, 0.1, 0.6, 0.7, 1.2]).__next__
    show = progress_printer(stream, clock)
    for n in (1000, 2000, 3000, 4000):
        show(n)
    # Shown at 0.6 s (2000 lines) and at 1.2 s (4000): not at 0.1 s nor 0.7 s.
    assert (
        stream.getvalue() == "\rimporting: 2,000 lines (3,333/s)\rimporting: 4,000 lines (3,333/s)"
    )


def test_progress_is_silent_when_not_a_terminal() -> None:
    stream = io.StringIO()
    show = progress_printer(stream, lambda: 0.0)
    show(10)
    assert stream.getvalue() == ""


def test_cli_import_leaves_no_write_ahead_log_behind(tmp_path: Path) -> None:
    # While another process (the dashboard, say) holds the database open, SQLite keeps the WAL
    # file at its largest; a large one left behind made the next read-only reader replay it.
    import sqlite3

    src = write(tmp_path, all_lines())
    path = tmp_path / "wal.db"
    assert main(["db", "upgrade", "--db", str(path)]) == 0
    reader = sqlite3.connect(path)
    reader.execute("SELECT count(*) FROM events").fetchone()
    try:
        assert main(["import", str(src), "--db", str(path)]) == 0
        wal = Path(f"{path}-wal")
        assert wal.stat().st_size == 0
    finally:
        reader.close()
