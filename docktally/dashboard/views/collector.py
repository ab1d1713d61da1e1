"""Collector: is anything watching the engine, what time is covered, where the gaps are, and
the last events stored."""

from __future__ import annotations

import streamlit as st

from docktally.dashboard import data, ui

view = ui.current_view()
now = data.now_ns()

st.title("Collector")

st.subheader("Engine status")
status = data.collector_status()
if status is not None:
    ui.table(data.engine_status_table(status))
live = data.watching(view.url, now, view.filters.host)
if len(live):
    st.success(f"{len(live)} collector(s) watching now.")
    ui.table(
        live,
        column_order=["host", "engine_url", "source", "start_ns", "heartbeat_ns", "run_label"],
    )
else:
    st.info(
        "No collector is watching right now. Start one with `docktally collect` "
        "(or `docktally up`); time nobody watched counts as unknown, never as uptime."
    )

st.subheader("Coverage in this time range")
summary = data.coverage_summary(view)
ui.table(summary)

st.subheader("Last events")
last = data.last_events(view.url, host=view.filters.host)
ui.table(last)

st.subheader("Gaps the engine could not replay")
gaps = data.gap_rows(view.url, view.filters.host)
if len(gaps):
    ui.table(gaps)
else:
    st.text("none")

with st.expander("Every coverage row"):
    rows = data.coverage_rows(view.url, view.filters.host)
    ui.table(rows)
