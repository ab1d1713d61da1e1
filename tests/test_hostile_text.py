"""Container-chosen text (names, labels, log lines, exec commands) reaches no terminal, CSV or
Markdown file as anything but text: every control shows escaped, Markdown carries no HTML."""

from __future__ import annotations

import json
import threading
from pathlib import Path

import pytest

from docktally.cli import main
from docktally.collector.runner import Collector
from docktally.reports.safe_text import chart_label, json_text, markdown, visible
from docktally.store import db
from docktally.timespec import ns_to_iso
from tests.data import recorded
from tests.private_engine import PrivateEngine
from tests.test_postmortem import wait_until

# Clear screen (CSI), a window title (OSC 0), a hidden link (OSC 8), CR, backspace, a C1 CSI,
# DEL, a bidi override and isolate, a line separator, HTML, and TeX that matplotlib would parse.
HOSTILE = (
    "evil\x1b[2J\x1b]0;owned\x07\x1b]8;;http://evil.example/\x1b\\click\x1b]8;;\x1b\\"
    "\rover\x08\x9b31m\x7f\u202edcba\u2066\u2028<script>alert(1)</script>|x $\\frac{$"
)
FORBIDDEN = [chr(c) for c in [*range(0x20), *range(0x7F, 0xA0)]] + [
    "\u202e",
    "\u2066",
    "\u2028",
]


def assert_harmless(text: str, where: str, *, is_markdown: bool) -> None:
    raw = [hex(ord(c)) for c in FORBIDDEN if c != "\n" and c in text]
    assert not raw, f"{where}: raw control characters {raw}"
    if is_markdown:
        assert "<script" not in text and "</script" not in text, f"{where}: raw HTML"


@pytest.mark.parametrize(
    ("text", "shown"),
    [
        ("\x1b[2J", "\\x1b[2J"),
        ("a\rb", "a\\x0db"),
        ("a\bb", "a\\x08b"),
        ("\x9b31m", "\\x9b31m"),
        ("\x7f", "\\x7f"),
        ("\u202eabc", "\\u202eabc"),
        ("\u2067x\u2069", "\\u2067x\\u2069"),
        ("a\u2029b", "a\\u2029b"),
        ("tab\there", "tab\\x09here"),
        ("new\nline", "new\\x0aline"),
        ("plain-name_1 é 中", "plain-name_1 é 中"),
    ],
)
def test_visible_rows(text: str, shown: str) -> None:
    assert visible(text) == shown


@pytest.mark.parametrize(
    ("text", "shown"),
    [
        ("<script>x</script>", "&lt;script&gt;x&lt;/script&gt;"),
        ("<!-- c -->", "&lt;!-- c --&gt;"),
        ("&#60;b&#62;", "&amp;#60;b&amp;#62;"),
        ("a|b", "a\\|b"),
        ("[x](http://e) [r]", "[x\\](http://e) [r\\]"),
        ("*b* _i_ `c` ~~s~~ \\", "\\*b\\* \\_i\\_ \\`c\\` \\~\\~s\\~\\~ \\\\"),
        ("\x1b[2J", "\\x1b[2J"),
        ("web-1 on-failure:3 99.9% #1", "web-1 on-failure:3 99.9% #1"),
    ],
)
def test_markdown_rows(text: str, shown: str) -> None:
    assert markdown(text) == shown


def test_chart_label_is_never_mathtext() -> None:
    assert chart_label("a$\\frac{$\x1b") == "a\\$\\frac{\\$\\x1b"


