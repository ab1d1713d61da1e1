"""What the evaluations found, kept per container until something it was made of changes, so
that each evaluation analyses only the containers whose history changed, not every container's
lookback. Pure: alerts/evaluate.py reads the store and hands the rows in.

A container's analysis (its failures and intervals, inputs.analyse) changes only when
- events of it are written (at any time: a replay, a late import) or its facts are;
- its host's coverage rows or engine restarts change (a collector's session starts or ends:
  an open row's heartbeat moving does not count, see below);
- one of its events leaves the window, or the hour read before it (`wake_ns`): that matters
  only while one of its incidents can still be notified, and only then is it read again;
- it has events at or after its host's known time or the read's end (a clock ahead): read
  again at every evaluation until that passes.
Between those, time alone moves only the window's start and the end of a down or unhealthy
spell still going on (up to the clock and its host's heartbeat): `inputs` clips the spells to
each evaluation's time. Incidents are grouped again only for the groups (inputs.failure_groups)
whose failures changed; only the incidents that can still be notified become dataclasses.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from typing import Any

import numpy as np
import pandas as pd

from docktally.alerts.engine import DownSpell, Incident, Notice, fold_notices
from docktally.alerts.inputs import (
    Analysis,
    container_keys,
    ending,
    failure_groups,
    group_failures,
    incident_groups,
    incidents_of,
    last_event_ns,
    unit_of,
    with_spell_fields,
)
from docktally.alerts.rules import Config
from docktally.analytics.incidents import frame_records
from docktally.analytics.model import INTERVAL_COLUMNS, History, Window

Spans = Mapping[str, tuple[np.ndarray, np.ndarray]]
HostMarks = dict[str, tuple[object, ...]]
NEVER = np.iinfo(np.int64).max


@dataclass
class Mark:
    """What a container's cached analysis was made of."""

    ref: int
    host: str
    max_id: int  # its newest event id read (-1: read with every container, ids not looked at)
    facts: tuple[int, int]  # its facts: rows, newest observed_ns
    last_ns: int  # its latest event time (-1: none)
    wake_ns: int  # when one of its events leaves what a read at that time loads
    read_ns: int  # the evaluation time it was read at
    known_ns: int | None  # its host's known time's end at that read (None: no coverage)
    units: frozenset[str]  # the units (inputs.unit_of) it is read with, as stored and analysed


def host_marks(coverage_rows: pd.DataFrame, engine_restarts: pd.DataFrame) -> HostMarks:
    """Per host, what its containers' analyses depend on besides their own rows: the coverage
    rows as stored (an open row without its moving heartbeat) and the engine restarts."""
    out: dict[str, list[tuple[object, ...]]] = {}
    for h, s, e in zip(
        coverage_rows["host"], coverage_rows["start_ns"], coverage_rows["end_ns"], strict=True
    ):
        out.setdefault(str(h), []).append(("coverage", int(s), None if pd.isna(e) else int(e)))
    for h, s, e, w in zip(
        engine_restarts["host"],
        engine_restarts["start_ns"],
        engine_restarts["end_ns"],
        engine_restarts["watched"],
        strict=True,
    ):
        out.setdefault(str(h), []).append(("restart", int(s), int(e), bool(w)))
    return {h: tuple(sorted(v, key=repr)) for h, v in out.items()}


def known_end(spans: Spans, host: str) -> int | None:
    s = spans.get(host)
    return None if s is None or not len(s[1]) else int(s[1][-1])


@dataclass(frozen=True)
class Unresolved:
    """The alerts fired and not resolved: their keys, and the subjects of the SLO alerts among
    them (whose down spells the engine reads to resolve them, quiet or not)."""

    keys: frozenset[str]
    subjects: frozenset[str]

    @staticmethod
    def of(notices: Iterable[Notice], config: Config) -> Unresolved:
        states = fold_notices(notices)
        open_ = {k: st for k, st in states.items() if not st.resolved}
        # Not an incident alert's subject: its spells are read only while an SLO rule could
        # fire on it (they were, for every job that failed until its alert resolved).
        slo = {r.name for r in config.rules if r.kind == "slo_burn"}
        return Unresolved(
            frozenset(open_), frozenset(st.subject for st in open_.values() if st.rule in slo)
        )


