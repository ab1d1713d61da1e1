"""The store: migrations at head, the schema matches them, the SQLite file is private."""

from __future__ import annotations

import os
import stat
from pathlib import Path

import pytest
from alembic import command
from sqlalchemy import Engine, inspect

from docktally.errors import StoreError, UsageError
from docktally.store import db


def test_migrated_store_has_every_table(store: Engine) -> None:
    names = set(inspect(store).get_table_names())
    assert {
        "events",
        "container_facts",
        "coverage",
        "checkpoints",
        "gaps",
        "log_tails",
        "health_probes",
        "maintenance",
        "runs",
        "alembic_version",
    } <= names
    assert db.is_at_head(store)


def test_alembic_check_finds_no_drift(store: Engine) -> None:
    # Raises if the tables in schema.py differ from what the migrations build.
    command.check(db.alembic_config(store))


def test_sqlite_file_is_created_owner_only(tmp_path: Path) -> None:
    path = tmp_path / "sub" / "d.db"
    eng = db.connect(str(path))
    with eng.begin() as conn:
        conn.exec_driver_sql("CREATE TABLE t (x)")
    eng.dispose()
    assert stat.S_IMODE(os.stat(path).st_mode) == 0o600
    assert stat.S_IMODE(os.stat(path.parent).st_mode) == 0o700


def test_sqlite_runs_in_wal_mode(tmp_path: Path) -> None:
    eng = db.connect(str(tmp_path / "w.db"))
    with eng.connect() as conn:
        assert conn.exec_driver_sql("PRAGMA journal_mode").scalar() == "wal"
        assert conn.exec_driver_sql("PRAGMA busy_timeout").scalar() == 10000
        assert conn.exec_driver_sql("PRAGMA page_size").scalar() == 16384


def test_older_database_is_brought_to_head_by_connect(tmp_path: Path) -> None:
    url = f"sqlite:///{tmp_path / 'old.db'}"
    eng = db.connect(url, migrate=False)
    assert not db.is_at_head(eng)
    eng.dispose()
    eng = db.connect(url)
    assert db.is_at_head(eng)


@pytest.mark.parametrize(
    ("url", "message"),
    [
        ("mysql://u@h/db", "is not supported"),
        ("sqlite://", "in-memory"),
        ("not a url://", "not a database URL"),
    ],
)
def test_bad_db_url_is_one_clear_line(url: str, message: str) -> None:
    with pytest.raises(UsageError, match=message) as err:
        db.connect(url)
    assert "\n" not in str(err.value)


def test_unwritable_database_is_a_store_error(tmp_path: Path) -> None:
    # A file where the folder should be: not writable even for root.
    blocker = tmp_path / "blocker"
    blocker.write_text("")
    with pytest.raises(StoreError, match="not writable") as err:
        db.connect(str(blocker / "x.db"))
    assert "\n" not in str(err.value)
