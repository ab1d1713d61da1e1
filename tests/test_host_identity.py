"""Host names from /info (recorded from the real private engines) and how engines reach us:
one name per engine, stable, readable; TLS set up the docker CLI's way; --host paired with
--engine."""

from __future__ import annotations

import argparse
from collections.abc import Iterator
from pathlib import Path

import pytest
from sqlalchemy import Engine, select

from docktally.cli.collect import engines_and_hosts
from docktally.collector import identity
from docktally.collector.transport import tls_config
from docktally.errors import UsageError
from docktally.store import writes
from docktally.store.schema import coverage

# Two private daemons of one machine (ENGINE.md): the same ID and Name, their own data roots.
ID = "7XQH:5OLU:GOH2:TQ6A:S6BZ:AWBJ:YRE5:HJKD:F2HE:KEXZ:MM2O:Z3UN"
ENGINE_A = {"ID": ID, "Name": "box", "DockerRootDir": "/tmp/dkta/data"}
ENGINE_B = {"ID": ID, "Name": "box", "DockerRootDir": "/tmp/dktb/data"}
KEY_A = identity.engine_key(ENGINE_A)
OTHER_MACHINE = {"ID": "QWER:TYUI:OPAS", "Name": "box", "DockerRootDir": "/var/lib/docker"}


@pytest.fixture(autouse=True)
def new_process() -> Iterator[None]:
    """Each test is a fresh collector process: nothing named in memory."""
    restart_collector()
    yield
    restart_collector()


def restart_collector() -> None:
    for held in (identity._names, identity._own_coverage, identity._explicit, identity._taken):
        held.clear()


def watch(store: Engine, info: dict[str, str], url: str, explicit: str | None = None) -> str:
    """What a collector's session does: name the engine, then open its coverage."""
    host = identity.resolve_host(store, info, engine_url=url, explicit=explicit)
    with store.begin() as conn:
        identity.confirm_name(conn, host, info, url)
        writes.open_coverage(
            conn,
            host=host,
            engine_url=url,
            engine_id=identity.engine_key(info),
            source="collector",
            start_ns=1,
        )
    return host


def test_two_daemons_of_one_machine_get_two_readable_names_that_stay(store: Engine) -> None:
    a = watch(store, ENGINE_A, "unix:///tmp/dkta/docker.sock")
    b = watch(store, ENGINE_B, "unix:///tmp/dktb/docker.sock")
    assert (a, b) == ("box", "box@/tmp/dktb/data")
    restart_collector()
    # Asked in the other order after a restart: each engine keeps its own name.
    assert watch(store, ENGINE_B, "unix:///tmp/dktb/docker.sock") == b
    assert watch(store, ENGINE_A, "unix:///tmp/dkta/docker.sock") == a


def test_the_same_name_on_another_machine_gets_its_engine_id(store: Engine) -> None:
    assert watch(store, ENGINE_A, "unix:///tmp/dkta/docker.sock") == "box"
    assert watch(store, OTHER_MACHINE, "ssh://me@far") == "box~QWERTYUI"


def test_one_process_never_gives_one_name_to_two_engines(store: Engine) -> None:
    # Neither has a coverage row yet (both sessions are starting): memory tells them apart.
    a = identity.resolve_host(store, ENGINE_A, engine_url="a", explicit=None)
    b = identity.resolve_host(store, ENGINE_B, engine_url="b", explicit=None)
    assert a != b
    with pytest.raises(identity.HostClaimed, match="given to two engines"):
        identity.resolve_host(store, ENGINE_B, engine_url="b", explicit=a)


def test_an_explicit_name_is_kept_and_found_again_without_it(store: Engine) -> None:
    assert watch(store, ENGINE_A, "a", explicit="web-1") == "web-1"
    restart_collector()
    assert identity.resolve_host(store, ENGINE_A, engine_url="a", explicit=None) == "web-1"


def test_rows_from_before_the_key_keep_their_host(store: Engine) -> None:
    # An older collector stored the bare engine ID: the same engine at the same URL is that host.
    with store.begin() as conn:
        writes.open_coverage(
            conn, host="box", engine_url="a", engine_id=ID, source="collector", start_ns=1
        )
    assert identity.resolve_host(store, ENGINE_A, engine_url="a", explicit=None) == "box"
    restart_collector()
    assert identity.resolve_host(store, ENGINE_B, engine_url="b", explicit=None) != "box"


def test_a_long_data_root_still_fits_the_engine_id_column() -> None:
    key = identity.engine_key({"ID": ID, "DockerRootDir": "/x" * 200})
    assert len(key) <= identity.KEY_MAX_CHARS and key.startswith(ID + "@sha256:")


def test_a_claim_whose_heartbeat_stands_still_is_closed_not_refused(store: Engine) -> None:
    now = 100 * identity.CLAIM_FRESH_NS
    with store.begin() as conn:
        dead = writes.open_coverage(
            conn, host="h", engine_url="a", engine_id=KEY_A, source="collector", start_ns=now - 5
        )
    identity.check_claim(
        store, "h", ENGINE_A, engine_url="b", clock_ns=lambda: now, sleep=lambda _s: None
    )
    with store.connect() as conn:
        rows = conn.execute(
            select(coverage.c.id, coverage.c.end_ns, coverage.c.closed_reason)
        ).all()
    assert [tuple(r) for r in rows] == [(dead, now - 5, "abandoned")]


