"""Chi-squared quantiles (analytics/chi2.py, without scipy): scipy.stats' values, for the even
degrees of freedom of the MTBF interval (2r and 2r + 2 for r failures)."""

from __future__ import annotations

import numpy as np
import pytest

from docktally.analytics import chi2

SMALL = np.arange(2, 4002, 2, dtype=np.float64)
LARGE = np.array([2 * 203_619 + 2, 2 * 10**6, 10**7], dtype=np.float64)


@pytest.mark.parametrize("q", [0.05, 0.95])
def test_the_quantiles_are_scipy_stats_own(q: float) -> None:
    from scipy.stats import chi2 as scipy_chi2

    np.testing.assert_allclose(chi2.ppf(q, SMALL), scipy_chi2.ppf(q, SMALL), rtol=1e-11)
    np.testing.assert_allclose(chi2.ppf(q, LARGE), scipy_chi2.ppf(q, LARGE), rtol=1e-10)
    assert chi2.ppf(q, 4.0) == pytest.approx(float(scipy_chi2.ppf(q, 4.0)), rel=1e-12)
    # Two degrees of freedom have a closed form: -2 ln(1 - q).
    assert chi2.ppf(q, 2) == pytest.approx(-2 * np.log1p(-q), rel=1e-13)


@pytest.mark.parametrize("df", [0, 1, 3, -2, 2.5])
def test_odd_or_small_degrees_of_freedom_are_refused(df: float) -> None:
    with pytest.raises(ValueError, match="even"):
        chi2.ppf(0.05, [2, df])
