"""normalize_event and facts_from_inspect on recorded engine payloads (tests/data/events/)."""

from __future__ import annotations

import json
from typing import Any

import pytest

from docktally.collector.normalize import (
    InvalidEvent,
    facts_from_inspect,
    normalize_event,
    parse_signal,
)
from tests.data import recorded


def rows(name: str, *, keep_exec_commands: bool = True) -> list[dict[str, Any]]:
    """The scenario's rows, exec commands kept (tests/test_exec_commands.py: the default)."""
    out = []
    for line in recorded.lines(name):
        row = normalize_event(
            json.loads(line),
            host="h",
            source="test",
            raw=line,
            keep_exec_commands=keep_exec_commands,
        )
        if row is not None:
            out.append(row)
    return out


def seq(name: str, container: str | None = None) -> list[tuple[str, Any]]:
    """(action, exit_code or signal) of the lifecycle events, exec noise left out."""
    return [
        (r["action"], r["exit_code"] if r["kind"] == "die" else r["signal"])
        for r in rows(name)
        if not r["kind"].startswith("exec_") and (container is None or r["name"] == container)
    ]


def test_every_scenario_was_recorded() -> None:
    assert set(recorded.SCENARIOS) == {
        "autoremove",
        "crash_loop",
        "destroy",
        "health",
        "kill",
        "oom",
        "pause",
        "rename",
        "stop",
        "update",
    }


@pytest.mark.parametrize(
    ("scenario", "container", "expected"),
    [
        (
            "crash_loop",
            "crashy",
            [("create", None)] + [("start", None), ("die", 1)] * 4,
        ),
        ("oom", "hungry", [("create", None), ("start", None), ("oom", None), ("die", 137)]),
        (
            "stop",
            "stubborn",
            [
                ("create", None),
                ("start", None),
                ("kill", 15),
                ("kill", 9),
                ("die", 137),
                ("stop", None),
            ],
        ),
        (
            "stop",
            "polite",
            [("create", None), ("start", None), ("kill", 15), ("die", 143), ("stop", None)],
        ),
        ("kill", "victim", [("create", None), ("start", None), ("kill", 9), ("die", 137)]),
        (
            "pause",
            "napper",
            [
                ("create", None),
                ("start", None),
                ("pause", None),
                ("unpause", None),
                ("kill", 9),
                ("die", 137),
            ],
        ),
        (
            "autoremove",
            "ephemeral",
            [("create", None), ("start", None), ("die", 3), ("destroy", None)],
        ),
        (
            "destroy",
            "doomed",
            [("create", None), ("start", None), ("kill", 9), ("die", 137), ("destroy", None)],
        ),
        (
            "update",
            "tuned",
            [("create", None), ("start", None), ("update", None), ("kill", 9), ("die", 137)],
        ),
    ],
)
def test_lifecycle_sequences(scenario: str, container: str, expected: list[Any]) -> None:
    assert seq(scenario, container) == expected


def test_health_status_is_split_into_kind_and_health() -> None:
    health = [r for r in rows("health") if r["kind"] == "health_status"]
    assert [(r["action"], r["health"]) for r in health] == [
        ("health_status: healthy", "healthy"),
        ("health_status: unhealthy", "unhealthy"),
    ]
    assert all(r["exit_code"] is None for r in health)


def test_exec_noise_keeps_its_command_in_action_and_kind_is_bare() -> None:
    execs = [r for r in rows("health") if r["kind"].startswith("exec_")]
    assert {r["kind"] for r in execs} == {"exec_create", "exec_start", "exec_die"}
    starts = [r for r in execs if r["kind"] == "exec_start"]
    assert all(r["action"] == "exec_start: /bin/sh -c test -f /tmp/ok" for r in starts)
    # Unless kept, the action is the kind alone.
    dropped = rows("health", keep_exec_commands=False)
    assert {r["action"] for r in dropped if r["kind"] == "exec_start"} == {"exec_start"}
    # The probe's last run failed: that is how the container turned unhealthy.
    assert [r["exit_code"] for r in execs if r["kind"] == "exec_die"][-1] == 1


