"""Golden outputs: `report`, `incidents`, `postmortem` and `policies` as the release before issue
#11's refactor printed them, on a small bench database and on the recorded engine events.

Each case runs the CLI's `main()` on a database filled by `docktally import` (the path users
take) and compares its output with tests/golden/<dataset>/<case>: JSON and CSV parsed, floats
equal to 1e-9 relative, everything else exact; other text formats byte for byte; HTML after
`normalise_html`.
A change that alters numbers on purpose regenerates the files with `scripts/golden` (which runs
this module as a script), so the diff shows what changed.
"""

from __future__ import annotations

import csv
import difflib
import io
import json
import math
import re
import sys
import tempfile
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest

from docktally.cli import main
from tests.data import recorded

GOLDEN = Path(__file__).parent / "golden"
POSTMORTEM_IDS = GOLDEN / "postmortem_ids.json"
DATASETS = ("bench", "recorded")

# A bench database small enough for CI: every kind of episode of bench/generate.py, 250 containers.
BENCH = {"events": 20_000, "containers": 250, "days": 7.0, "seed": 11}
WINDOWS = {
    "bench": ("2026-01-01T00:00:00Z", "2026-01-08T00:00:00Z"),
    # The recordings span 00:02:53..00:03:27 of that day (tests/data/events/).
    "recorded": ("2026-11-28T00:02:50Z", "2026-11-28T00:03:30Z"),
}
# Incidents are many on the bench data (one per crash loop): one day of them keeps the files
# small and still has incidents cut by the window's edges.
INCIDENT_WINDOWS = {
    "bench": ("2026-01-03T00:00:00Z", "2026-01-04T00:00:00Z"),
    "recorded": WINDOWS["recorded"],
}
REPORT_FORMATS = ("table", "json", "csv", "markdown", "html")
BYS = ("container", "service", "host,service", "image", "host", "policy")
EXT = {"table": "txt", "json": "json", "csv": "csv", "markdown": "md", "html": "html"}
FLOAT_REL = 1e-9
# Sums of differences that are zero in one evaluation order can be ~1e-16 in another.
FLOAT_ABS = 1e-12


@dataclass(frozen=True)
class Case:
    dataset: str
    name: str  # the golden file's name under tests/golden/<dataset>/
    argv: tuple[str, ...]  # without --db and --out

    @property
    def fmt(self) -> str:
        return self.argv[self.argv.index("--format") + 1]

    @property
    def path(self) -> Path:
        return GOLDEN / self.dataset / self.name


def _window(which: tuple[str, str]) -> tuple[str, ...]:
    return ("--since", which[0], "--until", which[1])


def cases(dataset: str, postmortem_ids: list[str]) -> list[Case]:
    w = _window(WINDOWS[dataset])
    iw = _window(INCIDENT_WINDOWS[dataset])
    out: list[Case] = []

    def add(name: str, fmt: str, *argv: str) -> None:
        out.append(Case(dataset, f"{name}.{EXT[fmt]}", (*argv, "--format", fmt)))

    for by in BYS:
        for fmt in REPORT_FORMATS:
            add(f"report--by-{by.replace(',', '-')}", fmt, "report", *w, "--by", by)
    for fmt in ("json", "table", "markdown"):
        add("report--slo-99.9", fmt, "report", *w, "--slo", "99.9")
    # By image: a day's row per container would make the largest file by far.
    for fmt in ("json", "csv", "markdown"):
        add("report--by-image--every-day", fmt, "report", *w, "--by", "image", "--every", "day")
    for fmt in ("json", "html"):
        add(
            "report--by-service--slo-99.9--every-day",
            fmt,
            *("report", *w, "--by", "service", "--slo", "99.9", "--every", "day"),
        )
    for scope in ("container", "service"):
        for fmt in ("table", "json", "csv"):
            add(f"incidents--scope-{scope}", fmt, "incidents", *iw, "--scope", scope)
    for inc in postmortem_ids:
        for fmt in ("markdown", "html"):
            add(f"postmortem-{inc}", fmt, "postmortem", inc, *iw)
    for fmt in ("table", "json", "markdown"):
        add("policies", fmt, "policies", *w)
    return out


