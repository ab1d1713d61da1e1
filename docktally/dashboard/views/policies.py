"""Restart policies: what was observed under each policy in effect, and what every policy would
have done with the same failures (a replay under the engine's restart rules)."""

from __future__ import annotations

import pandas as pd
import streamlit as st

from docktally.dashboard import charts, data, ui

view = ui.page("Restart policies")

left, right = st.columns(2)
retries = int(
    left.number_input(
        "on-failure retries (what-if)", min_value=1, max_value=100, value=3, key="retries"
    )
)
manual = right.number_input(
    "Time for a person to restart it (s)",
    min_value=1.0,
    value=None,
    placeholder="measured from history",
    key="manual_mttr",
    help="used for policies that do not restart; empty: measured, else 600 s",
)
result = data.policies(view, retries, None if manual is None else float(manual))

observed = pd.DataFrame(result["observed"])
what_if = pd.DataFrame(result["what_if"])
left, right = st.columns(2)
for column, rows, title in (
    (left, observed, "Availability observed, by policy in effect"),
    (right, what_if, "Availability if every container had run under each policy"),
):
    column.markdown(f"**{title}**")
    if len(rows):
        column.altair_chart(
            charts.worst(rows.rename(columns={"policy": "label"})),
            width="stretch",
        )

# How well each policy did first, the counts behind it after; no more than fit the page (the
# count back without a person is the share times the recoveries, uptime is in availability).
COLUMNS = [
    "policy",
    "availability",
    "downtime_s",
    "failures",
    "recovered_without_person_ratio",
    "mttr_s",
    "crash_loops",
    "backoff_wait_s",
    "containers",
    "recovered",
]
HEADERS = {
    "recovered_without_person_ratio": st.column_config.Column("Back without a person"),
    "backoff_wait_s": st.column_config.Column("Waiting in back-off"),
}

st.subheader("Observed, by policy in effect")
ui.table(observed, column_order=COLUMNS, column_config=HEADERS)

st.subheader("What if every container had run under each policy")
ui.table(what_if, column_order=COLUMNS, column_config=HEADERS)

st.subheader("Assumptions")
for line in result["assumptions"]:
    st.text(f"- {line}")
