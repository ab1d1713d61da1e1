"""The container families' text, kept per label set from one refresh to the next: only the
label sets whose values in a family changed are rendered again (by prometheus_client's
`generate_latest`, like the rest), the others keep their lines. Between two refreshes every
container's observed time moves, but its restarts, failures, state and last exit rarely do:
rendering them all again was ~70 % of a refresh's CPU at 10,000 containers (bench/README.md).

The text is the one `generate_latest` makes of ContainerCollector(rows), byte for byte: a
family renders as its HELP and TYPE lines, then one line per sample in the order they were
added; the lines of the changed label sets are what `generate_latest` renders of a family
holding only their samples, less that family's own (sample-less) rendering.
"""

from __future__ import annotations

from collections.abc import Iterator

import numpy as np
import pandas as pd
from prometheus_client.core import Metric
from prometheus_client.exposition import generate_latest

from docktally.metrics.collector import (
    CONTAINER_FAMILIES,
    LABELS,
    Family,
    family_extras,
    family_metric,
    family_values,
)


class _One:
    """A Collector of one Metric, for generate_latest."""

    def __init__(self, metric: Metric) -> None:
        self.metric = metric

    def collect(self) -> Iterator[Metric]:
        yield self.metric


def _render(metric: Metric) -> bytes:
    return generate_latest(_One(metric))


class _Kept:
    """One family's lines per label set of the last render, and the values they show."""

    def __init__(self, values: np.ndarray, has: np.ndarray, lines: np.ndarray) -> None:
        self.values = values  # family_values, as int64 bit patterns
        self.has = has
        self.lines = lines  # bytes per label set: its samples' lines (b"" without any)


class ContainerText:
    """ContainerCollector(rows)'s text, from one refresh's series rows to the next."""

    def __init__(self, families: tuple[Family, ...] = CONTAINER_FAMILIES) -> None:
        self.families = families
        self._headers = {f.name: _render(f.new()) for f in families}
        self._positions: dict[tuple[str, ...], int] = {}  # last render's label sets
        self._kept: dict[str, _Kept] = {}
        # For the benchmark and tests: samples rendered again by the last render, of all.
        self.rendered_samples = 0
        self.samples = 0

    def render(self, rows: pd.DataFrame) -> bytes:
        return b"".join(self.render_parts(rows))

    def render_parts(self, rows: pd.DataFrame) -> list[bytes]:
        """render's text in pieces, to be joined once with what follows it (30 MB at 10,000
        containers: each copy costs ~10 ms)."""
        # Label sets as tuples, column by column: ~5 ms at 11,000 rows, 7-8 through a 2-D
        # object array and its rows' lists.
        labels = list(zip(*(rows[c].tolist() for c in LABELS), strict=True))
        # Where each label set was in the last render (-1: new).
        before = np.array([self._positions.get(k, -1) for k in labels], dtype=np.int64)
        positions = dict(zip(labels, range(len(labels)), strict=True))
        if len(positions) != len(labels):  # label sets are unique (series rows): else keep none
            before[:] = -1
            positions = {}
        self.rendered_samples = self.samples = 0
        kept: dict[str, _Kept] = {}
        out: list[bytes] = []
        for f in self.families:
            out += self._family(f, rows, labels, before, kept)
        # Both at once: a render that failed half-way leaves the last one's whole.
        self._kept, self._positions = kept, positions
        return out

    def _family(
        self,
        f: Family,
        rows: pd.DataFrame,
        labels: list[tuple[str, ...]],
        before: np.ndarray,
        keep: dict[str, _Kept],
    ) -> list[bytes]:
        header = self._headers[f.name]
        values, has = family_values(f, rows)
        values = np.ascontiguousarray(values).view(np.int64)  # floats compared bit for bit
        per_row = len(family_extras(f) or (0,))
        kept = self._kept.get(f.name)
        same = np.zeros(len(rows), dtype=bool)
        if kept is not None:
            known = before >= 0
            at = before[known]
            same[known] = (kept.has[at] == has[known]) & (kept.values[at] == values[known]).all(1)
        changed = np.flatnonzero(~same)
        lines = np.empty(len(rows), dtype=object)
        if kept is not None:
            lines[same] = kept.lines[before[same]]
        new = self._lines(f, rows.iloc[changed], [labels[i] for i in changed], has[changed])
        self.samples += int(has.sum()) * per_row
        self.rendered_samples += int(has[changed].sum()) * per_row
        if new is None:  # not the layout described above: render the whole family, keep none
            return [_render(family_metric(f, rows, labels))]
        for i, line in zip(changed.tolist(), new, strict=True):
            lines[i] = line
        keep[f.name] = _Kept(values, has, lines)
        return [header, *lines.tolist()]

    def _lines(
        self, f: Family, rows: pd.DataFrame, labels: list[tuple[str, ...]], has: np.ndarray
    ) -> list[bytes] | None:
        """Each of `rows`' samples' lines in family f, by generate_latest (None: its text is
        not the header, then one line per sample)."""
        header = self._headers[f.name]
        text = _render(family_metric(f, rows, labels))
        if not text.startswith(header):
            return None
        body = text[len(header) :].split(b"\n")
        per_row = len(family_extras(f) or (0,))
        counts = np.where(has, per_row, 0)
        if body[-1] != b"" or len(body) - 1 != counts.sum():
            return None
        samples = [line + b"\n" for line in body[:-1]]
        if per_row == 1:  # a line for each row that has a sample, in order
            each = iter(samples)
            return [next(each) if present else b"" for present in has.tolist()]
        ends = np.cumsum(counts).tolist()
        starts = [0, *ends][:-1]
        return [b"".join(samples[a:b]) for a, b in zip(starts, ends, strict=True)]
