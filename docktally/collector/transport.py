"""How to talk to one engine URL: a local socket, `tcp://` with TLS as the docker CLI sets it up
from its environment, or `ssh://user@host`."""

from __future__ import annotations

import importlib.util
import os
import shutil
from collections.abc import Mapping
from pathlib import Path
from typing import Any

import docker
import docker.tls

from docktally.errors import UsageError

# Every call but the event stream is bounded by this.
CALL_TIMEOUT_S = 10
TLS_FILES = ("ca.pem", "cert.pem", "key.pem")


def tls_config(url: str, env: Mapping[str, str] | None = None) -> docker.tls.TLSConfig | None:
    """The docker CLI's rules: DOCKER_TLS_VERIFY (any non-empty value) verifies the engine
    against DOCKER_CERT_PATH/ca.pem and presents cert.pem/key.pem; DOCKER_TLS alone encrypts
    without verifying. Only `tcp://` and `https://` engines use TLS."""
    env = os.environ if env is None else env
    if not url.startswith(("tcp://", "https://")):
        return None
    verify = bool(env.get("DOCKER_TLS_VERIFY"))
    if not verify and not env.get("DOCKER_TLS"):
        return None
    cert_dir = Path(env.get("DOCKER_CERT_PATH") or Path(env.get("HOME", "~")) / ".docker")
    cert_dir = cert_dir.expanduser()
    ca, cert, key = (cert_dir / name for name in TLS_FILES)
    if verify:
        for path in (ca, cert, key):
            if not path.is_file():
                raise UsageError(
                    f"--engine {url}: DOCKER_TLS_VERIFY is set but {path} is missing "
                    "(set DOCKER_CERT_PATH to the folder holding ca.pem, cert.pem and key.pem)"
                )
        return docker.tls.TLSConfig(client_cert=(str(cert), str(key)), ca_cert=str(ca), verify=True)
    # DOCKER_TLS without verification: still present a client certificate when there is one.
    client_cert = (str(cert), str(key)) if cert.is_file() and key.is_file() else None
    return docker.tls.TLSConfig(client_cert=client_cert, verify=False)


def ssh_options(url: str) -> dict[str, Any]:
    """`ssh://` engines go through paramiko when it is installed, else through the `ssh` binary
    (`docker system dial-stdio` on the remote host, so its docker CLI must be installed)."""
    if not url.startswith("ssh://"):
        return {}
    if importlib.util.find_spec("paramiko") is not None:
        return {"use_ssh_client": False}
    if shutil.which("ssh"):
        return {"use_ssh_client": True}
    raise UsageError(
        f"--engine {url}: ssh:// engines need the `ssh` client or the paramiko package"
    )


class _Client(docker.APIClient):
    """requests lets REQUESTS_CA_BUNDLE (set system-wide on many machines) replace a session's
    own CA file: the engine's CA from DOCKER_CERT_PATH must win, as it does for the docker CLI."""

    def merge_environment_settings(self, *args: Any, **kwargs: Any) -> dict[str, Any]:
        settings: dict[str, Any] = super().merge_environment_settings(*args, **kwargs)
        if isinstance(self.verify, str):
            settings["verify"] = self.verify
        return settings


def engine_client(url: str, env: Mapping[str, str] | None = None) -> docker.APIClient:
    # version="auto" asks GET /version.
    tls = tls_config(url, env)
    return _Client(
        base_url=url,
        version="auto",
        timeout=CALL_TIMEOUT_S,
        tls=tls if tls is not None else False,
        **ssh_options(url),
    )
