"""Incidents: the list, and one incident's postmortem with its timeline and log lines,
downloadable as Markdown and HTML."""

from __future__ import annotations

import streamlit as st

from docktally.analytics import trends
from docktally.dashboard import charts, data, ui
from docktally.reports import humane, postmortem

view = ui.page("Incidents")

incidents = data.incidents(view)
if not len(incidents):
    st.success("No incidents in this selection and time range.")
    st.stop()

spans, affected = trends.incident_spans(incidents, view.window)
st.subheader("When, how long, and why")
if affected > spans["label"].nunique():
    st.caption(
        f"The {spans['label'].nunique()} of {affected} affected with the most downtime. "
        "Narrow the selection in the sidebar to see others."
    )
shown = trends.zoom_to(spans, view.window)
st.altair_chart(charts.incidents(spans, shown.start_ns, shown.end_ns), width="stretch")

st.subheader(humane.plural(len(incidents), "incident"))
st.caption("Select a row to open its postmortem.")
listed = data.incident_table(incidents)
picked = ui.table(
    listed,
    column_order=[c for c in listed.columns if c != "id"],  # the selector below shows it
    # To the minute, the zone in the header: seconds are in the postmortem below.
    shown_as={"start": lambda t: humane.when(t.value, zone=False)},
    column_config={"start": st.column_config.Column("Start (UTC)")},
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
pm = data.postmortem(view, chosen)
if pm is not None and pm.gave_up:
    st.warning(f"Restart policy gave up: {pm.gave_up}")

left, right = st.columns(2)
left.download_button(
    "Postmortem (Markdown)",
    data.render_postmortem(view, chosen, "markdown"),
    file_name=f"{chosen}.md",
    mime="text/markdown",
    on_click="ignore",
)
right.download_button(
    "Postmortem (HTML)",
    data.render_postmortem(view, chosen, "html"),
    file_name=f"{chosen}.html",
    mime="text/html",
    on_click="ignore",
)

st.subheader("Timeline")
tl = data.incident_timeline(view, inc)
if len(tl.intervals):
    st.altair_chart(
        charts.timeline(tl.intervals, tl.failures),
        width="stretch",
        height=charts.timeline_height(tl.shown) + 60,
    )
if pm is not None:
    # As the downloaded postmortem has it: "what" says the event in words, "kind" repeats it.
    ui.table(
        pm.timeline,
        hide=("container_id", "kind"),
        column_config={"what": st.column_config.Column("Event")},
    )

st.subheader("Failures")
ui.table(
    data.incident_failures(view, inc),
    column_order=["time_ns", "name", "cause", "exit_code", "recovered_ns", "ttr_s", "policy"],
)

st.subheader("Last log lines")
if pm is not None and pm.logs:
    for tail in pm.logs:
        st.text(
            f"{tail.container}: captured at its failure of {ui.fmt_time(tail.die_time_ns)}"
            + (" (truncated)" if tail.truncated else "")
        )
        st.code("\n".join(tail.lines), language=None)
else:
    st.text("No log lines were captured for this incident.")

if pm is not None and pm.probes:
    st.subheader("Failed health checks")
    st.code(
        "\n".join(
            f"{ui.fmt_time(p.start_ns)}  {p.container}  {postmortem.probe_text(p)}"
            for p in pm.probes
        ),
        language=None,
    )
