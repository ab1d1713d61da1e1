"""A private, real Docker Engine for the tests: its own socket, data root and exec root.

Never the user's engine: the socket lives in a temporary folder and nothing here reads
DOCKER_HOST. Containers use network_mode="none" because the daemon runs with --bridge none.
"""

from __future__ import annotations

import contextlib
import io
import os
import shutil
import signal
import subprocess
import tarfile
import tempfile
import time
from pathlib import Path
from typing import Any

import docker

IMAGE = "docktally-test/busybox:latest"
BUSYBOX_APPLETS = [
    "sh",
    "sleep",
    "echo",
    "true",
    "false",
    "kill",
    "cat",
    "ls",
    "date",
    "touch",
    "rm",
    "test",
    "yes",
    "head",
    "dd",
    "seq",
    "printf",
    "wget",
    "timeout",
]


def find_busybox() -> str | None:
    for cand in ("/bin/busybox", "/usr/bin/busybox"):
        if os.path.exists(cand):
            return cand
    return shutil.which("busybox")


def busybox_image_tar() -> bytes:
    """A one-binary image from Debian's static busybox: no registry is reachable."""
    bb = find_busybox()
    assert bb, "busybox-static is not installed"
    buf = io.BytesIO()
    with tarfile.open(fileobj=buf, mode="w") as tar:
        for d, mode in (("bin", 0o755), ("tmp", 0o1777)):
            info = tarfile.TarInfo(d)
            info.type = tarfile.DIRTYPE
            info.mode = mode
            tar.addfile(info)
        tar.add(bb, arcname="bin/busybox")
        for applet in BUSYBOX_APPLETS:
            info = tarfile.TarInfo(f"bin/{applet}")
            info.type = tarfile.SYMTYPE
            info.linkname = "busybox"
            tar.addfile(info)
    return buf.getvalue()


class PrivateEngine:
    def __init__(self, root: Path | None = None, extra_args: tuple[str, ...] = ()) -> None:
        # Short path: a unix socket path must fit in 108 bytes.
        self.root = root or Path(tempfile.mkdtemp(prefix="dkt", dir="/tmp"))
        # More dockerd options, e.g. a TLS tcp listener beside the socket.
        self.extra_args = extra_args
        self.sock = self.root / "docker.sock"
        self.url = f"unix://{self.sock}"
        self.proc: subprocess.Popen[bytes] | None = None
        self._client: docker.DockerClient | None = None

    # --- lifecycle -----------------------------------------------------------------------------
    def start(self, timeout_s: float = 30.0) -> None:
        log = open(self.root / "dockerd.log", "ab")  # noqa: SIM115 - lives as long as the daemon
        self.proc = subprocess.Popen(
            [
                shutil.which("dockerd") or "/usr/sbin/dockerd",
                "--host",
                self.url,
                "--data-root",
                str(self.root / "data"),
                "--exec-root",
                str(self.root / "exec"),
                "--pidfile",
                str(self.root / "docker.pid"),
                "--bridge",
                "none",
                "--iptables=false",
                "--ip-masq=false",
                *self.extra_args,
            ],
            stdout=log,
            stderr=subprocess.STDOUT,
            start_new_session=True,
        )
        deadline = time.monotonic() + timeout_s
        while time.monotonic() < deadline:
            if self.proc.poll() is not None:
                raise RuntimeError(f"dockerd exited: {self.log_tail()}")
            try:
                if self.client.ping():
                    break
            except Exception:
                self._client = None
            time.sleep(0.1)
        else:
            raise RuntimeError(f"dockerd did not answer within {timeout_s}s: {self.log_tail()}")
        if not self.client.images.list(name=IMAGE):
            self.client.api.import_image_from_data(
                busybox_image_tar(), repository=IMAGE.split(":")[0], tag="latest"
            )

    def stop(self, timeout_s: float = 30.0) -> None:
        """SIGTERM, as a host shutdown would; the engine stops its containers first."""
        if self.proc is None:
            return
        if self._client is not None:
            self._client.close()
            self._client = None
        self.proc.send_signal(signal.SIGTERM)
        try:
            self.proc.wait(timeout_s)
        except subprocess.TimeoutExpired:
            self.proc.kill()
            self.proc.wait()
        self.proc = None

    def restart(self) -> None:
        self.stop()
        self.start()

    def destroy(self) -> None:
        with contextlib.suppress(Exception):
            self.remove_all_containers()
        self.stop()
        subprocess.run(["umount", "-R", str(self.root / "data")], capture_output=True)
        shutil.rmtree(self.root, ignore_errors=True)

    def log_tail(self, n: int = 20) -> str:
        try:
            lines = (self.root / "dockerd.log").read_text(errors="replace").splitlines()
        except OSError:
            return ""
        return " | ".join(lines[-n:])

    # --- helpers for tests ---------------------------------------------------------------------
    @property
    def client(self) -> docker.DockerClient:
        if self._client is None:
            self._client = docker.DockerClient(base_url=self.url, version="auto", timeout=60)
        return self._client

    def env(self) -> dict[str, str]:
        """Environment for a subprocess (docker CLI, docktally) pointed at this engine only."""
        env = dict(os.environ)
        env["DOCKER_HOST"] = self.url
        return env

    def run(self, *cmd: str, name: str | None = None, **kwargs: Any) -> Any:
        """Start a busybox container detached; kwargs go to containers.run."""
        kwargs.setdefault("network_mode", "none")
        kwargs.setdefault("detach", True)
        return self.client.containers.run(IMAGE, list(cmd) or None, name=name, **kwargs)

    def remove_all_containers(self) -> None:
        for c in self.client.containers.list(all=True):
            with contextlib.suppress(Exception):
                c.remove(force=True)

    def docker_cli(self) -> str:
        return shutil.which("docker", path="/usr/bin") or shutil.which("docker") or "docker"


class EventRecorder:
    """An independent `docker events --format '{{json .}}'` recording, to compare against."""

    def __init__(self, engine: PrivateEngine, out: Path) -> None:
        self.engine = engine
        self.out = out
        self.proc: subprocess.Popen[bytes] | None = None

    def __enter__(self) -> EventRecorder:
        self._fh = open(self.out, "wb")
        self.proc = subprocess.Popen(
            [
                self.engine.docker_cli(),
                "events",
                "--filter",
                "type=container",
                "--format",
                "{{json .}}",
            ],
            stdout=self._fh,
            env=self.engine.env(),
        )
        time.sleep(0.5)  # the subscription must be in place before the test acts
        return self

    def __exit__(self, *exc: object) -> None:
        time.sleep(0.5)
        assert self.proc is not None
        self.proc.terminate()
        self.proc.wait(10)
        self._fh.close()

    def lines(self) -> list[str]:
        return [ln for ln in self.out.read_text().splitlines() if ln.strip()]
