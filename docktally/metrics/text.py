"""Metric families' text, kept per label set from one refresh to the next: the containers'
families (ContainerCollector's) and the incidents (IncidentCollector's). Between two refreshes
every container's observed time moves, but its restarts, failures, state and last exit, and
its service's incident, rarely do: rendering them all again was most of a refresh's CPU at
10,000 containers (bench/README.md).

The text is the one `generate_latest` makes of the families, byte for byte: a family renders
as its HELP and TYPE lines, then one line per sample in the order they were added, each
`name{labels} value\\n`. A new label set's lines are what `generate_latest` renders of a family
holding only the new samples, less that family's own (sample-less) rendering. A kept label set
whose value moved gets its line's prefix (generate_latest's bytes before the value) and the
value as prometheus_client formats it (`floatToGoString`): ~1.3 us a sample, not ~8 through
generate_latest. A family whose values all stay keeps its whole text: nothing is copied.
"""

from __future__ import annotations

from collections.abc import Iterator

import numpy as np
import pandas as pd
from prometheus_client.core import Metric
from prometheus_client.exposition import generate_latest
from prometheus_client.utils import floatToGoString

from docktally.metrics.collector import (
    CONTAINER_FAMILIES,
    Family,
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
    """One family's text of the last render, its sample lines per label set, and the values
    they show."""

    def __init__(
        self, bits: np.ndarray, has: np.ndarray, lines: np.ndarray, cuts: np.ndarray, text: bytes
    ) -> None:
        self.bits = bits  # family_values as int64 bit patterns: (label sets, samples of each)
        self.has = has
        self.lines = lines  # the same shape: each sample's line (b"" without any)
        self.cuts = cuts  # where each line's value starts: the length of its prefix
        self.text = text  # its HELP and TYPE lines, then the lines, joined


class KeptText:
    """The text of `families` (sharing their labels), from one refresh's rows to the next."""

    def __init__(self, families: tuple[Family, ...] = CONTAINER_FAMILIES) -> None:
        self.families = families
        self.labels = families[0].labels
        assert all(f.labels == self.labels for f in families), "one label set per row"
        self._headers = {f.name: _render(f.new()) for f in families}
        # The last render's label sets: columns, tuples, where each was.
        self._columns: list[list[str]] = []
        self._tuples: list[tuple[str, ...]] = []
        self._positions: dict[tuple[str, ...], int] = {}
        self._kept: dict[str, _Kept] = {}
        # For the benchmark and tests: of the last render's samples, those generate_latest
        # rendered, and those kept with a new value.
        self.rendered_samples = self.spliced_samples = self.samples = 0

    def render(self, rows: pd.DataFrame) -> bytes:
        return b"".join(self.render_parts(rows))

    def render_parts(self, rows: pd.DataFrame) -> list[bytes]:
        """render's text, one part per family: a family whose values all stay is the last
        render's part (nothing copied: the text is 30 MB at 10,000 containers)."""
        columns = [rows[c].tolist() for c in self.labels]
        same = columns == self._columns  # the same label sets in the same order: most often
        if same:
            labels, positions = self._tuples, self._positions
            before = np.arange(len(labels), dtype=np.int64)
        else:
            labels = list(zip(*columns, strict=True))
            # Where each label set was in the last render (-1: new).
            before = np.array([self._positions.get(k, -1) for k in labels], dtype=np.int64)
            positions = dict(zip(labels, range(len(labels)), strict=True))
            if len(positions) != len(labels):  # label sets are unique (series rows): else
                before[:] = -1  # keep none
                positions = {}
        self.rendered_samples = self.spliced_samples = self.samples = 0
        kept: dict[str, _Kept] = {}
        out = [self._family(f, rows, labels, before, same, kept) for f in self.families]
        # All at once: a render that failed half-way leaves the last one's whole.
        self._kept, self._columns, self._tuples, self._positions = kept, columns, labels, positions
        return out

    def _family(
        self,
        f: Family,
        rows: pd.DataFrame,
        labels: list[tuple[str, ...]],
        before: np.ndarray,
        same: bool,
        keep: dict[str, _Kept],
    ) -> bytes:
        values, has = family_values(f, rows)
        bits = np.ascontiguousarray(values).view(np.int64)  # floats compared bit for bit
        self.samples += int(has.sum()) * values.shape[1]
        kept = self._kept.get(f.name)
        if (
            same
            and kept is not None
            and np.array_equal(kept.has, has)
            and np.array_equal(kept.bits, bits)
        ):
            keep[f.name] = kept
            return kept.text
        lines = np.full(values.shape, b"", dtype=object)
        cuts = np.zeros(values.shape, dtype=np.int64)
        # The label sets kept, with samples then and now or neither: their lines stay, but
        # for the values that moved.
        old = np.flatnonzero(before >= 0)
        if kept is None:
            old = old[:0]
        else:
            old = old[kept.has[before[old]] == has[old]]
            at = before[old]
            lines[old], cuts[old] = kept.lines[at], kept.cuts[at]
            row, col = np.nonzero(has[old, None] & (kept.bits[at] != bits[old]))
            row = old[row]
            moved = zip(row.tolist(), col.tolist(), values[row, col].tolist(), strict=True)
            for i, j, value in moved:
                prefix = lines[i, j][: cuts[i, j]]
                lines[i, j] = prefix + floatToGoString(value).encode() + b"\n"
            self.spliced_samples += len(row)
        new = np.ones(len(rows), dtype=bool)
        new[old] = False
        new = np.flatnonzero(new & has)
        self.rendered_samples += len(new) * values.shape[1]
        if len(new) and not self._new_lines(f, rows, labels, new, values, lines, cuts):
            # Not the layout described above: render the whole family, keep none.
            return _render(family_metric(f, rows, labels))
        text = b"".join([self._headers[f.name], *lines.ravel().tolist()])
        keep[f.name] = _Kept(bits, has, lines, cuts, text)
        return text

    def _new_lines(
        self,
        f: Family,
        rows: pd.DataFrame,
        labels: list[tuple[str, ...]],
        new: np.ndarray,
        values: np.ndarray,
        lines: np.ndarray,
        cuts: np.ndarray,
    ) -> bool:
        """The lines of the rows `new` in family f, by generate_latest, into `lines` and
        `cuts` (False: its text is not the header, then each sample's line ending in its value
        as floatToGoString formats it)."""
        header = self._headers[f.name]
        text = _render(family_metric(f, rows.iloc[new], [labels[i] for i in new.tolist()]))
        body = text[len(header) :].split(b"\n")
        if not text.startswith(header) or body[-1] != b"" or len(body) - 1 != values[new].size:
            return False
        samples = [line + b"\n" for line in body[:-1]]
        # The value has no space, the labels may have some: the last one is the value's.
        at = [line.rfind(b" ") + 1 for line in samples]
        formatted = [floatToGoString(v).encode() + b"\n" for v in values[new].ravel().tolist()]
        if any(line[a:] != v for line, a, v in zip(samples, at, formatted, strict=True)):
            return False
        width = values.shape[1]
        lines[new] = np.array(samples, dtype=object).reshape(len(new), width)
        cuts[new] = np.array(at, dtype=np.int64).reshape(len(new), width)
        return True
