"""Loading the recorded engine payloads of tests/data/events/ (see its README)."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

EVENTS_DIR = Path(__file__).parent / "events"
SCENARIOS = sorted(p.stem for p in EVENTS_DIR.glob("*.jsonl"))


def path(name: str) -> Path:
    return EVENTS_DIR / f"{name}.jsonl"


def lines(name: str) -> list[str]:
    """The scenario's lines, exactly as recorded (no newline)."""
    return [ln for ln in path(name).read_text().splitlines() if ln.strip()]


def payloads(name: str) -> list[dict[str, Any]]:
    return [json.loads(ln) for ln in lines(name)]


def container_payloads(name: str) -> list[dict[str, Any]]:
    return [p for p in payloads(name) if p.get("Type") == "container"]


def inspects(name: str) -> list[dict[str, Any]]:
    """Inspect of the scenario's containers at its end ([] when they were gone)."""
    return list(json.loads((EVENTS_DIR / f"{name}.inspect.json").read_text()))
