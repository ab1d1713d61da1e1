"""Coverage per host: overlapping spans count once, clipped exactly to the window."""

from __future__ import annotations

import pandas as pd
import pytest

from docktally.analytics.coverage import coverage_by_host
from docktally.analytics.model import COVERAGE_COLUMNS, Window

S = 1_000_000_000
W = Window(100 * S, 200 * S)


def cov(rows: list[tuple[str, int, int | None, str]]) -> pd.DataFrame:
    return pd.DataFrame(
        [(h, s * S, None if e is None else e * S, src) for h, s, e, src in rows],
        columns=COVERAGE_COLUMNS,
    )


@pytest.mark.parametrize(
    ("rows", "covered_s"),
    [
        ([("a", 0, 300, "collector")], 100.0),  # clipped at both edges
        ([("a", 110, 130, "collector"), ("a", 120, 150, "collector")], 40.0),  # overlap once
        ([("a", 110, 120, "collector"), ("a", 150, 160, "import")], 20.0),  # a gap between
        ([("a", 50, 90, "collector")], 0.0),  # before the window
        ([("a", 150, None, "collector")], None),  # no end: not counted, host not listed
    ],
)
def test_covered_seconds(rows: list[tuple[str, int, int | None, str]], covered_s: float) -> None:
    out = coverage_by_host(cov(rows), W)
    if covered_s is None:
        assert out.empty
        return
    row = out.iloc[0]
    assert row["covered_s"] == covered_s
    assert row["uncovered_s"] == 100.0 - covered_s
    assert row["covered_pct"] == covered_s


def test_hosts_are_separate_and_sources_listed() -> None:
    out = coverage_by_host(
        cov([("b", 100, 150, "import"), ("a", 100, 200, "collector"), ("b", 140, 160, "import")]),
        W,
    )
    assert list(out["host"]) == ["a", "b"]
    assert list(out["covered_s"]) == [100.0, 60.0]
    assert list(out["sources"]) == ["collector", "import"]
