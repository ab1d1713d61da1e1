"""docs/cli.md and docs/report-json.md are the contract: their fields and options are exactly
what the product produces and parses, both ways, on real reports of recorded engine events."""

from __future__ import annotations

import argparse
import json
import re
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from docktally.analytics.states import DIE_CAUSE_STATE
from docktally.cli import build_parser, main
from docktally.timespec import ns_to_iso

ROOT = Path(__file__).parent.parent
DOCS = ROOT / "docs"
EVENTS = Path(__file__).parent / "data" / "events"
# The recordings' span (tests/data/events/README.md), with a margin.
SINCE = ns_to_iso(1795824170 * 10**9)
UNTIL = ns_to_iso(1795824300 * 10**9)
BY = ("container", "service", "host,service", "image", "host", "policy")


# --- reading the pages ------------------------------------------------------------------------


def sections(text: str, level: str) -> dict[str, list[str]]:
    """Heading (its first `code`) -> the lines under it, for headings of `level` (`##`)."""
    out: dict[str, list[str]] = {}
    current: list[str] | None = None
    for line in text.splitlines():
        if line.startswith(level + " "):
            m = re.search(r"`([^`]+)`", line)
            current = out.setdefault(m.group(1), []) if m else None
        elif line.startswith("#"):
            if len(line) - len(line.lstrip("#")) <= len(level):
                current = None
        elif current is not None:
            current.append(line)
    return out


def table(lines: list[str]) -> list[list[str]]:
    """The rows of the first table in `lines` (header and rule left out), cells stripped; `\\|`
    inside a cell stays a `|`."""
    rows = []
    for line in lines:
        if not line.startswith("|"):
            if rows:
                break
            continue
        cells = [c.strip().replace("\\|", "|") for c in re.split(r"(?<!\\)\|", line)[1:-1]]
        rows.append(cells)
    return rows[2:]


def code(cell: str) -> list[str]:
    return re.findall(r"`([^`]+)`", cell)


def documented_fields(path: str) -> dict[str, str]:
    """A report-json.md section's table: field -> its type cell."""
    rows = table(sections((DOCS / "report-json.md").read_text(), "##")[path])
    return {code(r[0])[0]: r[1] for r in rows}


def check_type(value: Any, documented: str, where: str) -> None:
    kinds = {
        "float": (float, int),
        "integer": (int,),
        "string": (str,),
        "object": (dict,),
        "array": (list,),
        "boolean": (bool,),
    }
    allowed = tuple(t for name, ts in kinds.items() if documented.startswith(name) for t in ts)
    assert allowed, f"{where}: type {documented!r} is not one the test knows"
    if value is None:
        assert documented.endswith("or null"), f"{where} is null, documented {documented!r}"
        return
    assert isinstance(value, allowed), f"{where}: {value!r} is not {documented}"
    assert not (isinstance(value, bool) and bool not in allowed), f"{where}: a boolean"


def check_object(obj: dict[str, Any], path: str) -> None:
    fields = documented_fields(path)
    assert set(obj) == set(fields), path
    for name, value in obj.items():
        check_type(value, fields[name], f"{path}.{name}")


# --- real reports -----------------------------------------------------------------------------


@pytest.fixture(scope="module")
def loaded(tmp_path_factory: pytest.TempPathFactory) -> str:
    db = str(tmp_path_factory.mktemp("contract") / "events.db")
    files = sorted(EVENTS.glob("*.jsonl"))
    assert len(files) >= 10
    for i, f in enumerate(files):
        assert main(["import", "--db", db, "--host", f"host-{i % 2}", str(f)]) == 0
    return db


def report_json(capsys: pytest.CaptureFixture[str], *argv: str) -> dict[str, Any]:
    capsys.readouterr()
    assert main(["report", *argv, "--format", "json"]) == 0
    doc: dict[str, Any] = json.loads(capsys.readouterr().out)
    return doc


@pytest.mark.parametrize("by", BY)
def test_report_fields_are_the_documented_ones(
    loaded: str, capsys: pytest.CaptureFixture[str], by: str
) -> None:
    doc = report_json(
        capsys, "--db", loaded, "--since", SINCE, "--until", UNTIL, "--by", by,
        "--slo", "99.9", "--every", "day",
    )  # fmt: skip
    top = documented_fields("report")
    assert set(doc) == set(top) - {"note"}  # note: only a report without groups
    for name, value in doc.items():
        check_type(value, top[name], f"report.{name}")
    check_object(doc["window"], "window")
    check_object(doc["fleet"], "fleet")
    check_object(doc["slo"], "slo")
    assert doc["groups"] and doc["breakdown"]
    keys = key_fields()[by]
    for g in doc["groups"]:
        check_object(g, "groups[]")
        check_object(g["slo"], "groups[].slo")
        assert list(g["key"]) == keys
        assert len(g["mtbf_ci90_s"]) == 2
    for b in doc["breakdown"]:
        check_object(b, "breakdown[]")
        check_object(b["period"], "breakdown[].period")
        assert list(b["key"]) == keys
    fixed = {"up", "unhealthy", "down", "unknown"}
    assert fixed <= set(doc["time_by_class_s"])
    assert set(doc["time_by_class_s"]) <= time_classes()


