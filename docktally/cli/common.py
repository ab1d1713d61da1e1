"""Options and helpers shared by subcommands. The clock is read here, at the edge, and passed in."""

from __future__ import annotations

import argparse
import contextlib
import os
import sys
import time
from collections.abc import Iterable, Iterator, MutableMapping
from pathlib import Path
from typing import TYPE_CHECKING, Any, BinaryIO

from docktally.analytics.options import GROUP_BY
from docktally.analytics.options import check_by as check_by
from docktally.errors import StoreError, UsageError
from docktally.masking import url_without_password
from docktally.timespec import DURATION_FORMS, parse_duration_ns, parse_instant_ns

if TYPE_CHECKING:
    # Imported late at run time: pandas is heavy and `docktally collect` needs none of it.
    from sqlalchemy import Engine

    from docktally.analytics.model import Window
    from docktally.store.arrow import ArrowReader

FORMATS = ("table", "json", "csv", "markdown", "html")


def now_ns() -> int:
    return time.time_ns()


def add_db(parser: argparse.ArgumentParser) -> None:
    parser.add_argument(
        "--db",
        metavar="URL",
        help="database URL or SQLite path (env DOCKTALLY_DB; default: "
        "~/.local/share/docktally/docktally.db). Keep passwords out of it: every user of the "
        "machine sees a command line in `ps`",
    )
    parser.add_argument(
        "--db-password-file",
        metavar="FILE",
        help="PostgreSQL password from the first line of FILE (libpq's ~/.pgpass, PGPASSFILE "
        "and PGSERVICE work too)",
    )


def db_password_from_args(
    args: argparse.Namespace, env: MutableMapping[str, str] | None = None
) -> None:
    """--db-password-file into PGPASSWORD, where libpq (and the dashboard's child process) reads
    it; and a warning when --db itself carries a password, visible to everyone in `ps`."""
    target: MutableMapping[str, str] = os.environ if env is None else env
    path = getattr(args, "db_password_file", None)
    if path:
        try:
            with open(path, encoding="utf-8") as f:
                password = f.readline().rstrip("\r\n")
        except OSError as exc:
            raise UsageError(f"--db-password-file {path}: {exc.strerror}") from None
        if not password:
            raise UsageError(f"--db-password-file {path}: the first line is empty")
        target["PGPASSWORD"] = password
    url = getattr(args, "db", None) or ""
    # Only a password really on this process's command line shows in `ps`.
    if url_without_password(url) != url and url in " ".join(sys.argv):
        print(
            "docktally: warning: the --db URL holds a password, which every user of this "
            "machine can read in `ps`; give it in DOCKTALLY_DB, ~/.pgpass (PGPASSFILE) or "
            "--db-password-file instead",
            file=sys.stderr,
        )


def add_keep_exec_commands(parser: argparse.ArgumentParser) -> None:
    parser.add_argument(
        "--keep-exec-commands",
        action="store_true",
        help="store exec events' command lines (`exec_start: mysql -p...`); by default only "
        "`exec_start`, as they often carry passwords",
    )


def add_include_lab(parser: argparse.ArgumentParser) -> None:
    parser.add_argument(
        "--include-lab",
        action="store_true",
        help="count the containers of `docktally lab` runs too (left out by default: they are "
        "experiments, not the fleet)",
    )


def add_window(parser: argparse.ArgumentParser, default_since: str | None = "7d") -> None:
    parser.add_argument(
        "--since",
        metavar="TIME",
        default=default_since,
        help="start: a duration before now (7d, 1h30m) or an ISO time "
        f"(default: {default_since or 'the first stored event'})",
    )
    parser.add_argument(
        "--until",
        metavar="TIME",
        default=None,
        help="end: a duration before now or an ISO time (default: now)",
    )


class DurationOption:
    """argparse `type` of every duration option: timespec's one syntax, to nanoseconds.

    It raises UsageError (not ValueError), so the bad value reaches the user as our one-line
    error naming the option, with exit 2, rather than as argparse's usage block.
    """

    def __init__(self, option: str, allow_zero: bool) -> None:
        self.option = option
        self.allow_zero = allow_zero

    def __call__(self, text: str) -> int:
        return parse_duration_ns(text, what=self.option, allow_zero=self.allow_zero)


