"""Record real `docker events --format '{{json .}}'` output into tests/data/events/*.jsonl.

Run as root on a machine with docker.io and busybox-static (see ../shared/ENGINE.md):

    .venv/bin/python -m tests.data.record            # every scenario
    .venv/bin/python -m tests.data.record oom kill   # some of them

A private engine is started for the recording (never the user's), so the files hold exactly one
scenario each. Events of every type are kept (no `--filter type=container`), as a user's
`docker events` output would have them, so importers meet network events too. Next to each
`NAME.jsonl` goes `NAME.inspect.json`: the last inspect of the scenario's container(s) before
removal, for facts_from_inspect tests.
"""

from __future__ import annotations

import json
import subprocess
import sys
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

from tests.private_engine import PrivateEngine

OUT = Path(__file__).parent / "events"
# Apart from events/: a restart spans two engines, and the other scenarios' readers (imports,
# golden files) take each file of events/ as one engine's recording.
ENGINE_RESTART_OUT = Path(__file__).parent / "engine_restart"
COMPOSE = {
    "com.docker.compose.project": "shop",
    "com.docker.compose.service": "web",
    "com.docker.compose.container-number": "1",
}


class Recorder:
    """`docker events --format '{{json .}}'` of every type into a file, for one scenario."""

    def __init__(self, engine: PrivateEngine, out: Path) -> None:
        self.engine = engine
        self.out = out

    def __enter__(self) -> Recorder:
        self._fh = open(self.out, "wb")
        self.proc = subprocess.Popen(
            [self.engine.docker_cli(), "events", "--format", "{{json .}}"],
            stdout=self._fh,
            env=self.engine.env(),
        )
        time.sleep(0.7)
        return self

    def __exit__(self, *exc: object) -> None:
        time.sleep(0.7)
        self.proc.terminate()
        self.proc.wait(10)
        self._fh.close()


def _wait(pred: Callable[[], bool], timeout_s: float = 60.0) -> None:
    deadline = time.monotonic() + timeout_s
    while time.monotonic() < deadline:
        if pred():
            return
        time.sleep(0.1)
    raise TimeoutError("scenario did not reach its end state")


def _state(c: Any) -> dict[str, Any]:
    c.reload()
    return dict(c.attrs["State"])


def crash_loop(eng: PrivateEngine) -> list[Any]:
    c = eng.run(
        "sh",
        "-c",
        "echo boom; sleep 0.2; exit 1",
        name="crashy",
        labels=COMPOSE,
        restart_policy={"Name": "on-failure", "MaximumRetryCount": 3},
    )
    _wait(lambda: _state(c)["Status"] == "exited" and c.attrs["RestartCount"] >= 3)
    return [c]


def oom(eng: PrivateEngine) -> list[Any]:
    # dd allocates a bs-sized buffer and fills it from /dev/zero: 64 MiB against an 8 MiB limit.
    c = eng.run(
        "dd",
        "if=/dev/zero",
        "of=/dev/null",
        "bs=64M",
        "count=1",
        name="hungry",
        mem_limit="8m",
        memswap_limit="8m",
    )
    _wait(lambda: _state(c)["Status"] == "exited")
    state = _state(c)
    assert state["OOMKilled"], f"not OOM-killed: {state}"
    return [c]


def stop(eng: PrivateEngine) -> list[Any]:
    # busybox sleep as PID 1 ignores SIGTERM: kill 15 -> kill 9 after the grace -> die 137.
    stubborn = eng.run("sleep", "300", name="stubborn")
    # A shell that traps TERM exits 143 at once.
    polite = eng.run("sh", "-c", "trap 'exit 143' TERM; sleep 300 & wait", name="polite")
    time.sleep(0.5)
    stubborn.stop(timeout=1)
    polite.stop(timeout=5)
    return [stubborn, polite]


def kill(eng: PrivateEngine) -> list[Any]:
    c = eng.run("sleep", "300", name="victim")
    time.sleep(0.3)
    c.kill()
    _wait(lambda: _state(c)["Status"] == "exited")
    return [c]


def health(eng: PrivateEngine) -> list[Any]:
    # Healthy while /tmp/ok exists, then unhealthy once it is removed.
    c = eng.run(
        "sh",
        "-c",
        "touch /tmp/ok; sleep 2; rm /tmp/ok; sleep 300",
        name="checked",
        labels=COMPOSE,
        healthcheck={
            "Test": ["CMD-SHELL", "test -f /tmp/ok"],
            "Interval": 500_000_000,
            "Timeout": 1_000_000_000,
            "Retries": 1,
        },
    )
    _wait(lambda: (_state(c).get("Health") or {}).get("Status") == "unhealthy", 30)
    c.kill()
    return [c]


