"""Adjusted p-values against closed forms and statsmodels' multipletests (an independent
implementation of R's p.adjust methods)."""
from __future__ import annotations

import numpy as np
import pytest
from statsmodels.stats.multitest import multipletests

from sipas_analysis.multiple_comparisons import adjust_p_values


@pytest.mark.parametrize("method, theirs", [("holm", "holm"), ("BH", "fdr_bh"),
                                            ("bonferroni", "bonferroni")])
def test_adjusted_p_values_equal_statsmodels(method, theirs):
    rng = np.random.default_rng(7)
    p = np.concatenate([rng.uniform(0, 1, 25), rng.uniform(0, 0.01, 5), [0.02, 0.02]])
    expected = multipletests(p, method=theirs)[1]
    np.testing.assert_allclose(adjust_p_values(p, method), expected, rtol=0, atol=1e-15)


def test_holm_and_bh_closed_forms_and_missing_values():
    # Holm: sorted p times (m - i + 1), running maximum; BH: p times m / i, running minimum
    # from the largest (R: p.adjust(c(0.01, 0.02, 0.03, 0.04, 0.2), "holm") = 0.05 0.08 0.09
    # 0.09 0.2; "BH" = 0.05 0.05 0.05 0.05 0.2)
    p = [0.01, 0.02, np.nan, 0.03, 0.04, 0.2]
    np.testing.assert_allclose(adjust_p_values(p, "holm"),
                               [0.05, 0.08, np.nan, 0.09, 0.09, 0.2])
    np.testing.assert_allclose(adjust_p_values(p, "BH"), [0.05, 0.05, np.nan, 0.05, 0.05, 0.2])
    assert np.isnan(adjust_p_values([np.nan], "holm")).all()
    with pytest.raises(ValueError, match="method must be one of"):
        adjust_p_values(p, "hochberg")


def test_holm_keeps_the_family_wise_error_rate_of_independent_null_tests():
    # 28 independent null tests per report (a province's terms), 4000 reports: unadjusted,
    # 1 - 0.95^28 = 76 % of reports show a p < 0.05; Holm keeps it at or below 5 %
    rng = np.random.default_rng(11)
    p = rng.uniform(size=(4000, 28))
    any_unadjusted = (p < 0.05).any(axis=1).mean()
    any_holm = np.mean([(adjust_p_values(row, "holm") < 0.05).any() for row in p])
    assert abs(any_unadjusted - (1 - 0.95 ** 28)) < 0.02
    assert any_holm <= 0.05 + 3 * np.sqrt(0.05 * 0.95 / 4000)
