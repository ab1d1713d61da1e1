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

from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass

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
from docktally.analytics.model import History, Window

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
    """The alerts fired and not resolved: their keys and subjects."""

    keys: frozenset[str]
    subjects: frozenset[str]

    @staticmethod
    def of(notices: Iterable[Notice]) -> Unresolved:
        states = fold_notices(notices)
        open_ = {k: st for k, st in states.items() if not st.resolved}
        return Unresolved(frozenset(open_), frozenset(st.subject for st in open_.values()))


class Cache:
    def __init__(self, config: Config) -> None:
        self.config = config
        self.failures: pd.DataFrame | None = None  # Analysis.failures + group
        self.intervals = pd.DataFrame()  # Analysis.intervals + open, subject, key, name, service
        self.info = pd.DataFrame()  # Analysis.containers
        self.incidents = pd.DataFrame()  # INCIDENT_COLUMNS + group
        self.marks: dict[str, Mark] = {}
        self.hosts: HostMarks = {}
        self.volatile: set[str] = set()
        self.made: dict[str, Incident] = {}
        # The incidents' columns `_live` reads, as arrays (rebuilt with the incidents).
        self._open: np.ndarray = np.zeros(0, dtype=bool)
        self._end: np.ndarray = np.zeros(0, dtype=np.int64)  # NEVER: not ended
        self._ids: np.ndarray = np.zeros(0, dtype=object)
        self._start: np.ndarray = np.zeros(0, dtype=np.int64)
        # The down and unhealthy intervals' columns `_spells` reads (rebuilt with them).
        self._bad: dict[str, np.ndarray] = {}
        self._subject_codes: dict[str, int] = {}
        self.by_unit: dict[str, set[str]] = {}  # unit -> its containers (ckeys)
        self.recheck: set[str] = set()  # containers to read again with a unit found late

    @property
    def empty(self) -> bool:
        return self.failures is None

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
        `written`: events_written_since's rows; `facts`: facts_marks of their refs."""
        out: dict[str, int] = {ck: self.marks[ck].ref for ck in self.recheck}
        self.recheck = set()
        by_ref: dict[int, str] = {}
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
            by_ref[int(ref)] = ck
            units[ck] = unit_of(host, cid, name, project, service)
            m = self.marks.get(ck)
            if m is None or int(max_id) > m.max_id:
                out[ck] = int(ref)
        for ref, n, newest in zip(facts["ref"], facts["facts"], facts["observed_ns"], strict=True):
            ck = by_ref[int(ref)]
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

    def _live(self, now_ns: int, alert_keys: frozenset[str]) -> np.ndarray:
        """Rows of the incidents a decision can still come of: open, ended less than `stable`
        ago, or fired and not resolved (engine._incident_alerts passes over the rest)."""
        ended = self._end != NEVER
        live = self._open | (ended & (now_ns - self._end < self.config.stable_ns))
        if alert_keys:
            live |= pd.Series(self._ids).isin(alert_keys).to_numpy()
        return np.flatnonzero(live)

    def _members(self, rows: Sequence[int] | np.ndarray) -> set[str]:
        if not len(rows):
            return set()
        inc = self.incidents.iloc[np.asarray(rows, dtype=np.int64)]
        return {
            f"{h}\0{c}"
            for h, ids in zip(inc["host"], inc["container_ids"], strict=True)
            for c in ids
        }

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
        config = self.config
        a = analysis
        fails = a.failures.assign(group=failure_groups(a.failures, config.scope))
        last = last_event_ns(history.events)
        iv = with_spell_fields(a.intervals, a.containers, last)
        if self.failures is None:
            affected = set(fails["group"])
            self.failures, self.intervals, self.info = fails, iv, a.containers
        else:
            mine = set(refs)
            was = self.failures["ckey"].isin(mine).to_numpy()
            affected = set(self.failures.loc[was, "group"]) | set(fails["group"])
            self.failures = pd.concat([self.failures[~was], fails], ignore_index=True)
            keep = ~self.intervals["ckey"].isin(mine).to_numpy()
            self.intervals = pd.concat([self.intervals[keep], iv], ignore_index=True)
            keep = ~self.info["ckey"].isin(mine).to_numpy()
            self.info = pd.concat([self.info[keep], a.containers], ignore_index=True)
        self._keep_bad()
        self._group(affected, window, history.engine_restarts)
        self._mark(history, window, horizon_ns, refs, written, spans, last)
        self._unite(refs, units, a.containers)
        self.hosts = hosts

    def _group(
        self, affected: set[str], window: Window, engine_restarts: pd.DataFrame | None
    ) -> None:
        assert self.failures is not None
        sel = self.failures[self.failures["group"].isin(affected).to_numpy()]
        sel_iv = self.intervals[self.intervals["ckey"].isin(set(sel["ckey"])).to_numpy()]
        fresh = group_failures(sel, ending(sel_iv), window, self.config, engine_restarts)
        fresh["group"] = incident_groups(fresh)
        if self.incidents.empty:
            self.incidents = fresh
        else:
            gone = self.incidents["group"].isin(affected).to_numpy()
            for iid in self.incidents.loc[gone, "id"]:
                self.made.pop(str(iid), None)
            self.incidents = pd.concat([self.incidents[~gone], fresh], ignore_index=True)
        inc = self.incidents
        self._ids = inc["id"].to_numpy(dtype=object)
        self._start = inc["start_ns"].to_numpy(dtype=np.int64)
        self._open = inc["open"].to_numpy(dtype=bool)
        self._end = np.asarray(
            inc["end_ns"].astype("Int64").fillna(NEVER).to_numpy(dtype=np.int64), dtype=np.int64
        )

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
            max_id, scan_last = seen.get(ck, (prev.max_id if prev else -1, -1))
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
        if self.failures is None:
            return [], []
        rows = self._live(now_ns, alerts.keys)
        todo = [i for i in rows if self._ids[i] not in self.made]
        if todo:
            need = self.failures[self.failures["ckey"].isin(self._members(todo)).to_numpy()]
            made = incidents_of(self.incidents.iloc[np.asarray(todo, dtype=np.int64)], need)
            self.made.update((i.id, i) for i in made)
        order = sorted(rows, key=lambda i: (self._start[i], self._ids[i]))
        incidents = [self.made[self._ids[i]] for i in order]
        return incidents, self._spells(now_ns, alerts.subjects, spans)

    def _spells(self, now_ns: int, subjects: frozenset[str], spans: Spans) -> list[DownSpell]:
        """The down spells of every subject with down time in the longest SLO window, or an
        SLO alert open; of each, the ones that weigh in the engine's decision: those in that
        window, its first (whose service the engine takes) and the first of each name."""
        slo = [r.window_ns for r in self.config.rules if r.kind == "slo_burn"]
        b = self._bad
        if not slo or not len(b.get("start_ns", ())):
            return []
        start = np.maximum(b["start_ns"], now_ns - self.config.lookback_ns)
        end = np.minimum(b["end_ns"], now_ns)
        still = b["open"]
        if still.any():
            end[still] = np.minimum(now_ns, _known_until(spans, b["host"][still], end[still]))
        ok = end > start
        code = b["subject_code"]
        recent = ok & (end > now_ns - max(slo))
        wanted = set(code[recent].tolist())
        wanted |= {self._subject_codes[s] for s in subjects if s in self._subject_codes}
        rows = b["order"][(ok & np.isin(code, list(wanted)))[b["order"]]]  # in spell order
        first = np.zeros(len(rows), dtype=bool)
        first[np.unique(code[rows], return_index=True)[1]] = True
        first[np.unique(b["name_code"][rows], return_index=True)[1]] = True
        rows = rows[first | recent[rows]]
        host, key, name, service = b["host"], b["spell_key"], b["spell_name"], b["spell_service"]
        return [
            DownSpell(host[i], key[i], (name[i],), service[i], int(start[i]), int(end[i]))
            for i in rows.tolist()
        ]

    def _keep_bad(self) -> None:
        """The down and unhealthy intervals as arrays, for _spells."""
        iv = self.intervals
        bad = iv[iv["bad"].to_numpy(dtype=bool)] if len(iv) else iv
        if not len(bad):
            self._bad, self._subject_codes = {}, {}
            return
        cols = {
            "start_ns": np.int64,
            "end_ns": np.int64,
            "open": bool,
            "host": object,
            "container_id": object,
            "spell_key": object,
            "spell_name": object,
            "spell_service": object,
        }
        b = {c: bad[c].to_numpy(dtype=t) for c, t in cols.items()}
        codes, uniq = pd.factorize(bad["subject"].to_numpy(dtype=object))
        b["subject_code"] = codes
        # A subject's spells of one name: one code per (subject, name).
        names = pd.factorize(b["spell_name"])[0].astype(np.int64)
        b["name_code"] = codes.astype(np.int64) * (int(names.max()) + 1) + names
        # Spell order: host, container, start (codes of sorted values: no Python comparisons).
        host = pd.factorize(b["host"], sort=True)[0]
        cid = pd.factorize(b["container_id"], sort=True)[0]
        b["order"] = np.lexsort((b["start_ns"], cid, host))
        self._bad = b
        self._subject_codes = {str(u): i for i, u in enumerate(uniq)}


def _known_until(spans: Spans, hosts: np.ndarray, ends: np.ndarray) -> np.ndarray:
    """For spells that ran to the end of what was read: the end of the host's known span they
    ran to, as it is now (a live collector's heartbeat moves it); no span: the clock."""
    out = np.full(len(ends), NEVER, dtype=np.int64)
    for i, (host, e) in enumerate(zip(hosts, ends, strict=True)):
        s = spans.get(str(host))
        if s is None:
            continue
        starts, stops = s
        j = int(np.searchsorted(starts, e - 1, side="right")) - 1
        if j >= 0 and e - 1 < stops[j]:
            out[i] = stops[j]
    return out
