"""Chi-squared quantiles for the MTBF confidence interval: scipy.stats.chi2.ppf(q, df) as
scipy.stats computes it, 2 * gammaincinv(df / 2, q), without importing scipy.stats (about a
second; scipy.special alone takes ~0.25 s)."""

from __future__ import annotations

from typing import Any


def ppf(q: float, df: Any) -> Any:
    """scipy.stats.chi2.ppf(q, df) for an array (or a number) of degrees of freedom."""
    import numpy as np
    from scipy.special import gammaincinv

    return 2.0 * gammaincinv(np.asarray(df, dtype=np.float64) / 2.0, q)
