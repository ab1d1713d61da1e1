"""Stops that needed a SIGKILL: on the real engine, a busybox `sleep` as PID 1 ignores SIGTERM
and `docker stop -t 1` ends it with SIGKILL (exit 137); a shell that traps SIGTERM exits by
itself. The report names the first as a forced stop and not the second."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from docktally.analytics.stops import find_stops, stop_summary
from docktally.cli import main
from docktally.timespec import ns_to_iso
from tests.private_engine import EventRecorder, PrivateEngine
from tests.sample import history_from_rows


def test_a_stop_that_ended_in_sigkill_is_forced() -> None:
    h = history_from_rows(
        events=[
            ("deaf", 0, "start"),
            ("deaf", 100, "kill", {"signal": 15}),
            ("deaf", 110, "kill", {"signal": 9}),
            ("deaf", 110.1, "die", {"exit_code": 137}),
            ("deaf", 110.2, "stop"),
            ("polite", 0, "start"),
            ("polite", 100, "kill", {"signal": 15}),
            ("polite", 100.3, "die", {"exit_code": 143}),
            ("killed", 0, "start"),  # docker kill: no SIGTERM, no grace, not a stop
            ("killed", 50, "kill", {"signal": 9}),
            ("killed", 50.1, "die", {"exit_code": 137}),
        ]
    )
    s = stop_summary(find_stops(h.events)).set_index("name")
    assert sorted(s.index) == ["deaf", "polite"]
    assert (s.loc["deaf", "stops"], s.loc["deaf", "forced_stops"]) == (1, 1)
    assert s.loc["deaf", "max_s"] == pytest.approx(10.1)
    assert (s.loc["polite", "stops"], s.loc["polite", "forced_stops"]) == (1, 0)


@pytest.mark.engine
def test_report_names_the_stop_that_needed_sigkill(
    clean_engine: PrivateEngine, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    eng = clean_engine
    rec_file = tmp_path / "events.jsonl"
    with EventRecorder(eng, rec_file):
        deaf = eng.run("sleep", "600", name="stop-deaf")  # PID 1 sleep: SIGTERM does nothing
        polite = eng.run("sh", "-c", "trap 'exit 0' TERM; sleep 600 & wait", name="stop-trap")
        deaf.stop(timeout=1)
        polite.stop(timeout=10)
    events = [json.loads(x) for x in rec_file.read_text().splitlines()]
    t = [e["timeNano"] for e in events]
    url = f"sqlite:///{tmp_path / 'stops.db'}"
    assert main(["import", "--db", url, "--host", "e2e", str(rec_file)]) == 0
    capsys.readouterr()
    since, until = ns_to_iso(min(t) - 10**9), ns_to_iso(max(t) + 10**9)
    assert (
        main(["report", "--db", url, "--since", since, "--until", until, "--format", "json"]) == 0
    )
    doc = json.loads(capsys.readouterr().out)
    by = {g["key"]["container"]: g for g in doc["groups"]}
    assert (by["stop-deaf"]["stops"], by["stop-deaf"]["forced_stops"]) == (1, 1)
    assert by["stop-deaf"]["stop_max_s"] >= 1.0  # it waited out the 1 s grace
    assert (by["stop-trap"]["stops"], by["stop-trap"]["forced_stops"]) == (1, 0)
    assert doc["fleet"]["forced_stops"] == 1


def test_html_report_names_the_stops_that_needed_sigkill(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    """The recorded stop of a busybox sleep (kill 15, kill 9 after the 1 s grace, die 137)."""
    from tests.data import recorded

    url = f"sqlite:///{tmp_path / 'r.db'}"
    assert main(["import", "--db", url, "--host", "lab", str(recorded.path("stop"))]) == 0
    out = tmp_path / "r.html"
    argv = ["report", "--db", url, "--since", "2020-01-01T00:00:00Z", "--format", "html"]
    assert main([*argv, "--out", str(out)]) == 0
    page = out.read_text()
    assert "<h2>Stops that needed a SIGKILL</h2>" in page
    assert "PID 1 ignored SIGTERM" in page
    assert '<td><span class="name">stubborn</span></td><td>1</td><td>1</td>' in page


@pytest.fixture
def stop_db(tmp_path: Path) -> str:
    """The recorded stop of a busybox sleep (kill 15, kill 9 after the 1 s grace, die 137)."""
    from tests.data import recorded

    url = f"sqlite:///{tmp_path / 'r.db'}"
    assert main(["import", "--db", url, "--host", "lab", str(recorded.path("stop"))]) == 0
    return url


def _report(url: str, fmt: str, capsys: pytest.CaptureFixture[str]) -> str:
    capsys.readouterr()
    argv = ["report", "--db", url, "--since", "2020-01-01T00:00:00Z", "--format", fmt]
    assert main(argv) == 0
    return capsys.readouterr().out


def test_terminal_and_markdown_reports_name_the_stops_that_needed_sigkill(
    stop_db: str, capsys: pytest.CaptureFixture[str]
) -> None:
    table = _report(stop_db, "table", capsys)
    section = table.split("Stops that needed a SIGKILL:\n", 1)[1]
    head, _, row = section.split("\n\n", 1)[1].splitlines()[:3]
    assert head.split() == ["Host", "Container", "Stops", "Needed", "SIGKILL", "Stop", "(mean)",
                            "Stop", "(longest)"]  # fmt: skip
    assert row.split() == ["lab", "stubborn", "1", "1", "1.1s", "1.1s"]
    assert "PID 1 ignored SIGTERM" in section and "--init" in section
    assert max(len(line) for line in section.splitlines()) <= 100
    md = _report(stop_db, "markdown", capsys)
    assert "## Stops that needed a SIGKILL" in md
    assert "| lab | stubborn | 1 | 1 | 1.1s | 1.1s |" in md
    assert "PID 1 ignored SIGTERM" in md.split("## Stops that needed a SIGKILL", 1)[1]


def test_csv_report_counts_stops_and_forced_stops(
    stop_db: str, capsys: pytest.CaptureFixture[str]
) -> None:
    import csv
    import io

    rows = {r["container"]: r for r in csv.DictReader(io.StringIO(_report(stop_db, "csv", capsys)))}
    assert (rows["stubborn"]["stops"], rows["stubborn"]["forced_stops"]) == ("1", "1")
    assert float(rows["stubborn"]["stop_max_s"]) >= 1.0
