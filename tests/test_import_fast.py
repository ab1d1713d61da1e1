"""The import stores exactly what normalize_event makes of each line, as the collector would."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import orjson
import pytest
from sqlalchemy import Engine, select

from bench.generate import generate_lines
from docktally.collector.importer import SOURCE, InvalidLine, import_lines
from docktally.collector.normalize import normalize_event
from docktally.store import reads
from docktally.store.writes import CONTAINER_FIELDS
from tests.data import recorded

# Per event: these columns, and the raw line; per container: CONTAINER_FIELDS.
EVENT_COLUMNS = ["host", "container_id", "time_ns", "action", "kind", "exit_code", "signal",
                 "health", "inferred", "cause_hint", "evidence", "source"]  # fmt: skip
KEY = ("host", "container_id", "time_ns", "action")

CID = "c" * 64


def ev(**fields: Any) -> str:
    base: dict[str, Any] = {
        "Type": "container",
        "Action": "die",
        "Actor": {"ID": CID, "Attributes": {"name": "web", "image": "nginx"}},
        "timeNano": 1_700_000_000_000_000_000,
    }
    base.update(fields)
    return json.dumps(base, separators=(",", ":"))


def attrs(n: int, **extra: Any) -> str:
    return ev(
        Actor={"ID": CID, "Attributes": {"name": "web", **extra}},
        timeNano=1_700_000_000_000_000_000 + n,
    )


# Payloads off the common shape: each must come out as normalize_event makes it.
ODD_LINES = [
    attrs(1, exitCode="137"),
    attrs(2, exitCode=" 3 "),
    attrs(3, exitCode="x"),
    attrs(5, exitCode=""),
    attrs(6, signal="SIGTERM"),
    attrs(7, signal="kill"),
    attrs(8, signal="15"),
    attrs(10, signal="NOPE"),
    attrs(11, signal=""),
    attrs(12, **{"com.docker.compose.project": "p", "com.docker.compose.service": "s"}),
    attrs(13, image=""),
    attrs(14, exitCode="99999999999"),
    attrs(15, signal="99999999999"),
    attrs(17, exitCode="-2147483648", signal="255"),
    ev(Action="health_status: healthy", timeNano=21),
    ev(Action="health_status:unhealthy", timeNano=22),
    ev(Action="health_status", timeNano=23),
    ev(Action="exec_start: sh -c true", timeNano=24),
    ev(Action=" kill : x", timeNano=25),
    ev(Type=None, timeNano=26),
    json.dumps({"status": "start", "id": CID, "time": 1_700_000_001}),
    json.dumps({"status": "stop", "id": CID, "timeNano": 27, "from": "busybox"}),
    ev(Actor={"ID": CID}, timeNano=28),
    ev(Actor={"ID": CID, "Attributes": {}}, timeNano=29, **{"from": "alpine"}),
    ev(Actor={"ID": "", "Attributes": {}}, id=CID, timeNano=30),
    ev(Action="", status="pause", timeNano=31),
    ev(timeNano=32.0, time=1_700_000_002),
    ev(Type="network", timeNano=33),
    ev(timeNano=34, scope="local", extra={"nested": [1, 2]}),
    ev(Actor={"ID": CID, "Attributes": {"name": "wéb ✓", "image": "x"}}, timeNano=35),
    ev(Actor={"ID": CID, "Attributes": {"name": "a'b", "image": "x"}}, timeNano=36),
]


# Fields of a JSON type the engine never sends: each a line error (issue #16), never a crash.
WRONG_TYPES = [
    attrs(4, exitCode=1.5),
    attrs(9, signal=9),
    attrs(16, exitCode=2**40),
    ev(timeNano=True, time=1_700_000_003),
    attrs(40, name=5),
    ev(Actor={"ID": CID, "Attributes": {"name": {"a": 1}}}, timeNano=41),
    ev(Actor={"ID": CID, "Attributes": {"com.docker.compose.service": ["web"]}}, timeNano=42),
    ev(Actor={"ID": CID, "Attributes": {"image": None}}, timeNano=43),
    ev(Actor={"ID": 7}, timeNano=44),
    ev(Action=["die"], timeNano=45),
    ev(Actor=[], timeNano=46),
    ev(timeNano="1"),
]


def expected_rows(lines: list[str], host: str) -> list[dict[str, Any]]:
    """What normalize_event makes of each container event (the first of a natural key wins),
    as stored: the event's own columns and raw line, and its container's descriptors, which
    are those of the newest event that gives any."""
    rows: dict[tuple[Any, ...], dict[str, Any]] = {}
    desc: dict[tuple[str, str], tuple[dict[str, Any], int]] = {}
    for line in lines:
        if not line.strip():
            continue
        row = normalize_event(orjson.loads(line), host=host, source=SOURCE, raw=line)
        if row is None:
            continue
        rows.setdefault(tuple(row[k] for k in KEY), row)
        ckey = (row["host"], row["container_id"])
        known, seen = desc.get(ckey, (dict.fromkeys(CONTAINER_FIELDS), -1))
        given = {f: row[f] for f in CONTAINER_FIELDS}
        if any(v is not None for v in given.values()) and row["time_ns"] >= seen:
            desc[ckey] = (given, row["time_ns"])
        else:
            desc.setdefault(ckey, (known, seen))
    out = []
    for key in sorted(rows):
        row = rows[key]
        ckey = (row["host"], row["container_id"])
        want = {c: row[c] for c in EVENT_COLUMNS}
        want.update(desc[ckey][0])
        want["raw"] = row["raw"].replace("\n", " ")
        out.append(want)
    return out


def stored_rows(store: Engine) -> list[dict[str, Any]]:
    ev = reads.events_view()
    cols = [*EVENT_COLUMNS, *CONTAINER_FIELDS]
    with store.connect() as conn:
        found = conn.execute(
            select(ev.c.id, *[ev.c[c] for c in cols]).order_by(*[ev.c[k] for k in KEY])
        ).mappings()
        rows = [dict(r) for r in found]
        raw = reads.load_raw(conn, [r["id"] for r in rows])
    for r in rows:
        r["raw"] = raw.get(r.pop("id"))
    return rows


def recorded_lines() -> list[str]:
    return [ln for name in recorded.SCENARIOS for ln in recorded.lines(name)]


def test_recorded_payloads_are_stored_as_normalize_event_makes_them(store: Engine) -> None:
    lines = recorded_lines()
    with store.begin() as conn:
        import_lines(conn, lines, host="h1")
    assert stored_rows(store) == expected_rows(lines, "h1")


def test_odd_payloads_are_stored_as_normalize_event_makes_them(store: Engine) -> None:
    with store.begin() as conn:
        r = import_lines(conn, ODD_LINES, host="h1", chunk_rows=7)
    want = expected_rows(ODD_LINES, "h1")
    assert r.new == len(want)
    assert stored_rows(store) == want


def test_generated_lines_are_stored_as_normalize_event_makes_them(store: Engine) -> None:
    lines = [
        b.decode() for b in generate_lines(events=3000, containers=40, days=2, network_noise=0.05)
    ]
    with store.begin() as conn:
        r = import_lines(conn, lines, host="gen", chunk_rows=500)
    want = expected_rows(lines, "gen")
    assert r.new == len(want) and r.not_container > 0
    assert stored_rows(store) == want


def test_a_file_is_read_as_bytes_with_line_numbers(store: Engine, tmp_path: Path) -> None:
    lines = recorded_lines()
    path = tmp_path / "ev.jsonl"
    path.write_bytes(b"".join(ln.encode() + b"\r\n" for ln in lines) + b"\n")
    with path.open("rb") as fh, store.begin() as conn:
        r = import_lines(conn, fh, host="h1", chunk_rows=5)
    assert r.read == len(lines)
    assert stored_rows(store) == expected_rows(lines, "h1")


def test_strict_stops_at_the_first_bad_line(store: Engine) -> None:
    good = recorded.lines("kill")
    lines = [*good, *good, "", '{"Type":"container"', *good]
    with pytest.raises(InvalidLine) as err, store.begin() as conn:
        import_lines(conn, lines, host="h1", chunk_rows=3)
    assert err.value.line_no == 2 * len(good) + 2
    assert err.value.reason.startswith("not JSON")
    assert stored_rows(store) == []


def test_skip_invalid_lists_the_bad_lines_in_order(store: Engine) -> None:
    good = recorded.lines("kill")
    lines = ["[1]", *good, '{"Type":"container","Action":"die"}', "", "nope"]
    with store.begin() as conn:
        r = import_lines(conn, lines, host="h1", skip_invalid=True, chunk_rows=2)
    assert [(e.line_no, e.reason.split(" (")[0]) for e in r.invalid] == [
        (1, "not a JSON object"),
        (len(good) + 2, "no container id"),
        (len(good) + 4, "not JSON"),
    ]
    assert stored_rows(store) == expected_rows(good, "h1")


def test_a_file_is_read_in_blocks_with_its_line_numbers(store: Engine, tmp_path: Path) -> None:
    good = [ln.encode() for ln in recorded.lines("kill")]
    path = tmp_path / "ev.jsonl"
    path.write_bytes(b"\n".join([*good, b"", b"  ", b'{"Type":"container"', *good]))
    with pytest.raises(InvalidLine) as err, path.open("rb") as fh, store.begin() as conn:
        import_lines(conn, fh, host="h1")
    assert err.value.line_no == len(good) + 3
    assert stored_rows(store) == []
    with path.open("rb") as fh, store.begin() as conn:
        r = import_lines(conn, fh, host="h1", skip_invalid=True)
    assert [e.line_no for e in r.invalid] == [len(good) + 3]
    assert r.read == 2 * len(good) + 1  # blank lines are not read
    assert stored_rows(store) == expected_rows([ln.decode() for ln in good], "h1")


def test_fields_of_the_wrong_json_type_are_line_errors(store: Engine) -> None:
    good = recorded.lines("kill")
    lines = [*good, *WRONG_TYPES]
    with pytest.raises(InvalidLine) as err, store.begin() as conn:
        import_lines(conn, lines, host="h1")
    assert err.value.line_no == len(good) + 1
    assert stored_rows(store) == []
    with store.begin() as conn:
        r = import_lines(conn, lines, host="h1", skip_invalid=True)
    assert [e.line_no for e in r.invalid] == list(range(len(good) + 1, len(lines) + 1))
    assert r.invalid_count == len(WRONG_TYPES)
    assert all(e.reason.startswith("wrong JSON type: expected `") for e in r.invalid)
    assert stored_rows(store) == expected_rows(good, "h1")
