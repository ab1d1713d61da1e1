"""Time specs: durations, ISO times, the engine's RFC 3339 nanosecond times."""

from __future__ import annotations

import pytest
from hypothesis import given
from hypothesis import strategies as st

from docktally.errors import UsageError
from docktally.timespec import (
    NS_PER_S,
    ns_to_iso,
    ns_to_since,
    parse_duration_ns,
    parse_instant_ns,
    parse_rfc3339_ns,
)

NOW = 1_764_288_000 * NS_PER_S  # 2025-11-28T00:00:00Z


@pytest.mark.parametrize(
    ("text", "ns"),
    [
        ("30s", 30 * NS_PER_S),
        ("15m", 900 * NS_PER_S),
        ("6h", 6 * 3600 * NS_PER_S),
        ("7d", 7 * 86400 * NS_PER_S),
        ("2w", 14 * 86400 * NS_PER_S),
        ("250ms", 250_000_000),
        ("1.5h", 5400 * NS_PER_S),
        ("90", 90 * NS_PER_S),  # a bare number is seconds
        ("1.5", 1_500_000_000),
        ("0.1", 100_000_000),  # exactly: no float on the way
        ("0.000000001", 1),
        ("1h30m", 5400 * NS_PER_S),
        ("1d 12h", 36 * 3600 * NS_PER_S),
        ("1m30.5s", 90_500_000_000),
        ("2w1d", 15 * 86400 * NS_PER_S),
        ("1m250ms", 60_250_000_000),
    ],
)
def test_durations(text: str, ns: int) -> None:
    assert parse_duration_ns(text) == ns


@pytest.mark.parametrize(
    "bad",
    ["", " ", "7 days", "-1d", "d7", "1y", "30m1h", "1h1h", "1e3", ".5", "5.", "inf", "\u0663"],
)
def test_bad_durations_name_the_option(bad: str) -> None:
    with pytest.raises(UsageError, match=r"^--since: ") as err:
        parse_duration_ns(bad, what="--since")
    assert "\n" not in str(err.value)


def test_zero_only_where_allowed() -> None:
    with pytest.raises(UsageError, match="not a positive duration"):
        parse_duration_ns("0s", what="--duration")
    assert parse_duration_ns("0", allow_zero=True) == 0


def test_no_duration_past_what_the_store_holds() -> None:
    with pytest.raises(UsageError, match="longer than 100 years"):
        parse_duration_ns("99999999999d", what="--duration")


def test_a_bare_number_is_not_a_time() -> None:
    # docker reads `--since 1700000000` as a Unix time: say so rather than guess.
    with pytest.raises(UsageError, match="needs a unit"):
        parse_instant_ns("1700000000", now_ns=NOW, what="--since")


@pytest.mark.parametrize(
    ("text", "ns"),
    [
        ("7d", NOW - 7 * 86400 * NS_PER_S),
        ("1h30m", NOW - 5400 * NS_PER_S),
        ("now", NOW),
        ("2025-11-27T00:00:00Z", NOW - 86400 * NS_PER_S),
        ("2025-11-27T00:00:00", NOW - 86400 * NS_PER_S),
        ("2025-11-27T01:00:00+01:00", NOW - 86400 * NS_PER_S),
        ("2025-11-27", NOW - 86400 * NS_PER_S),
    ],
)
def test_instants(text: str, ns: int) -> None:
    assert parse_instant_ns(text, now_ns=NOW) == ns


def test_malformed_instant_is_one_line_naming_the_option() -> None:
    with pytest.raises(UsageError) as err:
        parse_instant_ns("yesterday-ish", now_ns=NOW, what="--until")
    assert str(err.value).startswith("--until:")
    assert "\n" not in str(err.value)


def test_engine_times_keep_nanoseconds() -> None:
    assert parse_rfc3339_ns("2026-11-27T23:55:51.518539074Z") == 1795823751518539074
    assert parse_rfc3339_ns("2026-11-27T23:55:51Z") == 1795823751000000000
    assert parse_rfc3339_ns("0001-01-01T00:00:00Z") is None
    assert parse_rfc3339_ns("") is None


@given(st.integers(min_value=0, max_value=4_000_000_000 * NS_PER_S))
def test_iso_round_trip_is_exact(ns: int) -> None:
    assert parse_rfc3339_ns(ns_to_iso(ns)) == ns


def test_since_string_is_exact() -> None:
    assert ns_to_since(1795823751000000007) == "1795823751.000000007"
