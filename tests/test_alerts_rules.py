"""The alert rules file: a full example parses; every bad value is one line naming its key."""

from __future__ import annotations

from pathlib import Path

import pytest

from docktally.alerts.rules import default_rules, load_config, parse_config, with_targets
from docktally.errors import UsageError

S = 1_000_000_000
DOCS = Path(__file__).parent.parent / "docs" / "alerts.md"

EXAMPLE = """
notify = ["ntfy://ntfy.sh/my-topic", "json://127.0.0.1:9000"]
dashboard = "http://127.0.0.1:8501/"
stable = "2m"
reminder = "off"
evaluate_every = "5s"
lookback = "12h"
scope = "service"

[delivery]
retry_min = "10s"
retry_max = "15m"
give_up_after = "2d"

[[rules]]
name = "web crash loop"
kind = "crash_loop"
failures = 5
within = "10m"
severity = "critical"
service = "shop/*"

[[rules]]
kind = "unhealthy"
longer_than = "90s"
host = "prod-*"
reminder = "1h"

[[rules]]
kind = "slo_burn"
slo = 99.5
window = "30m"
burn_rate = 6
"""


def test_example_parses() -> None:
    cfg = parse_config(EXAMPLE, "alerts.toml")
    assert cfg.targets == ("ntfy://ntfy.sh/my-topic", "json://127.0.0.1:9000")
    assert cfg.dashboard == "http://127.0.0.1:8501"
    assert (cfg.stable_ns, cfg.reminder_ns, cfg.scope) == (120 * S, 0, "service")
    assert cfg.delivery.give_up_after_ns == 2 * 86400 * S
    loop, unhealthy, burn = cfg.rules
    assert (loop.name, loop.failures, loop.within_ns, loop.service) == (
        "web crash loop",
        5,
        600 * S,
        "shop/*",
    )
    assert (unhealthy.name, unhealthy.longer_than_ns, unhealthy.reminder_ns) == (
        "unhealthy",
        90 * S,
        3600 * S,
    )
    assert (burn.slo_ratio, burn.window_ns, burn.burn_rate) == (0.995, 1800 * S, 6.0)


def test_bare_numbers_are_seconds_and_reminder_zero_is_off() -> None:
    cfg = parse_config("stable = 90\nreminder = 0\nlookback = '1h30m'")
    assert (cfg.stable_ns, cfg.reminder_ns, cfg.lookback_ns) == (90 * S, 0, 5400 * S)


def test_no_rules_means_the_defaults() -> None:
    cfg = parse_config('notify = "json://x"')
    assert cfg.rules == default_rules()
    crash = cfg.rules[0]
    assert (crash.kind, crash.failures, crash.within_ns) == ("crash_loop", 3, 300 * S)
    assert with_targets(cfg, ["json://x", "json://y"]).targets == ("json://x", "json://y")


@pytest.mark.parametrize(
    ("text", "message"),
    [
        ("notify = [1]", "a.toml: notify: expected a list of URL strings"),
        ("stable = '5 minutes'", "a.toml: stable: '5 minutes' is not a duration"),
        ("stable = true", "a.toml: stable: True is not a duration"),
        ("stable = 0", "a.toml: stable: '0' is not a positive duration"),
        ("colour = 'red'", "a.toml: colour: unknown key"),
        ("scope = 'image'", "a.toml: scope: 'image' is not one of container, service"),
        ("[delivery]\nretry_min = 'soon'", "a.toml: delivery: retry_min: 'soon' is not a duration"),
        ("[[rules]]\nkind = 'disk_full'", "a.toml: rules[0].kind: 'disk_full' is not one of"),
        ("[[rules]]\nkind = 'oom'\nseverity = 'page'", "a.toml: rules[0].severity: 'page'"),
        ("[[rules]]\nkind = 'oom'\nwithin = '5m'", "a.toml: rules[0].within: not a setting of"),
        ("[[rules]]\nkind = 'crash_loop'\nfailures = 0", "a.toml: rules[0].failures: 0 is not"),
        ("[[rules]]\nkind = 'crash_loop'\nwithin = '5 min'", "a.toml: rules[0].within: '5 min'"),
        ("[[rules]]\nkind = 'slo_burn'\nslo = 100", "a.toml: rules[0].slo: 100 is not"),
        ("[[rules]]\nkind = 'oom'\ncontainre = 'x'", "a.toml: rules[0]: containre: unknown key"),
        ("[[rules]]\nkind='oom'\n[[rules]]\nkind='oom'", "a.toml: rules: the name 'OOM kill'"),
        ("notify = [", "a.toml: not valid TOML"),
    ],
)
def test_bad_values_are_one_line_naming_the_key(text: str, message: str) -> None:
    with pytest.raises(UsageError) as err:
        parse_config(text, "a.toml")
    assert str(err.value).startswith(message)
    assert "\n" not in str(err.value)


def test_missing_file_is_one_line(tmp_path: Path) -> None:
    with pytest.raises(UsageError, match=r"^--alerts: cannot read .*nope.toml"):
        load_config(tmp_path / "nope.toml")


def test_the_documented_example_parses() -> None:
    text = DOCS.read_text()
    block = text.split("```toml\n", 1)[1].split("```", 1)[0]
    cfg = parse_config(block, "docs/alerts.md")
    assert cfg.targets and len(cfg.rules) == 6
