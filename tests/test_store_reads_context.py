"""The state and cause each container is in when a window opens come from the store read as
from the whole history: an OOM kill hours before the window, a health-checked container that
restarted and never got healthy again, a lone `update` after the last start, an `oom` well
before the `die` it caused (SQLite and PostgreSQL)."""

from __future__ import annotations

from typing import Any

from sqlalchemy import Engine

from docktally.analytics.model import Window
from docktally.analytics.report import build_report
from docktally.reports.jsonout import report_document
from docktally.store import db, reads, writes

NS = 1_000_000_000
HOUR = 3600 * NS
OOM, HC, UPD, LATE = "a" * 64, "b" * 64, "c" * 64, "d" * 64
WINDOW = Window(20 * HOUR, 30 * HOUR)


def ev(cid: str, t_ns: int, action: str, **extra: Any) -> dict[str, Any]:
    row: dict[str, Any] = {
        "host": "h",
        "container_id": cid,
        "time_ns": t_ns,
        "action": action,
        "kind": action.split(":")[0],
        "name": {OOM: "oom", HC: "hc", UPD: "upd", LATE: "late"}[cid],
        "inferred": False,
        "source": "import",
        "exit_code": None,
        "signal": None,
        "health": None,
    }
    if action.startswith("health_status: "):
        row["health"] = action.split(": ")[1]
    row.update(extra)
    return row


def seed(store: Engine) -> None:
    rows = [
        # OOM-killed 10 h before the window and still down when it opens.
        ev(OOM, 1 * HOUR, "start"),
        ev(OOM, 10 * HOUR, "oom"),
        ev(OOM, 10 * HOUR + 1_000_000, "die", exit_code=137),
        # A health check (known from its events only: an import has no facts): crashed,
        # started again and never healthy since, so down until healthy.
        ev(HC, 1 * HOUR, "start"),
        ev(HC, 1 * HOUR + 30 * NS, "health_status: healthy"),
        ev(HC, 5 * HOUR, "die", exit_code=1),
        ev(HC, 5 * HOUR + NS, "start"),
        # Up since its start; an `update` later sets no state.
        ev(UPD, 1 * HOUR, "start"),
        ev(UPD, 12 * HOUR, "update"),
        # An OOM kill of one process, the container dying of it hours later.
        ev(LATE, 1 * HOUR, "start"),
        ev(LATE, 8 * HOUR, "oom"),
        ev(LATE, 15 * HOUR, "die", exit_code=1),
    ]
    with store.begin() as conn:
        writes.insert_events(conn, rows)
        cid = writes.open_coverage(
            conn, host="h", engine_url=None, engine_id=None, source="import", start_ns=0
        )
        writes.close_coverage(conn, cid, 40 * HOUR, "import_end")


def test_the_window_opens_in_the_state_and_cause_of_the_whole_history(store: Engine) -> None:
    seed(store)
    with db.open_reader(store) as reader:
        whole = reads.load_history(reader, 0, 40 * HOUR)
        read = reads.load_history(reader, WINDOW.start_ns, WINDOW.end_ns)
    want = report_document(build_report(whole, WINDOW, by="container"))
    got = report_document(build_report(read, WINDOW, by="container"))
    by_name = {g["key"]["container"]: g for g in want["groups"]}
    # The whole history's answer, as definitions.md says.
    assert by_name["oom"]["downtime_by_cause_s"] == {"oom": 36_000.0}
    assert by_name["hc"]["downtime_by_cause_s"] == {"crash": 36_000.0}
    assert by_name["upd"]["uptime_s"] == 36_000.0
    assert by_name["late"]["downtime_by_cause_s"] == {"oom": 36_000.0}
    assert got == want
