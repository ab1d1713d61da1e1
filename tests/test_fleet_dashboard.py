"""The Fleet page and the grouping across hosts under Streamlit's AppTest, on the two-host seed
(tests/test_fleet_seed.py): the numbers come from analytics.fleet and the report, the sidebar's
host narrows every page."""

from __future__ import annotations

import time
from collections.abc import Iterator
from typing import Any

import pytest
from streamlit.testing.v1 import AppTest

from docktally.dashboard import data
from tests.test_dashboard import APP, TIMEOUT_S, charts, frame_with, frames, open_page
from tests.test_dashboard_seed import HOST, Seed
from tests.test_fleet_seed import EDGE, EDGE_ENGINE_RESTARTS, EDGE_FAILURES, seed_fleet

# Every page of the sidebar.
PAGES = (
    "overview",
    "fleet",
    "timeline",
    "reliability",
    "policies",
    "incidents",
    "collector",
    "alerts",
)


@pytest.fixture(scope="module")
def fleet_seeded(tmp_path_factory: pytest.TempPathFactory) -> Seed:
    path = tmp_path_factory.mktemp("fleet-dash") / "fleet.db"
    return seed_fleet(f"sqlite:///{path}", time.time_ns())


@pytest.fixture
def app(fleet_seeded: Seed, monkeypatch: pytest.MonkeyPatch) -> Iterator[AppTest]:
    monkeypatch.setenv(data.DB_ENV, fleet_seeded.url)
    monkeypatch.delenv("DOCKTALLY_COLLECTOR_STATUS", raising=False)
    yield AppTest.from_file(str(APP), default_timeout=TIMEOUT_S)


def test_fleet_page_has_each_host_and_its_engine_restarts(app: AppTest) -> None:
    open_page(app, "fleet")
    metrics = {m.label: m.value for m in app.metric}
    assert metrics["Hosts"] == "2" and metrics["Engine restarts"] == str(EDGE_ENGINE_RESTARTS + 1)
    hosts = frame_with(app, "engine_restarts").set_index("host")
    assert sorted(hosts.index) == sorted([HOST, EDGE])
    assert hosts.loc[EDGE, "engine_restarts"] == EDGE_ENGINE_RESTARTS
    assert hosts.loc[EDGE, "failures"] == EDGE_FAILURES
    worst = frame_with(app, "host_names")
    assert "worker" in set(worst["service"])
    # Three Vega-Lite charts: hosts, engine restarts, services.
    charts = [e for e in app.main if type(e).__name__ in ("UnknownElement", "VegaLiteChart")]
    assert len(charts) == 3


def _availability_style(spec: dict[str, Any]) -> list[Any]:
    """How an availability bar chart looks, whatever it draws: each layer's mark, x axis and
    scale, the label axis, and the height per bar."""
    return [
        (
            layer["mark"],
            {k: v for k, v in layer["encoding"]["x"].items() if k != "field"},
            layer["encoding"]["y"].get("axis"),
            sorted(k for k in layer["encoding"] if k in ("color", "text")),
        )
        for layer in spec["layer"]
    ] + [spec.get("height")]


def _availability_charts(specs: list[dict[str, Any]]) -> list[dict[str, Any]]:
    return [s for s in specs if "availability (%): green up" in str(s.get("layer"))]


def test_fleet_draws_availability_as_the_overview_does(app: AppTest) -> None:
    # The Fleet page's hosts and services were green-only and red-only bars on an axis of
    # 5 % steps, labelled past the bar's end (clipped at 100 %): the Overview's are green up,
    # red down, labelled inside.
    open_page(app, "fleet")
    fleet = charts(app)
    hosts, services = fleet[0], fleet[2]
    overview = _availability_charts(
        charts(open_page(AppTest.from_file(str(APP), default_timeout=TIMEOUT_S), "overview"))
    )
    assert len(overview) == 1
    want = _availability_style(overview[0])
    assert _availability_style(hosts) == want
    assert _availability_style(services) == want


@pytest.mark.parametrize(("by", "hosts"), [("service", [None]), ("host,service", [EDGE, HOST])])
def test_a_service_on_two_hosts_is_one_row_by_service_and_two_by_host_service(
    app: AppTest, by: str, hosts: list[str | None]
) -> None:
    open_page(app, "overview", by=by)
    groups = frame_with(app, "failures")
    web = groups[groups["service"] == "shop/web"]
    assert sorted(web.get("host", [None])) == hosts


@pytest.mark.parametrize("page", PAGES)
def test_the_host_filter_narrows_every_page(app: AppTest, page: str) -> None:
    open_page(app, page, host=EDGE, range="24h")
    shown = frames(app)
    assert shown, page
    for df in shown:
        if "host" in df.columns and len(df):
            assert set(df["host"].astype(str)) == {EDGE}, (page, list(df.columns))
        # Nothing of the other host anywhere: not in a title, an engine or a name.
        assert HOST not in df.astype(str).to_string(), (page, list(df.columns))
