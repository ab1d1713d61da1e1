"""Opening the database: URL checks, the SQLite file's mode and pragmas, migration to head,
and the Arrow (ADBC) connection the analysis reads go through (store.arrow)."""

from __future__ import annotations

import contextlib
import os
import re
import sqlite3
import sys
import threading
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any
from urllib.parse import quote, unquote

from sqlalchemy import Connection, Engine, create_engine, event, inspect, text
from sqlalchemy.engine import make_url
from sqlalchemy.exc import ArgumentError, OperationalError, SQLAlchemyError

from docktally.errors import StoreError, UsageError
from docktally.masking import url_without_password

# Where the store is and the Arrow reader live in store.arrow, which imports no SQLAlchemy;
# named here too for the callers that open the store through this module.
from docktally.store.arrow import ENV_DB as ENV_DB
from docktally.store.arrow import HEAD_REVISION as HEAD_REVISION
from docktally.store.arrow import ArrowReader as ArrowReader
from docktally.store.arrow import Reader as Reader
from docktally.store.arrow import default_db_path as default_db_path
from docktally.store.arrow import resolve_db_url as resolve_db_url
from docktally.store.arrow import sqlite_reader


def _check_url(url: str) -> Any:
    try:
        parsed = make_url(url)
    except ArgumentError:
        raise UsageError(
            f"--db: {url_without_password(url)!r} is not a database URL "
            "(sqlite:///PATH or postgresql://...)"
        ) from None
    if parsed.get_backend_name() not in ("sqlite", "postgresql"):
        raise UsageError(
            f"--db: {parsed.get_backend_name()!r} is not supported; use sqlite:///PATH or "
            "postgresql://USER@HOST/DB"
        )
    if parsed.get_backend_name() == "sqlite" and not parsed.database:
        raise UsageError("--db: an in-memory SQLite database keeps nothing; give a file path")
    return parsed


def _prepare_sqlite_file(path: Path, readonly: bool) -> None:
    if readonly:
        if not path.exists():
            raise StoreError(f"database {path} does not exist yet: run `docktally collect` first")
        return
    try:
        path.parent.mkdir(parents=True, exist_ok=True, mode=0o700)
        # Create the file ourselves so it is born 0600: it may hold log lines. SQLite gives the
        # -wal and -shm files the same mode as the database.
        fd = os.open(path, os.O_CREAT | os.O_RDWR, 0o600)
        os.close(fd)
    except OSError as exc:
        raise StoreError(f"database {path} is not writable: {exc.strerror}") from None
    if not os.access(path, os.W_OK):
        raise StoreError(f"database {path} is not writable (permission denied)")


def _register_sqlite_adapters() -> None:
    """sqlite3 (CPython 3.11) binds a None or a bool only after looking it up in its adapter
    registry and then through two failing attribute lookups, each formatting an error message:
    with several None columns per event that was 15% of an import's instructions. With these
    adapters (None stays NULL, a bool is 0 or 1, as without them) the lookup is one dict hit."""
    sqlite3.register_adapter(type(None), lambda _v: None)
    sqlite3.register_adapter(bool, int)


def _sqlite_pragmas(dbapi_conn: Any, _record: Any) -> None:
    cur = dbapi_conn.cursor()
    # WAL: the dashboard reads while the collector writes; busy_timeout: writers wait, not fail.
    cur.execute("PRAGMA busy_timeout=10000")
    if cur.execute("PRAGMA page_count").fetchone()[0] == 0:
        # Only a new file can take a page size (and before WAL). 16 KiB pages: events rows carry
        # their raw JSON, and inserts cost ~17% less CPU than with 4 KiB pages here.
        cur.execute("PRAGMA page_size=16384")
    mode = cur.execute("PRAGMA journal_mode").fetchone()[0]
    if mode != "wal":
        # A read-only connection cannot switch modes, and needs not.
        with contextlib.suppress(Exception):
            cur.execute("PRAGMA journal_mode=WAL")
    cur.execute("PRAGMA synchronous=NORMAL")
    cur.close()