def test_compose_labels_become_project_and_service() -> None:
    for name in ("crash_loop", "health"):
        assert {(r["compose_project"], r["compose_service"]) for r in rows(name)} == {
            ("shop", "web")
        }
    assert {(r["compose_project"], r["compose_service"]) for r in rows("kill")} == {(None, None)}


def test_rename_carries_the_new_name() -> None:
    renamed = [r for r in rows("rename") if r["kind"] == "rename"]
    assert [r["name"] for r in renamed] == ["newname"]
    assert json.loads(renamed[0]["raw"])["Actor"]["Attributes"]["oldName"] == "/oldname"


@pytest.mark.parametrize("scenario", recorded.SCENARIOS)
def test_time_ns_is_timenano_exactly_and_raw_is_the_line(scenario: str) -> None:
    container_lines = [
        ln for ln in recorded.lines(scenario) if json.loads(ln).get("Type") == "container"
    ]
    got = rows(scenario)
    assert len(got) == len(container_lines) > 0
    for row, line in zip(got, container_lines, strict=True):
        payload = json.loads(line)
        assert row["time_ns"] == payload["timeNano"]
        assert row["time_ns"] // 1_000_000_000 == payload["time"]
        assert row["raw"] == line
        assert row["container_id"] == payload["id"] == payload["Actor"]["ID"]
        assert len(row["container_id"]) == 64
        assert row["image"] == "docktally-test/busybox:latest"
        assert row["inferred"] is False and row["source"] == "test"


@pytest.mark.parametrize("scenario", recorded.SCENARIOS)
def test_network_events_are_not_container_events(scenario: str) -> None:
    network = [p for p in recorded.payloads(scenario) if p.get("Type") == "network"]
    assert network, "the recordings keep the network events of network_mode=none"
    for p in network:
        assert normalize_event(p, host="h", source="test") is None


@pytest.mark.parametrize(
    "payload",
    [
        {"Type": "image", "Action": "pull", "Actor": {"ID": "busybox"}, "time": 1},
        {"Type": "volume", "Action": "create", "Actor": {"ID": "v"}, "timeNano": 1},
        {"Type": "daemon", "Action": "reload"},
        {"Type": "network", "Action": "connect"},
    ],
)
def test_other_types_are_ignored_even_when_incomplete(payload: dict[str, Any]) -> None:
    assert normalize_event(payload, host="h", source="test") is None


GOOD = {
    "Type": "container",
    "Action": "die",
    "Actor": {"ID": "a" * 64, "Attributes": {"exitCode": "2", "name": "x"}},
    "time": 1700000000,
    "timeNano": 1700000000123456789,
}


def _without(path: str) -> dict[str, Any]:
    payload = json.loads(json.dumps(GOOD))
    node = payload
    *parents, leaf = path.split(".")
    for p in parents:
        node = node[p]
    del node[leaf]
    return payload


def test_the_good_payload_is_good() -> None:
    row = normalize_event(GOOD, host="h", source="test")
    assert row is not None
    assert (row["exit_code"], row["time_ns"], row["name"]) == (2, 1700000000123456789, "x")
    assert json.loads(row["raw"]) == GOOD


@pytest.mark.parametrize(
    ("payload", "message"),
    [
        ([1, 2], "not a JSON object"),
        ("die", "not a JSON object"),
        (_without("Action"), "no Action"),
        ({**GOOD, "Action": ""}, "no Action"),
        (
            {**GOOD, "Action": 5},
            r"wrong JSON type: expected `str \| null`, got `int` - at `\$.Action`",
        ),
        (_without("Actor.ID"), "no container id"),
        ({**GOOD, "Actor": "abc"}, "got `str` - at `\\$.Actor`"),
        (
            {**GOOD, "Actor": {"ID": "a" * 64, "Attributes": ["x"]}},
            "got `array` - at `\\$.Actor.Attributes`",
        ),
        ({**GOOD, "Actor": {"ID": "a" * 64, "Attributes": {"name": 5}}}, "got `int`"),
        ({**GOOD, "Actor": {"ID": "a" * 64, "Attributes": {"name": {}}}}, "got `object`"),
        ({**GOOD, "Actor": {"ID": "a" * 64, "Attributes": {"image": []}}}, "got `array`"),
        ({**GOOD, "Action": "die\x00"}, "NUL character"),
        ({k: v for k, v in GOOD.items() if k not in ("time", "timeNano")}, "no timeNano or time"),
        ({**GOOD, "timeNano": "1700000000123456789", "time": "x"}, "got `str` - at `\\$.time"),
        ({**GOOD, "timeNano": True, "time": None}, "got `bool` - at `\\$.timeNano`"),
        ({**GOOD, "timeNano": 2**70}, "out of range"),
        ({**GOOD, "timeNano": -1}, "out of range"),
        ({**GOOD, "Action": "x" * 129}, "longer than 128"),
        ({**GOOD, "timeNano": None, "time": float("inf")}, "no timeNano or time"),
        ({**GOOD, "Actor": {"ID": "a" * 65}}, "longer than 64"),
    ],
)
def test_invalid_payloads_raise_with_a_clear_message(payload: Any, message: str) -> None:
    with pytest.raises(InvalidEvent, match=message) as err:
        normalize_event(payload, host="h", source="test")
    assert "\n" not in str(err.value)


