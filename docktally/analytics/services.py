"""The one service identity: which service a container belongs to, for every grouping (report
--by service, incidents, postmortems, maintenance targets, --service filters, the dashboard)."""

from __future__ import annotations


def _text(value: object) -> str | None:
    return value if isinstance(value, str) and value else None


def service_key(project: object, service: object, name: object, container_id: object = None) -> str:
    """`project/service` from compose labels; the service label alone when there is no project
    label (its replicas share it); else the container's name, else its id (first 12)."""
    svc = _text(service)
    if svc:
        proj = _text(project)
        return f"{proj}/{svc}" if proj else svc
    return _text(name) or (_text(container_id) or "?")[:12]