def connect(url: str | None = None, *, readonly: bool = False, migrate: bool = True) -> Engine:
    """An Engine for the store, at head. Raises UsageError/StoreError with one-line messages."""
    engine, parsed = _engine(url, readonly)
    try:
        with engine.connect():
            pass
    except SQLAlchemyError as exc:
        raise StoreError(f"cannot open database {_safe(parsed)}: {_first_line(exc)}") from None
    _to_head(engine, parsed, readonly=readonly, migrate=migrate)
    return engine


def connect_when_up(
    url: str | None = None, *, readonly: bool = False
) -> tuple[Engine, Callable[[], None]]:
    """For the collector, which must start while a central database is away: the store, and
    `ready`, which brings it to head the first time the server answers and until then raises
    the driver's error (a SQLAlchemyError: the collector spools meanwhile). A bad URL or a
    schema newer than this docktally is still a StoreError/UsageError, at once or from `ready`.
    `readonly` (the metrics endpoint beside a collector): a schema behind head is a StoreError
    from `ready` until the collector has brought it to head."""
    engine, parsed = _engine(url, readonly=readonly)
    lock = threading.Lock()
    done = False

    def ready() -> None:
        nonlocal done
        if done:
            return
        with lock:
            if done:
                return
            with engine.connect():
                pass
            _to_head(engine, parsed, readonly=readonly, migrate=True)
            done = True

    try:
        ready()
    except SQLAlchemyError:
        pass
    except StoreError:
        if not readonly:
            raise
    return engine, ready


def _engine(url: str | None, readonly: bool) -> tuple[Engine, Any]:
    resolved = resolve_db_url(url)
    parsed = _check_url(resolved)
    if parsed.get_backend_name() == "sqlite":
        path = Path(parsed.database).expanduser()
        _prepare_sqlite_file(path, readonly)
        if readonly:
            engine = create_engine(
                f"sqlite:///file:{path}?mode=ro&uri=true", connect_args={"check_same_thread": False}
            )
        else:
            engine = create_engine(f"sqlite:///{path}", connect_args={"check_same_thread": False})
        event.listen(engine, "connect", _sqlite_pragmas)
        _register_sqlite_adapters()
    else:
        engine = create_engine(resolved, pool_pre_ping=True, connect_args=_pg_args(readonly))
    return engine, parsed


def _to_head(engine: Engine, parsed: Any, *, readonly: bool, migrate: bool) -> None:
    current = _revision(engine)
    at_head = current == HEAD_REVISION
    if not at_head:
        check_known_revision(engine, current)
    if migrate and not readonly and not at_head:
        upgrade(engine)
    elif migrate and readonly and not at_head:
        raise StoreError(
            f"database {_safe(parsed)} is not at the current schema: run `docktally db upgrade`"
        )


def _pg_args(readonly: bool) -> dict[str, Any]:
    """A reader's PostgreSQL sessions make every transaction read-only, as SQLite's mode=ro
    does: the dashboard, often run with the collector's credentials, cannot write through
    them."""
    # A database that does not answer (a partition, not a refusal) fails the connect after
    # 10 s instead of hanging the collector's writer: its batches go to the spool meanwhile.
    # No statements prepared behind our back (psycopg prepares one after 5 runs, and PostgreSQL
    # then keeps a generic plan): an import's container lookups got a plan made while the
    # table was still empty, a sequential scan that took 0.5-1 s each once it held 10,000 rows.
    args: dict[str, Any] = {"connect_timeout": 10, "prepare_threshold": None}
    if readonly:
        args["options"] = "-c default_transaction_read_only=on"
    return args


def _safe(parsed: Any) -> str:
    return str(parsed.render_as_string(hide_password=True))


def _first_line(exc: BaseException) -> str:
    text = str(getattr(exc, "orig", None) or exc)
    return text.strip().splitlines()[0] if text.strip() else type(exc).__name__


def alembic_config(engine: Engine) -> Any:
    from alembic.config import Config

    # Alembic's default stdout is bound when alembic is imported; hand it today's.
    cfg = Config(stdout=sys.stdout)
    cfg.set_main_option("script_location", str(Path(__file__).parent.parent / "migrations"))
    cfg.attributes["engine"] = engine
    return cfg