def all_cases() -> list[Case]:
    ids = json.loads(POSTMORTEM_IDS.read_text()) if POSTMORTEM_IDS.exists() else {}
    return [c for d in DATASETS for c in cases(d, ids.get(d, []))]


def build_db(dataset: str, folder: Path) -> str:
    """The dataset's SQLite database, filled through `docktally import`."""
    db = str(folder / f"{dataset}.db")
    if dataset == "bench":
        from bench.generate import write_file

        src = folder / "bench.jsonl"
        write_file(src, **BENCH)
        _cli("import", str(src), "--db", db, "--host", "bench")
    else:
        # One import a recording, as tests/test_report_cli.py loads them.
        for name in recorded.SCENARIOS:
            _cli("import", "--db", db, "--host", "lab", str(recorded.path(name)))
    return db


def _cli(*argv: str) -> None:
    code = main(list(argv))
    if code != 0:
        raise AssertionError(f"docktally {' '.join(argv)} exited {code}")


def run_case(case: Case, db: str, folder: Path) -> str:
    out = folder / f"{case.dataset}-{case.name}"
    _cli(*case.argv, "--db", db, "--out", str(out))
    text = out.read_text(encoding="utf-8")
    return normalise_html(text) if case.fmt == "html" else text


_IMAGE = re.compile(r"(data:image/[a-z+]+;base64,)[A-Za-z0-9+/=]+")


def normalise_html(text: str) -> str:
    """The HTML with each embedded chart's bytes left out. matplotlib's PNG bytes depend on its
    version and fonts, and its SVG (postmortem timeline) carries random ids on every run; the
    numbers a chart draws are in the same page's tables and in the JSON goldens."""
    return _IMAGE.sub(r"\1(chart)", text)


def json_differences(want: Any, got: Any, where: str = "$") -> Iterator[str]:
    """Where `got` differs from `want`: floats to FLOAT_REL relative, everything else exact."""
    numbers = (int, float)
    if isinstance(want, bool) or isinstance(got, bool):
        if want is not got:
            yield f"{where}: {want!r} != {got!r}"
    elif isinstance(want, numbers) and isinstance(got, numbers):
        if isinstance(want, int) and isinstance(got, int):
            if want != got:
                yield f"{where}: {want!r} != {got!r}"
        elif not math.isclose(want, got, rel_tol=FLOAT_REL, abs_tol=FLOAT_ABS):
            yield f"{where}: {want!r} != {got!r}"
    elif isinstance(want, dict) and isinstance(got, dict):
        if list(want) != list(got):
            yield f"{where}: keys {list(want)} != {list(got)}"
        for k in want.keys() & got.keys():
            yield from json_differences(want[k], got[k], f"{where}.{k}")
    elif isinstance(want, list) and isinstance(got, list):
        if len(want) != len(got):
            yield f"{where}: {len(want)} items != {len(got)}"
        for i, (w, g) in enumerate(zip(want, got, strict=False)):
            yield from json_differences(w, g, f"{where}[{i}]")
    elif type(want) is not type(got) or want != got:
        yield f"{where}: {want!r} != {got!r}"


def csv_differences(want: str, got: str) -> Iterator[str]:
    """Cell by cell: numbers with a fraction to FLOAT_REL relative (full precision is printed,
    so another evaluation order of the same sum shows in the last digits), the rest exact."""
    w_rows, g_rows = list(csv.reader(io.StringIO(want))), list(csv.reader(io.StringIO(got)))
    if len(w_rows) != len(g_rows):
        yield f"{len(w_rows)} rows != {len(g_rows)}"
    for r, (w_row, g_row) in enumerate(zip(w_rows, g_rows, strict=False)):
        if len(w_row) != len(g_row) or any(
            w != g and not _close_numbers(w, g) for w, g in zip(w_row, g_row, strict=True)
        ):
            yield f"row {r + 1}:\n-{','.join(w_row)}\n+{','.join(g_row)}"