def time_classes() -> set[str]:
    """The classes of time_by_class_s that report-json.md says the meaning of."""
    rows = table(sections((DOCS / "report-json.md").read_text(), "##")["time_by_class_s"])
    return {c for r in rows for c in code(r[0])}


def test_every_class_of_time_is_documented() -> None:
    planned = {f"planned:{c}" for c, s in DIE_CAUSE_STATE.items() if s == "planned"}
    planned |= {"planned:created", "planned:paused", "planned:maintenance", "planned:deploy"}
    assert time_classes() == {"up", "unhealthy", "down", "unknown"} | planned


def key_fields() -> dict[str, list[str]]:
    """groups[].key's table: --by -> the key's fields, in order (parenthesised words left out)."""
    rows = table(sections((DOCS / "report-json.md").read_text(), "##")["groups[].key"])
    return {code(r[0])[0]: code(re.sub(r"\([^)]*\)", "", r[1])) for r in rows}


def test_every_by_has_its_key_documented() -> None:
    assert set(key_fields()) == set(BY)


def test_the_conditional_fields_come_with_their_options(
    loaded: str, capsys: pytest.CaptureFixture[str]
) -> None:
    plain = report_json(capsys, "--db", loaded, "--since", SINCE, "--until", UNTIL)
    assert set(plain) == set(documented_fields("report")) - {"note", "slo", "every", "breakdown"}
    assert all("slo" not in g for g in plain["groups"])


def test_a_report_without_groups_has_the_note(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    doc = report_json(capsys, "--db", str(tmp_path / "empty.db"))
    assert doc["groups"] == []
    assert set(doc) == set(documented_fields("report")) - {"slo", "every", "breakdown"}
    check_type(doc["note"], documented_fields("report")["note"], "report.note")


# --- the command line -------------------------------------------------------------------------


def cli_sections() -> dict[str, list[str]]:
    """cli.md's command headings (`docktally maintenance add`, `docktally import FILE`) by
    command, the placeholders of positional arguments left out."""
    found = sections((DOCS / "cli.md").read_text(), "###")
    return {
        " ".join(w for w in heading.split() if not w.isupper()): lines
        for heading, lines in found.items()
        if heading.startswith("docktally ")
    }


def leaf_parsers(parser: argparse.ArgumentParser) -> Iterator[argparse.ArgumentParser]:
    subs = [a for a in parser._actions if isinstance(a, argparse._SubParsersAction)]
    if not subs:
        yield parser
    for action in subs:
        for sub in action.choices.values():
            yield from leaf_parsers(sub)


def parser_options(parser: argparse.ArgumentParser) -> set[str]:
    return {
        o
        for a in parser._actions
        if a.help != argparse.SUPPRESS and not isinstance(a, argparse._HelpAction)
        for o in a.option_strings
    }


def test_every_command_and_option_is_documented_and_nothing_else() -> None:
    documented = cli_sections()
    parsers = {p.prog: p for p in leaf_parsers(build_parser())}
    assert set(documented) == set(parsers)
    for prog, parser in parsers.items():
        listed = {
            o for row in table(documented[prog]) for o in re.findall(r"--[a-z][a-z-]*", row[0])
        }
        assert listed == parser_options(parser), prog


def test_the_events_json_is_the_documented_one(
    loaded: str, capsys: pytest.CaptureFixture[str]
) -> None:
    rows = table(
        cli_sections()["docktally events"][next_table(cli_sections()["docktally events"]) :]
    )
    fields = {code(r[0])[0]: r[1] for r in rows}
    capsys.readouterr()
    assert main(["events", "--db", loaded, "--format", "json"]) == 0
    records = json.loads(capsys.readouterr().out)
    assert len(records) > 50
    assert all(list(r) == list(fields) for r in records)  # the documented order, too
    for r in records:
        for name, value in r.items():
            check_type(value, fields[name], f"events[].{name}")
    # The nullable ones are null somewhere and set somewhere: the recordings exercise them.
    for name in ("exit_code", "signal", "health", "compose_project"):
        assert {r[name] is None for r in records} == {True, False}, name


def next_table(lines: list[str]) -> int:
    """Where the second table of a section starts (the events JSON follows the options)."""
    starts = [
        i
        for i, line in enumerate(lines)
        if line.startswith("|") and (i == 0 or not lines[i - 1].startswith("|"))
    ]
    return starts[1]


def test_no_page_refers_to_a_design_file_outside_the_repository() -> None:
    for path in [ROOT / "README.md", *DOCS.glob("*.md"), *ROOT.glob("docktally/**/*.py")]:
        assert "DESIGN.md" not in path.read_text(), path
    assert not (DOCS / "TEAM.md").exists()
