"""Incidents: the list, and one incident's postmortem with its timeline and log lines,
downloadable as Markdown and HTML."""

from __future__ import annotations

import streamlit as st

from docktally.dashboard import charts, data, ui

view = ui.current_view()
st.title("Incidents")
st.caption(ui.window_caption(view))

incidents = ui.load(data.incidents, view)
if not len(incidents):
    st.success("No incidents in this selection and time range.")
    st.stop()

st.caption("Select a row to open its postmortem.")
picked = st.dataframe(
    data.incident_table(incidents),
    hide_index=True,
    on_select="rerun",
    selection_mode="single-row",
    key="incident_table",
)
ids = list(incidents["id"])
rows = picked.selection.rows if picked is not None else []
default = ids.index(st.query_params["incident"]) if st.query_params.get("incident") in ids else 0
chosen = st.selectbox(
    "Incident",
    ids,
    index=rows[0] if rows else default,
    format_func=lambda i: ui.incident_label(incidents, i),
)
st.query_params["incident"] = chosen
inc = data.incident(view, chosen)
if inc is None:
    st.stop()

st.header("Postmortem")
ui.incident_summary(inc)

st.subheader("Timeline")
tl = data.incident_timeline(view, inc)
if len(tl.intervals):
    st.altair_chart(charts.timeline(tl.intervals, tl.failures), width="stretch")

st.subheader("Failures")
st.dataframe(
    ui.ns_to_datetime(data.incident_failures(view, inc), "time_ns", "recovered_ns"),
    hide_index=True,
    column_order=["time_ns", "name", "cause", "exit_code", "recovered_ns", "ttr_s", "policy"],
)

st.subheader("Last log lines")
logs = data.log_lines(
    view.url,
    str(inc["host"]),
    tuple(inc["container_ids"]),
    int(inc["start_ns"]),
    view.window.end_ns,
)
if len(logs):
    for _, tail in logs.iterrows():
        st.caption(f"captured at the failure of {ui.fmt_time(tail['time_ns'])}")
        st.code(tail["lines"], language=None)
else:
    st.text("No log lines were captured for this incident.")

st.subheader("Download")
try:
    md = data.postmortem(view, inc, "markdown")
    html = data.postmortem(view, inc, "html")
except data.Unavailable as exc:
    st.info(f"Postmortem downloads are not available in this build: {exc}.")
else:
    left, right = st.columns(2)
    left.download_button(
        "Postmortem (Markdown)", md, file_name=f"{chosen}.md", mime="text/markdown"
    )
    right.download_button("Postmortem (HTML)", html, file_name=f"{chosen}.html", mime="text/html")
