# The import's line loop in C (_scan.c); importer.scan_py is the same loop in Python.
from typing import Any

def scan(
    lines: list[Any], first_line_no: int, ctx: tuple[Any, ...], out: tuple[list[Any], ...]
) -> int: ...
