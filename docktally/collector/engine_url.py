"""Which engine to watch when none is named: what the docker CLI would talk to."""

from __future__ import annotations

import hashlib
import json
import os
from collections.abc import Mapping
from pathlib import Path

DEFAULT_ENGINE_URL = "unix:///var/run/docker.sock"


def default_engine_url(env: Mapping[str, str] | None = None, home: Path | None = None) -> str:
    """$DOCKER_HOST, else the endpoint of $DOCKER_CONTEXT or the config's current context,
    else the default socket: the order the docker CLI uses."""
    env = os.environ if env is None else env
    if env.get("DOCKER_HOST"):
        return env["DOCKER_HOST"]
    config_dir = Path(env["DOCKER_CONFIG"]) if env.get("DOCKER_CONFIG") else None
    if config_dir is None:
        config_dir = (home or Path(env.get("HOME", "~")).expanduser()) / ".docker"
    context = env.get("DOCKER_CONTEXT") or _current_context(config_dir)
    if context and context != "default":
        host = _context_host(config_dir, context)
        if host:
            return host
    return DEFAULT_ENGINE_URL


def _current_context(config_dir: Path) -> str | None:
    try:
        data = json.loads((config_dir / "config.json").read_text())
    except (OSError, ValueError):
        return None
    value = data.get("currentContext") if isinstance(data, dict) else None
    return value if isinstance(value, str) else None


def _context_host(config_dir: Path, name: str) -> str | None:
    digest = hashlib.sha256(name.encode()).hexdigest()
    try:
        meta = json.loads((config_dir / "contexts" / "meta" / digest / "meta.json").read_text())
        host = meta["Endpoints"]["docker"]["Host"]
    except (OSError, ValueError, KeyError, TypeError):
        return None
    return host if isinstance(host, str) and host else None
