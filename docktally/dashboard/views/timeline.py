"""Timeline: each container's states over the chosen range, failures marked."""

from __future__ import annotations

import streamlit as st

from docktally.dashboard import charts, data, ui

view = ui.page("Timeline")

tl = data.timeline(view)
if not len(tl.intervals):
    ui.nothing_selected(view)
    st.stop()
if tl.shown < tl.total:
    st.caption(
        f"Showing the {tl.shown} containers with the most time not up, of {tl.total}. "
        "Narrow the selection in the sidebar to see others."
    )
st.caption("Each bar is a container's state over time (UTC); black ticks are failures.")
st.altair_chart(
    charts.timeline(tl.intervals, tl.failures),
    width="stretch",
    height=charts.timeline_height(tl.shown) + 90,
)

with st.expander("Intervals as a table"):
    ui.table(
        tl.intervals,
        column_order=["name", "state", "cause", "start_ns", "end_ns", "host", "container_id"],
    )
