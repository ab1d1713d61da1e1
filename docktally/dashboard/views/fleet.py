"""Fleet: the hosts side by side (availability, how much was watched, engine restarts) and the
services that were least available across hosts. The sidebar's filters apply: a host picked
there narrows the page to it."""

from __future__ import annotations

import streamlit as st

from docktally.dashboard import data, fleet_charts, ui

view = ui.page("Fleet")

fleet = data.fleet_overview(view)
if fleet.hosts.empty:
    ui.nothing_selected(view)
    st.stop()

totals = fleet.totals
cols = ui.metric_row(5)
cols[0].metric("Hosts", str(totals["hosts"]))
cols[1].metric("Containers", str(totals["containers"]))
cols[2].metric("Availability", ui.fmt_pct(totals["availability"]), help="container time")
cols[3].metric("Failures", str(totals["failures"]))
cols[4].metric("Engine restarts", str(totals["engine_restarts"]))
if totals["hosts"] == 1 and not view.filters.host:
    st.info(
        "One host in this selection. With a collector on each host writing this database "
        "(docs/fleet.md), the hosts show side by side here."
    )

st.subheader("Hosts by availability")
st.caption("Availability of each host's container time, the least available first.")
st.altair_chart(fleet_charts.hosts_by_availability(fleet.hosts), width="stretch")

st.subheader("Engine restarts per host")
if int(fleet.hosts["engine_restarts"].sum()):
    st.altair_chart(fleet_charts.engine_restarts(fleet.hosts), width="stretch")
else:
    st.success("No engine restarted in this range.")

st.subheader("Worst services across hosts")
st.caption(
    "A service on several hosts is one row: down only while its containers on every host "
    "were down. `docktally report --by host,service` gives one row per host."
)
if len(fleet.worst_services):
    st.altair_chart(fleet_charts.worst_services(fleet.worst_services), width="stretch")
    ui.table(
        fleet.worst_services,
        column_config={"host_names": st.column_config.Column("On hosts")},
    )
else:
    st.success("No service was down in this range.")

st.subheader("Every host")
ui.table(
    fleet.hosts,
    column_config={
        "watched_ratio": st.column_config.Column(
            "Share watched", help="share of the range a collector (or an import) covered"
        ),
        "engine_restart_failures": st.column_config.Column(
            "Taken down", help="containers the engine's restarts took down"
        ),
    },
)
