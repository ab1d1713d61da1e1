"""The uptime report (stub)."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

import pandas as pd

from docktally.analytics.model import History, Window


@dataclass
class Report:
    window: Window
    by: str
    groups: pd.DataFrame
    breakdown: pd.DataFrame | None = None
    time_by_class_s: dict[str, float] = field(default_factory=dict)
    fleet: dict[str, Any] = field(default_factory=dict)
    slo: float | None = None
    every: str | None = None

    def to_json_dict(self) -> dict[str, Any]:
        return {"window": {}, "groups": []}


def build_report(
    history: History,
    window: Window,
    *,
    by: str = "container",
    slo: float | None = None,
    every: str | None = None,
) -> Report:
    return Report(window=window, by=by, groups=pd.DataFrame())
