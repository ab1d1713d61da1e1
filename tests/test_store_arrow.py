"""store.arrow.open_at_head: a SQLite store at head is read without SQLAlchemy; anything else is
left to store.db, which migrates it or says what is wrong."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

from sqlalchemy import text

from docktally.store import arrow, db

ROOT = Path(__file__).parent.parent

REPORT = """
import sys
from docktally.cli import main
code = main(["report", "--db", sys.argv[1], "--since", "2026-01-01", "--until", "2026-01-02",
             "--format", "json", "--out", sys.argv[2]])
print(code, sorted(m for m in sys.modules if m.split(".")[0] in ("sqlalchemy", "alembic")))
"""


def test_a_store_at_head_is_opened_and_read(tmp_path: Path) -> None:
    path = tmp_path / "d.db"
    db.connect(str(path)).dispose()
    reader = arrow.open_at_head(str(path))
    assert reader is not None
    with reader:
        assert reader.table("SELECT count(*) AS n FROM events").column(0).to_pylist() == [0]


def test_anything_else_is_left_to_store_db(tmp_path: Path) -> None:
    old = tmp_path / "old.db"
    eng = db.connect(str(old))
    with eng.begin() as conn:
        conn.execute(text("UPDATE alembic_version SET version_num = '0001'"))
    eng.dispose()
    garbage = tmp_path / "garbage.db"
    garbage.write_bytes(b"not a database, not even close" * 100)
    for url in (
        str(old),  # not at head: store.db migrates it
        str(tmp_path / "missing.db"),  # store.db says it does not exist
        str(garbage),
        str(tmp_path),  # a directory
        "postgresql://nobody@127.0.0.1:1/none",
        f"sqlite:///{old}?mode=ro",
    ):
        assert arrow.open_at_head(url) is None, url


def test_a_report_on_a_store_at_head_loads_no_sqlalchemy(tmp_path: Path) -> None:
    path = tmp_path / "d.db"
    db.connect(str(path)).dispose()
    done = subprocess.run(
        [sys.executable, "-c", REPORT, str(path), str(tmp_path / "r.json")],
        capture_output=True,
        text=True,
        cwd=ROOT,
        check=True,
    )
    assert done.stdout.split("\n")[0] == "0 []", done.stdout + done.stderr
    assert (tmp_path / "r.json").exists()
