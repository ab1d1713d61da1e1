"""Serving the dashboard: `python -m streamlit run app.py` as a child process, with the settings
a dashboard that shows other people's container data needs."""

from __future__ import annotations

import contextlib
import os
import signal
import subprocess
import sys
from collections.abc import Mapping
from pathlib import Path

from sqlalchemy.engine import make_url

from docktally.listening import is_loopback
from docktally.listening import listen_line as listen_line
from docktally.store.db import ENV_DB as DB_ENV

# The app wrapped as st.App with the security headers (asgi.py); app.py is the UI itself.
APP = Path(__file__).parent / "asgi.py"

# Why each: XSRF on (the app has widgets that change state); error details "none" (a traceback
# can show paths, SQL and URLs: the console gets them, the browser does not; the old `false`
# now means "stacktrace"); no usage statistics leave the machine; headless: never open a
# browser or ask for an e-mail; no file watcher: the installed app does not change.
SERVER_OPTIONS = {
    "server.headless": "true",
    "server.enableXsrfProtection": "true",
    "server.enableCORS": "true",
    "server.fileWatcherType": "none",
    "server.runOnSave": "false",
    "client.showErrorDetails": "none",
    "client.toolbarMode": "minimal",
    "browser.gatherUsageStats": "false",
    "global.developmentMode": "false",
}


def command(address: str, port: int, app: Path = APP) -> list[str]:
    """The argv that serves `app` on address:port."""
    argv = [sys.executable, "-m", "streamlit", "run", str(app)]
    argv += ["--server.address", address, "--server.port", str(port)]
    for key, value in SERVER_OPTIONS.items():
        argv += [f"--{key}", value]
    return argv


def safe_url(url: str) -> str:
    """The URL with its password hidden, for messages."""
    try:
        return str(make_url(url).render_as_string(hide_password=True))
    except Exception:
        return "(unparseable URL)"


def exposure_warning(address: str, port: int) -> str | None:
    """The warning for an address other machines can reach: the dashboard has no login and
    shows container names and log lines."""
    if is_loopback(address):
        return None
    return (
        f"warning: --address {address} is reachable from other machines: anyone who can "
        f"connect to port {port} sees every container's name, events and log lines, with no "
        "login; put an authenticating proxy in front, or keep --address 127.0.0.1"
    )


def url_for(address: str, port: int) -> str:
    host = "127.0.0.1" if address in ("0.0.0.0", "") else address
    host = "[::1]" if host == "::" else (f"[{host}]" if ":" in host else host)
    return f"http://{host}:{port}/"


def start(
    db_url: str,
    *,
    address: str,
    port: int,
    extra_env: Mapping[str, str] | None = None,
    quiet_stdout: bool = False,
) -> subprocess.Popen[bytes]:
    """Start the Streamlit server; the app finds the database in DOCKTALLY_DB."""
    env = dict(os.environ)
    env[DB_ENV] = db_url
    env.update(extra_env or {})
    # The child gets its own process group: the parent decides how and when it stops, so a
    # Ctrl-C in a terminal does not reach it twice.
    return subprocess.Popen(
        command(address, port),
        env=env,
        # Streamlit's own banner: `up` prints its URL itself.
        stdout=subprocess.DEVNULL if quiet_stdout else None,
        start_new_session=True,
    )


def stop(proc: subprocess.Popen[bytes], timeout_s: float = 10.0) -> int:
    """SIGTERM (Streamlit shuts down cleanly on it), then SIGKILL if it hangs."""
    if proc.poll() is None:
        with contextlib.suppress(ProcessLookupError):
            proc.send_signal(signal.SIGTERM)
        try:
            proc.wait(timeout=timeout_s)
        except subprocess.TimeoutExpired:
            with contextlib.suppress(ProcessLookupError):
                proc.kill()
            proc.wait()
    return int(proc.returncode or 0)