def hostile_import(tmp_path: Path) -> tuple[Path, int, int]:
    """The recorded crash loop with a hostile name, compose labels and exec command."""
    lines = []
    for p in recorded.payloads("crash_loop"):
        if p.get("Type") == "container":
            attrs = p["Actor"]["Attributes"]
            attrs["name"] = HOSTILE
            attrs["com.docker.compose.project"] = HOSTILE
            attrs["com.docker.compose.service"] = HOSTILE
        lines.append(p)
    first = next(p for p in lines if p["Action"] == "start")
    execd = json.loads(json.dumps(first))
    # The engine's actions are short (the import caps them): only the worst of it.
    execd["Action"] = execd["status"] = "exec_start: sh -c evil\x1b[2J\r\x9b<script>"
    execd["timeNano"] += 1000
    lines.append(execd)
    f = tmp_path / "hostile.jsonl"
    f.write_text("".join(json.dumps(p) + "\n" for p in lines))
    times = [int(p["timeNano"]) for p in lines]
    return f, min(times), max(times)


def run_cli(args: list[str], capsys: pytest.CaptureFixture[str]) -> str:
    code = main(args)
    out, err = capsys.readouterr()
    assert code == 0, err
    return out


def every_output(url: str, window: list[str], capsys: pytest.CaptureFixture[str]) -> dict[str, str]:
    """Every text, CSV, Markdown and HTML output of the CLI over the window."""
    window = ["--db", url, *window]
    out = {}
    for fmt in ("table", "csv"):
        out[f"events {fmt}"] = run_cli(["events", *window, "--format", fmt], capsys)
    for by in ("container", "service"):
        for fmt in ("table", "csv", "markdown", "html"):
            out[f"report --by {by} {fmt}"] = run_cli(
                ["report", *window, "--by", by, "--format", fmt], capsys
            )
    for scope in ("container", "service"):
        for fmt in ("table", "csv"):
            out[f"incidents {scope} {fmt}"] = run_cli(
                ["incidents", *window, "--scope", scope, "--format", fmt], capsys
            )
    incs = json.loads(run_cli(["incidents", *window, "--format", "json"], capsys))
    inc_id = incs["incidents"][0]["id"]
    for fmt in ("markdown", "html"):
        out[f"postmortem {fmt}"] = run_cli(["postmortem", inc_id, *window, "--format", fmt], capsys)
    return out


def check_outputs(outputs: dict[str, str], shown_in: list[str]) -> None:
    """No output carries a raw control or Markdown HTML; those in `shown_in` show the hostile
    text, escaped."""
    for where, text in outputs.items():
        if where.endswith("html"):
            # HTML escapes by itself: the tag shows as text, never as a tag.
            assert "<script>alert" not in text, where
        else:
            assert_harmless(text, where, is_markdown=where.endswith("markdown"))
    for where in shown_in:
        text = outputs[where]
        if where.endswith("html"):
            assert "&lt;script&gt;" in text, where
            continue
        assert "evil\\x1b[2J" in text, f"{where}: the escape sequence is not shown"
        if where.endswith("markdown"):
            assert "&lt;script&gt;" in text, f"{where}: the HTML is not shown as text"


