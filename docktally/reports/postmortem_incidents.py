"""The incident list as a table, JSON or CSV."""

from __future__ import annotations

import io
import json
from collections.abc import Iterator
from json.encoder import encode_basestring_ascii
from typing import Any

import pandas as pd

from docktally.analytics.incidents import DEFAULT_BUDGET_PERIOD_S, frame_records
from docktally.analytics.model import Window
from docktally.reports import humane
from docktally.reports.safe_text import visible
from docktally.timespec import ns_to_iso


def incident_dicts(incidents: pd.DataFrame) -> list[dict[str, Any]]:
    return list(_incident_rows(incidents))


def _incident_rows(incidents: pd.DataFrame) -> Iterator[dict[str, Any]]:
    for r in frame_records(incidents):
        end = None if pd.isna(r["end_ns"]) else int(r["end_ns"])
        row: dict[str, Any] = {
            "id": r["id"],
            "host": r["host"],
            "scope": r["scope"],
            "key": r["key"],
            "containers": list(r["names"]),
            "container_ids": list(r["container_ids"]),
            "policy": r["policy"],
            "start": ns_to_iso(int(r["start_ns"])),
            "end": None if end is None else ns_to_iso(end),
            "start_ns": int(r["start_ns"]),
            "end_ns": end,
            "open": bool(r["open"]),
            "downtime_s": float(r["downtime_s"]),
            "failures": int(r["failures"]),
            "restarts": int(r["restarts"]),
            "crash_loop": bool(r["crash_loop"]),
            "causes": dict(r["causes"]),
            "exit_codes": dict(r["exit_codes"]),
            "exit_meanings": dict(r["exit_meanings"]),
            "time_to_recover_s": _f(r["time_to_recover_s"]),
            "slo_budget_spent_ratio": _f(r["slo_budget_spent_ratio"]),
            "overlapping": list(r["overlapping"]),
        }
        engine = _engine(r.get("engine_restart"))
        if engine is not None:  # only incidents of scope "engine" have it
            row["engine_restart"] = engine
        yield row


def _engine(d: Any) -> dict[str, Any] | None:
    """An engine restart's details with its times as ISO too."""
    if not isinstance(d, dict):
        return None
    out = dict(d)
    out["stopped"] = ns_to_iso(int(d["stopped_ns"]))
    out["back"] = None if d["back_ns"] is None else ns_to_iso(int(d["back_ns"]))
    out["containers"] = [
        {
            **m,
            "died": ns_to_iso(int(m["died_ns"])),
            "back": None if m["back_ns"] is None else ns_to_iso(int(m["back_ns"])),
        }
        for m in d["containers"]
    ]
    return out


def _f(v: Any) -> float | None:
    return None if v is None or pd.isna(v) else float(v)


def incidents_json(incidents: pd.DataFrame, window: Window) -> Iterator[str]:
    """The JSON document, an incident at a time, byte for byte as json.dumps(indent=2) writes it
    whole: `overlapping` lists every pair, gigabytes on a busy host over weeks."""
    span = {"start": ns_to_iso(window.start_ns), "end": ns_to_iso(window.end_ns)}
    yield '{\n  "window": ' + _dump(span, "  ") + ',\n  "incidents": '
    sep = "[\n    "
    for row in _incident_rows(incidents):
        yield sep + _dump(row, "    ")
        sep = ",\n    "
    yield "[]\n}" if sep.startswith("[") else "\n  ]\n}"


def _dump(value: Any, pad: str) -> str:
    """json.dumps(value, indent=2) as it stands `pad` deep in a document. Lists of strings, the
    long part, go through the C string encoder in one join rather than the pure-Python
    indenting encoder's generator per item."""
    inner = pad + "  "
    if type(value) is list and value and all(type(v) is str for v in value):
        sep = ",\n" + inner
        return "[\n" + inner + sep.join(map(encode_basestring_ascii, value)) + "\n" + pad + "]"
    if type(value) is dict and value and all(type(k) is str for k in value):
        items = ",\n".join(
            f"{inner}{encode_basestring_ascii(k)}: {_dump(v, inner)}" for k, v in value.items()
        )
        return "{\n" + items + "\n" + pad + "}"
    # Strings never hold a raw newline in JSON: every newline is the indentation's.
    return json.dumps(value, indent=2).replace("\n", "\n" + pad)