@dataclass(frozen=True)
class Spell:
    """A down or unhealthy interval of a container, as the cache keeps it."""

    order: tuple[str, str, int]  # host, container_id, start_ns: the spells' order
    start_ns: int
    end_ns: int
    open: bool  # ran to the end of what was read: follows the clock and the heartbeat
    host: str
    subject: str  # "host|key"
    key: str
    name: str
    service: str | None


class Cache:
    """Per container, group and subject, what the reads found, so that an evaluation touches
    only what changed and what can still be notified."""

    def __init__(self, config: Config) -> None:
        self.config = config
        self.read = False
        self.failures: dict[str, list[dict[str, Any]]] = {}  # ckey -> its failure records
        self.ending: dict[str, list[dict[str, Any]]] = {}  # ckey -> its inputs.ending records
        self.spells: dict[str, list[Spell]] = {}  # ckey -> its down spells
        self.groups: dict[str, set[str]] = {}  # failure group -> its containers
        self.group_ids: dict[str, list[str]] = {}  # failure group -> its incidents' ids
        self.incidents: dict[str, dict[str, Any]] = {}  # id -> INCIDENT_COLUMNS record
        # Incidents open or ended less than `stable` ago when last looked at (ids).
        self.candidates: set[str] = set()
        self.subjects: dict[str, list[Spell]] = {}  # subject -> its spells, in order
        self.subject_end: dict[str, int] = {}  # subject -> its spells' last end (NEVER: open)
        self.quiet: set[str] = set()  # subjects no SLO rule can fire on any more (_quiet)
        self.marks: dict[str, Mark] = {}
        self.hosts: HostMarks = {}
        self.volatile: set[str] = set()
        self.made: dict[str, Incident] = {}
        self.by_unit: dict[str, set[str]] = {}  # unit -> its containers (ckeys)
        self.recheck: set[str] = set()  # containers to read again with a unit found late

    @property
    def empty(self) -> bool:
        return not self.read

    # --- what to read again --------------------------------------------------------------------

    def dirty(
        self,
        written: pd.DataFrame,
        facts: pd.DataFrame,
        hosts: HostMarks,
        spans: Spans,
        now_ns: int,
        alerts: Unresolved,
    ) -> dict[str, int]:
        """The containers to analyse again, ckey -> ref, with every container of their units.
        `written`: events_written_since's rows; `facts`: facts_marks_since's (of them at
        least)."""
        out: dict[str, int] = {ck: self.marks[ck].ref for ck in self.recheck}
        self.recheck = set()
        units: dict[str, str] = {}
        for ref, host, cid, name, project, service, max_id in zip(
            written["ref"],
            written["host"],
            written["container_id"],
            written["name"],
            written["compose_project"],
            written["compose_service"],
            written["max_id"],
            strict=True,
        ):
            ck = f"{host}\0{cid}"
            units[ck] = unit_of(host, cid, name, project, service)
            m = self.marks.get(ck)
            if m is None or int(max_id) > m.max_id:
                out[ck] = int(ref)
        for ref, host, cid, n, newest in zip(
            facts["ref"],
            facts["host"],
            facts["container_id"],
            facts["facts"],
            facts["observed_ns"],
            strict=True,
        ):
            ck = f"{host}\0{cid}"
            m = self.marks.get(ck)
            if m is None or (int(n), int(newest)) != m.facts:
                out[ck] = int(ref)
        changed = {h for h in set(hosts) | set(self.hosts) if hosts.get(h) != self.hosts.get(h)}
        if changed:
            out.update({ck: m.ref for ck, m in self.marks.items() if m.host in changed})
        for ck in self.volatile:
            m = self.marks[ck]
            if m.last_ns >= m.read_ns or known_end(spans, m.host) != m.known_ns:
                out[ck] = m.ref
        for ck in self._members(self._live(now_ns, alerts.keys)):
            m = self.marks.get(ck)
            if m is not None and m.wake_ns <= now_ns:
                out[ck] = m.ref
        return self._with_units(out, units)

    def _with_units(self, refs: dict[str, int], units: Mapping[str, str]) -> dict[str, int]:
        """`refs` and every container that shares a unit with one of them."""
        todo = list(refs)
        while todo:
            ck = todo.pop()
            m = self.marks.get(ck)
            mine = set(m.units) if m is not None else set()
            if ck in units:
                mine.add(units[ck])
            for unit in mine:
                for other in self.by_unit.get(unit, ()):
                    if other not in refs:
                        refs[other] = self.marks[other].ref
                        todo.append(other)
        return refs

    def _live(self, now_ns: int, alert_keys: frozenset[str]) -> list[dict[str, Any]]:
        """The incidents a decision can still come of: open, ended less than `stable` ago, or
        fired and not resolved (engine._incident_alerts passes over the rest)."""
        live = []
        for iid in list(self.candidates):
            r = self.incidents.get(iid)
            if r is not None and (r["open"] or now_ns - r["end_ns"] < self.config.stable_ns):
                live.append(r)
            else:
                self.candidates.discard(iid)  # ended `stable` ago: over from now on
        for iid in alert_keys - self.candidates:
            r = self.incidents.get(iid)
            if r is not None:
                live.append(r)
        return live

    @staticmethod
    def _members(rows: Iterable[Mapping[str, Any]]) -> set[str]:
        return {f"{r['host']}\0{c}" for r in rows for c in r["container_ids"]}

    # --- a read's results in ------------------------------------------------------------------

    def update(
        self,
        history: History,
        analysis: Analysis,
        window: Window,
        horizon_ns: int,
        refs: Mapping[str, int],
        units: Mapping[str, str],
        written: pd.DataFrame,
        spans: Spans,
        hosts: HostMarks,
    ) -> None:
        """Take the analysis of the containers `refs` (every container on the first read) in
        place of what the cache had of them, and group their groups' failures again. `units`:
        the unit of (some of) them as stored (inputs.unit_of of their containers row)."""
        a = analysis
        last = last_event_ns(history.events)
        fails = a.failures.assign(group=failure_groups(a.failures, self.config.scope))
        iv = with_spell_fields(a.intervals, a.containers, last)
        affected: set[str] = set()
        subjects: set[str] = set()
        for ck in refs:
            for f in self.failures.pop(ck, ()):
                affected.add(f["group"])
                self.groups[f["group"]].discard(ck)
            self.ending.pop(ck, None)
            subjects.update(sp.subject for sp in self.spells.pop(ck, ()))
        for f in frame_records(fails):
            self.failures.setdefault(f["ckey"], []).append(f)
            self.groups.setdefault(f["group"], set()).add(f["ckey"])
            affected.add(f["group"])
        for r in frame_records(ending(iv)):
            self.ending.setdefault(r["ckey"], []).append(r)
        subjects |= self._take_spells(iv)
        self._gather(subjects)
        self._group(affected, window, history.engine_restarts)
        self._mark(history, window, horizon_ns, refs, written, spans, last)
        self._unite(refs, units, a.containers)
        self.hosts = hosts
        self.read = True

    def _take_spells(self, iv: pd.DataFrame) -> set[str]:
        """Keep the down and unhealthy intervals of `iv`; returns their subjects."""
        bad = iv[iv["bad"].to_numpy(dtype=bool)]
        subjects = set()
        for r in frame_records(bad):
            sp = Spell(
                order=(str(r["host"]), str(r["container_id"]), int(r["start_ns"])),
                start_ns=int(r["start_ns"]),
                end_ns=int(r["end_ns"]),
                open=bool(r["open"]),
                host=str(r["host"]),
                subject=str(r["subject"]),
                key=str(r["spell_key"]),
                name=str(r["spell_name"]),
                service=r["spell_service"],
            )
            self.spells.setdefault(str(r["ckey"]), []).append(sp)
            subjects.add(sp.subject)
        return subjects

    def _gather(self, subjects: set[str]) -> None:
        """A subject's spells come from all its containers (a name created again, a service's
        replicas): gathered again, in order, for the subjects whose containers changed."""
        if not subjects:
            return
        members: dict[str, list[Spell]] = {s: [] for s in subjects}
        for spells in self.spells.values():
            for sp in spells:
                if sp.subject in members:
                    members[sp.subject].append(sp)
        self.quiet -= subjects
        for subject, spells in members.items():
            if spells:
                spells.sort(key=lambda sp: sp.order)
                self.subjects[subject] = spells
                self.subject_end[subject] = max(NEVER if sp.open else sp.end_ns for sp in spells)
            else:
                self.subjects.pop(subject, None)
                self.subject_end.pop(subject, None)

    def _group(
        self, affected: set[str], window: Window, engine_restarts: pd.DataFrame | None
    ) -> None:
        """Group the failures of the `affected` groups again, in place of their incidents."""
        for g in affected:
            for iid in self.group_ids.pop(g, ()):
                self.incidents.pop(iid, None)
                self.candidates.discard(iid)
                self.made.pop(iid, None)
        members = {ck for g in affected for ck in self.groups.get(g, ())}
        rows = [f for ck in members for f in self.failures.get(ck, ()) if f["group"] in affected]
        if not rows:
            return
        sel = pd.DataFrame.from_records(rows, columns=list(rows[0]))
        ends = [r for ck in members for r in self.ending.get(ck, ())]
        sel_iv = pd.DataFrame.from_records(ends, columns=[*INTERVAL_COLUMNS, "ckey"])
        fresh = group_failures(sel, sel_iv, window, self.config, engine_restarts)
        fresh["group"] = incident_groups(fresh)
        for r in frame_records(fresh):
            iid = str(r["id"])
            r["end_ns"] = None if pd.isna(r["end_ns"]) else int(r["end_ns"])
            self.incidents[iid] = r
            self.group_ids.setdefault(r["group"], []).append(iid)
            if r["open"] or r["end_ns"] is not None:
                self.candidates.add(iid)  # _live drops it once it is over

    def _unite(self, refs: Mapping[str, int], units: Mapping[str, str], info: pd.DataFrame) -> None:
        """Each container's units: as stored, and as analytics saw them (facts can name a
        service the stored row does not). A unit found with containers that were not read
        with it: all of them are read again at the next evaluation."""
        seen = dict(zip(info["ckey"], info["unit"], strict=True))
        for ck in refs:
            m = self.marks[ck]
            new = {u for u in (units.get(ck), seen.get(ck)) if u is not None}
            m.units = m.units | frozenset(new)
            for u in m.units:
                self.by_unit.setdefault(u, set()).add(ck)
        for ck in refs:
            if any(o not in refs for u in self.marks[ck].units for o in self.by_unit[u]):
                self.recheck.add(ck)

    def _mark(
        self,
        history: History,
        window: Window,
        horizon_ns: int,
        refs: Mapping[str, int],
        written: pd.DataFrame,
        spans: Spans,
        last: pd.Series,
    ) -> None:
        ev = history.events
        t = ev["time_ns"].to_numpy(dtype=np.int64)
        lookback = window.end_ns - window.start_ns
        # An event in the window leaves it `lookback` after it; one in the hour read before the
        # window leaves that hour one hour later (horizon_ns is `lookback + hour` before now).
        leaves = np.where(
            t >= window.start_ns,
            t + lookback + 1,
            np.where(t >= horizon_ns, t + (window.end_ns - horizon_ns) + 1, NEVER),
        )
        wake_of = pd.Series(leaves, index=container_keys(ev)).groupby(level=0).min().to_dict()
        fk = container_keys(history.facts)
        fobs = history.facts["observed_ns"].to_numpy(dtype=np.int64)
        facts = pd.Series(fobs, index=fk).groupby(level=0).agg(["count", "max"])
        n_facts, newest = facts["count"].to_dict(), facts["max"].to_dict()
        last_of = last.to_dict()
        seen = {
            f"{h}\0{c}": (int(i), int(t_))
            for h, c, i, t_ in zip(
                written["host"],
                written["container_id"],
                written["max_id"],
                written["last_ns"],
                strict=True,
            )
        }
        for ck, ref in refs.items():
            host = ck.split("\0", 1)[0]
            prev = self.marks.get(ck)
            # Not written since the last read: what it was read with (an event ahead of the
            # clock keeps it volatile until that time, whatever read it again meanwhile).
            max_id, scan_last = seen.get(
                ck, (prev.max_id, prev.last_ns) if prev is not None else (-1, -1)
            )
            m = Mark(
                ref=ref,
                host=host,
                max_id=max_id,
                facts=(int(n_facts.get(ck, 0)), int(newest.get(ck, 0))),
                last_ns=max(int(last_of.get(ck, -1)), scan_last),
                wake_ns=int(wake_of.get(ck, NEVER)),
                read_ns=window.end_ns,
                known_ns=known_end(spans, host),
                units=prev.units if prev is not None else frozenset(),
            )
            self.marks[ck] = m
            ahead = m.last_ns >= m.read_ns or (m.known_ns is not None and m.last_ns >= m.known_ns)
            if ahead:
                self.volatile.add(ck)
            else:
                self.volatile.discard(ck)

    # --- the engine's inputs at a time --------------------------------------------------------

    def inputs(
        self, now_ns: int, alerts: Unresolved, spans: Spans
    ) -> tuple[list[Incident], list[DownSpell]]:
        """The incidents a decision can come of, and the down spells of the subjects an SLO
        rule can decide on, as a read of the whole lookback at `now_ns` would give them."""
        live = self._live(now_ns, alerts.keys)
        todo = [r for r in live if r["id"] not in self.made]
        if todo:
            need = [f for ck in self._members(todo) for f in self.failures.get(ck, ())]
            self.made.update((i.id, i) for i in incidents_of(todo, need))
        live.sort(key=lambda r: (r["start_ns"], r["id"]))
        incidents = [self.made[str(r["id"])] for r in live]
        return incidents, self._spells(now_ns, alerts.subjects, spans)

    def _spells(self, now_ns: int, subjects: frozenset[str], spans: Spans) -> list[DownSpell]:
        """The down spells of every subject with down time in the longest SLO window, or an
        SLO alert open; of each, the ones that weigh in the engine's decision: those in that
        window, its first (whose service the engine takes) and the first of each name."""
        slo = [r.window_ns for r in self.config.rules if r.kind == "slo_burn"]
        if not slo:
            return []
        recent_ns = now_ns - max(slo)
        start_ns = now_ns - self.config.lookback_ns
        wanted = {
            s for s, end in self.subject_end.items() if end > recent_ns and s not in self.quiet
        }
        wanted |= subjects & self.subjects.keys()
        out = []
        for subject in wanted:
            if subject not in subjects and self._quiet(subject, now_ns):
                continue
            seen: set[str] = set()
            for sp in self.subjects[subject]:
                lo, hi = max(sp.start_ns, start_ns), min(sp.end_ns, now_ns)
                if sp.open:
                    hi = min(now_ns, _known_until(spans, sp.host, sp.end_ns))
                if hi <= lo:
                    continue
                if not seen or sp.name not in seen or hi > recent_ns:
                    out.append(DownSpell(sp.host, sp.key, (sp.name,), sp.service, lo, hi))
                seen.add(sp.name)
        return out

    def _quiet(self, subject: str, now_ns: int) -> bool:
        """Whether no SLO rule can fire on the subject from now on: its spells are all over
        (so its down time in any window that moves on only shrinks; mutes only take from
        it) and already below every rule's threshold. Kept until its spells change."""
        spells = self.subjects[subject]
        if self.subject_end[subject] == NEVER:
            return False
        for rule in self.config.rules:
            if rule.kind != "slo_burn":
                continue
            lo = now_ns - rule.window_ns
            # The sum, not the union, of the spells in the window: never less than the down
            # time the engine counts.
            down = sum(max(0, min(sp.end_ns, now_ns) - max(sp.start_ns, lo)) for sp in spells)
            if down / ((1.0 - rule.slo_ratio) * rule.window_ns) >= rule.burn_rate:
                return False
        self.quiet.add(subject)
        return True


def _known_until(spans: Spans, host: str, end_ns: int) -> int:
    """For a spell that ran to the end of what was read: the end of the host's known span it
    ran to, as it is now (a live collector's heartbeat moves it); no span: the clock."""
    s = spans.get(host)
    if s is None:
        return NEVER
    starts, stops = s
    j = int(np.searchsorted(starts, end_ns - 1, side="right")) - 1
    return int(stops[j]) if j >= 0 and end_ns - 1 < stops[j] else NEVER
