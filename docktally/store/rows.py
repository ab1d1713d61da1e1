"""An event row as the store takes it: a tuple of ROW_FIELDS, in that order.

The import makes a million of them, so a row is a tuple, not a dict: a quarter less of its
CPU to make and to take apart (bench/README.md, Import). No SQLAlchemy here: the collector's
normaliser builds rows without loading the database layer.
"""

from __future__ import annotations

from typing import Any

# The columns of `events` a row fills directly, first, so that COPY takes them as one slice.
EVENT_FIELDS = (
    "time_ns",
    "action",
    "kind",
    "exit_code",
    "signal",
    "health",
    "inferred",
    "cause_hint",
    "evidence",
    "source",
)
# What a row says about its container: stored once per container in `containers`.
CONTAINER_FIELDS = ("name", "image", "compose_project", "compose_service")
ROW_FIELDS = (*EVENT_FIELDS, "host", "container_id", "raw", *CONTAINER_FIELDS)
# The fields a row given as a mapping must hold; the others may be left out (None).
REQUIRED_FIELDS = frozenset(("host", "container_id", "time_ns", "action", "kind", "source"))

EventRow = tuple[Any, ...]  # ROW_FIELDS' values
