"""The store's day summaries: `docktally report --summaries` (built days from them, the other
days from the events) prints what it prints from the events alone, on two generated hosts;
late events mark days dirty, and `db summarize` builds them again. Every container is compared,
the health-checked imported ones too (known by their last health_status event before a day),
and the fleet totals and time by class."""

from __future__ import annotations

import math
import time
from pathlib import Path
from typing import Any

import orjson
import pytest
from sqlalchemy import text

from bench.generate import write_file
from docktally.cli import main
from docktally.store import db, writes
from docktally.timespec import ns_to_iso

DAY_NS = 86_400 * 10**9
# A week before today (db summarize builds every complete day up to now).
T0 = (time.time_ns() // DAY_NS - 8) * DAY_NS
WINDOW = ["--since", ns_to_iso(T0 - DAY_NS), "--until", ns_to_iso(T0 + 4 * DAY_NS + 48_600 * 10**9)]
CASES = [
    ["--by", "container"],
    ["--every", "month"],
    ["--every", "day", "--host", "h2"],
    ["--by", "service"],
    ["--by", "host,service", "--every", "day"],
    ["--by", "service", "--host", "h1", "--every", "week"],
]


def _report(db_url: str, args: list[str], capsys: pytest.CaptureFixture[str]) -> Any:
    """The report's JSON (from the events alone unless args say --summaries)."""
    if "--summaries" not in args:
        args = [*args, "--no-summaries"]
    capsys.readouterr()
    assert main(["report", "--db", db_url, *WINDOW, "--format", "json", *args]) == 0
    doc = orjson.loads(capsys.readouterr().out)
    return doc


def _same(a: Any, b: Any, where: str = "") -> None:
    if isinstance(a, dict):
        assert isinstance(b, dict) and sorted(a) == sorted(b), f"{where}: {a} != {b}"
        for k in a:
            _same(a[k], b[k], f"{where}.{k}")
    elif isinstance(a, list):
        assert isinstance(b, list) and len(a) == len(b), f"{where}: {len(a)} != {len(b)}"
        for i, (x, y) in enumerate(zip(a, b, strict=True)):
            _same(x, y, f"{where}[{i}]")
    elif isinstance(a, float) and isinstance(b, float | int):
        assert math.isclose(a, b, rel_tol=1e-9, abs_tol=1e-6), f"{where}: {a} != {b}"
    else:
        assert a == b, f"{where}: {a!r} != {b!r}"


def _summarize(db_url: str, capsys: pytest.CaptureFixture[str]) -> str:
    capsys.readouterr()
    assert main(["db", "summarize", "--db", db_url]) == 0
    return capsys.readouterr().out


def test_reports_from_summaries_equal_the_event_reports(
    db_url: str, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    for host, seed in (("h1", 1), ("h2", 2)):
        f = tmp_path / f"{host}.jsonl"
        write_file(f, events=2500, containers=30, days=5, seed=seed, start_ns=T0)
        assert main(["import", "--db", db_url, "--host", host, str(f)]) == 0
    from_events = [_report(db_url, args, capsys) for args in CASES]

    # Every complete day from the first event's on (the containers live on after the last).
    assert f"day(s) summarized: {ns_to_iso(T0)[:10]}.." in _summarize(db_url, capsys)
    assert "0 day(s) summarized" in _summarize(db_url, capsys)
    for args, want in zip(CASES, from_events, strict=True):
        _same(want, _report(db_url, [*args, "--summaries"], capsys), " ".join(args))

    # A late event in a built day: it and the days after come from the events until they are
    # built again.
    engine = db.connect(db_url)
    with engine.begin() as conn:
        cid = conn.execute(text("SELECT container_id FROM containers WHERE host = 'h1'")).scalar()
        writes.insert_events(
            conn,
            [{"host": "h1", "container_id": cid, "time_ns": T0 + 3 * DAY_NS + 5,
              "action": "die", "kind": "die", "exit_code": 3, "source": "import", "raw": None}],
        )  # fmt: skip
        first_dirty = conn.execute(
            text("SELECT min(day_ns) FROM summary_days WHERE dirty")
        ).scalar()
        clean_after = conn.execute(
            text("SELECT count(*) FROM summary_days WHERE NOT dirty AND day_ns > :d"),
            {"d": first_dirty},
        ).scalar()
    # The event's day and every day after it (the state it leaves is carried forward).
    assert first_dirty == T0 + 3 * DAY_NS
    assert clean_after == 0
    engine.dispose()
    from_events = [_report(db_url, args, capsys) for args in CASES]
    assert f"day(s) summarized: {ns_to_iso(T0 + 3 * DAY_NS)[:10]}.." in _summarize(db_url, capsys)
    for args, want in zip(CASES, from_events, strict=True):
        _same(want, _report(db_url, [*args, "--summaries"], capsys), " ".join(args))