def pause(eng: PrivateEngine) -> list[Any]:
    c = eng.run("sleep", "300", name="napper")
    time.sleep(0.3)
    c.pause()
    time.sleep(0.3)
    c.unpause()
    time.sleep(0.3)
    c.kill()
    return [c]


def rename(eng: PrivateEngine) -> list[Any]:
    c = eng.run("sleep", "300", name="oldname")
    time.sleep(0.3)
    c.rename("newname")
    c.kill()
    return [c]


def update(eng: PrivateEngine) -> list[Any]:
    c = eng.run("sleep", "300", name="tuned")
    time.sleep(0.3)
    c.update(restart_policy={"Name": "unless-stopped"}, mem_limit="64m", memswap_limit="64m")
    c.kill()
    return [c]


def autoremove(eng: PrivateEngine) -> list[Any]:
    c = eng.run("sh", "-c", "exit 3", name="ephemeral", auto_remove=True)
    _wait(lambda: not eng.client.containers.list(all=True, filters={"name": "ephemeral"}))
    return [c]


def destroy(eng: PrivateEngine) -> list[Any]:
    c = eng.run("sleep", "300", name="doomed")
    time.sleep(0.3)
    c.remove(force=True)
    return [c]


# Exits 0 at once on SIGTERM (`wait` is interrupted, `sleep` in the foreground would not be).
POLITE = ["sh", "-c", "trap 'exit 0' TERM; while :; do sleep 1 & wait; done"]
RESTART_POLICIES = {
    "always": {"Name": "always"},
    "unless": {"Name": "unless-stopped"},
    "onfail": {"Name": "on-failure", "MaximumRetryCount": 0},
    "never": {"Name": "no"},
}


def engine_restart(eng: PrivateEngine, out: Path) -> list[Any]:
    """dockerd stopped with SIGTERM and started again under four running containers. The live
    stream ends with the old engine; the new engine's own events (its restarts) are appended
    from `docker events --since` the moment before the stop."""
    cs = [eng.run(*POLITE, name=n, restart_policy=p) for n, p in RESTART_POLICIES.items()]
    time.sleep(1.0)
    before = time.time()
    eng.restart()
    _wait(lambda: _state(eng.client.containers.get("always"))["Running"])
    time.sleep(1.0)
    replay = subprocess.run(
        [
            eng.docker_cli(),
            "events",
            "--since",
            f"{before:.9f}",
            "--until",
            f"{time.time():.9f}",
            "--format",
            "{{json .}}",
        ],
        env=eng.env(),
        capture_output=True,
        check=True,
    ).stdout
    with open(out, "ab") as fh:
        fh.write(replay)
    return [eng.client.containers.get(c.id) for c in cs]


SCENARIOS: dict[str, Callable[[PrivateEngine], list[Any]]] = {
    "crash_loop": crash_loop,
    "oom": oom,
    "stop": stop,
    "kill": kill,
    "health": health,
    "pause": pause,
    "rename": rename,
    "update": update,
    "autoremove": autoremove,
    "destroy": destroy,
}


def record(names: list[str]) -> None:
    OUT.mkdir(parents=True, exist_ok=True)
    ENGINE_RESTART_OUT.mkdir(parents=True, exist_ok=True)
    eng = PrivateEngine()
    eng.start()
    try:
        for name in names:
            eng.remove_all_containers()
            time.sleep(0.5)
            out = ENGINE_RESTART_OUT if name == "engine_restart" else OUT
            events = out / ("events.jsonl" if name == "engine_restart" else f"{name}.jsonl")
            with Recorder(eng, events):
                if name == "engine_restart":
                    containers = engine_restart(eng, events)
                else:
                    containers = SCENARIOS[name](eng)
            inspects = []
            for c in containers:
                try:
                    c.reload()
                    inspects.append(c.attrs)
                except Exception:  # --rm or destroyed: gone
                    pass
            inspect = "inspect.json" if name == "engine_restart" else f"{name}.inspect.json"
            (out / inspect).write_text(json.dumps(inspects, indent=1) + "\n")
            lines = events.read_text().splitlines()
            print(f"{name}: {len(lines)} events", file=sys.stderr)
    finally:
        eng.destroy()


if __name__ == "__main__":
    record(sys.argv[1:] or [*SCENARIOS, "engine_restart"])
