"""Chi-squared quantiles (analytics/chi2.py): scipy.stats' values, computed here or by the
report command's forked helper process (cli/quantile_helper.py) that imported scipy.special on
the side, bit for bit the same."""

from __future__ import annotations

import numpy as np
import pytest

from docktally.analytics import chi2
from docktally.cli import quantile_helper

DF = np.concatenate([np.arange(1, 200), [2 * 203_619 + 2, 10**7]]).astype(np.float64)


@pytest.mark.parametrize("q", [0.05, 0.95])
def test_the_quantiles_are_scipy_stats_own(q: float) -> None:
    from scipy.stats import chi2 as scipy_chi2

    np.testing.assert_allclose(chi2.ppf(q, DF), scipy_chi2.ppf(q, DF), rtol=1e-12)


def test_a_helper_process_gives_the_same_bits() -> None:
    helper = quantile_helper.Helper.start()
    assert helper is not None
    try:
        helper.go()
        with chi2.computed_by(helper):
            low, high = chi2.ppf(0.95, DF), chi2.ppf(0.05, DF)
            one = chi2.ppf(0.95, 4.0)
    finally:
        helper.close()
    assert np.array_equal(low, chi2.ppf(0.95, DF)) and np.array_equal(high, chi2.ppf(0.05, DF))
    assert float(one) == float(chi2.ppf(0.95, 4.0))


def test_without_its_helper_the_quantiles_are_computed_here() -> None:
    helper = quantile_helper.Helper.start()
    assert helper is not None
    helper.close()  # never told to go: it leaves, and close() does not wait on it forever
    with chi2.computed_by(helper):
        assert np.array_equal(chi2.ppf(0.95, DF), chi2.compute(0.95, DF))
    assert chi2._computer is None  # computed_by restores what was there


def test_no_helper_where_other_threads_run() -> None:
    import threading

    stop = threading.Event()
    other = threading.Thread(target=stop.wait)
    other.start()
    try:
        assert quantile_helper.Helper.start() is None
    finally:
        stop.set()
        other.join()
