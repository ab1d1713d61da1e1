"""The architecture stays visible: who may import whom, and a clock-free analytics core."""

from __future__ import annotations

import ast
from pathlib import Path

import pytest

PKG = Path(__file__).parent.parent / "docktally"


def _imports(path: Path) -> set[str]:
    tree = ast.parse(path.read_text(), filename=str(path))
    found: set[str] = set()
    for node in ast.walk(tree):
        if isinstance(node, ast.Import):
            found.update(alias.name for alias in node.names)
        elif isinstance(node, ast.ImportFrom) and node.module and node.level == 0:
            found.add(node.module)
    return found


def _modules(sub: str) -> list[Path]:
    return sorted((PKG / sub).rglob("*.py")) if sub else sorted(PKG.rglob("*.py"))


def _top(name: str) -> str:
    return name.split(".")[0]


@pytest.mark.parametrize("path", _modules("analytics"), ids=lambda p: p.name)
def test_analytics_is_pure(path: Path) -> None:
    tops = {_top(m) for m in _imports(path)}
    assert not tops & {"docker", "sqlalchemy", "streamlit", "psycopg", "sqlite3", "requests"}
    assert not {m for m in _imports(path) if m.startswith(("docktally.store", "docktally.cli"))}
    # Nor processes, threads or sockets: whoever runs analytics decides where.
    assert not tops & {"os", "subprocess", "multiprocessing", "threading", "socket"}
    source = path.read_text()
    # The window and "now" are arguments: nothing in analytics reads the clock.
    for clock in ("time.time", "time_ns(", "datetime.now", "datetime.utcnow", "date.today"):
        assert clock not in source, f"{path.name} reads the clock ({clock})"


@pytest.mark.parametrize(
    "path", [p for p in _modules("") if "collector" not in p.parts], ids=lambda p: p.name
)
def test_only_the_collector_imports_the_docker_sdk(path: Path) -> None:
    assert "docker" not in {_top(m) for m in _imports(path)}


@pytest.mark.parametrize(
    "path",
    [p for p in _modules("") if p.parts[-2] in ("reports", "dashboard", "views", "cli")],
    ids=lambda p: f"{p.parts[-2]}/{p.name}",
)
def test_edges_do_not_talk_sql(path: Path) -> None:
    # Reports, dashboard and CLI go through store.reads/writes, never hand-written SQL.
    source = path.read_text()
    for sql in ("SELECT ", "INSERT ", "UPDATE ", "DELETE FROM"):
        assert sql not in source, f"{path.name} holds SQL ({sql.strip()})"


@pytest.mark.parametrize(
    "path",
    [PKG / "alerts" / f for f in ("engine.py", "rules.py", "message.py")],
    ids=lambda p: p.name,
)
def test_alert_decisions_are_pure(path: Path) -> None:
    # The alert engine decides like analytics computes: inputs in, no clock, no I/O; the
    # edges (alerts/evaluate.py, delivery.py, service.py) read the store and send.
    tops = {_top(m) for m in _imports(path)}
    assert not tops & {"docker", "sqlalchemy", "streamlit", "apprise", "pandas", "requests"}
    assert not tops & {"os", "subprocess", "multiprocessing", "threading", "socket", "time"}
    assert not {m for m in _imports(path) if m.startswith(("docktally.store", "docktally.cli"))}
    source = path.read_text()
    for clock in ("time.time", "time_ns(", "datetime.now", "datetime.utcnow", "date.today"):
        assert clock not in source, f"{path.name} reads the clock ({clock})"