def test_imported_hostile_names_in_every_output(
    db_url: str, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    f, first_ns, last_ns = hostile_import(tmp_path)
    run_cli(["import", str(f), "--db", db_url, "--host", "h1", "--keep-exec-commands"], capsys)
    since, until = ns_to_iso(first_ns - 10**9), ns_to_iso(last_ns + 60 * 10**9)
    outputs = every_output(db_url, ["--since", since, "--until", until], capsys)
    check_outputs(outputs, shown_in=list(outputs))
    # The exec command is shown escaped too (table truncates it; CSV keeps it whole).
    assert "exec_start: sh -c evil\\x1b[2J" in outputs["events csv"]


def test_hostile_labels_logs_and_exec_from_a_real_engine(
    engine: PrivateEngine,
    tmp_path: Path,
    capsys: pytest.CaptureFixture[str],
) -> None:
    """The engine refuses such container names ([a-zA-Z0-9][a-zA-Z0-9_.-]*), so the hostile text
    rides in compose labels, the log and an exec command, all of which it accepts."""
    engine.remove_all_containers()
    url = f"sqlite:///{tmp_path / 'hostile.db'}"
    store = db.connect(url)
    col = Collector(
        store=store,
        engine_url=engine.url,
        host="h",
        keep_exec_commands=True,
        log=lambda _l: None,
    )
    stop = threading.Event()
    thread = threading.Thread(target=col.run, args=(stop,), daemon=True)
    thread.start()
    try:
        wait_until(lambda: col.sessions >= 1, 20, "the collector to subscribe")
        c = engine.run(
            "sh",
            "-c",
            'printf "%s\\n" "$H"; sleep 1; exit 3',
            name="hostile-web",
            environment={"H": HOSTILE},
            labels={
                "com.docker.compose.project": HOSTILE,
                "com.docker.compose.service": HOSTILE,
            },
            restart_policy={"Name": "on-failure", "MaximumRetryCount": 1},
        )
        c.exec_run(["sh", "-c", f"true '{HOSTILE}'"])

        def gave_up() -> bool:
            c.reload()
            return c.status == "exited" and c.attrs["RestartCount"] == 1

        wait_until(gave_up, 30, "the engine to give up after 1 restart")
        with store.connect() as conn:
            wait_until(
                lambda: conn.exec_driver_sql("select count(*) from log_tails").scalar() == 2,
                15,
                "2 log tails",
            )
    finally:
        stop.set()
        thread.join(15)
        store.dispose()
        engine.remove_all_containers()
    outputs = every_output(url, ["--since", "1h"], capsys)
    labelled = [k for k in outputs if "service" in k or k.startswith("events")]
    # The log line, escaped in Markdown's code block and HTML's <pre>.
    check_outputs(outputs, shown_in=[*labelled, "postmortem markdown", "postmortem html"])


@pytest.mark.parametrize("fmt", ["table", "csv", "json"])
def test_hostile_maintenance_target_and_reason_are_listed_escaped(
    tmp_path: Path, capsys: pytest.CaptureFixture[str], fmt: str
) -> None:
    db_path = str(tmp_path / "m.db")
    add = ["maintenance", "add", "--db", db_path, "--container", HOSTILE, "--start", "1h"]
    assert main([*add, "--duration", "30m", "--reason", HOSTILE]) == 0
    capsys.readouterr()
    assert main(["maintenance", "list", "--db", db_path, "--format", fmt]) == 0
    out = capsys.readouterr().out
    assert_harmless(out, f"maintenance list --format {fmt}", is_markdown=False)
    if fmt == "json":  # escaped for the terminal, the same text for a parser
        (window,) = json.loads(out)
        assert window["target"] == HOSTILE and window["reason"] == HOSTILE
    else:
        assert "\\x1b[2J" in out


def test_report_json_shows_hostile_names_as_text_and_keeps_them_whole(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    # JSON escapes C0 by itself; C1 (an 8-bit CSI), DEL and bidi controls it leaves raw.
    url = f"sqlite:///{tmp_path / 'h.db'}"
    f, first_ns, last_ns = hostile_import(tmp_path)
    run_cli(["import", str(f), "--db", url, "--host", "h1"], capsys)
    window = ["--since", ns_to_iso(first_ns - 10**9), "--until", ns_to_iso(last_ns + 10**9)]
    out = run_cli(["report", "--db", url, *window, "--format", "json"], capsys)
    assert_harmless(out, "report json", is_markdown=False)
    names = {g["key"]["container"] for g in json.loads(out)["groups"]}
    assert names == {HOSTILE[:255]}


def test_json_text_escapes_del_in_ascii_text_and_copies_nothing_else() -> None:
    plain = '{"name": "web-1"}'
    assert json_text(plain) is plain  # ASCII without DEL: returned as is
    assert json_text('{"name": "a\x7fb"}') == '{"name": "a\\u007fb"}'
    assert json_text('{"name": "a\x9bb\u202e"}') == '{"name": "a\\u009bb\\u202e"}'
