"""Timeline: each container's states over the chosen range, failures marked."""

from __future__ import annotations

import streamlit as st

from docktally.dashboard import charts, data, ui

view = ui.current_view()
st.title("Timeline")
st.caption(ui.window_caption(view))

tl = data.timeline(view)
if not len(tl.intervals):
    ui.nothing_selected(view)
    st.stop()
if tl.shown < tl.total:
    st.caption(
        f"Showing the {tl.shown} containers with the most time not up, of {tl.total}. "
        "Narrow the selection in the sidebar to see others."
    )
st.altair_chart(
    charts.timeline(tl.intervals, tl.failures),
    width="stretch",
    height=charts.timeline_height(tl.shown) + 60,
)
st.caption(
    "Green up, amber unhealthy, red down, blue planned (stopped by a person, maintenance), "
    "grey unknown (nobody watched). Black ticks are failures."
)

with st.expander("Intervals as a table"):
    st.dataframe(
        ui.ns_to_datetime(tl.intervals, "start_ns", "end_ns"),
        hide_index=True,
        column_order=["host", "name", "container_id", "state", "cause", "start_ns", "end_ns"],
    )
