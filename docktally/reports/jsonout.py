"""`--format json`: the report object of docs/report-json.md, built from a Report and
serialised."""

from __future__ import annotations

from typing import Any

import numpy as np
import orjson
import pandas as pd

from docktally.analytics.report import BURN_ALERTS, SLO_COLUMNS, Report, jsonable, num
from docktally.reports.safe_text import json_text
from docktally.reports.tables import NO_DATA
from docktally.timespec import ns_to_iso


def report_document(report: Report) -> dict[str, Any]:
    """The `docktally report --format json` object (docs/report-json.md; NaN and NA as
    None)."""
    out: dict[str, Any] = {
        "window": {
            "start": ns_to_iso(report.window.start_ns),
            "end": ns_to_iso(report.window.end_ns),
        },
        "by": report.by,
        "groups": _groups(report, report.groups),
        "time_by_class_s": {k: num(v) for k, v in report.time_by_class_s.items()},
        "fleet": {k: jsonable(v) for k, v in report.fleet.items()},
    }
    if report.slo is not None:
        out["slo"] = {
            "target": report.slo,
            "alerts": {f"{f}x/{lng}+{sh}": sev for f, lng, sh, sev in BURN_ALERTS},
        }
    if report.breakdown is not None:
        out["every"] = report.every
        out["breakdown"] = _groups(report, report.breakdown, periods=True)
    return out


def _periods(frame: pd.DataFrame) -> list[dict[str, str]]:
    """Each row's {"start", "end"}: one dict per period, shared by its rows (a year of 10,000
    containers per month is 120,000 rows and 12 periods)."""
    pairs = list(
        zip(frame["period_start_ns"].tolist(), frame["period_end_ns"].tolist(), strict=True)
    )
    iso = {p: {"start": ns_to_iso(int(p[0])), "end": ns_to_iso(int(p[1]))} for p in set(pairs)}
    return [iso[p] for p in pairs]


def _groups(report: Report, frame: pd.DataFrame, periods: bool = False) -> list[dict[str, Any]]:
    """One JSON group per row (with `periods`, a breakdown's: its period first). Values are
    converted a column at a time: per cell, the conversions cost more than building the
    dicts."""
    by = report.by
    keys = [(by if c == "container" else c, _values(frame[c])) for c in report.key_columns]
    up, down, planned, unknown, avail, mtbf, mttr, lo, hi = (
        _values(frame[c])
        for c in (
            "uptime_s",
            "downtime_s",
            "planned_s",
            "unknown_s",
            "availability",
            "mtbf_s",
            "mttr_s",
            "mtbf_ci90_low_s",
            "mtbf_ci90_high_s",
        )
    )
    failures, restarts, ooms = (
        frame[c].to_numpy(dtype=np.int64).tolist() for c in ("failures", "restarts", "oom_kills")
    )
    stops, forced = (frame[c].to_numpy(dtype=np.int64).tolist() for c in ("stops", "forced_stops"))
    stop_mean, stop_max = (_values(frame[c]) for c in ("stop_mean_s", "stop_max_s"))
    exit_codes = frame["exit_codes"].tolist()
    by_cause = frame["downtime_by_cause_s"].tolist()
    slo = (
        [(c, _values(frame[c])) for c in SLO_COLUMNS]
        if report.slo is not None and "slo_target" in frame.columns
        else None
    )
    period = _periods(frame) if periods else None
    out: list[dict[str, Any]] = []
    for i in range(len(frame)):
        g: dict[str, Any] = {} if period is None else {"period": period[i]}
        g |= {
            "key": {k: v[i] for k, v in keys},
            "uptime_s": up[i],
            "downtime_s": down[i],
            "planned_s": planned[i],
            "unknown_s": unknown[i],
            "availability": avail[i],
            "failures": failures[i],
            "restarts": restarts[i],
            "mtbf_s": mtbf[i],
            "mttr_s": mttr[i],
            "mtbf_ci90_s": [lo[i], hi[i]],
            # Built by analytics as str -> int and str -> float (never NaN): copied as is.
            "exit_codes": dict(exit_codes[i]),
            "oom_kills": ooms[i],
            "downtime_by_cause_s": dict(by_cause[i]),
            "stops": stops[i],
            "forced_stops": forced[i],
            "stop_mean_s": stop_mean[i],
            "stop_max_s": stop_max[i],
        }
        if slo is not None:
            g["slo"] = {c: v[i] for c, v in slo}
        out.append(g)
    return out


def _values(col: pd.Series) -> list[Any]:
    """A column as JSON-ready Python values (NaN and NA -> None)."""
    if col.dtype.kind == "f":
        a = col.to_numpy(dtype=np.float64)
        vals: list[Any] = a.tolist()
        if np.isnan(a).any():
            vals = [None if v != v else v for v in vals]
        return vals
    # Names and ids: str (or None) already, passed as they are; anything else converted.
    return [
        v if v is None or type(v) is str else jsonable(v)
        for v in col.to_numpy(dtype=object).tolist()
    ]


def _default(value: Any) -> Any:
    """What orjson does not serialise itself (numpy scalars beyond its own options)."""
    if hasattr(value, "item"):
        return value.item()
    raise TypeError(f"not JSON serialisable: {type(value).__name__}")


def render_json(report: Report) -> str:
    doc = report_document(report)
    if report.empty:
        doc["note"] = NO_DATA
    # Indented, whatever the size: the same layout for 5 groups and for 10,000 (`jq -c`
    # compacts it). orjson: ~10x faster than the json module on a 10,000-group report.
    option = orjson.OPT_SERIALIZE_NUMPY | orjson.OPT_APPEND_NEWLINE | orjson.OPT_INDENT_2
    data = orjson.dumps(doc, option=option, default=_default)
    # One copy at a time of what may be 100s of MB (a year per month of 10,000 containers).
    del doc
    text = data.decode("utf-8")
    del data
    return json_text(text)
