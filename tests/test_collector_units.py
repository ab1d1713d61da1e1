"""Pure helpers of the collector: log tail bounds, engine URL resolution, error lines."""

from __future__ import annotations

import hashlib
import json
from pathlib import Path

from docktally.collector.engine_url import DEFAULT_ENGINE_URL, default_engine_url
from docktally.collector.logtail import bound_tail
from docktally.collector.runner import describe_engine_error


def test_short_log_is_kept_whole() -> None:
    assert bound_tail(b"a\nb\n", max_bytes=10) == ("a\nb\n", False)


def test_long_log_keeps_the_tail_on_a_line_boundary() -> None:
    data = b"".join(f"line {i}\n".encode() for i in range(1000))
    text, truncated = bound_tail(data, max_bytes=100)
    assert truncated
    assert len(text.encode()) <= 100
    assert text.endswith("line 999\n")
    assert text.startswith("line ")


def test_tail_cut_inside_a_multibyte_character_stays_within_the_bound() -> None:
    text, truncated = bound_tail(("é" * 100).encode(), max_bytes=51)
    assert truncated and len(text.encode()) <= 51


def test_engine_url_from_docker_host(tmp_path: Path) -> None:
    assert default_engine_url({"DOCKER_HOST": "tcp://x:2375"}, home=tmp_path) == "tcp://x:2375"


def test_engine_url_default_socket(tmp_path: Path) -> None:
    assert default_engine_url({}, home=tmp_path) == DEFAULT_ENGINE_URL


def test_engine_url_from_the_current_context(tmp_path: Path) -> None:
    cfg = tmp_path / ".docker"
    meta = cfg / "contexts" / "meta" / hashlib.sha256(b"remote").hexdigest()
    meta.mkdir(parents=True)
    (cfg / "config.json").write_text(json.dumps({"currentContext": "remote"}))
    (meta / "meta.json").write_text(
        json.dumps({"Name": "remote", "Endpoints": {"docker": {"Host": "ssh://me@box"}}})
    )
    assert default_engine_url({}, home=tmp_path) == "ssh://me@box"
    assert default_engine_url({"DOCKER_CONTEXT": "default"}, home=tmp_path) == DEFAULT_ENGINE_URL


def test_permission_denied_says_how_to_fix() -> None:
    line = describe_engine_error(
        "unix:///var/run/docker.sock", PermissionError(13, "Permission denied")
    )
    assert "permission denied" in line and "docker` group" in line and "\n" not in line


def test_unreachable_names_the_url() -> None:
    line = describe_engine_error("unix:///nope.sock", FileNotFoundError(2, "No such file"))
    assert "unix:///nope.sock" in line