def upgrade(engine: Engine, revision: str = "head") -> None:
    """Bring the database to `revision`; an empty or older database is brought up by itself.

    One process migrates at a time (two first starts on an empty database would both create
    the tables); the revision is read again under the lock, so the second finds it done."""
    from alembic import command

    if revision == "head" and _revision(engine) == HEAD_REVISION:
        return
    with migration_lock(engine):
        current = _revision(engine)
        if revision == "head" and current == HEAD_REVISION:
            return
        check_known_revision(engine, current)
        try:
            command.upgrade(alembic_config(engine), revision)
        except OperationalError as exc:
            raise StoreError(f"cannot migrate the database: {_first_line(exc)}") from None


# How long a start waits for another process's migration before it gives up with one line.
MIGRATION_LOCK_TIMEOUT_S = 120.0
# pg_advisory_lock's key: any bigint no other application on the database uses.
_PG_MIGRATION_LOCK = 0x646F636B74616C79  # "docktaly"


@contextlib.contextmanager
def migration_lock(engine: Engine, timeout_s: float | None = None) -> Iterator[None]:
    """Held while migrating: a lock file beside a SQLite database (flock: released by the
    kernel if the holder dies), a session advisory lock on PostgreSQL."""
    timeout_s = MIGRATION_LOCK_TIMEOUT_S if timeout_s is None else timeout_s
    if engine.dialect.name == "sqlite":
        with _sqlite_migration_lock(engine, timeout_s):
            yield
    else:
        with _pg_migration_lock(engine, timeout_s):
            yield


@contextlib.contextmanager
def _sqlite_migration_lock(engine: Engine, timeout_s: float) -> Iterator[None]:
    import fcntl
    import time

    with engine.connect() as conn:
        path = sqlite_file(conn)
    if path is None:
        yield
        return
    lock_path = f"{path}.migrate-lock"
    fd = os.open(lock_path, os.O_CREAT | os.O_RDWR, 0o600)
    try:
        deadline = time.monotonic() + timeout_s
        while True:
            try:
                fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
                break
            except BlockingIOError:
                if time.monotonic() > deadline:
                    raise _lock_timeout(engine, timeout_s) from None
                time.sleep(0.05)
        yield
    finally:
        # Closing releases the lock. The file stays: removing it would let a third process
        # lock a new file while the second still holds the old one.
        os.close(fd)


@contextlib.contextmanager
def _pg_migration_lock(engine: Engine, timeout_s: float) -> Iterator[None]:
    with engine.connect() as conn:
        # lock_timeout bounds the wait for an advisory lock too; LOCAL: it ends with this
        # transaction, and the session's lock outlives it.
        conn.exec_driver_sql(f"SET LOCAL lock_timeout = {int(timeout_s * 1000)}")
        try:
            conn.execute(text("SELECT pg_advisory_lock(:k)"), {"k": _PG_MIGRATION_LOCK})
        except OperationalError as exc:
            if "lock timeout" not in str(exc):
                raise StoreError(f"cannot migrate the database: {_first_line(exc)}") from None
            raise _lock_timeout(engine, timeout_s) from None
        conn.commit()
        try:
            yield
        finally:
            conn.execute(text("SELECT pg_advisory_unlock(:k)"), {"k": _PG_MIGRATION_LOCK})
            conn.commit()


def _lock_timeout(engine: Engine, timeout_s: float) -> StoreError:
    return StoreError(
        f"database {_safe(engine.url)}: another docktally has been migrating it for over "
        f"{timeout_s:.0f} s; try again when it is done"
    )


def check_known_revision(engine: Engine, current: str | None) -> None:
    """A database migrated by a newer docktally: one line naming both schema versions, instead
    of Alembic's traceback for a revision it does not know."""
    if current is None or current == HEAD_REVISION:
        return
    from alembic.script import ScriptDirectory
    from alembic.util import CommandError

    try:
        ScriptDirectory.from_config(alembic_config(engine)).get_revision(current)
    except CommandError:
        raise StoreError(
            f"database {_safe(engine.url)} has schema version {current}, newer than this "
            f"docktally's {HEAD_REVISION}: upgrade docktally (pip install -U docktally)"
        ) from None


def _revision(engine: Engine) -> str | None:
    """The database's schema revision (None: not versioned, or several heads)."""
    try:
        with engine.connect() as conn:
            rows = conn.execute(text("SELECT version_num FROM alembic_version")).fetchall()
    except SQLAlchemyError:
        return None
    return str(rows[0][0]) if len(rows) == 1 else None


