"""Postmortems people read: times as dates to the millisecond (not nanosecond ISO strings),
durations and offsets the way the report's tables write them, container names on one line."""

from __future__ import annotations

import re

from docktally.analytics.failures import failures_from_timeline
from docktally.analytics.incident_scopes import incidents_from_timeline
from docktally.analytics.model import Window
from docktally.analytics.timeline import build_timeline
from docktally.reports import humane
from docktally.reports.postmortem import Postmortem, build_postmortem, render_html, render_markdown
from docktally.reports.safe_text import html_name
from tests.sample import history_from_rows, ns

NANO_ISO = re.compile(r"\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d(\.\d+)?Z")
NAME = "payments-api"


def _crash_loop() -> Postmortem:
    h = history_from_rows(
        events=[
            (NAME, -10, "start"),
            (NAME, 100.123456789, "die", {"exit_code": 1}),
            (NAME, 100.223456789, "start"),
            (NAME, 100.5, "die", {"exit_code": 1}),
            (NAME, 100.9, "start"),
            ("other-thing", 100.7, "die", {"exit_code": 2}),
        ],
        facts=[(NAME, -20, {"restart_policy": "always"})],
        coverage=[(-50, 1000)],
    )
    w = Window(ns(0), ns(1000))
    tl = build_timeline(h, w)
    inc = incidents_from_timeline(tl, slo=0.999)
    row = inc[inc["key"] == NAME].iloc[0]
    return build_postmortem(h.events, failures_from_timeline(tl), inc, row, w, [])


def test_times_are_dates_to_the_millisecond_not_iso_nanoseconds() -> None:
    pm = _crash_loop()
    md, page = render_markdown(pm), render_html(pm)
    for text in (md, page):
        assert not NANO_ISO.search(text), NANO_ISO.search(text)
    # sample.ns(0) is 2026-01-01 00:00 UTC; the first die at +100.123456789 s
    assert "| Start | 2026-01-01 00:01:40.123 UTC |" in md
    # the timeline's time column says UTC in its header; each row keeps the milliseconds
    assert "| 2026-01-01 00:01:40.223 | +0.100s | payments-api | restart |" in md
    assert "| 2026-01-01 00:01:40.500 | +0.377s | payments-api | die |" in md
    # the related incident's start too
    assert "other-thing from 2026-01-01 00:01:40.700 UTC" in md


def test_durations_read_as_in_the_report() -> None:
    md = render_markdown(_crash_loop())
    # 0.1 s and 0.4 s restarts: two digits under a second, no 'min' or '0.00 s' spellings
    assert "| MTTR (mean time to recover one failure) | 0.25s |" in md
    assert " s |" not in md and " min" not in md


def test_names_stay_on_one_line_in_html() -> None:
    page = render_html(_crash_loop())
    assert '<td><span class="name">payments-api</span></td>' in page
    assert ".name{white-space:nowrap}" in page


def test_a_long_name_breaks_only_after_its_separators() -> None:
    long = "com.example.billing_payments-api-blue-green-canary.1"
    assert html_name(long) == (
        '<span class="long-name">com.<wbr>example.<wbr>billing_<wbr>payments-<wbr>api-<wbr>'
        "blue-<wbr>green-<wbr>canary.<wbr>1</span>"
    )
    assert html_name("<b>&x") == '<span class="name">&lt;b&gt;&amp;x</span>'


def test_humane_instants_and_offsets() -> None:
    t = 1_764_950_700_123_456_789  # 2025-12-05 16:05:00.123456789 UTC
    assert humane.instant(t) == "2025-12-05 16:05:00.123 UTC"
    assert humane.instant(t + 999_000_000) == "2025-12-05 16:05:01.122 UTC"  # truncated
    assert humane.instant(t, zone=False) == "2025-12-05 16:05:00.123"
    assert humane.offset(0.6234) == "+0.623s"
    assert humane.offset(-12.5) == "-12.500s"
    assert humane.offset(252) == "+4m 12s"
    assert humane.duration(0.31) == "0.31s"
    assert humane.duration(0.045) == "45ms"
    assert humane.duration(0.4) == "0.4s"
