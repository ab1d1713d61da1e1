"""Bounding a captured log tail. Pure."""

from __future__ import annotations

MAX_LOG_BYTES = 64 * 1024
TAIL_LINES = 100


def bound_tail(data: bytes, max_bytes: int = MAX_LOG_BYTES) -> tuple[str, bool]:
    """The last lines of `data` that fit in `max_bytes`, as text; True if anything was cut.

    The cut falls on a line boundary where one exists, so no line is stored half.
    """
    if len(data) <= max_bytes:
        return data.decode("utf-8", "replace"), False
    tail = data[-max_bytes:]
    newline = tail.find(b"\n")
    if 0 <= newline < len(tail) - 1:
        tail = tail[newline + 1 :]
    text = tail.decode("utf-8", "replace")
    # A multi-byte character cut in two decodes to U+FFFD, which may grow the text: keep the bound.
    while len(text.encode("utf-8")) > max_bytes:
        text = text[1:]
    return text, True
