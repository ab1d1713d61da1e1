"""`docktally maintenance add/list`, and maintenance turning downtime into planned time."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from docktally.cli import main
from docktally.timespec import ns_to_iso

DATA = Path(__file__).parent / "data" / "events"
OOM_DIE = 1795824178828453661
T0 = 1795824178473843342


def run(capsys: pytest.CaptureFixture[str], *argv: str) -> tuple[int, str, str]:
    code = main(list(argv))
    out, err = capsys.readouterr()
    return code, out, err


def test_add_list_and_report(
    tmp_path: Path, capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    db = str(tmp_path / "m.db")
    covers = f"{ns_to_iso(T0 - 10**9)}..{ns_to_iso(OOM_DIE + 10**10)}"
    argv = ["import", "--db", db, "--host", "lab", "--covers", covers, str(DATA / "oom.jsonl")]
    assert main(argv) == 0
    monkeypatch.setenv("USER", "alice")
    start = ns_to_iso(OOM_DIE - 10**8)
    code, out, _ = run(
        capsys,
        "maintenance",
        "add",
        "--db",
        db,
        "--container",
        "hungry",
        "--start",
        start,
        "--duration",
        "1h",
        "--reason",
        "memory <b>tuning</b>",
    )
    assert code == 0 and "maintenance #1" in out and "alice" in out
    code, out, _ = run(
        capsys,
        "maintenance",
        "add",
        "--db",
        db,
        "--service",
        "shop/web",
        "--start",
        start,
        "--end",
        ns_to_iso(OOM_DIE + 10**9),
        "--reason",
        "deploy v2",
        "--kind",
        "deploy",
        "--who",
        "bob",
        "--host",
        "lab",
    )
    assert code == 0
    code, out, _ = run(capsys, "maintenance", "list", "--db", db, "--format", "json")
    rows = json.loads(out)
    assert [r["created_by"] for r in rows] == ["alice", "bob"]
    assert rows[0]["target_kind"] == "container" and rows[1]["kind"] == "deploy"
    assert rows[1]["host"] == "lab" and rows[0]["host"] is None
    for fmt in ("table", "csv"):
        code, out, _ = run(capsys, "maintenance", "list", "--db", db, "--format", fmt)
        assert code == 0 and "hungry" in out

    code, out, _ = run(
        capsys,
        "report",
        "--db",
        db,
        "--since",
        ns_to_iso(T0 - 1),
        "--until",
        ns_to_iso(OOM_DIE + 10**9),
        "--format",
        "json",
    )
    g = json.loads(out)["groups"][0]
    assert g["failures"] == 0 and g["downtime_s"] == 0
    assert json.loads(out)["time_by_class_s"]["planned:maintenance"] > 0


@pytest.mark.parametrize(
    "argv",
    [
        ["--container", "x", "--start", "nonsense", "--duration", "1h", "--reason", "r"],
        ["--container", "x", "--start", "1h", "--duration", "soon", "--reason", "r"],
        ["--container", "x", "--start", "1h", "--end", "2h", "--reason", "r"],
        ["--container", "x", "--start", "1h", "--duration", "1h", "--reason", "r", "--kind", "x"],
        ["--container", "x", "--start", "1h", "--duration", "1h", "--reason", "  "],
    ],
)
def test_add_rejects_bad_input(
    tmp_path: Path, capsys: pytest.CaptureFixture[str], argv: list[str]
) -> None:
    code, _, err = run(capsys, "maintenance", "add", "--db", str(tmp_path / "m.db"), *argv)
    assert code == 2 and len(err.strip().splitlines()) == 1


def test_list_empty(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    db = str(tmp_path / "m.db")
    assert main(["db", "upgrade", "--db", db]) == 0
    code, out, _ = run(capsys, "maintenance", "list", "--db", db)
    assert code == 0 and "no maintenance" in out


def test_edit_and_remove_keep_who_and_why(
    tmp_path: Path, capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    db = str(tmp_path / "m.db")
    covers = f"{ns_to_iso(T0 - 10**9)}..{ns_to_iso(OOM_DIE + 10**10)}"
    argv = ["import", "--db", db, "--host", "lab", "--covers", covers, str(DATA / "oom.jsonl")]
    assert main(argv) == 0
    monkeypatch.setenv("USER", "alice")
    start = ns_to_iso(OOM_DIE + 10**9)  # after the OOM kill: it stays a failure
    add = ["maintenance", "add", "--db", db, "--container", "hungry", "--start", start]
    assert run(capsys, *add, "--duration", "1h", "--reason", "tuning")[0] == 0
    report = [
        "report", "--db", db, "--since", ns_to_iso(T0 - 1),
        "--until", ns_to_iso(OOM_DIE + 5 * 10**9), "--format", "json",
    ]  # fmt: skip

    def downtime() -> float:
        code, out, _ = run(capsys, *report)
        assert code == 0
        return float(json.loads(out)["groups"][0]["downtime_s"])

    before = downtime()
    # moved to start before the OOM kill: its downtime becomes planned
    code, out, _ = run(
        capsys, "maintenance", "edit", "1", "--db", db, "--start", ns_to_iso(OOM_DIE - 10**8),
        "--who", "bob", "--why", "it began earlier",
    )  # fmt: skip
    assert code == 0 and "edited by bob" in out
    assert downtime() == 0 < before
    code, out, _ = run(
        capsys, "maintenance", "remove", "1", "--db", db, "--who", "carol", "--why", "never ran"
    )
    assert code == 0 and "removed by carol" in out
    assert downtime() > before  # all of it downtime again, the first second too
    _, out, _ = run(capsys, "maintenance", "list", "--db", db, "--format", "json")
    assert json.loads(out) == []  # removed: shown only with --all
    _, out, _ = run(capsys, "maintenance", "list", "--db", db, "--all", "--format", "json")
    (row,) = json.loads(out)
    assert row["created_by"] == "alice"
    reason = row["reason"].split("\n")
    assert reason[0] == "tuning"
    assert reason[1].startswith("edited by bob at ") and reason[1].endswith(": it began earlier")
    assert reason[2].startswith("removed by carol at ") and reason[2].endswith(": never ran")
    code, _, err = run(capsys, "maintenance", "remove", "7", "--db", db, "--why", "x")
    assert code == 2 and "no maintenance window #7" in err
