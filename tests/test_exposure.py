"""Safe when exposed: a dashboard on another address says so and where it listens, every response
carries security headers, readers cannot write on PostgreSQL, --out files are private,
passwords come from the environment or files and are never shown."""

from __future__ import annotations

import stat
import subprocess
import time
import urllib.error
import urllib.request
from collections.abc import Iterator
from pathlib import Path

import pytest
from sqlalchemy import text
from sqlalchemy.engine import URL, make_url
from sqlalchemy.exc import DBAPIError

from docktally.cli import main
from docktally.dashboard import server
from docktally.dashboard.headers import SECURITY_HEADERS
from docktally.masking import url_without_password
from docktally.store import db
from tests.test_up import free_port, spawn, wait_for_http


@pytest.mark.parametrize(
    ("address", "warns"),
    [
        ("127.0.0.1", False),
        ("127.0.0.2", False),
        ("::1", False),
        ("localhost", False),
        ("0.0.0.0", True),
        ("::", True),
        ("192.168.1.5", True),
        ("dashboard.example", True),
    ],
)
def test_exposure_warning_rows(address: str, warns: bool) -> None:
    assert (server.exposure_warning(address, 8501) is not None) is warns


def read_until(proc: subprocess.Popen[bytes], marker: str, timeout_s: float = 60.0) -> str:
    """The process's combined output up to the first line holding `marker`."""
    assert proc.stdout is not None
    seen: list[str] = []
    deadline = time.monotonic() + timeout_s
    while time.monotonic() < deadline:
        line = proc.stdout.readline().decode()
        if not line and proc.poll() is not None:
            break
        seen.append(line)
        if marker in line:
            return "".join(seen)
    raise AssertionError(f"no {marker!r} in:\n{''.join(seen)}")


def headers_of(url: str) -> tuple[int, dict[str, str]]:
    try:
        with urllib.request.urlopen(url, timeout=10) as resp:
            return resp.status, {k.lower(): v for k, v in resp.headers.items()}
    except urllib.error.HTTPError as exc:
        return exc.code, {k.lower(): v for k, v in exc.headers.items()}


@pytest.fixture
def exposed_dashboard(tmp_path: Path) -> Iterator[tuple[str, str]]:
    """`docktally dashboard --address 0.0.0.0`: (its output up to serving, base URL)."""
    port = free_port()
    url = f"sqlite:///{tmp_path / 'd.db'}"
    db.connect(url).dispose()
    proc = spawn("dashboard", "--db", url, "--address", f"0.0.0.0:{port}")
    try:
        said = read_until(proc, "serving")
        base = f"http://127.0.0.1:{port}/"
        wait_for_http(base, proc)
        yield said, base
    finally:
        proc.terminate()
        proc.wait(timeout=30)


def test_dashboard_on_every_interface_warns_says_where_and_sends_security_headers(
    exposed_dashboard: tuple[str, str],
) -> None:
    said, base = exposed_dashboard
    port = base.rsplit(":", 1)[1].strip("/")
    assert "warning: --address 0.0.0.0 is reachable from other machines" in said
    assert f"listening on 0.0.0.0:{port}, every IPv4 interface" in said
    # The page, a static asset, the health check and a page that does not exist.
    for path in ("", "_stcore/health", "favicon.png", "no-such-page"):
        status, headers = headers_of(base + path)
        assert status in (200, 404), (path, status)
        for name, value in SECURITY_HEADERS.items():
            assert headers.get(name.lower()) == value, (path, name)
    _, headers = headers_of(base)
    csp = headers["content-security-policy"]
    assert "frame-ancestors 'none'" in csp and "script-src 'self'" in csp
    assert headers["x-frame-options"] == "DENY"
    assert headers["x-content-type-options"] == "nosniff"


def test_up_on_every_interface_warns(tmp_path: Path) -> None:
    port = free_port()
    nowhere = f"unix://{tmp_path / 'no-engine.sock'}"
    url = f"sqlite:///{tmp_path / 'up.db'}"
    proc = spawn("up", "--db", url, "--engine", nowhere, "--address", f"0.0.0.0:{port}")
    try:
        said = read_until(proc, "dashboard at")
    finally:
        proc.terminate()
        proc.wait(timeout=30)
    assert "warning: --address 0.0.0.0 is reachable from other machines" in said
    assert f"listening on 0.0.0.0:{port}, every IPv4 interface" in said


def test_readers_cannot_write_on_postgresql(pg_url: str) -> None:
    db.connect(pg_url).dispose()
    reader = db.connect(pg_url, readonly=True)  # what the dashboard and every report read with
    try:
        with reader.connect() as conn:
            assert conn.execute(text("SELECT count(*) FROM events")).scalar() == 0
        with pytest.raises(DBAPIError, match="read-only transaction"), reader.begin() as conn:
            conn.execute(text("DELETE FROM events"))
        with pytest.raises(DBAPIError, match="read-only transaction"), reader.begin() as conn:
            conn.execute(text("CREATE TABLE planted (x int)"))
    finally:
        reader.dispose()
    # The analysis reads through Arrow's PostgreSQL driver: read-only sessions there too.
    with db.open_reader(db.connect(pg_url, readonly=True)) as arrow:
        assert arrow.table("SELECT count(*) AS n FROM events").column("n")[0].as_py() == 0
        with pytest.raises(Exception, match="read-only transaction"):
            arrow.table("DELETE FROM events RETURNING id")
    writer = db.connect(pg_url)
    with writer.begin() as conn:  # the writer still writes
        conn.execute(text("DELETE FROM events"))
    writer.dispose()


