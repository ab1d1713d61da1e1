"""`docktally import`: load `docker events --format '{{json .}}'` lines."""

from __future__ import annotations

import argparse
import socket
import sys
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from typing import IO, Any

from sqlalchemy.exc import SQLAlchemyError

from docktally.cli.common import add_db, add_keep_exec_commands, now_ns, open_db
from docktally.collector.importer import InvalidLine, import_lines
from docktally.errors import StoreError, UsageError
from docktally.store.db import checkpoint_wal
from docktally.timespec import ns_to_iso, parse_instant_ns

DESCRIPTION = """\
Load the output of `docker events --format '{{json .}}'` (one JSON object a line) into the
store. Container events are stored with their natural key (host, container id, time, action), so
importing the same file twice writes nothing twice; events about networks, images and the rest are
skipped and counted. The import records coverage from its first to its last event (or --covers),
so analytics knows which time it can speak for.

Strict by default: a bad line (not JSON, a field of the wrong JSON type, no container id, ...)
stops the import with exit 2 and nothing is written. With --skip-invalid the first 20 bad lines
are listed and the rest counted.

Names and compose labels are stored up to 255 characters and images up to 512 (the raw event
keeps them whole); a NUL character in them is stored as U+FFFD.
"""

EPILOG = """\
examples:
  docker events --since 24h --until now --format '{{json .}}' > events.jsonl
  docktally import events.jsonl --host web-1
  docktally import - --skip-invalid < events.jsonl
  docktally import events.jsonl --covers 2026-11-01T00:00..2026-11-02T00:00
"""

PROGRESS_EVERY_S = 0.5


def register(sub: Any) -> None:
    p: argparse.ArgumentParser = sub.add_parser(
        "import",
        help="load `docker events --format '{{json .}}'` lines",
        description=DESCRIPTION,
        epilog=EPILOG,
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    p.add_argument("file", metavar="FILE", help="the events file, or - for standard input")
    add_db(p)
    p.add_argument(
        "--host",
        default=None,
        help="the engine's host label for these events (default: this machine's host name)",
    )
    p.add_argument(
        "--skip-invalid",
        action="store_true",
        help="store the valid lines and list the invalid ones on stderr (default: stop at the "
        "first invalid line and write nothing)",
    )
    p.add_argument(
        "--covers",
        metavar="START..END",
        help="the span the file covers (ISO times or durations before now, e.g. 7d..now); "
        "default: its first to its last event",
    )
    add_keep_exec_commands(p)
    p.set_defaults(func=run)


def parse_covers(text: str, now: int) -> tuple[int, int]:
    """`START..END` -> (start_ns, end_ns); each side an ISO time, a duration before now, or now."""
    start_text, sep, end_text = text.partition("..")
    if not sep or not start_text.strip():
        raise UsageError(f"--covers: {text!r} is not START..END (e.g. 2026-11-01..2026-11-02)")
    start = parse_instant_ns(start_text, now_ns=now, what="--covers start")
    end = parse_instant_ns(end_text or "now", now_ns=now, what="--covers end")
    if end <= start:
        raise UsageError(f"--covers: start {ns_to_iso(start)} is not before end {ns_to_iso(end)}")
    return start, end


@contextmanager
def _open_input(path: str) -> Iterator[IO[bytes]]:
    if path == "-":
        yield sys.stdin.buffer
        return
    try:
        fh = open(path, "rb")  # noqa: SIM115 - closed below
    except FileNotFoundError:
        raise UsageError(f"{path}: no such file") from None
    except IsADirectoryError:
        raise UsageError(f"{path}: is a directory, not an events file") from None
    except OSError as exc:
        raise UsageError(f"{path}: cannot read ({exc.strerror})") from None
    with fh:
        yield fh


def progress_printer(stream: IO[str], clock: Callable[[], float]) -> Callable[[int], None]:
    """A rate-limited `\\r N lines (R/s)` on a terminal; silent elsewhere."""
    if not stream.isatty():
        return lambda _n: None
    t0 = clock()
    last = [t0]

    def show(n: int) -> None:
        t = clock()
        if t - last[0] < PROGRESS_EVERY_S:
            return
        last[0] = t
        rate = n / (t - t0) if t > t0 else 0.0
        stream.write(f"\rimporting: {n:,} lines ({rate:,.0f}/s)")
        stream.flush()

    return show


def run(args: argparse.Namespace) -> int:
    now = now_ns()
    host = args.host or socket.gethostname()
    covers = parse_covers(args.covers, now) if args.covers else None
    name = "<stdin>" if args.file == "-" else args.file
    err = sys.stderr
    engine = open_db(args)
    clock = time.monotonic
    t0 = clock()
    progress = progress_printer(err, clock)
    try:
        with _open_input(args.file) as fh, engine.begin() as conn:
            result = import_lines(
                conn,
                fh,
                host=host,
                skip_invalid=args.skip_invalid,
                covers=covers,
                on_progress=progress,
                keep_exec_commands=args.keep_exec_commands,
            )
    except InvalidLine as exc:
        _end_progress(err)
        raise UsageError(
            f"{name}:{exc.line_no}: {exc.reason}; nothing was imported "
            "(--skip-invalid stores the valid lines)"
        ) from None
    except OSError as exc:  # reading the file (a disk error, a pipe gone)
        _end_progress(err)
        raise StoreError(
            f"{name}: cannot read ({exc.strerror or exc}); nothing was imported"
        ) from None
    except SQLAlchemyError as exc:  # the database: locked too long, disk full, gone
        _end_progress(err)
        raise StoreError(
            f"{name}: could not write to the database ({_first_line(exc)}); nothing was imported"
        ) from None
    else:
        # Fold the import's WAL into the database now: left for later, a big one made the next
        # read-only reader replay it (one report took minutes).
        checkpoint_wal(engine)
    finally:
        engine.dispose()
    if err.isatty():
        err.write("\r\033[K")
    for bad in result.invalid:
        print(f"{name}:{bad.line_no}: skipped: {bad.reason}", file=err)
    unlisted = result.invalid_count - len(result.invalid)
    if unlisted:
        print(f"{name}: {unlisted:,} more invalid lines skipped (not listed)", file=err)
    elapsed = max(clock() - t0, 1e-9)
    print(
        f"{name}: {result.summary()} in {elapsed:.1f}s ({result.read / elapsed:,.0f} lines/s)",
        file=err,
    )
    return 0


def _end_progress(err: IO[str]) -> None:
    if err.isatty():
        err.write("\n")


def _first_line(exc: SQLAlchemyError) -> str:
    text = str(getattr(exc, "orig", None) or exc).strip()
    return text.splitlines()[0] if text else type(exc).__name__
