"""Chi-squared quantiles for the MTBF confidence interval: scipy.stats.chi2.ppf(q, df) as
scipy.stats computes it, 2 * gammaincinv(df / 2, q), without importing scipy.stats (about a
second).

scipy.special alone still takes ~0.2-0.3 s to import. A short command can have a `Helper`
import it in a forked process while this one imports and reads (`Helper.start()` early,
`go()` once this process is busy); inside `computed_by(helper)` the quantiles are then
computed there: the same function on the same float64 values, so the same numbers. Without a
helper, or if it is gone, they are computed here.
"""

from __future__ import annotations

import contextlib
import os
import pickle
import signal
import struct
import threading
from collections.abc import Iterator
from typing import IO, Any

_helper: Helper | None = None


def _compute(q: float, df: Any) -> Any:
    import numpy as np
    from scipy.special import gammaincinv

    return 2.0 * gammaincinv(np.asarray(df, dtype=np.float64) / 2.0, q)


def ppf(q: float, df: Any) -> Any:
    """scipy.stats.chi2.ppf(q, df) for an array (or a number) of degrees of freedom."""
    if _helper is not None:
        try:
            return _helper.ppf(q, df)
        except (OSError, ValueError, EOFError, pickle.UnpicklingError, struct.error):
            pass  # the helper is gone: computed here, with scipy's own error if any
    return _compute(q, df)


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
        _write(self._requests, (q, df))
        ok, value = _read(self._replies)
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
            reply: tuple[bool, Any] = (True, _compute(q, df))
        except Exception as exc:
            reply = (False, f"{type(exc).__name__}: {exc}")
        try:
            _write(replies, reply)
        except OSError:
            return


@contextlib.contextmanager
def computed_by(helper: Helper | None) -> Iterator[None]:
    """Quantiles computed by `helper` (when not None) inside the block."""
    global _helper
    previous, _helper = _helper, helper
    try:
        yield
    finally:
        _helper = previous
