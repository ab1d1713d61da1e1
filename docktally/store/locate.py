"""Which database, and which schema revision is current: the standard library alone, so a
command can find a SQLite file and start reading it before SQLAlchemy is imported."""

from __future__ import annotations

import os
from pathlib import Path

ENV_DB = "DOCKTALLY_DB"

# The newest migration's revision. Checked against Alembic's own idea of the head by a test;
# comparing it with the database's alembic_version costs one query, where loading Alembic to
# ask costs half a second of every command's start.
HEAD_REVISION = "0002"


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


def plain_sqlite_path(resolved_url: str) -> Path | None:
    """The file of a resolved `sqlite:///PATH` URL as store.db.connect opens it, or None for
    anything that needs SQLAlchemy's URL parser to say (a query string, %-escapes, another
    backend): callers take None as "ask store.db"."""
    prefix = "sqlite:///"
    if not resolved_url.startswith(prefix):
        return None
    rest = resolved_url[len(prefix) :]
    if not rest or "?" in rest or "%" in rest or rest == ":memory:":
        return None
    return Path(rest).expanduser()