def add_duration(
    parser: Any,
    option: str,
    *,
    help: str,
    default: str | None = None,
    allow_zero: bool = False,
) -> None:
    """A duration option; its value lands in `args.<name>_ns` (an int of nanoseconds)."""
    dest = option.lstrip("-").replace("-", "_") + "_ns"
    shown = f" (default: {default})" if default is not None else ""
    parser.add_argument(
        option,
        dest=dest,
        metavar="DURATION",
        type=DurationOption(option, allow_zero),
        default=default,
        help=f"{help}{shown}; {DURATION_FORMS}",
    )


def add_format(
    parser: argparse.ArgumentParser, choices: tuple[str, ...] = FORMATS, default: str = "table"
) -> None:
    parser.add_argument("--format", choices=choices, default=default, help=f"(default: {default})")
    parser.add_argument("--out", metavar="FILE", help="write to FILE instead of standard output")


def add_by(parser: argparse.ArgumentParser, default: str = "container") -> None:
    # Checked by hand, not with `choices`, so a bad value gets our one-line error and exit 2.
    parser.add_argument(
        "--by", default=default, help=f"group by {'|'.join(GROUP_BY)} (default: {default})"
    )


def open_db(args: argparse.Namespace, *, readonly: bool = False) -> Engine:
    """The store at head. Every command brings an empty or older database to head by itself;
    readers then read through a read-only connection."""
    # Imported here: `docktally --help` and the parser need no SQLAlchemy.
    from docktally.store import db

    url = getattr(args, "db", None)
    if readonly:
        # A reader without write access can still read a database that is at head.
        with contextlib.suppress(StoreError):
            db.connect(url).dispose()
    return db.connect(url, readonly=readonly)


def open_reader(args: argparse.Namespace) -> ArrowReader:
    """The store at head, for the analysis reads (store.reads.load_history and the like)."""
    from docktally.store import arrow

    reader = arrow.open_at_head(getattr(args, "db", None))  # a SQLite file at head
    if reader is not None:
        return reader
    from docktally.store import db

    return db.open_reader(open_db(args, readonly=True))


def window_ns_from_args(args: argparse.Namespace, now: int) -> tuple[int, int]:
    """--since/--until as [start, end) in ns, without importing pandas (analytics.model)."""
    end = parse_instant_ns(args.until, now_ns=now, what="--until") if args.until else now
    if args.since is None:
        raise UsageError("--since is required here")
    start = parse_instant_ns(args.since, now_ns=now, what="--since")
    if end <= start:
        raise UsageError(f"--since {args.since!r} is not before --until {args.until or 'now'!r}")
    return start, end


def window_from_args(args: argparse.Namespace, now: int) -> Window:
    from docktally.analytics.model import Window

    return Window(*window_ns_from_args(args, now))


def write_output(text: str | bytes, out: str | None) -> None:
    if isinstance(text, bytes):
        if out:
            with _out_file(out) as f:
                f.write(text)
        else:
            sys.stdout.buffer.write(text)
        return
    write_chunks([text], out)


def write_chunks(chunks: Iterable[str], out: str | None) -> None:
    """The text a piece at a time, as write_output writes it whole: an output of gigabytes is
    never one string in memory."""
    if out:
        with _out_file(out) as f:
            for chunk in chunks:
                f.write(chunk.encode("utf-8"))
        return
    last = ""
    for chunk in chunks:
        sys.stdout.write(chunk)
        last = chunk or last
    if not last.endswith("\n"):
        sys.stdout.write("\n")


@contextlib.contextmanager
def _out_file(out: str) -> Iterator[BinaryIO]:
    path = Path(out)
    # 0600 for every --out file, also one that existed: postmortems hold log lines, and the
    # rest hold container names and labels, which are the owner's business as much.
    try:
        fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
    except OSError as exc:
        raise UsageError(f"--out {path}: {exc.strerror}") from None
    with os.fdopen(fd, "wb") as f:
        os.fchmod(fd, 0o600)
        yield f
    print(f"wrote {path}", file=sys.stderr)
