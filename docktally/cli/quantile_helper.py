"""A forked process that imports scipy.special and computes the report's chi-squared quantiles
(analytics/chi2.py) while `docktally report` imports and reads: the import (~0.25 s) then
costs this process nothing. `Helper.start()` early, while this process is small; `go()` once
it no longer needs both cores (the window's readers are done); `with chi2.computed_by(helper)`
around the report; `close()` at the end. Where it cannot run or is gone, the quantiles are
computed in this process: the same function on the same values, so the same numbers.
"""

from __future__ import annotations

import contextlib
import os
import pickle
import signal
import struct
import threading
from typing import IO, Any

from docktally.analytics import chi2


def _write(out: IO[bytes], obj: Any) -> None:
    body = pickle.dumps(obj, protocol=5)
    out.write(struct.pack("<Q", len(body)) + body)
    out.flush()


def _read(fh: IO[bytes]) -> Any:
    (size,) = struct.unpack("<Q", fh.read(8))
    body = fh.read(size)
    if len(body) != size:
        raise EOFError("the quantile helper's pipe closed")
    return pickle.loads(body)


class Helper:
    """A forked process that imports scipy.special after `go()` and answers `ppf` requests
    until this process closes the pipes (or exits)."""

    def __init__(self, pid: int, requests: IO[bytes], replies: IO[bytes]) -> None:
        self._pid = pid
        self._requests = requests
        self._replies = replies

    @classmethod
    def start(cls) -> Helper | None:
        """Fork the helper; None without fork, or where this process runs other threads (the
        child imports after the fork, and must not find a lock another thread held)."""
        if not hasattr(os, "fork") or threading.active_count() > 1:
            return None
        req_r, req_w = os.pipe()
        rep_r, rep_w = os.pipe()
        pid = os.fork()
        if pid == 0:
            try:
                os.close(req_w)
                os.close(rep_r)
                with os.fdopen(req_r, "rb") as requests, os.fdopen(rep_w, "wb") as replies:
                    _serve(requests, replies)
            finally:
                os._exit(0)
        os.close(req_r)
        os.close(rep_w)
        return cls(pid, os.fdopen(req_w, "wb"), os.fdopen(rep_r, "rb"))

    def go(self) -> None:
        """Start importing scipy.special (when this process no longer needs both cores)."""
        with contextlib.suppress(OSError):
            self._requests.write(b"g")
            self._requests.flush()

    def ppf(self, q: float, df: Any) -> Any:
        try:
            _write(self._requests, (q, df))
            ok, value = _read(self._replies)
        except (pickle.UnpicklingError, struct.error) as exc:
            raise EOFError(f"the quantile helper's reply was cut: {exc}") from None
        if not ok:
            raise EOFError(value)
        return value

    def close(self) -> None:
        """Stop the helper. Killed, not waited for: a forked sibling may still hold a copy of
        the request pipe, so it might never see the end of it."""
        with contextlib.suppress(OSError):
            self._requests.close()
        with contextlib.suppress(OSError):
            self._replies.close()
        with contextlib.suppress(ProcessLookupError):
            os.kill(self._pid, signal.SIGKILL)
        with contextlib.suppress(ChildProcessError):
            os.waitpid(self._pid, 0)


def _serve(requests: IO[bytes], replies: IO[bytes]) -> None:
    if requests.read(1) != b"g":
        return
    try:
        import scipy.special  # noqa: F401
    except BaseException:  # the parent computes, and reports scipy's error itself
        return
    while True:
        try:
            q, df = _read(requests)
        except (EOFError, struct.error, OSError):
            return
        try:
            reply: tuple[bool, Any] = (True, chi2.compute(q, df))
        except Exception as exc:
            reply = (False, f"{type(exc).__name__}: {exc}")
        try:
            _write(replies, reply)
        except OSError:
            return
