"""`docktally lab`: run a restart-policy experiment on an engine and compare the policies."""

from __future__ import annotations

import argparse
import json
import sys
import threading
from typing import Any

from sqlalchemy import Engine

from docktally.analytics.failures import find_failures
from docktally.analytics.intervals import build_intervals
from docktally.analytics.policies import compare_policies, mttr_agreement
from docktally.cli.common import add_db, add_duration, now_ns, open_db, write_output
from docktally.cli.policies import add_replay_options, replay_args
from docktally.collector.engine_url import default_engine_url
from docktally.collector.lab import LABEL_RUN, Lab, LabConfig, LabRun, LabStatus, connect_engine
from docktally.errors import UsageError
from docktally.reports.policies import render_policies
from docktally.store import db, reads
from docktally.timespec import DURATION_FORMS, NS_PER_S, ns_to_iso


def lab_result(store: Engine, run: LabRun, **replay: Any) -> dict[str, Any]:
    """The policy comparison of the lab's own containers over the run's window."""
    # The lab's collector is done: its engine is disposed and the reads go through Arrow.
    with db.open_reader(store) as reader:
        history = reads.load_history(reader, run.window.start_ns, run.window.end_ns)
    facts = history.facts
    ids = set(run.containers.values())
    mine = {
        (str(h), str(c))
        for h, c, labels in zip(facts["host"], facts["container_id"], facts["labels"], strict=True)
        if c in ids and json.loads(labels or "{}").get(LABEL_RUN) == run.label
    }
    result = compare_policies(
        find_failures(history, run.window),
        build_intervals(history, run.window),
        facts,
        run.window,
        containers=mine,
        **replay,
    )
    result["lab"] = {
        "run_label": run.label,
        "restarts_by_hand": run.restarts_by_hand,
        "mttr_agreement": mttr_agreement(result),
    }
    return result


def _progress(status: LabStatus) -> None:
    end = "\r" if sys.stderr.isatty() else "\n"
    print(status.line(), file=sys.stderr, end=end, flush=True)


def run(args: argparse.Namespace) -> int:
    duration_s = args.duration_ns / NS_PER_S
    crash_s = args.crash_every_ns / NS_PER_S
    manual_s = args.manual_mttr_ns / NS_PER_S
    if not 0 <= args.exit_code <= 255:
        raise UsageError("--exit-code must be 0..255")
    replay = replay_args(args)
    label = args.run_label or f"lab-{ns_to_iso(now_ns())[:19].replace(':', '')}"
    config = LabConfig(
        duration_s=duration_s,
        crash_every_s=crash_s,
        exit_code=args.exit_code,
        oom=args.oom,
        retries=args.retries,
        seed=args.seed,
        image=args.image,
        network=args.network,
        manual_mttr_s=manual_s,
        run_label=label,
    )
    url = args.engine or default_engine_url()
    client = connect_engine(url)
    store = open_db(args)
    try:
        lab = Lab(client=client, store=store, engine_url=url, config=config, host=args.host)
        lab.prepare()
        print(f"docktally lab: run {label}, {duration_s:g}s on {url}", file=sys.stderr)
        result_run = lab.run(progress=_progress, stop=threading.Event())
        if sys.stderr.isatty():
            print(file=sys.stderr)
        # The lab's "person" restarts after --manual-mttr; the replay measures it from history.
        replay["manual_mttr_s"] = None
        result = lab_result(store, result_run, **replay)
    finally:
        store.dispose()
        client.close()
    text = render_policies(result, args.format, title=f"Restart-policy lab {label}")
    if args.format != "json":
        rows = result["lab"]["mttr_agreement"]
        text += (
            "\nMeasured MTTR against the replay of the same failures:\n"
            + "\n".join(
                f"  {r['policy']}: measured {_s(r['measured_mttr_s'])}, replayed "
                f"{_s(r['replayed_mttr_s'])}"
                + (
                    f" ({100 * r['relative_difference']:.1f}% apart)"
                    if r["relative_difference"] is not None
                    else ""
                )
                for r in rows
            )
            + "\n"
        )
    write_output(text, args.out)
    return 0


def _s(v: float | None) -> str:
    return "-" if v is None else f"{v:.2f}s"


def register(sub: Any) -> None:
    p: argparse.ArgumentParser = sub.add_parser(
        "lab",
        help="run a restart-policy experiment on the local engine",
        description=(
            "Run one container per restart policy (no, on-failure:N, always, unless-stopped) "
            "with the same failure workload, collect their events under a run label, act as "
            "the person who restarts what the engine leaves down (after --manual-mttr), then "
            "remove the containers and print the policy comparison of the run. Creates "
            "containers labelled docktally.lab.run / docktally.lab.policy on the engine."
        ),
    )
    add_db(p)
    p.add_argument("--engine", metavar="URL", help="engine URL (default: as the docker CLI)")
    p.add_argument("--host", help="host label to store the events under (default: derived)")
    add_duration(p, "--duration", default="60s", help="how long to run")
    add_duration(p, "--crash-every", default="5s", help="mean run length before a failure")
    p.add_argument("--exit-code", type=int, default=1, help="exit code of a failure (default: 1)")
    p.add_argument("--oom", action="store_true", help="fail by exceeding a memory limit instead")
    p.add_argument("--seed", type=int, default=1, help="seed of the random run lengths")
    p.add_argument("--image", default="busybox:latest", help="image with busybox sh, sleep, dd")
    p.add_argument("--network", default="none", help="network mode (default: none)")
    p.add_argument("--run-label", help="label of this run (default: lab-<time>)")
    add_replay_options(p)
    # The lab plays the person: --manual-mttr is how long it waits, not a replay setting.
    for action in p._actions:
        if action.dest == "manual_mttr_ns":
            action.default = "30s"
            action.help = (
                "how long the lab (the person) waits before restarting by hand (default: 30s); "
                + DURATION_FORMS
            )
    p.add_argument("--format", choices=("table", "json", "markdown"), default="table")
    p.add_argument("--out", metavar="FILE", help="write to FILE instead of standard output")
    p.set_defaults(func=run)
