"""`docktally up` and `docktally dashboard` as a user runs them: real processes, a real port,
stopped with the signals a terminal or a service manager sends."""

from __future__ import annotations

import os
import signal
import socket
import subprocess
import sys
import time
import urllib.error
import urllib.request
import uuid
from collections.abc import Iterator
from pathlib import Path

import pytest

from docktally.store import db

START_TIMEOUT_S = 60
STOP_TIMEOUT_S = 30


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def http_status(url: str) -> int | None:
    try:
        with urllib.request.urlopen(url, timeout=5) as resp:
            return int(resp.status)
    except urllib.error.HTTPError as exc:
        return exc.code
    except OSError:
        return None


def wait_for_http(base: str, proc: subprocess.Popen[bytes]) -> None:
    deadline = time.monotonic() + START_TIMEOUT_S
    while time.monotonic() < deadline:
        if proc.poll() is not None:
            out = proc.stdout.read().decode() if proc.stdout else ""
            raise AssertionError(f"exited with {proc.returncode} before serving:\n{out}")
        if http_status(base + "_stcore/health") == 200:
            return
        time.sleep(0.3)
    raise AssertionError(f"{base} did not answer within {START_TIMEOUT_S} s")


def port_closed(port: int) -> bool:
    with socket.socket() as s:
        s.settimeout(1)
        return s.connect_ex(("127.0.0.1", port)) != 0


def spawn(*args: str) -> subprocess.Popen[bytes]:
    env = dict(os.environ)
    env.pop("DOCKER_HOST", None)
    return subprocess.Popen(
        [sys.executable, "-m", "docktally", *args],
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        env=env,
    )


@pytest.fixture
def nowhere() -> str:
    return f"unix:///tmp/docktally-nonexistent-{uuid.uuid4().hex[:8]}.sock"


@pytest.fixture
def up_process(tmp_path: Path, nowhere: str) -> Iterator[tuple[subprocess.Popen[bytes], int, str]]:
    port = free_port()
    url = f"sqlite:///{tmp_path / 'up.db'}"
    proc = spawn("up", "--db", url, "--engine", nowhere, "--address", str(port))
    try:
        yield proc, port, url
    finally:
        if proc.poll() is None:
            proc.kill()
            proc.wait()


@pytest.mark.parametrize("sig", [signal.SIGINT, signal.SIGTERM], ids=["SIGINT", "SIGTERM"])
def test_up_serves_without_an_engine_and_stops_cleanly(
    up_process: tuple[subprocess.Popen[bytes], int, str], sig: signal.Signals
) -> None:
    proc, port, url = up_process
    base = f"http://127.0.0.1:{port}/"
    wait_for_http(base, proc)
    assert http_status(base) == 200
    # The database was migrated before anything else.
    engine = db.connect(url, readonly=True)
    assert db.is_at_head(engine)
    engine.dispose()
    time.sleep(1.5)  # let the collector fail at least once and keep retrying
    assert proc.poll() is None, "up must keep running while the engine is away"
    proc.send_signal(sig)
    out, _ = proc.communicate(timeout=STOP_TIMEOUT_S)
    text = out.decode()
    assert proc.returncode == 0, text
    assert f"dashboard at http://127.0.0.1:{port}/" in text
    assert "cannot reach the Docker engine" in text
    assert "reconnecting" in text
    assert port_closed(port), "the dashboard must stop with up"


def test_up_refuses_a_port_in_use(tmp_path: Path, nowhere: str) -> None:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        s.listen(1)
        port = s.getsockname()[1]
        proc = spawn(
            "up", "--db", str(tmp_path / "u.db"), "--engine", nowhere, "--address", str(port)
        )
        out, _ = proc.communicate(timeout=STOP_TIMEOUT_S)
    assert proc.returncode == 2
    assert f"--address {port}" in out.decode()


def test_up_without_its_database_says_so_in_one_line(nowhere: str) -> None:
    # Unlike `collect`, which spools while a central database is away, `up` starts only with
    # its database (it migrates it and serves it): a refused connection is one line, masked.
    db_port, port = free_port(), free_port()
    env = {**os.environ, "DOCKTALLY_DB": f"postgresql://docktally:s3cret@127.0.0.1:{db_port}/x"}
    env.pop("DOCKER_HOST", None)
    proc = subprocess.run(
        [sys.executable, "-m", "docktally", "up", "--engine", nowhere, "--address", str(port)],
        capture_output=True,
        env=env,
        timeout=STOP_TIMEOUT_S,
    )
    out = (proc.stdout + proc.stderr).decode()
    assert proc.returncode == 1, out
    lines = out.splitlines()
    masked = f"postgresql+psycopg://docktally:***@127.0.0.1:{db_port}/x"
    assert len(lines) == 1 and "s3cret" not in out, out
    assert lines[0].startswith(f"docktally: error: cannot open database {masked}: "), out
    assert "Connection refused" in lines[0], out
    assert port_closed(port), "no dashboard without its database"


def test_dashboard_serves_a_database_not_created_yet_and_stops_on_sigint(tmp_path: Path) -> None:
    port = free_port()
    path = tmp_path / "later.db"
    proc = spawn("dashboard", "--db", str(path), "--address", str(port))
    try:
        base = f"http://127.0.0.1:{port}/"
        wait_for_http(base, proc)
        assert http_status(base) == 200
        proc.send_signal(signal.SIGINT)
        out, _ = proc.communicate(timeout=STOP_TIMEOUT_S)
    finally:
        if proc.poll() is None:
            proc.kill()
            proc.wait()
    assert proc.returncode == 0
    assert "does not exist yet" in out.decode()
    assert not path.exists(), "the dashboard only reads: it never creates the database"
    assert port_closed(port)


def test_dashboard_rejects_a_bad_url() -> None:
    proc = spawn("dashboard", "--db", "mysql://x/y", "--address", str(free_port()))
    out, _ = proc.communicate(timeout=STOP_TIMEOUT_S)
    assert proc.returncode == 2
    assert "not supported" in out.decode()


def test_server_command_has_the_safe_settings() -> None:
    from docktally.dashboard import server

    argv = server.command("127.0.0.1", 8501)
    pairs = dict(zip(argv[5::2], argv[6::2], strict=True))
    assert argv[1:4] == ["-m", "streamlit", "run"]
    # asgi.py: app.py served as st.App, with the security headers.
    assert Path(argv[4]).name == "asgi.py" and Path(argv[4]).exists()
    assert pairs["--server.enableXsrfProtection"] == "true"
    assert pairs["--client.showErrorDetails"] == "none"
    assert pairs["--browser.gatherUsageStats"] == "false"
    assert pairs["--server.headless"] == "true"
    assert pairs["--server.address"] == "127.0.0.1"