def is_at_head(engine: Engine) -> bool:
    from alembic.runtime.migration import MigrationContext
    from alembic.script import ScriptDirectory

    script = ScriptDirectory.from_config(alembic_config(engine))
    with engine.connect() as conn:
        if not inspect(conn).has_table("alembic_version"):
            return False
        current = set(MigrationContext.configure(conn).get_current_heads())
    return current == set(script.get_heads())


def sqlite_file(conn: Connection) -> str | None:
    """The path of the SQLite database file behind `conn` (also when connect() opened it as a
    read-only `file:` URI), or None (PostgreSQL, in memory)."""
    if conn.dialect.name != "sqlite":
        return None
    path = conn.engine.url.database
    if path and path.startswith("file:"):
        path = unquote(path[len("file:") :].split("?", 1)[0])
    if not path or path == ":memory:":
        return None
    return path


def checkpoint_wal(engine: Engine) -> None:
    """Copy SQLite's write-ahead log into the database file and truncate it (no-op elsewhere)."""
    if engine.dialect.name != "sqlite":
        return
    with engine.connect() as conn:
        conn.exec_driver_sql("PRAGMA wal_checkpoint(TRUNCATE)")


@contextlib.contextmanager
def read_snapshot(engine: Engine) -> Iterator[Connection]:
    """A connection whose reads all see the store as of one moment (one read transaction), for
    a reader beside writers: pysqlite begins a transaction only before a write, and PostgreSQL's
    default READ COMMITTED takes a snapshot per statement, so the reads of a plain connection
    can each see a different store (facts of a container the containers read did not have)."""
    with engine.connect() as conn:
        if conn.dialect.name == "sqlite":
            conn.exec_driver_sql("BEGIN")  # the first read fixes the snapshot (WAL)
        else:
            conn.execution_options(isolation_level="REPEATABLE READ")
        yield conn


class ConnectionReader:
    """The same queries through a SQLAlchemy connection, for a process that also writes the
    store (the collector serving metrics): there Arrow's driver must not open the SQLite file
    (see ArrowReader). Rows come as Python tuples, made into Arrow columns: for small windows.
    """

    def __init__(self, conn: Connection) -> None:
        self._conn = conn
        self.sqlite = conn.dialect.name == "sqlite"

    def table(self, sql: str, params: tuple[Any, ...] = ()) -> Any:
        import pyarrow as pa

        binds = {f"p{i}": v for i, v in enumerate(params, start=1)}
        result = self._conn.execute(text(re.sub(r"\$(\d+)", r":p\1", sql)), binds)
        names = list(result.keys())
        rows = result.fetchall()
        cols = list(zip(*rows, strict=True)) if rows else [() for _ in names]
        return pa.table({n: pa.array(list(c)) for n, c in zip(names, cols, strict=True)})


def open_reader(engine: Engine) -> ArrowReader:
    """The store behind `engine` (connected and checked at head) as an ArrowReader; the
    engine is disposed first (see ArrowReader)."""
    url = engine.url
    engine.dispose()
    try:
        if url.get_backend_name() == "sqlite":
            path = str(url.database)
            if path.startswith("file:"):  # connect(readonly=True)'s URI
                path = unquote(path[len("file:") :].split("?", 1)[0])
            return sqlite_reader(Path(path))
        import adbc_driver_postgresql.dbapi

        plain = url.set(drivername="postgresql").render_as_string(hide_password=False)
        # Read-only sessions, as connect(readonly=True)'s. Quoted by hand: SQLAlchemy writes a
        # space as '+', which libpq does not read as one. No JIT: the planner's cost of the
        # look-back probes (130,000 for 10,000 containers) set off LLVM's compile, 1.3-1.7 s
        # of a 2.6 s events read (2-core machine under load), for rows it only hands over.
        options = quote(_pg_args(readonly=True)["options"] + " -c jit=off", safe="")
        plain += ("&" if "?" in plain else "?") + f"options={options}"
        return ArrowReader(adbc_driver_postgresql.dbapi.connect(plain, autocommit=True), False)
    except Exception as exc:  # the drivers' own error classes: one line, password hidden
        raise StoreError(f"cannot read database {_safe(url)}: {_first_line(exc)}") from None
