"""Every duration option of every command takes timespec's one syntax (a bare number is seconds),
and a bad value is one line naming the option, exit 2, before the command does anything."""

from __future__ import annotations

import argparse
from collections.abc import Iterator

import pytest

from docktally.cli import build_parser, main
from docktally.cli.common import DurationOption
from docktally.timespec import NS_PER_S

# (the command, the command line up to the option, the option, whether 0 is a valid value)
DURATION_OPTIONS = [
    ("collect", ["collect"], "--duration", False),
    ("collect", ["collect"], "--metrics-refresh", False),
    ("up", ["up"], "--metrics-refresh", False),
    ("lab", ["lab"], "--duration", False),
    ("lab", ["lab"], "--crash-every", False),
    ("lab", ["lab"], "--manual-mttr", True),
    ("lab", ["lab"], "--stable", True),
    (
        "maintenance add",
        ["maintenance", "add", "--container", "web", "--start", "1h", "--reason", "kernel"],
        "--duration",
        False,
    ),
    (
        "maintenance edit",
        ["maintenance", "edit", "1", "--why", "longer"],
        "--duration",
        False,
    ),
    ("incidents", ["incidents"], "--stable", True),
    ("incidents", ["incidents"], "--budget-period", False),
    ("postmortem", ["postmortem", "inc-0"], "--stable", True),
    ("postmortem", ["postmortem", "inc-0"], "--budget-period", False),
    ("policies", ["policies"], "--manual-mttr", True),
    ("policies", ["policies"], "--stable", True),
    ("metrics", ["metrics"], "--duration", False),
    ("metrics", ["metrics"], "--refresh", False),
]
IDS = [f"{command} {option}" for command, _, option, _ in DURATION_OPTIONS]
PARAMS = ("command", "argv", "option", "zero_ok")

FORMS = [
    ("90", 90 * NS_PER_S),
    ("1.5", 1_500_000_000),
    ("90s", 90 * NS_PER_S),
    ("250ms", 250_000_000),
    ("5m", 300 * NS_PER_S),
    ("1h30m", 5400 * NS_PER_S),
    ("1h 30m", 5400 * NS_PER_S),
    ("1.5h", 5400 * NS_PER_S),
    ("2d", 2 * 86400 * NS_PER_S),
    ("1w", 7 * 86400 * NS_PER_S),
]
BAD = ["5x", "-3", "1y", "30m1h", "1e3", "ninety", ""]


def _duration_options(parser: argparse.ArgumentParser, path: str) -> Iterator[tuple[str, str]]:
    for action in parser._actions:
        if isinstance(action, argparse._SubParsersAction):
            for name, sub in action.choices.items():
                yield from _duration_options(sub, f"{path} {name}".strip())
        elif isinstance(action.type, DurationOption):
            yield path, action.option_strings[0]


def test_the_table_names_every_duration_option() -> None:
    found = set(_duration_options(build_parser(), ""))
    listed = {(command, option) for command, _, option, _ in DURATION_OPTIONS}
    assert found == listed


def _dest(option: str) -> str:
    return option.lstrip("-").replace("-", "_") + "_ns"


@pytest.mark.parametrize(PARAMS, DURATION_OPTIONS, ids=IDS)
@pytest.mark.parametrize(("text", "ns"), FORMS)
def test_every_option_takes_the_same_forms(
    command: str, argv: list[str], option: str, zero_ok: bool, text: str, ns: int
) -> None:
    args = build_parser(argv).parse_args([*argv, option, text])
    assert getattr(args, _dest(option)) == ns


@pytest.mark.parametrize(PARAMS, DURATION_OPTIONS, ids=IDS)
@pytest.mark.parametrize("bad", BAD)
def test_a_bad_duration_is_one_line_naming_the_option(
    command: str,
    argv: list[str],
    option: str,
    zero_ok: bool,
    bad: str,
    capsys: pytest.CaptureFixture[str],
) -> None:
    assert main([*argv, option, bad]) == 2
    err = capsys.readouterr().err
    assert err.startswith(f"docktally: error: {option}: {bad!r}")
    assert err.count("\n") == 1


@pytest.mark.parametrize(PARAMS, DURATION_OPTIONS, ids=IDS)
def test_zero_where_it_means_something(
    command: str, argv: list[str], option: str, zero_ok: bool, capsys: pytest.CaptureFixture[str]
) -> None:
    if zero_ok:
        assert getattr(build_parser(argv).parse_args([*argv, option, "0"]), _dest(option)) == 0
    else:
        assert main([*argv, option, "0"]) == 2
        assert (
            capsys.readouterr().err
            == f"docktally: error: {option}: '0' is not a positive duration\n"
        )


def test_defaults_go_through_the_same_parser() -> None:
    lab = build_parser(["lab"]).parse_args(["lab"])
    assert (lab.duration_ns, lab.crash_every_ns, lab.manual_mttr_ns, lab.stable_ns) == (
        60 * NS_PER_S,
        5 * NS_PER_S,
        30 * NS_PER_S,
        60 * NS_PER_S,
    )
    policies = build_parser(["policies"]).parse_args(["policies"])
    assert policies.manual_mttr_ns is None  # measured from history
    assert build_parser(["collect"]).parse_args(["collect"]).duration_ns is None
    assert build_parser(["metrics"]).parse_args(["metrics"]).duration_ns is None
    assert build_parser(["metrics"]).parse_args(["metrics"]).refresh_ns == 15 * NS_PER_S
    assert build_parser(["up"]).parse_args(["up"]).metrics_refresh_ns == 15 * NS_PER_S
