"""What the database did not take yet, kept in order until it does: in memory up to a bound,
then in a small local SQLite file (mode 0600: rows carry log lines and labels).

Items are JSON-able dicts, oldest first. A writer peeks the oldest, writes it, then pops it;
a crash between the two writes it again on the next start, which the natural key makes
harmless. Not tied to the collector's store: a central database (fleet) can use it the same.
Notes are a few keyed values kept beside the items (in the file when there is one), set in the
same transaction as a pop: what writing an item taught the writer that later items need.
"""

from __future__ import annotations

import contextlib
import fcntl
import hashlib
import os
import sqlite3
from collections import deque
from pathlib import Path
from typing import Any, BinaryIO

import orjson

from docktally.store.db import default_db_path

MEMORY_ROWS = 20_000  # about 20 MB of rows with their raw JSON before they go to the file


def default_spool_path(db_url: str, engine_url: str) -> Path:
    """One file per database and engine, in the user's data directory beside the default DB.
    The names are hashed: a URL may hold a password."""
    digest = hashlib.sha256(f"{db_url}\n{engine_url}".encode()).hexdigest()[:16]
    return default_db_path().parent / "spool" / f"{digest}.sqlite"


class Spool:
    """A FIFO of items. `size` counts each item's len(item.get("rows", ())) or 1 toward the
    memory bound; past it items go to the file, and once anything is in the file new items
    follow it there, so the memory head is always older than the file."""

    def __init__(self, path: Path | None, *, memory_rows: int = MEMORY_ROWS) -> None:
        self.path = path
        self.memory_rows = memory_rows
        self._mem: deque[dict[str, Any]] = deque()
        self._mem_rows = 0
        self._db: sqlite3.Connection | None = None
        self._lock: BinaryIO | None = None  # flock on PATH.lock while this process uses the file
        self._file_items = 0
        # Event rows waiting, in memory and in the file: read from other threads (/metrics).
        self._mem_events = 0
        self._file_events = 0
        self._notes: dict[str, Any] = {}  # when there is no file to keep them in
        self.file_error: str | None = None  # why the file could not be used, if it could not
        if path is not None and path.exists():
            try:
                self._open()
            except (sqlite3.Error, OSError) as exc:
                self.file_error = f"{path}: {exc}"

    # --- the queue -----------------------------------------------------------------------------
    def __len__(self) -> int:
        return len(self._mem) + self._file_items

    @property
    def events(self) -> int:
        """Event rows waiting (a batch's rows; a session's start or a coverage's close holds
        none)."""
        return self._mem_events + self._file_events

    def push(self, item: dict[str, Any], *, durable: bool = False) -> None:
        """`durable`: straight to the file (when it can take it), so a kill -9 does not lose it."""
        weight = _weight(item)
        if (
            not (durable and self.path is not None)
            and self._file_items == 0
            and (self._mem_rows + weight <= self.memory_rows or not self._mem)
        ):
            self._append_mem(item)
        elif not self._append_file(item):
            # The file cannot take it (full disk, no permission): memory is all that is left,
            # items are never dropped. Should the file hold older items, this one is written
            # before them: harmless, the natural key makes any order idempotent.
            self._append_mem(item)

    def peek(self) -> dict[str, Any] | None:
        if self._mem:
            return self._mem[0]
        if self._file_items and self._db is not None:
            row = self._db.execute("SELECT body FROM spool ORDER BY seq LIMIT 1").fetchone()
            if row is not None:
                return dict(orjson.loads(row[0]))
        return None

    def pop(self, note: tuple[str, Any] | None = None) -> None:
        """Drop the oldest item: it has been written. `note` (key, value; None forgets the key)
        is kept in the same transaction."""
        if self._mem:
            item = self._mem.popleft()
            self._mem_rows -= _weight(item)
            self._mem_events -= _events(item)
            if note is not None:
                self.note(*note)
            return
        if self._file_items and self._db is not None:
            with self._db:
                popped = self._db.execute(
                    "DELETE FROM spool WHERE seq = (SELECT MIN(seq) FROM spool) "
                    f"RETURNING {_EVENTS_SQL}"
                ).fetchone()
                if note is not None:
                    self._note_in_file(*note)
            self._file_items -= 1
            self._file_events -= int(popped[0] or 0) if popped is not None else 0

    def note(self, key: str, value: Any) -> None:
        """Keep `value` under `key` for this run and the next (None forgets it)."""
        if self.path is not None:
            try:
                self._open()
                assert self._db is not None
                with self._db:
                    self._note_in_file(key, value)
                self._notes.pop(key, None)
                return
            except (sqlite3.Error, OSError) as exc:
                self.file_error = f"{self.path}: {exc}"
        if value is None:
            self._notes.pop(key, None)
        else:
            self._notes[key] = value

    def notes(self) -> dict[str, Any]:
        out = dict(self._notes)
        if self._db is not None:
            with contextlib.suppress(sqlite3.Error):
                for key, value in self._db.execute("SELECT key, value FROM notes"):
                    out[str(key)] = orjson.loads(value)
        return out

    def close(self) -> None:
        """Keep what is still in memory in the file for the next start, then close it."""
        if self._mem and self.path is not None:
            # Memory items are older than the file's: they go in front of them.
            with contextlib.suppress(sqlite3.Error, OSError):
                self._open()
                assert self._db is not None
                first = self._db.execute("SELECT MIN(seq) FROM spool").fetchone()[0]
                seq = (int(first) if first is not None else 0) - len(self._mem)
                with self._db:
                    self._db.executemany(
                        "INSERT INTO spool (seq, body) VALUES (?, ?)",
                        [(seq + i, orjson.dumps(item)) for i, item in enumerate(self._mem)],
                    )
                self._file_items += len(self._mem)
                self._file_events += self._mem_events
                self._mem.clear()
                self._mem_rows = 0
                self._mem_events = 0
        for key, value in list(self._notes.items()):
            self.note(key, value)  # into the file, now that it may take them
        if self._db is not None:
            with contextlib.suppress(sqlite3.Error):
                self._db.close()
            self._db = None
        if self._lock is not None:
            self._lock.close()  # and with it the lock
            self._lock = None

    @property
    def in_memory(self) -> int:
        return len(self._mem)

    # --- storage -------------------------------------------------------------------------------
    def _note_in_file(self, key: str, value: Any) -> None:
        assert self._db is not None
        if value is None:
            self._db.execute("DELETE FROM notes WHERE key = ?", (key,))
        else:
            self._db.execute(
                "INSERT OR REPLACE INTO notes (key, value) VALUES (?, ?)",
                (key, orjson.dumps(value)),
            )

    def _append_mem(self, item: dict[str, Any]) -> None:
        self._mem.append(item)
        self._mem_rows += _weight(item)
        self._mem_events += _events(item)

    def _append_file(self, item: dict[str, Any]) -> bool:
        if self.path is None:
            return False
        try:
            self._open()
            assert self._db is not None
            with self._db:
                self._db.execute("INSERT INTO spool (body) VALUES (?)", (orjson.dumps(item),))
        except (sqlite3.Error, OSError) as exc:
            self.file_error = f"{self.path}: {exc}"
            return False
        self._file_items += 1
        self._file_events += _events(item)
        return True

    def _open(self) -> None:
        if self._db is not None or self.path is None:
            return
        self.path.parent.mkdir(parents=True, exist_ok=True, mode=0o700)
        if self._lock is None:
            # One process per file: two collectors of one engine and database on one machine
            # (a claim the database could not refuse while it was away) must not pop each
            # other's items. The second keeps its own in memory.
            lock = os.fdopen(os.open(f"{self.path}.lock", os.O_CREAT | os.O_RDWR, 0o600), "r+b")
            try:
                fcntl.flock(lock, fcntl.LOCK_EX | fcntl.LOCK_NB)
            except BlockingIOError:
                lock.close()
                raise OSError("in use by another docktally collect of this engine") from None
            self._lock = lock
        # Born 0600 before SQLite opens it; its journal takes the same mode.
        os.close(os.open(self.path, os.O_CREAT | os.O_RDWR, 0o600))
        db = sqlite3.connect(self.path, isolation_level=None, check_same_thread=False)
        db.execute("PRAGMA busy_timeout=2000")
        db.execute("CREATE TABLE IF NOT EXISTS spool (seq INTEGER PRIMARY KEY, body BLOB NOT NULL)")
        db.execute("CREATE TABLE IF NOT EXISTS notes (key TEXT PRIMARY KEY, value BLOB NOT NULL)")
        items, events = db.execute(f"SELECT COUNT(*), SUM({_EVENTS_SQL}) FROM spool").fetchone()
        self._file_items, self._file_events = int(items), int(events or 0)
        self._db = db


# An item's event rows, counted by SQLite's JSON functions (a file left by an earlier run may
# hold many items: they are not parsed in Python to be counted).
_EVENTS_SQL = "json_array_length(CAST(body AS TEXT), '$.rows')"


def _events(item: dict[str, Any]) -> int:
    rows = item.get("rows")
    return len(rows) if isinstance(rows, list) else 0


def _weight(item: dict[str, Any]) -> int:
    rows = item.get("rows")
    return max(1, len(rows)) if isinstance(rows, list) else 1
