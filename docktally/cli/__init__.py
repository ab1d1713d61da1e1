"""The `docktally` command: argument parsing only; every subcommand calls into the parts.

Each subcommand lives in its own module with `register(subparsers)`, which adds its parser and
sets `func(args) -> int`.
"""

from __future__ import annotations

import argparse
import importlib
import sys
from collections.abc import Sequence

from docktally import __version__
from docktally.errors import DocktallyError

# Order is the order `docktally --help` lists them.
SUBCOMMAND_MODULES = [
    "up",
    "collect",
    "import_events",
    "events",
    "report",
    "maintenance",
    "incidents",
    "postmortem",
    "policies",
    "lab",
    "dashboard",
    "db",
]


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="docktally",
        description=(
            "Availability analytics for Docker containers: uptime reports, restart-policy "
            "comparison and postmortems, from the engine's own events."
        ),
    )
    parser.add_argument("--version", action="version", version=f"docktally {__version__}")
    sub = parser.add_subparsers(dest="command", metavar="COMMAND")
    sub.required = True
    for name in SUBCOMMAND_MODULES:
        module = importlib.import_module(f"docktally.cli.{name}")
        module.register(sub)
    return parser


def main(argv: Sequence[str] | None = None) -> int:
    parser = build_parser()
    args = parser.parse_args(argv)
    try:
        code = int(args.func(args) or 0)
    except DocktallyError as exc:
        print(f"docktally: error: {exc}", file=sys.stderr)
        return exc.exit_code
    except KeyboardInterrupt:
        return 130
    except BrokenPipeError:
        # `docktally events | head` closed the pipe: not an error worth a trace.
        return 0
    return code


def entry() -> None:
    sys.exit(main())


if __name__ == "__main__":
    entry()
