"""Lab runs are experiments, not the fleet: report, incidents and policies leave the
containers of `docktally lab` out unless --include-lab (recorded engine events, one copy as a
lab container: the name `docktally lab` gives, which is all an import keeps)."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest

from docktally.analytics import select
from docktally.cli import main
from docktally.collector import lab
from docktally.collector.importer import import_lines
from docktally.store import db
from tests.data import recorded

LAB_NAME = "dtlab-run1-no"


def as_lab(line: str) -> str:
    """The same event, of another container: a lab run's, by id and name."""
    event = json.loads(line)
    old = event["Actor"]["ID"]
    new = "f" * 8 + old[8:]
    event["id"] = event["Actor"]["ID"] = new
    event["Actor"]["Attributes"]["name"] = LAB_NAME
    return json.dumps(event)


@pytest.fixture
def url(tmp_path: Path) -> str:
    u = f"sqlite:///{tmp_path / 'd.db'}"
    eng = db.connect(u)
    lines = recorded.lines("crash_loop")
    with eng.begin() as conn:
        import_lines(conn, lines, host="h1")
        import_lines(conn, [as_lab(x) for x in lines], host="h1")
    eng.dispose()
    return u


def run_json(capsys: pytest.CaptureFixture[str], *args: str) -> Any:
    assert main([*args, "--since", "3650d"]) == 0
    return json.loads(capsys.readouterr().out)


def names(report: Any) -> set[str]:
    return {g["key"]["container"] for g in report["groups"]}


def test_lab_marks_are_the_ones_analytics_looks_for() -> None:
    assert lab.LABEL_RUN == select.LAB_LABEL
    assert LAB_NAME.startswith(select.LAB_NAME_PREFIX)


def test_report_incidents_and_policies_leave_lab_runs_out(
    url: str, capsys: pytest.CaptureFixture[str]
) -> None:
    fleet = run_json(capsys, "report", "--db", url, "--format", "json")
    both = run_json(capsys, "report", "--db", url, "--format", "json", "--include-lab")
    assert LAB_NAME not in names(fleet) and LAB_NAME in names(both)
    assert names(both) - names(fleet) == {LAB_NAME}

    inc = run_json(capsys, "incidents", "--db", url, "--format", "json")
    inc_lab = run_json(capsys, "incidents", "--db", url, "--format", "json", "--include-lab")
    assert all(i["key"] != LAB_NAME for i in inc["incidents"])
    assert any(i["key"] == LAB_NAME for i in inc_lab["incidents"])

    pol = run_json(capsys, "policies", "--db", url, "--format", "json")
    pol_lab = run_json(capsys, "policies", "--db", url, "--format", "json", "--include-lab")
    failures = sum(r.get("failures", 0) for r in pol["observed"])
    failures_lab = sum(r.get("failures", 0) for r in pol_lab["observed"])
    assert failures_lab == 2 * failures > 0


def test_the_dashboard_leaves_lab_runs_out_unless_toggled(url: str) -> None:
    from docktally.analytics.model import Window
    from docktally.dashboard import data

    now = data.now_ns()
    window = Window(now - 3650 * 86400 * 10**9, now)
    fleet = data.history(data.View(url, window, data.Filters()))
    both = data.history(data.View(url, window, data.Filters(include_lab=True)))
    assert LAB_NAME not in set(fleet.events["name"])
    assert LAB_NAME in set(both.events["name"])
    shown = data.selected_containers(data.View(url, window, data.Filters()))
    assert LAB_NAME not in set(shown["name"])
