"""The import's fast path stores exactly what normalize_event makes, in process and in a worker."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import orjson
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from sqlalchemy import Engine, select

from bench.generate import generate_lines
from docktally.collector import importer
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
    attrs(4, exitCode=1.5),
    attrs(5, exitCode=""),
    attrs(6, signal="SIGTERM"),
    attrs(7, signal="kill"),
    attrs(8, signal="15"),
    attrs(9, signal=9),
    attrs(10, signal="NOPE"),
    attrs(11, signal=""),
    attrs(12, **{"com.docker.compose.project": "p", "com.docker.compose.service": "s"}),
    attrs(13, image=""),
    attrs(14, exitCode="99999999999"),
    attrs(15, signal="99999999999"),
    attrs(16, exitCode=2**40),
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
    ev(timeNano=True, time=1_700_000_003),
    ev(Type="network", timeNano=33),
    ev(timeNano=34, scope="local", extra={"nested": [1, 2]}),
    ev(Actor={"ID": CID, "Attributes": {"name": "wéb ✓", "image": "x"}}, timeNano=35),
    ev(Actor={"ID": CID, "Attributes": {"name": "a'b", "image": "x"}}, timeNano=36),
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


def test_worker_reads_a_file_as_bytes_with_line_numbers(store: Engine, tmp_path: Path) -> None:
    lines = recorded_lines()
    path = tmp_path / "ev.jsonl"
    path.write_bytes(b"".join(ln.encode() + b"\r\n" for ln in lines) + b"\n")
    with path.open("rb") as fh, store.begin() as conn:
        r = import_lines(conn, fh, host="h1", chunk_rows=5)
    assert r.read == len(lines)
    assert stored_rows(store) == expected_rows(lines, "h1")


def test_worker_strict_stops_at_the_first_bad_line(store: Engine) -> None:
    good = recorded.lines("kill")
    lines = [*good, *good, "", '{"Type":"container"', *good]
    with pytest.raises(InvalidLine) as err, store.begin() as conn:
        import_lines(conn, lines, host="h1", chunk_rows=3)
    assert err.value.line_no == 2 * len(good) + 2
    assert err.value.reason.startswith("not JSON")
    assert stored_rows(store) == []


def test_worker_skip_invalid_lists_the_bad_lines_in_order(store: Engine) -> None:
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


def test_the_line_loop_in_c_is_built() -> None:
    # setup.py builds it with the package; without it the import still works, 3x slower.
    assert importer._scan is not None, (
        "docktally/collector/_scan.c was not built (pip install -e .)"
    )


def _parse_all(lines: list[Any], loop: Any, monkeypatch: pytest.MonkeyPatch) -> list[Any]:
    monkeypatch.setattr(importer, "_scan", loop)
    refs = importer._Refs("h1", [], 1)
    out = []
    for start in range(0, len(lines), 7):
        chunk = importer.parse_chunk(lines[start : start + 7], start + 1, refs=refs,
                                     skip_invalid=True)  # fmt: skip
        out.append((chunk.table().to_pylist(), chunk.body, chunk.read, chunk.lines,
                    chunk.not_container, chunk.invalid, chunk.new_containers,
                    chunk.changed))  # fmt: skip
    return out


@pytest.mark.parametrize("source", ["odd", "recorded", "generated", "mangled"])
def test_the_c_loop_gives_what_the_python_loop_gives(
    source: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    if source == "odd":
        actions = ["health_status:   ", "exec_start:", ":x", "\x1cdie", " health_status : healthy ",
                   "health_status", "health_status:healthy", "die\u2003", "kill"]  # fmt: skip
        lines: list[Any] = [
            *ODD_LINES,
            "",
            "  ",
            "[1]",
            "null",
            '{"Type":"container"',
            "nope",
            *(ev(Action=a, timeNano=100 + i) for i, a in enumerate(actions)),
        ]
    elif source == "recorded":
        lines = [ln.encode() for ln in recorded_lines()]
    elif source == "generated":
        lines = list(generate_lines(events=2000, containers=30, days=1, network_noise=0.05))
    else:  # bytes, str, CRLF, no final newline, a newline inside, a bytearray
        gen = list(generate_lines(events=40, containers=3, days=1))
        lines = [gen[0] + b"\n", gen[1] + b"\r\n", gen[2].decode(), bytearray(gen[3]),
                 gen[4] + b"\n\n", gen[5], *gen[6:]]  # fmt: skip
    c_loop = importer._scan
    assert c_loop is not None
    want = _parse_all(lines, None, monkeypatch)
    assert _parse_all(lines, c_loop, monkeypatch) == want
    # The same lines as a file's blocks: the loops split them at "\n" themselves.
    data = b"".join(_to_line(ln) for ln in lines)
    want = _parse_blocks(data, None, monkeypatch)
    assert _parse_blocks(data, c_loop, monkeypatch) == want
    assert sum(n for *_, n in want) == data.count(b"\n") + (not data.endswith(b"\n"))


def _to_line(line: Any) -> bytes:
    data = line.encode() if isinstance(line, str) else bytes(line)
    return data if data.endswith(b"\n") else data + b"\n"


def _parse_blocks(data: bytes, loop: Any, monkeypatch: pytest.MonkeyPatch) -> list[Any]:
    """`data` cut into blocks of whole lines of ~300 bytes, each parsed as one chunk."""
    monkeypatch.setattr(importer, "_scan", loop)
    refs = importer._Refs("h1", [], 1)
    out, line_no, at = [], 1, 0
    while at < len(data):
        end = data.find(b"\n", at + 300)
        end = len(data) if end < 0 else end + 1
        chunk = importer.parse_chunk(data[at:end], line_no, refs=refs, skip_invalid=True)
        out.append((chunk.table().to_pylist(), chunk.body, chunk.read, chunk.not_container,
                    chunk.invalid, chunk.new_containers, chunk.changed, chunk.lines))  # fmt: skip
        line_no += chunk.lines
        at = end
    return out


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


_BASE = list(generate_lines(events=60, containers=4, days=1))
_BYTES = [b'"', b"\\", b"{", b"}", b"[", b"]", b",", b":", b"0", b"9", b"-", b".", b"e", b" ",
          b"\t", b"\x00", b"\x1f", b"\x7f", "é".encode(), b"\xff", b"null", b"1e3", b"\\u0041",
          b'"x"', b'"Action":"die",', b'"timeNano":1,', b'"ID":"x",', b'"name":"n",']  # fmt: skip


@settings(max_examples=300, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(
    st.lists(
        st.tuples(
            st.integers(0, len(_BASE) - 1),
            st.lists(st.tuples(st.floats(0, 1), st.sampled_from(_BYTES), st.booleans()),
                     min_size=1, max_size=3),
        ),
        min_size=1,
        max_size=6,
    )
)  # fmt: skip
def test_mangled_lines_read_by_the_c_scanner_are_what_orjson_reads(
    edits: list[tuple[int, list[tuple[float, bytes, bool]]]],
) -> None:
    # The C loop reads plain lines itself, without orjson; whatever it accepts must come out
    # as the Python loop (orjson) reads it, and whatever it refuses must get orjson's verdict.
    lines = []
    for index, changes in edits:
        line = _BASE[index]
        for where, piece, insert in changes:
            at = int(where * len(line))
            line = line[:at] + piece + line[at + (0 if insert else len(piece)) :]
        lines.append(line)
    c_loop = importer._scan
    assert c_loop is not None
    with pytest.MonkeyPatch.context() as mp:
        want = _parse_all(lines, None, mp)
        assert _parse_all(lines, c_loop, mp) == want
