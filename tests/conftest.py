"""Fixtures: a migrated database per test (SQLite file, or PostgreSQL when configured) and a
private real Docker Engine that the suite starts itself."""

from __future__ import annotations

import os
import shutil
import tempfile
import uuid
from collections.abc import Iterator
from pathlib import Path

import pytest
from sqlalchemy import Engine, create_engine, text

from docktally.store import db
from tests.private_engine import PrivateEngine, find_busybox
from tests.private_postgres import PG_BIN, PrivatePostgres

PG_URL_ENV = "DOCKTALLY_TEST_PG_URL"
REQUIRE_ENGINE_ENV = "DOCKTALLY_REQUIRE_ENGINE"
ARTIFACTS = Path(__file__).parent.parent / "test-artifacts"


def _engine_missing_reason() -> str | None:
    if os.geteuid() != 0:
        return "the private Docker engine needs root"
    if not (shutil.which("dockerd") or os.path.exists("/usr/sbin/dockerd")):
        return "dockerd is not installed (apt-get install docker.io)"
    if not find_busybox():
        return "busybox is not installed (apt-get install busybox-static)"
    return None


def _skip_or_fail(reason: str) -> None:
    if os.environ.get(REQUIRE_ENGINE_ENV) == "1":
        pytest.fail(f"{REQUIRE_ENGINE_ENV}=1 but {reason}")
    pytest.skip(reason)


def _private_engine() -> Iterator[PrivateEngine]:
    reason = _engine_missing_reason()
    if reason:
        _skip_or_fail(reason)
    eng = PrivateEngine()
    eng.start()
    try:
        yield eng
    finally:
        eng.destroy()


@pytest.fixture(scope="session")
def engine() -> Iterator[PrivateEngine]:
    """One private engine for the session. Tests remove their containers when done."""
    yield from _private_engine()


@pytest.fixture
def fresh_engine() -> Iterator[PrivateEngine]:
    """A private engine of the test's own, for tests that stop or restart the daemon."""
    yield from _private_engine()


@pytest.fixture
def clean_engine(engine: PrivateEngine) -> Iterator[PrivateEngine]:
    engine.remove_all_containers()
    yield engine
    engine.remove_all_containers()


@pytest.fixture(scope="module")
def second_engine() -> Iterator[PrivateEngine]:
    """Another private engine, for a fleet of two (its daemon reports the same ID and name)."""
    yield from _private_engine()


@pytest.fixture
def engines(clean_engine: PrivateEngine, second_engine: PrivateEngine) -> list[PrivateEngine]:
    second_engine.remove_all_containers()
    return [clean_engine, second_engine]


@pytest.fixture
def private_pg() -> Iterator[PrivatePostgres]:
    """A PostgreSQL cluster of the test's own, which it may stop and start."""
    if not (PG_BIN / "initdb").exists():
        pytest.fail(f"PostgreSQL 15 is not installed ({PG_BIN})")
    # Not under pytest's 0700 tmp folders: the postgres user must reach its data directory.
    pg = PrivatePostgres(Path(tempfile.mkdtemp(prefix="dktpg", dir="/tmp")))
    pg.start()
    try:
        yield pg
    finally:
        pg.destroy()


def _pg_params() -> list[str]:
    return ["sqlite", "postgresql"] if os.environ.get(PG_URL_ENV) else ["sqlite"]


@pytest.fixture
def sqlite_url(tmp_path: Path) -> str:
    return f"sqlite:///{tmp_path / 'docktally.db'}"


@pytest.fixture
def pg_url() -> Iterator[str]:
    """A fresh PostgreSQL database for one test (needs DOCKTALLY_TEST_PG_URL)."""
    base = os.environ.get(PG_URL_ENV)
    if not base:
        pytest.skip(f"{PG_URL_ENV} is not set")
    name = f"dt_{uuid.uuid4().hex[:12]}"
    admin = create_engine(db.resolve_db_url(base), isolation_level="AUTOCOMMIT")
    with admin.connect() as conn:
        conn.execute(text(f'CREATE DATABASE "{name}"'))
    url = db.resolve_db_url(base).rsplit("/", 1)[0] + f"/{name}"
    try:
        yield url
    finally:
        with admin.connect() as conn:
            conn.execute(
                text("SELECT pg_terminate_backend(pid) FROM pg_stat_activity WHERE datname = :n"),
                {"n": name},
            )
            conn.execute(text(f'DROP DATABASE IF EXISTS "{name}"'))
        admin.dispose()


@pytest.fixture(params=_pg_params())
def db_url(request: pytest.FixtureRequest, tmp_path: Path) -> str:
    """A database URL: a SQLite file, and PostgreSQL too when DOCKTALLY_TEST_PG_URL is set."""
    if request.param == "sqlite":
        return f"sqlite:///{tmp_path / 'docktally.db'}"
    return str(request.getfixturevalue("pg_url"))


@pytest.fixture
def store(db_url: str) -> Iterator[Engine]:
    """A migrated store on db_url."""
    eng = db.connect(db_url)
    yield eng
    eng.dispose()


@pytest.fixture
def artifacts_dir() -> Path:
    ARTIFACTS.mkdir(exist_ok=True)
    return ARTIFACTS
