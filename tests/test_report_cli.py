"""`docktally report` end to end on a real store: formats, filters, errors, empty database."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from docktally.cli import main
from docktally.timespec import ns_to_iso

DATA = Path(__file__).parent / "data" / "events"
# crash_loop.jsonl: "crashy" (compose shop/web) under on-failure:3, exit 1 four times.
T0 = 1795824173545508047  # its create
T_END = 1795824176501142973  # its last die
STARTS = [1795824173841436467, 1795824174527501078, 1795824175273616305, 1795824176263525335]
END = 1795824180 * 10**9  # after the oom recording too
DIES = [1795824174082753624, 1795824174765168308, 1795824175515015987, 1795824176501142973]


def run(capsys: pytest.CaptureFixture[str], *argv: str) -> tuple[int, str, str]:
    code = main(list(argv))
    out, err = capsys.readouterr()
    return code, out, err


@pytest.fixture
def loaded(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> str:
    db = str(tmp_path / "r.db")
    for f in ("crash_loop.jsonl", "oom.jsonl"):
        assert main(["import", "--db", db, "--host", "lab", str(DATA / f)]) == 0
    capsys.readouterr()
    return db


def window_args(start: int = T0 - 1, end: int = END) -> list[str]:
    return ["--since", ns_to_iso(start), "--until", ns_to_iso(end)]


def test_json_numbers_match_the_recorded_crash_loop(
    loaded: str, capsys: pytest.CaptureFixture[str]
) -> None:
    end = END
    code, out, _ = run(capsys, "report", "--db", loaded, *window_args(end=end), "--format", "json")
    assert code == 0
    doc = json.loads(out)
    g = {x["key"]["container"]: x for x in doc["groups"]}
    c = g["crashy"]
    up = sum(d - s for s, d in zip(STARTS, DIES, strict=True)) / 1e9
    # Known time ends with the import's last event (the oom file's, which is later).
    assert c["uptime_s"] == pytest.approx(up, abs=1e-6)
    downs = [STARTS[i + 1] - DIES[i] for i in range(3)]
    assert c["failures"] == 4 and c["restarts"] == 3
    assert c["mttr_s"] == pytest.approx(sum(downs) / 3 / 1e9, abs=1e-6)
    assert c["exit_codes"] == {"1": 4} and c["oom_kills"] == 0
    assert c["mtbf_s"] == pytest.approx(up / 4, abs=1e-6)
    assert g["hungry"]["oom_kills"] == 1 and g["hungry"]["exit_codes"] == {"137": 1}
    total = c["uptime_s"] + c["downtime_s"] + c["planned_s"] + c["unknown_s"]
    assert total == pytest.approx((end - (T0 - 1)) / 1e9, abs=1e-6)


@pytest.mark.parametrize(
    ("fmt", "marker"),
    [("table", "crashy"), ("csv", "uptime_s"), ("markdown", "| "), ("html", "data:image/png")],
)
def test_formats(loaded: str, capsys: pytest.CaptureFixture[str], fmt: str, marker: str) -> None:
    code, out, _ = run(capsys, "report", "--db", loaded, *window_args(), "--format", fmt)
    assert code == 0 and marker in out


def test_by_service_slo_every_and_out_file(
    loaded: str, capsys: pytest.CaptureFixture[str], tmp_path: Path
) -> None:
    out_file = tmp_path / "r.json"
    argv = ["report", "--db", loaded, *window_args(), "--by", "service", "--slo", "99.9"]
    code, _, err = run(capsys, *argv, "--every", "day", "--format", "json", "--out", str(out_file))
    assert code == 0 and "wrote" in err
    doc = json.loads(out_file.read_text())
    keys = [g["key"]["service"] for g in doc["groups"]]
    assert "shop/web" in keys and doc["slo"]["target"] == 99.9 and doc["breakdown"]


def test_filters(loaded: str, capsys: pytest.CaptureFixture[str]) -> None:
    base = ["report", "--db", loaded, *window_args(), "--format", "json"]
    for extra, want in (
        (["--container", "hungry"], ["hungry"]),
        (["--service", "shop/web"], ["crashy"]),
        (["--host", "lab"], ["crashy", "hungry"]),
    ):
        code, out, _ = run(capsys, *base, *extra)
        assert code == 0
        assert [g["key"]["container"] for g in json.loads(out)["groups"]] == want


@pytest.mark.parametrize(
    ("extra", "named"),
    [
        (["--container", "nosuch"], "--container 'nosuch'"),
        (["--service", "shop/nosuch"], "--service 'shop/nosuch'"),
        (["--host", "elsewhere"], "--host 'elsewhere'"),
        (["--host", "lab", "--container", "nosuch"], "--host 'lab' --container 'nosuch'"),
    ],
)
@pytest.mark.parametrize("fmt", ["table", "json"])
def test_a_filter_that_matches_nothing_says_so(
    loaded: str, capsys: pytest.CaptureFixture[str], extra: list[str], named: str, fmt: str
) -> None:
    # Not "the database holds no events": it holds two containers, the filter matched neither.
    code, out, err = run(capsys, "report", "--db", loaded, *window_args(), "--format", fmt, *extra)
    assert code == 1 and out == ""
    assert err.startswith(f"docktally: error: {named} matches no container with events in ")
    assert err.count("\n") == 1 and "holds no" not in err


@pytest.mark.parametrize(
    "argv",
    [
        ["--by", "colour"],
        ["--since", "yesterday-ish"],
        ["--until", "2026-13-45"],
        ["--slo", "100"],
        ["--slo", "0"],
        ["--slo", "abc"],
        ["--every", "year"],
        ["--since", "1d", "--until", "2d"],
    ],
)
def test_usage_errors_exit_2_with_one_line(
    tmp_path: Path, capsys: pytest.CaptureFixture[str], argv: list[str]
) -> None:
    code, out, err = run(capsys, "report", "--db", str(tmp_path / "x.db"), *argv)
    assert code == 2 and out == ""
    assert len(err.strip().splitlines()) == 1 and err.startswith("docktally: error:")


@pytest.mark.parametrize("fmt", ["table", "json", "markdown", "html", "csv"])
def test_empty_database_says_no_data(
    tmp_path: Path, capsys: pytest.CaptureFixture[str], fmt: str
) -> None:
    db = str(tmp_path / "e.db")
    assert main(["db", "upgrade", "--db", db]) == 0  # a migrated store without events
    capsys.readouterr()
    code, out, _ = run(capsys, "report", "--db", db, "--format", fmt)
    assert code == 0
    if fmt == "json":
        doc = json.loads(out)
        assert doc["groups"] == [] and "no data" in doc["note"]
    elif fmt != "csv":
        assert "no data" in out
