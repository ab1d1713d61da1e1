"""Recovery from an unhealthy spell is the next `health_status: healthy`, also for imported
events, which carry no inspect facts: health events prove the container has a health check."""

from __future__ import annotations

import copy
import json
from typing import Any

import pytest
from sqlalchemy import Engine

from docktally.analytics.failures import find_failures
from docktally.analytics.model import Window
from docktally.analytics.report import build_report
from docktally.collector.importer import import_lines
from docktally.store import db, reads
from tests.data import recorded

NS = 1_000_000_000


def _recorded(action: str) -> dict[str, Any]:
    """The health scenario's first container payload with this action."""
    return next(p for p in recorded.container_payloads("health") if p["Action"] == action)


def _at(payload: dict[str, Any], t_ns: int, **attrs: str) -> str:
    """The recorded payload moved to t_ns (and with these attributes changed), as a line."""
    p = copy.deepcopy(payload)
    p["timeNano"] = t_ns
    p["time"] = t_ns // NS
    p["Actor"]["Attributes"].update(attrs)
    return json.dumps(p)


def _history(store: Engine, lines: list[str]) -> Any:
    with store.begin() as conn:
        import_lines(conn, lines, host="h1")
    with db.open_reader(store) as reader:
        h = reads.load_history(reader, 0, 2**62)
    assert h.facts.empty  # an import stores no inspect facts
    return h


def test_unhealthy_then_healthy_recovers_at_healthy_without_facts(store: Engine) -> None:
    t0 = int(_recorded("start")["timeNano"])
    lines = [
        _at(_recorded("create"), t0 - NS // 2),
        _at(_recorded("start"), t0),
        _at(_recorded("health_status: healthy"), t0 + 1 * NS),
        _at(_recorded("health_status: unhealthy"), t0 + 10 * NS),
        _at(_recorded("health_status: healthy"), t0 + 13 * NS),
        _at(_recorded("exec_die"), t0 + 20 * NS),  # the import's span ends here
    ]
    h = _history(store, lines)
    w = Window(t0, t0 + 20 * NS)
    f = find_failures(h, w)
    assert list(f["cause"]) == ["unhealthy"]
    assert f["recovered_ns"].iloc[0] == t0 + 13 * NS
    assert f["ttr_s"].iloc[0] == pytest.approx(3.0)
    row = build_report(h, w).groups.iloc[0]
    assert row["failures"] == 1 and row["restarts"] == 0
    assert row["mttr_s"] == pytest.approx(3.0)
    assert row["downtime_s"] == pytest.approx(3.0)
    assert row["downtime_by_cause_s"] == {"unhealthy": pytest.approx(3.0)}


def test_a_crash_stays_down_until_healthy_without_facts(store: Engine) -> None:
    t0 = int(_recorded("start")["timeNano"])
    lines = [
        _at(_recorded("create"), t0 - NS // 2),
        _at(_recorded("start"), t0),
        _at(_recorded("health_status: healthy"), t0 + 1 * NS),
        _at(_recorded("die"), t0 + 10 * NS, exitCode="1"),
        _at(_recorded("start"), t0 + 11 * NS),
        _at(_recorded("health_status: healthy"), t0 + 15 * NS),
        _at(_recorded("exec_die"), t0 + 20 * NS),
    ]
    h = _history(store, lines)
    w = Window(t0, t0 + 20 * NS)
    f = find_failures(h, w)
    assert list(f["cause"]) == ["crash"]
    assert f["recovered_ns"].iloc[0] == t0 + 15 * NS
    row = build_report(h, w).groups.iloc[0]
    assert row["downtime_s"] == pytest.approx(5.0)
    assert row["restarts"] == 1 and row["mttr_s"] == pytest.approx(5.0)
