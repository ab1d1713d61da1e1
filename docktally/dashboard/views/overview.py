"""Overview: how available the selection was and how that went over time, which groups were
the least available, what is down right now and how much SLO budget is left."""

from __future__ import annotations

import streamlit as st

from docktally.analytics import trends
from docktally.dashboard import charts, data, ui
from docktally.reports import humane

view = ui.page("Overview")

rep = data.report(view)
if not len(rep.groups):
    ui.nothing_selected(view)
    st.stop()

fleet = data.fleet(rep)
ui.fleet_metrics(fleet, slo=view.slo)

every = trends.bar_period(view.window)
per = trends.fleet_per_period(data.report(view, every).breakdown)
st.subheader(f"Availability and failures per {every}")
if len(per):
    avail, fails = charts.fleet_trend(per, every, view.window.start_ns, view.window.end_ns)
    left, right = st.columns(2)
    left.altair_chart(avail, width="stretch", height=charts.ELEMENT_HEIGHT)
    if int(fleet.get("failures") or 0):
        right.altair_chart(fails, width="stretch", height=charts.ELEMENT_HEIGHT)
    else:
        right.markdown("**Failures**")
        right.success("No failures in this range.")

keys = data.key_columns(rep.groups)
worst = trends.worst(rep.groups, keys)
st.subheader(f"Least available ({view.by})")
if len(worst):
    st.altair_chart(charts.worst(worst), width="stretch")
else:
    st.success("Nothing in this selection was down in this range.")

st.subheader("Down now")
down = data.down_now(view)
if len(down):
    ui.table(down)
elif unknown := data.unknown_now(view):
    # An incident can be open while nobody watches: not down as far as anyone saw, not up.
    st.info(
        f"Nothing is known to be down, but nobody is watching "
        f"{humane.plural(unknown, 'container')} now: their state is unknown. "
        "See the Collector page."
    )
else:
    st.success("Nothing in this selection is down or unhealthy now.")

if view.slo is not None:
    budget = trends.budget_left(rep.groups, keys)
    st.subheader(f"SLO budget left ({view.slo:g}% over this range)")
    if len(budget):
        st.altair_chart(charts.budget_left(budget.head(15)), width="stretch")

st.subheader(f"Every {view.by}")
table = rep.groups
shown = data.worst_first(table)
sort_note = "Click a column header to sort."
left_out: tuple[str, ...] = ()
if "container_id" in keys:
    # A container's host and id are in the Containers table below: with them this table's
    # 14 columns scrolled sideways at 1,400 px. Two containers of one name show their short ids.
    left_out = ("host", "container_id")
    shown = shown.assign(container=trends.group_names(table, keys).loc[shown.index])
    sort_note += " Each container's host and id are in the Containers table below."
st.caption(sort_note)
if len(shown) < len(table):
    ui.row_limit_note(len(shown), len(table), "the lowest availability")
ui.table(shown, column_order=ui.group_columns(list(table.columns), leave_out=left_out))

st.subheader("Containers")
ui.container_details(data.selected_containers(view))
