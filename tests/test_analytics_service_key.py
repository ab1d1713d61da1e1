"""One service identity everywhere: a container with a compose service label and no project label
belongs to the same service in report --by service, report --service, incidents, postmortems,
maintenance windows and the dashboard."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from docktally.analytics.model import Window
from docktally.analytics.report import build_report
from docktally.analytics.services import service_key
from docktally.cli import main
from docktally.timespec import ns_to_iso
from tests.data import recorded
from tests.sample import history_from_rows, ns

# crash_loop: "crashy" under on-failure:3 exits 1 four times; its project label is dropped here.
PAYLOADS = recorded.container_payloads("crash_loop")
T0 = min(int(p["timeNano"]) for p in PAYLOADS)
T1 = max(int(p["timeNano"]) for p in PAYLOADS)
WINDOW = ["--since", ns_to_iso(T0 - 10**9), "--until", ns_to_iso(T1 + 10**9)]


@pytest.fixture
def db(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> str:
    lines = []
    for p in PAYLOADS:
        p["Actor"]["Attributes"].pop("com.docker.compose.project", None)
        assert p["Actor"]["Attributes"]["com.docker.compose.service"] == "web"
        lines.append(json.dumps(p))
    f = tmp_path / "events.jsonl"
    f.write_text("\n".join(lines) + "\n")
    url = str(tmp_path / "s.db")
    assert main(["import", "--db", url, "--host", "lab", str(f)]) == 0
    capsys.readouterr()
    return url


def _json(capsys: pytest.CaptureFixture[str], *argv: str) -> dict[str, object]:
    assert main(list(argv)) == 0
    out: dict[str, object] = json.loads(capsys.readouterr().out)
    return out


def test_the_rule() -> None:
    assert service_key("shop", "web", "shop-web-1") == "shop/web"
    assert service_key(None, "web", "web-1") == "web"
    assert service_key("", "web", "web-1") == "web"
    assert service_key("shop", None, "lonely") == "lonely"
    assert service_key(None, None, None, "abcdef0123456789") == "abcdef012345"


def test_report_by_service_and_the_service_filter(
    db: str, capsys: pytest.CaptureFixture[str]
) -> None:
    doc = _json(capsys, "report", "--db", db, *WINDOW, "--by", "service", "--format", "json")
    groups = doc["groups"]
    assert isinstance(groups, list)
    assert [g["key"]["service"] for g in groups] == ["web"]
    doc = _json(capsys, "report", "--db", db, *WINDOW, "--service", "web", "--format", "json")
    assert isinstance(doc["groups"], list)
    assert [g["key"]["container"] for g in doc["groups"]] == ["crashy"]


def test_incidents_and_postmortem(db: str, capsys: pytest.CaptureFixture[str]) -> None:
    doc = _json(capsys, "incidents", "--db", db, *WINDOW, "--scope", "service", "--format", "json")
    incidents = doc["incidents"]
    assert isinstance(incidents, list)
    assert [i["key"] for i in incidents] == ["web"]
    doc = _json(capsys, "incidents", "--db", db, *WINDOW, "--service", "web", "--format", "json")
    assert isinstance(doc["incidents"], list) and len(doc["incidents"]) == 1
    iid = incidents[0]["id"]
    assert main(["postmortem", iid, "--db", db, *WINDOW, "--scope", "service"]) == 0
    md = capsys.readouterr().out
    assert md.startswith(f"# Postmortem: web ({iid})")


def test_maintenance_of_the_service_by_its_key() -> None:
    web = {"compose_service": "web"}
    h = history_from_rows(
        events=[
            ("web-1", -10, "start", web),
            ("web-1", 100, "die", {"exit_code": 1, **web}),
            ("web-1", 200, "start", web),
        ],
        coverage=[(-50, 1000)],
        maintenance=[{"target_kind": "service", "target": "web", "start": 50, "end": 300}],
    )
    g = build_report(h, Window(ns(0), ns(1000)), by="service").groups
    assert list(g["service"]) == ["web"]
    assert g["failures"].iloc[0] == 0 and g["downtime_s"].iloc[0] == 0


def test_dashboard(db: str) -> None:
    from docktally.dashboard import data

    window = Window(T0 - 10**9, T1 + 10**9)
    view = data.View(db, window, by="service")
    assert list(data.report(view).groups["service"]) == ["web"]
    assert list(data.incidents(view)["key"]) == ["web"]
