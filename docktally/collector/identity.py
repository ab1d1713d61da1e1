"""The host name an engine's rows carry: one a person recognises, never shared by two engines.

An engine is known by its key, engine ID plus data root (DockerRootDir): two daemons on one
machine report the same ID (it comes from /etc/docker/key.json), never the same data root.
By default an engine is named after /info Name; an engine collected before keeps the name it
had; when that name belongs to another engine, the data root (same machine) or the short engine
ID (another machine) is added. `--host` names it outright.
"""

from __future__ import annotations

import hashlib
import re
import threading
import time
from collections.abc import Callable, Mapping
from typing import Any

from sqlalchemy import Connection, Engine
from sqlalchemy.exc import SQLAlchemyError

from docktally.errors import DocktallyError, UsageError
from docktally.store import hosts

# engine_id is a 128-character column.
KEY_MAX_CHARS = 128
HOST_MAX_CHARS = 255
# A live collector heartbeats every 0.5 s: a heartbeat that stands still this long is a dead one.
CLAIM_WATCH_S = 1.5
# Only a heartbeat this recent counts as a live claim.
CLAIM_FRESH_NS = 10 * 1_000_000_000


class HostClaimed(DocktallyError):
    """Another live collector is writing this host."""


# Names and coverage rows this process holds: its own collectors never block each other.
_lock = threading.Lock()
_names: dict[tuple[str, str], str] = {}  # (database, host) -> engine key
_own_coverage: set[tuple[str, int]] = set()
_explicit: set[tuple[str, str]] = set()  # (database, host) named with --host
_taken: set[tuple[str, str, str]] = set()  # (database, host, engine key) lost to another engine


def engine_key(info: Mapping[str, Any]) -> str:
    engine_id = str(info.get("ID") or "")
    root = str(info.get("DockerRootDir") or "")
    key = f"{engine_id}@{root}"
    if len(key) > KEY_MAX_CHARS:
        key = f"{engine_id}@sha256:{hashlib.sha256(root.encode()).hexdigest()[:16]}"[:KEY_MAX_CHARS]
    return key


def _short_id(engine_id: str) -> str:
    return re.sub(r"[^A-Za-z0-9]", "", engine_id)[:8] or "noid"


def candidates(info: Mapping[str, Any], *, same_machine: bool) -> list[str]:
    """Default names, most readable first: beside another daemon of the same machine (same
    engine ID) the data root tells them apart, beside another machine the engine ID does."""
    name = str(info.get("Name") or "unknown")
    root = str(info.get("DockerRootDir") or "")
    by_root = f"{name}@{root}" if root else name
    by_id = f"{name}~{_short_id(str(info.get('ID') or ''))}"
    digest = hashlib.sha256(engine_key(info).encode()).hexdigest()[:8]
    out = [name, by_root, by_id] if same_machine else [name, by_id, by_root]
    out.append(f"{name}~{digest}")
    return list(dict.fromkeys(c[:HOST_MAX_CHARS] for c in out))


class NameTaken(Exception):
    """Another engine's collector took this default name first: choose again."""


def resolve_host(
    store: Engine,
    info: Mapping[str, Any],
    *,
    engine_url: str,
    explicit: str | None,
) -> str:
    """The host name for this engine, registered for this process; `confirm_name` makes sure
    in the store."""
    key = engine_key(info)
    db = str(store.url)
    with _lock:
        names = {host: k for (d, host), k in _names.items() if d == db}
        if explicit is not None:
            other = names.get(explicit)
            if other is not None and other != key:
                raise HostClaimed(
                    f"--host {explicit!r} is given to two engines in this process "
                    f"({engine_url} is the second): give each engine its own --host"
                )
            _names[db, explicit] = key
            _explicit.add((db, explicit))
            return explicit
        for name, k in names.items():
            if k == key:
                return name
        engine_id = str(info.get("ID") or "")
        with store.connect() as conn:
            known = hosts.host_of_engine(
                conn, engine_key=key, engine_id=engine_id, engine_url=engine_url
            )
            default = str(info.get("Name") or "unknown")
            same_machine = (
                any(
                    k.split("@", 1)[0] == engine_id
                    for k in _other_keys(conn, default, key, info, engine_url)
                )
                or names.get(default, "").split("@", 1)[0] == engine_id
            )
        if known is not None and names.get(known, key) == key and (db, known, key) not in _taken:
            _names[db, known] = key
            return known
        for name in candidates(info, same_machine=same_machine):
            if names.get(name, key) != key or (db, name, key) in _taken:
                continue
            with store.connect() as conn:
                if _other_keys(conn, name, key, info, engine_url):
                    continue
            _names[db, name] = key
            return name
        raise UsageError(f"no free host name for the engine at {engine_url}: use --host")


