"""Every command documents itself, and the README documents every command."""

from __future__ import annotations

import argparse
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path

import pytest

from docktally.cli import SUBCOMMAND_MODULES, build_parser, main

ROOT = Path(__file__).parent.parent
COMMANDS = [m if m != "import_events" else "import" for m in SUBCOMMAND_MODULES]


@pytest.mark.parametrize("command", COMMANDS)
def test_every_command_has_help(command: str, capsys: pytest.CaptureFixture[str]) -> None:
    with pytest.raises(SystemExit) as exit_:
        main([command, "--help"])
    assert exit_.value.code == 0
    out = capsys.readouterr().out
    assert out.startswith("usage: docktally " + command)


def _every_parser(parser: argparse.ArgumentParser) -> Iterator[argparse.ArgumentParser]:
    yield parser
    for action in parser._actions:
        if isinstance(action, argparse._SubParsersAction):
            for sub in action.choices.values():
                yield from _every_parser(sub)


def test_no_help_shows_a_doubled_percent_sign() -> None:
    # argparse collapses %% in an option's help, not in a raw description or epilog.
    helps = {p.prog: p.format_help() for p in _every_parser(build_parser())}
    assert len(helps) > len(COMMANDS)  # sub-subcommands too (maintenance add, db upgrade)
    assert {prog for prog, text in helps.items() if "%%" in text} == set()
    assert "90% confidence" in helps["docktally report"]


def test_db_upgrade_has_help(capsys: pytest.CaptureFixture[str]) -> None:
    with pytest.raises(SystemExit):
        main(["db", "upgrade", "--help"])
    assert "--db" in capsys.readouterr().out


@pytest.mark.parametrize("command", COMMANDS)
def test_readme_documents_every_command(command: str) -> None:
    assert f"`docktally {command}" in (ROOT / "README.md").read_text()


def test_readme_opens_with_the_run_and_test_commands() -> None:
    lines = (ROOT / "README.md").read_text().splitlines()
    block = lines[lines.index("```sh") + 1 : lines.index("```sh") + 3]
    assert block[0].endswith("docktally up")
    assert block[1] == "bash .ci/run"
    assert "scripts/test" in (ROOT / ".ci/run").read_text()


def test_entry_point_runs_as_a_module() -> None:
    out = subprocess.run(
        [sys.executable, "-m", "docktally", "--version"], capture_output=True, text=True, check=True
    )
    assert out.stdout.startswith("docktally ")


def test_parser_builds_every_subcommand() -> None:
    parser = build_parser()
    assert parser.prog == "docktally"


def test_db_upgrade_on_an_empty_file(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["db", "upgrade", "--db", str(tmp_path / "x.db")]) == 0
    assert "newest schema" in capsys.readouterr().out


def test_bad_db_url_exits_2_with_one_line(capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["db", "upgrade", "--db", "mysql://u@h/x"]) == 2
    err = capsys.readouterr().err
    assert err.count("\n") == 1 and "mysql" in err


@pytest.mark.parametrize("command", [["report"], ["events"], ["incidents"], ["policies"]])
def test_readers_bring_an_empty_database_to_head(
    command: list[str], tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    from docktally.store import db

    path = tmp_path / "empty.db"
    db.connect(str(path), migrate=False).dispose()  # a file with no schema at all
    assert main([*command, "--db", str(path)]) == 0
    assert db.is_at_head(db.connect(str(path), readonly=True, migrate=False))


def test_no_help_shows_a_python_none() -> None:
    # `events --since` has no default: its help said "(default: None)".
    helps = {p.prog: p.format_help() for p in _every_parser(build_parser())}
    assert {prog for prog, text in helps.items() if "None" in text} == set()
