"""The Fleet page's charts (Altair): hosts by availability, engine restarts per host, the worst
services across hosts. Availability is drawn as the Overview draws it (charts.availability_bars);
names reach the browser as data values, which Vega draws as text."""

from __future__ import annotations

from typing import Any

import altair as alt
import pandas as pd

from docktally.dashboard.charts import BAR_STEP, availability_bars, name_axis
from docktally.reports import humane

ENGINE_COLOUR = "#6a1b9a"  # not a state's colour: an engine restart is an event, not a state


def hosts_by_availability(hosts: pd.DataFrame) -> Any:
    """One bar per host, the least available on top, as the Overview draws its groups."""
    d = pd.DataFrame(
        {
            "label": hosts["host"].astype(str),
            "availability": hosts["availability"],
            "downtime_s": hosts["downtime_s"],
            "containers": hosts["containers"].astype(int),
            "watched": [humane.percent(v, 1) for v in hosts["watched_ratio"]],
        }
    )
    return availability_bars(
        d,
        "host",
        [alt.Tooltip("containers:Q"), alt.Tooltip("watched:N", title="share watched")],
    )


def engine_restarts(hosts: pd.DataFrame) -> Any:
    """Engine restarts per host, with the containers they took down, the most on top."""
    d = pd.DataFrame(
        {
            "host": hosts["host"].astype(str),
            "restarts": hosts["engine_restarts"].astype(int),
            "shown": [
                f"{humane.plural(int(r), 'restart')}, "
                f"{humane.plural(int(f), 'container')} taken down"
                for r, f in zip(
                    hosts["engine_restarts"], hosts["engine_restart_failures"], strict=True
                )
            ],
        }
    ).sort_values(["restarts", "host"], ascending=[False, True], kind="stable")
    top = max(1, int(d["restarts"].max()) if len(d) else 1)
    base = alt.Chart(d).encode(
        y=alt.Y("host:N", sort=None, title=None, axis=name_axis(240)),
        x=alt.X(
            "restarts:Q",
            title="engine restarts",
            # The longest bar half the width: its label beside it fits at 1,024 px too.
            scale=alt.Scale(domain=[0, top * 2], zero=True),
            axis=alt.Axis(tickMinStep=1, format="d"),
        ),
        tooltip=[alt.Tooltip("host:N"), alt.Tooltip("shown:N", title="engine")],
    )
    bars = base.mark_bar(color=ENGINE_COLOUR, size=20)
    text = base.mark_text(align="left", dx=4).encode(text="shown:N")
    return (bars + text).properties(height=alt.Step(BAR_STEP))


def worst_services(services: pd.DataFrame) -> Any:
    """The least available services across hosts, the worst on top, as the Overview draws its
    groups; the label says on how many hosts each ran."""
    d = pd.DataFrame(
        {
            "label": [
                f"{s} ({humane.plural(int(n), 'host')})"
                for s, n in zip(services["service"], services["hosts"], strict=True)
            ],
            "availability": services["availability"],
            "downtime_s": services["downtime_s"],
            "hosts": services["host_names"].astype(str),
            "failures": services["failures"].astype(int),
        }
    )
    return availability_bars(
        d, "service", [alt.Tooltip("hosts:N", title="on"), alt.Tooltip("failures:Q")]
    )