def test_out_files_are_private_also_when_they_existed(
    db_url: str, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    fresh, existing = tmp_path / "fresh.csv", tmp_path / "existing.csv"
    existing.write_text("old")
    existing.chmod(0o644)
    for out in (fresh, existing):
        assert main(["events", "--db", db_url, "--format", "csv", "--out", str(out)]) == 0
        assert stat.S_IMODE(out.stat().st_mode) == 0o600
        assert out.read_text().startswith("container_id,")
    capsys.readouterr()


@pytest.fixture
def no_pg_password(monkeypatch: pytest.MonkeyPatch) -> None:
    """Whatever a test sets in PGPASSWORD (as --db-password-file does) is undone after it."""
    for name in ("PGPASSWORD", "PGPASSFILE", "PGSERVICE", "PGSERVICEFILE"):
        monkeypatch.delenv(name, raising=False)


def _parts(pg_url: str) -> tuple[str, str]:
    """(the URL without its password, the password)."""
    url = make_url(pg_url)
    assert url.password, "DOCKTALLY_TEST_PG_URL needs a password for these tests"
    bare = URL.create(url.drivername, url.username, None, url.host, url.port, url.database)
    return bare.render_as_string(hide_password=False), str(url.password)


def test_password_from_a_file(
    pg_url: str, tmp_path: Path, no_pg_password: None, capsys: pytest.CaptureFixture[str]
) -> None:
    bare, password = _parts(pg_url)
    # Without it, this server refuses: the file is what lets the command in.
    assert main(["events", "--db", bare]) == 1
    assert "password" in capsys.readouterr().err
    pw = tmp_path / "pw"
    pw.write_text(password + "\n")
    assert main(["events", "--db", bare, "--db-password-file", str(pw)]) == 0
    err = capsys.readouterr().err
    assert f":{password}@" not in err and "warning" not in err
    assert main(["events", "--db", bare, "--db-password-file", str(tmp_path / "none")]) == 2
    err = capsys.readouterr().err
    assert err.count("\n") == 1 and "--db-password-file" in err


def test_password_from_pgpassfile_and_pgservice(
    pg_url: str,
    tmp_path: Path,
    no_pg_password: None,
    monkeypatch: pytest.MonkeyPatch,
    capsys: pytest.CaptureFixture[str],
) -> None:
    url = make_url(pg_url)
    bare, password = _parts(pg_url)
    passfile = tmp_path / "pgpass"
    passfile.write_text(f"{url.host}:{url.port or 5432}:*:{url.username}:{password}\n")
    passfile.chmod(0o600)
    monkeypatch.setenv("PGPASSFILE", str(passfile))
    assert main(["events", "--db", bare]) == 0
    monkeypatch.delenv("PGPASSFILE")
    services = tmp_path / "pg_service.conf"
    services.write_text(
        f"[dt]\nhost={url.host}\nport={url.port or 5432}\nuser={url.username}\n"
        f"password={password}\ndbname={url.database}\n"
    )
    monkeypatch.setenv("PGSERVICEFILE", str(services))
    monkeypatch.setenv("PGSERVICE", "dt")
    assert main(["events", "--db", "postgresql:///"]) == 0, capsys.readouterr().err
    capsys.readouterr()


def test_a_password_on_the_command_line_warns_and_is_never_shown(
    pg_url: str, capsys: pytest.CaptureFixture[str]
) -> None:
    _, password = _parts(pg_url)
    # A real process: the warning is for a password that `ps` shows.
    proc = spawn("events", "--db", pg_url)
    said = proc.communicate(timeout=60)[0].decode()
    assert proc.returncode == 0, said
    assert "warning: the --db URL holds a password" in said and "DOCKTALLY_DB" in said
    assert f":{password}@" not in said
    # Error messages show the URL masked, parseable or not.
    for bad in ("postgresql://u:hunter2@127.0.0.1:1/x", "postgresql://u:hunter2@[nope/x"):
        assert main(["events", "--db", bad]) != 0
        err = capsys.readouterr().err
        assert "hunter2" not in err and err.count("\n") == 1


def test_url_without_password_rows() -> None:
    assert url_without_password("postgresql://u:p@h:5/d") == "postgresql://u:***@h:5/d"
    assert url_without_password("postgresql://u@h/d") == "postgresql://u@h/d"
    assert url_without_password("sqlite:////tmp/x.db") == "sqlite:////tmp/x.db"
    assert url_without_password("postgresql://u:p:q@h/d") == "postgresql://u:***@h/d"
    assert url_without_password("postgresql://u:p@[bad/d") == "postgresql://u:***@[bad/d"


def test_metrics_on_every_interface_warns_and_says_where(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    url = f"sqlite:///{tmp_path / 'm.db'}"
    assert main(["db", "upgrade", "--db", url]) == 0
    port = free_port()
    capsys.readouterr()
    assert main(["metrics", "--db", url, "--address", f"0.0.0.0:{port}", "--duration", "0.2"]) == 0
    said = capsys.readouterr().err
    assert "warning: --address 0.0.0.0 is reachable from other machines" in said
    assert f"listening on 0.0.0.0:{port}, every IPv4 interface" in said
    port = free_port()
    assert (
        main(["metrics", "--db", url, "--address", f"127.0.0.1:{port}", "--duration", "0.2"]) == 0
    )
    assert "warning" not in capsys.readouterr().err
