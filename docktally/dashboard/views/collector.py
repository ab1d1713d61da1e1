"""Collector: is anything watching the engine, what time is covered, where the gaps are, and
the last events stored."""

from __future__ import annotations

import streamlit as st

from docktally.dashboard import charts, data, ui

view = ui.page("Collector")
now = data.now_ns()

live = data.watching(view.url, now, view.filters.host)
if len(live):
    st.success(f"{len(live)} collector(s) watching now.")
else:
    st.info(
        "No collector is watching right now. Start one with `docktally collect` "
        "(or `docktally up`); time nobody watched counts as unknown, never as uptime."
    )

st.subheader("Watched, and the gaps")
watched = data.watched_spans(view)
if len(watched):
    st.altair_chart(
        charts.watched(watched, view.window.start_ns, view.window.end_ns), width="stretch"
    )

st.subheader("Events stored")
bins, bin_name = data.event_bins(view)
if len(bins):
    st.altair_chart(
        charts.events_over_time(bins, bin_name, view.window.start_ns, view.window.end_ns),
        width="stretch",
        height=charts.ELEMENT_HEIGHT,
    )
else:
    st.text("No events in this time range.")

status = data.collector_status()
if status is not None:
    st.subheader("Engine status")
    ui.table(data.engine_status_table(status))
if len(live):
    st.subheader("Collectors watching now")
    ui.table(
        live,
        column_order=["host", "engine_url", "source", "start_ns", "heartbeat_ns", "run_label"],
    )

st.subheader("Coverage in this time range")
ui.table(data.coverage_summary(view))

st.subheader("Last events")
ui.table(data.last_events(view.url, host=view.filters.host))

st.subheader("Gaps the engine could not replay")
gaps = data.gap_rows(view.url, view.filters.host)
if len(gaps):
    ui.table(gaps)
else:
    st.text("No gaps recorded.")

with st.expander("Every coverage row"):
    ui.table(data.coverage_rows(view.url, view.filters.host))