def test_a_claim_whose_heartbeat_moves_is_refused_in_one_line(store: Engine) -> None:
    now = 100 * identity.CLAIM_FRESH_NS
    with store.begin() as conn:
        live = writes.open_coverage(
            conn, host="h", engine_url="a", engine_id=KEY_A, source="collector", start_ns=now - 5
        )

    def other_collector_beats(_s: float) -> None:
        with store.begin() as conn:
            writes.heartbeat_coverage(conn, live, now)

    with pytest.raises(identity.HostClaimed) as err:
        identity.check_claim(
            store, "h", ENGINE_A, engine_url="b", clock_ns=lambda: now, sleep=other_collector_beats
        )
    assert "\n" not in str(err.value) and "'h'" in str(err.value)


def test_tls_follows_the_docker_cli(tmp_path: Path) -> None:
    env = {"DOCKER_TLS_VERIFY": "1", "DOCKER_CERT_PATH": str(tmp_path)}
    assert tls_config("unix:///var/run/docker.sock", env) is None
    assert tls_config("tcp://h:2376", {}) is None
    with pytest.raises(UsageError, match=r"ca\.pem is missing"):
        tls_config("tcp://h:2376", env)
    for name in ("ca.pem", "cert.pem", "key.pem"):
        (tmp_path / name).write_text("x")
    tls = tls_config("tcp://h:2376", env)
    assert tls is not None and tls.verify is True and tls.ca_cert == str(tmp_path / "ca.pem")
    assert tls.cert == (str(tmp_path / "cert.pem"), str(tmp_path / "key.pem"))
    unverified = tls_config("tcp://h:2376", {"DOCKER_TLS": "1", "HOME": str(tmp_path / "none")})
    assert unverified is not None and unverified.verify is False and unverified.cert is None


@pytest.mark.parametrize(
    ("engines", "hosts", "pairs"),
    [
        (None, ["web"], [("DEFAULT", "web")]),
        (["a", "b"], None, [("a", None), ("b", None)]),
        (["a", "b"], ["x", "y"], [("a", "x"), ("b", "y")]),
    ],
)
def test_host_names_pair_with_engines_in_order(
    engines: list[str] | None,
    hosts: list[str] | None,
    pairs: list[tuple[str, str | None]],
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.setenv("DOCKER_HOST", "DEFAULT")
    assert engines_and_hosts(argparse.Namespace(engine=engines, hosts=hosts)) == pairs


@pytest.mark.parametrize(
    ("engines", "hosts", "message"),
    [
        (["a", "b"], ["x"], r"1 name\(s\) for 2 engine\(s\)"),
        (["a", "b"], ["x", "x"], "cannot share a host name"),
        (["a", "a"], None, "the same engine is named twice"),
    ],
)
def test_host_names_that_do_not_pair_are_refused(
    engines: list[str], hosts: list[str] | None, message: str
) -> None:
    with pytest.raises(UsageError, match=message):
        engines_and_hosts(argparse.Namespace(engine=engines, hosts=hosts))


def test_two_collectors_naming_engines_at_once_never_share_a_name(store: Engine) -> None:
    # Both chose the plain name before either opened its coverage.
    assert identity.resolve_host(store, ENGINE_A, engine_url="a", explicit=None) == "box"
    restart_collector()
    assert identity.resolve_host(store, ENGINE_B, engine_url="b", explicit=None) == "box"
    with store.begin() as conn:
        identity.confirm_name(conn, "box", ENGINE_A, "a")
        writes.open_coverage(
            conn,
            host="box",
            engine_url="a",
            engine_id=identity.engine_key(ENGINE_A),
            source="collector",
            start_ns=1,
        )
    # The second one's session gives the name up before storing anything, and names again.
    with (
        pytest.raises(identity.NameTaken, match="'box' went to another engine"),
        store.begin() as conn,
    ):
        identity.confirm_name(conn, "box", ENGINE_B, "b")
    assert watch(store, ENGINE_B, "b") == "box@/tmp/dktb/data"
    restart_collector()
    assert watch(store, ENGINE_A, "a") == "box"
    assert watch(store, ENGINE_B, "b") == "box@/tmp/dktb/data"


def test_a_default_name_another_engine_is_writing_is_chosen_again(store: Engine) -> None:
    now = 100 * identity.CLAIM_FRESH_NS
    with store.begin() as conn:
        writes.open_coverage(
            conn, host="box", engine_url="a", engine_id=KEY_A, source="collector", start_ns=now
        )
    with pytest.raises(identity.NameTaken):
        identity.check_claim(store, "box", ENGINE_B, engine_url="b", clock_ns=lambda: now)
    assert identity.resolve_host(store, ENGINE_B, engine_url="b", explicit=None) != "box"
