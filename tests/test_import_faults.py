"""The import under hostile input and faults (issue #16): every error one line, nothing half
written, bounded memory and output, text stored safely on SQLite and PostgreSQL, and a killed
import that leaves no process and no lock behind."""

from __future__ import annotations

import json
import os
import signal
import sqlite3
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path

import pytest
from sqlalchemy import Engine, func, select, text

from bench.generate import write_file
from docktally.cli import main
from docktally.collector.importer import LISTED_INVALID, InvalidLine, import_lines
from docktally.store import db, reads, writes
from docktally.store.schema import containers, events, log_tails
from tests.data import recorded

CID = "d" * 64
DOCKTALLY = [sys.executable, "-c", "from docktally.cli import entry; entry()"]
# The command, printing its own peak RSS (KiB) on stdout when it ends.
MEASURED = [
    sys.executable,
    "-c",
    "import resource, sys; from docktally.cli import main; code = main(sys.argv[1:]); "
    "print(resource.getrusage(resource.RUSAGE_SELF).ru_maxrss); sys.exit(code)",
]


def line(n: int = 0, **attrs: str) -> str:
    return json.dumps(
        {
            "Type": "container",
            "Action": "start",
            "Actor": {"ID": CID, "Attributes": {"name": "web", "image": "nginx", **attrs}},
            "timeNano": 1_700_000_000_000_000_000 + n,
        },
        separators=(",", ":"),
    )


def count(eng: Engine) -> int:
    with eng.connect() as conn:
        return int(conn.execute(select(func.count()).select_from(events)).scalar_one())


def test_nul_characters_are_stored_safely(store: Engine) -> None:
    """PostgreSQL's text holds no NUL: names and labels keep the rest, the raw line all of it."""
    lines = [line(1, name="we\u0000b", **{"com.docker.compose.project": "p\u0000"})]
    with store.begin() as conn:
        r = import_lines(conn, lines, host="h")
        writes.save_log_tail(conn, host="h", container_id=CID, time_ns=1, captured_ns=2,
                             lines="boot\x00ed\n", truncated=False)  # fmt: skip
    assert r.new == 1
    with store.connect() as conn:
        name, project = conn.execute(select(containers.c.name, containers.c.compose_project)).one()
        tail = conn.execute(select(log_tails.c.lines)).scalar_one()
        (event_id,) = conn.execute(select(events.c.id)).one()
        raw = reads.load_raw(conn, [event_id])[event_id]
    assert (name, project, tail) == ("we\ufffdb", "p\ufffd", "boot\ufffded\n")
    assert raw == lines[0] and "\\u0000" in raw


def test_long_names_and_labels_are_capped_when_stored(store: Engine) -> None:
    long = "n" * 100_000
    lines = [line(1, name=long, image="i" * 5000, **{"com.docker.compose.service": long})]
    with store.begin() as conn:
        import_lines(conn, lines, host="h")
    with store.connect() as conn:
        name, image, service = conn.execute(
            select(containers.c.name, containers.c.image, containers.c.compose_service)
        ).one()
        (event_id,) = conn.execute(select(events.c.id)).one()
        raw = reads.load_raw(conn, [event_id])[event_id]
    assert (len(name), len(image), len(service)) == (255, 512, 255)
    assert name == long[:255] and raw == lines[0]


