"""What an installed docktally has that a checkout may lack: its modules byte-compiled.

`pip install` writes the .pyc files; an editable checkout writes them on first use, unless
PYTHONDONTWRITEBYTECODE is set (this project's machines set it), in which case every command
compiles docktally's own modules from source again (~0.1-0.3 s of a report's start-up). The
benchmarks measure docktally as installed, so they compile them once first.
"""

from __future__ import annotations

import compileall
from pathlib import Path

PACKAGE = Path(__file__).resolve().parent.parent / "docktally"


def byte_compile() -> None:
    compileall.compile_dir(str(PACKAGE), quiet=1)
