"""events.packed: the Python packer and the SQL one (import, migration) agree on every case,
and what the reader decodes is what was packed (tests/test_store_reads.py reads them back)."""

from __future__ import annotations

import sqlite3
from typing import Any

from hypothesis import given, settings
from hypothesis import strategies as st

from docktally.store import packing

actions = st.sampled_from(
    ["start", "die", "kill", "create", "health_status", "health_status: healthy",
     "health_status: unhealthy", "health_status: starting", " kill : x", "exec_start: sh",
     "rename", "update", "pause"]
)  # fmt: skip


@st.composite
def events(draw: Any) -> dict[str, Any]:
    action = draw(actions)
    kind = action.split(":")[0].strip()
    health = action.split(": ", 1)[1] if action.startswith("health_status: ") else None
    return {
        "action": action,
        "kind": kind,
        "exit_code": draw(st.none() | st.integers(-3, 70_000)),
        "signal": draw(st.none() | st.integers(-2, 300)),
        "health": draw(st.sampled_from([health, None, "healthy"])),
        "inferred": draw(st.booleans()),
        "cause_hint": draw(st.sampled_from([None, None, "engine_restart"])),
    }


DB = sqlite3.connect(":memory:")
DB.execute(
    "CREATE TABLE e (action TEXT, kind TEXT, exit_code INTEGER, signal INTEGER, health TEXT,"
    " inferred INTEGER, cause_hint TEXT)"
)


@settings(max_examples=400, deadline=None)
@given(ev=events())
def test_python_and_sql_pack_alike(ev: dict[str, Any]) -> None:
    DB.execute("DELETE FROM e")
    DB.execute(
        "INSERT INTO e VALUES (?, ?, ?, ?, ?, ?, ?)",
        (ev["action"], ev["kind"], ev["exit_code"], ev["signal"], ev["health"],
         int(ev["inferred"]), ev["cause_hint"]),
    )  # fmt: skip
    (sql,) = DB.execute(f"SELECT {packing.packed_sql()} FROM e").fetchone()
    assert sql == packing.pack(**ev)


def test_codes() -> None:
    assert packing.pack(action="exec_start: sh", kind="exec_start", exit_code=None, signal=None,
                        health=None, inferred=False, cause_hint=None) == packing.OTHER  # fmt: skip
    assert packing.pack(action="die", kind="die", exit_code=137, signal=None, health=None,
                        inferred=True, cause_hint=None) == (
        packing.KINDS.index("die") + 16 + 128 * 139
    )  # fmt: skip
    assert packing.pack(action="die", kind="die", exit_code=1, signal=None, health=None,
                        inferred=True, cause_hint="oom") == packing.ODD  # fmt: skip


@settings(max_examples=200, deadline=None)
@given(ev=events())
def test_unpack_gives_back_what_was_packed(ev: dict[str, Any]) -> None:
    import numpy as np

    value = packing.pack(**ev)
    if value < 0:
        return
    u = packing.unpack(np.array([value], dtype=np.int64))
    assert packing.KINDS[int(u.kind_code[0])] == ev["kind"]
    assert bool(u.inferred[0]) == ev["inferred"]
    h = int(u.health_code[0])
    assert (packing.HEALTHS[h - 1] if h else None) == ev["health"]
    for got, want in ((u.exit_code[0], ev["exit_code"]), (u.signal[0], ev["signal"])):
        assert (None if np.isnan(got) else int(got)) == want
