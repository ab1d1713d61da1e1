"""What the Collector page draws (analytics.activity): event counts per bin that fits the
range, and per host the watched spans and the gaps between them."""

from __future__ import annotations

import pandas as pd

from docktally.analytics import activity
from docktally.analytics.model import Window

M = 60 * 1_000_000_000
H = 60 * M


def test_a_range_gets_bins_a_person_reads() -> None:
    assert activity.bin_for(Window(0, H))[1] == "minute"  # not one bar per hour
    assert activity.bin_for(Window(0, 6 * H))[1] == "5 minutes"
    assert activity.bin_for(Window(0, 24 * H))[1] == "hour"
    assert activity.bin_for(Window(0, 7 * 24 * H))[1] == "6 hours"
    assert activity.bin_for(Window(0, 30 * 24 * H))[1] == "day"
    assert activity.bin_for(Window(0, 365 * 24 * H))[1] == "week"


def test_events_are_counted_per_host_and_bin_inside_the_range() -> None:
    events = pd.DataFrame(
        {
            "host": pd.Categorical(["a", "a", "b", "a", "a"]),
            "time_ns": [-1, 30 * 10**9, 50 * 10**9, 61 * 10**9, H],  # first and last outside
        }
    )
    bins = activity.events_per_bin(events, Window(0, H))
    assert bins.values.tolist() == [[0, M, "a", 1], [0, M, "b", 1], [M, 2 * M, "a", 1]]
    assert activity.events_per_bin(events.iloc[:0], Window(0, H)).empty


def test_watched_spans_cut_the_range_into_watched_and_gaps() -> None:
    coverage = pd.DataFrame(
        {
            "host": ["a", "a", "a"],
            "start_ns": [-H, 10 * M, 15 * M],
            "end_ns": [5 * M, 20 * M, 30 * M],  # two overlapping spans count once
            "source": ["collector"] * 3,
        }
    )
    spans = activity.watched_spans(coverage, Window(0, H), hosts=["b"])
    rows = spans[["host", "start_ns", "end_ns", "watched"]].values.tolist()
    assert rows == [
        ["a", 0, 5 * M, True],
        ["a", 5 * M, 10 * M, False],
        ["a", 10 * M, 30 * M, True],
        ["a", 30 * M, H, False],
        ["b", 0, H, False],  # events but nobody watching
    ]
    assert spans["length_s"].sum() == 2 * 3600
