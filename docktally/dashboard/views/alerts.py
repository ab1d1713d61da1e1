"""Alerts: which incidents have an alert open, and every notification sent, pending or failed."""

from __future__ import annotations

import streamlit as st

from docktally.dashboard import alerts_data, data, ui

view = ui.current_view()

st.title("Alerts")
st.caption(
    "Sent by `docktally collect` or `docktally up` started with `--alerts FILE` or "
    "`--notify URL` (docs/alerts.md). `docktally alerts test` checks the targets."
)

st.subheader("Open alerts")
open_now = alerts_data.open_alerts(view.url, data.now_ns(), view.filters.host)
if len(open_now):
    ui.table(open_now)
else:
    st.text("none")

st.subheader("Notifications")
history, unsent = alerts_data.notifications(view.url, view.filters.host)
if len(history):
    if unsent:
        st.warning(unsent)
    ui.table(history)
else:
    st.text("No notification yet.")