def test_old_style_payload_without_type_uses_status_id_and_from() -> None:
    row = normalize_event(
        {"status": "start", "id": "b" * 64, "from": "nginx", "time": 1700000000},
        host="h",
        source="test",
    )
    assert row is not None
    assert (row["action"], row["container_id"], row["image"], row["time_ns"]) == (
        "start",
        "b" * 64,
        "nginx",
        1700000000 * 1_000_000_000,
    )


@pytest.mark.parametrize(
    ("value", "expected"),
    [(15, 15), ("15", 15), ("SIGTERM", 15), ("term", 15), ("KILL", 9), ("", None), (None, None)],
)
def test_parse_signal(value: Any, expected: int | None) -> None:
    assert parse_signal(value) == expected


def test_parse_signal_unknown_name_is_none() -> None:
    assert parse_signal("SIGNOPE") is None


# --- facts_from_inspect -----------------------------------------------------------------------


def facts(scenario: str, index: int = 0) -> dict[str, Any]:
    return facts_from_inspect(recorded.inspects(scenario)[index], host="h", observed_ns=42)


def test_facts_of_the_crash_loop() -> None:
    f = facts("crash_loop")
    assert f["name"] == "crashy"
    assert (f["restart_policy"], f["restart_max_retries"]) == ("on-failure", 3)
    assert (f["compose_project"], f["compose_service"]) == ("shop", "web")
    assert f["has_healthcheck"] is False
    assert f["memory_limit_bytes"] is None
    assert json.loads(f["labels"])["com.docker.compose.container-number"] == "1"
    assert f["observed_ns"] == 42 and f["host"] == "h"
    assert len(f["container_id"]) == 64


def test_created_is_parsed_to_the_nanosecond() -> None:
    raw = recorded.inspects("crash_loop")[0]["Created"]
    frac = raw.rsplit(".", 1)[1].rstrip("Z").ljust(9, "0")
    assert facts("crash_loop")["created_ns"] % 1_000_000_000 == int(frac)


def test_facts_of_the_oom_container() -> None:
    f = facts("oom")
    assert f["memory_limit_bytes"] == 8 * 1024 * 1024
    # The engine spells "no" as an empty name.
    assert f["restart_policy"] == "no"
    assert f["labels"] == "{}"


def test_facts_of_the_health_checked_container() -> None:
    assert facts("health")["has_healthcheck"] is True
    assert facts("kill")["has_healthcheck"] is False


def test_facts_after_update() -> None:
    f = facts("update")
    assert f["restart_policy"] == "unless-stopped"
    assert f["memory_limit_bytes"] == 64 * 1024 * 1024


def test_facts_after_rename_have_the_new_name() -> None:
    assert facts("rename")["name"] == "newname"


def test_disabled_healthcheck_counts_as_none() -> None:
    inspect = recorded.inspects("kill")[0]
    inspect["Config"]["Healthcheck"] = {"Test": ["NONE"]}
    assert facts_from_inspect(inspect, host="h", observed_ns=1)["has_healthcheck"] is False


def test_removed_containers_have_no_inspect() -> None:
    assert recorded.inspects("autoremove") == []
