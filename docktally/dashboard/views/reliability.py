"""Reliability: MTBF and MTTR over time per group, downtime by cause, and the exit codes
behind the failures with what each means."""

from __future__ import annotations

import streamlit as st

from docktally.analytics import trends
from docktally.dashboard import charts, data, ui

view = ui.current_view()
st.title("Reliability")
st.caption(ui.window_caption(view))

every = trends.every_for(view.window)
rep = data.report(view, every)
if not len(rep.groups):
    ui.nothing_selected(view)
    st.stop()

st.subheader("Downtime by cause")
causes = data.downtime_by_cause(rep)
if len(causes):
    st.altair_chart(charts.downtime_by_cause(causes), width="stretch")
    with st.expander("Downtime by cause as a table"):
        ui.table(causes)
else:
    st.text("No downtime in this range.")

st.subheader(f"MTBF and MTTR per {every}")
st.caption(
    "MTBF: mean time between failures (higher is better). "
    "MTTR: mean time to recover from a failure (lower is better)."
)
trend = trends.named_trend(rep.breakdown, data.key_columns(rep.groups))
if len(trend):
    left, right = st.columns(2)
    left.altair_chart(charts.over_time(trend, "mtbf_s", "MTBF", every), width="stretch")
    right.altair_chart(charts.over_time(trend, "mttr_s", "MTTR", every), width="stretch")
else:
    st.text("No failures in this range: MTBF and MTTR need at least one.")

st.subheader("Exit codes")
codes = data.exit_codes(view)
if len(codes):
    ui.table(codes)
else:
    st.text("No failures in this range.")
