"""Reliability: downtime by cause, MTBF and MTTR over time per group, the exit codes behind the
failures with what each means, and the stops that needed a SIGKILL."""

from __future__ import annotations

import streamlit as st

from docktally.analytics import stops, trends
from docktally.dashboard import charts, data, ui

view = ui.page("Reliability")

every = trends.every_for(view.window)
rep = data.report(view, every)
if not len(rep.groups):
    ui.nothing_selected(view)
    st.stop()
keys = data.key_columns(rep.groups)

st.subheader("Downtime by cause")
causes = data.downtime_by_cause(rep)
if len(causes):
    st.altair_chart(charts.downtime_by_cause(causes), width="stretch")
    with st.expander("Downtime by cause as a table"):
        ui.table(causes)
else:
    st.text("No downtime in this range.")

MEANINGS = (
    "MTBF: mean time between failures (higher is better). "
    "MTTR: mean time to recover from a failure (lower is better)."
)
trend = trends.named_trend(rep.breakdown, keys)
if trend["period_start_ns"].nunique() >= trends.MIN_PERIODS:
    st.subheader(f"MTBF and MTTR per {every}")
    st.caption(MEANINGS)
    left, right = st.columns(2)
    left.altair_chart(charts.over_time(trend, "mtbf_s", "MTBF", every), width="stretch")
    right.altair_chart(charts.over_time(trend, "mttr_s", "MTTR", every), width="stretch")
else:
    # Too few periods for a line: each group's figure over the whole range.
    per = trends.mtbf_mttr(rep.groups, keys)
    st.subheader(f"MTBF and MTTR per {view.by}")
    if len(per):
        st.caption(MEANINGS)
        left, right = st.columns(2)
        left.altair_chart(charts.per_group(per, "mtbf_s", "MTBF"), width="stretch")
        right.altair_chart(charts.per_group(per, "mttr_s", "MTTR"), width="stretch")
    else:
        st.text("No failures in this range: MTBF and MTTR need at least one.")

st.subheader("Exit codes")
codes = data.exit_codes(view)
if len(codes):
    ui.table(codes)
else:
    st.text("No failures in this range.")

st.subheader("Stops that needed a SIGKILL")
forced = trends.forced_stops(rep.groups, keys)
if len(forced):
    st.warning(stops.ADVICE)
    ui.table(
        forced,
        column_config={
            "label": st.column_config.Column(view.by.capitalize()),
            "forced_stops": st.column_config.Column("Needed a SIGKILL"),
            "stop_mean_s": st.column_config.Column("Stop (mean)"),
            "stop_max_s": st.column_config.Column("Stop (longest)"),
        },
    )
else:
    st.text("No stop in this range needed a SIGKILL.")