def period_text(seconds: float) -> str:
    """A budget period as people say it: 30d, 1w, 12h."""
    for unit, n in (("w", 604800), ("d", 86400), ("h", 3600), ("m", 60)):
        if seconds >= n and seconds % n == 0:
            return f"{int(seconds // n)}{unit}"
    return f"{seconds:g}s"


CSV_COLUMNS = [
    "id",
    "host",
    "key",
    "policy",
    "start",
    "end",
    "downtime_s",
    "failures",
    "restarts",
    "causes",
    "exit_codes",
    "ttr_s",
    "slo_budget",
    "overlapping",
]
# Incidents per piece of CSV: the `overlapping` column joined a piece at a time.
CSV_CHUNK = 1000


def _flat(r: dict[str, Any]) -> dict[str, Any]:
    """An incident's row of the table and the CSV but its `overlapping`."""
    flat = {
        "id": r["id"],
        "host": r["host"],
        "key": r["key"],
        "policy": r["policy"],
        "start": r["start"],
        "end": r["end"] or "open",
        "downtime_s": round(r["downtime_s"], 3),
        "failures": r["failures"],
        "restarts": r["restarts"],
        "causes": ",".join(f"{k}:{v}" for k, v in sorted(r["causes"].items())),
        "exit_codes": ",".join(f"{k}:{v}" for k, v in sorted(r["exit_codes"].items())),
        "ttr_s": r["time_to_recover_s"],
        "slo_budget": r["slo_budget_spent_ratio"],
    }
    # Names, hosts and labels reach a terminal or a spreadsheet: escaped (JSON escapes by itself).
    return {k: visible(v) if isinstance(v, str) else v for k, v in flat.items()}


def incidents_csv(incidents: pd.DataFrame) -> Iterator[str]:
    """The CSV, CSV_CHUNK incidents at a time, as one to_csv of them all writes it: the chunks
    are slices of one frame, so each column keeps the whole's dtype and number format."""
    frame = pd.DataFrame.from_records(
        [_flat(r) for r in _incident_rows(incidents)], columns=CSV_COLUMNS[:-1]
    )
    overlapping = incidents["overlapping"].tolist()
    for i in range(0, max(len(frame), 1), CSV_CHUNK):
        part = frame.iloc[i : i + CSV_CHUNK].copy()
        part["overlapping"] = [visible(" ".join(o)) for o in overlapping[i : i + CSV_CHUNK]]
        buf = io.StringIO()
        part.to_csv(buf, index=False, header=i == 0)
        yield buf.getvalue()


def render_incidents(
    incidents: pd.DataFrame,
    window: Window,
    fmt: str,
    budget_period_s: float = DEFAULT_BUDGET_PERIOD_S,
) -> str:
    """The table's BUDGET column is each incident's share of the error budget over
    `budget_period_s` (the SLO's period, as analytics.incidents computed it)."""
    if fmt == "json":
        return "".join(incidents_json(incidents, window))
    if fmt == "csv":
        return "".join(incidents_csv(incidents))
    rows = incident_dicts(incidents)
    flat = [_flat(r) for r in rows]
    if not flat:
        return "no incidents in the window\n"
    # Headers in words and values as reports.humane writes them, as in the uptime report.
    scope = {"container": "Container", "service": "Service"}.get(str(rows[0]["scope"]), "Affected")
    table = [
        [
            "Incident",
            scope,
            "Start (UTC)",
            "Down",
            "Failures",
            "Restarts",
            "Causes",
            "Exit codes",
            "Duration",
            f"Budget/{period_text(budget_period_s)}",
            "Overlaps",
        ]
    ]
    for r, row in zip(flat, rows, strict=True):
        table.append(
            [
                r["id"],
                str(r["key"]),
                humane.when(row["start_ns"], seconds=True, zone=False),
                humane.duration(row["downtime_s"]),
                str(r["failures"]),
                str(r["restarts"]),
                visible(humane.counts(row["causes"])),
                humane.counts(row["exit_codes"]),
                "open" if row["open"] else humane.duration(row["time_to_recover_s"]),
                "-" if r["slo_budget"] is None else f"{100 * r['slo_budget']:.1f}%",
                str(len(row["overlapping"])),
            ]
        )
    widths = [max(len(row[i]) for row in table) for i in range(len(table[0]))]
    return (
        "\n".join(
            "  ".join(c.ljust(w) for c, w in zip(row, widths, strict=True)).rstrip()
            for row in table
        )
        + "\n"
    )
