"""Incidents on a busy host: every overlapping pair listed, the JSON and CSV written a piece at a
time (an incident open for weeks on a host of 10,000 containers overlaps tens of thousands of
others: 2 GB of JSON over 30 days of the 1M bench)."""

from __future__ import annotations

import json
import random
import tracemalloc
from pathlib import Path

import pandas as pd
import pytest

from docktally.analytics.incidents import group_incidents
from docktally.cli.common import write_chunks
from docktally.reports import postmortem_incidents
from docktally.reports.postmortem_incidents import incident_dicts, incidents_csv, incidents_json
from docktally.timespec import ns_to_iso
from tests.test_incidents import WINDOW, failure, frame


def _pairs(inc: pd.DataFrame) -> list[list[str]]:
    """Every other incident on the same host whose span meets this one's (open: to the window's
    end), by brute force."""
    spans = [
        (h, int(s), WINDOW.end_ns if pd.isna(e) else int(e), i)
        for h, s, e, i in zip(inc["host"], inc["start_ns"], inc["end_ns"], inc["id"], strict=True)
    ]
    return [
        sorted(j for h2, lo2, hi2, j in spans if h2 == h and j != i and lo2 <= hi and lo <= hi2)
        for h, lo, hi, i in spans
    ]


def test_overlapping_lists_every_pair_that_meets() -> None:
    rnd = random.Random(7)
    for _ in range(20):
        rows = [
            failure(
                rnd.choice([rnd.uniform(0, 3500), float(rnd.randint(0, 30) * 100)]),
                rnd.choice([None, 0.0, 1.0, 100.0, rnd.uniform(0, 2000)]),
                cid=f"c{k}",
                host=rnd.choice(["h1", "h2"]),
            )
            for k in range(rnd.randint(0, 60))
        ]
        inc = group_incidents(frame(rows), WINDOW, stable_s=0)
        assert [list(o) for o in inc["overlapping"]] == _pairs(inc)


def test_json_is_written_an_incident_at_a_time(tmp_path: Path) -> None:
    # Every container down and never back: each incident overlaps all the others, n * (n - 1) ids.
    n = 600
    inc = group_incidents(frame([failure(k, None, cid=f"c{k:04d}") for k in range(n)]), WINDOW)
    assert sum(map(len, inc["overlapping"])) == n * (n - 1)
    out = tmp_path / "incidents.json"
    tracemalloc.start()
    try:
        write_chunks(incidents_json(inc, WINDOW), str(out))
        peak = tracemalloc.get_traced_memory()[1]
    finally:
        tracemalloc.stop()
    written = out.read_bytes()
    whole = {
        "window": {"start": ns_to_iso(WINDOW.start_ns), "end": ns_to_iso(WINDOW.end_ns)},
        "incidents": incident_dicts(inc),
    }
    # Byte for byte what json.dumps writes for the whole document.
    assert written == json.dumps(whole, indent=2).encode()
    # Never the whole document in memory at once (it was: a string of it, and its pieces).
    assert peak < len(written) / 4, (peak, len(written))


def test_json_of_no_incidents_on_stdout(capsys: pytest.CaptureFixture[str]) -> None:
    write_chunks(incidents_json(group_incidents(frame([]), WINDOW), WINDOW), None)
    whole = {
        "window": {"start": ns_to_iso(WINDOW.start_ns), "end": ns_to_iso(WINDOW.end_ns)},
        "incidents": [],
    }
    assert capsys.readouterr().out == json.dumps(whole, indent=2) + "\n"


def test_csv_is_written_a_piece_at_a_time(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    n = 600
    inc = group_incidents(frame([failure(k, None, cid=f"c{k:04d}") for k in range(n)]), WINDOW)
    out = tmp_path / "incidents.csv"
    monkeypatch.setattr(postmortem_incidents, "CSV_CHUNK", 7)
    tracemalloc.start()
    try:
        write_chunks(incidents_csv(inc), str(out))
        peak = tracemalloc.get_traced_memory()[1]
    finally:
        tracemalloc.stop()
    written = out.read_bytes()
    # Pieces of 7 incidents give what one to_csv of them all writes.
    monkeypatch.setattr(postmortem_incidents, "CSV_CHUNK", n)
    assert written == "".join(incidents_csv(inc)).encode()
    assert written.count(b"\n") == n + 1
    # The joined lists never all at once (they were, in a frame, its CSV, and that as bytes).
    assert peak < len(written) / 4, (peak, len(written))
