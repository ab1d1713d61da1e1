"""Chi-squared quantiles for the MTBF confidence interval: scipy.stats.chi2.ppf(q, df) as
scipy.stats computes it, 2 * gammaincinv(df / 2, q), without importing scipy.stats (about a
second).

scipy.special alone still takes ~0.2-0.3 s to import. A caller may have the same function
computed elsewhere (`computed_by`: docktally/cli/quantile_helper.py runs it in a forked
process that imported scipy.special while the report's command was busy): the same function on
the same float64 values, so the same numbers. Without one, or if it fails, it is computed here.
"""

from __future__ import annotations

import contextlib
from collections.abc import Iterator
from typing import Any, Protocol


class Computer(Protocol):
    """Something that computes `compute(q, df)` elsewhere; raises OSError or EOFError (or
    ValueError) when it cannot."""

    def ppf(self, q: float, df: Any) -> Any: ...


_computer: Computer | None = None


def compute(q: float, df: Any) -> Any:
    """The quantiles, computed in this process."""
    import numpy as np
    from scipy.special import gammaincinv

    return 2.0 * gammaincinv(np.asarray(df, dtype=np.float64) / 2.0, q)


def ppf(q: float, df: Any) -> Any:
    """scipy.stats.chi2.ppf(q, df) for an array (or a number) of degrees of freedom."""
    if _computer is not None:
        try:
            return _computer.ppf(q, df)
        except (OSError, ValueError, EOFError):
            pass  # the computer is gone: computed here, with scipy's own error if any
    return compute(q, df)


@contextlib.contextmanager
def computed_by(computer: Computer | None) -> Iterator[None]:
    """Quantiles computed by `computer` (when not None) inside the block."""
    global _computer
    previous, _computer = _computer, computer
    try:
        yield
    finally:
        _computer = previous
