"""Reliability: MTBF and MTTR day by day, downtime by cause, and the exit codes behind the
failures."""

from __future__ import annotations

import streamlit as st

from docktally.dashboard import charts, data, ui

view = ui.current_view()
st.title("Reliability")
st.caption(ui.window_caption(view))

rep = data.report(view, "day")
if not len(rep.groups):
    ui.nothing_selected(view)
    st.stop()

st.subheader("MTBF and MTTR per day")
trend = data.daily_trend(rep)
if len(trend):
    left, right = st.columns(2)
    left.altair_chart(charts.over_time(trend, "mtbf_s", "MTBF (s)"), width="stretch")
    right.altair_chart(charts.over_time(trend, "mttr_s", "MTTR (s)"), width="stretch")
else:
    st.text("No failures in this range: MTBF and MTTR need at least one.")

st.subheader("Downtime by cause")
causes = data.downtime_by_cause(rep)
if len(causes):
    st.altair_chart(charts.downtime_by_cause(causes), width="stretch")
    st.dataframe(causes, hide_index=True)
else:
    st.text("No downtime in this range.")

st.subheader("Exit codes")
codes = data.exit_codes(view)
if len(codes):
    st.dataframe(codes, hide_index=True)
else:
    st.text("No failures in this range.")
