"""Chi-squared quantiles (analytics/chi2.py): scipy.stats' values without importing
scipy.stats."""

from __future__ import annotations

import numpy as np
import pytest

from docktally.analytics import chi2

DF = np.concatenate([np.arange(1, 200), [2 * 203_619 + 2, 10**7]]).astype(np.float64)


@pytest.mark.parametrize("q", [0.05, 0.95])
def test_the_quantiles_are_scipy_stats_own(q: float) -> None:
    from scipy.stats import chi2 as scipy_chi2

    np.testing.assert_allclose(chi2.ppf(q, DF), scipy_chi2.ppf(q, DF), rtol=1e-12)
    assert float(chi2.ppf(q, 4.0)) == pytest.approx(float(scipy_chi2.ppf(q, 4.0)), rel=1e-12)