def confirm_name(conn: Connection, host: str, info: Mapping[str, Any], engine_url: str) -> None:
    """In the transaction that opens the session's coverage: a default name another engine's
    collector took since it was chosen (both started at once) is given up, so the two never
    share it. A name given with --host is the user's."""
    key = engine_key(info)
    db = str(conn.engine.url)
    with _lock:
        if (db, host) in _explicit:
            return
    hosts.naming_lock(conn)
    if _other_keys(conn, host, key, info, engine_url):
        _give_up(db, host, key)
        raise NameTaken(
            f"the host name {host!r} went to another engine a moment ago; naming {engine_url} again"
        )


def _give_up(db: str, host: str, key: str) -> None:
    with _lock:
        _names.pop((db, host), None)
        _taken.add((db, host, key))


def _other_keys(
    conn: Connection, name: str, key: str, info: Mapping[str, Any], engine_url: str
) -> set[str]:
    """Keys of other engines stored under `name` (a bare-ID row from this URL is this one)."""
    engine_id = str(info.get("ID") or "")
    return {
        k
        for k, url in hosts.engine_keys_of_host(conn, name)
        if k != key and not (k == engine_id and url == engine_url)
    }


def note_own_coverage(store: Engine, coverage_id: int) -> None:
    with _lock:
        _own_coverage.add((str(store.url), coverage_id))


def check_claim(
    store: Engine,
    host: str,
    info: Mapping[str, Any],
    *,
    engine_url: str,
    clock_ns: Callable[[], int] = time.time_ns,
    sleep: Callable[[float], None] = time.sleep,
) -> None:
    """Refuse a host another live process is collecting: its open coverage row's heartbeat
    moves. A row whose heartbeat stands still (a collector killed a moment ago) is closed."""

    def others() -> dict[int, hosts.LiveCoverage]:
        with store.connect() as conn:
            rows = hosts.open_collector_coverage(conn, host)
        with _lock:
            return {
                r.id: r
                for r in rows
                if (str(store.url), r.id) not in _own_coverage
                and r.heartbeat_ns >= clock_ns() - CLAIM_FRESH_NS
            }

    try:
        before = others()
    except SQLAlchemyError:
        return  # the database is away: its writes wait in the spool, unchecked this session
    if not before:
        return
    key, db = engine_key(info), str(store.url)
    with _lock:
        given = (db, host) in _explicit
    if not given and any(r.engine_key != key for r in before.values()):
        # Another engine's collector took this default name while both were starting.
        _give_up(db, host, key)
        raise NameTaken(
            f"the host name {host!r} went to another engine a moment ago; naming {engine_url} again"
        )
    sleep(CLAIM_WATCH_S)
    after = others()
    for cid, row in before.items():
        now = after.get(cid)
        if now is not None and now.heartbeat_ns > row.heartbeat_ns:
            raise HostClaimed(
                f"host {host!r} is being collected by another live collector (engine "
                f"{now.engine_url}); stop it, or name this engine ({engine_url}) with --host"
            )
    with store.begin() as conn:
        for cid, row in before.items():
            if cid in after:
                hosts.close_stalled(conn, cid, row.heartbeat_ns)