def test_skip_invalid_on_a_million_bad_lines_keeps_memory_and_output_bounded(
    tmp_path: Path,
) -> None:
    bad = tmp_path / "bad.jsonl"
    bad.write_bytes(b'{"Type":"container","Action":5}\n' * 1_000_000)
    good = tmp_path / "good.jsonl"
    good.write_text("".join(ln + "\n" for ln in recorded.lines("kill")))
    dbfile = tmp_path / "d.db"

    def run(path: Path) -> tuple[str, int]:
        """The command's stderr, and its peak RSS (KiB) as it measures it itself."""
        done = subprocess.run(
            [*MEASURED, "import", str(path), "--db", str(dbfile), "--skip-invalid"],
            capture_output=True,
            text=True,
            check=True,
        )
        return done.stderr, int(done.stdout)

    err, peak_kib = run(bad)
    lines = err.splitlines()
    assert len(lines) == LISTED_INVALID + 2
    assert lines[0].startswith(f"{bad}:1: skipped: wrong JSON type")
    assert lines[-2] == f"{bad}: {1_000_000 - LISTED_INVALID:,} more invalid lines skipped " \
                        "(not listed)"  # fmt: skip
    assert "1,000,000 invalid" in lines[-1]
    # The same command on a few good lines, for scale: a million bad ones add no list of them
    # (the whole list took ~580 MB).
    _, good_peak_kib = run(good)
    assert peak_kib < good_peak_kib + 64 * 1024


@pytest.mark.parametrize("skip_invalid", [False, True])
def test_wrong_json_types_through_the_command(
    tmp_path: Path, skip_invalid: bool, capsys: pytest.CaptureFixture[str]
) -> None:
    f = tmp_path / "t.jsonl"
    good = recorded.lines("kill")
    f.write_text("".join(ln + "\n" for ln in [*good, line(9).replace('"web"', "[1]")]))
    url = f"sqlite:///{tmp_path / 'd.db'}"
    args = ["import", str(f), "--db", url, *(["--skip-invalid"] if skip_invalid else [])]
    assert main(args) == (0 if skip_invalid else 2)
    err = capsys.readouterr().err
    where = f"{f}:{len(good) + 1}:"
    assert where in err and "got `array` - at `$.Actor.Attributes.name`" in err
    assert "Traceback" not in err
    eng = db.connect(url)
    assert count(eng) == (sum('"Type":"container"' in ln for ln in good) if skip_invalid else 0)
    eng.dispose()


def test_a_locked_database_is_one_line_and_writes_nothing(tmp_path: Path) -> None:
    dbfile = tmp_path / "d.db"
    db.connect(str(dbfile)).dispose()
    f = tmp_path / "e.jsonl"
    f.write_text("".join(ln + "\n" for ln in recorded.lines("kill")))
    holder = sqlite3.connect(dbfile)
    holder.execute("BEGIN EXCLUSIVE")
    try:
        done = subprocess.run([*DOCKTALLY, "import", str(f), "--db", str(dbfile)],
                              capture_output=True, text=True)  # fmt: skip
    finally:
        holder.rollback()
        holder.close()
    assert done.returncode == 1
    assert done.stderr.count("\n") == 1, done.stderr
    assert "could not write to the database (database is locked); nothing was imported" in (
        done.stderr
    )
    eng = db.connect(str(dbfile))
    assert count(eng) == 0
    eng.dispose()


@pytest.fixture
def small_disk(tmp_path: Path) -> Iterator[Path]:
    """A real 3 MiB filesystem (tmpfs: the tests run as root, as CI does)."""
    mnt = tmp_path / "disk"
    mnt.mkdir()
    subprocess.run(["mount", "-t", "tmpfs", "-o", "size=3m", "tmpfs", str(mnt)], check=True)
    try:
        yield mnt
    finally:
        subprocess.run(["umount", "-l", str(mnt)], check=True)


def test_a_full_disk_is_one_line_and_writes_nothing(small_disk: Path, tmp_path: Path) -> None:
    dbfile = small_disk / "d.db"
    db.connect(str(dbfile)).dispose()
    src = tmp_path / "big.jsonl"
    write_file(src, events=40_000, containers=200, days=1)
    done = subprocess.run([*DOCKTALLY, "import", str(src), "--db", str(dbfile)],
                          capture_output=True, text=True)  # fmt: skip
    assert done.returncode == 1
    assert done.stderr.count("\n") == 1, done.stderr
    assert "(database or disk is full); nothing was imported" in done.stderr
    eng = db.connect(str(dbfile))
    assert count(eng) == 0
    eng.dispose()


