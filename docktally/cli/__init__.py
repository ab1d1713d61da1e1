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

# Order is the order `docktally --help` lists them; the help line is here so that listing
# commands imports none of them.
SUBCOMMANDS = {
    "up": ("up", "migrate, collect and serve the dashboard together"),
    "collect": ("collect", "watch the Docker engine and record every container event"),
    "import": ("import_events", "load `docker events --format '{{json .}}'` lines"),
    "events": ("events", "list stored events"),
    "report": ("report", "uptime report: availability, MTBF, MTTR"),
    "maintenance": ("maintenance", "declare and list maintenance windows"),
    "incidents": ("incidents", "list incidents"),
    "postmortem": ("postmortem", "one incident as a postmortem draft (Markdown or HTML)"),
    "policies": ("policies", "compare restart policies: observed and what-if"),
    "alerts": ("alerts", "test alert targets, list sent and failed notifications"),
    "lab": ("lab", "run a restart-policy experiment on the local engine"),
    "dashboard": ("dashboard", "serve the Streamlit dashboard"),
    "metrics": ("metrics", "serve Prometheus metrics from the database"),
    "rules": ("rules", "write Prometheus SLO rules for docktally's metrics"),
    "db": ("db", "database maintenance"),
}
SUBCOMMAND_MODULES = [module for module, _ in SUBCOMMANDS.values()]


def _chosen_command(argv: Sequence[str]) -> str | None:
    for arg in argv:
        if not arg.startswith("-"):
            return arg if arg in SUBCOMMANDS else None
    return None


def build_parser(argv: Sequence[str] | None = None) -> argparse.ArgumentParser:
    """The parser; with argv, only the chosen subcommand's module is imported.

    Importing every subcommand would load pandas, matplotlib and Streamlit into
    `docktally collect`, a long-running process that needs none of them.
    """
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
    chosen = _chosen_command(argv) if argv is not None else None
    for name, (module_name, help_text) in SUBCOMMANDS.items():
        if argv is None or name == chosen:
            module = importlib.import_module(f"docktally.cli.{module_name}")
            module.register(sub)
        else:
            sub.add_parser(name, help=help_text)
    return parser


def main(argv: Sequence[str] | None = None) -> int:
    argv = list(sys.argv[1:] if argv is None else argv)
    try:
        # Inside the try: an option's own `type` (a duration) raises our one-line errors.
        args = build_parser(argv).parse_args(argv)
        from docktally.cli.common import db_password_from_args

        db_password_from_args(args)
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
