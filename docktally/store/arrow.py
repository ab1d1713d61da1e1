"""Where the store is, and the Arrow (ADBC) connection every analysis read goes through.

No SQLAlchemy here: a report on a SQLite store at head opens it with `open_at_head` and
imports none of it (0.68G instructions, ~5% of a 1M-event report); store.db opens, checks and
migrates the store with SQLAlchemy and Alembic for everything else.
"""

from __future__ import annotations

import os
from pathlib import Path
from typing import Any, Protocol
from urllib.parse import quote

ENV_DB = "DOCKTALLY_DB"

# The newest migration's revision. Checked against Alembic's own idea of the head by a test;
# comparing it with the database's alembic_version costs one query, where loading Alembic to
# ask costs half a second of every command's start.
HEAD_REVISION = "0011"


def default_db_path(env: dict[str, str] | None = None) -> Path:
    """The embedded default: $XDG_DATA_HOME/docktally/docktally.db (~/.local/share/...)."""
    env = dict(os.environ) if env is None else env
    base = env.get("XDG_DATA_HOME") or str(Path(env.get("HOME", "~")).expanduser() / ".local/share")
    return Path(base) / "docktally" / "docktally.db"


def resolve_db_url(url: str | None, env: dict[str, str] | None = None) -> str:
    """--db, else $DOCKTALLY_DB, else the SQLite file in the user's data directory.

    A bare path is taken as a SQLite file; `postgresql://` means psycopg 3.
    """
    env = dict(os.environ) if env is None else env
    url = url or env.get(ENV_DB) or ""
    if not url:
        return f"sqlite:///{default_db_path(env)}"
    if "://" not in url:
        return f"sqlite:///{Path(url).expanduser().absolute()}"
    if url.startswith(("postgresql://", "postgres://")):
        return "postgresql+psycopg://" + url.split("://", 1)[1]
    return url


class Reader(Protocol):
    """What store.reads queries through: SQL in, a pyarrow.Table out."""

    sqlite: bool

    def table(self, sql: str, params: tuple[Any, ...] = ()) -> Any: ...


class ArrowReader:
    """A read-only ADBC connection: queries come back as Arrow tables, column by column in C,
    on SQLite (adbc-driver-sqlite) and PostgreSQL (adbc-driver-postgresql, binary COPY) alike.

    adbc-driver-sqlite carries its own copy of SQLite, and two copies with one file open in
    one process drop each other's POSIX locks when either closes it: `open_reader` disposes
    the SQLAlchemy engine before opening this, and every read of the reading commands and the
    dashboard goes through this connection.
    """

    # Rows per Arrow batch on SQLite (the driver's default is 1,024): the driver types each
    # column from its first batch, so small tables are read in one (a column NULL in the
    # first rows and text later would fail), and big reads pay the per-batch cost less often.
    BATCH_ROWS = 1 << 20

    def __init__(self, con: Any, sqlite: bool) -> None:
        self._con = con
        self.sqlite = sqlite

    def table(self, sql: str, params: tuple[Any, ...] = ()) -> Any:
        """The rows of `sql` (parameters `$1`, `$2`, ...: both drivers take them) as a
        pyarrow.Table."""
        with self._con.cursor() as cur:
            if self.sqlite:
                cur.adbc_statement.set_options(
                    **{"adbc.sqlite.query.batch_rows": str(self.BATCH_ROWS)}
                )
            cur.execute(sql, params or None)
            return cur.fetch_arrow_table()

    def close(self) -> None:
        self._con.close()

    def __enter__(self) -> ArrowReader:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()


def sqlite_reader(path: Path) -> ArrowReader:
    """An ArrowReader of the SQLite file at `path`, read-only."""
    import adbc_driver_sqlite.dbapi

    uri = "file:" + quote(str(path.expanduser().resolve())) + "?mode=ro"
    # Autocommit: a connection kept open (the dashboard's) must not hold a read transaction,
    # which would pin the WAL and hide newer events.
    return ArrowReader(adbc_driver_sqlite.dbapi.connect(uri, autocommit=True), True)


def open_at_head(url: str | None) -> ArrowReader | None:
    """A reader of the SQLite file `url` (as --db takes it) when the file exists and its schema
    is at head; else None, and store.db opens the store, migrating it or saying in one line
    what is wrong."""
    resolved = resolve_db_url(url)
    if not resolved.startswith("sqlite:////") or "?" in resolved:
        return None  # only the form resolve_db_url writes for a path: sqlite:/// + absolute
    path = Path(resolved[len("sqlite:///") :])
    if not path.is_file():
        return None
    try:
        reader = sqlite_reader(path)
    except Exception:  # the driver's own errors: store.db says what they mean
        return None
    try:
        versions = reader.table("SELECT version_num FROM alembic_version").column(0).to_pylist()
    except Exception:
        versions = []
    if versions != [HEAD_REVISION]:
        reader.close()
        return None
    return reader
