"""How `docktally up` tells its dashboard whether the collector reaches the engine: a small JSON
file, rewritten atomically, that the dashboard reads (the dashboard runs in another process)."""

from __future__ import annotations

import json
import os
import threading
from collections.abc import Callable
from pathlib import Path
from typing import Any

# The environment variable `up` names the file in, for the dashboard process.
STATUS_ENV = "DOCKTALLY_COLLECTOR_STATUS"

CONNECTING = "connecting"
CONNECTED = "connected"
UNREACHABLE = "unreachable"


class EngineStatus:
    """Follows one collector from its log lines and its session count.

    The collector says what went wrong through its `log` callback and counts the event streams
    it opened in `sessions`; a session opened after the last error means it is connected again.
    """

    def __init__(self, url: str, clock_ns: Callable[[], int]) -> None:
        self.url = url
        self.clock_ns = clock_ns
        self._lock = threading.Lock()
        self._detail = ""
        self._error_at_session: int | None = None
        self._state = CONNECTING
        self._since_ns = clock_ns()

    def note(self, line: str) -> None:
        """A collector log line; errors and reconnects mean the engine is not answering."""
        text = line.removeprefix("docktally collect: ")
        with self._lock:
            if text.startswith("reconnecting to"):
                return
            if "skipped an event" in text or text.startswith(("closed ", "events lost")):
                return
            self._detail = text
            self._error_at_session = -1  # resolved against the session count on refresh

    def refresh(self, sessions: int) -> dict[str, Any]:
        with self._lock:
            if self._error_at_session == -1:
                self._error_at_session = sessions
                self._set(UNREACHABLE)
            elif self._error_at_session is not None and sessions > self._error_at_session:
                self._error_at_session = None
                self._detail = ""
                self._set(CONNECTED)
            elif self._error_at_session is None and sessions > 0:
                self._set(CONNECTED)
            return {
                "url": self.url,
                "state": self._state,
                "detail": self._detail,
                "since_ns": self._since_ns,
            }

    def _set(self, state: str) -> None:
        if state != self._state:
            self._state = state
            self._since_ns = self.clock_ns()


def write_status(path: Path, engines: list[dict[str, Any]], now_ns: int) -> None:
    tmp = path.with_suffix(".tmp")
    tmp.write_text(json.dumps({"updated_ns": now_ns, "engines": engines}), encoding="utf-8")
    os.replace(tmp, path)
