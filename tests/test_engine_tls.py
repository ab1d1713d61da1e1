"""A `tcp://` engine that demands TLS client certificates (dockerd --tlsverify), collected the
docker CLI's way: DOCKER_TLS_VERIFY and DOCKER_CERT_PATH holding ca.pem, cert.pem and key.pem."""

from __future__ import annotations

import os
import signal
import socket
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path

import pytest
from sqlalchemy import select

from docktally.store import db, reads
from docktally.store.schema import coverage
from tests.private_engine import PrivateEngine

pytestmark = pytest.mark.engine

REPO = Path(__file__).resolve().parent.parent
COLLECT = [sys.executable, "-m", "docktally", "collect"]


def openssl(*args: str, cwd: Path) -> None:
    subprocess.run(["openssl", *args], cwd=cwd, check=True, capture_output=True)


def make_certs(d: Path) -> None:
    """A CA, a server certificate for 127.0.0.1 and a client certificate, as `docker` wants them."""
    openssl("req", "-x509", "-newkey", "rsa:2048", "-nodes", "-keyout", "ca-key.pem",
            "-out", "ca.pem", "-days", "1", "-subj", "/CN=docktally-test-ca", cwd=d)  # fmt: skip
    for name, subject, ext in (
        ("server", "/CN=127.0.0.1", "subjectAltName=IP:127.0.0.1\nextendedKeyUsage=serverAuth\n"),
        ("client", "/CN=docktally", "extendedKeyUsage=clientAuth\n"),
    ):
        (d / f"{name}.ext").write_text(ext)
        openssl("req", "-newkey", "rsa:2048", "-nodes", "-keyout", f"{name}-key.pem",
                "-out", f"{name}.csr", "-subj", subject, cwd=d)  # fmt: skip
        openssl("x509", "-req", "-in", f"{name}.csr", "-CA", "ca.pem", "-CAkey", "ca-key.pem",
                "-CAcreateserial", "-out", f"{name}-cert.pem", "-days", "1",
                "-extfile", f"{name}.ext", cwd=d)  # fmt: skip
    (d / "client-cert.pem").rename(d / "cert.pem")
    (d / "client-key.pem").rename(d / "key.pem")


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


@pytest.fixture
def tls_engine(tmp_path: Path) -> Iterator[tuple[PrivateEngine, str, Path]]:
    certs = tmp_path / "certs"
    certs.mkdir()
    make_certs(certs)
    url = f"tcp://127.0.0.1:{free_port()}"
    eng = PrivateEngine(
        extra_args=(
            "--host",
            url,
            "--tlsverify",
            "--tlscacert",
            str(certs / "ca.pem"),
            "--tlscert",
            str(certs / "server-cert.pem"),
            "--tlskey",
            str(certs / "server-key.pem"),
        )
    )
    eng.start()
    try:
        yield eng, url, certs
    finally:
        eng.destroy()


def test_a_tls_engine_is_collected_with_the_docker_cli_settings(
    tls_engine: tuple[PrivateEngine, str, Path], sqlite_url: str, tmp_path: Path
) -> None:
    eng, url, certs = tls_engine
    store = db.connect(sqlite_url)
    env = {k: v for k, v in os.environ.items() if not k.startswith("DOCKER_")} | {
        "DOCKER_TLS_VERIFY": "1",
        "DOCKER_CERT_PATH": str(certs),
    }
    log = (tmp_path / "collect.log").open("ab")
    proc = subprocess.Popen(
        [*COLLECT, "--db", sqlite_url, "--engine", url, "--host", "tls-box", "--no-logs"],
        stderr=log,
        env=env,
        cwd=REPO,
    )

    def stored_dies() -> list[str]:
        ev = reads.events_view()
        with store.connect() as conn:
            rows = conn.execute(
                select(ev.c.container_id).where(ev.c.action == "die").where(ev.c.host == "tls-box")
            ).all()
        return [str(r[0]) for r in rows]

    try:
        deadline = time.monotonic() + 60
        while time.monotonic() < deadline:
            with store.connect() as conn:
                watched = conn.execute(
                    select(coverage.c.engine_url).where(coverage.c.end_ns.is_(None))
                ).all()
            if watched:
                break
            assert proc.poll() is None, (tmp_path / "collect.log").read_text()
            time.sleep(0.1)
        assert [r[0] for r in watched] == [url], (tmp_path / "collect.log").read_text()
        container = eng.run("sh", "-c", "exit 3")
        assert container.wait(timeout=30)["StatusCode"] == 3
        deadline = time.monotonic() + 30
        while container.id not in stored_dies() and time.monotonic() < deadline:
            time.sleep(0.1)
        assert stored_dies() == [container.id]
    finally:
        proc.send_signal(signal.SIGTERM)
        assert proc.wait(30) == 0
        log.close()
    store.dispose()
