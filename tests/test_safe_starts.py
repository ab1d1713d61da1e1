"""Starting together: concurrent first starts on an empty database all succeed; a database from a
newer docktally and a migration lock that never frees are one line each."""

from __future__ import annotations

import subprocess
import sys
import time
from pathlib import Path

import pytest
from sqlalchemy import text

from docktally.cli import main
from docktally.errors import StoreError
from docktally.store import db

ROOT = Path(__file__).parent.parent

# Each process imports everything first and then waits for a shared start time, so that the
# migrations themselves overlap (the imports take longer than a migration on an empty file).
STARTER = """
import sys, time
import alembic.command, docktally.cli.db
from docktally.cli import main
from docktally.store import db
start, how, url = float(sys.argv[1]), sys.argv[2], sys.argv[3]
time.sleep(max(0.0, start - time.time()))
if how == "cli":
    sys.exit(main(["db", "upgrade", "--db", url]))
db.connect(url).dispose()  # what `docktally collect` does first
"""


@pytest.mark.parametrize("how", ["cli", "connect"])
def test_concurrent_first_starts_on_an_empty_database_all_succeed(db_url: str, how: str) -> None:
    n = 4
    start = time.time() + 4.0
    procs = [
        subprocess.Popen(
            [sys.executable, "-c", STARTER, str(start), how, db_url],
            cwd=ROOT,
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
            text=True,
        )
        for _ in range(n)
    ]
    results = [(p.wait(120), *p.communicate()) for p in procs]
    for code, _out, err in results:
        assert code == 0, err
        assert "Traceback" not in err
    eng = db.connect(db_url, migrate=False)
    try:
        assert db.is_at_head(eng)
    finally:
        eng.dispose()


def _make_newer(db_url: str) -> None:
    eng = db.connect(db_url)
    with eng.begin() as conn:
        conn.execute(text("UPDATE alembic_version SET version_num = '0099'"))
    eng.dispose()


@pytest.mark.parametrize(
    "argv",
    [["db", "upgrade"], ["events"], ["report", "--since", "1d"], ["incidents"]],
)
def test_a_newer_database_is_one_line_naming_both_versions(
    db_url: str, argv: list[str], capsys: pytest.CaptureFixture[str]
) -> None:
    _make_newer(db_url)
    code = main([*argv, "--db", db_url])
    out, err = capsys.readouterr()
    assert code == 1
    assert out == ""
    assert err.count("\n") == 1, err
    assert "schema version 0099" in err and f"this docktally's {db.HEAD_REVISION}" in err


def test_a_migration_lock_held_too_long_is_one_line(
    db_url: str, capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    holder = db.connect(db_url, migrate=False)
    monkeypatch.setattr(db, "MIGRATION_LOCK_TIMEOUT_S", 0.5)
    try:
        with db.migration_lock(holder):
            code = main(["db", "upgrade", "--db", db_url])
            out, err = capsys.readouterr()
            with pytest.raises(StoreError, match="another docktally has been migrating it"):
                db.upgrade(db.connect(db_url, migrate=False))
    finally:
        holder.dispose()
    assert code == 1 and out == ""
    assert err.count("\n") == 1 and "another docktally has been migrating it" in err
    # Once it is free, the same command brings the database to head.
    assert main(["db", "upgrade", "--db", db_url]) == 0
