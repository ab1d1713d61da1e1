"""Overview: how available the selection was, what failed, and what is down right now."""

from __future__ import annotations

import streamlit as st

from docktally.dashboard import data, ui

view = ui.current_view()
st.title("Overview")
st.caption(ui.window_caption(view))

rep = data.report(view)
if not len(rep.groups):
    ui.nothing_selected(view)
    st.stop()

ui.fleet_metrics(data.fleet(rep), slo=view.slo)

st.subheader("Down now")
down = data.down_now(view)
if len(down):
    st.dataframe(down, hide_index=True)
else:
    st.success("Nothing in this selection is down or unhealthy now.")

st.subheader(f"By {view.by}")
table = data.groups_table(rep)
shown = data.worst_first(table)
st.caption("Click a column header to sort. Times in seconds; availability in percent.")
if len(shown) < len(table):
    ui.row_limit_note(len(shown), len(table), "the lowest availability")
st.dataframe(shown, hide_index=True, column_config=ui.METRIC_COLUMNS)

st.subheader("Containers")
ui.container_details(data.selected_containers(view))
