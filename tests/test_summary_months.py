"""The store's month rows (store.summaries.write_months): a report over windows that hold whole
months reads them, and prints what it prints from the events alone: windows of whole months,
windows starting and ending mid-month, --every month, the services' scopes. A day made dirty
inside a month (a late event, maintenance) takes the month off the reads until it is built
again, and months of days built before the month rows existed are summed by the next build."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest
from sqlalchemy import text

from bench.generate import write_file
from docktally.analytics.model import Window
from docktally.cli import main
from docktally.store import db, summaries, writes
from docktally.timespec import parse_rfc3339_ns
from tests.test_store_summaries import _same


def _ns(iso: str) -> int:
    t = parse_rfc3339_ns(iso)
    assert t is not None
    return t


DAY_NS = 86_400 * 10**9
T0 = _ns("2026-01-20T00:00:00Z")  # the events: 2026-01-20 .. 2026-04-05
NOW = _ns("2026-04-06T02:00:00Z")  # days are built up to 2026-04-05
FEB, MAR, APR = (
    _ns("2026-02-01T00:00:00Z"),
    _ns("2026-03-01T00:00:00Z"),
    _ns("2026-04-01T00:00:00Z"),
)
# (window, report arguments): whole months, and edges inside months.
CASES = [
    (("2026-02-01T00:00:00Z", "2026-04-01T00:00:00Z"), ["--by", "container"]),
    (("2026-02-01T00:00:00Z", "2026-04-01T00:00:00Z"), ["--by", "service"]),
    (
        ("2026-02-01T00:00:00Z", "2026-04-01T00:00:00Z"),
        ["--by", "host,service", "--every", "month"],
    ),
    (("2026-02-01T00:00:00Z", "2026-04-01T00:00:00Z"), ["--every", "week"]),
    (("2026-01-23T00:00:00Z", "2026-03-18T00:00:00Z"), ["--every", "month"]),
    (("2026-01-23T00:00:00Z", "2026-03-18T00:00:00Z"), ["--by", "service", "--every", "month"]),
    (("2026-01-31T06:00:00Z", "2026-04-01T00:00:00Z"), ["--by", "host"]),
    (("2026-02-01T00:00:00Z", "2026-03-31T20:00:00Z"), ["--by", "service", "--host", "h1"]),
    (("2026-01-20T00:00:00Z", "2026-04-05T00:00:00Z"), ["--by", "image", "--every", "month"]),
]


Case = tuple[tuple[str, str], list[str]]


def _reports(
    db_url: str, capsys: pytest.CaptureFixture[str], summaries_: bool, cases: list[Case]
) -> list[Any]:
    import orjson

    out = []
    for (since, until), args in cases:
        capsys.readouterr()
        how = "--summaries" if summaries_ else "--no-summaries"
        argv = ["report", "--db", db_url, "--since", since, "--until", until, "--format", "json"]
        assert main([*argv, *args, how]) == 0
        out.append(orjson.loads(capsys.readouterr().out))
    return out


def _check(db_url: str, capsys: pytest.CaptureFixture[str], cases: list[Case] = CASES) -> None:
    for ((since, until), args), want, got in zip(
        cases,
        _reports(db_url, capsys, False, cases),
        _reports(db_url, capsys, True, cases),
        strict=True,
    ):
        _same(want, got, f"{since}..{until} {' '.join(args)}")


def _months(db_url: str, since: str, until: str, periods: list[tuple[int, int]]) -> list[int]:
    """The months a report over the window reads from their rows."""
    with db.open_reader(db.connect(db_url)) as reader:
        w = Window(_ns(since), _ns(until))
        days = sorted(summaries.fresh_days(reader, w.start_ns, w.end_ns))
        return summaries.whole_months(reader, days, w, periods)


def _count(db_url: str, sql: str) -> int:
    engine = db.connect(db_url)
    try:
        with engine.connect() as conn:
            return int(conn.execute(text(sql)).scalar() or 0)
    finally:
        engine.dispose()


def _build(db_url: str) -> list[tuple[int, int]]:
    engine = db.connect(db_url)
    try:
        return summaries.refresh_store(engine, NOW, wait=True)
    finally:
        engine.dispose()


@pytest.fixture
def fleet(db_url: str, tmp_path: Path) -> str:
    for host, seed in (("h1", 5), ("h2", 6)):
        f = tmp_path / f"{host}.jsonl"
        write_file(f, events=5000, containers=16, days=75, seed=seed, start_ns=T0)
        assert main(["import", "--db", db_url, "--host", host, str(f)]) == 0
    _build(db_url)
    return db_url


def test_reports_over_months_equal_the_event_reports(
    fleet: str, capsys: pytest.CaptureFixture[str]
) -> None:
    # January starts on the 20th (no days before the first event's): only February and March.
    assert _count(fleet, "SELECT count(*) FROM summary_months") == 2
    assert _months(fleet, "2026-01-01T00:00:00Z", "2026-04-05T00:00:00Z", []) == [FEB, MAR]
    assert _months(fleet, "2026-02-01T00:00:00Z", "2026-03-31T00:00:00Z", []) == [FEB]
    # A week's start inside a month cuts it: its days are read.
    weeks = [(FEB, FEB + 2 * DAY_NS), (FEB + 2 * DAY_NS, MAR)]
    assert _months(fleet, "2026-02-01T00:00:00Z", "2026-03-01T00:00:00Z", weeks) == []
    # Failures open at a day's end that recover later in the month are in the month rows.
    assert _count(fleet, "SELECT count(*) FROM day_summaries WHERE open_n > 0 AND day_ns >= "
                  f"{FEB} AND day_ns < {APR}") > _count(
        fleet, "SELECT count(*) FROM month_summaries WHERE open_n > 0")  # fmt: skip
    _check(fleet, capsys)


def test_a_dirty_day_takes_its_month_off_until_built_again(
    fleet: str, capsys: pytest.CaptureFixture[str]
) -> None:
    # A late crash in mid-March: March's days from it on are dirty, March is read from its
    # clean days and the events (its month row would be stale), February from its row.
    engine = db.connect(fleet)
    with engine.begin() as conn:
        cid = conn.execute(text("SELECT container_id FROM containers WHERE host = 'h1'")).scalar()
        writes.insert_events(
            conn,
            [{"host": "h1", "container_id": cid, "time_ns": MAR + 14 * DAY_NS + 5,
              "action": "die", "kind": "die", "exit_code": 3, "source": "import", "raw": None}],
        )  # fmt: skip
        # Maintenance inside February: its days are dirty too.
        name = conn.execute(text("SELECT name FROM containers WHERE host = 'h2'")).scalar()
        at = FEB + 9 * DAY_NS + 3600 * 10**9
        writes.add_maintenance(
            conn,
            {"host": "h2", "target_kind": "container", "target": name, "start_ns": at,
             "end_ns": at + 7200 * 10**9, "kind": "maintenance", "reason": "patching",
             "created_by": "test", "created_ns": NOW},
        )  # fmt: skip
    engine.dispose()
    assert _months(fleet, "2026-02-01T00:00:00Z", "2026-04-01T00:00:00Z", []) == []
    _check(fleet, capsys)
    # Built again, with the months.
    assert _build(fleet)[0][0] == FEB + 9 * DAY_NS
    assert _months(fleet, "2026-02-01T00:00:00Z", "2026-04-01T00:00:00Z", []) == [FEB, MAR]
    _check(fleet, capsys)


def test_months_of_days_built_before_them_are_summed_by_the_next_build(
    fleet: str, capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    engine = db.connect(fleet)
    with engine.begin() as conn:
        for t in ("month_summaries", "month_summary_details", "month_service_summaries",
                  "month_service_details", "summary_months"):  # fmt: skip
            conn.execute(text(f"DELETE FROM {t}"))
    engine.dispose()
    assert _months(fleet, "2026-02-01T00:00:00Z", "2026-04-01T00:00:00Z", []) == []
    assert _build(fleet) == []  # no day built again
    assert _months(fleet, "2026-02-01T00:00:00Z", "2026-04-01T00:00:00Z", []) == [FEB, MAR]
    # `db summarize` says which months it summed, not only the days (none here).
    engine = db.connect(fleet)
    with engine.begin() as conn:
        conn.execute(text(f"DELETE FROM summary_months WHERE month_ns = {FEB}"))
    engine.dispose()
    monkeypatch.setattr("docktally.cli.common.now_ns", lambda: NOW)
    capsys.readouterr()
    assert main(["db", "summarize", "--db", fleet]) == 0
    assert capsys.readouterr().out == "0 day(s) summarized; 1 month(s) summed: 2026-02\n"
    # A day built again without its month (a builder of an earlier release): the month's rows
    # are older than the day, and not read.
    engine = db.connect(fleet)
    with engine.begin() as conn:
        conn.execute(text(f"UPDATE summary_days SET built_ns = built_ns + 1 WHERE day_ns = {MAR}"))
    engine.dispose()
    assert _months(fleet, "2026-02-01T00:00:00Z", "2026-04-01T00:00:00Z", []) == [FEB]
    _check(fleet, capsys)


def _line(cid: str, action: str, t_ns: int, **attrs: str) -> bytes:
    import orjson

    a = {"image": "web:1", "name": "p-web-1", "com.docker.compose.project": "p",
         "com.docker.compose.service": "web", **attrs}  # fmt: skip
    return orjson.dumps(
        {
            "status": action,
            "id": cid,
            "from": "web:1",
            "Type": "container",
            "Action": action,
            "Actor": {"ID": cid, "Attributes": a},
            "scope": "local",
            "time": t_ns // 10**9,
            "timeNano": t_ns,
        }
    )


def _store(db_url: str, tmp_path: Path, cid: str, events: list[tuple[str, int]]) -> None:
    """Import `events` (action, time) of one container on host h1 (a die exits 1), then build
    the summaries."""
    f = tmp_path / "h1.jsonl"
    f.write_bytes(b"\n".join(
        _line(cid, a, t, **({"exitCode": "1"} if a == "die" else {})) for a, t in events
    ) + b"\n")  # fmt: skip
    assert main(["import", "--db", db_url, "--host", "h1", str(f)]) == 0
    _build(db_url)


def test_a_service_failure_at_a_month_start_and_recoveries_after_it(
    db_url: str, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    """The edges of a month row: a service down from the month's first midnight and up two days
    later (not a failure of a window starting there; its time to recover is the month's), one
    down at a day's end recovered days later, and one recovered exactly at the month's end (open
    at the end of a window ending there, recovered in one ending later)."""
    cid, s = "c" * 64, 10**9
    events = [
        ("create", _ns("2026-01-25T00:00:00Z")),
        ("start", _ns("2026-01-25T00:00:10Z")),
        ("die", MAR),
        ("start", MAR + 2 * DAY_NS + 100 * s),
        ("die", MAR + 10 * DAY_NS - 50 * s),
        ("start", MAR + 12 * DAY_NS + 7 * s),
        ("die", APR - 60 * s),
        ("start", APR),  # exactly at the month's end: open in a window ending there
        ("die", APR + DAY_NS),
    ]
    _store(db_url, tmp_path, cid, events)
    assert _months(db_url, "2026-02-01T00:00:00Z", "2026-04-01T00:00:00Z", []) == [FEB, MAR]
    cases = [
        (w, [*by, *every])
        for w in (("2026-02-01T00:00:00Z", "2026-04-01T00:00:00Z"),
                  ("2026-03-01T00:00:00Z", "2026-04-01T00:00:00Z"),
                  ("2026-03-01T00:00:00Z", "2026-04-05T00:00:00Z"))
        for by in (["--by", "service"], ["--by", "host,service"], ["--by", "container"])
        for every in ([], ["--every", "month"])
    ]  # fmt: skip
    _check(db_url, capsys, cases)


def test_a_report_reads_the_details_it_shows(fleet: str) -> None:
    """A report's parts (REPORT_DETAILS) hold the details it shows, and no failures by cause;
    the Fleet overview's (FLEET_DETAILS) only those: from the month rows, the day rows and the
    events alike."""
    from docktally.analytics.daily import FAIL_CAUSE, REPORT_DETAILS
    from docktally.analytics.fleet import FLEET_DETAILS
    from docktally.analytics.periods import calendar_periods

    def only(d: Any, parts: tuple[int, ...]) -> Any:
        key = ["host", "container_id", "start_ns", "part", "code"]
        return d[d["part"].isin(parts)].sort_values(key).reset_index(drop=True)

    w = Window(_ns("2026-01-23T06:00:00Z"), _ns("2026-04-05T00:00:00Z"))
    periods = calendar_periods(w, "month")
    with db.open_reader(db.connect(fleet)) as reader:
        for by in ("container", "service"):
            every = summaries.report_parts(reader, w, periods, None, by)
            assert every is not None and (every.details["part"] == FAIL_CAUSE).any()
            for parts in (REPORT_DETAILS, FLEET_DETAILS):
                some = summaries.report_parts(reader, w, periods, None, by, detail_parts=parts)
                assert some is not None
                assert set(some.details["part"]) == set(parts)
                assert only(every.details, parts).equals(only(some.details, parts))
                for s in every.services:  # the services' parts: service_parts
                    got = some.services[s].details
                    assert set(got["part"]) <= set(parts)
                    assert only(every.services[s].details, parts).equals(only(got, parts))


def test_a_failure_recovered_exactly_at_the_window_end_is_open_there(
    db_url: str, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    """The window is [start, end): a recovery at its end midnight is after it, so the failure
    is open at the end and has no time to recover, from the day rows as from the events (the
    day's row had it recovered), for the container and its service."""
    cid, s = "d" * 64, 10**9
    m10, m11 = MAR + 9 * DAY_NS, MAR + 10 * DAY_NS
    events = [
        ("create", MAR + 4 * DAY_NS),
        ("start", MAR + 4 * DAY_NS + 10 * s),
        ("die", m10 + 15 * 3600 * s),
        ("start", m11),  # the recovery, exactly at the 11th's midnight
        ("die", m11 + 12 * 3600 * s),
        ("start", m11 + 13 * 3600 * s),
        ("die", MAR + 20 * DAY_NS),  # the import's coverage reaches past the recoveries
    ]
    _store(db_url, tmp_path, cid, events)
    cases = [
        (w, [*by, *every])
        for w in (("2026-03-08T00:00:00Z", "2026-03-11T00:00:00Z"),
                  ("2026-03-10T00:00:00Z", "2026-03-11T00:00:00Z"),
                  ("2026-03-08T00:00:00Z", "2026-03-12T00:00:00Z"))
        for by in (["--by", "container"], ["--by", "service"], ["--by", "host,service"])
        for every in ([], ["--every", "day"])
    ]  # fmt: skip
    # From the events: open at the 11th's midnight, recovered in a window ending later.
    for i, mttr in ((0, None), (2, None), (12, (9 + 1) * 3600 / 2), (14, (9 + 1) * 3600 / 2)):
        group = _reports(db_url, capsys, False, [cases[i]])[0]["groups"][0]
        assert (group["failures"], group["mttr_s"]) == (1 if mttr is None else 2, mttr), cases[i]
    # And in a period ending there (the period is [start, end) too): the 10th's day has it open.
    for i in (13, 15):
        rows = _reports(db_url, capsys, False, [cases[i]])[0]["breakdown"]
        tenth = [r for r in rows if r["period"]["start"].startswith("2026-03-10")]
        assert [(r["failures"], r["mttr_s"]) for r in tenth] == [(1, None)], cases[i]
    _check(db_url, capsys, cases)
