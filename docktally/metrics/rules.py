"""Prometheus recording rules and multiwindow, multi-burn-rate alerts (the SRE workbook's) over
docktally's downtime and observed-time counters, as a rule file `promtool check rules` accepts.
"""

from __future__ import annotations

import json

from docktally.analytics.options import check_slo

# (burn factor, long window, short window, severity): the SRE workbook's table.
BURN_ALERTS = (
    (14.4, "1h", "5m", "page"),
    (6.0, "6h", "30m", "page"),
    (3.0, "1d", "2h", "ticket"),
    (1.0, "3d", "6h", "ticket"),
)
# `--by` as report takes it: a service across hosts, or one per host with host,service.
SCOPES = {
    "container": ("host", "container"),
    "service": ("service",),
    "host,service": ("host", "service"),
}
_SECONDS = {"m": 60, "h": 3600, "d": 86400}


def windows() -> list[str]:
    out: list[str] = []
    for _, long, short, _ in BURN_ALERTS:
        for w in (short, long):
            if w not in out:
                out.append(w)
    return sorted(out, key=_seconds)


def _seconds(window: str) -> int:
    return int(window[:-1]) * _SECONDS[window[-1]]


def _range(window: str, scale: float) -> str:
    """A window as PromQL writes it; divided by `scale` (tests run the alerts in seconds)."""
    if scale == 1:
        return window
    return f"{max(1, round(_seconds(window) / scale))}s"


def record_name(by: str, window: str) -> str:
    return f"docktally:{_slug(by)}_error_ratio:rate{window}"


def _slug(by: str) -> str:
    return by.replace(",", "_")


def render_rules(slo_percent: float, by: str = "container", scale: float = 1) -> str:
    """The rule file for an availability target `slo_percent` (e.g. 99.9), per container or
    per service (across hosts, or per host with `host,service`). The error ratio is downtime
    over observed time, the report's 1 - availability.
    """
    slo = check_slo(slo_percent)
    assert slo is not None
    if by not in SCOPES:
        raise ValueError(f"by must be one of {sorted(SCOPES)}")
    group = ", ".join(SCOPES[by])
    budget = round(1 - slo / 100, 12)
    lines = ["groups:", f"  - name: docktally-{_slug(by)}-availability", "    rules:"]
    for w in windows():
        r = _range(w, scale)
        expr = (
            f"sum by ({group}) (rate(docktally_container_downtime_seconds_total[{r}])) / "
            f"sum by ({group}) (rate(docktally_container_observed_seconds_total[{r}]))"
        )
        lines += [f"      - record: {record_name(by, w)}", f"        expr: {json.dumps(expr)}"]
    lines += [f"  - name: docktally-{_slug(by)}-slo-burn", "    rules:"]
    labels = SCOPES[by]
    subject = f"{{{{ $labels.{labels[-1]} }}}}"
    if "host" in labels:
        subject += " on {{ $labels.host }}"
    for factor, long, short, severity in BURN_ALERTS:
        threshold = f"({factor:g} * {budget:g})"
        expr = f"{record_name(by, long)} > {threshold} and {record_name(by, short)} > {threshold}"
        summary = (
            f"{subject} burns its {slo:g}% availability budget {factor:g}x too fast "
            f"({long} and {short} windows)"
        )
        lines += [
            "      - alert: DocktallyAvailabilityBudgetBurn",
            f"        expr: {json.dumps(expr)}",
            "        labels:",
            f"          severity: {severity}",
            f'          slo: "{slo:g}"',
            f"          long_window: {long}",
            f"          short_window: {short}",
            "        annotations:",
            f"          summary: {json.dumps(summary)}",
        ]
    return "\n".join(lines) + "\n"
