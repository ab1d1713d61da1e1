"""Record the inspect payloads the reconcile unit tests use, from a private real engine.

    .venv/bin/python -m tests.data.inspect.record_inspect

Writes one JSON file per scenario beside this script, each {"inspect": ..., "events": [...]}
where `events` are the engine's own events for that container (what a collector would have
stored), so the tests can build "what the database knew" from real data.
"""

from __future__ import annotations

import json
import time
from pathlib import Path
from typing import Any

from docktally.timespec import ns_to_since
from tests.private_engine import PrivateEngine

HERE = Path(__file__).parent


def events_of(eng: PrivateEngine, cid: str, since_ns: int) -> list[dict[str, Any]]:
    now = time.time_ns()
    evs = eng.client.api.events(
        since=ns_to_since(since_ns), until=ns_to_since(now), filters={"container": cid}, decode=True
    )
    return [e for e in evs if e.get("Type") == "container"]


def save(name: str, payload: dict[str, Any]) -> None:
    (HERE / f"{name}.json").write_text(json.dumps(payload, indent=1, sort_keys=True) + "\n")


def main() -> None:
    eng = PrivateEngine()
    eng.start()
    try:
        t0 = time.time_ns()
        api = eng.client.api
        always = eng.run("sleep", "3600", name="always", restart_policy={"Name": "always"})
        no = eng.run("sleep", "3600", name="no")
        crash = eng.run("sh", "-c", "exit 3", name="crash")
        onfail = eng.run(
            "sh",
            "-c",
            "exit 2",
            name="onfail",
            restart_policy={"Name": "on-failure", "MaximumRetryCount": 2},
        )
        oom = eng.run("sh", "-c", "x=a; while true; do x=$x$x; done", name="oom", mem_limit="8m")
        api.create_container("docktally-test/busybox:latest", ["true"], name="created")
        crash.wait(timeout=30)
        oom.wait(timeout=60)
        deadline = time.time() + 30
        while time.time() < deadline:
            ins = api.inspect_container(onfail.id)
            if (
                not ins["State"]["Running"]
                and not ins["State"]["Restarting"]
                and (ins["RestartCount"] == 2)
            ):
                break
            time.sleep(0.2)
        time.sleep(0.5)
        for name, c in (("running_always", always), ("exited_crash", crash)):
            save(name, {"inspect": api.inspect_container(c.id), "events": events_of(eng, c.id, t0)})
        save(
            "onfailure_exhausted",
            {"inspect": api.inspect_container(onfail.id), "events": events_of(eng, onfail.id, t0)},
        )
        save(
            "oom_killed",
            {"inspect": api.inspect_container(oom.id), "events": events_of(eng, oom.id, t0)},
        )
        save("created", {"inspect": api.inspect_container("created"), "events": []})
        before = {c.id: events_of(eng, c.id, t0) for c in (always, no)}
        eng.restart()
        api = eng.client.api
        time.sleep(1.0)
        t1 = 0
        save(
            "always_after_engine_restart",
            {
                "inspect": api.inspect_container(always.id),
                "events": before[always.id],
                "events_after_restart": events_of(eng, always.id, t1),
            },
        )
        save(
            "no_after_engine_restart",
            {
                "inspect": api.inspect_container(no.id),
                "events": before[no.id],
                "events_after_restart": events_of(eng, no.id, t1),
            },
        )
    finally:
        eng.destroy()


if __name__ == "__main__":
    main()