def _close_numbers(want: str, got: str) -> bool:
    if "." not in want + got:
        return False
    try:
        w, g = float(want), float(got)
    except ValueError:
        return False
    return math.isclose(w, g, rel_tol=FLOAT_REL, abs_tol=FLOAT_ABS)


def differences(case: Case, want: str, got: str) -> list[str]:
    if case.fmt == "json":
        return list(json_differences(json.loads(want), json.loads(got)))
    if case.fmt == "csv":
        return list(csv_differences(want, got))
    if want == got:
        return []
    diff = difflib.unified_diff(
        want.splitlines(), got.splitlines(), "golden", "now", n=0, lineterm=""
    )
    return list(diff)


@pytest.fixture(scope="module")
def databases(tmp_path_factory: pytest.TempPathFactory) -> dict[str, str]:
    folder = tmp_path_factory.mktemp("golden")
    return {d: build_db(d, folder) for d in DATASETS}


CASES = all_cases()


def test_bench_generator_is_deterministic() -> None:
    from bench.generate import generate_lines

    small = {**BENCH, "events": 2_000, "containers": 25}
    assert list(generate_lines(**small)) == list(generate_lines(**small))


def test_every_command_has_golden_files() -> None:
    names = {(c.dataset, c.name) for c in CASES}
    assert len(names) == len(CASES)
    assert all(c.path.exists() for c in CASES), "missing golden files: run scripts/golden"
    ids = json.loads(POSTMORTEM_IDS.read_text())
    assert all(ids[d] for d in DATASETS)  # a postmortem of each dataset is compared


@pytest.mark.parametrize("case", CASES, ids=[f"{c.dataset}/{c.name}" for c in CASES])
def test_output_equals_golden(case: Case, databases: dict[str, str], tmp_path: Path) -> None:
    got = run_case(case, databases[case.dataset], tmp_path)
    diffs = differences(case, case.path.read_text(encoding="utf-8"), got)
    shown = "\n".join(diffs[:40]) + (f"\n... {len(diffs) - 40} more" if len(diffs) > 40 else "")
    assert not diffs, f"docktally {' '.join(case.argv)} differs from {case.path}:\n{shown}"


def _pick_postmortems(incidents: list[dict[str, Any]], most: int) -> list[str]:
    """The first crash loop, then the first incident of each further set of causes."""
    picked: list[str] = []
    seen: set[tuple[str, ...]] = set()
    loops = [i for i in incidents if i["crash_loop"]]
    for inc in loops[:1] + incidents:
        causes = tuple(sorted(inc["causes"]))
        if causes not in seen:
            picked.append(inc["id"])
            seen.add(causes)
    return picked[:most]


def regenerate() -> None:
    """Write every golden file from the current code (scripts/golden)."""
    with tempfile.TemporaryDirectory() as tmp:
        folder = Path(tmp)
        ids: dict[str, list[str]] = {}
        for dataset in DATASETS:
            db = build_db(dataset, folder)
            out = folder / "incidents.json"
            iw = _window(INCIDENT_WINDOWS[dataset])
            _cli("incidents", *iw, "--format", "json", "--db", db, "--out", str(out))
            ids[dataset] = _pick_postmortems(json.loads(out.read_text())["incidents"], most=4)
            todo = cases(dataset, ids[dataset])
            target = GOLDEN / dataset
            target.mkdir(parents=True, exist_ok=True)
            for stale in set(target.iterdir()) - {c.path for c in todo}:
                stale.unlink()
            for case in todo:
                text = run_case(case, db, folder)
                # A file equal within the test's tolerance is kept: some sums' last digits
                # depend on the order of addition, and the diff should show only real changes.
                if case.path.exists() and not differences(case, case.path.read_text(), text):
                    continue
                case.path.write_text(text, encoding="utf-8")
        POSTMORTEM_IDS.write_text(json.dumps(ids, indent=2) + "\n")
    print(f"wrote the golden files under {GOLDEN}", file=sys.stderr)


if __name__ == "__main__":
    regenerate()
