"""Narrowing a History to some hosts, containers or services (the report's filters)."""

from __future__ import annotations

import numpy as np
import pandas as pd

from docktally.analytics.model import History
from docktally.analytics.services import service_key
from docktally.analytics.timeline import _codes


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
        hit = (_service_keys(ev) == service) | (ev["compose_service"] == service).to_numpy(
            dtype=bool, na_value=False
        )
        keep &= ev["container_id"].isin(set(ev.loc[hit, "container_id"]))
    events = ev[keep].reset_index(drop=True)
    kept = set(events["container_id"])
    facts = history.facts
    facts = facts[facts["container_id"].isin(kept)].reset_index(drop=True)
    cov = history.coverage
    if host:
        cov = cov[cov["host"] == host].reset_index(drop=True)
    return History(
        events=events,
        facts=facts,
        coverage=cov,
        maintenance=history.maintenance,
        engine_restarts=history.engine_restarts,
    )


# How `docktally lab` marks its containers (collector/lab.py sets both): the label on the
# container, and the name prefix, which is all an import of `docker events` lines keeps.
LAB_LABEL = "docktally.lab.run"
LAB_NAME_PREFIX = "dtlab-"


def lab_containers(history: History) -> set[str]:
    """The ids of the containers `docktally lab` ran (by their label or name)."""
    ids: set[str] = set()
    ev = history.events
    if len(ev):
        named = ev["name"].astype(str).str.startswith(LAB_NAME_PREFIX)
        ids |= set(ev.loc[named.to_numpy(dtype=bool, na_value=False), "container_id"])
    facts = history.facts
    if len(facts):
        labelled = facts["labels"].astype(str).str.contains(f'"{LAB_LABEL}"', regex=False)
        named = facts["name"].astype(str).str.startswith(LAB_NAME_PREFIX)
        ids |= set(facts.loc[(labelled | named).to_numpy(dtype=bool), "container_id"])
    return ids


def without_lab(history: History) -> History:
    """The history without the containers of `docktally lab` runs: experiments, not the
    fleet (the report, incidents and policies leave them out unless --include-lab)."""
    lab = lab_containers(history)
    if not lab:
        return history
    ev, facts = history.events, history.facts
    return History(
        events=ev[~ev["container_id"].isin(lab)].reset_index(drop=True),
        facts=facts[~facts["container_id"].isin(lab)].reset_index(drop=True),
        coverage=history.coverage,
        maintenance=history.maintenance,
        engine_restarts=history.engine_restarts,
    )


def _service_keys(ev: pd.DataFrame) -> np.ndarray:
    """service_key of every row, computed once per distinct (project, service, name)."""
    cols = [_codes(ev[c]) for c in ("compose_project", "compose_service", "name")]
    key = np.zeros(len(ev), dtype=np.int64)
    for codes, uni in cols:
        key = key * (len(uni) + 1) + (codes.astype(np.int64) + 1)
    inverse, distinct = pd.factorize(key)
    firsts = np.zeros(len(distinct), dtype=np.int64)
    firsts[inverse[::-1]] = np.arange(len(key) - 1, -1, -1)  # first row of each
    values = [[uni[c] if c >= 0 else None for c in codes[firsts].tolist()] for codes, uni in cols]
    names = np.array([service_key(p, s, n) for p, s, n in zip(*values, strict=True)], dtype=object)
    return names[inverse]