@pytest.fixture(scope="module")
def large_file(tmp_path_factory: pytest.TempPathFactory) -> Path:
    path = tmp_path_factory.mktemp("large") / "large.jsonl"
    write_file(path, events=200_000, containers=2000, days=7)
    return path


def _group_alive(pgid: int) -> list[int]:
    """Processes still in process group `pgid`."""
    alive = []
    for entry in Path("/proc").iterdir():
        if not entry.name.isdigit():
            continue
        try:
            stat = (entry / "stat").read_text()
        except OSError:
            continue
        fields = stat.rsplit(")", 1)[1].split()
        if int(fields[2]) == pgid and fields[0] != "Z":
            alive.append(int(entry.name))
    return alive


@pytest.mark.parametrize("sig", [signal.SIGKILL, signal.SIGTERM])
def test_a_killed_import_leaves_no_process_no_lock_and_nothing_written(
    sig: signal.Signals, large_file: Path, tmp_path: Path
) -> None:
    dbfile = tmp_path / "d.db"
    db.connect(str(dbfile)).dispose()
    wal = Path(f"{dbfile}-wal")
    proc = subprocess.Popen([*DOCKTALLY, "import", str(large_file), "--db", str(dbfile)],
                            stderr=subprocess.DEVNULL, start_new_session=True)  # fmt: skip
    try:
        # Killed mid-import: once chunks are in the write-ahead log, before the commit.
        while proc.poll() is None and not (wal.exists() and wal.stat().st_size > 4 << 20):
            time.sleep(0.02)
        assert proc.poll() is None, "the import ended before it could be killed"
        os.kill(proc.pid, sig)
        assert proc.wait(30) == -sig
    finally:
        if proc.poll() is None:
            proc.kill()
    assert _group_alive(proc.pid) == []
    # At once: the next import neither waits for a lock nor finds a half chunk.
    small = tmp_path / "small.jsonl"
    small.write_text("".join(ln + "\n" for ln in recorded.lines("kill")))
    done = subprocess.run([*DOCKTALLY, "import", str(small), "--db", str(dbfile)],
                          capture_output=True, text=True, timeout=60)  # fmt: skip
    assert done.returncode == 0, done.stderr
    eng = db.connect(str(dbfile))
    with eng.connect() as conn:
        raw_rows = conn.execute(text("SELECT count(*), sum(lines) FROM raw_chunks")).one()
        cov = conn.execute(text("SELECT count(*) FROM coverage")).scalar_one()
    n = sum('"Type":"container"' in ln for ln in recorded.lines("kill"))
    assert count(eng) == n and tuple(raw_rows) == (1, n) and cov == 1
    eng.dispose()


def test_a_line_that_is_not_utf8_is_a_line_error_in_a_file(store: Engine, tmp_path: Path) -> None:
    # msgspec checks the strings it reads, not those of the fields it skips: the import checks
    # each block (and then each line of a block that fails) itself.
    good = [ln.encode() for ln in recorded.lines("kill")]
    bad = line(5).encode().replace(b'"start"', b'"start","scope":"\xff"')
    path = tmp_path / "mixed.jsonl"
    path.write_bytes(b"\n".join([*good, bad, *good]) + b"\n")
    with pytest.raises(InvalidLine) as err, path.open("rb") as fh, store.begin() as conn:
        import_lines(conn, fh, host="h")
    assert (err.value.line_no, err.value.reason) == (len(good) + 1, "not UTF-8 text (byte 46)")
    assert count(store) == 0
    with path.open("rb") as fh, store.begin() as conn:
        r = import_lines(conn, fh, host="h", skip_invalid=True)
    assert [e.line_no for e in r.invalid] == [len(good) + 1]
    assert r.new == count(store) == sum(b'"Type":"container"' in ln for ln in good)
