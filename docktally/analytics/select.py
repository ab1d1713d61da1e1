"""Narrowing a History to some hosts, containers or services (the report's filters)."""

from __future__ import annotations

import pandas as pd

from docktally.analytics.model import History
from docktally.analytics.timeline import service_key


def filter_history(
    history: History,
    *,
    host: str | None = None,
    container: str | None = None,
    service: str | None = None,
) -> History:
    """Keep the containers matching every filter given, with all of their events and facts.

    `container` matches a name the container had or a prefix of its id; `service` matches
    "project/service", a bare compose service name, or the name of a container without compose.
    """
    ev = history.events
    if not (host or container or service) or ev.empty:
        return history
    keep = pd.Series(True, index=ev.index)
    if host:
        keep &= ev["host"] == host
    if container:
        named = (ev["name"] == container) | ev["container_id"].astype(str).str.startswith(container)
        keep &= ev["container_id"].isin(set(ev.loc[named, "container_id"]))
    if service:
        keys = pd.Series(
            [
                service_key(p, s, n)
                for p, s, n in zip(
                    ev["compose_project"], ev["compose_service"], ev["name"], strict=True
                )
            ],
            index=ev.index,
        )
        hit = (keys == service) | (ev["compose_service"] == service)
        keep &= ev["container_id"].isin(set(ev.loc[hit, "container_id"]))
    events = ev[keep].reset_index(drop=True)
    kept = set(events["container_id"])
    facts = history.facts
    facts = facts[facts["container_id"].isin(kept)].reset_index(drop=True)
    cov = history.coverage
    if host:
        cov = cov[cov["host"] == host].reset_index(drop=True)
    return History(events=events, facts=facts, coverage=cov, maintenance=history.maintenance)
