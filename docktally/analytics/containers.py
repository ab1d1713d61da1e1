"""The containers a history knows of, with what was last known about each. Pure."""

from __future__ import annotations

import pandas as pd

from docktally.analytics.model import History


def container_table(history: History) -> pd.DataFrame:
    """One row per container seen in the history: the latest name, compose labels and policy."""
    ev = history.events
    cols = ["host", "container_id", "name", "image", "compose_project", "compose_service"]
    # As plain objects: the events' Categoricals hold only the values the events have, and a
    # fact filled in below can hold another (a container the events do not show, an image the
    # events left out).
    from_events = (
        ev[cols].groupby(["host", "container_id"], sort=False).last().reset_index().astype(object)
        if len(ev)
        else pd.DataFrame(columns=cols)
    )
    facts = history.facts
    if len(facts):
        latest = (
            facts.sort_values("observed_ns", kind="stable")
            .groupby(["host", "container_id"], sort=False)
            .last()
            .reset_index()[[*cols, "restart_policy", "labels"]]
        )
    else:
        latest = pd.DataFrame(columns=[*cols, "restart_policy", "labels"])
    merged = from_events.merge(
        latest, on=["host", "container_id"], how="outer", suffixes=("", "_fact")
    )
    for col in ("name", "image", "compose_project", "compose_service"):
        merged[col] = merged[col].where(merged[col].notna(), merged[f"{col}_fact"])
    out = merged[[*cols, "restart_policy", "labels"]].copy()
    out["name"] = out["name"].fillna(out["container_id"].str[:12])
    return out.sort_values(["host", "name"], kind="stable").reset_index(drop=True)
