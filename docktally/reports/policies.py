"""The restart-policy comparison as a table, JSON or Markdown. Rendering only: the numbers come
from analytics.policies.compare_policies."""

from __future__ import annotations

import json
from typing import Any

from docktally.reports import humane
from docktally.reports.safe_text import markdown, visible

# Headers in words and values as reports.humane writes them, as in the uptime report.
COLUMNS = [
    ("policy", "Restart policy"),
    ("containers", "Containers"),
    ("failures", "Failures"),
    ("recovered_without_person_ratio", "Recovered without a person"),
    ("mttr_s", "MTTR"),
    ("availability", "Availability"),
    ("crash_loops", "Crash loops"),
    ("backoff_wait_s", "Back-off wait"),
]


def _cell(key: str, v: Any) -> str:
    if v is None:
        return "-"
    if key in ("recovered_without_person_ratio",):
        return f"{100 * v:.0f}%"
    if key == "availability":
        return humane.percent(v)
    if key.endswith("_s"):
        return humane.duration(v)
    return str(v)


def _rows(rows: list[dict[str, Any]], extra: list[tuple[str, str]]) -> list[list[str]]:
    cols = COLUMNS + extra
    return [[h for _, h in cols]] + [[_cell(k, r.get(k)) for k, _ in cols] for r in rows]


def _text_table(table: list[list[str]]) -> str:
    table = [[visible(c) for c in row] for row in table]
    widths = [max(len(row[i]) for row in table) for i in range(len(table[0]))]
    return "\n".join(
        "  ".join(c.ljust(w) for c, w in zip(row, widths, strict=True)).rstrip() for row in table
    )


def _md_table(table: list[list[str]]) -> str:
    lines = ["| " + " | ".join(table[0]) + " |", "|" + "---|" * len(table[0])]
    lines += ["| " + " | ".join(markdown(c) for c in row) + " |" for row in table[1:]]
    return "\n".join(lines)


SELF_CHECK = [("replayed_mttr_s", "Replayed MTTR")]


def render_policies(result: dict[str, Any], fmt: str, title: str | None = None) -> str:
    if fmt == "json":
        return json.dumps(result, indent=2)
    w = result["window"]
    window = (
        f"{humane.when(w['start_ns'], seconds=True)} to {humane.when(w['end_ns'], seconds=True)}"
    )
    observed = _rows(result["observed"], SELF_CHECK)
    what_if = _rows(result["what_if"], [])
    if fmt == "markdown":
        parts = [
            f"# {title or 'Restart policies'}",
            "",
            f"Window: {window}",
            "",
            "## Observed, by restart policy in effect",
            "",
            _md_table(observed),
            "",
            "Replayed MTTR: the same failures replayed under their own policy (a model check).",
            "",
            "## What if every failure had happened under each policy",
            "",
            _md_table(what_if),
            "",
            "## Assumptions",
            "",
            *[f"- {a}" for a in result["assumptions"]],
            "",
        ]
        return "\n".join(parts)
    parts = [
        f"{title or 'Restart policies'}, {window}",
        "",
        "Observed, by restart policy in effect:",
        _text_table(observed) if result["observed"] else "  no containers in the window",
        "",
        "What if every observed failure had happened under each policy:",
        _text_table(what_if),
        "",
        "Assumptions:",
        *[f"  - {a}" for a in result["assumptions"]],
    ]
    return "\n".join(parts) + "\n"
